"""Submitting, advancing, running and canceling pipeline jobs.

A job's steps start when their inputs exist: ``advance_pipeline`` (a Celery task after every change) queues
each waiting step whose upstream steps completed, fails those whose upstream step failed (with the
reason), follows the AutoML runs it launched, and closes the job when every step has finished; a periodic
chore on the control queue (``advance_running_pipelines``) does the same for every unfinished job. Each
step is a background job on the shared lifecycle (``studio.jobs``): ``run_step`` claims it on any worker,
beats while it works and finishes or fails it with a reason, calling the runners of ``steps``; AutoML steps
launch an ordinary experiment run and complete when that run does.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from studio.pipelines.models import FINISHED, PipelineJob, PipelineStep, Status
from studio.pipelines.spec import PipelineSpecError, parse_pipeline, resolve
from studio.pipelines.steps import (StepError, data_value, launch_automl, run_command, run_deploy, run_prep,
                                    run_register)

logger = logging.getLogger(__name__)
POLL_SECONDS = 2.0   # how often a pipeline with a running AutoML step looks at its run
_DATASET_REF = re.compile(r"^(?:azureml:)?(?P<name>[^:@]+?)(?:@(?P<label>latest)|:(?P<version>\d+))?$")


# --------------------------------------------------------------------------------------------------
# Submitting


def resolve_dataset(workspace, ref: Any, field: str):
    """The ready dataset version an input names: ``azureml:name@latest``, ``azureml:name:3``, ``name``."""
    from studio.datasets.models import Dataset, DatasetVersion

    path = ref.get("path") if isinstance(ref, dict) else ref
    match = _DATASET_REF.match(str(path or "").strip())
    if not match or "/" in match["name"]:
        raise PipelineSpecError({field: f"{path!r} is not a studio dataset; write azureml:NAME@latest or "
                                        "azureml:NAME:VERSION (upload local files first: `studio data create`)"})
    dataset = Dataset.objects.filter(workspace=workspace, name=match["name"]).first()
    if dataset is None:
        names = list(Dataset.objects.filter(workspace=workspace).order_by("name").values_list("name", flat=True)[:20])
        raise PipelineSpecError({field: f"no dataset {match['name']!r} in this workspace; datasets are {names}"})
    versions = dataset.versions.all()
    if match["version"]:
        version = versions.filter(version=int(match["version"])).first()
        if version is None:
            raise PipelineSpecError({field: f"{dataset.name} has no version {match['version']}"})
    else:
        version = versions.filter(status=DatasetVersion.Status.READY).order_by("-version").first()
        if version is None:
            raise PipelineSpecError({field: f"{dataset.name} has no ready version yet"})
    if version.status != DatasetVersion.Status.READY:
        raise PipelineSpecError({field: f"{dataset.name} version {version.version} is {version.status}"})
    return version


def submit_pipeline(workspace, user, text: str, inputs: dict[str, Any] | None = None, trigger: str = "",
                    rerun_of: PipelineJob | None = None, reuse: dict[str, dict] | None = None) -> PipelineJob:
    """Check the YAML, resolve dataset inputs, create the job and its steps, and start it after commit.

    ``reuse`` maps step names to the outputs of an earlier job's completed steps (re-run from a failed step):
    those steps are recorded as completed with the same outputs and not run again."""
    spec = parse_pipeline(text, inputs)
    resolved = {}
    for name, value in spec.inputs.items():
        if isinstance(value, dict) and "path" in value:
            resolved[name] = data_value(resolve_dataset(workspace, value, f"inputs.{name}"))
        else:
            resolved[name] = value
    with transaction.atomic():
        job = PipelineJob.objects.create(
            workspace=workspace, name=spec.display_name or spec.experiment_name or "pipeline", yaml=text,
            inputs=resolved, trigger=trigger or f"submitted by {user.username if user else 'the API'}",
            created_by=user, rerun_of=rerun_of)
        now = timezone.now()
        for position, step in enumerate(spec.steps):
            reused = (reuse or {}).get(step.name)
            PipelineStep.objects.create(
                job=job, name=step.name, position=position, type=step.type, config=step.config, needs=step.needs,
                status=Status.COMPLETED if reused is not None else Status.WAITING, outputs=reused or {},
                log=f"reused the outputs of job {rerun_of.pk}\n" if reused is not None else "",
                started_at=now if reused is not None else None, finished_at=now if reused is not None else None)
        for note in spec.notes:
            logger.info("pipeline job %s: %s", job.pk, note)
        advance_soon(job.pk)
    return job


def rerun_pipeline(job: PipelineJob, user) -> PipelineJob:
    """A new job of the same YAML and inputs that keeps the outputs of the completed steps whose upstream
    steps all completed, and runs the failed or canceled steps and everything after them."""
    steps = list(job.steps.all())
    if not any(s.status in (Status.FAILED, Status.CANCELED) for s in steps):
        raise StepError("Only a failed or canceled pipeline job can be re-run from its failed step.")
    reuse = {s.name: s.outputs for s in steps if s.status == Status.COMPLETED}
    overrides = {k: v for k, v in job.inputs.items() if not isinstance(v, dict)}
    return submit_pipeline(job.workspace, user, job.yaml, overrides, trigger=f"re-run of job {job.pk} by "
                           f"{user.username if user else 'the API'}", rerun_of=job, reuse=reuse)


# --------------------------------------------------------------------------------------------------
# Advancing


def advance_soon(job_id: int, countdown: float | None = None) -> None:
    """Advance the pipeline job in a task once the current transaction commits (at once outside one). A
    broker that does not answer is only logged: the periodic advance of running pipelines catches up."""
    from django.conf import settings

    from studio.pipelines.tasks import advance_pipeline_task

    def send():
        try:  # the queue the lifecycle sends steps to, read when sent (as lifecycle.send does)
            advance_pipeline_task.apply_async((job_id,), countdown=countdown or None,
                                              queue=settings.CELERY_TASK_DEFAULT_QUEUE)
        except Exception as exc:  # kombu raises a different error per transport
            logger.warning("could not send the advance of pipeline job %s (%s); the periodic advance will do it",
                           job_id, exc)

    transaction.on_commit(send)


def advance_pipeline(job_id: int) -> None:
    """Move a job forward: finish AutoML steps whose run ended (and beat those whose run still trains), queue
    ready steps on the job lifecycle, fail the dependants of failed steps, and close the job when all steps
    are done."""
    from studio.experiments.models import Run, RunStatus
    from studio.jobs import lifecycle

    with transaction.atomic():
        job = PipelineJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return
        now = timezone.now()
        if job.status == Status.QUEUED:
            job.status, job.started_at = Status.RUNNING, now
        steps = list(job.steps.select_for_update().order_by("position"))
        by_name = {s.name: s for s in steps}
        for step in steps:
            if step.type == "automl" and step.status == Status.RUNNING and step.run_id:
                run = Run.objects.select_related("best_trial").get(pk=step.run_id)
                if run.status == RunStatus.COMPLETED and run.best_trial is not None:
                    best = run.best_trial
                    step.outputs = {
                        "best_model": {"type": "model", "trial": best.pk, "run": run.pk, "algorithm": best.algorithm,
                                       "primary_metric": run.primary_metric, "score": best.score},
                        "metrics": {"type": "metrics", "run": run.pk, "primary_metric": run.primary_metric,
                                    "validation": best.metrics, "test": best.test_metrics}}
                    _finish(step, Status.COMPLETED, now, log=f"run {run.pk} completed; best trial {best.number} "
                                                             f"{best.algorithm} {run.primary_metric}={best.score:.5f}")
                elif run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED):
                    reason = run.error or run.stop_reason or "it produced no model"
                    _finish(step, Status.FAILED, now, error=f"AutoML run {run.pk} {run.status}: {reason}")
                else:
                    # The step's work is its run, which has a heartbeat and a reaper of its own: while the run
                    # is alive, so is the step.
                    step.heartbeat_at = now
                    step.save(update_fields=["heartbeat_at"])
        for step in steps:
            if step.status != Status.WAITING:
                continue
            upstream = [by_name[n] for n in step.needs]
            broken = next((u for u in upstream if u.status in (Status.FAILED, Status.CANCELED)), None)
            if broken is not None:
                first_line = (broken.error or broken.status).splitlines()[0]
                status = Status.CANCELED if broken.status == Status.CANCELED else Status.FAILED
                _finish(step, status, now, error=f"not run: step {broken.name!r} {broken.status}: {first_line}")
            elif all(u.status == Status.COMPLETED for u in upstream):
                step.status, step.enqueued_at = Status.QUEUED, now
                step.save(update_fields=["status", "enqueued_at"])
                lifecycle.enqueue(step)
        if all(s.status in FINISHED for s in steps):
            failed = next((s for s in steps if s.status != Status.COMPLETED), None)
            job.status = Status.COMPLETED if failed is None else failed.status
            job.error = "" if failed is None else f"step {failed.name!r} {failed.status}: {failed.error}"
            job.finished_at = now
        elif any(s.type == "automl" and s.status == Status.RUNNING for s in steps):
            advance_soon(job.pk, countdown=POLL_SECONDS)
        job.save()


def advance_running_pipelines() -> list[int]:
    """Advance every unfinished pipeline job (a periodic chore on the control queue): a lost or late advance
    message never strands a pipeline, and AutoML steps keep beating while their runs train even when every
    ordinary worker is busy with those runs. Returns the ids advanced."""
    ids = list(PipelineJob.objects.filter(status__in=(Status.QUEUED, Status.RUNNING)).values_list("pk", flat=True))
    for job_id in ids:
        try:
            advance_pipeline(job_id)
        except Exception:  # one broken job must not stop the others from advancing
            logger.exception("could not advance pipeline job %s", job_id)
    return ids


def _finish(step: PipelineStep, status: str, now, error: str = "", log: str = "") -> None:
    step.status, step.error, step.finished_at = status, error, now
    if log or error:
        step.log += f"{now:%H:%M:%S} {log or error}\n"
    step.save()


# --------------------------------------------------------------------------------------------------
# Running one step


def run_step(step_id: int) -> None:
    """Run a queued step through the job lifecycle (claim, beat, finish or fail), then advance its job."""
    from studio.jobs import lifecycle

    lifecycle.run_job(PipelineStep, step_id, _run_claimed_step)
    pipeline_id = PipelineStep.objects.filter(pk=step_id).values_list("job_id", flat=True).first()
    if pipeline_id is not None:
        advance_soon(pipeline_id)


def _run_claimed_step(step: PipelineStep, progress) -> dict | None:
    """The body of a claimed step: the fields it completes with, or None when it closed the step itself (a
    launched AutoML run, or a failure whose reason and log it recorded)."""
    from studio.experiments.services import SubmissionError
    from studio.jobs import lifecycle
    from studio.pipelines.prep import PrepError

    step = PipelineStep.objects.select_related("job__workspace", "job__created_by").get(pk=step.pk)
    job = step.job
    upstream = {s.name: s.outputs for s in job.steps.filter(status=Status.COMPLETED)}
    try:
        config = resolve(step.config, job.inputs, upstream)
        if step.type == "automl":
            with lifecycle.beating(progress):
                run = launch_automl(step, config)
            with transaction.atomic():
                PipelineStep.objects.filter(pk=step.pk, status=Status.RUNNING).update(
                    run=run, heartbeat_at=timezone.now(),
                    log=step.log + f"{timezone.now():%H:%M:%S} launched AutoML run {run.pk}\n")
                advance_soon(job.pk, countdown=POLL_SECONDS)
            return None
        extra = {}
        if step.type == "command":
            outputs, log = run_command(step, config, progress)
        else:
            with lifecycle.beating(progress):
                if step.type == "prep":
                    outputs, log = run_prep(step, config)
                elif step.type == "deploy":
                    outputs, log, key = run_deploy(step, config)
                    extra = {"endpoint_key": key} if key else {}
                else:
                    outputs, log = run_register(step, config)
        return {"outputs": outputs, "log": _log_text(step, log), **extra}
    except StepError as exc:
        reason, log = str(exc), exc.log
    except PipelineSpecError as exc:
        reason, log = str(exc), ""
    except PrepError as exc:
        reason, log = f"operations{exc.where}: {exc.message}", ""
    except SubmissionError as exc:
        reason, log = "; ".join(f"{k}: {v}" for k, v in exc.errors.items()), ""
    lifecycle.fail(PipelineStep, step.pk, reason, log=_log_text(step, log, error=reason))
    return None


def _log_text(step: PipelineStep, log: str = "", error: str = "") -> str:
    """The step's log with ``log``'s lines and then ``error`` appended, each stamped with the time."""
    now = timezone.now()
    return step.log + "".join(f"{now:%H:%M:%S} {line}\n" for line in (log.splitlines() if log else [])) + (
        f"{now:%H:%M:%S} {error}\n" if error else "")


def take_endpoint_key(job: PipelineJob, step_name: str):
    """``(key, endpoint)`` of the endpoint a deploy step of ``job`` created, erasing the key in the same
    conditional UPDATE so that it is given out once (as the one-click deploy shows its key once); ``(None,
    None)`` when there is none (not a deploy step, no endpoint created, or already taken)."""
    from studio.serving.models import Endpoint

    step = job.steps.filter(name=step_name, type="deploy").exclude(endpoint_key="").first()
    if step is None or not PipelineStep.objects.filter(pk=step.pk, endpoint_key=step.endpoint_key).update(
            endpoint_key=""):
        return None, None
    endpoint_id = ((step.outputs or {}).get("endpoint") or {}).get("endpoint_id")
    endpoint = Endpoint.objects.filter(pk=endpoint_id, workspace=job.workspace).first()
    if endpoint is None:
        return None, None
    PipelineStep.objects.filter(pk=step.pk).update(
        log=step.log + f"{timezone.now():%H:%M:%S} the endpoint key was shown once; it is erased here\n")
    return step.endpoint_key, endpoint


# --------------------------------------------------------------------------------------------------
# Canceling


def cancel_pipeline(job: PipelineJob, user) -> PipelineJob:
    """Cancel a job: steps not finished are canceled, a running AutoML run is asked to stop."""
    from studio.experiments.models import Run
    from studio.experiments.services import cancel_run

    who = user.username if user else "the API"
    with transaction.atomic():
        job = PipelineJob.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            return job
        now = timezone.now()
        runs = []
        for step in job.steps.select_for_update().exclude(status__in=FINISHED):
            if step.run_id:
                runs.append(step.run_id)
            _finish(step, Status.CANCELED, now, error=f"canceled by {who}")
        job.status, job.finished_at, job.error = Status.CANCELED, now, f"canceled by {who}"
        job.save()
    for run in Run.objects.filter(pk__in=runs):
        cancel_run(run, user)
    return job
