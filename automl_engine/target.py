"""Target transforms for regression: a searched choice of training on ``log1p(y)``.

Prices, counts and amounts are non-negative and right-skewed; squared-error learners fitted on them spend
their capacity on the few largest values. Fitted on ``log1p(y)`` they model relative differences instead,
which often generalises better even when the score is computed on the original scale. Whether it does is
left to the validation score: the transform is a hyperparameter (``target_transform``) that the search
tries on eligible targets, and the fitted model always predicts on the original scale, so metrics,
charts, ensembles and serving never see the log scale.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

LOG1P = "log1p"
TARGET_TRANSFORMS = (None, LOG1P)
# Above this sample skewness a non-negative target is worth trying on the log scale; symmetric targets
# rarely gain from it and the extra trials would cost budget.
MIN_SKEWNESS = 0.75


def log_target_eligible(y) -> bool:
    """Whether ``log1p`` is worth searching for this regression target: finite, never negative, not
    constant, and right-skewed. Only the target's distribution is looked at, never a model's score."""
    from scipy.stats import skew

    y = np.asarray(y, dtype=float)
    if len(y) < 3 or not np.all(np.isfinite(y)) or y.min() < 0 or y.max() == y.min():
        return False
    return bool(skew(y) >= MIN_SKEWNESS)


class LogTargetRegressor(RegressorMixin, BaseEstimator):
    """Fits ``regressor`` on ``log1p(y)`` and predicts ``expm1`` of its predictions.

    Predictions on the log scale are clipped to the range seen in training before ``expm1``: trees never
    leave it anyway, but a linear model extrapolating on an unusual row would otherwise be exponentiated
    into an absurd (or infinite) value."""

    def __init__(self, regressor=None):
        self.regressor = regressor

    def fit(self, X, y, sample_weight=None):
        z = np.log1p(np.asarray(y, dtype=float))
        self.regressor_ = clone(self.regressor)
        if sample_weight is None:
            self.regressor_.fit(X, z)
        else:
            self.regressor_.fit(X, z, sample_weight=sample_weight)
        self.bounds_ = (float(z.min()), float(z.max()))
        return self

    def predict(self, X, **predict_params):
        """Predictions on the original scale; ``predict_params`` go to the inner regressor."""
        z = np.asarray(self.regressor_.predict(X, **predict_params), dtype=float)
        return np.expm1(np.clip(z, *self.bounds_))


def wrap_target(estimator, target_transform):
    """``estimator`` fitted on the target as ``target_transform`` asks (``None``: unchanged)."""
    if target_transform is None:
        return estimator
    if target_transform == LOG1P:
        return LogTargetRegressor(estimator)
    raise ValueError(f"unknown target_transform {target_transform!r}; use one of {list(TARGET_TRANSFORMS)}")


def inner_estimator(estimator):
    """The estimator that sees the features: the regressor inside a target transform, else itself."""
    return estimator.regressor_ if isinstance(estimator, LogTargetRegressor) else estimator
