"""The Azure ML SDK's keyword forms, mapped onto this engine's settings at the API edge.

Seed snippets are written against ``azure.ai.ml.automl`` (SDK v2) and sometimes its v1 ancestor
(``AutoMLConfig``). So that they run as written, the factories and setters accept those spellings:

* names meaning the same setting are renamed (``experiment_timeout_minutes`` -> ``timeout_minutes``,
  ``blocked_models`` -> ``blocked_training_algorithms``, ...); durations (``timeout``, ``trial_timeout``,
  as the REST API spells them) may be minutes, ``timedelta`` or ISO 8601 (``"PT20M"``);
* algorithm names match whatever their case and underscores (``"logistic_regression"`` is
  ``LogisticRegression``);
* Azure transformer names map onto ours (``"OneHotEncoder"`` -> ``one_hot_encoder``);
* keywords meaning Azure compute or tracking (``compute``, ``experiment_name``, ``tags``,
  ...) or Azure-only models (DNNs, target encoders this engine never uses) are
  accepted and ignored, each with a note (logged on the ``automl_engine`` logger and, for a job, replayed
  to ``on_log`` when it runs) saying so.

Anything else still fails with a :class:`ConfigError` naming it.
"""
from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .config import ConfigError

logger = logging.getLogger("automl_engine")

# Job keywords about where and under which name Azure runs the job: nothing to do here.
COMPUTE_KEYWORDS = ("compute", "experiment_name", "name", "display_name", "description", "tags", "properties",
                    "outputs", "log_verbosity", "identity", "resources", "environment_id",
                    "environment_variables", "queue_settings", "services")

LIMIT_ALIASES = {"experiment_timeout_minutes": "timeout_minutes", "iteration_timeout_minutes": "trial_timeout_minutes",
                 "iterations": "max_trials", "max_concurrent_iterations": "max_concurrent_trials",
                 "enable_early_stopping": "enable_early_termination", "experiment_exit_score": "exit_score",
                 "max_cores_per_iteration": "max_cores_per_trial"}
LIMIT_DURATIONS = {"timeout": "timeout_minutes", "trial_timeout": "trial_timeout_minutes"}
LIMIT_IGNORED = {
}
TRAINING_ALIASES = {"allowed_algorithms": "allowed_training_algorithms", "allowed_models": "allowed_training_algorithms",
                    "whitelist_models": "allowed_training_algorithms",
                    "blocked_algorithms": "blocked_training_algorithms", "blocked_models": "blocked_training_algorithms",
                    "blacklist_models": "blocked_training_algorithms",
                    "enable_onnx_compatible_models": "enable_onnx_compatible_models",
                    "model_explainability": "enable_model_explainability"}
TRAINING_IGNORED = {
    "enable_dnn_training": "this engine has no deep-learning models",
    "enable_dnn": "this engine has no deep-learning models",
    "ensemble_model_download_timeout": "ensembles are built in the same process, nothing is downloaded",
    "stack_ensemble_settings": "the stack ensemble always uses LogisticRegression/ElasticNet on the best 5",
}
FEATURIZATION_IGNORED = {
    "enable_dnn_featurization": "this engine has no deep-learning featurizers (text uses TF-IDF)",
    "dataset_language": "text featurization is language-independent TF-IDF here",
}
# Azure BlockedTransformers (and the spellings seen in samples) -> our transformer, or None: never used here.
AZURE_TRANSFORMERS: dict[str, str | None] = {
    "onehotencoder": "one_hot_encoder", "hashonehotencoder": "hashing_encoder", "tfidf": "tfidf",
    "labelencoder": None, "labelencoding": None, "cattargetencoder": None, "texttargetencoder": None,
    "woetargetencoder": None, "naivebayes": None, "wordembedding": None, "countvectorizer": None,
}
# Azure algorithm spellings that are one of ours under another name.
ALGORITHM_ALIASES = {"multinomialnaivebayes": "NaiveBayes", "bernoullinaivebayes": "NaiveBayes",
                     "xgboost": None, "lightgbmclassifier": "LightGBM", "lightgbmregressor": "LightGBM",
                     "randomforestclassifier": "RandomForest", "randomforestregressor": "RandomForest"}


@dataclass
class ColumnTransformer:
    """Azure ``azure.ai.ml.automl.ColumnTransformer``: transformer parameters for some columns, as used in
    ``set_featurization(transformer_params={"imputer": [ColumnTransformer(fields=[...], parameters={...})]})``."""

    fields: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Input:
    """Azure ``azure.ai.ml.Input`` for data: ``Input(type="mltable", path="./data/train")``. The path may be a
    CSV/TSV/Parquet file or an MLTable folder (see :mod:`automl_engine.mltable`)."""

    type: str = "uri_file"
    path: str = ""


def note(notes: list[str] | None, message: str) -> None:
    """Record one 'accepted and ignored' note: logged now, and kept for the job's run log."""
    logger.info(message)
    if notes is not None:
        notes.append(message)


def data_reference(value: Any) -> Any:
    """A DataFrame or path from an ``Input``, a ``{path: ...}`` mapping, a path or a DataFrame."""
    if value is None or isinstance(value, (str, bytes)) or hasattr(value, "columns"):
        return value
    if isinstance(value, Mapping):
        return value.get("path")
    if hasattr(value, "path"):
        return getattr(value, "path")
    return value


def minutes(value: Any, setting: str) -> float | None:
    """Minutes from a number of minutes, a ``timedelta`` or an ISO 8601 duration (``"PT1H30M"``)."""
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        return value.total_seconds() / 60
    if isinstance(value, str):
        match = re.fullmatch(r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
                             r"(?:(\d+(?:\.\d+)?)S)?)?", value.strip().upper())
        if not match or not any(match.groups()):
            raise ConfigError(setting, f"{value!r} is not a duration; give minutes or ISO 8601 like 'PT20M'")
        d, h, m, s = (float(g or 0) for g in match.groups())
        return d * 1440 + h * 60 + m + s / 60
    return value


def limits_kwargs(kwargs: Mapping[str, Any], notes: list[str] | None = None) -> dict[str, Any]:
    """``set_limits`` keywords in SDK v2, REST or v1 spelling -> this engine's ``Limits`` fields."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in LIMIT_IGNORED:
            if value is not None:
                note(notes, f"limits.{key}={value!r} accepted and ignored: {LIMIT_IGNORED[key]}")
            continue
        if key in LIMIT_DURATIONS:
            target, value = LIMIT_DURATIONS[key], minutes(value, f"limits.{key}")
        elif key == "experiment_timeout_hours":
            target, value = "timeout_minutes", None if value is None else value * 60
        else:
            target = LIMIT_ALIASES.get(key, key)
        _put(out, target, value, f"limits.{key}")
    return out


def training_kwargs(kwargs: Mapping[str, Any], task: str | None = None,
                    notes: list[str] | None = None) -> dict[str, Any]:
    """``set_training`` keywords in SDK v2 or v1 spelling -> ``Training`` fields, algorithm names matched
    to ours whatever their case and underscores."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in TRAINING_IGNORED:
            if value not in (None, False):
                note(notes, f"training.{key}={value!r} accepted and ignored: {TRAINING_IGNORED[key]}")
            continue
        target = TRAINING_ALIASES.get(key, key)
        if target in ("allowed_training_algorithms", "blocked_training_algorithms") and value is not None:
            value = [algorithm_name(v, task) for v in ([value] if isinstance(value, str) else value)]
        _put(out, target, value, f"training.{key}")
    return out


def featurization_kwargs(kwargs: Mapping[str, Any], notes: list[str] | None = None) -> dict[str, Any]:
    """``set_featurization`` keywords: ``ColumnTransformer`` objects become mappings, Azure transformer
    names map to ours (those this engine never applies are dropped with a note)."""
    out = {}
    for key, value in kwargs.items():
        if key in FEATURIZATION_IGNORED:
            if value not in (None, False):
                note(notes, f"featurization.{key}={value!r} accepted and ignored: {FEATURIZATION_IGNORED[key]}")
            continue
        if key == "transformer_params" and value:
            value = {name: [{"fields": list(getattr(e, "fields", None) or (e.get("fields") if isinstance(e, Mapping)
                                                                           else []) or []),
                             "parameters": dict(getattr(e, "parameters", None) or
                                                (e.get("parameters") if isinstance(e, Mapping) else {}) or {})}
                            for e in entries]
                     for name, entries in value.items()}
        elif key == "blocked_transformers" and value:
            value = [t for t in (transformer_name(v, notes) for v in value) if t is not None]
        elif key == "mode" and value is not None:
            value = str(value).lower()
        out[key] = value
    return out


def transformer_name(name: str, notes: list[str] | None = None) -> str | None:
    """Our transformer name for ``name`` (ours or Azure's); None when Azure's is one this engine never uses."""
    key = re.sub(r"[^a-z]", "", str(name).lower())
    if key in AZURE_TRANSFORMERS:
        ours = AZURE_TRANSFORMERS[key]
        if ours is None:
            note(notes, f"featurization.blocked_transformers: {name!r} accepted and ignored: this engine never "
                        f"applies it (categoricals are one-hot, count or hash encoded; text uses TF-IDF)")
        return ours
    return name


def algorithm_name(name: str, task: str | None) -> str:
    """Our algorithm name for an Azure spelling (``logistic_regression``, ``xgboost_classifier``); names
    that match nothing are returned unchanged, for validation to refuse with the list of known names."""
    from .algorithms import algorithm_names
    from .config import PROBLEM_TYPES

    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    tasks = [task] if task else list(PROBLEM_TYPES)
    for t in tasks:
        for known in algorithm_names(t):
            if key == known.lower():
                return known
    alias = ALGORITHM_ALIASES.get(key)
    return alias if alias else name


def cross_validations(value: Any) -> Any:
    """``n_cross_validations="auto"`` means: let the engine choose (the seed's rules)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def _put(out: dict[str, Any], target: str, value: Any, setting: str) -> None:
    if target in out and value is not None and out[target] is not None and out[target] != value:
        raise ConfigError(setting, f"sets {target} twice with different values ({out[target]!r} and {value!r})")
    if value is not None or target not in out:
        out[target] = value
