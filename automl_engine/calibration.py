"""Probability calibration of a trial's classifier, fitted on its out-of-fold predictions.

A model whose probabilities are poor (a decision tree's hard 0/1 leaves, a forest's votes, an over-confident
boosting run) is wrapped in :class:`CalibratedModel`: its probabilities pass through a map fitted on the
trial's validation predictions, which no fit of the model has seen.

- Binary: sigmoid (Platt) on the positive class's logit, ``p' = sigmoid(a * logit(p) + b)`` with ``a > 0``.
- Multiclass: temperature scaling, ``p' = softmax(log(p) / T)``.

Both maps are increasing in the model's own score: for binary problems the ranking (AUC) is exactly that of
the uncalibrated model (the 0.5 threshold may move), for multiclass ones the predicted class (accuracy).
Calibration changes how much probability the model gives, which log loss and the calibration error
measure; a trial keeps it only if its primary metric is not worse for it. Isotonic regression was left out
because its steps tie scores that the model ranked apart.

Whether to calibrate is decided honestly: the map is cross-fitted over the out-of-fold predictions (fitted on
four fifths, applied to the fifth) and kept only if that lowers the log loss by at least ``MIN_GAIN``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

EPS = 1e-6          # probabilities are clipped to [EPS, 1 - EPS] before the log or logit of the map
MIN_GAIN = 0.005    # relative log-loss improvement (cross-fitted) that makes calibration worth a wrapper
CROSS_FOLDS = 5
ECE_BINS = 10


def expected_calibration_error(y_true, proba: np.ndarray, classes: Sequence[Any], n_bins: int = ECE_BINS) -> float:
    """Top-label expected calibration error (Guo et al. 2017): the rows are binned by the probability of
    their predicted class (``n_bins`` equal-width bins over [0, 1], a probability of exactly 1 in the
    last); ECE is the row-weighted mean over bins of |accuracy in the bin - mean confidence in the bin|."""
    proba = np.asarray(proba, dtype=float)
    classes = np.asarray(classes)
    confidence = proba.max(axis=1)
    correct = classes[np.argmax(proba, axis=1)] == np.asarray(y_true)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.sum() * abs(float(correct[mask].mean()) - float(confidence[mask].mean()))
    return total / len(confidence)


def _log_loss(proba: np.ndarray, truth: np.ndarray) -> float:
    rows = np.arange(len(truth))
    return float(-np.mean(np.log(np.clip(proba[rows, truth], 1e-15, 1.0))))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def apply_map(proba: np.ndarray, method: str, params: Sequence[float]) -> np.ndarray:
    """Calibrated probabilities from a model's probability matrix (columns in its classes' order)."""
    proba = np.asarray(proba, dtype=float)
    if method == "sigmoid":
        a, b = params
        positive = 1.0 / (1.0 + np.exp(-np.clip(a * _logit(proba[:, 1]) + b, -500, 500)))
        return np.column_stack([1.0 - positive, positive])
    if method == "temperature":
        (temperature,) = params
        z = np.log(np.clip(proba, EPS, 1.0)) / temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown calibration method {method!r}")


def _platt(z: np.ndarray, t: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """``(a, b)`` of ``P(t = 1) = sigmoid(a z + b)`` as Platt (1999) fits them: cross-entropy against the
    smoothed targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2), which keeps the fit finite on separable scores
    (a tree's 0/1 leaves), by Newton's method with step halving."""
    n_pos = float(t.sum())
    n_neg = float(len(t) - n_pos)
    soft = np.where(t > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    X = np.column_stack([z, np.ones_like(z)])

    def loss(w):
        m = X @ w
        return float(np.sum(np.logaddexp(0, m) - soft * m))

    w = np.array([1.0, 0.0])
    current = loss(w)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -500, 500)))
        gradient = X.T @ (p - soft)
        hessian = (X * (p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-10:
            candidate = w - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale /= 2
        else:
            break
        if current - value < 1e-12 * max(abs(current), 1.0):
            w, current = candidate, value
            break
        w, current = candidate, value
    return float(w[0]), float(w[1])


def fit_map(proba: np.ndarray, truth: np.ndarray) -> tuple[str, list[float]] | None:
    """Fit the map on predictions ``proba`` of rows whose true class index is ``truth``; None when the fit
    would not be increasing (a binary model ranking backwards is left alone)."""
    proba = np.asarray(proba, dtype=float)
    if proba.shape[1] == 2:
        z = _logit(proba[:, 1])
        t = (np.asarray(truth) == 1).astype(float)
        if t.min() == t.max():
            return None
        a, b = _platt(z, t)
        return ("sigmoid", [a, b]) if a > 0 else None
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(proba, EPS, 1.0))
    rows = np.arange(len(truth))

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(lse - z[rows, truth]))

    found = minimize_scalar(loss, bounds=(-3.0, 4.0), method="bounded", options={"xatol": 1e-3})
    return "temperature", [float(np.exp(found.x))]


def choose_calibration(proba: np.ndarray, truth: np.ndarray, random_state: int = 0
                       ) -> tuple[str, list[float], float, float] | None:
    """``(method, params, raw log loss, cross-fitted calibrated log loss)`` when a map fitted on these
    predictions lowers their cross-fitted log loss by at least ``MIN_GAIN`` (relative), else None. The
    returned map is fitted on all of them."""
    proba = np.asarray(proba, dtype=float)
    truth = np.asarray(truth)
    n = len(truth)
    if n < 50:
        return None
    raw = _log_loss(proba, truth)
    order = np.random.RandomState(random_state).permutation(n)
    crossed = np.empty_like(proba)
    for k in range(CROSS_FOLDS):
        held = order[k::CROSS_FOLDS]
        fit_rows = np.setdiff1d(order, held, assume_unique=True)
        fitted = fit_map(proba[fit_rows], truth[fit_rows])
        if fitted is None:
            return None
        crossed[held] = apply_map(proba[held], *fitted)
    calibrated = _log_loss(crossed, truth)
    if not calibrated < raw * (1 - MIN_GAIN):
        return None
    fitted = fit_map(proba, truth)
    if fitted is None:
        return None
    return fitted[0], fitted[1], raw, calibrated


class CalibratedModel(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose ``predict_proba`` passes through a fitted calibration map (see the module);
    the model step of a calibrated trial's pipeline. Already fitted: ``fit`` returns it unchanged."""

    def __init__(self, estimator: Any = None, method: str = "sigmoid", params: Sequence[float] = ()):
        self.estimator = estimator
        self.method = method
        self.params = params

    @property
    def classes_(self):
        return self.estimator.classes_

    @property
    def estimator_(self):
        return self.estimator

    def fit(self, X, y=None, **kwargs):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict_proba(self, X, **kwargs):
        return apply_map(self.estimator.predict_proba(X, **kwargs), self.method, self.params)

    def predict(self, X, **kwargs):
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(X, **kwargs), axis=1)]
