"""Submitting a run: validate a job spec against the workspace's datasets and the engine's rules, create
the run and enqueue it, and give back a run's spec and YAML."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Max

from studio.experiments.bounds import limit_errors
from studio.experiments.models import Experiment, Run, RunLog
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


def add_log(run: Run | int, level: str, message: str) -> None:
    """Append a line to a run's log."""
    RunLog.objects.create(run_id=getattr(run, "pk", run), level=level[:10], message=str(message)[:5000])
