"""Prediction without per-column pandas work: an engine pipeline (``input`` -> ``featurize`` -> ... ->
``model``) is run as ``InputSchema.clean_columns`` -> ``Featurizer.transform_columns`` -> the remaining
steps on a numpy matrix, which is what ``Pipeline.predict`` computes, minus building intermediate frames.

Ensembles use :class:`FeatureCache` so that members with the same input checks and the same fitted
featurization validate and featurize a request once. Input may also be :class:`Columns` (one array per
column, as a scoring request's JSON becomes), which reaches the numpy path without building a frame.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _ensemble(pipeline):
    """The engine ensemble that ``pipeline`` is or holds as its only step (how the engine saves one), else
    ``None``. A one-step pipeline's predict and predict_proba are its step's."""
    from sklearn.pipeline import Pipeline

    from .ensemble import StackEnsemble, VotingEnsemble

    if isinstance(pipeline, Pipeline) and len(pipeline.steps) == 1:
        pipeline = pipeline.steps[0][1]
    return pipeline if isinstance(pipeline, (VotingEnsemble, StackEnsemble)) else None


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


class Columns:
    """Input rows held as one 1-D array per column, all of length ``n_rows``: the part of the DataFrame
    interface that prediction reads (``columns``, ``X[column]``, ``len(X)``).

    Engine pipelines check and featurize the arrays directly; anything else gets :meth:`frame`, the
    DataFrame ``pd.DataFrame(arrays, columns=names)`` that would have been built otherwise.
    """

    def __init__(self, arrays: dict[str, np.ndarray], n_rows: int):
        self.arrays = arrays
        self.columns = list(arrays)
        self.n_rows = n_rows
        self._frame: pd.DataFrame | None = None

    def __getitem__(self, column: str) -> np.ndarray:
        return self.arrays[column]

    def __len__(self) -> int:
        return self.n_rows

    def frame(self) -> pd.DataFrame:
        """The same rows as a DataFrame (built once)."""
        if self._frame is None:
            self._frame = pd.DataFrame(self.arrays, columns=self.columns)
        return self._frame


def as_frame(X):
    """``X`` as estimators outside the numpy path take it: a DataFrame for :class:`Columns`."""
    return X.frame() if isinstance(X, Columns) else X


class FeatureCache:
    """Cleaned columns and feature matrices of one input (a DataFrame or :class:`Columns`), shared between
    pipelines whose input schema (columns, kinds, missing marker) and fitted featurization are equal."""

    def __init__(self, X):
        self.X = X
        self._clean: list[tuple[tuple, dict, dict]] = []
        self._features: list[tuple[tuple, Any, np.ndarray]] = []

    def features(self, schema, featurizer) -> np.ndarray:
        """The feature matrix of ``featurizer`` (after ``schema``) for this frame, computed once."""
        key = _schema_key(schema)
        for other_key, other, Z in self._features:
            if other_key == key and (other is featurizer or (other.random_state == featurizer.random_state
                                                             and other.fitted_state() == featurizer.fitted_state())):
                return Z
        columns, codes = self._cleaned(schema)
        Z = featurizer.transform_columns(columns, len(self.X), codes)
        self._features.append((key, featurizer, Z))
        return Z

    def clean(self, schema) -> dict:
        """``schema.clean_columns`` of this frame, computed once per distinct schema."""
        return self._cleaned(schema)[0]

    def _cleaned(self, schema) -> tuple[dict, dict]:
        key = _schema_key(schema)
        for other_key, columns, codes in self._clean:
            if other_key == key:
                return columns, codes
        codes: dict = {}
        columns = schema.clean_columns(self.X, codes)
        self._clean.append((key, columns, codes))
        return columns, codes


def _schema_key(schema) -> tuple:
    return tuple(schema.columns_), tuple(sorted(schema.kinds_.items())), schema.categorical_missing


def call(pipeline, X, method: str, cache: FeatureCache | None = None):
    """``getattr(pipeline, method)(X)`` for ``method`` in predict / predict_proba, by the numpy path when
    ``pipeline`` is an engine pipeline (or an engine ensemble of them) and ``X`` a DataFrame or
    :class:`Columns`; otherwise by the estimator itself."""
    if not isinstance(X, (pd.DataFrame, Columns)):
        return getattr(pipeline, method)(X)
    ensemble = _ensemble(pipeline)
    if ensemble is not None:
        return getattr(ensemble, method)(X)
    front = _front(pipeline)
    if front is None:
        return getattr(pipeline, method)(as_frame(X))
    schema, featurizer, rest = front
    if cache is None:
        cache = FeatureCache(X)
    Z = cache.features(schema, featurizer)
    for step in rest[:-1]:
        if step is not None and step != "passthrough":
            Z = step.transform(Z)
    return getattr(rest[-1], method)(Z, **_threads(rest[-1], len(Z)))


def limit_threads(model, n_threads: int = 1):
    """Set ``n_jobs`` to ``n_threads`` on every estimator inside ``model`` that has it (pipeline steps,
    ensemble members and a stacking meta-learner); returns ``model``.

    For serving: a process that answers requests should predict on one thread and leave the parallelism
    to its fellow worker processes. A model fitted with ``n_jobs=2`` would otherwise start two LightGBM,
    XGBoost or joblib threads per prediction in every worker, which on a 2-core machine with 2 workers is
    four busy threads fighting for two cores (and a thread team's start-up costs more than the trees of
    one row). Each row's prediction is the same on any number of threads.
    """
    from sklearn.pipeline import Pipeline

    from .ensemble import StackEnsemble, VotingEnsemble

    if isinstance(model, Pipeline):
        for _, step in model.steps:
            limit_threads(step, n_threads)
        return model
    if isinstance(model, (VotingEnsemble, StackEnsemble)):
        for member in model.estimators:
            limit_threads(member, n_threads)
        if isinstance(model, StackEnsemble):
            limit_threads(model.meta_learner, n_threads)
        return model
    from .target import inner_estimator

    model = inner_estimator(model)  # the fitted model inside a target transform is the one that predicts
    if hasattr(model, "get_params") and "n_jobs" in model.get_params(deep=False):
        # XGBoost's set_params passes n_jobs on to the fitted booster's nthread; LightGBM reads n_jobs at
        # predict time.
        model.set_params(n_jobs=n_threads)
    return model


SMALL_BATCH_ROWS = 1000


def _threads(estimator, n_rows: int) -> dict:
    """One thread for a small LightGBM prediction: starting its OpenMP team costs more than the trees (12 ms
    against 0.8 ms for one row on a busy 2-core machine); each row's prediction is the same either way.
    A target transform passes the keyword on to the LightGBM model inside it."""
    from .target import inner_estimator

    if n_rows <= SMALL_BATCH_ROWS and type(inner_estimator(estimator)).__module__.startswith("lightgbm."):
        return {"num_threads": 1}
    return {}
