"""Workflows of the experiments app: validate and submit a job, run it on a worker with the engine, cancel
it, reap runs whose worker died, and hand trial artifacts to other apps.

The engine never touches the database: this module gives it callbacks (``on_trial``, ``on_log``,
``should_stop``) and, for parallel trials, an executor that sends trials to any Celery worker.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studio.experiments.bounds import limit_errors
from studio.experiments.models import (Experiment, ImportanceJob, JobStatus, Run, RunLog, RunStatus, Trial,
                                       TrialJob, TrialStatus)
from studio.jobs import lifecycle

logger = logging.getLogger(__name__)

RUNS_DIR = "experiments/runs"
API_FIELDS = ("name", "description", "tags", "dataset", "dataset_version", "task", "target_column",
              "positive_label", "primary_metric", "validation", "test", "featurization", "training", "limits",
              "forecasting")
VALIDATION_KEYS = ("n_cross_validations", "validation_data_size", "validation_data")
TEST_KEYS = ("test_data_size", "test_data")
# A line for each primary metric on when it fits, from the seed's guidance.
METRIC_HINTS = {
    "accuracy": "Fraction of correct labels. Fits balanced classes; misleading when one class dominates.",
    "AUC_weighted": "Ranking quality averaged over classes by size. Fits imbalanced data and scoring by probability.",
    "average_precision_score_weighted": "Area under precision-recall. Fits imbalanced data where the rare class "
                                        "matters.",
    "norm_macro_recall": "Recall averaged over classes, 0 for chance. Fits heavily imbalanced data.",
    "precision_score_weighted": "How often a predicted label is right. Fits when false positives are costly.",
    "log_loss": "How much probability the model gives the true class; lower is better. Fits multiclass problems "
                "and whenever the probabilities themselves are used.",
    "spearman_correlation": "Rank agreement of predictions with the truth. Fits when order matters more than values.",
    "normalized_root_mean_squared_error": "Typical error relative to the target's range, punishing large misses. "
                                          "Fits most regression problems.",
    "r2_score": "Share of the target's variance explained. Fits comparing models on the same data.",
    "normalized_mean_absolute_error": "Average absolute error relative to the range. Fits data with outliers.",
}


# --------------------------------------------------------------------------------------------------
# Submitting


class SubmissionError(ValueError):
    """Invalid job settings: ``errors`` maps the API field path (``"limits.max_trials"``) to a message that
    names the problem and the fix."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Submission:
    """A validated job: the engine config plus the studio objects it refers to."""

    name: str
    description: str
    tags: dict
    config: dict
    dataset_version: Any
    validation_version: Any = None
    test_version: Any = None


# The engine names settings by its own keys; the API nests some of them in objects.
_ENGINE_TO_API = {
    "target_column_name": "target_column",
    "n_cross_validations": "validation.n_cross_validations",
    "validation_data_size": "validation.validation_data_size",
    "validation_data": "validation.validation_data",
    "test_data_size": "test.test_data_size",
    "test_data": "test.test_data",
    "featurization": "featurization.mode",
}


def api_field_for(setting: str) -> str:
    """The API field path of an engine setting name from ``ConfigError.setting``."""
    return _ENGINE_TO_API.get(setting, setting)


def _ready_version(workspace, dataset_id, version_number, field: str):
    from studio.datasets.models import Dataset, DatasetVersion

    if dataset_id in (None, ""):
        raise SubmissionError({field: "Choose a dataset: give the id of a dataset in this workspace "
                                      "(list them at /api/v1/datasets/)."})
    try:
        dataset_id = int(dataset_id)
    except (TypeError, ValueError):
        raise SubmissionError({field: f"{dataset_id!r} is not a dataset id; use the numeric id from "
                                      "/api/v1/datasets/."})
    dataset = Dataset.objects.filter(pk=dataset_id, workspace=workspace).first()
    if dataset is None:
        raise SubmissionError({field: f"No dataset {dataset_id} in this workspace; list yours at /api/v1/datasets/."})
    versions = DatasetVersion.objects.filter(dataset=dataset).select_related("dataset")
    if version_number not in (None, ""):
        version = versions.filter(version=version_number).first()
        if version is None:
            raise SubmissionError({field: f"{dataset.name} has no version {version_number}."})
    else:
        version = versions.filter(status=DatasetVersion.Status.READY).order_by("-version").first() \
            or versions.order_by("-version").first()
    if version is None or version.status != DatasetVersion.Status.READY:
        state = "has no version yet" if version is None else f"version {version.version} is {version.status}"
        raise SubmissionError({field: f"{dataset.name} {state}; wait until its profile is ready, or pick another "
                                      "dataset."})
    return version


def _as_dict(spec: dict, key: str, errors: dict) -> dict:
    value = spec.get(key)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors[key] = f"must be an object of settings, e.g. {{\"max_trials\": 20}}; got {type(value).__name__}."
        return {}
    return dict(value)


def _parse_tags(raw) -> dict:
    if isinstance(raw, dict):
        return {str(k)[:100]: str(v)[:200] for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return {str(t).strip()[:100]: "" for t in raw if str(t).strip()}
    tags = {}
    for part in str(raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition("=")
        tags[key.strip()[:100]] = value.strip()[:200]
    return tags


def validate_submission(workspace, spec: dict) -> Submission:
    """Check a job given in the API's shape against the studio's data and the engine's rules.

    Raises :class:`SubmissionError` with every problem found, keyed by API field path."""
    import automl_engine
    from automl_engine.config import DEFAULT_PRIMARY_METRIC, PROBLEM_TYPES

    errors: dict[str, str] = {}
    unknown = sorted(set(spec) - set(API_FIELDS))
    for key in unknown:
        errors[key] = f"unknown field; known fields are {', '.join(API_FIELDS)}."
    name = str(spec.get("name") or "").strip()
    if not name:
        errors["name"] = "Give the experiment a name; runs with the same name are grouped together."
    elif len(name) > 120:
        errors["name"] = f"{len(name)} characters is too long; keep the name to 120."
    task = spec.get("task")
    if task not in PROBLEM_TYPES:
        errors["task"] = f"{task!r} is not a task; use one of {', '.join(PROBLEM_TYPES)}."
    try:
        version = _ready_version(workspace, spec.get("dataset"), spec.get("dataset_version"), "dataset")
    except SubmissionError as exc:
        errors.update(exc.errors)
        version = None
    validation = _as_dict(spec, "validation", errors)
    test = _as_dict(spec, "test", errors)
    limits = _as_dict(spec, "limits", errors)
    training = _as_dict(spec, "training", errors)
    featurization = _as_dict(spec, "featurization", errors)
    for key in sorted(set(validation) - set(VALIDATION_KEYS)):
        errors[f"validation.{key}"] = f"unknown setting; use one of {', '.join(VALIDATION_KEYS)}."
    for key in sorted(set(test) - set(TEST_KEYS)):
        errors[f"test.{key}"] = f"unknown setting; use one of {', '.join(TEST_KEYS)}."
    given = [k for k in VALIDATION_KEYS if validation.get(k) not in (None, "")]
    if len(given) > 1:
        errors[f"validation.{given[1]}"] = (f"give one validation method, not {' and '.join(given)}; leave "
                                            "validation empty for the automatic choice.")
    if test.get("test_data_size") not in (None, "") and test.get("test_data") not in (None, ""):
        errors["test.test_data"] = "give either test_data or test_data_size, not both."
    validation_version = test_version = None
    if validation.get("validation_data") not in (None, ""):
        try:
            validation_version = _ready_version(workspace, validation["validation_data"], None,
                                                "validation.validation_data")
        except SubmissionError as exc:
            errors.update(exc.errors)
    if test.get("test_data") not in (None, ""):
        try:
            test_version = _ready_version(workspace, test["test_data"], None, "test.test_data")
        except SubmissionError as exc:
            errors.update(exc.errors)
    target = spec.get("target_column")
    columns = {}
    if version is not None:
        columns = {c["name"]: c for c in version.included_columns()}
        if not target:
            errors["target_column"] = "Choose the column to predict."
        elif target not in columns:
            errors["target_column"] = (f"{target!r} is not a column of {version}; columns are "
                                       f"{', '.join(list(columns)[:15])}.")
        else:
            column = columns[target]
            kind = column.get("type")
            if task == "regression" and kind != "numeric":
                errors["task"] = (f"Regression needs a numeric target, but {target!r} is {kind}. Choose "
                                  "classification, or a numeric target column.")
            if column.get("missing") and task != "forecasting":  # forecasting imputes them, and says so
                errors["target_column"] = (f"{target!r} has {column['missing']:,} missing values; fill or drop "
                                           "those rows in the dataset, or pick another target.")
            elif task == "classification" and column.get("distinct") is not None and column["distinct"] < 2:
                errors["target_column"] = f"{target!r} has a single value; classification needs at least two classes."
            for extra, label in ((validation_version, "validation.validation_data"), (test_version, "test.test_data")):
                if extra is not None and target not in {c["name"] for c in extra.included_columns()}:
                    errors[label] = f"{extra} has no column {target!r}; it must have the training data's columns."
    positive = spec.get("positive_label")
    if positive not in (None, "") and not errors.get("target_column") and version is not None and target in columns:
        if task != "classification":
            errors["positive_label"] = "A positive class only applies to classification; leave it empty."
        else:
            labels = target_labels(version, target)
            if labels is not None and str(positive) not in {str(v) for v in labels}:
                errors["positive_label"] = (f"{positive!r} is not a value of {target!r}; use one of "
                                            f"{', '.join(str(v) for v in labels[:10])}.")
            elif labels is not None:
                positive = next(v for v in labels if str(v) == str(positive))
    else:
        positive = None
    from studio.experiments import forecasting

    forecast = forecasting.check_submission(spec, task, version, target, columns, validation, errors)
    metric = spec.get("primary_metric") or (DEFAULT_PRIMARY_METRIC.get(task) if task in PROBLEM_TYPES else None)
    if metric is not None and not isinstance(metric, str):
        errors["primary_metric"] = "Give the metric's name as a string, e.g. \"AUC_weighted\"."
        metric = None
    errors.update(limit_errors(limits, metric))
    if errors:
        raise SubmissionError(errors)

    n_rows = version.n_rows
    if test.get("test_data_size") not in (None, ""):
        try:
            n_rows = int(n_rows * (1 - float(test["test_data_size"])))
        except (TypeError, ValueError):
            pass
    config = {
        "task": task, "target_column_name": target, "primary_metric": metric,
        "n_cross_validations": validation.get("n_cross_validations"),
        "validation_data_size": validation.get("validation_data_size"),
        "test_data_size": test.get("test_data_size"), "positive_label": positive,
        "limits": limits, "training": training, "featurization": featurization,
    }
    if forecast is not None:
        config["forecasting"] = forecast
    try:
        parsed = automl_engine.validate_config(config, columns=list(columns), n_rows=n_rows)
    except automl_engine.ConfigError as exc:
        raise SubmissionError({api_field_for(exc.setting): _sentence(exc.message)}) from None
    except (TypeError, ValueError) as exc:
        raise SubmissionError({"limits": f"a setting has the wrong type ({exc}); use numbers for limits and "
                                         "true/false for switches."}) from None
    engine_config = parsed.to_dict()
    return Submission(name=name, description=str(spec.get("description") or ""), tags=_parse_tags(spec.get("tags")),
                      config=engine_config, dataset_version=version, validation_version=validation_version,
                      test_version=test_version)


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def target_labels(version, target: str, limit: int = 50) -> list | None:
    """The distinct values of the target (at most ``limit``), sorted; None when there are more."""
    from studio.datasets.services import load_frame

    values = load_frame(version, columns=[target], labels=target)[target].dropna().unique().tolist()
    if len(values) > limit:
        return None
    return sorted(values, key=lambda v: (str(type(v)), v))


def submit_run(workspace, user, spec: dict) -> Run:
    """Validate a job, create its run (and its experiment when the name is new) and enqueue it after commit."""
    submission = validate_submission(workspace, spec)
    with transaction.atomic():
        experiment, created = Experiment.objects.get_or_create(
            workspace=workspace, name=submission.name,
            defaults={"description": submission.description, "tags": submission.tags, "created_by": user})
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if not created and (submission.description or submission.tags):
            experiment.description = submission.description or experiment.description
            experiment.tags = submission.tags or experiment.tags
            experiment.save(update_fields=["description", "tags"])
        number = (experiment.runs.aggregate(n=Max("number"))["n"] or 0) + 1
        config = submission.config
        run = Run.objects.create(
            experiment=experiment, workspace=workspace, number=number, dataset_version=submission.dataset_version,
            validation_version=submission.validation_version, test_version=submission.test_version, config=config,
            task=config["task"], primary_metric=config["primary_metric"],
            greater_is_better=_greater_is_better(config), created_by=user)
        run.workdir = f"{RUNS_DIR}/{run.pk}/work"
        run.save(update_fields=["workdir"])
        add_log(run, "info", f"submitted by {user.username if user else 'the API'}; waiting for a worker")
        lifecycle.enqueue(run)
    return run


def _greater_is_better(config: dict) -> bool:
    from automl_engine.config import PRIMARY_METRICS

    return PRIMARY_METRICS[config["task"]][config["primary_metric"]]


def submission_spec_for(run: Run) -> dict:
    """The API-shaped job of an earlier run, for "edit and resubmit"."""
    config = run.config
    validation = {k: config.get(k) for k in ("n_cross_validations", "validation_data_size") if config.get(k)}
    if run.validation_version_id:
        validation = {"validation_data": run.validation_version.dataset_id}
    test = {"test_data_size": config["test_data_size"]} if config.get("test_data_size") else {}
    if run.test_version_id:
        test = {"test_data": run.test_version.dataset_id}
    version = run.dataset_version
    return {
        "name": run.experiment.name, "description": run.experiment.description, "tags": run.experiment.tags,
        "dataset": version.dataset_id if version else None, "dataset_version": version.version if version else None,
        "task": config["task"], "target_column": config["target_column_name"],
        "positive_label": config.get("positive_label"), "primary_metric": config["primary_metric"],
        "validation": validation, "test": test, "featurization": config.get("featurization") or {},
        "training": config.get("training") or {}, "limits": config.get("limits") or {},
        **({"forecasting": config["forecasting"]} if config.get("forecasting") else {}),
    }


def config_yaml(run_or_submission) -> str:
    """The job as YAML in the seed's CLI v2 shape, with the studio's datasets named as inputs."""
    config = dict(run_or_submission.config)
    for key, version in (("training_data", run_or_submission.dataset_version),
                         ("validation_data", run_or_submission.validation_version),
                         ("test_data", run_or_submission.test_version)):
        if version is not None:
            config[key] = {"type": "studio_dataset", "name": version.dataset.name, "version": version.version}
        elif key != "training_data":
            config.pop(key, None)  # no such input: leave the key out rather than show null
    ordered = {"$schema": "https://azuremlschemas.azureedge.net/latest/autoMLJob.schema.json",
               "experiment_name": getattr(run_or_submission, "name", None) or run_or_submission.experiment.name,
               **config}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False, allow_unicode=True)


# --------------------------------------------------------------------------------------------------
# Logs and storage paths


def add_log(run: Run | int, level: str, message: str) -> None:
    """Append a line to a run's log."""
    RunLog.objects.create(run_id=getattr(run, "pk", run), level=level[:10], message=str(message)[:5000])


def storage_path(relative: str) -> Path:
    """Absolute path of a storage-relative path on this machine."""
    return Path(default_storage.path(relative))


def relative_to_storage(path: str | Path) -> str:
    """Storage-relative form of an absolute path under MEDIA_ROOT (kept as is when outside it)."""
    root = Path(default_storage.path("")).resolve()
    p = Path(path).resolve()
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(path)


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


# --------------------------------------------------------------------------------------------------
# Artifacts for people and for the registry


class ArtifactUnavailable(Exception):
    """A model file that does not exist for this trial; the message says why."""


def trial_model_path(trial: Trial) -> Path:
    """Absolute path of the trial's ``model.pkl`` (the fitted pipeline)."""
    if not trial.model_file:
        raise ArtifactUnavailable(f"Trial {trial.number} has no model: it {trial.get_status_display().lower()}.")
    path = storage_path(trial.model_file)
    if not path.exists():
        raise ArtifactUnavailable(f"The model file of trial {trial.number} is missing from storage.")
    return path


def trial_manifest(trial: Trial) -> dict:
    """The trial model's manifest (input schema, class labels, library versions, metrics, sha256); built on
    first use, written beside ``model.pkl`` and kept on the row."""
    import json

    import automl_engine
    from automl_engine.artifacts import MANIFEST_FILE, MODEL_FILE, input_schema, library_versions

    if trial.manifest:
        return trial.manifest
    path = trial_model_path(trial)
    pipeline = automl_engine.load_model(path, expected_sha256=trial.sha256)
    classes = getattr(pipeline, "classes_", None)
    run = trial.run
    # A forecaster describes itself: its future frame's columns, settings, frequency and series origins.
    forecast = pipeline.manifest() if callable(getattr(pipeline, "forecast", None)) else None
    if forecast:
        from studio.serving.forecasting import example_rows

        forecast["example_rows"] = example_rows(pipeline)  # the sample a deployment is checked with
    manifest = {
        "format": "automl_engine.model/1", "model_file": MODEL_FILE, "sha256": trial.sha256,
        "input_schema": forecast["input_schema"] if forecast else input_schema(pipeline),
        "class_labels": _jsonable([c.item() if hasattr(c, "item") else c for c in classes])
        if classes is not None else None,
        "library_versions": library_versions(), "task": run.task, "primary_metric": run.primary_metric,
        "trial": trial.number, "pipeline_name": trial.pipeline_name, "algorithm": trial.algorithm,
        "hyperparameters": trial.hyperparameters, "metrics": trial.metrics, "test_metrics": trial.test_metrics,
        "target_column_name": run.config.get("target_column_name"), "run": run.pk,
        **({"forecasting": forecast} if forecast else {}),
    }
    (path.parent / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
    Trial.objects.filter(pk=trial.pk).update(manifest=manifest)
    trial.manifest = manifest
    return manifest


def onnx_available(trial: Trial) -> bool:
    """ONNX export exists for single-model trials of runs trained with ONNX-compatible models."""
    return (trial.has_model and not trial.is_ensemble
            and bool((trial.run.config.get("training") or {}).get("enable_onnx_compatible_models")))


def trial_onnx_path(trial: Trial) -> Path:
    """Absolute path of the trial's ONNX model, converted on first request."""
    import automl_engine

    if not onnx_available(trial):
        raise ArtifactUnavailable(
            "ONNX is only available for single models of runs trained with ONNX-compatible models: resubmit with "
            "training.enable_onnx_compatible_models=true." if not trial.is_ensemble else
            "Ensembles are not exported to ONNX; download the .pkl or pick a single-model trial.")
    if trial.onnx_file and storage_path(trial.onnx_file).exists():
        return storage_path(trial.onnx_file)
    model_path = trial_model_path(trial)
    pipeline = automl_engine.load_model(model_path, expected_sha256=trial.sha256)
    from studio.datasets.services import load_frame

    sample = load_frame(trial.run.dataset_version, limit=5) if trial.run.dataset_version else None
    target = model_path.parent / "model.onnx"
    automl_engine.export_onnx(pipeline, sample, target)
    relative = relative_to_storage(target)
    Trial.objects.filter(pk=trial.pk).update(onnx_file=relative)
    trial.onnx_file = relative
    return target


def request_feature_importance(trial: Trial, user) -> ImportanceJob:
    """Queue the computation of a trial's feature importance (one job at a time per trial)."""
    if trial.run.task == "forecasting":
        raise ArtifactUnavailable("Feature importance is not computed for forecasting models; the trial's forecast "
                                  "chart, error by horizon and per-series metrics describe them.")
    if not trial.has_model:
        raise ArtifactUnavailable(f"Trial {trial.number} has no model to explain.")
    with transaction.atomic():
        Trial.objects.select_for_update().filter(pk=trial.pk).first()
        job = trial.importance_jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
        if job is None:
            job = ImportanceJob.objects.create(trial=trial, requested_by=user)
            lifecycle.enqueue(job)
    return job


def compute_feature_importance(job_id: int) -> None:
    """Claim an importance job and explain the trial's model on the run's training data."""
    def body(job: ImportanceJob, progress) -> dict:
        import automl_engine
        from studio.datasets.services import load_frame

        trial = job.trial
        pipeline = automl_engine.load_model(trial_model_path(trial), expected_sha256=trial.sha256)
        progress()
        target = trial.run.config["target_column_name"]
        frame = load_frame(trial.run.dataset_version, labels=target if trial.run.task == "classification" else None)
        drop = [target] + ([trial.run.config["weight_column_name"]] if trial.run.config.get("weight_column_name")
                           else [])
        with lifecycle.beating(progress):  # the engine's explain has no callbacks; its time limit bounds a hang
            explanation = automl_engine.explain(pipeline, frame.drop(columns=drop, errors="ignore"), frame[target],
                                                random_state=trial.run.config.get("random_state", 0))
        Trial.objects.filter(pk=trial.pk).update(feature_importance=_jsonable(explanation))
        return {}

    lifecycle.run_job(ImportanceJob, job_id, body)
