"""The forecasting search end to end on real series (small budgets), and many models per partition."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from automl_engine.forecasting.many import ManyModelsForecaster
from automl_engine.forecasting.search import run_forecast_search
from automl_engine.forecasting.settings import make_forecast_settings


def test_search_validates_on_rolling_origins_and_returns_a_fitted_model(beer):
    train, test = beer.iloc[:288], beer.iloc[288:]
    settings = make_forecast_settings(time_column_name="DATE", forecast_horizon=12)
    seen = []
    out = run_forecast_search(train, "BeerProduction", settings, max_trials=4, timeout_seconds=120,
                              test_data=test, on_trial=seen.append)
    trials = out["trials"]
    assert [t.algorithm for t in trials[:4]] == ["SeasonalNaive", "LightGBM", "ExponentialSmoothing", "LightGBM"]
    assert all(t.status == "completed" for t in trials[:4])
    assert [t.number for t in seen] == [t.number for t in trials]
    assert out["validation"]["origins"] == [f"{year}-12-01 00:00:00" for year in range(2010, 2015)]
    names = [g["name"] for g in out["guardrails"]]
    assert names[:3] == ["frequency_detection", "seasonality_detection", "validation_method"]
    assert out["season"] == 12 and out["frequency"] == "MS"
    best = out["best_trial"]
    scores = [t.score for t in trials if t.score is not None]
    assert best.score == min(scores)
    charts = trials[0].charts
    assert len(charts["forecast_vs_actual"]) == 5  # one series x five origins
    assert charts["error_by_horizon"]["step"] == list(range(1, 13))
    fc = out["model"].forecast(test.drop(columns=["BeerProduction"]))
    assert len(fc) == 12 and (fc["q0.9"] >= fc["q0.1"]).all()
    assert set(out["test_metrics"]) >= {"normalized_root_mean_squared_error", "r2_score", "mase", "smape", "mape"}


def test_allowed_algorithms_and_a_trial_killed_at_the_time_limit(beer):
    settings = make_forecast_settings(time_column_name="DATE", forecast_horizon=12)
    out = run_forecast_search(beer, "BeerProduction", settings, allowed=["Naive", "AutoArima"], timeout_seconds=1.5,
                              enable_vote_ensemble=False, enable_stack_ensemble=False)
    statuses = {t.algorithm: t.status for t in out["trials"]}
    assert statuses["Naive"] == "completed"
    assert statuses.get("AutoArima", "timed_out") == "timed_out"  # skipped or killed: never past the budget


def _oj_three_stores(oj_many):
    stores = sorted(oj_many["Store"].unique())[:3]
    return oj_many[oj_many["Store"].isin(stores)]


def test_many_models_one_run_per_partition_in_other_processes(oj_many):
    df = _oj_three_stores(oj_many)
    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                                      time_series_id_column_names=["Store", "Brand"])
    last = df["WeekStarting"] > sorted(df["WeekStarting"].unique())[-7]
    train, test = df[~last], df[last]
    many = ManyModelsForecaster(settings, ["Store"], "Quantity",
                                run_kwargs={"max_trials": 2, "timeout_seconds": 60,
                                            "enable_vote_ensemble": False, "enable_stack_ensemble": False})
    with ProcessPoolExecutor(2) as pool:
        many.fit(train, map_fn=pool.map)
    assert sorted(many.models_) == [str(s) for s in sorted(df["Store"].unique())]
    assert [s["n_trials"] for s in many.summary_] == [2, 2, 2]
    pred = many.predict(test.drop(columns=["Quantity"]))
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    fc = many.forecast(test.drop(columns=["Quantity"]))
    np.testing.assert_allclose(fc["prediction"].to_numpy(), pred)
    other = test.assign(Store=4242)
    with pytest.raises(ValueError, match="partition '4242' was not in the training data"):
        many.predict(other.drop(columns=["Quantity"]))
