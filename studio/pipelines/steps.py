"""Running each type of pipeline step: prep, automl (launching a run), register, deploy and command.

Each runner takes the claimed :class:`~studio.pipelines.models.PipelineStep` and its config with bindings
resolved, and returns its outputs and the lines for the step log (a deploy step also the new endpoint's
key); a problem the user can fix is a :class:`StepError` naming the field. ``services.run_step`` claims the
step on the job lifecycle and calls them.
"""
from __future__ import annotations

import io
import time
from typing import Any

from studio.pipelines.models import DatasetLineage, PipelineStep, Status

# Metrics where smaller is better (every other metric is better when larger).
LOWER_IS_BETTER = {"normalized_root_mean_squared_error", "normalized_mean_absolute_error", "log_loss",
                   "mean_absolute_error", "root_mean_squared_error", "mean_absolute_percentage_error",
                   "root_mean_squared_log_error", "normalized_root_mean_squared_log_error"}


class StepError(Exception):
    """A step that cannot complete; the message says why and what to change, ``log`` what it printed."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log


def data_value(version) -> dict[str, Any]:
    """How a dataset version travels between steps (JSON in step outputs and job inputs)."""
    return {"type": "dataset", "dataset_version": version.pk, "dataset_id": version.dataset_id,
            "dataset": version.dataset.name, "version": version.version}


def dataset_version(value: Any, field: str):
    """The dataset version a resolved step input names; a StepError naming ``field`` when it is not one."""
    from studio.datasets.models import DatasetVersion

    if not isinstance(value, dict) or value.get("type") != "dataset":
        raise StepError(f"{field}: expected a dataset (a pipeline data input or a prep step's output), got {value!r}")
    version = DatasetVersion.objects.select_related("dataset").filter(pk=value["dataset_version"]).first()
    if version is None:
        raise StepError(f"{field}: dataset version {value.get('dataset')} v{value.get('version')} was deleted")
    return version


def new_version(step: PipelineStep, source, frame, name: str, operations: list) -> dict:
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


def run_command(step: PipelineStep, config: dict, progress=None) -> tuple[dict, str]:
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
                version = dataset_version(value, f"inputs.{name}")
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
            outputs[name] = new_version(step, sources[0] if sources else None, pd.read_csv(path),
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


def run_prep(step: PipelineStep, config: dict) -> tuple[dict, str]:
    """Apply the no-code operations to the input dataset; each resulting frame (two after a split) becomes
    a new dataset version with lineage to its input."""
    from studio.datasets.services import load_frame
    from studio.pipelines.prep import apply_operations

    source = dataset_version(config["inputs"]["data"], "inputs.data")
    operations = config.get("operations") or []
    original = load_frame(source)
    frames = apply_operations(original, operations)
    declared = config.get("outputs") or {}
    names = list(declared) or (["train_data", "test_data"] if len(frames) == 2 else ["output_data"])
    outputs, lines = {}, []
    for output, frame in zip(names, frames):
        settings = declared.get(output) or {}
        name = str(settings.get("name") or (f"{source.dataset.name}-{step.name}" if len(frames) == 1 else
                                            f"{source.dataset.name}-{step.name}-{output}"))
        outputs[output] = new_version(step, source, frame, name, operations)
        lines.append(f"{output}: {name} v{outputs[output]['version']}, {len(frame)} rows x {frame.shape[1]} columns "
                     f"(from {source.dataset.name} v{source.version}, {len(original)} rows)")
    return outputs, "\n".join(lines)


def launch_automl(step: PipelineStep, config: dict):
    """Submit the step's AutoML job as an ordinary experiment run (any task, forecasting included); the
    pipeline's advance completes the step when the run ends."""
    from studio.experiments.services import submit_run

    job = step.job
    training = dataset_version(config["training_data"], "training_data")
    validation, test = {}, {}
    if config.get("n_cross_validations") not in (None, "auto"):
        validation["n_cross_validations"] = config["n_cross_validations"]
    if config.get("validation_data_size") is not None:
        validation["validation_data_size"] = config["validation_data_size"]
    if config.get("validation_data") is not None:
        validation["validation_data"] = dataset_version(config["validation_data"], "validation_data").dataset_id
    if config.get("test_data_size") is not None:
        test["test_data_size"] = config["test_data_size"]
    if config.get("test_data") is not None:
        test["test_data"] = dataset_version(config["test_data"], "test_data").dataset_id
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


def run_register(step: PipelineStep, config: dict) -> tuple[dict, str]:
    """Register the AutoML step's best model, unless its metric misses the threshold or does not beat the
    version behind ``beat_alias``; move ``alias`` to the new version."""
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


def run_deploy(step: PipelineStep, config: dict) -> tuple[dict, str, str]:
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
