"""The trial page of a forecasting run: forecast against actuals for each rolling-origin window and for test
data (with the prediction interval band), error by horizon step, residuals over time, and the metrics of every
series, worst first.

The engine stores this chart data with the trial (``automl_engine.forecasting.metrics.forecast_charts`` plus
``per_horizon`` and ``per_series``); this module turns it into Plotly figures and the data the page's series
picker draws from.
"""
from __future__ import annotations

import math

LAYOUT = {"height": 320, "margin": {"l": 10, "r": 10, "t": 36, "b": 10}, "paper_bgcolor": "rgba(0,0,0,0)",
          "plot_bgcolor": "rgba(0,0,0,0)", "legend": {"orientation": "h", "y": -0.25},
          "xaxis": {"automargin": True, "gridcolor": "#eef0f3"}, "yaxis": {"automargin": True, "gridcolor": "#eef0f3"}}
SERIES_METRICS = ("mase", "smape", "mae", "rmse")


def _axis(title: str) -> dict:
    return {"automargin": True, "gridcolor": "#eef0f3", "title": {"text": title, "standoff": 8}}


def trial_figures(charts: dict) -> list[dict]:
    """Error by horizon step and residuals over time as ``{"key", "title", "figure"}`` (the forecast against
    actuals is drawn by the page's own script from :func:`forecast_panel`)."""
    out = []
    by_step = charts.get("error_by_horizon") or {}
    if by_step.get("step"):
        out.append({"key": "error_by_horizon", "title": "Error by horizon", "figure": {
            "data": [{"type": "bar", "x": by_step["step"], "y": by_step["mae"], "name": "MAE",
                      "marker": {"color": "#4f46e5"}},
                     {"type": "scatter", "mode": "lines+markers", "x": by_step["step"], "y": by_step["rmse"],
                      "name": "RMSE", "line": {"color": "#d97706"}}],
            "layout": {**LAYOUT, "title": {"text": "Error by horizon step (all series and origins)"},
                       "xaxis": _axis("periods after the origin"), "yaxis": _axis("error")}}})
    residuals = charts.get("residuals_over_time") or {}
    if residuals.get("time"):
        out.append({"key": "residuals_over_time", "title": "Residuals over time", "figure": {
            "data": [{"type": "scatter", "mode": "lines+markers", "x": residuals["time"], "y": residuals["residual"],
                      "name": "mean residual", "line": {"color": "#4f46e5", "width": 1.5}, "marker": {"size": 4}}],
            "layout": {**LAYOUT, "title": {"text": "Residuals over time (actual − forecast, mean over series)"},
                       "xaxis": _axis("time"), "yaxis": {**_axis("residual"), "zeroline": True,
                                                         "zerolinecolor": "#9ca3af"},
                       "showlegend": False}}})
    return out


def forecast_panel(charts: dict | None, test_charts: dict | None = None) -> dict | None:
    """What the forecast chart's script draws: every window (``series``, ``origin`` or "test", times, actual,
    forecast, interval), the series names for the picker, and the per-series metrics, worst first."""
    if not charts or not charts.get("forecast_vs_actual"):
        return None
    windows = [dict(w, kind="validation") for w in charts["forecast_vs_actual"]]
    windows += [dict(w, kind="test", origin="test") for w in (test_charts or {}).get("forecast_vs_actual") or []]
    series = list(dict.fromkeys(w["series"] for w in windows))
    return {"windows": windows, "series": series, "has_test": any(w["kind"] == "test" for w in windows),
            "has_interval": any("lower" in w for w in windows)}


def series_table(charts: dict | None) -> dict:
    """Per-series metrics rows sorted worst first (by MASE when the engine gave it, else sMAPE), and the
    metric they are sorted by."""
    rows = list((charts or {}).get("per_series") or [])
    if not rows:
        return {"rows": [], "sort": None}
    sort = next((m for m in SERIES_METRICS if any(_number(r.get(m)) is not None for r in rows)), None)
    rows.sort(key=lambda r: (_number(r.get(sort)) is None, -(_number(r.get(sort)) or 0.0)))
    return {"rows": rows, "sort": sort}


def _number(value) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)
