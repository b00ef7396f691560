"""Chart data of forecasts: every series of a dataset of hundreds, the worst ones above that."""
from __future__ import annotations

import numpy as np
import pandas as pd

from automl_engine.forecasting import metrics
from automl_engine.forecasting.prep import DS, ID, Y


def _result(n_series: int, n_origins: int = 5, horizon: int = 2) -> pd.DataFrame:
    rows = []
    for s in range(n_series):
        for o in range(n_origins):
            for h in range(horizon):
                # series s is off by s: the higher the number, the worse its forecast
                rows.append({ID: f"s{s:03d}", "origin": pd.Timestamp("2020-01-01") + pd.Timedelta(weeks=o),
                             DS: pd.Timestamp("2020-01-01") + pd.Timedelta(weeks=o, days=h + 1),
                             Y: 10.0, "prediction": 10.0 + s, "step": h + 1})
    return pd.DataFrame(rows)


def test_charts_keep_every_series_and_origin_of_a_dataset_of_hundreds():
    charts = metrics.forecast_charts(_result(99))
    kept = charts["forecast_vs_actual"]
    assert len(kept) == 99 * 5
    assert {e["series"] for e in kept} == {f"s{s:03d}" for s in range(99)}


def test_charts_above_the_limit_keep_the_series_with_the_largest_errors(monkeypatch):
    monkeypatch.setattr(metrics, "MAX_CHART_SERIES", 10)
    kept = metrics.forecast_charts(_result(30, n_origins=2))["forecast_vs_actual"]
    assert sorted({e["series"] for e in kept}) == [f"s{s:03d}" for s in range(20, 30)]
    assert len(kept) == 10 * 2
    assert np.isclose(kept[0]["forecast"][0] - kept[0]["actual"][0], int(kept[0]["series"][1:]))
