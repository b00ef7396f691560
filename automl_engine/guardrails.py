"""Data guardrails: checks on the training data with a status (passed / done / alerted) and parameters.

``done`` means the engine changed something to handle the issue (imputed, encoded); ``alerted`` means the
user should look (imbalance, leakage, duplicates, overlap).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .config import JobConfig
from .featurize import ColumnPlan

PASSED, DONE, ALERTED = "passed", "done", "alerted"
IMBALANCE_RATIO = 0.2
LEAKAGE_THRESHOLD = 0.98
LEAKAGE_SAMPLE_ROWS = 3000


def _entry(name: str, status: str, description: str, parameters: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "description": description, "parameters": parameters}


def run_guardrails(config: JobConfig, X: pd.DataFrame, y: np.ndarray, plans: list[ColumnPlan],
                   validation: dict[str, Any], test_X: pd.DataFrame | None,
                   has_classes: bool | None = None) -> list[dict[str, Any]]:
    """All guardrails, in a fixed order. ``has_classes`` (by default the task's): the target is labels,
    so class balance is checked and leakage is measured by balanced accuracy."""
    if has_classes is None:
        from .tasks import get_task

        has_classes = get_task(config.task).has_classes
    out = []
    imputed = [{"column": p.column, "missing": p.n_missing, "strategy": p.imputer}
               for p in plans if not p.dropped and p.n_missing]
    out.append(_entry("missing_value_imputation", DONE if imputed else PASSED,
                      f"Imputed missing values in {len(imputed)} feature column(s)." if imputed
                      else "No missing feature values in the training data.", imputed))
    high = [{"column": p.column, "n_unique": p.n_unique, "encoding": p.encoding}
            for p in plans if not p.dropped and p.encoding in ("count", "hashing")]
    out.append(_entry("high_cardinality_features", DONE if high else PASSED,
                      f"{len(high)} high-cardinality categorical column(s) encoded without one-hot expansion."
                      if high else "No high-cardinality categorical features.", high))
    if has_classes:
        counts = pd.Series(y).value_counts()
        ratio = float(counts.min() / counts.max())
        params = {"class_counts": {str(k): int(v) for k, v in counts.items()}, "ratio": round(ratio, 4),
                  "threshold": IMBALANCE_RATIO, "handling": "class_weight='balanced' in the search space"
                  if ratio <= IMBALANCE_RATIO else None}
        out.append(_entry("class_imbalance", ALERTED if ratio <= IMBALANCE_RATIO else PASSED,
                          f"Smallest/largest class ratio {ratio:.3f} <= {IMBALANCE_RATIO}: balanced class weights "
                          "are searched." if ratio <= IMBALANCE_RATIO else
                          f"Classes are balanced enough (smallest/largest {ratio:.3f}).", params))
    out.append(_entry("validation_method", DONE, validation["reason"], dict(validation)))
    out.append(_target_leakage(config, X, y, plans, has_classes))
    dup = int(pd.concat([X, pd.Series(y, name="__target__", index=X.index)], axis=1).duplicated().sum())
    out.append(_entry("duplicate_rows", ALERTED if dup else PASSED,
                      f"{dup} duplicate training row(s) (features and target); with cross-validation a copy can "
                      "land in both training and validation folds." if dup else "No duplicate training rows.",
                      {"duplicate_rows": dup, "rows": int(len(X))}))
    if test_X is None:
        out.append(_entry("train_test_overlap", PASSED, "No test data given.", {"overlapping_rows": 0}))
    else:
        common = [c for c in X.columns if c in test_X.columns]
        keys = set(pd.util.hash_pandas_object(X[common].astype(str), index=False))
        overlap = int(pd.util.hash_pandas_object(test_X[common].astype(str), index=False).isin(keys).sum())
        out.append(_entry("train_test_overlap", ALERTED if overlap else PASSED,
                          f"{overlap} test row(s) also appear in the training data: test scores are optimistic."
                          if overlap else "No test row appears in the training data.",
                          {"overlapping_rows": overlap, "test_rows": int(len(test_X))}))
    return out


def _target_leakage(config: JobConfig, X: pd.DataFrame, y: np.ndarray, plans: list[ColumnPlan],
                    has_classes: bool) -> dict[str, Any]:
    """Flag a feature that alone almost determines the target: a shallow tree on that one feature, fitted
    on two thirds of (at most 3,000) rows and scored on the rest by balanced accuracy or R²."""
    from sklearn.metrics import balanced_accuracy_score, r2_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    n = len(X)
    idx = np.random.RandomState(0).permutation(n)[:LEAKAGE_SAMPLE_ROWS]
    ys = np.asarray(y)[idx]
    cut = (2 * len(idx)) // 3
    fit_rows, score_rows = np.arange(cut), np.arange(cut, len(idx))
    classification = has_classes
    if len(score_rows) < 10 or (classification and pd.Series(ys[fit_rows]).nunique() < 2):
        return _entry("target_leakage", PASSED, "Too few rows to test for leakage.", [])
    metric = "balanced_accuracy" if classification else "r2"
    suspicious = []
    for p in plans:
        if p.dropped or p.detected_type == "Text":
            continue
        s = X[p.column].iloc[idx]
        if p.detected_type == "Numeric":
            feature = pd.to_numeric(s, errors="coerce").fillna(-1e12).to_numpy()[:, None]
        else:
            feature = pd.factorize(s.astype(str))[0][:, None].astype(float)
        model = (DecisionTreeClassifier(max_depth=6, random_state=0) if classification
                 else DecisionTreeRegressor(max_depth=6, random_state=0))
        model.fit(feature[fit_rows], ys[fit_rows])
        pred = model.predict(feature[score_rows])
        score = (balanced_accuracy_score(ys[score_rows], pred) if classification
                 else r2_score(ys[score_rows], pred))
        if score >= LEAKAGE_THRESHOLD:
            suspicious.append({"column": p.column, "score": round(float(score), 4), "metric": metric})
    return _entry("target_leakage", ALERTED if suspicious else PASSED,
                  f"{len(suspicious)} feature(s) alone almost determine the target (score >= {LEAKAGE_THRESHOLD}); "
                  "check they are known at prediction time." if suspicious else
                  "No single feature almost determines the target.", suspicious)
