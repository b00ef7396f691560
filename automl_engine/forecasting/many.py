"""Many models: one forecasting run per partition of the series (a store, a region), trained independently.

The seed's "many models" pattern for datasets with hundreds of series: partitions share nothing, so each
one is a unit of work an executor can send anywhere. :func:`fit_partition` is the top-level, picklable
function for one partition; ``map_fn`` decides where they run (the builtin ``map`` in process, a
``concurrent.futures`` executor's ``map`` across processes, or the studio's Celery workers).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .settings import ForecastSettings


def partition_keys(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One key per row: its partition's values joined with "|"."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the data has no partition column {missing[0]!r}; partition_column_names must be columns "
                         "of the data (usually some of time_series_id_column_names)")
    key = df[columns[0]].astype(str)
    for c in columns[1:]:
        key = key + "|" + df[c].astype(str)
    return key


def fit_partition(task: tuple[str, pd.DataFrame, str, ForecastSettings, dict[str, Any]]) -> tuple[str, Any, dict]:
    """Run the forecasting search on one partition; returns (partition key, best model, summary)."""
    from .search import run_forecast_search

    key, data, target, settings, run_kwargs = task
    out = run_forecast_search(data, target, settings, **run_kwargs)
    best = out["best_trial"]
    return key, out["model"], {"partition": key, "best": best.pipeline_name, "score": best.score,
                               "n_trials": len(out["trials"]), "seconds": round(out["duration_seconds"], 2)}


class ManyModelsForecaster:
    """A forecaster per partition, with the :class:`~automl_engine.forecasting.models.ForecastModel` API:
    rows are routed to their partition's model; a partition not seen in training raises a ValueError."""

    def __init__(self, settings: ForecastSettings, partition_column_names: Sequence[str], target_column_name: str,
                 run_kwargs: dict[str, Any] | None = None):
        self.settings = settings
        self.partition_column_names = list(partition_column_names)
        self.target_column_name = target_column_name
        self.run_kwargs = run_kwargs

    def fit(self, data: pd.DataFrame, map_fn: Callable[..., Iterable] = map) -> "ManyModelsForecaster":
        """Fit every partition of ``data`` (training rows with the target), through ``map_fn``."""
        keys = partition_keys(data, self.partition_column_names)
        kwargs = {"isolate": False, **(self.run_kwargs or {})}
        tasks = [(key, data.loc[idx], self.target_column_name, self.settings, kwargs)
                 for key, idx in keys.groupby(keys, sort=True).groups.items()]
        results = list(map_fn(fit_partition, tasks))
        self.models_ = {key: model for key, model, _ in results}
        self.summary_ = [summary for _, _, summary in results]
        return self

    def _route(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        keys = partition_keys(X, self.partition_column_names)
        unknown = sorted(set(keys) - set(self.models_))
        if unknown:
            raise ValueError(f"partition {unknown[0]!r} was not in the training data; many-models forecasters "
                             "only forecast the partitions they were trained on")
        return {key: np.asarray(idx) for key, idx in keys.groupby(keys, sort=False).indices.items()}

    def predict(self, X_future: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """One point forecast per row, each from its partition's model."""
        out = np.full(len(X_future), np.nan)
        hist_parts = self._split_history(history)
        for key, idx in self._route(X_future).items():
            out[idx] = self.models_[key].predict(X_future.iloc[idx], history=hist_parts.get(key))
        return out

    def forecast(self, X_future: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.5, 0.9),
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
        """As :meth:`ForecastModel.forecast`, in the rows' order."""
        parts = []
        hist_parts = self._split_history(history)
        for key, idx in self._route(X_future).items():
            fc = self.models_[key].forecast(X_future.iloc[idx], quantiles=quantiles, history=hist_parts.get(key))
            parts.append(fc.set_axis(idx))
        return pd.concat(parts).sort_index().reset_index(drop=True)

    def _split_history(self, history: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
        if history is None:
            return {}
        keys = partition_keys(history, self.partition_column_names)
        return {key: history.loc[idx] for key, idx in keys.groupby(keys, sort=False).groups.items()}
