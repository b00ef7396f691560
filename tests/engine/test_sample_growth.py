"""Large data: configurations start on a sample of the rows and the promising ones are promoted to more
(asynchronous successive halving); the cost model scales with the rows; boosting stops early on a holdout."""
import json

import numpy as np
import pandas as pd
import pytest

from automl_engine import Callbacks, classification
from automl_engine import driver as driver_module
from automl_engine.driver import Driver, sample_sizes
from automl_engine.executor import InlineExecutor


def test_sample_sizes_grow_fourfold_up_to_all_rows():
    assert sample_sizes(99_999) == [None]
    assert sample_sizes(183_350) == [10_000, 40_000, None]      # fertility's training split
    assert sample_sizes(400_000) == [10_000, 40_000, 160_000, None]


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 4))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(scale=1.0, size=n) > 0.5, "yes", "no")
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)


def test_promising_configurations_are_promoted_to_all_rows(tmp_path, monkeypatch):
    # The thresholds scaled down so that 2,400 training rows are "large": sizes 500 then all rows.
    monkeypatch.setattr(driver_module, "SAMPLE_MIN_ROWS", 1000)
    monkeypatch.setattr(driver_module, "SAMPLE_START", 500)
    job = classification(training_data=_frame(3000), target_column_name="y", primary_metric="AUC_weighted",
                         validation_data_size=0.2)
    # A budget no busy machine exhausts: the trial limit ends the search and no estimate skips a promotion.
    job.set_limits(max_trials=8, timeout_minutes=30, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["LightGBM", "LogisticRegression"], enable_stack_ensemble=False,
                     enable_vote_ensemble=False, enable_model_explainability=False)
    logs = []
    result = job.run(callbacks=Callbacks(on_log=lambda level, message: logs.append(message)),
                     executor=InlineExecutor(), workdir=tmp_path)
    assert any("2,400 training rows: configurations are fitted on 500 and then all rows" in m for m in logs)
    trials = sorted(result.trials, key=lambda t: t.number)
    assert [t.sample_size for t in trials] == [500, None, 500, 500, 500, 500, 500, None]
    # Trial 0 (the first, so the best of its size) is refitted on all rows at once, with the same settings;
    # with six sampled trials the top third is two: trial 4, second best (0.8341 after trial 0's 0.8423), is next.
    assert trials[1].algorithm == trials[0].algorithm and trials[1].hyperparameters == trials[0].hyperparameters
    assert [round(t.score, 4) for t in trials if t.sample_size == 500] == [0.8423, 0.8218, 0.8038, 0.8341, 0.8242,
                                                                           0.8192]
    assert trials[7].hyperparameters == trials[4].hyperparameters and trials[7].algorithm == "LightGBM"
    assert trials[0].pipeline_name == "LightGBM, 500-row sample" and trials[1].pipeline_name == "LightGBM"
    # Every promoted configuration was in the top third (at least the best) of the sampled trials finished
    # before it started.
    for k, t in enumerate(trials):
        if t.sample_size is None and k > 1:
            before = [s for s in trials[:k] if s.sample_size == 500]
            ranked = sorted(before, key=lambda s: -s.score)
            quota = max(1, len(before) // 3)
            assert any(s.hyperparameters == t.hyperparameters and s.algorithm == t.algorithm for s in ranked[:quota])
    # The sampled trials fitted 500 rows; the others all 2,400 training rows.
    outcomes = {t.number: json.loads((tmp_path / "trials" / str(t.number) / "outcome.json").read_text()) for t in trials}
    assert {outcomes[t.number]["fit_rows"] for t in trials if t.sample_size == 500} == {500}
    assert {outcomes[t.number]["fit_rows"] for t in trials if t.sample_size is None} == {2400}


def test_boosting_stops_early_on_the_holdout(tmp_path):
    job = classification(training_data=_frame(1500), target_column_name="y", primary_metric="AUC_weighted",
                         validation_data_size=0.2)
    job.set_limits(max_trials=1, timeout_minutes=1, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["LightGBM"], enable_stack_ensemble=False,
                     enable_vote_ensemble=False, enable_model_explainability=False)
    result = job.run(executor=InlineExecutor(), workdir=tmp_path)
    (trial,) = result.trials
    # The 40-round probe at learning rate 0.12 on a noisy target peaks early: it keeps its best round.
    assert trial.best_iteration is not None and trial.best_iteration < 40
    import joblib

    booster = joblib.load(tmp_path / "trials" / "0" / "model.pkl").steps[-1][1]
    assert booster.best_iteration_ == trial.best_iteration
    # The saved model is then refitted on all rows with the rounds kept (tests/engine/test_refit.py).
    assert joblib.load(trial.model_path).steps[-1][1].n_estimators == trial.best_iteration


def _driver_on_200_000_rows(tmp_path) -> Driver:
    """A prepared driver whose splits are taken to fit on 200,000 rows (the cost model's only input here)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300), "y": ["a", "b"] * 150})
    driver = Driver(classification(training_data=df, target_column_name="y", n_cross_validations=3),
                    Callbacks(), None, tmp_path)
    driver.prepare()
    driver.n_fit_rows = 200_000
    return driver


def test_the_cost_model_scales_the_fitting_time_with_the_rows_and_keeps_the_overhead(tmp_path):
    driver = _driver_on_200_000_rows(tmp_path)
    # A 100-round LightGBM fitted on 10,000 rows in 0.5 s, with 1.5 s of loading, predicting and scoring.
    driver.rates["LightGBM"] = [(10_000, 0.5 / (10_000 / 200_000))]
    driver.overheads = [1.5]
    assert driver._estimate("LightGBM", {"n_estimators": 100}, 10_000) == pytest.approx(2.0)
    assert driver._estimate("LightGBM", {"n_estimators": 100}, 40_000) == pytest.approx(1.5 + 2.0)
    assert driver._estimate("LightGBM", {"n_estimators": 200}, None) == pytest.approx(1.5 + 20.0)


def test_a_configuration_on_more_rows_is_estimated_from_the_growth_measured_on_the_samples(tmp_path):
    from automl_engine.results import TrialResult

    driver = _driver_on_200_000_rows(tmp_path)
    driver.overheads = [1.0]
    # Seconds per 100 rounds on all rows, as measured: 10 from trials on 10,000 rows, 4 and 6 (median 5) on
    # 40,000 rows. Four times the rows took twice the seconds: a fit's seconds grow as rows ** 0.5, so the
    # rate on all 200,000 rows is 5 * (200,000 / 40,000) ** -0.5.
    driver.rates["LightGBM"] = [(10_000, 10.0), (10_000, 10.0), (40_000, 4.0), (40_000, 6.0)]
    all_rows_rate = 5.0 / 5 ** 0.5
    assert driver._estimate("LightGBM", {"n_estimators": 100}, 10_000) == pytest.approx(1.0 + 10.0 * 0.05)
    assert driver._estimate("LightGBM", {"n_estimators": 100}, 40_000) == pytest.approx(1.0 + 5.0 * 0.2)
    assert driver._estimate("LightGBM", {"n_estimators": 100}, None) == pytest.approx(1.0 + all_rows_rate)
    # Only larger samples measured: the smallest of them.
    assert driver._estimate("LightGBM", {"n_estimators": 100}, 5_000) == pytest.approx(1.0 + 10.0 * 0.025)
    # Another algorithm: the rates of all, over the algorithms' cost hints (XGBoost's 1.5, LightGBM's 1).
    assert driver._estimate("XGBoostClassifier", {"n_estimators": 100}, None) == \
        pytest.approx(1.0 + all_rows_rate * 1.5)
    # One size measured below the rows: in proportion to the rows.
    driver.rates["LightGBM"] = [(10_000, 10.0)]
    assert driver._estimate("LightGBM", {"n_estimators": 100}, None) == pytest.approx(1.0 + 10.0)
    # The growth is held between rows ** 0.5 and in proportion to the rows.
    driver.rates["LightGBM"] = [(10_000, 10.0), (40_000, 1.0)]
    assert driver._estimate("LightGBM", {"n_estimators": 100}, None) == pytest.approx(1.0 + 1.0 / 5 ** 0.5)
    driver.rates["LightGBM"] = [(10_000, 10.0), (40_000, 30.0)]
    assert driver._estimate("LightGBM", {"n_estimators": 100}, None) == pytest.approx(1.0 + 30.0)
    # A rate too small for the clock gives no growth: in proportion to the rows.
    driver.rates["LightGBM"] = [(10_000, 0.0), (40_000, 5.0)]
    assert driver._estimate("LightGBM", {"n_estimators": 100}, None) == pytest.approx(1.0 + 5.0)

    # A booster early stopping ended after 120 of its 1,000 rounds is promoted expecting twice the 170 rounds
    # it grew (best round plus the 50 of patience); one that used all its rounds, expecting them all.
    driver.rates["LightGBM"] = [(10_000, 10.0), (10_000, 10.0), (40_000, 4.0), (40_000, 6.0)]

    def sampled(rounds: int, best_iteration: int) -> TrialResult:
        return TrialResult(number=3, algorithm="LightGBM", pipeline_name="LightGBM, 40,000-row sample",
                           featurization="", hyperparameters={"n_estimators": rounds}, metrics={}, score=0.6,
                           charts={}, test_metrics=None, test_charts=None, duration_seconds=1.0,
                           status="completed", error=None, is_ensemble=False, model_path=None, started_at=None,
                           finished_at=None, sample_size=40_000, best_iteration=best_iteration)

    assert driver._promotion_estimate(sampled(1000, 120), None) == pytest.approx(1.0 + all_rows_rate * 3.4)
    assert driver._promotion_estimate(sampled(200, 195), None) == pytest.approx(1.0 + all_rows_rate * 2.0)
