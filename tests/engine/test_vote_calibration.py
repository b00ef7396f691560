"""The voting ensemble's probabilities: ensemble selection breaks ties of a metric that moves in whole rows
by the log loss, and the blend gets its own calibration map when that lowers its cross-fitted log loss."""
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from automl_engine import classification
from automl_engine.calibration import apply_map
from automl_engine.ensemble import VotingEnsemble, caruana_selection
from automl_engine.metrics import primary_scorer, selection_scorer

ROOT = Path(__file__).resolve().parents[2]
MAX_LOG_LOSS = -np.log(1e-15)


def test_selection_breaks_accuracy_ties_by_log_loss_and_never_trades_a_row_for_it():
    y = np.array(["a", "b", "b", "a"])
    sharp = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])    # 3 of 4 right
    soft = np.array([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4], [0.6, 0.4]])     # the same 3 right, less sure
    # All 4 right, each at 0.51: a log loss above the others'.
    right = np.array([[0.51, 0.49], [0.49, 0.51], [0.49, 0.51], [0.51, 0.49]])
    accuracy = primary_scorer("classification", "accuracy", y, ["a", "b"])
    assert accuracy(sharp) == accuracy(soft) == 0.75
    score = selection_scorer("accuracy", y, ["a", "b"])
    weight = 1.0 / (4 * MAX_LOG_LOSS * 1.01)
    sharp_loss = -np.mean(np.log([0.9, 0.8, 0.4, 0.9]))
    soft_loss = -np.mean(np.log([0.6, 0.6, 0.4, 0.6]))
    assert score(sharp) == pytest.approx(0.75 - weight * sharp_loss, abs=1e-15)
    assert score(soft) == pytest.approx(0.75 - weight * soft_loss, abs=1e-15)
    assert score(sharp) > score(soft)
    assert score(right) > score(sharp)  # one more row right outweighs any log loss
    # Even with every row at the loss's 1e-15 floor, the score stays within one row (0.25) of the accuracy.
    floor = np.array([[1e-16, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # all 4 wrong
    assert score(floor) == pytest.approx(0.0 - weight * MAX_LOG_LOSS, abs=1e-12) and score(floor) > -0.25
    # Normalised macro recall moves in steps of at least 1/(classes * rows): its tie-breaker weighs a third
    # of accuracy's on three classes.
    y3 = np.array(["a", "b", "c", "c"])
    proba3 = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6]])
    recall = primary_scorer("classification", "norm_macro_recall", y3, ["a", "b", "c"])
    assert recall(proba3) == pytest.approx(0.5)  # recalls 1, 0, 1: macro 2/3, normalised (2/3 - 1/3) / (2/3)
    loss3 = -np.mean(np.log([0.7, 0.4, 0.8, 0.6]))
    assert selection_scorer("norm_macro_recall", y3, ["a", "b", "c"])(proba3) == pytest.approx(
        0.5 - loss3 / (3 * 4 * MAX_LOG_LOSS * 1.01), abs=1e-15)
    # Other metrics are selected on as they are.
    auc = primary_scorer("classification", "AUC_weighted", y, ["a", "b"])
    assert selection_scorer("AUC_weighted", y, ["a", "b"])(soft) == auc(soft)


def test_ensemble_selection_among_equally_accurate_candidates_takes_the_sharper_one():
    y = np.array(["a", "b", "b", "a"])
    soft = np.array([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4], [0.6, 0.4]])
    sharp = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    # Both start the selection (their scores are within its tolerance); then on accuracy alone the two tie
    # and the first listed takes all 25 rounds, with the log loss as tie-breaker the sharper one does.
    assert caruana_selection([soft, sharp], primary_scorer("classification", "accuracy", y, ["a", "b"]),
                             True) == pytest.approx([26 / 27, 1 / 27], abs=1e-15)
    assert caruana_selection([soft, sharp], selection_scorer("accuracy", y, ["a", "b"]),
                             True) == pytest.approx([1 / 27, 26 / 27], abs=1e-15)


def test_a_calibrated_vote_predicts_the_mapped_blend_of_its_members():
    df = pd.read_csv(ROOT / "tests" / "data" / "car_evaluation.csv")
    X, y = df.drop(columns=["class"]), df["class"]
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    classes = sorted(y.unique())
    members = [make_pipeline(make_column_transformer((OneHotEncoder(), list(X.columns))), est).fit(X, y)
               for est in (LogisticRegression(max_iter=500), DecisionTreeClassifier(max_depth=4, random_state=0))]
    blend = 0.25 * members[0].predict_proba(X) + 0.75 * members[1].predict_proba(X)
    vote = VotingEnsemble(members, [0.25, 0.75], "classification", classes, calibration=("temperature", [0.5]))
    proba = vote.predict_proba(X)
    assert np.allclose(proba, apply_map(blend, "temperature", [0.5]))
    assert proba.max(axis=1).mean() > blend.max(axis=1).mean()  # a temperature under 1 sharpens
    assert (vote.predict(X) == np.asarray(classes)[np.argmax(proba, axis=1)]).all()
    uncalibrated = VotingEnsemble(members, [0.25, 0.75], "classification", classes)
    assert np.allclose(uncalibrated.predict_proba(X), blend)
    # A vote pickled before votes held a map loads with none and predicts its blend.
    state = vote.__getstate__()
    del state["calibration"]
    old = VotingEnsemble.__new__(VotingEnsemble)
    old.__setstate__(state)
    assert old.calibration is None and np.allclose(old.predict_proba(X), blend)


def test_a_run_calibrates_a_vote_whose_blend_is_less_sure_than_its_accuracy():
    # car_evaluation: a gradient boosting model and a kernel SVM; their blend gets one more row right than
    # either and a lower log loss, and at temperature 0.78 its probabilities are sharper still. (Two trials:
    # with more, which member the vote's pruning drops depends on their measured prediction times.)
    df = pd.read_csv(ROOT / "tests" / "data" / "car_evaluation.csv")
    job = classification(training_data=df, target_column_name="class", primary_metric="accuracy",
                         n_cross_validations=3)
    job.set_limits(max_trials=2, timeout_minutes=1, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["GradientBoosting", "SVM"], enable_stack_ensemble=False,
                     enable_model_explainability=False)
    result = job.run()
    vote = next(t for t in result.trials if t.algorithm == "VotingEnsemble")
    singles = [t for t in result.trials if not t.is_ensemble]
    assert [t.algorithm for t in singles] == ["GradientBoosting", "SVM"]
    assert vote.hyperparameters == {"members": [1, 0], "weights": [0.5, 0.5]}
    assert vote.calibration["method"] == "temperature" and vote.calibration["params"] == [0.778344]
    assert vote.pipeline_name == "VotingEnsemble, temperature calibration"
    assert round(vote.calibration["log_loss_uncalibrated"], 5) == 0.0062
    assert round(vote.calibration["log_loss_cross_fitted"], 5) == 0.00569
    assert round(vote.metrics["log_loss"], 5) == 0.00552
    assert round(vote.metrics["accuracy"] * len(df)) == 1725  # 3 rows wrong, against 5 and 4 for its members
    assert [round(t.metrics["accuracy"] * len(df)) for t in singles] == [1723, 1724]
    assert result.best_trial.number == vote.number
    # The saved vote predicts its members' blend through the same map.
    model = joblib.load(vote.model_path)
    ensemble = model.steps[-1][1]
    assert isinstance(model, Pipeline) and isinstance(ensemble, VotingEnsemble)
    method, params = ensemble.calibration  # the map as fitted; the trial's record rounds it
    assert method == "temperature" and round(params[0], 6) == 0.778344
    X = df.drop(columns=["class"]).head(200)
    blend = sum(w * m.predict_proba(X) for m, w in zip(ensemble.estimators, ensemble.weights)) / sum(ensemble.weights)
    assert np.array_equal(model.predict_proba(X), apply_map(blend, method, params))
