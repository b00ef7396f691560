"""The budget is the budget: the steps after the search (ensembles, test scores, explanation) are estimated
from what the run measured, reserved at the end of the budget, and skipped (with a log line) when they would
not fit."""
import time

import numpy as np
import pytest

from automl_engine import Callbacks, classification, regression
from automl_engine import driver as driver_module
from automl_engine.driver import Driver
from automl_engine.executor import InlineExecutor


def _job(bank_df, minutes=1.0):
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3, test_data_size=0.2)
    job.set_limits(max_trials=4, timeout_minutes=minutes, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["LightGBM", "LogisticRegression", "DecisionTree"],
                     enable_model_explainability=True)
    return job


def test_final_steps_that_would_not_fit_are_skipped_and_the_best_model_is_still_test_scored(bank_df, tmp_path,
                                                                                            monkeypatch):
    # Every estimate times a million: nothing after the search fits, and the reserve is capped at half the budget
    # (a 4-minute budget: the 4 trials finish long before the search's 2 minutes, even on a busy machine).
    monkeypatch.setattr(driver_module, "FINAL_SAFETY", 1e6)
    logs = []
    driver = Driver(_job(bank_df, minutes=4.0), Callbacks(on_log=lambda level, message: logs.append(message)),
                    InlineExecutor(), tmp_path)
    result = driver.run()
    assert driver.deadline - driver.search_deadline == pytest.approx(120.0)
    assert "voting ensemble skipped: it would not finish within the time budget" in logs
    assert "stack ensemble skipped: it would not finish within the time budget" in logs
    assert any(m.startswith("explanation of the best model skipped: about ") and
               m.endswith("it can be computed after the run (feature importance of the trial)") for m in logs)
    assert result.explanation is None
    assert not any(t.is_ensemble for t in result.trials)
    assert result.best_trial is not None and result.test_metrics is not None
    assert set(result.test_metrics) >= {"AUC_weighted", "log_loss", "expected_calibration_error"}


def test_the_reserve_follows_the_measured_final_steps(bank_df, tmp_path):
    driver = Driver(_job(bank_df), Callbacks(), InlineExecutor(), tmp_path)
    driver.prepare()
    driver.budget = 60.0
    driver.summary = []     # the featurization summary already computed during the search
    # No finished trial yet: nothing to estimate but the fixed parts (0.6 s, 0.2 s to score the test rows);
    # the floor is 4% of the budget, at least one second.
    assert driver._final_estimate() == {"load": 0.0, "ensembles": 0.0, "test": 0.2, "summary": 0.0, "refit": 0.0}
    assert driver.reserve() == pytest.approx(0.04 * 60)
    driver.budget = 600.0
    assert driver.reserve() == pytest.approx(24.0)
    driver.budget = 10.0
    assert driver.reserve() == pytest.approx(1.5 * (0.6 + 0.2))
    # A finished trial that predicted its 100 validation rows (3 folds, one call each) in 0.06 s: 0.02 s a
    # call, for 33 rows; the test's 60 rows take 60 / 33.3 times that, for the best model and as a member of
    # each ensemble. The explanation is not reserved (it runs if time is left, else after the run), but it
    # is estimated the same way: 2 x 20 columns + 1 calls on 200 rows.
    from automl_engine.results import TrialResult

    driver.trials.append(TrialResult(number=0, algorithm="LightGBM", pipeline_name="LightGBM", featurization="",
                                     hyperparameters={}, metrics={}, score=0.9, charts={}, test_metrics=None,
                                     test_charts=None, duration_seconds=1.0, status="completed", error=None,
                                     is_ensemble=False, model_path=None, started_at=None, finished_at=None))
    driver.timings[0] = {"predict_seconds": 0.06, "predict_rows": 100, "fit_seconds": 0.5}
    estimate = driver._final_estimate()
    assert len(driver.test) == 60 and driver.X.shape[1] == 20
    assert estimate["load"] == pytest.approx(0.1)
    driver.models[0] = object()  # loaded while the search ran: nothing left to load
    assert driver._final_estimate()["load"] == 0.0
    del driver.models[0]
    assert estimate["test"] == pytest.approx(3 * 0.02 * 60 / (100 / 3) + 0.2)
    assert driver._explain_seconds(driver.trials[0]) == pytest.approx(0.3 + 41 * 0.02 * 200 / (100 / 3))
    assert estimate["ensembles"] == 0.0 and driver.final_costs is None  # one candidate: nothing to measure


def test_a_run_with_every_final_step_ends_within_its_budget(bank_df, tmp_path):
    logs = []
    result = _job(bank_df, minutes=3.0).run(callbacks=Callbacks(on_log=lambda level, message: logs.append(message)),
                                          workdir=tmp_path)
    final = [m for m in logs if m.startswith("final steps took")]
    assert len(final) == 1 and result.explanation is not None
    assert any(t.is_ensemble for t in result.trials)
    assert np.isfinite(result.best_trial.score)


def test_the_ensembles_are_reserved_from_their_measured_unit_steps(bank_df, tmp_path, monkeypatch):
    # Two finished trials: the ensembles' estimate is built from the measured unit steps. Voting scores every
    # candidate in each of its 25 rounds and once to start (26 scores a candidate) and pruning by cost scores at
    # most one blend per pair of candidates (4 / 2 = 2 rounds more), then scores, charts and calibrates the
    # blend once; stacking fits one share per member and scores and charts the stack once.
    logs = []
    job = _job(bank_df)
    job.set_limits(max_trials=2, timeout_minutes=1.0, max_concurrent_trials=1)
    driver = Driver(job, Callbacks(on_log=lambda level, message: logs.append(message)), InlineExecutor(), tmp_path)
    stacked = []  # members of each meta-learner fit: the measurement fits a whole stack, not the two so far
    fit_stacker = driver.task.fit_stacker
    monkeypatch.setattr(driver.task, "fit_stacker", lambda oofs, *a: stacked.append(len(oofs)) or fit_stacker(oofs, *a))
    driver.run()
    assert stacked == [driver_module.STACK_MEMBERS, 2]
    assert [t.is_ensemble for t in driver.trials] == [False, False, True, True]
    measured = [m for m in logs if m.startswith("final steps measured: ")]
    assert len(measured) == 1 and set(driver.final_costs) == {"score", "stack", "metrics", "calibration"}
    assert all(v > 0 for v in driver.final_costs.values())
    driver.final_costs = {"score": 0.01, "stack": 0.1, "metrics": 0.5, "calibration": 0.3}
    assert len(driver._ranked()) == 4  # after the run, the two ensembles are candidates too
    estimate = driver._final_estimate()
    assert estimate["ensembles"] == pytest.approx(0.2 + (0.01 * 4 * 28 + 0.5 + 0.3) + (0.1 * 4 + 0.5))
    job.set_training(enable_stack_ensemble=False)
    driver.config = job.config
    assert driver._final_estimate()["ensembles"] == pytest.approx(0.2 + 0.01 * 4 * 28 + 0.5 + 0.3)
    assert len([m for m in logs if m.startswith("final steps measured: ")]) == 1  # measured once


class HeldExecutor:
    """Runs each trial (the real evaluate_trial) when submitted, but reports every trial after the first only
    once the run's search deadline is ``hold`` seconds past: trials still running at the deadline."""

    def __init__(self, hold: float):
        self.driver, self.hold, self.algorithms, self.held = None, hold, {}, {}

    def submit(self, task):
        from automl_engine.trial import evaluate_trial

        handle = f"h{task.number}"
        self.algorithms[task.number] = task.algorithm
        self.held[handle] = (task.number, evaluate_trial(task.to_dict()))
        return handle

    def poll(self):
        import time

        ready = [h for h, (number, _) in self.held.items()
                 if number == 0 or time.time() >= self.driver.search_deadline + self.hold]
        return [(h, self.held.pop(h)[1]) for h in ready]

    def cancel(self, handle):
        self.held.pop(handle, None)

    def shutdown(self):
        pass


def test_the_first_trial_of_an_algorithm_may_run_into_the_reserves_safety_margin(hardware_df, tmp_path,
                                                                                  monkeypatch):
    # A safety factor of 4 makes the margin wide (a 3.2 s reserve, 1.0 s of it the unscaled estimate's floor):
    # trials reported 1 s after the search deadline are inside it. ElasticNet has no finished trial then and
    # is waited for; the second LightGBM, of an algorithm already on the leaderboard, is cut at the deadline.
    monkeypatch.setattr(driver_module, "FINAL_SAFETY", 4.0)
    job = regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=3)
    job.set_limits(max_trials=3, timeout_minutes=0.2, max_concurrent_trials=2)
    job.set_training(allowed_training_algorithms=["LightGBM", "ElasticNet"], enable_model_explainability=False)
    logs = []
    executor = HeldExecutor(hold=1.0)
    driver = Driver(job, Callbacks(on_log=lambda level, message: logs.append(message)), executor, tmp_path)
    executor.driver = driver
    result = driver.run()
    assert executor.algorithms == {0: "LightGBM", 1: "ElasticNet", 2: "LightGBM"}
    status = {t.number: t.status for t in result.trials if not t.is_ensemble}
    assert status == {0: "completed", 1: "completed", 2: "cut_by_budget"}
    graced = [m for m in logs if "the first of its algorithm" in m]
    assert len(graced) == 1 and graced[0].startswith("trial 1 ElasticNet, the first of its algorithm, may run ")
    assert graced[0].endswith(" s into the final steps' reserve")
    assert "search finished after 3 trials: max_trials reached" in logs
    # The ensembles are built from the two finished trials; the cut one has no score.
    assert [sorted(t.hyperparameters["members"]) for t in result.trials if t.is_ensemble] == [[0, 1], [0, 1]]
    assert next(t for t in result.trials if t.number == 2).score is None


def test_the_grace_margin_is_the_unscaled_estimate_of_the_final_steps(bank_df, tmp_path):
    driver = Driver(_job(bank_df), Callbacks(), InlineExecutor(), tmp_path)
    driver.prepare()
    driver.summary = []
    driver.budget = 10.0
    # The estimate is 0.6 s fixed + 0.2 s for the test rows: reserved 1.5 times (1.2 s); the grace margin is
    # that estimate, but never under a second.
    assert driver._reserves() == pytest.approx((1.2, 1.0))
    driver.budget = 600.0
    assert driver._reserves() == pytest.approx((24.0, 1.0))
    driver.final_costs, driver.summary_seconds, driver.summary = None, 3.0, None
    assert driver._reserves() == pytest.approx((24.0, 3.8))  # a 3 s featurization summary still to compute


def test_the_final_steps_are_measured_in_processor_time(bank_df, tmp_path, monkeypatch):
    # While the unit steps are measured the trial workers hold the cores; the final steps run alone. A selection
    # score that waits 50 ms for a core (a sleep: no processor time) is measured as next to nothing, and it is
    # the fastest of SCORE_TIMINGS calls.
    job = _job(bank_df)
    job.set_limits(max_trials=2, timeout_minutes=1.0, max_concurrent_trials=1)
    driver = Driver(job, Callbacks(), InlineExecutor(), tmp_path)
    driver.run()
    calls = []

    def waiting_scorer(y, entries=None):
        def score(pred):
            calls.append(len(pred))
            time.sleep(0.05)
            return 0.5
        return score

    monkeypatch.setattr(driver, "_selection_scorer", waiting_scorer)
    costs = driver._measure_final_costs(driver._ranked()[:2])
    assert calls == [len(driver.data.oof_rows)] * driver_module.SCORE_TIMINGS == [240] * 5
    assert costs["score"] < 0.005
