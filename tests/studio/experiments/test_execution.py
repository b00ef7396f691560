"""Runs executed by real Celery worker processes on the real broker and database."""
import time
from datetime import timedelta

import pytest
from django.test import override_settings

from studio.experiments import services
from studio.experiments.models import Run, Trial, TrialJob
from studio.jobs import lifecycle
from tests.conftest import wait_for
from tests.studio.experiments.conftest import small_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _run(pk) -> Run:
    return Run.objects.get(pk=pk)


def test_a_small_run_completes_with_exactly_max_trials_and_their_results(team, bank_small, celery_worker):
    run = services.submit_run(team.workspace, team.bob, small_job(bank_small.dataset_id))
    assert run.status == "queued"
    wait_for(lambda: _run(run.pk).status in ("completed", "failed"), 120, message="the run to finish")
    run = _run(run.pk)
    assert run.status == "completed", run.error + "\n" + celery_worker.log()[-3000:]
    trials = list(run.trials.order_by("number"))
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.status for t in trials] == ["completed"] * 3
    assert {t.algorithm for t in trials} <= {"LightGBM", "LogisticRegression", "DecisionTree"}
    assert run.trials_done == 3
    best = max(trials, key=lambda t: t.score)
    assert run.best_trial_id == best.pk and run.best_score == best.score
    assert set(best.metrics) >= {"AUC_weighted", "accuracy", "log_loss"}
    assert set(best.charts) == {"confusion_matrix", "roc", "precision_recall", "calibration", "lift", "gains"}
    assert services.trial_model_path(best).name == "model.pkl"
    manifest = services.trial_manifest(best)
    assert manifest["sha256"] == best.sha256 and manifest["class_labels"] == ["no", "yes"]  # labels as in the data, not the schema's boolean
    assert [g["name"] for g in run.guardrails][:2] == ["missing_value_imputation", "high_cardinality_features"]
    assert {c["column"] for c in run.featurization_summary} == {c["name"] for c in bank_small.columns} - {"y"}
    # One type decision: the engine featurizes each column as the dataset's schema types it.
    from studio.experiments.columns import ENGINE_TYPES

    schema = {c["name"]: c["type"] for c in bank_small.columns}
    assert {c["column"]: c["detected_type"] for c in run.featurization_summary if schema[c["column"]] in ENGINE_TYPES} \
        == {name: ENGINE_TYPES[kind] for name, kind in schema.items() if kind in ENGINE_TYPES and name != "y"}
    assert "categorical" in schema.values() and "numeric" in schema.values()
    assert run.heartbeat_at is not None and run.finished_at >= run.started_at
    messages = list(run.log_lines.values_list("message", flat=True))
    assert messages[0].startswith("submitted by bob")
    assert any(m.startswith("completed: best trial") for m in messages)


def test_parallel_trials_are_spread_over_workers_and_the_run_completes(team, bank_small, celery_worker):
    job = {**small_job(bank_small.dataset_id, limits={"max_trials": 4, "max_concurrent_trials": 2}),
           "validation": {"validation_data_size": 0.2}}
    run = services.submit_run(team.workspace, team.bob, job)
    wait_for(lambda: _run(run.pk).status in ("completed", "failed"), 150, message="the parallel run to finish")
    run = _run(run.pk)
    assert run.status == "completed", run.error
    assert sorted(run.trials.values_list("number", flat=True)) == [0, 1, 2, 3]
    jobs = TrialJob.objects.filter(run=run)
    assert jobs.count() == 4
    assert set(jobs.values_list("status", flat=True)) == {"completed"}
    # The driver works one trial itself; the other worker process takes the rest.
    workers = set(jobs.values_list("worker", flat=True))
    assert any(w.startswith("driver ") for w in workers) and any(not w.startswith("driver ") for w in workers)
    # After the holdout search the best model was refitted on all rows by the driver: the studio keeps that
    # model, under its own hash, and the other trials' models as the workers fitted them.
    from automl_engine.artifacts import sha256_file

    best = run.best_trial
    assert best.pipeline_name.endswith(", refitted on all rows")
    assert services.trial_model_path(best).name == "refit.pkl" and sha256_file(services.trial_model_path(best)) == best.sha256
    others = run.trials.exclude(pk=best.pk)
    assert {services.trial_model_path(t).name for t in others} == {"model.pkl"}
    assert not any(t.pipeline_name.endswith("refitted on all rows") for t in others)


def test_cancel_stops_a_running_run_within_seconds_and_keeps_finished_trials(team, bank_small, celery_worker):
    job = small_job(bank_small.dataset_id, limits={"max_trials": 200, "timeout_minutes": 10})
    run = services.submit_run(team.workspace, team.bob, job)
    wait_for(lambda: Trial.objects.filter(run_id=run.pk).count() >= 2, 120, message="two trials to finish")
    running = _run(run.pk)  # the guardrails are there while the search still runs
    assert running.status == "running" and [g["name"] for g in running.guardrails][:2] == [
        "missing_value_imputation", "high_cardinality_features"]
    assert running.validation_method["n_folds"] == 3
    services.cancel_run(running, team.bob)
    asked = time.monotonic()
    wait_for(lambda: _run(run.pk).status == "canceled", 20, message="the run to be canceled")
    assert time.monotonic() - asked < 15
    run = _run(run.pk)
    finished = run.trials.filter(status="completed").count()
    assert finished >= 2 and run.trials_done < 200
    # The trial running at the cancel is recorded as canceled, not as timed out or failed.
    assert set(run.trials.values_list("status", flat=True)) == {"completed", "canceled"}
    assert run.stop_reason == "canceled on request"
    assert "cancel requested by bob" in list(run.log_lines.values_list("message", flat=True))


def test_cancel_before_a_worker_starts_marks_the_run_canceled_at_once(team, bank_small):
    run = services.submit_run(team.workspace, team.bob, small_job(bank_small.dataset_id))
    run = services.cancel_run(run, team.carol)
    assert run.status == "canceled" and run.stop_reason == "canceled by carol before it started"
    services.execute_run(run.pk)  # a late delivery of the message does nothing
    assert _run(run.pk).status == "canceled" and not Trial.objects.filter(run=run).exists()


def test_a_worker_killed_mid_run_leaves_a_failed_run_with_a_reason(team, bank_small, worker_factory, settings):
    settings.STUDIO_STALE_AFTER_SECONDS = 6
    worker = worker_factory(concurrency=1, extra_env={"STUDIO_HEARTBEAT_SECONDS": "1"})
    job = small_job(bank_small.dataset_id, limits={"max_trials": 200, "timeout_minutes": 10})
    run = services.submit_run(team.workspace, team.bob, job)
    wait_for(lambda: Trial.objects.filter(run_id=run.pk).count() >= 1, 120, message="a first trial")
    assert _run(run.pk).status == "running"
    worker.kill()
    killed_at = time.monotonic()
    # Judged at its last heartbeat the run is fresh (the wall clock would race a loaded machine here).
    last_beat = _run(run.pk).heartbeat_at
    assert lifecycle.reap_stale_jobs(now=last_beat + timedelta(seconds=5)) == []
    wait_for(lambda: lifecycle.reap_stale_jobs() or _run(run.pk).status == "failed", 30,
             message="the reaper to fail the run")
    run = _run(run.pk)
    assert run.status == "failed"
    assert run.error.startswith(f"The worker running this experiment ({run.worker}) stopped responding at ")
    assert "Finished trials are kept" in run.error
    assert time.monotonic() - killed_at < 30
    assert run.trials.filter(status="completed").count() >= 1


@pytest.mark.parametrize("concurrent", [1, 2])
def test_a_trial_over_its_timeout_is_killed_and_recorded_as_timed_out(team, bank_small, celery_worker, concurrent):
    # Forests with cross-validation need well over 0.3 s here even in a warm worker, so trials hit the limit and
    # must be killed there; a trial that does finish in time is simply kept, and the run's ending follows from it.
    job = small_job(bank_small.dataset_id,
                    training={"allowed_training_algorithms": ["RandomForest", "ExtremeRandomTrees"]},
                    limits={"max_trials": 2, "trial_timeout_minutes": 0.005, "max_concurrent_trials": concurrent})
    run = services.submit_run(team.workspace, team.bob, job)
    wait_for(lambda: _run(run.pk).status in ("completed", "failed"), 120, message="the run to end")
    run = _run(run.pk)
    trials = list(run.trials.order_by("number"))
    timed_out = [t for t in trials if t.status == "timed_out"]
    assert len(trials) == 2 and {t.status for t in trials} <= {"timed_out", "completed"}
    assert timed_out, [(t.status, t.duration_seconds) for t in trials]
    assert all(t.error.startswith("stopped after ") and t.error.endswith(" s (trial timeout)") for t in timed_out)
    assert all(0.25 < t.duration_seconds < 3 for t in timed_out)
    if len(timed_out) == 2:
        assert run.status == "failed"
        assert run.error == ("No trial finished within the limits. Raise limits.timeout_minutes or "
                             "limits.trial_timeout_minutes, or allow faster algorithms.")
    else:
        assert run.status == "completed" and run.best_trial.status == "completed"
    if concurrent > 1:
        # A trial another worker is still stopping settles shortly after the run ends; none stays running.
        wait_for(lambda: set(TrialJob.objects.filter(run=run).values_list("status", flat=True))
                 <= {"canceled", "completed"}, 30, message="the run's trial jobs to settle")


def test_onnx_models_test_scores_and_importance_on_demand(team, machine, celery_worker, api_for):
    # Regression on the hardware data (209 rows): a quarter held out as test data, ONNX-compatible models.
    job = small_job(machine.dataset_id, name="machine", task="regression", target_column="ERP",
                    primary_metric="r2_score", test={"test_data_size": 0.25},
                    training={"allowed_training_algorithms": ["LightGBM", "ElasticNet"],
                              "enable_onnx_compatible_models": True},
                    limits={"max_trials": 2})
    run = services.submit_run(team.workspace, team.bob, job)
    wait_for(lambda: _run(run.pk).status in ("completed", "failed"), 150, message="the run to finish")
    run = _run(run.pk)
    assert run.status == "completed", run.error
    best = run.best_trial
    assert set(best.test_metrics) >= {"r2_score", "normalized_root_mean_squared_error"}
    assert sum(best.test_charts["residuals"]["counts"]) == 53  # 25% of 209 rows, rounded up
    assert set(best.charts) == {"predicted_vs_true", "residuals"}

    client = api_for(team.carol)
    response = client.get(f"/api/v1/trials/{best.pk}/onnx")
    assert response.status_code == 200
    import onnxruntime

    session = onnxruntime.InferenceSession(b"".join(response.streaming_content))
    assert [i.name for i in session.get_inputs()] == [c["name"] for c in services.trial_manifest(best)["input_schema"]]

    other = run.trials.exclude(pk=best.pk).get()
    assert other.feature_importance is None
    assert api_for(team.bob).post(f"/api/v1/trials/{other.pk}/feature-importance/").status_code == 202
    wait_for(lambda: Trial.objects.get(pk=other.pk).feature_importance, 90, message="the feature importance")
    importance = Trial.objects.get(pk=other.pk).feature_importance
    assert set(importance) == {"method", "raw", "engineered"}
    assert set(importance["raw"]) <= {c["name"] for c in machine.columns} - {"ERP"}
    assert abs(sum(importance["raw"].values()) - 1.0) < 1e-6
    assert other.importance_jobs.get().status == "completed"
