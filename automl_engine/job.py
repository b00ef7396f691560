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
        validate_config(config)

    def _replace(self, **changes: Any) -> None:
        config = dataclasses.replace(self.config, **changes)
        validate_config(config)
        self.config = config

    def set_limits(self, **kwargs: Any) -> "AutoMLJob":
        """Azure ``set_limits``: timeout_minutes, trial_timeout_minutes, max_trials, max_concurrent_trials,
        enable_early_termination, exit_score."""
        current = dataclasses.asdict(self.config.limits)
        current.update(kwargs)
        self._replace(limits=make_limits(**current))
        return self

    def set_training(self, **kwargs: Any) -> "AutoMLJob":
        """Azure ``set_training``: allowed/blocked_training_algorithms, enable_vote_ensemble,
        enable_stack_ensemble, enable_model_explainability, enable_onnx_compatible_models."""
        current = dataclasses.asdict(self.config.training)
        current.update(kwargs)
        self._replace(training=make_training(**current))
        return self

    def set_featurization(self, mode: str = "auto", column_name_and_types: dict[str, str] | None = None,
                          transformer_params: dict[str, list[dict]] | None = None,
                          blocked_transformers: Sequence[str] | None = None) -> "AutoMLJob":
        """Azure ``set_featurization``: mode auto/custom/off, column type overrides, imputer parameters per
        column, blocked transformers."""
        self._replace(featurization=make_featurization(mode, column_name_and_types, transformer_params,
                                                       blocked_transformers))
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
            workdir: str | Path | None = None) -> AutoMLResult:
        """Run the job and return its :class:`AutoMLResult`. See docs/engine-seam.md for the callbacks and
        the executor protocol. Without ``workdir`` a temporary directory is used and kept (trial models
        live there)."""
        from .driver import Driver

        return Driver(self, callbacks or Callbacks(), executor, workdir).run()


def _factory(task: str, training_data: Any, target_column_name: str, primary_metric: str | None,
             kwargs: dict[str, Any]) -> AutoMLJob:
    data_refs = {}
    frames = {}
    for key in ("validation_data", "test_data"):
        value = kwargs.pop(key, None)
        frames[key] = value
        data_refs[key] = value if isinstance(value, (str, os.PathLike)) else None
    config = JobConfig(
        task=task, target_column_name=target_column_name,
        primary_metric=primary_metric or get_task(task).default_primary_metric,
        training_data=str(training_data) if isinstance(training_data, (str, os.PathLike)) else None,
        validation_data=str(data_refs["validation_data"]) if data_refs["validation_data"] else None,
        test_data=str(data_refs["test_data"]) if data_refs["test_data"] else None,
        **kwargs)
    return AutoMLJob(config, training_data=training_data, validation_data=frames["validation_data"],
                     test_data=frames["test_data"])


def classification(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
                   n_cross_validations: int | None = None, validation_data: Any = None,
                   validation_data_size: float | None = None, test_data: Any = None,
                   test_data_size: float | None = None, weight_column_name: str | None = None,
                   positive_label: Any = None, random_state: int = 0) -> AutoMLJob:
    """A classification job (Azure ``automl.classification``); data as a DataFrame or a file path."""
    return _factory(CLASSIFICATION, training_data, target_column_name, primary_metric, dict(
        n_cross_validations=n_cross_validations, validation_data=validation_data,
        validation_data_size=validation_data_size, test_data=test_data, test_data_size=test_data_size,
        weight_column_name=weight_column_name, positive_label=positive_label, random_state=random_state))


def regression(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
               n_cross_validations: int | None = None, validation_data: Any = None,
               validation_data_size: float | None = None, test_data: Any = None,
               test_data_size: float | None = None, weight_column_name: str | None = None,
               random_state: int = 0) -> AutoMLJob:
    """A regression job (Azure ``automl.regression``); data as a DataFrame or a file path."""
    return _factory(REGRESSION, training_data, target_column_name, primary_metric, dict(
        n_cross_validations=n_cross_validations, validation_data=validation_data,
        validation_data_size=validation_data_size, test_data=test_data, test_data_size=test_data_size,
        weight_column_name=weight_column_name, random_state=random_state))


def forecasting(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
                n_cross_validations: Any = "auto", validation_data: Any = None, test_data: Any = None,
                test_data_size: float | None = None, weight_column_name: str | None = None,
                random_state: int = 0) -> AutoMLJob:
    """A forecasting job (Azure ``automl.forecasting``); data as a DataFrame or a file path in long format
    (one row per series and timestamp). Call ``set_forecast_settings`` before ``run``.
    ``n_cross_validations``: the number of rolling origins, or "auto". ``test_data_size``: any value holds
    out the last forecast horizon of every series as test data."""
    return _factory(FORECASTING, training_data, target_column_name, primary_metric, dict(
        n_cross_validations=None if n_cross_validations in (None, "auto") else n_cross_validations,
        validation_data=validation_data, test_data=test_data, test_data_size=test_data_size,
        weight_column_name=weight_column_name, random_state=random_state))


def job_from_config(config: dict[str, Any] | JobConfig, training_data: Any = None, validation_data: Any = None,
                    test_data: Any = None, base_dir: str | Path | None = None) -> AutoMLJob:
    """Rebuild a job from :meth:`AutoMLJob.to_config` output (or a CLI v2 YAML mapping). Data frames not
    recorded in the config (given as DataFrames originally) must be passed again."""
    parsed = config if isinstance(config, JobConfig) else JobConfig.from_dict(config)
    return AutoMLJob(parsed, training_data=training_data, validation_data=validation_data, test_data=test_data,
                     base_dir=base_dir)
