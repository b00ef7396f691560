"""AutoML steps for :mod:`studio_client.dsl` pipelines, called as the Azure ML SDK v2's
``azure.ai.ml.automl.classification``/``regression``/``forecasting`` are inside a ``@pipeline`` function:
the same keywords, ``set_limits``/``set_training``/``set_featurization``/``set_forecast_settings``, and
``outputs.best_model``/``outputs.metrics`` to bind the next step to. The settings travel as written; the
studio maps the SDK's spellings (``timeout``, ``blocked_models``, ...) exactly as it does for a job YAML,
and refuses unknown ones with a 400 naming the step and field."""
from __future__ import annotations

from typing import Any

from studio_client.dsl import Node

DATA_KEYWORDS = ("training_data", "validation_data", "test_data")
JOB_KEYWORDS = ("target_column_name", "primary_metric", "n_cross_validations", "validation_data_size",
                "test_data_size", "weight_column_name", "positive_label", "cv_split_column_names")
# Keywords about Azure compute, naming or tracking: accepted, nothing to do in a studio step.
IGNORED_KEYWORDS = ("compute", "experiment_name", "name", "display_name", "description", "tags", "properties",
                    "outputs", "log_verbosity", "identity", "resources")


class AutoMLNode(Node):
    """An ``automl`` step; ``outputs.best_model`` and ``outputs.metrics`` bind it to the next steps."""

    def __init__(self, task: str, kwargs: dict[str, Any]):
        config: dict[str, Any] = {"task": task}
        for key, value in kwargs.items():
            if key in IGNORED_KEYWORDS:
                continue
            if key in ("limits", "training", "featurization", "forecasting"):
                config[key] = dict(value or {})
            elif key in DATA_KEYWORDS or key in JOB_KEYWORDS:
                if value is not None and not (key == "n_cross_validations" and value == "auto"):
                    config[key] = value
            else:
                raise TypeError(f"{task}() got an unexpected keyword argument {key!r}")
        super().__init__("automl", config)

    def _merge(self, section: str, kwargs: dict[str, Any]) -> None:
        self.config.setdefault(section, {}).update({k: v for k, v in kwargs.items() if v is not None})

    def set_limits(self, **kwargs: Any) -> None:
        """``timeout_minutes``, ``trial_timeout_minutes``, ``max_trials``, ``max_concurrent_trials``,
        ``max_cores_per_trial``, ``enable_early_termination``, ``exit_score`` (and the SDK's other spellings)."""
        self._merge("limits", kwargs)

    def set_training(self, **kwargs: Any) -> None:
        """``allowed_training_algorithms``, ``blocked_training_algorithms``, ensembles, explainability."""
        self._merge("training", kwargs)

    def set_featurization(self, **kwargs: Any) -> None:
        """``mode``, ``blocked_transformers``, ``column_name_and_types``, ``transformer_params``."""
        transformer_params = kwargs.get("transformer_params")
        if transformer_params:
            kwargs = {**kwargs, "transformer_params": {
                name: [{"fields": list(getattr(t, "fields", t.get("fields") if isinstance(t, dict) else [])),
                        "parameters": dict(getattr(t, "parameters", t.get("parameters") if isinstance(t, dict)
                                                   else {}))} for t in items]
                for name, items in transformer_params.items()}}
        self._merge("featurization", kwargs)

    def set_forecast_settings(self, **kwargs: Any) -> None:
        """The forecast settings of a ``forecasting`` step (``time_column_name``, ``forecast_horizon``, ...)."""
        self._merge("forecasting", kwargs)

    def set_data(self, **kwargs: Any) -> None:
        """``training_data``, ``target_column_name``, ``validation_data``, ... set after creation."""
        for key, value in kwargs.items():
            if key not in DATA_KEYWORDS + JOB_KEYWORDS:
                raise TypeError(f"set_data() got an unexpected keyword argument {key!r}")
            if value is not None:
                self.config[key] = value


def classification(**kwargs: Any) -> AutoMLNode:
    """An AutoML classification step."""
    return AutoMLNode("classification", kwargs)


def regression(**kwargs: Any) -> AutoMLNode:
    """An AutoML regression step."""
    return AutoMLNode("regression", kwargs)


def forecasting(**kwargs: Any) -> AutoMLNode:
    """An AutoML forecasting step; give the forecast settings with ``set_forecast_settings`` (or
    ``forecasting={...}``)."""
    return AutoMLNode("forecasting", kwargs)
