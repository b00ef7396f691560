"""Feature importance on raw and engineered features, for any fitted pipeline or ensemble.

Tree models get mean |SHAP| (TreeExplainer) on the engineered features, summed per raw column; other
models get permutation importance (raw columns permuted through the whole pipeline, engineered features
permuted in front of the estimator). Ensembles combine their members' engineered importances by weight
and permute raw columns through the ensemble.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 200


def _score(model, X, y) -> float:
    pred = model.predict(X)
    if getattr(model, "classes_", None) is not None and not np.issubdtype(np.asarray(y).dtype, np.floating):
        return float(np.mean(np.asarray(pred) == np.asarray(y)))
    y = np.asarray(y, dtype=float)
    denom = float(np.sum((y - y.mean()) ** 2)) or 1.0
    return 1.0 - float(np.sum((y - np.asarray(pred, dtype=float)) ** 2)) / denom


def _permutation(model, X, y, random_state: int) -> np.ndarray:
    from sklearn.inspection import permutation_importance

    result = permutation_importance(model, X, y, scoring=_score, n_repeats=2, random_state=random_state)
    return np.maximum(result.importances_mean, 0.0)


def _split(pipeline):
    """(featurizing part, final estimator, featurizer step) of one engine pipeline."""
    from sklearn.pipeline import Pipeline

    return Pipeline(pipeline.steps[:-1]), pipeline.steps[-1][1], pipeline.named_steps["featurize"]


def _engineered(pipeline, X: pd.DataFrame, y, random_state: int) -> tuple[dict[str, float], str]:
    from .featurize import feature_sources
    from .target import inner_estimator

    front, estimator, featurizer = _split(pipeline)
    names, _ = feature_sources(featurizer)
    Z = np.asarray(front.transform(X), dtype=float)
    method = "permutation"
    values = None
    # A tree fitted on log1p(target) is explained on the scale it was fitted on: importances are normalised
    # shares of what drives its predictions, so they read the same although effects multiply on the original scale.
    tree = inner_estimator(estimator)
    if _is_tree(pipeline, tree):
        try:
            import shap

            sv = shap.TreeExplainer(tree).shap_values(Z, check_additivity=False)
            sv = np.asarray(sv)
            if sv.ndim == 3:  # (rows, features, classes) or (classes, rows, features)
                axis_rows = 1 if sv.shape[0] != Z.shape[0] else 0
                sv = np.abs(sv).mean(axis=axis_rows)
                values = sv.mean(axis=-1) if sv.shape[0] == Z.shape[1] else sv.mean(axis=0)
            else:
                values = np.abs(sv).mean(axis=0)
            method = "shap"
        except Exception:
            values = None
    if values is None:
        values = _permutation(estimator, Z, y, random_state)
    return {n: float(v) for n, v in zip(names, values)}, method


def _is_tree(pipeline, estimator) -> bool:
    """Whether the pipeline's algorithm plugin declares a tree model (``Algorithm.is_tree``), recorded on the
    pipeline when it was built. Models saved before pipelines carried it are recognised by their estimator's
    library, as then."""
    declared = getattr(pipeline, "automl_is_tree", None)
    if declared is not None:
        return bool(declared)
    module = type(estimator).__module__
    return any(m in module for m in ("lightgbm", "xgboost", "sklearn.ensemble._forest", "sklearn.tree",
                                     "automl_engine.algorithms"))


def explain(pipeline, X: pd.DataFrame, y, max_rows: int = MAX_ROWS, random_state: int = 0) -> dict[str, Any]:
    """Feature importance of a fitted model on raw and engineered features.

    Returns ``{"method", "raw": {column: importance}, "engineered": {feature: importance}}`` with each
    mapping sorted by decreasing importance and normalised to sum to 1."""
    from .ensemble import StackEnsemble, VotingEnsemble
    from .featurize import feature_sources

    X = X.reset_index(drop=True)
    y = np.asarray(y)
    if len(X) > max_rows:
        idx = np.random.RandomState(random_state).choice(len(X), max_rows, replace=False)
        X, y = X.iloc[idx].reset_index(drop=True), y[idx]
    model = pipeline.named_steps.get("ensemble") if hasattr(pipeline, "named_steps") else None
    if isinstance(model, (VotingEnsemble, StackEnsemble)):
        weights = (model.weights if isinstance(model, VotingEnsemble)
                   else [1.0 / len(model.estimators)] * len(model.estimators))
        engineered: dict[str, float] = {}
        for member, w in zip(model.estimators, weights):
            member_imp, _ = _engineered(member, X, y, random_state)
            member_imp = _normalise(member_imp)
            for k, v in member_imp.items():
                engineered[k] = engineered.get(k, 0.0) + w * v
        raw_values = _permutation(pipeline, X, y, random_state)
        raw = {c: float(v) for c, v in zip(X.columns, raw_values)}
        schema_cols = set(_member_columns(model))
        raw = {c: v for c, v in raw.items() if c in schema_cols}
        return {"method": "permutation (raw), weighted members (engineered)", "raw": _normalise(raw),
                "engineered": _normalise(engineered)}
    engineered, method = _engineered(pipeline, X, y, random_state)
    _, sources = feature_sources(pipeline.named_steps["featurize"])
    raw: dict[str, float] = {c: 0.0 for c in pipeline.named_steps["input"].columns_}
    for (name, value), source in zip(engineered.items(), sources):
        raw[source] = raw.get(source, 0.0) + value
    return {"method": method, "raw": _normalise(raw), "engineered": _normalise(engineered)}


def _member_columns(model) -> list[str]:
    return list(model.estimators[0].named_steps["input"].columns_)


def _normalise(values: dict[str, float]) -> dict[str, float]:
    total = sum(max(v, 0.0) for v in values.values())
    if total <= 0:
        return dict(sorted(values.items(), key=lambda kv: -kv[1]))
    return {k: max(v, 0.0) / total for k, v in sorted(values.items(), key=lambda kv: -kv[1])}
