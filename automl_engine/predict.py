"""Prediction without per-column pandas work: an engine pipeline (``input`` -> ``featurize`` -> ... ->
``model``) is run as ``InputSchema.clean_columns`` -> ``Featurizer.transform_columns`` -> the remaining
steps on a numpy matrix, which is what ``Pipeline.predict`` computes, minus building intermediate frames.

Ensembles use :class:`FeatureCache` so that members with the same input checks and the same fitted
featurization validate and featurize a request once.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _front(pipeline):
    """``(InputSchema, Featurizer, later steps)`` of an engine pipeline, or ``None`` for anything else
    (ONNX-compatible featurization, ensembles, foreign estimators)."""
    from sklearn.pipeline import Pipeline

    from .featurize import Featurizer, InputSchema

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 3:
        return None
    schema, featurizer = pipeline.steps[0][1], pipeline.steps[1][1]
    if type(schema) is not InputSchema or type(featurizer) is not Featurizer:
        return None
    if getattr(featurizer, "_sklearn_output_config", None) or getattr(schema, "_sklearn_output_config", None):
        return None  # set_output(...) asked for frames: leave it to the Pipeline
    return schema, featurizer, [step for _, step in pipeline.steps[2:]]


class FeatureCache:
    """Cleaned columns and feature matrices of one input frame, shared between pipelines whose input
    schema (columns, kinds, missing marker) and fitted featurization are equal."""

    def __init__(self, X: pd.DataFrame):
        self.X = X
        self._clean: list[tuple[tuple, dict]] = []
        self._features: list[tuple[tuple, Any, np.ndarray]] = []

    def features(self, schema, featurizer) -> np.ndarray:
        """The feature matrix of ``featurizer`` (after ``schema``) for this frame, computed once."""
        key = _schema_key(schema)
        for other_key, other, Z in self._features:
            if other_key == key and (other is featurizer or (other.random_state == featurizer.random_state
                                                             and other.steps_ == featurizer.steps_)):
                return Z
        Z = featurizer.transform_columns(self.clean(schema), len(self.X))
        self._features.append((key, featurizer, Z))
        return Z

    def clean(self, schema) -> dict:
        """``schema.clean_columns`` of this frame, computed once per distinct schema."""
        key = _schema_key(schema)
        for other_key, columns in self._clean:
            if other_key == key:
                return columns
        columns = schema.clean_columns(self.X)
        self._clean.append((key, columns))
        return columns


def _schema_key(schema) -> tuple:
    return tuple(schema.columns_), tuple(sorted(schema.kinds_.items())), schema.categorical_missing


def call(pipeline, X, method: str, cache: FeatureCache | None = None):
    """``getattr(pipeline, method)(X)`` for ``method`` in predict / predict_proba, by the numpy path when
    ``pipeline`` is an engine pipeline and ``X`` a DataFrame; otherwise by the estimator itself."""
    front = _front(pipeline) if isinstance(X, pd.DataFrame) else None
    if front is None:
        return getattr(pipeline, method)(X)
    schema, featurizer, rest = front
    if cache is None:
        cache = FeatureCache(X)
    Z = cache.features(schema, featurizer)
    for step in rest[:-1]:
        if step is not None and step != "passthrough":
            Z = step.transform(Z)
    return getattr(rest[-1], method)(Z, **_threads(rest[-1], len(Z)))


SMALL_BATCH_ROWS = 1000


def _threads(estimator, n_rows: int) -> dict:
    """One thread for a small LightGBM prediction: starting its OpenMP team costs more than the trees (12 ms
    against 0.8 ms for one row on a busy 2-core machine); each row's prediction is the same either way.
    A target transform passes the keyword on to the LightGBM model inside it."""
    from .target import inner_estimator

    if n_rows <= SMALL_BATCH_ROWS and type(inner_estimator(estimator)).__module__.startswith("lightgbm."):
        return {"num_threads": 1}
    return {}
