"""The job: factories mirroring the Azure SDK v2 (``classification``, ``regression``, ``forecasting``), its setters, and the
driver that prepares data, runs the search through an executor, builds the ensembles and scores the
test data."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .config import (CLASSIFICATION, REGRESSION, ConfigError, JobConfig, make_featurization,
                     make_limits, make_training, validate_config, validate_target)
from .results import AutoMLResult, Callbacks, TrialResult
from . import sdk
from .tasks import get_task
from .tasks.forecasting import FORECASTING


class AutoMLJob:
    """A configured AutoML job. Setters replace the frozen configuration; ``run`` executes it."""

    def __init__(self, config: JobConfig, training_data: Any = None, validation_data: Any = None,
                 test_data: Any = None, base_dir: str | Path | None = None):
        self.config = config
        self.training_data = training_data if training_data is not None else config.training_data
        self.validation_data = validation_data if validation_data is not None else config.validation_data
        self.test_data = test_data if test_data is not None else config.test_data
        self.base_dir = Path(base_dir) if base_dir is not None else None
        # Azure keywords accepted and ignored (compute, tags, ...): replayed to on_log when the job runs.
        self.notes: list[str] = []
        validate_config(config)

    def _replace(self, **changes: Any) -> None:
        config = dataclasses.replace(self.config, **changes)
        validate_config(config)
        self.config = config

    def set_limits(self, **kwargs: Any) -> "AutoMLJob":
        """Azure ``set_limits``: timeout_minutes, trial_timeout_minutes, max_trials, max_concurrent_trials,
        max_cores_per_trial (each trial's native threads; -1 shares the cores among concurrent trials),
        enable_early_termination, exit_score, max_nodes (Dask workers of a distributed run) (also the REST/v1
        spellings, see :mod:`automl_engine.sdk`)."""
        current = dataclasses.asdict(self.config.limits)
        current.update(sdk.limits_kwargs(kwargs, self.notes))
        self._replace(limits=make_limits(**current))
        return self

    def set_training(self, **kwargs: Any) -> "AutoMLJob":
        """Azure ``set_training``: allowed/blocked_training_algorithms, enable_vote_ensemble,
        enable_stack_ensemble, enable_model_explainability, enable_onnx_compatible_models, training_mode
        (``"distributed"``: LightGBM on a Dask cluster, see :mod:`automl_engine.distributed`; ensembles and
        explanations are then off unless asked for, which is refused by name) (also v1's
        allowed_models/blocked_models; algorithm names in any case, ``"logistic_regression"``)."""
        current = dataclasses.asdict(self.config.training)
        given = sdk.training_kwargs(kwargs, self.config.task, self.notes)
        if given.get("training_mode") == "distributed" and current.get("training_mode") != "distributed":
            from .distributed.settings import DISTRIBUTED_OFF

            current.update({key: False for key in DISTRIBUTED_OFF})
        current.update(given)
        self._replace(training=make_training(**current))
        return self

    def set_featurization(self, mode: str = "auto", column_name_and_types: dict[str, str] | None = None,
                          transformer_params: dict[str, list[dict]] | None = None,
                          blocked_transformers: Sequence[str] | None = None, **kwargs: Any) -> "AutoMLJob":
        """Azure ``set_featurization``: mode auto/custom/off, column type overrides, imputer parameters per
        column (``ColumnTransformer`` objects or mappings), blocked transformers (ours or Azure's names)."""
        given = sdk.featurization_kwargs({"mode": mode, "transformer_params": transformer_params,
                                          "blocked_transformers": blocked_transformers, **kwargs}, self.notes)
        self._replace(featurization=make_featurization(column_name_and_types=column_name_and_types, **given))
        return self

    def set_forecast_settings(self, **kwargs: Any) -> "AutoMLJob":
        """Azure ``set_forecast_settings`` (forecasting jobs): time_column_name, forecast_horizon,
        time_series_id_column_names, frequency, target_lags, feature_lags, target_rolling_window_size,
        seasonality, use_stl, short_series_handling_config, target_aggregate_function,
        country_or_region_for_holidays, cv_step_size, features_unknown_at_forecast_time. Later calls
        update the settings given."""
        task = get_task(self.config.task)
        if task.settings_key != "forecasting":
            raise ConfigError("forecasting", f"set_forecast_settings applies to forecasting jobs, not {task.name}")
        current = task.settings_to_dict(self.config.task_settings) or {}
        current.update(kwargs)
        self._replace(task_settings=task.parse_settings(current))
        return self

    def to_config(self) -> dict[str, Any]:
        """The JSON-serialisable configuration (store it with a run to reproduce it)."""
        return self.config.to_dict()

    def run(self, callbacks: Callbacks | None = None, executor: Any = None,
            workdir: str | Path | None = None, cluster: Any = None) -> AutoMLResult:
        """Run the job and return its :class:`AutoMLResult`. See docs/engine-seam.md for the callbacks and
        the executor protocol. Without ``workdir`` a temporary directory is used and kept (trial models
        live there). ``cluster`` (distributed mode only): a ``ClusterConfig`` or a ``distributed.Client``;
        by default ``DASK_SCHEDULER_ADDRESS``, else a LocalCluster of ``max_nodes`` workers."""
        callbacks = callbacks or Callbacks()
        for message in self.notes:
            if callbacks.on_log:
                callbacks.on_log("info", message)
        if self.config.training.training_mode == "distributed":
            from .distributed import run_distributed

            return run_distributed(self, callbacks, workdir, cluster)
        from .distributed.data import check_fits_in_memory
        from .driver import Driver

        check_fits_in_memory(self.training_data)
        return Driver(self, callbacks, executor, workdir).run()


def _factory(task: str, training_data: Any, target_column_name: str, primary_metric: str | None,
             kwargs: dict[str, Any], sdk_kwargs: dict[str, Any]) -> AutoMLJob:
    notes: list[str] = []
    for key, value in sdk_kwargs.items():
        if key not in sdk.COMPUTE_KEYWORDS:
            raise ConfigError(key, f"unknown keyword for {task}(); Azure's compute and tracking keywords "
                                   f"{list(sdk.COMPUTE_KEYWORDS)} are accepted and ignored, others are not")
        if value is not None:
            sdk.note(notes, f"{key}={value!r} accepted and ignored: it describes Azure compute or tracking; "
                            "here the job runs on this machine and the studio keeps its own records")
    explainability = kwargs.pop("enable_model_explainability", None)
    kwargs["n_cross_validations"] = sdk.cross_validations(kwargs.get("n_cross_validations"))
    if kwargs.get("cv_split_column_names") is not None:
        kwargs["cv_split_column_names"] = tuple(kwargs["cv_split_column_names"])
    training_data = sdk.data_reference(training_data)
    data_refs = {}
    frames = {}
    for key in ("validation_data", "test_data"):
        value = sdk.data_reference(kwargs.pop(key, None))
        frames[key] = value
        data_refs[key] = value if isinstance(value, (str, os.PathLike)) else None
    config = JobConfig(
        task=task, target_column_name=target_column_name,
        primary_metric=primary_metric or get_task(task).default_primary_metric,
        training_data=str(training_data) if isinstance(training_data, (str, os.PathLike)) else None,
        validation_data=str(data_refs["validation_data"]) if data_refs["validation_data"] else None,
        test_data=str(data_refs["test_data"]) if data_refs["test_data"] else None,
        **kwargs)
    if explainability is not None:
        config = dataclasses.replace(config, training=dataclasses.replace(
            config.training, enable_model_explainability=bool(explainability)))
    job = AutoMLJob(config, training_data=training_data, validation_data=frames["validation_data"],
                    test_data=frames["test_data"])
    job.notes.extend(notes)
    return job


def classification(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
                   n_cross_validations: int | None = None, validation_data: Any = None,
                   validation_data_size: float | None = None, test_data: Any = None,
                   test_data_size: float | None = None, weight_column_name: str | None = None,
                   positive_label: Any = None, random_state: int = 0, cv_split_column_names: Sequence[str] | None = None,
                   enable_model_explainability: bool | None = None, **azure_keywords: Any) -> AutoMLJob:
    """A classification job (Azure ``automl.classification``); data as a DataFrame, a file path, an MLTable
    folder or an ``Input``. ``n_cross_validations="auto"`` lets the engine choose; Azure's compute and
    tracking keywords (``compute``, ``experiment_name``, ``tags``, ...) are accepted and ignored with a note."""
    return _factory(CLASSIFICATION, training_data, target_column_name, primary_metric, dict(
        n_cross_validations=n_cross_validations, validation_data=validation_data,
        validation_data_size=validation_data_size, test_data=test_data, test_data_size=test_data_size,
        weight_column_name=weight_column_name, positive_label=positive_label, random_state=random_state,
        cv_split_column_names=cv_split_column_names, enable_model_explainability=enable_model_explainability),
        azure_keywords)


def regression(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
               n_cross_validations: int | None = None, validation_data: Any = None,
               validation_data_size: float | None = None, test_data: Any = None,
               test_data_size: float | None = None, weight_column_name: str | None = None,
               random_state: int = 0, cv_split_column_names: Sequence[str] | None = None,
               enable_model_explainability: bool | None = None, **azure_keywords: Any) -> AutoMLJob:
    """A regression job (Azure ``automl.regression``); the same keyword forms as :func:`classification`."""
    return _factory(REGRESSION, training_data, target_column_name, primary_metric, dict(
        n_cross_validations=n_cross_validations, validation_data=validation_data,
        validation_data_size=validation_data_size, test_data=test_data, test_data_size=test_data_size,
        weight_column_name=weight_column_name, random_state=random_state,
        cv_split_column_names=cv_split_column_names, enable_model_explainability=enable_model_explainability),
        azure_keywords)


def forecasting(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
                n_cross_validations: Any = "auto", validation_data: Any = None, test_data: Any = None,
                test_data_size: float | None = None, weight_column_name: str | None = None,
                random_state: int = 0, enable_model_explainability: bool | None = None,
                **azure_keywords: Any) -> AutoMLJob:
    """A forecasting job (Azure ``automl.forecasting``); data as a DataFrame, a file path or an MLTable folder
    in long format (one row per series and timestamp). Call ``set_forecast_settings`` before ``run``.
    ``n_cross_validations``: the number of rolling origins, or "auto". ``test_data_size``: any value holds
    out the last forecast horizon of every series as test data. Azure's compute and tracking keywords are
    accepted and ignored with a note, as for :func:`classification`."""
    return _factory(FORECASTING, training_data, target_column_name, primary_metric, dict(
        n_cross_validations=n_cross_validations, validation_data=validation_data, test_data=test_data,
        test_data_size=test_data_size, weight_column_name=weight_column_name, random_state=random_state,
        enable_model_explainability=enable_model_explainability), azure_keywords)


def job_from_config(config: dict[str, Any] | JobConfig, training_data: Any = None, validation_data: Any = None,
                    test_data: Any = None, base_dir: str | Path | None = None) -> AutoMLJob:
    """Rebuild a job from :meth:`AutoMLJob.to_config` output (or a CLI v2 YAML mapping). Data frames not
    recorded in the config (given as DataFrames originally) must be passed again."""
    parsed = config if isinstance(config, JobConfig) else JobConfig.from_dict(config)
    return AutoMLJob(parsed, training_data=training_data, validation_data=validation_data, test_data=test_data,
                     base_dir=base_dir)
