"""Probability calibration of classification trials (automl_engine.calibration) and the calibration error
reported for every classification trial."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from automl_engine import classification
from automl_engine.calibration import apply_map, choose_calibration, expected_calibration_error
from automl_engine.metrics import classification_metrics

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str) -> pd.DataFrame:
    """A dataset of the benchmark suite shipped in tests/data (tests/data/README.md)."""
    return pd.read_csv(ROOT / "tests" / "data" / f"{name}.csv")


def test_ece_on_a_hand_checked_example():
    # Predicted class and its probability per row: 1 @ .9 (right), 1 @ .6 (right), 1 @ .65 (right),
    # 1 @ .7 (wrong), 0 @ .8 (right). Bins of width .1: bin 9 |1 - .9| = .1 (1 row); bin 6: accuracy 1,
    # confidence .625, |.375| (2 rows); bin 7: |0 - .7| = .7; bin 8: |1 - .8| = .2.
    # ECE = (.1 + 2 * .375 + .7 + .2) / 5 = 0.35
    proba = np.array([[0.1, 0.9], [0.4, 0.6], [0.35, 0.65], [0.3, 0.7], [0.8, 0.2]])
    y = np.array(["b", "b", "b", "a", "a"])
    assert expected_calibration_error(y, proba, ["a", "b"]) == pytest.approx(0.35, abs=1e-12)
    assert classification_metrics(y, proba, ["a", "b"])["expected_calibration_error"] == pytest.approx(0.35, abs=1e-12)
    # A probability of exactly 1 falls in the last bin; a perfectly calibrated certain model scores 0.
    assert expected_calibration_error(np.array(["a", "b"]), np.array([[1.0, 0.0], [0.0, 1.0]]), ["a", "b"]) == 0.0


def test_sigmoid_calibration_of_a_tree_on_phoneme_lowers_log_loss_and_keeps_the_ranking():
    from sklearn.model_selection import cross_val_predict
    from sklearn.tree import DecisionTreeClassifier

    df = _bench("phoneme")
    X, y = df.drop(columns=["target"]).to_numpy(), df["target"].to_numpy()
    oof = cross_val_predict(DecisionTreeClassifier(max_depth=10, random_state=0), X, y, cv=5, method="predict_proba")
    truth = (y == np.unique(y)[1]).astype(int)
    chosen = choose_calibration(oof, truth, random_state=0)
    assert chosen is not None
    method, params, raw, crossed = chosen
    assert method == "sigmoid" and params[0] > 0
    assert raw == pytest.approx(log_loss(truth, np.clip(oof, 1e-15, 1)), rel=1e-9)
    assert round(raw, 4) == 2.0006 and round(crossed, 4) == 0.3984   # cross-fitted: an honest estimate
    calibrated = apply_map(oof, method, params)
    assert log_loss(truth, calibrated) < 0.40
    # An increasing map: the ranking (AUC) is the tree's (the 0.5 threshold may move: a run whose primary
    # metric is accuracy keeps the calibration only if its accuracy is not lower).
    assert roc_auc_score(truth, calibrated[:, 1]) == roc_auc_score(truth, oof[:, 1])


def test_temperature_scaling_keeps_the_predicted_class():
    rng = np.random.RandomState(0)
    truth = rng.randint(0, 3, 2000)
    # Over-confident: the right class gets 0.97 on 70% of the rows, a wrong one 0.97 on the rest.
    predicted = np.where(rng.rand(2000) < 0.7, truth, (truth + 1) % 3)
    proba = np.full((2000, 3), 0.015)
    proba[np.arange(2000), predicted] = 0.97
    method, params, raw, crossed = choose_calibration(proba, truth)
    assert method == "temperature" and params[0] > 1
    assert crossed < raw
    calibrated = apply_map(proba, method, params)
    assert (np.argmax(calibrated, 1) == predicted).all()
    assert np.allclose(calibrated.sum(1), 1.0)


def test_a_well_calibrated_model_is_left_alone():
    rng = np.random.RandomState(1)
    p = rng.rand(3000)
    truth = (rng.rand(3000) < p).astype(int)
    assert choose_calibration(np.column_stack([1 - p, p]), truth) is None


def test_a_run_reports_log_loss_and_calibration_error_for_every_trial_and_calibrates_a_tree(bank_df):
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3)
    job.set_limits(max_trials=2, timeout_minutes=1, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["DecisionTree", "LogisticRegression"],
                     enable_stack_ensemble=False, enable_vote_ensemble=False, enable_model_explainability=False)
    result = job.run()
    trials = {t.algorithm: t for t in result.trials}
    for t in trials.values():
        assert {"log_loss", "expected_calibration_error"} <= set(t.metrics)
    tree = trials["DecisionTree"]
    assert tree.calibration is not None and tree.calibration["method"] == "sigmoid"
    assert tree.pipeline_name == "DecisionTree, sigmoid calibration"
    assert tree.metrics["log_loss"] < tree.calibration["log_loss_uncalibrated"]
    # The saved model predicts the calibrated probabilities (the map is part of its pipeline).
    import joblib

    model = joblib.load(tree.model_path)
    assert type(model.steps[-1][1]).__name__ == "CalibratedModel"
    proba = model.predict_proba(bank_df.drop(columns=["y"]))
    assert np.allclose(proba.sum(1), 1.0) and list(model.classes_) == ["no", "yes"]
