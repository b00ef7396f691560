"""Target transforms for regression: a searched choice of training on ``log1p(y)``, and penalised linear
models fitted on a standardised target.

Prices, counts and amounts are non-negative and right-skewed; squared-error learners fitted on them spend
their capacity on the few largest values. Fitted on ``log1p(y)`` they model relative differences instead,
which often generalises better even when the score is computed on the original scale. Whether it does is
left to the validation score: the transform is a hyperparameter (``target_transform``) that the search
tries on eligible targets, and the fitted model always predicts on the original scale, so metrics,
charts, ensembles and serving never see the log scale.

Penalised linear models (ElasticNet, LassoLars, SGD) weigh their penalty against a squared error measured
in the target's units: an alpha that shrinks a unit-variance target's fit does nothing to one in dollars.
:class:`StandardTargetRegressor` fits them on ``(y - mean) / std`` so that an alpha means the same on every
target, then folds mean and std back into the coefficients: the fitted model is the plain linear model.
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


class StandardTargetRegressor(RegressorMixin, BaseEstimator):
    """Fits the linear model ``regressor`` on the standardised target ``(y - mean_) / scale_`` and rescales
    its coefficients back: ``regressor_`` predicts on the original scale by itself.

    A linear model of a standardised target is a linear model of the target, so nothing is lost; what
    changes is the fit, because the penalty is weighed against the squared error on the unit scale. The
    rescaled ``regressor_`` is an ordinary fitted ElasticNet, LassoLars or SGDRegressor (its
    ``coef_``/``intercept_`` in the target's units), which the ONNX export and explanations use as it is.
    A constant target keeps ``scale_`` 1."""

    def __init__(self, regressor=None):
        self.regressor = regressor

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y, dtype=float)
        self.mean_ = float(y.mean())
        std = float(y.std())
        self.scale_ = std if std > 0 else 1.0
        z = (y - self.mean_) / self.scale_
        self.regressor_ = clone(self.regressor)
        if sample_weight is None:
            self.regressor_.fit(X, z)
        else:
            self.regressor_.fit(X, z, sample_weight=sample_weight)
        # z = X @ coef + b  <=>  y = X @ (scale * coef) + (scale * b + mean); intercept_ keeps its type
        # (a float for ElasticNet and LassoLars, a length-1 array for SGDRegressor).
        self.regressor_.coef_ = self.regressor_.coef_ * self.scale_
        self.regressor_.intercept_ = self.regressor_.intercept_ * self.scale_ + self.mean_
        return self

    def predict(self, X, **predict_params):
        """Predictions on the original scale (the rescaled ``regressor_``'s own)."""
        return self.regressor_.predict(X, **predict_params)


def wrap_target(estimator, target_transform, standardize: bool = False):
    """``estimator`` fitted on the target as ``target_transform`` asks (``None``: unchanged) and, with
    ``standardize``, on that target standardised (for penalised linear models)."""
    if target_transform not in TARGET_TRANSFORMS:
        raise ValueError(f"unknown target_transform {target_transform!r}; use one of {list(TARGET_TRANSFORMS)}")
    if standardize:
        estimator = StandardTargetRegressor(estimator)
    if target_transform == LOG1P:
        estimator = LogTargetRegressor(estimator)
    return estimator


def inner_estimator(estimator):
    """The estimator that sees the features: the regressor inside any target transforms or the classifier
    inside a probability calibration (:class:`automl_engine.calibration.CalibratedModel`), else itself."""
    from .calibration import CalibratedModel

    while isinstance(estimator, (LogTargetRegressor, StandardTargetRegressor, CalibratedModel)):
        estimator = estimator.estimator if isinstance(estimator, CalibratedModel) else estimator.regressor_
    return estimator
