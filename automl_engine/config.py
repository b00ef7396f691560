"""The job configuration: one frozen, JSON-serialisable object, and its validation.

The names follow Azure ML automated ML (SDK v2 / CLI v2 jobs) so that a configuration reads the same
as a seed job: ``task``, ``primary_metric``, ``limits``, ``training``, ``featurization``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import ConfigError
from .tasks import get_task, task_names

# The task names, primary metrics (name -> greater is better) and default primary metric of every built-in
# task, read from the task objects (automl_engine.tasks); kept here because the studio imports them.
CLASSIFICATION = "classification"
REGRESSION = "regression"
PROBLEM_TYPES = tuple(task_names())
PRIMARY_METRICS: dict[str, dict[str, bool]] = {name: dict(get_task(name).primary_metrics) for name in PROBLEM_TYPES}
DEFAULT_PRIMARY_METRIC = {name: get_task(name).default_primary_metric for name in PROBLEM_TYPES}

FEATURIZATION_MODES = ("auto", "custom", "off")
COLUMN_TYPES = ("Numeric", "Categorical", "DateTime", "Text", "Ignore")
TRANSFORMERS = ("imputer", "one_hot_encoder", "count_encoder", "hashing_encoder", "tfidf", "datetime",
                "missing_indicator")
IMPUTER_STRATEGIES = ("mean", "median", "most_frequent", "constant")


@dataclass(frozen=True)
class Limits:
    """Budget of a job (Azure ``set_limits``)."""

    timeout_minutes: float = 360.0
    trial_timeout_minutes: float | None = None
    max_trials: int = 1000
    max_concurrent_trials: int = 1
    enable_early_termination: bool = True
    exit_score: float | None = None
    max_cores_per_trial: int = -1
    # Dask workers a distributed run uses (training_mode="distributed"); non-distributed runs use one machine.
    max_nodes: int = 1

    def threads_per_trial(self, cpu_count: int | None = None) -> int:
        """Native threads each trial's learner gets (LightGBM/XGBoost ``n_jobs``, BLAS and OpenMP pools).

        ``max_cores_per_trial`` of -1 (the Azure default, "all possible cores") shares this machine's cores
        among the concurrent trials; a positive value is taken as asked, capped at the machine's cores so
        that concurrent trials never ask for more threads each than there are cores."""
        import os

        cores = max(1, cpu_count or os.cpu_count() or 1)
        if self.max_cores_per_trial == -1:
            return max(1, cores // self.max_concurrent_trials)
        return max(1, min(self.max_cores_per_trial, cores))


@dataclass(frozen=True)
class Training:
    """Which algorithms and final models a job may use (Azure ``set_training``)."""

    allowed_training_algorithms: tuple[str, ...] | None = None
    blocked_training_algorithms: tuple[str, ...] = ()
    enable_vote_ensemble: bool = True
    enable_stack_ensemble: bool = True
    enable_model_explainability: bool = True
    enable_onnx_compatible_models: bool = False
    # "distributed": LightGBM on a Dask cluster over data partitions (automl_engine.distributed).
    training_mode: str = "non_distributed"


@dataclass(frozen=True)
class Featurization:
    """How raw columns become features (Azure ``set_featurization``)."""

    mode: str = "auto"
    column_name_and_types: tuple[tuple[str, str], ...] = ()
    transformer_params: tuple[tuple[str, tuple[tuple[tuple[str, ...], tuple[tuple[str, Any], ...]], ...]], ...] = ()
    blocked_transformers: tuple[str, ...] = ()

    def column_types(self) -> dict[str, str]:
        return dict(self.column_name_and_types)

    def imputer_overrides(self) -> dict[str, dict[str, Any]]:
        """Column name -> imputer parameters from ``transformer_params["imputer"]``."""
        overrides: dict[str, dict[str, Any]] = {}
        for name, entries in self.transformer_params:
            if name != "imputer":
                continue
            for fields, params in entries:
                for column in fields:
                    overrides[column] = dict(params)
        return overrides


@dataclass(frozen=True)
class JobConfig:
    """Everything needed to reproduce a job except the data frames themselves.

    Data given as a path is kept as that path; data given as a DataFrame is recorded as ``None`` and must
    be passed again to :func:`automl_engine.job_from_config`.
    """

    task: str
    target_column_name: str
    primary_metric: str
    training_data: str | None = None
    validation_data: str | None = None
    test_data: str | None = None
    n_cross_validations: int | None = None
    validation_data_size: float | None = None
    test_data_size: float | None = None
    weight_column_name: str | None = None
    positive_label: Any = None
    random_state: int = 0
    cv_split_column_names: tuple[str, ...] | None = None
    limits: Limits = field(default_factory=Limits)
    training: Training = field(default_factory=Training)
    featurization: Featurization = field(default_factory=Featurization)
    # A task's own settings block (e.g. ``forecasting:``), parsed by the task (``Task.parse_settings``) and
    # serialised under ``Task.settings_key``; None for tasks without one (classification, regression).
    task_settings: Any = None

    @property
    def problem_type(self) -> str:
        return self.task

    @property
    def greater_is_better(self) -> bool:
        return get_task(self.task).greater_is_better(self.primary_metric)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict; :meth:`from_dict` inverts it."""
        f = self.featurization
        out = {
            "type": "automl",
            "task": self.task,
            "target_column_name": self.target_column_name,
            "primary_metric": self.primary_metric,
            "training_data": self.training_data,
            "validation_data": self.validation_data,
            "test_data": self.test_data,
            "n_cross_validations": self.n_cross_validations,
            "validation_data_size": self.validation_data_size,
            "test_data_size": self.test_data_size,
            "weight_column_name": self.weight_column_name,
            "positive_label": self.positive_label,
            "random_state": self.random_state,
            "cv_split_column_names": (list(self.cv_split_column_names) if self.cv_split_column_names is not None
                                      else None),
            "limits": dataclasses.asdict(self.limits),
            "training": {
                **dataclasses.asdict(self.training),
                "allowed_training_algorithms": (list(self.training.allowed_training_algorithms)
                                                if self.training.allowed_training_algorithms is not None
                                                else None),
                "blocked_training_algorithms": list(self.training.blocked_training_algorithms),
            },
            "featurization": {
                "mode": f.mode,
                "column_name_and_types": dict(f.column_name_and_types),
                "transformer_params": {
                    name: [{"fields": list(fields), "parameters": dict(params)} for fields, params in entries]
                    for name, entries in f.transformer_params
                },
                "blocked_transformers": list(f.blocked_transformers),
            },
        }
        task = get_task(self.task)
        if task.settings_key:
            out[task.settings_key] = task.settings_to_dict(self.task_settings)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobConfig":
        """Build a config from :meth:`to_dict` output or a CLI v2 style mapping (unknown keys rejected)."""
        data = dict(data)
        data.pop("type", None)
        known = {f.name for f in dataclasses.fields(cls)} - {"task_settings"}
        settings_key = None
        try:
            settings_key = get_task(data.get("task")).settings_key
        except ConfigError:
            pass  # reported below, after unknown keys and missing required settings as before
        if settings_key:
            known.add(settings_key)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting {unknown[0]!r}; known settings: {sorted(known)}")
        for required in ("task", "target_column_name"):
            if not data.get(required):
                raise ConfigError(required, f"{required} is required")
        task = get_task(data["task"])
        if settings_key:
            data["task_settings"] = task.parse_settings(data.pop(settings_key, None))
        data.setdefault("primary_metric", None)
        if data["primary_metric"] is None:
            data["primary_metric"] = task.default_primary_metric
        from .sdk import cross_validations

        data["n_cross_validations"] = cross_validations(data.get("n_cross_validations"))
        if data.get("cv_split_column_names") is not None:
            data["cv_split_column_names"] = tuple(data["cv_split_column_names"])
        data["limits"] = make_limits(**(data.get("limits") or {}))
        data["training"] = make_training(**(data.get("training") or {}))
        data["featurization"] = make_featurization(**(data.get("featurization") or {}))
        for key in ("training_data", "validation_data", "test_data"):
            value = data.get(key)
            if isinstance(value, Mapping):  # CLI v2 shape: {path: ..., type: uri_file}
                data[key] = value.get("path")
        return cls(**data)


def _known_kwargs(cls, setting: str, kwargs: Mapping[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for key in kwargs:
        if key not in known:
            raise ConfigError(f"{setting}.{key}", f"unknown setting; known: {sorted(known)}")


def make_limits(**kwargs: Any) -> Limits:
    from .sdk import limits_kwargs  # Azure SDK spellings -> ours (sdk imports this module)

    kwargs = limits_kwargs(kwargs)
    _known_kwargs(Limits, "limits", kwargs)
    return Limits(**{k: v for k, v in kwargs.items() if v is not None or k in ("trial_timeout_minutes",
                                                                              "exit_score")})


def make_training(**kwargs: Any) -> Training:
    from .sdk import training_kwargs

    kwargs = training_kwargs(kwargs)
    _known_kwargs(Training, "training", kwargs)
    allowed = kwargs.get("allowed_training_algorithms")
    kwargs["allowed_training_algorithms"] = tuple(allowed) if allowed is not None else None
    kwargs["blocked_training_algorithms"] = tuple(kwargs.get("blocked_training_algorithms") or ())
    if kwargs.get("training_mode") == "distributed":
        from .distributed.settings import DISTRIBUTED_OFF

        for key in DISTRIBUTED_OFF:  # unsupported there: off unless asked for (then validation says why not)
            kwargs.setdefault(key, False)
    return Training(**{k: v for k, v in kwargs.items()
                       if v is not None or k == "allowed_training_algorithms"})


def make_featurization(mode: str = "auto", column_name_and_types: Mapping[str, str] | None = None,
                       transformer_params: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                       blocked_transformers: Sequence[str] | None = None, **unknown: Any) -> Featurization:
    from .sdk import featurization_kwargs

    unknown = featurization_kwargs(unknown)
    featurization = featurization_kwargs({"mode": mode, "transformer_params": transformer_params,
                                          "blocked_transformers": blocked_transformers})
    mode, transformer_params = featurization["mode"], featurization["transformer_params"]
    blocked_transformers = featurization["blocked_transformers"]
    if unknown:
        _known_kwargs(Featurization, "featurization", unknown)
    params = []
    for name, entries in (transformer_params or {}).items():
        frozen_entries = []
        for entry in entries:
            fields = tuple(entry.get("fields") or ())
            parameters = tuple(sorted((entry.get("parameters") or {}).items()))
            frozen_entries.append((fields, parameters))
        params.append((name, tuple(frozen_entries)))
    return Featurization(
        mode=mode or "auto",
        column_name_and_types=tuple((column_name_and_types or {}).items()),
        transformer_params=tuple(params),
        blocked_transformers=tuple(blocked_transformers or ()),
    )


def validate_config(config: JobConfig | Mapping[str, Any], columns: Sequence[str] | None = None,
                    n_rows: int | None = None) -> JobConfig:
    """Check a configuration against itself and, when given, the training data's columns and row count.

    Raises :class:`ConfigError` naming the first offending setting. Returns the parsed :class:`JobConfig`.
    Checks needing the target values (single class, missing values, non-numeric regression target) run in
    :func:`validate_target`, called by the job before the search.
    """
    from .algorithms import algorithm_names  # local: algorithms imports heavy libraries lazily anyway

    if not isinstance(config, JobConfig):
        config = JobConfig.from_dict(config)
    task_object = get_task(config.task)
    task = task_object.name
    if config.primary_metric not in task_object.primary_metrics:
        raise ConfigError("primary_metric", f"{config.primary_metric!r} is not a primary metric for {task}; "
                                            f"use one of {', '.join(task_object.primary_metrics)}")
    limits = config.limits
    if not _positive(limits.timeout_minutes):
        raise ConfigError("limits.timeout_minutes", "must be a number greater than 0")
    if limits.trial_timeout_minutes is not None and not _positive(limits.trial_timeout_minutes):
        raise ConfigError("limits.trial_timeout_minutes", "must be a number greater than 0 (or omitted)")
    if not isinstance(limits.max_trials, int) or limits.max_trials < 1:
        raise ConfigError("limits.max_trials", "must be an integer of at least 1")
    if not isinstance(limits.max_concurrent_trials, int) or limits.max_concurrent_trials < 1:
        raise ConfigError("limits.max_concurrent_trials", "must be an integer of at least 1")
    if (not isinstance(limits.max_cores_per_trial, int) or isinstance(limits.max_cores_per_trial, bool)
            or not (limits.max_cores_per_trial == -1 or limits.max_cores_per_trial >= 1)):
        raise ConfigError("limits.max_cores_per_trial", "must be -1 (share the machine's cores among the "
                                                        "concurrent trials) or a whole number of cores of at least 1")
    if config.n_cross_validations is not None:
        if not isinstance(config.n_cross_validations, int) or config.n_cross_validations < 2:
            raise ConfigError("n_cross_validations", "must be an integer of at least 2 (or omitted for auto)")
        if n_rows is not None and config.n_cross_validations > n_rows:
            raise ConfigError("n_cross_validations", f"{config.n_cross_validations} folds but only {n_rows} "
                                                     "training rows; use fewer folds")
        if config.validation_data is not None or config.validation_data_size is not None:
            raise ConfigError("n_cross_validations", "give either n_cross_validations or validation data/size, "
                                                     "not both")
    if config.cv_split_column_names is not None:
        split_columns = config.cv_split_column_names
        if not split_columns or not all(isinstance(c, str) for c in split_columns):
            raise ConfigError("cv_split_column_names", "give a list of column names, one per split")
        if config.n_cross_validations is not None or config.validation_data is not None \
                or config.validation_data_size is not None:
            raise ConfigError("cv_split_column_names", "custom splits replace n_cross_validations and validation "
                                                       "data/size; give only one of them")
        for column in split_columns:
            if columns is not None and column not in columns:
                raise ConfigError("cv_split_column_names", f"column {column!r} is not in the training data")
    for name in ("validation_data_size", "test_data_size"):
        value = getattr(config, name)
        if value is not None and not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
            raise ConfigError(name, "must be a fraction strictly between 0 and 1")
    known = algorithm_names(task)
    for setting in ("allowed_training_algorithms", "blocked_training_algorithms"):
        names = getattr(config.training, setting) or ()
        for name in names:
            if name not in known:
                raise ConfigError(f"training.{setting}", f"unknown algorithm {name!r} for {task}; "
                                                         f"use names from {known}")
    remaining = [n for n in (config.training.allowed_training_algorithms or known)
                 if n not in config.training.blocked_training_algorithms]
    if not remaining:
        raise ConfigError("training.blocked_training_algorithms", "every algorithm is blocked; allow at least one")
    feat = config.featurization
    if feat.mode not in FEATURIZATION_MODES:
        raise ConfigError("featurization.mode", f"unknown mode {feat.mode!r}; use one of {list(FEATURIZATION_MODES)}")
    for column, kind in feat.column_name_and_types:
        if kind not in COLUMN_TYPES:
            raise ConfigError("featurization.column_name_and_types",
                              f"unknown type {kind!r} for column {column!r}; use one of {list(COLUMN_TYPES)}")
        if columns is not None and column not in columns:
            raise ConfigError("featurization.column_name_and_types", f"column {column!r} is not in the data")
    for name in feat.blocked_transformers:
        if name not in TRANSFORMERS:
            raise ConfigError("featurization.blocked_transformers",
                              f"unknown transformer {name!r}; use names from {list(TRANSFORMERS)}")
    for name, entries in feat.transformer_params:
        if name != "imputer":
            raise ConfigError("featurization.transformer_params", f"only 'imputer' parameters are supported, "
                                                                  f"got {name!r}")
        for fields, params in entries:
            strategy = dict(params).get("strategy", "mean")
            if strategy not in IMPUTER_STRATEGIES:
                raise ConfigError("featurization.transformer_params",
                                  f"unknown imputer strategy {strategy!r}; use one of {list(IMPUTER_STRATEGIES)}")
            for column in fields:
                if columns is not None and column not in columns:
                    raise ConfigError("featurization.transformer_params", f"column {column!r} is not in the data")
    if columns is not None:
        if config.target_column_name not in columns:
            raise ConfigError("target_column_name", f"column {config.target_column_name!r} is not in the "
                                                    f"training data; columns are {list(columns)[:20]}")
        if config.weight_column_name is not None and config.weight_column_name not in columns:
            raise ConfigError("weight_column_name", f"column {config.weight_column_name!r} is not in the data")
    task_object.validate_settings(config, columns)
    from .distributed.settings import validate_training_mode

    validate_training_mode(config)
    json.dumps(config.to_dict(), default=str)
    return config


def validate_target(config: JobConfig, y) -> None:
    """Checks on the target values themselves (present, not missing, enough classes, numeric for
    regression): the task's :meth:`~automl_engine.tasks.Task.validate_target`."""
    get_task(config.task).validate_target(config, y)


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
