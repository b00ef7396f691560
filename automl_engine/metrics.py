"""Primary and secondary metrics, and the data behind the charts, computed from predictions.

Classification predictions are probability matrices (columns in ``classes`` order); regression
predictions are vectors. Normalised regression errors divide by the range of the true values.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm

from .calibration import expected_calibration_error


MAX_CURVE_POINTS = 101


def is_better(a: float, b: float | None, greater_is_better: bool) -> bool:
    """Whether score ``a`` beats ``b`` (None or NaN always loses)."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return True
    return a > b if greater_is_better else a < b


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> dict[str, float]:
    """Every classification metric of the seed from a probability matrix."""
    classes = np.asarray(classes)
    y_true = np.asarray(y_true)
    k = len(classes)
    onehot = (y_true[:, None] == classes[None, :]).astype(float)
    # Metrics on class indices: equal to the same metrics on the labels, and sklearn's label checks
    # (np.unique over an object array of strings) no longer cost seconds on a 20,000-row validation set.
    # A true label outside ``classes`` gets its own index k.
    true_codes = np.where(onehot.any(axis=1), np.argmax(onehot, axis=1), k)
    pred_codes = np.argmax(proba, axis=1)
    codes = np.arange(k)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["accuracy"] = skm.accuracy_score(true_codes, pred_codes)
        out["balanced_accuracy"] = skm.balanced_accuracy_score(true_codes, pred_codes)
        for avg in ("macro", "micro", "weighted"):
            out[f"precision_score_{avg}"] = skm.precision_score(true_codes, pred_codes, labels=codes, average=avg,
                                                                zero_division=0)
            out[f"recall_score_{avg}"] = skm.recall_score(true_codes, pred_codes, labels=codes, average=avg,
                                                          zero_division=0)
            out[f"f1_score_{avg}"] = skm.f1_score(true_codes, pred_codes, labels=codes, average=avg, zero_division=0)
        macro_recall = out["recall_score_macro"]
        out["norm_macro_recall"] = max(0.0, (macro_recall - 1.0 / k) / (1.0 - 1.0 / k))
        out["matthews_correlation"] = skm.matthews_corrcoef(true_codes, pred_codes)
        out["log_loss"] = skm.log_loss(true_codes, np.clip(proba, 1e-15, 1.0), labels=codes)
        out["expected_calibration_error"] = expected_calibration_error(true_codes, proba, codes)
        present = onehot.sum(axis=0) > 0
        weights = onehot.sum(axis=0) / len(y_true)
        aucs, aps = np.full(k, np.nan), np.full(k, np.nan)
        for j in range(k):
            if present[j] and onehot[:, j].sum() < len(y_true):
                aucs[j] = skm.roc_auc_score(onehot[:, j], proba[:, j])
                aps[j] = skm.average_precision_score(onehot[:, j], proba[:, j])
        valid = ~np.isnan(aucs)
        if valid.any():
            out["AUC_macro"] = float(np.mean(aucs[valid]))
            out["AUC_weighted"] = float(np.sum(aucs[valid] * weights[valid]) / np.sum(weights[valid]))
            out["AUC_micro"] = skm.roc_auc_score(onehot.ravel(), proba.ravel())
            out["average_precision_score_macro"] = float(np.mean(aps[valid]))
            out["average_precision_score_weighted"] = float(np.sum(aps[valid] * weights[valid]) /
                                                            np.sum(weights[valid]))
            out["average_precision_score_micro"] = skm.average_precision_score(onehot.ravel(), proba.ravel())
        if k == 2:
            out["AUC_binary"] = float(aucs[1]) if valid[1] else float("nan")
    return {name: float(value) for name, value in out.items()}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every regression metric of the seed; normalised ones divide by the range of ``y_true``."""
    from scipy.stats import spearmanr

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    span = float(np.max(y_true) - np.min(y_true)) or 1.0
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rmse = math.sqrt(skm.mean_squared_error(y_true, y_pred))
        mae = skm.mean_absolute_error(y_true, y_pred)
        out["r2_score"] = skm.r2_score(y_true, y_pred)
        out["spearman_correlation"] = float(spearmanr(y_true, y_pred).statistic) if np.std(y_pred) > 0 else 0.0
        out["root_mean_squared_error"] = rmse
        out["normalized_root_mean_squared_error"] = rmse / span
        out["mean_absolute_error"] = mae
        out["normalized_mean_absolute_error"] = mae / span
        out["median_absolute_error"] = skm.median_absolute_error(y_true, y_pred)
        out["normalized_median_absolute_error"] = out["median_absolute_error"] / span
        out["explained_variance"] = skm.explained_variance_score(y_true, y_pred)
        nonzero = np.abs(y_true) > 1e-12
        out["mean_absolute_percentage_error"] = (float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) /
                                                                      y_true[nonzero]))) * 100.0
                                                 if nonzero.any() else float("nan"))
        if np.min(y_true) > -1:
            log_true, log_pred = np.log1p(y_true), np.log1p(np.clip(y_pred, -1 + 1e-9, None))
            rmsle = math.sqrt(float(np.mean((log_true - log_pred) ** 2)))
            out["root_mean_squared_log_error"] = rmsle
            log_span = float(np.max(log_true) - np.min(log_true)) or 1.0
            out["normalized_root_mean_squared_log_error"] = rmsle / log_span
    return {name: float(value) for name, value in out.items()}


def compute_metrics(problem_type: str, y_true, pred, classes=None) -> dict[str, float]:
    """Every metric of task ``problem_type`` for row-wise predictions (a task needing more context, such as a
    time series' ids and times, is called through :meth:`Task.compute_metrics` with a ScoringContext)."""
    from .tasks import ScoringContext, get_task

    return get_task(problem_type).compute_metrics(y_true, pred, ScoringContext({"classes": classes}))


def _downsample(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    if n > MAX_CURVE_POINTS:
        idx = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
        arrays = tuple(a[idx] for a in arrays)
    return [np.round(a.astype(float), 6).tolist() for a in arrays]


def classification_charts(y_true, proba: np.ndarray, classes: Sequence[Any], positive_label=None) -> dict[str, Any]:
    """Confusion matrix, ROC, precision-recall, calibration, lift and cumulative gains.

    Curves are per class (one-vs-rest) for up to 10 classes; binary problems show the positive class."""
    classes = np.asarray(classes)
    y_true = np.asarray(y_true)
    y_pred = classes[np.argmax(proba, axis=1)]
    labels = [_jsonable(c) for c in classes]
    charts: dict[str, Any] = {
        "confusion_matrix": {"labels": labels,
                             "matrix": skm.confusion_matrix(y_true, y_pred, labels=classes).tolist()},
        "roc": {}, "precision_recall": {}, "calibration": {}, "lift": {}, "gains": {},
    }
    if len(classes) == 2:
        pos = positive_label if positive_label is not None else classes[1]
        indices = [int(np.where(classes == pos)[0][0])] if pos in classes else [1]
    else:
        indices = list(range(min(len(classes), 10)))
    for j in indices:
        label = str(_jsonable(classes[j]))
        truth = (y_true == classes[j]).astype(int)
        if truth.sum() in (0, len(truth)):
            continue
        score = proba[:, j]
        fpr, tpr, _ = skm.roc_curve(truth, score)
        charts["roc"][label] = dict(zip(("fpr", "tpr"), _downsample(fpr, tpr)))
        precision, recall, _ = skm.precision_recall_curve(truth, score)
        charts["precision_recall"][label] = dict(zip(("recall", "precision"), _downsample(recall, precision)))
        bins = np.clip((score * 10).astype(int), 0, 9)
        calib = {"mean_predicted": [], "fraction_positive": [], "count": []}
        for b in range(10):
            mask = bins == b
            if mask.any():
                calib["mean_predicted"].append(round(float(score[mask].mean()), 6))
                calib["fraction_positive"].append(round(float(truth[mask].mean()), 6))
                calib["count"].append(int(mask.sum()))
        charts["calibration"][label] = calib
        order = np.argsort(-score, kind="stable")
        cum = np.cumsum(truth[order])
        percents = np.arange(1, 11) / 10.0
        cut = np.maximum((percents * len(truth)).astype(int), 1)
        gains = cum[cut - 1] / truth.sum()
        charts["gains"][label] = {"percent_of_data": percents.round(2).tolist(),
                                  "percent_of_positives": np.round(gains, 6).tolist()}
        charts["lift"][label] = {"percent_of_data": percents.round(2).tolist(),
                                 "lift": np.round(gains / percents, 6).tolist()}
    return charts


def regression_charts(y_true, y_pred) -> dict[str, Any]:
    """Predicted vs true (binned by true value, with spread) and a residual histogram."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    edges = np.unique(np.quantile(y_true, np.linspace(0, 1, 21)))
    bins = np.clip(np.searchsorted(edges, y_true, side="right") - 1, 0, max(len(edges) - 2, 0))
    pvt = {"bin_true_mean": [], "predicted_mean": [], "predicted_p10": [], "predicted_p90": [], "count": []}
    for b in np.unique(bins):
        mask = bins == b
        pvt["bin_true_mean"].append(round(float(y_true[mask].mean()), 6))
        pvt["predicted_mean"].append(round(float(y_pred[mask].mean()), 6))
        pvt["predicted_p10"].append(round(float(np.quantile(y_pred[mask], 0.1)), 6))
        pvt["predicted_p90"].append(round(float(np.quantile(y_pred[mask], 0.9)), 6))
        pvt["count"].append(int(mask.sum()))
    residuals = y_true - y_pred
    counts, r_edges = np.histogram(residuals, bins=20)
    return {"predicted_vs_true": pvt,
            "residuals": {"bin_edges": np.round(r_edges, 6).tolist(), "counts": counts.tolist()}}


def compute_charts(problem_type: str, y_true, pred, classes=None, positive_label=None) -> dict[str, Any]:
    """Chart data of task ``problem_type`` for row-wise predictions (see :func:`compute_metrics`)."""
    from .tasks import ScoringContext, get_task

    context = ScoringContext({"classes": classes, "positive_label": positive_label})
    return get_task(problem_type).compute_charts(y_true, pred, context)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def metric_names(problem_type: str) -> list[str]:
    from .tasks import get_task

    return sorted(get_task(problem_type).primary_metrics)


def primary_scorer(problem_type: str, metric: str, y_true, classes=None):
    """A fast function ``pred -> score`` for one primary metric (used many times by ensemble selection)."""
    from .tasks import ScoringContext, get_task

    return get_task(problem_type).primary_scorer(metric, y_true, ScoringContext({"classes": classes}))


def regression_scorer(metric: str, y_true):
    """Fast ``pred -> score`` for a regression primary metric."""
    y = np.asarray(y_true).astype(float)
    span = float(np.max(y) - np.min(y)) or 1.0
    if metric == "r2_score":
        denom = float(np.sum((y - y.mean()) ** 2)) or 1.0
        return lambda p: 1.0 - float(np.sum((y - p) ** 2)) / denom
    if metric == "normalized_root_mean_squared_error":
        return lambda p: math.sqrt(float(np.mean((y - p) ** 2))) / span
    if metric == "normalized_mean_absolute_error":
        return lambda p: float(np.mean(np.abs(y - p))) / span
    return lambda p: regression_metrics(y, p)[metric]


# The largest mean log loss: every row's true class at the 1e-15 floor the loss is clipped to.
_MAX_LOG_LOSS = -np.log(1e-15)


def selection_scorer(metric: str, y_true, classes):
    """``pred -> score`` for ensemble selection: the primary metric, and for a metric that moves in steps of
    whole rows (accuracy, normalised macro recall) minus the log loss, weighted so that the largest log loss
    is worth less than one step. Blends that classify the same rows then differ by how sure they are of
    them, instead of the first candidate listed taking every tied round of selection."""
    primary = classification_scorer(metric, y_true, classes)
    # Accuracy moves in steps of 1/n. Macro recall averages C per-class recalls that move in steps of 1/n_c,
    # so it moves in steps of at least 1/(C n); the normalisation (recall - 1/C) / (1 - 1/C) widens them.
    step = {"accuracy": 1.0, "norm_macro_recall": 1.0 / max(1, len(classes))}.get(metric)
    if step is None:
        return primary
    loss = classification_scorer("log_loss", y_true, classes)
    weight = step / (len(y_true) * _MAX_LOG_LOSS * 1.01)
    return lambda p: primary(p) - weight * loss(p)


def classification_scorer(metric: str, y_true, classes):
    """Fast ``pred -> score`` for a classification primary metric (probability matrix in)."""
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    onehot = (y_true[:, None] == classes[None, :]).astype(int)
    present = (onehot.sum(axis=0) > 0) & (onehot.sum(axis=0) < len(y_true))
    if metric == "accuracy":
        return lambda p: float(np.mean(classes[np.argmax(p, axis=1)] == y_true))
    if metric == "AUC_weighted":
        if len(classes) == 2:
            return lambda p: float(skm.roc_auc_score(onehot[:, 1], p[:, 1]))
        return lambda p: float(skm.roc_auc_score(onehot[:, present], p[:, present], average="weighted"))
    if metric == "log_loss":
        truth = np.argmax(onehot, axis=1)
        rows = np.arange(len(y_true))
        return lambda p: float(-np.mean(np.log(np.clip(p[rows, truth] / p.sum(axis=1), 1e-15, 1.0))))
    if metric == "average_precision_score_weighted":
        return lambda p: float(skm.average_precision_score(onehot[:, present], p[:, present], average="weighted"))
    return lambda p: classification_metrics(y_true, p, classes)[metric]
