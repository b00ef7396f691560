"""Forecasting ensembles: a weighted average of forecasters (the voting ensemble's Caruana weights) or a linear
meta-model over them (stacking), with the forecasters' ``predict``/``forecast``/``history=`` API, built by
the forecasting task (:meth:`~automl_engine.tasks.forecasting.ForecastingTask.assemble_ensemble`) from the
driver's trials; and the fast primary score the driver's ensemble selection calls many times.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .models import ForecastModel
from .prep import DS, ID, Y


class ForecastEnsemble:
    """A weighted average of forecasters (voting) or a linear meta-model over them (stacking); the same
    ``predict``/``forecast``/``history=`` API as :class:`ForecastModel`."""

    def __init__(self, models: Sequence[ForecastModel], weights: Sequence[float], intercept: float = 0.0,
                 kind: str = "voting"):
        self.models = list(models)
        self.weights = np.asarray(weights, dtype=float)
        self.intercept = float(intercept)
        self.kind = kind
        self.settings = self.models[0].settings
        # Members trained on the same data (each in its own trial process) hold equal copies of the history:
        # one shared frame pickles once, and a saved ensemble of seven loaded in half the time.
        first = getattr(self.models[0], "history_", None)
        for m in self.models[1:]:
            h = getattr(m, "history_", None)
            if first is not None and h is not None and h is not first and h.shape == first.shape and h.equals(first):
                m.history_ = first

    def _combine(self, frames: list[pd.DataFrame]) -> np.ndarray:
        stacked = np.column_stack([f for f in frames])
        return stacked @ self.weights + self.intercept

    def _parse(self, X_future: pd.DataFrame, history: pd.DataFrame | None) -> tuple:
        # Members share the training data, so the future frame is parsed once, by a member that needs the
        # covariates when any does (its checks are the strictest).
        # (An unknown series still raises in a per-series member's core.)
        base = next((m for m in self.models if m.uses_covariates_), self.models[0])
        return base._future(X_future, history)

    def _points(self, X_future: pd.DataFrame, history: pd.DataFrame | None) -> tuple[np.ndarray, tuple]:
        future = self._parse(X_future, history)
        cache: dict = {}  # calendar and covariate features, built once for the members that share them
        values = [m._point_values(future, cache) for m in self.models]
        return self._combine([np.asarray(v, dtype=float) for v in values]), future

    def predict(self, X_future: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """One point forecast per row of ``X_future`` (see :meth:`ForecastModel.predict`)."""
        return self._points(X_future, history)[0]

    def forecast(self, X_future: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.5, 0.9),
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
        """As :meth:`ForecastModel.forecast`; intervals from the ensemble's own rolling-origin residuals."""
        prediction, future = self._points(X_future, history)
        out, hist = future[2][[ID, DS, "__step__"]].reset_index(drop=True), future[0]  # the rows: series, time, step
        frame = pd.DataFrame({self.settings.time_column_name: out[DS].to_numpy()})
        for c in self.settings.id_columns:
            frame[c] = X_future[c].to_numpy()
        frame["prediction"] = prediction
        if quantiles:
            scale = out[ID].map(hist.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s)))))
            scale = scale.fillna(float(np.nanmedian(scale)) if scale.notna().any() else 1.0).to_numpy()
            for q in quantiles:
                frame[f"q{q:g}"] = frame["prediction"].to_numpy() + self.intervals_.offset(
                    q, out["__step__"].to_numpy()) * scale
        return frame

    def input_schema(self) -> list[dict[str, str]]:
        """The columns a future frame holds (those of the first member; all members share them)."""
        return self.models[0].input_schema()

    def manifest(self) -> dict[str, Any]:
        """As :meth:`ForecastModel.manifest`, with the members and their weights."""
        return {**self.models[0].manifest(), "ensemble": {"kind": self.kind,
                                                         "members": [m.algorithm for m in self.models],
                                                         "weights": self.weights.tolist(), "intercept": self.intercept}}

    def calibrate(self, residuals: pd.DataFrame) -> "ForecastEnsemble":
        from .models import ResidualIntervals

        hist = self.models[0].history_
        scale = hist.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s))))
        scaled = residuals["residual"].to_numpy() / residuals[ID].map(scale).fillna(float(scale.median())).to_numpy()
        self.intervals_ = ResidualIntervals(self.settings.forecast_horizon).fit(residuals["step"].to_numpy(), scaled)
        return self


def primary_score(y: np.ndarray, p: np.ndarray, primary: str) -> float:
    """Just the primary metric (as :func:`forecast_metrics` computes it), for the ensemble selection's many
    evaluations."""
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    span = float(np.max(y) - np.min(y)) or 1.0
    if primary == "normalized_root_mean_squared_error":
        return float(np.sqrt(np.mean((y - p) ** 2)) / span)
    if primary == "normalized_mean_absolute_error":
        return float(np.mean(np.abs(y - p)) / span)
    if primary == "r2_score":
        return float(1 - np.sum((y - p) ** 2) / (np.sum((y - np.mean(y)) ** 2) or 1.0))
    from scipy.stats import spearmanr

    return float(spearmanr(y, p).statistic) if np.std(p) > 0 else 0.0
