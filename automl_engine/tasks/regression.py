"""Regression: a numeric target, point predictions, the seed's regression metrics (normalised by the
target's range), an ElasticNet meta-learner for stacking, and the log1p-target search hint."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import ScoringContext
from .classification import _no_missing
from .tabular import TabularTask


class RegressionTask(TabularTask):
    name = "regression"
    primary_metrics = {
        "spearman_correlation": True,
        "normalized_root_mean_squared_error": False,
        "r2_score": True,
        "normalized_mean_absolute_error": False,
    }
    default_primary_metric = "normalized_root_mean_squared_error"
    meta_learner_name = "ElasticNet"

    def compute_metrics(self, y_true, pred, context: ScoringContext) -> dict[str, float]:
        from ..metrics import regression_metrics

        return regression_metrics(y_true, pred)

    def compute_charts(self, y_true, pred, context: ScoringContext) -> dict[str, Any]:
        from ..metrics import regression_charts

        return regression_charts(y_true, pred)

    def primary_scorer(self, metric: str, y_true, context: ScoringContext):
        from ..metrics import regression_scorer

        return regression_scorer(metric, y_true)

    def validate_target(self, config, y) -> None:
        import pandas as pd

        _no_missing(config, y)
        s = pd.Series(y)
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise ConfigError("target_column_name", f"target column {config.target_column_name!r} is not numeric; "
                                                    "regression needs a numeric target (use classification for labels)")

    def target_array(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y).astype(float)

    def search_flags(self, config, prepared) -> dict[str, Any]:
        from ..target import log_target_eligible

        # ONNX mode keeps to models the converters know; the log-target wrapper is not one of them.
        log_target = not config.training.enable_onnx_compatible_models and log_target_eligible(prepared.y)
        if log_target:
            prepared.messages.append(("info", "the target is non-negative and right-skewed: the search also "
                                              "fits models on log1p(target)"))
        return {"imbalanced": False, "log_target": log_target}

    def scaling_steps(self, algo) -> list[tuple[str, Any]]:
        """Linear models extrapolate without limit and neighbours measure distances across the excess: one
        input far outside the training range (a house twice the largest sold) must not decide a prediction
        alone, nor one rare category inflated by standardisation (see IndicatorScaler)."""
        from ..featurize import IndicatorScaler, RangeClipper

        return [("clip", RangeClipper()), ("scale", IndicatorScaler())] if algo.needs_scaling else []

    def standardize_target(self, algo) -> bool:
        return algo.standardize_target

    def fit_stacker(self, oofs, y, context: ScoringContext, random_state: int = 0):
        from sklearn.linear_model import ElasticNet
        from sklearn.model_selection import KFold, cross_val_predict

        from ..ensemble import stack_rows

        Z = self.meta_features(oofs)
        y = np.asarray(y)
        keep = stack_rows(len(y), Z.shape[1], random_state)
        meta = ElasticNet(alpha=1e-4, l1_ratio=0.5, positive=True, max_iter=5000)
        meta.fit(Z[keep], y[keep])
        pred = np.asarray(meta.predict(Z), dtype=float)
        pred[keep] = cross_val_predict(meta, Z[keep], y[keep], cv=KFold(5, shuffle=True, random_state=random_state))
        return meta, pred
