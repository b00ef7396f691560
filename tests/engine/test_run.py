"""End-to-end runs on small data: results, metrics, charts, ensembles, limits, callbacks, determinism."""
import json
import time

import numpy as np
import pandas as pd
import pytest

from automl_engine import Callbacks, classification, regression

CLASSIFICATION_METRICS = {"accuracy", "AUC_weighted", "AUC_macro", "AUC_micro", "average_precision_score_weighted",
                          "norm_macro_recall", "precision_score_weighted", "f1_score_macro", "recall_score_micro",
                          "log_loss", "balanced_accuracy", "matthews_correlation"}
REGRESSION_METRICS = {"spearman_correlation", "normalized_root_mean_squared_error", "r2_score",
                      "normalized_mean_absolute_error", "mean_absolute_error", "root_mean_squared_error",
                      "mean_absolute_percentage_error", "root_mean_squared_log_error", "explained_variance"}


@pytest.fixture(scope="module")
def bank_run(bank_df, tmp_path_factory):
    events = {"trials": [], "logs": []}
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3)
    job.set_limits(timeout_minutes=2, max_trials=5, max_concurrent_trials=2)
    result = job.run(callbacks=Callbacks(on_trial=events["trials"].append,
                                         on_log=lambda level, m: events["logs"].append((level, m))),
                     workdir=tmp_path_factory.mktemp("bank"))
    return result, events


@pytest.fixture(scope="module")
def hardware_run(hardware_df, tmp_path_factory):
    job = regression(training_data=hardware_df.drop(columns=["ERP"]), target_column_name="PRP",
                     primary_metric="r2_score", test_data_size=0.2)
    job.set_limits(timeout_minutes=2, max_trials=4, max_concurrent_trials=2)
    return job.run(workdir=tmp_path_factory.mktemp("hardware"))


def test_classification_run_results(bank_run):
    result, events = bank_run
    assert result.status == "completed"
    searched = [t for t in result.trials if not t.is_ensemble]
    ensembles = [t for t in result.trials if t.is_ensemble]
    assert len(searched) == 5
    assert [t.algorithm for t in ensembles] == ["VotingEnsemble", "StackEnsemble"]
    assert result.validation_method["method"] == "cv" and result.validation_method["n_folds"] == 3
    best = result.best_trial
    assert best.score == max(t.score for t in result.trials if t.score is not None)
    assert CLASSIFICATION_METRICS <= set(best.metrics)
    assert set(best.charts) == {"confusion_matrix", "roc", "precision_recall", "calibration", "lift", "gains"}
    assert sum(map(sum, best.charts["confusion_matrix"]["matrix"])) == 300
    assert best.charts["confusion_matrix"]["labels"] == ["no", "yes"]
    assert list(best.charts["roc"]) == ["yes"]
    predictions = result.best_model.predict(pd.DataFrame(bank_run_rows(result)))
    assert set(predictions) <= {"no", "yes"}


def bank_run_rows(result):
    frame = pd.read_pickle(f"{result.workdir}/data/X.pkl")
    return frame.head(10)


def test_callbacks_and_trial_results_are_json(bank_run):
    result, events = bank_run
    numbers = [t.number for t in events["trials"]]
    assert sorted(set(numbers)) == sorted(t.number for t in result.trials)
    assert events["trials"][-1].is_ensemble  # ensembles come last
    for trial in result.trials:
        data = trial.to_dict()
        assert json.loads(json.dumps(data)) == data
        assert data["status"] in {"completed", "failed", "timed_out"}
    assert events["logs"][0][1].startswith("prepared 300 training rows")


def test_leaderboard_sorted_best_first(bank_run):
    result, _ = bank_run
    board = result.leaderboard
    assert list(board["rank"]) == list(range(1, len(board) + 1))
    assert board["AUC_weighted"].is_monotonic_decreasing
    assert board.iloc[0]["number"] == result.best_trial.number


def test_class_imbalance_guardrail_alerts(bank_run):
    result, _ = bank_run
    statuses = {g["name"]: g["status"] for g in result.guardrails}
    assert statuses == {"missing_value_imputation": "passed", "high_cardinality_features": "passed",
                        "class_imbalance": "alerted", "validation_method": "done", "target_leakage": "passed",
                        "duplicate_rows": "passed", "train_test_overlap": "passed"}
    imbalance = next(g for g in result.guardrails if g["name"] == "class_imbalance")
    assert imbalance["parameters"]["class_counts"] == {"no": 276, "yes": 24}


def test_explanation_of_best_model(bank_run):
    result, _ = bank_run
    raw = result.explanation["raw"]
    assert set(raw) <= set(pd.read_pickle(f"{result.workdir}/data/X.pkl").columns)
    assert abs(sum(raw.values()) - 1.0) < 1e-9
    assert result.explanation["engineered"]


def test_regression_run(hardware_run):
    result = hardware_run
    assert result.validation_method["n_folds"] == 10  # 167 training rows < 1000
    assert REGRESSION_METRICS <= set(result.best_trial.metrics)
    assert set(result.best_trial.charts) == {"predicted_vs_true", "residuals"}
    assert set(result.test_metrics) >= {"r2_score", "normalized_root_mean_squared_error"}
    assert result.best_trial.score > 0.5
    summary = {s["column"]: s for s in result.featurization_summary}
    assert summary["ModelName"]["drop_reason"] == "id-like: a distinct value in every row"
    assert summary["VendorName"]["transformations"] == ["one-hot encoding"]  # 30 vendors <= 32


def test_same_seed_and_trial_limit_give_the_same_leaderboard(hardware_df):
    def board():
        job = regression(training_data=hardware_df.drop(columns=["ERP"]), target_column_name="PRP",
                         n_cross_validations=3, random_state=3)
        job.set_limits(max_trials=3, timeout_minutes=2)
        job.set_training(allowed_training_algorithms=["LightGBM", "ElasticNet"], enable_stack_ensemble=False,
                         enable_model_explainability=False)
        lb = job.run().leaderboard
        return lb[["number", "pipeline_name", "normalized_root_mean_squared_error"]]

    pd.testing.assert_frame_equal(board(), board())


def test_runaway_trial_is_killed_at_the_trial_timeout(hardware_df):
    job = regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=3)
    job.set_limits(max_trials=2, timeout_minutes=2, trial_timeout_minutes=0.02)  # 1.2 s
    job.set_training(allowed_training_algorithms=["RandomForest"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False)
    started = time.time()
    result = job.run()
    assert [t.status for t in result.trials] == ["timed_out", "timed_out"]
    assert "trial timeout" in result.trials[0].error
    assert result.status == "timed_out" and result.best_model is None
    assert time.time() - started < 20


def test_should_stop_cancels_the_run(hardware_df):
    calls = []

    def should_stop():
        calls.append(time.time())
        return len(calls) > 3

    job = regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=3)
    job.set_limits(max_trials=50, timeout_minutes=2)
    started = time.time()
    result = job.run(callbacks=Callbacks(should_stop=should_stop))
    assert result.status == "canceled"
    assert time.time() - started < 20
    assert not any(t.is_ensemble for t in result.trials)


def test_trials_the_run_stops_are_cut_by_budget_or_canceled_not_timed_out(hardware_df):
    # RandomForest trials on 200 copies of the data (41,800 rows) need many seconds: on 40 copies a fast machine
    # finished the trial within the 2.4 s budget. Neither run sets a trial timeout.
    hardware_df = pd.concat([hardware_df] * 200, ignore_index=True)
    job = regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=3)
    # A 2.4 s budget; one trial, so no fallback trial on a sample joins it (tests/engine/test_fallback.py).
    job.set_limits(max_trials=1, timeout_minutes=0.04, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["RandomForest"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False)
    cut = job.run().trials
    assert [t.status for t in cut] == ["cut_by_budget"]
    assert "the run's time budget ran out" in cut[0].error

    started = time.time()
    job = regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=3)
    job.set_limits(max_trials=2, timeout_minutes=2, max_concurrent_trials=1)
    job.set_training(allowed_training_algorithms=["RandomForest"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False)
    result = job.run(callbacks=Callbacks(should_stop=lambda: time.time() - started > 0.5))
    assert result.status == "canceled"
    assert [(t.status, t.error) for t in result.trials] == [("canceled", "stopped: the run ended (canceled by the caller)")]


def test_exit_score_stops_the_search(hardware_df):
    job = regression(training_data=hardware_df, target_column_name="PRP", primary_metric="r2_score",
                     n_cross_validations=3)
    job.set_limits(max_trials=30, timeout_minutes=2, exit_score=0.0)
    job.set_training(allowed_training_algorithms=["LightGBM"], enable_model_explainability=False)
    result = job.run()
    assert len([t for t in result.trials if not t.is_ensemble]) == 1


def test_weight_column_is_used_for_fitting_not_as_a_feature(hardware_df):
    df = hardware_df.drop(columns=["ERP"]).assign(w=np.linspace(0.5, 2.0, len(hardware_df)))
    job = regression(training_data=df, target_column_name="PRP", n_cross_validations=3, weight_column_name="w")
    job.set_limits(max_trials=2, timeout_minutes=1)
    job.set_training(allowed_training_algorithms=["LightGBM", "ElasticNet"], enable_model_explainability=False,
                     enable_stack_ensemble=False)
    result = job.run()
    assert all(t.status == "completed" for t in result.trials)
    assert "w" not in [s["column"] for s in result.featurization_summary]
    assert len(result.best_model.predict(df.drop(columns=["PRP", "w"]).head(5))) == 5


@pytest.mark.parametrize("algorithm", ["LassoLars", "SGD", "KNN"])
def test_weighted_regression_runs_every_linear_and_neighbour_algorithm(hardware_df, algorithm):
    # LassoLars and KNN take no sample weights: they fit unweighted rather than fail the trial.
    df = hardware_df.drop(columns=["ERP"]).assign(w=np.linspace(0.5, 2.0, len(hardware_df)))
    job = regression(training_data=df, target_column_name="PRP", n_cross_validations=3, weight_column_name="w")
    job.set_limits(max_trials=1, timeout_minutes=1)
    job.set_training(allowed_training_algorithms=[algorithm], enable_model_explainability=False,
                     enable_vote_ensemble=False, enable_stack_ensemble=False)
    logs = []
    result = job.run(callbacks=Callbacks(on_log=lambda level, message: logs.append((level, message))))
    assert [(t.algorithm, t.status, t.error) for t in result.trials] == [(algorithm, "completed", None)]
    ignored = ("warning", f"{algorithm} takes no sample weights: its trials ignore 'w' (block it to use only "
                          "weighted algorithms)")
    assert (ignored in logs) == (algorithm != "SGD")


def test_early_termination_after_twenty_trials_without_improvement(bank_df):
    logs = []
    job = classification(training_data=bank_df.head(120), target_column_name="y", n_cross_validations=3)
    job.set_limits(max_trials=80, timeout_minutes=3)
    job.set_training(allowed_training_algorithms=["NaiveBayes"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run(callbacks=Callbacks(on_log=lambda level, m: logs.append(m)))
    searched = [t for t in result.trials if not t.is_ensemble]
    scores = [t.score for t in searched]
    last_improvement = max(i for i, s in enumerate(scores) if s > max(scores[:i], default=float("-inf")))
    # as the SDK says: no improvement in the last 20 trials, and never within the first 20
    assert len(searched) == max(20, last_improvement + 21) < 80
    assert any("early termination: no improvement in the last 20 trials" in m for m in logs)
