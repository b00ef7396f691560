"""Forecasting metrics and chart data, from long frames of actuals and forecasts.

The four primary metrics are the regression task's (normalised by the range of the actuals); MASE divides
each series' mean absolute error by the in-sample mean absolute error of its seasonal naive forecast.
Chart data is plain JSON-serialisable dicts, like :mod:`automl_engine.metrics`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import regression_metrics
from .prep import DS, ID, Y

PRIMARY_METRICS = {"normalized_root_mean_squared_error": False, "r2_score": True,
                   "normalized_mean_absolute_error": False, "spearman_correlation": True}
# Series whose forecasts a trial keeps for its charts: every series of a dataset of hundreds; above that the
# ones with the largest errors, which are the ones people look for.
MAX_CHART_SERIES = 300


def mase_scales(history: pd.DataFrame, m: int) -> pd.Series:
    """Per series, the mean absolute error of the seasonal naive forecast in the history (naive when the
    series is shorter than a season); 1 where that is 0."""
    def scale(y: pd.Series) -> float:
        v = y.to_numpy(dtype=float)
        k = m if len(v) > m else 1
        d = np.abs(v[k:] - v[:-k]) if len(v) > k else np.array([])
        value = float(np.mean(d)) if len(d) else 0.0
        return value if value > 1e-12 else 1.0
    return history.groupby(ID, sort=False)[Y].apply(scale)


def forecast_metrics(result: pd.DataFrame, scales: pd.Series | None = None) -> dict[str, float]:
    """All metrics for a frame with ``unique_id``, ``y`` (actual) and ``prediction``: the regression set
    (primary metrics among them) plus MAPE, sMAPE, MASE (when ``scales`` is given), MAE and RMSE."""
    y = result[Y].to_numpy(dtype=float)
    p = result["prediction"].to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    if len(y) == 0:
        return {}
    out = regression_metrics(y, p) if len(y) > 1 else {}
    err = y - p
    out["mae"] = float(np.mean(np.abs(err)))
    out["rmse"] = float(math.sqrt(np.mean(err ** 2)))
    nz = np.abs(y) > 1e-12
    out["mape"] = float(np.mean(np.abs(err[nz] / y[nz])) * 100) if nz.any() else float("nan")
    denom = np.abs(y) + np.abs(p)
    out["smape"] = float(np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0)) * 100)
    if scales is not None:
        r = result.loc[ok]
        mae_s = (r[Y] - r["prediction"]).abs().groupby(r[ID], sort=False).mean()
        out["mase"] = float((mae_s / scales.reindex(mae_s.index).fillna(1.0)).mean())
    return {k: float(v) for k, v in out.items()}


def per_horizon_metrics(result: pd.DataFrame) -> list[dict[str, Any]]:
    """MAE, RMSE and sMAPE per horizon step (``step`` column)."""
    rows = []
    for step, g in result.groupby("step", sort=True):
        err = (g[Y] - g["prediction"]).to_numpy(dtype=float)
        denom = (g[Y].abs() + g["prediction"].abs()).to_numpy(dtype=float)
        rows.append({"step": int(step), "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
                     "smape": float(np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0))
                                    * 100)})
    return rows


def per_series_metrics(result: pd.DataFrame, scales: pd.Series | None = None) -> list[dict[str, Any]]:
    """MAE, RMSE, sMAPE and MASE per series."""
    rows = []
    for sid, g in result.groupby(ID, sort=False):
        m = forecast_metrics(g.assign(**{ID: sid}), scales)
        rows.append({"series": str(sid), **{k: m.get(k) for k in ("mae", "rmse", "smape", "mase")}})
    return rows


def forecast_charts(result: pd.DataFrame, id_columns: list[str] | None = None) -> dict[str, Any]:
    """Chart data: forecast against actuals per series and origin (with the interval band when the frame
    has ``lower``/``upper``), error by horizon step, residuals over time."""
    series = []
    if result[ID].nunique() > MAX_CHART_SERIES:
        error = (result[Y] - result["prediction"]).abs().groupby(result[ID], sort=False).mean()
        result = result[result[ID].isin(error.nlargest(MAX_CHART_SERIES).index)]
    for (sid, origin), g in result.groupby([ID, "origin"], sort=False):
        entry = {"series": str(sid), "origin": str(origin), "time": [str(t) for t in g[DS]],
                 "actual": _floats(g[Y]), "forecast": _floats(g["prediction"])}
        if "lower" in g and "upper" in g:
            entry["lower"], entry["upper"] = _floats(g["lower"]), _floats(g["upper"])
        series.append(entry)
    by_step = per_horizon_metrics(result)
    resid = result.assign(residual=result[Y] - result["prediction"]).sort_values(DS)
    over_time = resid.groupby(DS, sort=True)["residual"].mean()
    return {"forecast_vs_actual": series,
            "error_by_horizon": {"step": [r["step"] for r in by_step], "mae": [r["mae"] for r in by_step],
                                 "rmse": [r["rmse"] for r in by_step]},
            "residuals_over_time": {"time": [str(t) for t in over_time.index], "residual": _floats(over_time)}}


def _floats(values) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]
