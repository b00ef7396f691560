"""Executing a run on a worker: the engine gets callbacks (``on_trial``, ``on_log``, ``should_stop``) that
record trials and logs, and, for parallel trials, an executor that sends trials to any Celery worker; retry and
cancel."""
from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studio.experiments.models import (
    ImportanceJob,
    JobStatus,
    Run,
    RunStatus,
    Trial,
    TrialJob,
    TrialStatus,
)
from studio.experiments.services.submission import (
    SubmissionError,
    _sentence,
    add_log,
    api_field_for,
    submission_spec_for,
    submit_run,
)
from studio.jobs import lifecycle
from studio.storage import relative_to_storage, storage_path

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Executing a run


worker_name = lifecycle.worker_name


class RunProgress(lifecycle.Progress):
    """The engine's ``should_stop``: polled at least once a second by the search loop, it beats the run's
    heartbeat and reads its cancel flag. The heartbeat comes from the engine's own loop, so a hung engine
    goes stale and is reaped instead of looking alive."""

    def __init__(self, run_id: int):
        super().__init__(Run, run_id)
        self.stop_requested = False
        self.last_check = 0.0

    def should_stop(self) -> bool:
        if time.monotonic() - self.last_check >= 1.0:
            self.last_check = time.monotonic()
            state = lifecycle.retry_db(
                lambda: Run.objects.filter(pk=self.job_id).values_list("status", "cancel_requested").first())
            if state is None or state[0] != RunStatus.RUNNING:
                self.lost = self.stop_requested = True
            elif state[1]:
                self.stop_requested = True
            self()
        return self.stop_requested


class RunRecorder:
    """The engine's callbacks for one run: writes each trial and log line as it arrives."""

    def __init__(self, run: Run, progress: RunProgress | None = None):
        self.run = run
        self.progress = progress
        self.best: float | None = None
        self.best_trial_id: int | None = None
        self.trials_done = 0
        self.seen: set[int] = set()

    # Each callback's write is retried once on a fresh connection when the database dropped the session (a
    # restart, a failover, an administrator): the run goes on instead of failing over one lost session.
    def on_log(self, level: str, message: str) -> None:
        lifecycle.retry_db(lambda: add_log(self.run, level, message))
        if self.progress is not None:
            self.progress()

    def on_prepared(self, prepared: dict) -> None:
        """The data has been checked: its guardrails are shown while the search runs."""
        lifecycle.retry_db(lambda: Run.objects.filter(pk=self.run.pk).update(
            guardrails=_jsonable(prepared["guardrails"]) or [],
            validation_method=_jsonable(prepared["validation"]) or {}))

    def on_cluster(self, state: dict) -> None:
        """A distributed run's cluster and boosting progress, for the run page (at most one write a second,
        and always the first and a trial's last round)."""
        now = time.monotonic()
        final = state.get("trial") is None or state.get("round") == state.get("rounds")
        if not final and now - getattr(self, "_cluster_written", 0.0) < 1.0:
            return
        self._cluster_written = now
        Run.objects.filter(pk=self.run.pk).update(cluster=_jsonable(state) or {})
        if self.progress is not None:
            self.progress()

    def on_trial(self, result) -> None:
        """Upsert one trial (the engine sends the best one again with its test scores) and the run's progress."""
        import math

        from automl_engine.artifacts import sha256_file

        model_file, sha = "", ""
        if result.model_path and result.status == TrialStatus.COMPLETED and Path(result.model_path).exists():
            model_file = relative_to_storage(result.model_path)
            sha = sha256_file(result.model_path)
        score = result.score
        if score is not None and (isinstance(score, float) and math.isnan(score)):
            score = None
        values = {
            "algorithm": result.algorithm[:80], "pipeline_name": result.pipeline_name[:200],
            "featurization": (result.featurization or "")[:300], "hyperparameters": _jsonable(result.hyperparameters),
            "metrics": _jsonable(result.metrics), "score": score, "charts": _jsonable(result.charts),
            "test_metrics": _jsonable(result.test_metrics), "test_charts": _jsonable(result.test_charts),
            "duration_seconds": float(result.duration_seconds or 0.0), "status": result.status,
            "error": result.error or "", "is_ensemble": bool(result.is_ensemble), "model_file": model_file,
            "sha256": sha, "started_at": _parse_time(result.started_at), "finished_at": _parse_time(result.finished_at),
        }
        lifecycle.retry_db(lambda: self._record_trial(result, values, score))
        if self.progress is not None:
            self.progress()

    def _record_trial(self, result, values: dict, score) -> None:
        """One transaction; the recorder's own counters change only once it committed, so a retry after a
        lost connection counts the trial once."""
        trials_done, best, best_trial_id = self.trials_done, self.best, self.best_trial_id
        with transaction.atomic():
            trial, created = Trial.objects.update_or_create(run=self.run, number=result.number, defaults=values)
            changes = {}
            if result.number not in self.seen and not result.is_ensemble:
                trials_done += 1
                changes["trials_done"] = trials_done
            if score is not None and (best is None or (score > best if self.run.greater_is_better else score < best)):
                best, best_trial_id = score, trial.pk
                changes.update(best_score=score, best_trial_id=trial.pk)
            if changes:
                Run.objects.filter(pk=self.run.pk).update(**changes)
        self.seen.add(result.number)
        self.trials_done, self.best, self.best_trial_id = trials_done, best, best_trial_id


def _jsonable(value):
    import json
    import math

    if value is None:
        return None

    def clean(v):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(json.loads(json.dumps(value, default=str)))


def _parse_time(value):
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.utc)
    return parsed


def execute_run(run_id: int) -> None:
    """Claim a queued run and run the engine on it until it completes, fails or is canceled.

    Another worker holding it, or a run canceled before it started, is left alone."""
    import automl_engine

    if lifecycle.claim(Run, run_id) is None:
        return
    run = Run.objects.select_related("experiment", "dataset_version__dataset", "validation_version",
                                     "test_version").get(pk=run_id)
    add_log(run, "info", f"started on worker {run.worker}")
    progress = RunProgress(run.pk)
    recorder = RunRecorder(run, progress)
    executor = None
    try:
        from studio.datasets.services import load_frame

        if run.dataset_version is None:
            raise automl_engine.ConfigError("training_data", "the dataset version of this run was deleted")
        labels = run.config["target_column_name"] if run.task == "classification" else None
        distributed = run.is_distributed
        # A distributed run hands the engine the versions' Parquet paths: the Dask workers read them from the
        # shared storage partition by partition; nothing is loaded here.
        read = (lambda version: str(storage_path(version.parquet_file.name))) if distributed else \
            (lambda version: load_frame(version, labels=labels))
        training = read(run.dataset_version)
        validation = read(run.validation_version) if run.validation_version else None
        test = read(run.test_version) if run.test_version else None
        from studio.experiments.columns import with_dataset_types

        job = automl_engine.job_from_config(with_dataset_types(run.config, run.dataset_version),
                                            training_data=training, validation_data=validation, test_data=test)
        cluster = None
        if distributed:
            from automl_engine.distributed import ClusterConfig

            cluster = ClusterConfig(scheduler_address=settings.DASK_SCHEDULER_ADDRESS or None,
                                    worker_memory_limit=settings.DASK_WORKER_MEMORY_LIMIT)
            where = settings.DASK_SCHEDULER_ADDRESS or "a local Dask cluster on this worker"
            add_log(run, "info", f"distributed training on {where}, up to {run.limits.get('max_nodes') or 1} nodes")
        elif run.max_concurrent_trials > 1:
            from studio.experiments.executor import CeleryTrialExecutor

            executor = CeleryTrialExecutor(run, n_threads=job.config.limits.threads_per_trial())
            add_log(run, "info", f"up to {run.max_concurrent_trials} trials at once on any available worker")
        workdir = storage_path(run.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        progress.last = 0.0  # loading the data was progress too: beat on the engine's first poll
        result = job.run(callbacks=automl_engine.Callbacks(
            on_trial=recorder.on_trial, on_log=recorder.on_log, should_stop=progress.should_stop,
            on_prepared=recorder.on_prepared, on_cluster=recorder.on_cluster),
            executor=executor, workdir=workdir, cluster=cluster)
        _finish(run, result, recorder)
    except automl_engine.ConfigError as exc:
        _fail(run, f"Invalid setting {api_field_for(exc.setting)}: {_sentence(exc.message)} Edit and resubmit.")
    except BaseException as exc:
        if not isinstance(exc, DatabaseError):
            try:
                add_log(run, "error", lifecycle.readable_error(Exception(traceback.format_exc(limit=8))))
            except DatabaseError:
                pass
        _fail(run, lifecycle.describe_failure(Run, exc, run.pk))
        if not isinstance(exc, Exception):
            raise
    finally:
        if executor is not None:
            try:
                executor.shutdown()
            except DatabaseError:  # the failure above already says the database went away
                logger.warning("could not close the trial jobs of run %s", run.pk)


def _finish(run: Run, result, recorder: RunRecorder) -> None:
    best = result.best_trial
    best_trial = Trial.objects.filter(run=run, number=best.number).first() if best is not None else None
    if best_trial is not None and result.explanation is not None and best_trial.feature_importance is None:
        best_trial.feature_importance = _jsonable(result.explanation)
        best_trial.save(update_fields=["feature_importance"])
    summary = {"guardrails": _jsonable(result.guardrails) or [],
               "featurization_summary": _jsonable(result.featurization_summary) or [],
               "validation_method": _jsonable(result.validation_method) or {},
               "best_trial": best_trial, "best_score": best_trial.score if best_trial else None,
               "finished_at": timezone.now(), "heartbeat_at": timezone.now()}
    if result.status == "canceled":
        requested = Run.objects.filter(pk=run.pk).values_list("cancel_requested", flat=True).first()
        summary.update(status=RunStatus.CANCELED,
                       stop_reason="canceled on request" if requested else "stopped by the studio")
        message = f"canceled after {recorder.trials_done} trials; finished trials are kept"
    elif result.status == "completed" and best_trial is not None:
        summary.update(status=RunStatus.COMPLETED)
        message = f"completed: best trial {best_trial.number} ({best_trial.pipeline_name}) " \
                  f"{run.primary_metric}={best_trial.score:.5f}"
    else:
        summary.update(status=RunStatus.FAILED,
                       error="No trial finished within the limits. Raise limits.timeout_minutes or "
                             "limits.trial_timeout_minutes, or allow faster algorithms.")
        message = "failed: no trial finished within the limits"
    updated = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(**summary)
    if updated:
        add_log(run, "info" if summary["status"] != RunStatus.FAILED else "error", message)
        _explain_after_run(run, result, best_trial)
    else:
        add_log(run, "warning", "the run was already closed by the studio (stale heartbeat); results kept")


def _explain_after_run(run: Run, result, best_trial: Trial | None) -> None:
    """The engine explains the best model only when that fits in the run's budget (the run's wall time is what
    the user set); when it did not, the explanation asked for is computed after the run, as a feature
    importance job of the best trial."""
    wanted = (result.config or {}).get("training", {}).get("enable_model_explainability")
    if not wanted or result.explanation is not None or best_trial is None or run.task == "forecasting" \
            or not best_trial.has_model:
        return
    with transaction.atomic():
        job = ImportanceJob.objects.create(trial=best_trial, requested_by=run.created_by)
        lifecycle.enqueue(job)
    add_log(run, "info", f"the explanation of trial {best_trial.number} did not fit in the time budget: it is "
                         "computed after the run (feature importance job)")


def _fail(run: Run, reason: str) -> None:
    """Fail the run with ``reason``; the lifecycle's hook writes it to the log and cancels waiting trials."""
    lifecycle.fail(Run, run.pk, reason)


def retry_run(run: Run, user) -> Run:
    """"Retry" a failed or canceled run: the same job on the same data version, as the experiment's next run.
    Raises :class:`SubmissionError` for a run that has not ended that way, or whose data changed since."""
    if run.status not in (RunStatus.FAILED, RunStatus.CANCELED):
        raise SubmissionError({"status": f"Run {run.number} is {run.status}; only a failed or canceled run can be "
                                         "retried."})
    return submit_run(run.workspace, user, submission_spec_for(run))


def cancel_run(run: Run, user) -> Run:
    """Stop a run: a queued one is canceled at once; a running one stops within seconds (its worker reads
    the flag) and keeps its finished trials. Finished runs are left as they are."""
    now = timezone.now()
    who = user.username if user else "the API"
    if Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELED, cancel_requested=True, finished_at=now,
            stop_reason=f"canceled by {who} before it started"):
        add_log(run, "info", f"canceled by {who} before a worker picked it up")
    elif Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING, cancel_requested=False).update(cancel_requested=True):
        add_log(run, "info", f"cancel requested by {who}")
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------------------------------
# Trials evaluated by any worker


_local_executor = None


def _process_executor(n_threads: int):
    """One long-lived engine child process per Celery worker process (it caches the prepared data)."""
    global _local_executor
    from automl_engine import LocalProcessExecutor

    if _local_executor is None or _local_executor.n_threads != n_threads:
        if _local_executor is not None:
            _local_executor.shutdown()
        _local_executor = LocalProcessExecutor(n_workers=1, n_threads=n_threads).start()
    return _local_executor


def localize_task(task: dict) -> dict:
    """A trial task whose ``workdir`` is storage-relative, made absolute for this machine."""
    return {**task, "workdir": str(storage_path(task["workdir"]))}


def portable_outcome(outcome: dict) -> dict:
    """An outcome with artifact paths made storage-relative, so any machine can resolve them."""
    out = dict(outcome)
    for key in ("model_path", "oof_path"):
        if out.get(key):
            out[key] = relative_to_storage(out[key])
    return out


def local_outcome(outcome: dict) -> dict:
    """The inverse of :func:`portable_outcome` on the driver's machine."""
    out = dict(outcome)
    for key in ("model_path", "oof_path"):
        if out.get(key) and not Path(out[key]).is_absolute():
            out[key] = str(storage_path(out[key]))
    return out


def evaluate_trial_job(job_id: int) -> None:
    """Claim a queued trial job and evaluate it in an engine child process, killing that process when the
    driver cancels the trial, the run stops, or the trial outlives its timeout."""
    from automl_engine import TrialTask

    if lifecycle.claim(TrialJob, job_id) is None:
        return
    job = TrialJob.objects.select_related("run").get(pk=job_id)
    if job.cancel_requested or job.run.status != RunStatus.RUNNING:
        TrialJob.objects.filter(pk=job_id).update(status=JobStatus.CANCELED, finished_at=timezone.now())
        return
    task = TrialTask.from_dict(localize_task(job.task))
    executor = _process_executor(max(1, task.n_jobs))
    handle = executor.submit(task)
    deadline = time.monotonic() + (task.timeout_seconds or 24 * 3600) + 5
    last_check = time.monotonic()
    outcome = None
    while outcome is None:
        for done_handle, result in executor.poll():
            if done_handle == handle:
                outcome = result if isinstance(result, dict) else result.to_dict()
        if outcome is not None:
            break
        if time.monotonic() - last_check >= 1.0:
            last_check = time.monotonic()
            TrialJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
            state = TrialJob.objects.filter(pk=job_id).values_list("cancel_requested", "run__status").first()
            if state is None or state[0] or state[1] != RunStatus.RUNNING:
                executor.cancel(handle)
                TrialJob.objects.filter(pk=job_id).update(status=JobStatus.CANCELED, finished_at=timezone.now())
                return
        if time.monotonic() > deadline:
            executor.cancel(handle)
            outcome = {"number": task.number, "status": TrialStatus.TIMED_OUT, "algorithm": task.algorithm,
                       "hyperparameters": task.hyperparameters,
                       "error": f"stopped after {task.timeout_seconds:.0f} s (trial timeout)"}
            break
        time.sleep(0.05)
    TrialJob.objects.filter(pk=job_id).update(status=JobStatus.COMPLETED, outcome=portable_outcome(outcome),
                                              finished_at=timezone.now())


