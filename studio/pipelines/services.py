"""Submitting, advancing, running and canceling pipeline jobs.

A job's steps start when their inputs exist: ``advance_pipeline`` (a Celery task after every change) queues
each waiting step whose upstream steps completed, fails those whose upstream step failed (with the
reason), follows the AutoML runs it launched, and closes the job when every step has finished. Each step
runs in ``run_step`` on any worker; AutoML steps launch an ordinary experiment run through
``studio.experiments.services.submit_run`` and complete when that run does.
"""
from __future__ import annotations

import io
import logging
import re
import time
import traceback
from typing import Any

from django.db import transaction
from django.utils import timezone

from studio.pipelines.models import FINISHED, DatasetLineage, PipelineJob, PipelineStep, Status
from studio.pipelines.spec import PipelineSpecError, parse_pipeline, resolve

logger = logging.getLogger(__name__)
POLL_SECONDS = 2.0   # how often a pipeline with a running AutoML step looks at its run
# Metrics where smaller is better (every other metric is better when larger).
LOWER_IS_BETTER = {"normalized_root_mean_squared_error", "normalized_mean_absolute_error", "log_loss",
                   "mean_absolute_error", "root_mean_squared_error", "mean_absolute_percentage_error",
                   "root_mean_squared_log_error", "normalized_root_mean_squared_log_error"}
_DATASET_REF = re.compile(r"^(?:azureml:)?(?P<name>[^:@]+?)(?:@(?P<label>latest)|:(?P<version>\d+))?$")


class StepError(Exception):
    """A step that cannot complete; the message says why and what to change, ``log`` what it printed."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log


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


def data_value(version) -> dict[str, Any]:
    """How a dataset version travels between steps (JSON in step outputs and job inputs)."""
    return {"type": "dataset", "dataset_version": version.pk, "dataset_id": version.dataset_id,
            "dataset": version.dataset.name, "version": version.version}


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
                run = _launch_automl(step, config)
            with transaction.atomic():
                PipelineStep.objects.filter(pk=step.pk, status=Status.RUNNING).update(
                    run=run, heartbeat_at=timezone.now(),
                    log=step.log + f"{timezone.now():%H:%M:%S} launched AutoML run {run.pk}\n")
                advance_soon(job.pk, countdown=POLL_SECONDS)
            return None
        extra = {}
        if step.type == "command":
            outputs, log = _run_command(step, config, progress)
        else:
            with lifecycle.beating(progress):
                if step.type == "prep":
                    outputs, log = _run_prep(step, config)
                elif step.type == "deploy":
                    outputs, log, key = _run_deploy(step, config)
                    extra = {"endpoint_key": key} if key else {}
                else:
                    outputs, log = _run_register(step, config)
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


def _version(value: Any, field: str):
    from studio.datasets.models import DatasetVersion

    if not isinstance(value, dict) or value.get("type") != "dataset":
        raise StepError(f"{field}: expected a dataset (a pipeline data input or a prep step's output), got {value!r}")
    version = DatasetVersion.objects.select_related("dataset").filter(pk=value["dataset_version"]).first()
    if version is None:
        raise StepError(f"{field}: dataset version {value.get('dataset')} v{value.get('version')} was deleted")
    return version


def _new_version(step: PipelineStep, source, frame, name: str, operations: list) -> dict:
    """Store ``frame`` as a new version of dataset ``name``, profiled and with lineage to ``source``."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.datasets.services import create_dataset_version, profile_now

    job = step.job
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    origin = f" from {source.dataset.name} v{source.version}" if source is not None else ""
    version = create_dataset_version(
        workspace=job.workspace, user=job.created_by, name=name, file_name=f"{name}.csv",
        uploaded=SimpleUploadedFile(f"{name}.csv", buffer.getvalue().encode()), enqueue=False,
        description=f"Derived{origin} by step {step.name!r} of pipeline job {job.pk}.")
    profile_now(version)
    version.refresh_from_db()
    if version.status != "ready":
        raise StepError(f"the new dataset {name} could not be profiled: {version.error}")
    DatasetLineage.objects.create(derived=version, source=source, step=step, operations=operations)
    return data_value(version)


def _run_command(step: PipelineStep, config: dict, progress=None) -> tuple[dict, str]:
    """Run the step's script in a subprocess: each dataset input as ``inputs/<name>.csv`` (also passed as
    ``--<name> PATH``), an ``outputs/`` folder (``--outputs PATH``); CPU, memory and wall-clock limits; an
    environment without the studio's secrets. Each declared output is read back from ``outputs/<name>.csv``
    as a new dataset version."""
    import os
    import resource
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import pandas as pd
    from django.conf import settings

    from studio.datasets.services import load_frame

    limits = config.get("limits") or {}
    cpu = min(int(limits.get("cpu_seconds", settings.STUDIO_COMMAND_CPU_SECONDS)), settings.STUDIO_COMMAND_CPU_SECONDS)
    memory = min(int(limits.get("memory_mb", settings.STUDIO_COMMAND_MEMORY_MB)), settings.STUDIO_COMMAND_MEMORY_MB)
    wall = min(int(limits.get("wall_seconds", settings.STUDIO_COMMAND_WALL_SECONDS)),
               settings.STUDIO_COMMAND_WALL_SECONDS)

    def apply_limits():  # in the child, before the script starts
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_AS, (memory * 2**20, memory * 2**20))
        _die_with_parent()

    with tempfile.TemporaryDirectory(prefix=f"pipeline-{step.job_id}-{step.name}-") as tmp:
        folder = Path(tmp)
        (folder / "inputs").mkdir()
        (folder / "outputs").mkdir()
        args, sources = [], []
        for name, value in (config.get("inputs") or {}).items():
            if isinstance(value, dict) and value.get("type") == "dataset":
                version = _version(value, f"inputs.{name}")
                path = folder / "inputs" / f"{name}.csv"
                load_frame(version).to_csv(path, index=False)
                sources.append(version)
                args += [f"--{name}", str(path)]
            else:
                args += [f"--{name}", str(value)]
        (folder / "script.py").write_text(config["script"])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([sys.executable, "script.py", *args, "--outputs", str(folder / "outputs")],
                                   cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   preexec_fn=apply_limits, start_new_session=True)
        deadline = time.monotonic() + wall
        while True:  # wait in short slices so that a cancel of the pipeline stops the script too
            try:
                output, _ = process.communicate(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if progress is not None:
                    progress()  # the script is alive and watched: beat
                canceled = PipelineStep.objects.filter(pk=step.pk, status=Status.CANCELED).exists()
                if canceled or time.monotonic() > deadline:
                    os.killpg(process.pid, signal.SIGKILL)
                    output, _ = process.communicate()
                    if canceled:
                        raise StepError("canceled while the script ran; it was stopped", _tail(output)) from None
                    raise StepError(f"the script ran longer than {wall} s (wall_seconds) and was stopped",
                                    _tail(output)) from None
        text = _tail(output)
        if process.returncode != 0:
            reason = ("it used more than its CPU time (cpu_seconds)" if process.returncode in (-signal.SIGXCPU,
                                                                                              -signal.SIGKILL)
                      else f"it exited with status {process.returncode}")
            last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
            raise StepError(f"the script failed: {reason}: {last}", text)
        outputs = {}
        for name in config.get("outputs") or {}:
            path = folder / "outputs" / f"{name}.csv"
            if not path.exists():
                raise StepError(f"outputs.{name}: the script wrote no outputs/{name}.csv (declared outputs are read "
                                "from there)", text)
            settings_ = (config.get("outputs") or {}).get(name) or {}
            outputs[name] = _new_version(step, sources[0] if sources else None, pd.read_csv(path),
                                         str(settings_.get("name") or f"{step.job.name}-{step.name}-{name}"),
                                         [{"command": step.name}])
    return outputs, text + f"\n(limits: {cpu} CPU s, {memory} MB, {wall} s wall)"


def _die_with_parent() -> None:
    """Ask Linux to kill this (child) process when the worker that started it dies, so that a worker killed
    mid-step leaves no script running on without anyone to read it (the reaper fails the step)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except OSError:  # another libc: the script's own wall and CPU limits still end it
            pass


def _tail(output: bytes, limit: int = 20_000) -> str:
    text = output.decode(errors="replace")
    return text if len(text) <= limit else "…" + text[-limit:]


def _run_prep(step: PipelineStep, config: dict) -> tuple[dict, str]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.datasets.services import create_dataset_version, load_frame, profile_now
    from studio.pipelines.prep import apply_operations

    job = step.job
    source = _version(config["inputs"]["data"], "inputs.data")
    operations = config.get("operations") or []
    frames = apply_operations(load_frame(source), operations)
    declared = config.get("outputs") or {}
    names = list(declared) or (["train_data", "test_data"] if len(frames) == 2 else ["output_data"])
    outputs, lines = {}, []
    for output, frame in zip(names, frames):
        settings = declared.get(output) or {}
        name = str(settings.get("name") or (f"{source.dataset.name}-{step.name}" if len(frames) == 1 else
                                            f"{source.dataset.name}-{step.name}-{output}"))
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        version = create_dataset_version(
            workspace=job.workspace, user=job.created_by, name=name, file_name=f"{name}.csv",
            uploaded=SimpleUploadedFile(f"{name}.csv", buffer.getvalue().encode()), enqueue=False,
            description=f"Derived from {source.dataset.name} v{source.version} by step {step.name!r} of pipeline "
                        f"job {job.pk}.")
        profile_now(version)
        version.refresh_from_db()
        if version.status != "ready":
            raise StepError(f"the new dataset {name} could not be profiled: {version.error}")
        DatasetLineage.objects.create(derived=version, source=source, step=step, operations=operations)
        outputs[output] = data_value(version)
        lines.append(f"{output}: {name} v{version.version}, {len(frame)} rows x {frame.shape[1]} columns "
                     f"(from {source.dataset.name} v{source.version}, {len(load_frame(source))} rows)")
    return outputs, "\n".join(lines)


def _launch_automl(step: PipelineStep, config: dict):
    from studio.experiments.services import submit_run

    job = step.job
    training = _version(config["training_data"], "training_data")
    validation, test = {}, {}
    if config.get("n_cross_validations") not in (None, "auto"):
        validation["n_cross_validations"] = config["n_cross_validations"]
    if config.get("validation_data_size") is not None:
        validation["validation_data_size"] = config["validation_data_size"]
    if config.get("validation_data") is not None:
        validation["validation_data"] = _version(config["validation_data"], "validation_data").dataset_id
    if config.get("test_data_size") is not None:
        test["test_data_size"] = config["test_data_size"]
    if config.get("test_data") is not None:
        test["test_data"] = _version(config["test_data"], "test_data").dataset_id
    spec = {"name": f"{job.name} · {step.name}", "dataset": training.dataset_id, "dataset_version": training.version,
            "task": config["task"], "target_column": config["target_column_name"],
            "primary_metric": config.get("primary_metric"), "validation": validation, "test": test,
            "limits": config.get("limits") or {}, "training": config.get("training") or {},
            "featurization": config.get("featurization") or {},
            "tags": {"pipeline_job": str(job.pk), "pipeline_step": step.name}}
    if config.get("positive_label") is not None:
        spec["positive_label"] = config["positive_label"]
    if config.get("forecasting"):
        spec["forecasting"] = config["forecasting"]
    spec = {k: v for k, v in spec.items() if v not in (None, {}) or k in ("validation", "test")}
    return submit_run(job.workspace, job.created_by, spec)


def _run_register(step: PipelineStep, config: dict) -> tuple[dict, str]:
    from studio.experiments.models import Trial
    from studio.registry.models import RegisteredModel
    from studio.registry.services import RegistryError, register_version, set_alias

    job = step.job
    model = config["inputs"]["model"]
    if not isinstance(model, dict) or model.get("type") != "model":
        raise StepError(f"inputs.model: expected an automl step's best_model, got {model!r}")
    trial = Trial.objects.select_related("run").filter(pk=model["trial"]).first()
    if trial is None:
        raise StepError("inputs.model: the trial of that model was deleted")
    condition = config.get("condition") or {}
    metric = condition.get("metric") or trial.run.primary_metric
    if metric not in (trial.metrics or {}):
        raise StepError(f"condition.metric: {metric!r} is not a metric of the model; use one of "
                        f"{sorted(trial.metrics or {})}")
    value = trial.metrics[metric]
    greater = metric not in LOWER_IS_BETTER
    threshold = condition.get("threshold")
    lines = []
    if threshold is not None:
        threshold = float(threshold)
        passed = value >= threshold if greater else value <= threshold
        lines.append(f"{metric} {value:.5f} {'>=' if greater else '<='} {threshold}: {'yes' if passed else 'no'}")
        if not passed:
            return {"registered_model": None}, "\n".join(lines + ["not registered: the threshold was not met"])
    existing = RegisteredModel.objects.filter(workspace=job.workspace, name=config["model_name"]).first()
    beat = condition.get("beat_alias")
    if beat and existing is not None:
        alias = existing.aliases.select_related("version").filter(name=beat).first()
        if alias is not None:
            theirs = (alias.version.metrics or {}).get(metric)
            passed = theirs is None or (value > theirs if greater else value < theirs)
            lines.append(f"{metric} {value:.5f} vs {beat} (v{alias.version.version}) {theirs}: "
                         f"{'better' if passed else 'not better'}")
            if not passed:
                return {"registered_model": None}, "\n".join(lines + [f"not registered: {beat} is at least as good"])
    try:
        version = register_version(trial=trial, name=config["model_name"], user=job.created_by,
                                   description=f"Registered by step {step.name!r} of pipeline job {job.pk}.")
        alias_name = config.get("alias")
        if alias_name:
            set_alias(version.model, alias_name, version.version, job.created_by)
            lines.append(f"alias {alias_name} -> v{version.version}")
    except RegistryError as exc:
        raise StepError(str(exc)) from None
    lines.insert(0, f"registered {version.model.name} v{version.version} from trial {trial.number} of run "
                    f"{trial.run_id}")
    return {"registered_model": {"type": "registered_model", "model": version.model.name,
                                 "model_id": version.model_id, "version": version.version}}, "\n".join(lines)


def _run_deploy(step: PipelineStep, config: dict) -> tuple[dict, str, str]:
    """Point an endpoint at the registered version: create the endpoint, or add a deployment taking
    ``traffic_percent`` of its traffic (the others' shares scaled down). Nothing registered: nothing to do.
    Returns the outputs, the log and the new endpoint's scoring key ("" when no endpoint was created): the
    step keeps it until an editor has seen it once on the job page, as the one-click deploy shows its key."""
    from studio.registry.models import ModelVersion
    from studio.serving.models import Endpoint
    from studio.serving.services import ServingError, add_deployment, create_endpoint

    job = step.job
    model = config["inputs"]["model"]
    if model is None:
        return {"endpoint": None}, "nothing to deploy: the register step registered no model", ""
    if not isinstance(model, dict) or model.get("type") != "registered_model":
        raise StepError(f"inputs.model: expected a register step's registered_model, got {model!r}")
    version = ModelVersion.objects.select_related("model").filter(model_id=model["model_id"],
                                                                  version=model["version"]).first()
    if version is None:
        raise StepError(f"inputs.model: {model['model']} v{model['version']} was deleted")
    name, share = config["endpoint_name"], int(config.get("traffic_percent", 100))
    try:
        endpoint = Endpoint.objects.filter(name=name).first()
        if endpoint is None:
            endpoint, key = create_endpoint(workspace=job.workspace, user=job.created_by, name=name,
                                            model_version=version,
                                            description=f"Created by step {step.name!r} of pipeline job {job.pk}.")
            deployment = endpoint.deployments.get()
            log = (f"created endpoint {name} serving {version.model.name} v{version.version}; its scoring key is "
                   "shown once on this job's page to the first editor who opens it")
        elif endpoint.workspace_id != job.workspace_id:
            raise StepError(f"endpoint_name: {name!r} is taken by another workspace; choose another name")
        else:
            deployment = add_deployment(endpoint, version, user=job.created_by, traffic_percent=share)
            log = f"{name}: deployment {deployment.name} ({version.model.name} v{version.version}) takes {share} %"
            key = ""
    except ServingError as exc:
        raise StepError(f"{exc.field or 'endpoint_name'}: {exc}") from None
    return {"endpoint": {"type": "endpoint", "endpoint": endpoint.name, "endpoint_id": endpoint.pk,
                         "deployment": deployment.name, "traffic_percent": deployment.traffic_percent
                         if deployment.traffic_percent else share}}, log, key


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
