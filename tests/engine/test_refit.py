"""After a holdout search the best model is refitted on all rows, the validation rows included: a booster
with the rounds early stopping kept, a calibrated model with its probability map, an ensemble over its
members as refitted. The refit is reserved from the trial's own fit and skipped when it would not fit."""
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from automl_engine import Callbacks, classification, regression
from automl_engine.driver import Driver
from automl_engine.executor import InlineExecutor
from automl_engine.results import TrialResult
from automl_engine.target import inner_estimator
from automl_engine.trial import build_pipeline, load_prepared

DATA = Path(__file__).resolve().parents[1] / "data"
TARGET = "income >50K"


@pytest.fixture(scope="module")
def adult_df() -> pd.DataFrame:
    return pd.read_csv(DATA / "adult_6000.csv")


def _job(df, algorithms, trials=1, vote=False, **settings):
    job = classification(training_data=df, target_column_name=TARGET, primary_metric="AUC_weighted",
                         **{"validation_data_size": 0.2, **settings})
    job.set_limits(max_trials=trials, timeout_minutes=2, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=algorithms, enable_vote_ensemble=vote,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    return job


def test_a_booster_is_refitted_on_all_rows_with_the_rounds_early_stopping_kept(adult_df, tmp_path):
    logs = []
    result = _job(adult_df, ["LightGBM"], trials=2).run(
        callbacks=Callbacks(on_log=lambda level, message: logs.append(message)), workdir=tmp_path)
    first, second = result.trials
    # The second portfolio configuration asks for 100 rounds; the 1,200 holdout rows kept 72 of them.
    assert second.hyperparameters["n_estimators"] == 100 and second.best_iteration == 72
    assert result.best_trial is second and second.pipeline_name == "LightGBM, refitted on all rows"
    assert first.pipeline_name == "LightGBM"     # only the best model is refitted
    assert Path(second.model_path) == tmp_path / "trials" / "1" / "refit.pkl"
    assert "trial 1 LightGBM refitted on all 6,000 rows, 72 of its 100 rounds (early stopping's) in " in "\n".join(logs)
    refitted = joblib.load(second.model_path)
    assert refitted.automl_refitted is True and result.best_model.predict_proba(adult_df.head(3)).shape == (3, 2)
    booster = inner_estimator(refitted.steps[-1][1])
    assert booster.n_estimators == 72 and booster.booster_.current_iteration() == 72
    holdout_model = joblib.load(tmp_path / "trials" / "1" / "model.pkl")
    # Exactly the configuration fitted on every prepared row: the 4,800 training and the 1,200 validation rows.
    data = load_prepared(tmp_path)
    assert len(data.X) == 6000 and sum(len(valid) for _, valid in data.splits.pairs) == 1200
    again = build_pipeline(data.meta, "LightGBM", {**second.hyperparameters, "n_estimators": 72}, 1, 0)
    again.fit(data.X, data.y)
    assert np.array_equal(again.predict_proba(adult_df), refitted.predict_proba(adult_df))
    assert not np.array_equal(holdout_model.predict_proba(adult_df), refitted.predict_proba(adult_df))
    # The metrics are the holdout's, of the model fitted on the training part.
    assert second.score == pytest.approx(0.9179704, abs=1e-7)


def test_a_calibrated_trial_keeps_its_probability_map(adult_df, tmp_path):
    result = _job(adult_df, ["DecisionTree"]).run(workdir=tmp_path)
    trial = result.best_trial
    assert trial.pipeline_name == "DecisionTree, sigmoid calibration, refitted on all rows"
    refitted = joblib.load(trial.model_path).steps[-1][1]
    holdout = joblib.load(Path(trial.model_path).with_name("model.pkl")).steps[-1][1]
    assert (refitted.method, list(refitted.params)) == (holdout.method, list(holdout.params)) == \
        ("sigmoid", list(holdout.params))
    assert [round(p, 6) for p in holdout.params] == trial.calibration["params"] == [0.295078, -0.637265]
    # The tree's root holds the rows it was fitted on.
    assert holdout.estimator.tree_.n_node_samples[0] == 4800
    assert refitted.estimator.tree_.n_node_samples[0] == 6000


def test_an_ensemble_is_assembled_again_over_its_refitted_members(adult_df, tmp_path):
    result = _job(adult_df, ["LightGBM", "LogisticRegression"], trials=3, vote=True).run(
        workdir=tmp_path)
    vote = result.best_trial
    assert vote.is_ensemble and vote.hyperparameters == {"members": [2, 0], "weights": [0.625, 0.375]}
    assert vote.pipeline_name == "VotingEnsemble, members refitted on all rows"
    members = {t.number: t for t in result.trials if t.number in (0, 2)}
    assert {n: t.pipeline_name for n, t in members.items()} == {0: "LightGBM, refitted on all rows",
                                                                2: "LightGBM, refitted on all rows"}
    ensemble = result.best_model.steps[-1][1]
    assert np.round(ensemble.weights, 12).tolist() == [0.625, 0.375]
    for estimator, number in zip(ensemble.estimators, [2, 0]):
        assert estimator.automl_refitted is True
        assert np.array_equal(estimator.predict_proba(adult_df),
                              joblib.load(members[number].model_path).predict_proba(adult_df))
    saved = joblib.load(vote.model_path)
    assert Path(vote.model_path).name == "refit.pkl"
    assert np.array_equal(saved.predict_proba(adult_df), result.best_model.predict_proba(adult_df))
    # The vote as selected on the holdout, over the models fitted on the training part, is kept beside it.
    before = joblib.load(Path(vote.model_path).with_name("model.pkl")).steps[-1][1]
    assert not any(getattr(e, "automl_refitted", False) for e in before.estimators)


def test_cross_validation_and_given_validation_data_are_not_refitted(adult_df, tmp_path):
    cv = _job(adult_df.head(1500), ["LightGBM"], validation_data_size=None, n_cross_validations=3).run(
        workdir=tmp_path / "cv")
    assert cv.best_trial.pipeline_name == "LightGBM" and Path(cv.best_trial.model_path).name == "model.pkl"
    given = _job(adult_df.head(4800), ["LightGBM"], validation_data_size=None,
                 validation_data=adult_df.tail(1200)).run(workdir=tmp_path / "given")
    assert given.validation_method["source"] == "validation_data"
    assert given.best_trial.pipeline_name == "LightGBM, sigmoid calibration" and Path(given.best_trial.model_path).name == "model.pkl"


def test_the_refit_is_reserved_from_the_trials_own_fit(adult_df, tmp_path):
    driver = Driver(_job(adult_df, ["LightGBM"]), Callbacks(), InlineExecutor(), tmp_path)
    driver.prepare()
    driver.budget = 60.0
    driver.summary = []
    model = tmp_path / "model.pkl"
    model.write_bytes(b"0" * 1_500_000)   # a 1.5 MB model: 0.03 s to save (as loading is guessed)
    trial = TrialResult(number=0, algorithm="LightGBM", pipeline_name="LightGBM", featurization="",
                        hyperparameters={"n_estimators": 400}, metrics={}, score=0.9, charts={},
                        test_metrics=None, test_charts=None, duration_seconds=3.0, status="completed", error=None,
                        is_ensemble=False, model_path=str(model), started_at=None, finished_at=None,
                        best_iteration=100)
    driver.trials.append(trial)
    driver.timings[0] = {"fit_seconds": 2.4, "predict_seconds": 0.1, "predict_rows": 1200}
    # 2.4 s on the 4,800 training rows, for 150 rounds grown (100 kept, the patience's 50 more): 6,000 rows and
    # 100 rounds take 2.4 x 6000 / 4800 x 100 / 150 = 2 s, and saving the model twice its guessed loading.
    assert driver._refit_seconds(trial) == pytest.approx(2.0 + 2 * (0.02 + 0.01))
    estimate = driver._final_estimate()
    assert estimate["refit"] == pytest.approx(2.06)
    # The refit is added as measured; the other steps get the safety factor (or the floor, 4% of the budget).
    others = sum(v for k, v in estimate.items() if k != "refit") + 0.6
    assert driver.reserve() == pytest.approx(max(1.5 * others, 2.4) + 2.06)
    # A trial fitted on a sample is not refitted (its configuration was validated on that many rows).
    trial.sample_size = 1000
    assert driver._final_estimate()["refit"] == 0.0


def test_a_refit_that_would_not_fit_is_skipped(adult_df, tmp_path, monkeypatch):
    monkeypatch.setattr(Driver, "_refit_seconds", lambda self, trial: 1e6)
    logs = []
    driver = Driver(_job(adult_df, ["LightGBM"]), Callbacks(on_log=lambda level, message: logs.append(message)),
                    InlineExecutor(), tmp_path)
    result = driver.run()
    # Reserved as far as the cap of half the budget allows, then skipped: it would not finish in time.
    assert driver._final_estimate()["refit"] == 1e6 and driver.reserve() == pytest.approx(60.0)
    assert any(m.startswith("refit of trial 0 LightGBM on all rows skipped: about 1000000.0 s expected, ") and
               m.endswith(" s left of the budget; its model is the one fitted on the training part") for m in logs)
    assert result.best_trial.pipeline_name == "LightGBM"
    assert Path(result.best_trial.model_path).name == "model.pkl"
    assert not (tmp_path / "trials" / "0" / "refit.pkl").exists()
