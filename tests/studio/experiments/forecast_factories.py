"""A finished forecasting run and trial whose metrics and chart data come from the engine's own functions
(``automl_engine.forecasting.metrics``) on seasonal-naive forecasts of the real Dominick's orange juice
series, for page and access tests that need a forecasting trial without training one."""
import numpy as np
import pandas as pd
from django.utils import timezone

from studio.experiments.models import Experiment, Run, RunStatus, Trial

HORIZON = 8


def seasonal_naive_windows(frame: pd.DataFrame, origins: int = 3) -> pd.DataFrame:
    """Long frame (unique_id, ds, y, prediction, lower, upper, step, origin) of naive forecasts for the last
    ``origins`` windows of ``HORIZON`` weeks of each series."""
    from automl_engine.forecasting.prep import DS, ID, Y

    out = []
    for sid, g in frame.groupby(ID, sort=True):
        g = g.sort_values(DS).reset_index(drop=True)
        for k in range(origins, 0, -1):
            cut = len(g) - k * HORIZON
            window = g.iloc[cut:cut + HORIZON]
            last = float(g[Y].iloc[cut - 1])
            spread = float(g[Y].iloc[:cut].diff().abs().mean())
            out.append(pd.DataFrame({ID: sid, DS: window[DS].to_numpy(), Y: window[Y].to_numpy(dtype=float),
                                     "prediction": last, "lower": last - spread, "upper": last + spread,
                                     "step": np.arange(1, len(window) + 1), "origin": g[DS].iloc[cut - 1]}))
    return pd.concat(out, ignore_index=True)


def orange_juice_frame(path) -> pd.DataFrame:
    from automl_engine.forecasting.prep import DS, ID, Y

    raw = pd.read_csv(path, parse_dates=["WeekStarting"])
    return pd.DataFrame({ID: raw["Store"].astype(str) + "|" + raw["Brand"], DS: raw["WeekStarting"],
                         Y: raw["Quantity"].astype(float)})


def make_forecast_run(workspace, user, version, path) -> Run:
    """A completed forecasting run of ``version`` with one trial charted on the last 3 windows and test data."""
    from automl_engine.forecasting.metrics import (forecast_charts, forecast_metrics, mase_scales,
                                                   per_horizon_metrics, per_series_metrics)

    frame = orange_juice_frame(path)
    windows = seasonal_naive_windows(frame)
    scales = mase_scales(frame, 52)
    charts = forecast_charts(windows, ["Store", "Brand"])
    charts["per_horizon"] = per_horizon_metrics(windows)
    charts["per_series"] = per_series_metrics(windows, scales)
    test = seasonal_naive_windows(frame, origins=1).assign(origin="test")
    metrics = forecast_metrics(windows, scales)
    experiment, _ = Experiment.objects.get_or_create(workspace=workspace, name="oj-forecast",
                                                     defaults={"created_by": user})
    now = timezone.now()
    config = {"task": "forecasting", "target_column_name": "Quantity",
              "primary_metric": "normalized_root_mean_squared_error",
              "forecasting": {"time_column_name": "WeekStarting", "forecast_horizon": HORIZON,
                              "time_series_id_column_names": ["Store", "Brand"]}}
    run = Run.objects.create(experiment=experiment, workspace=workspace, number=experiment.runs.count() + 1,
                             dataset_version=version, config=config, task="forecasting",
                             primary_metric=config["primary_metric"], greater_is_better=False,
                             status=RunStatus.COMPLETED, created_by=user, started_at=now, finished_at=now)
    trial = Trial.objects.create(
        run=run, number=0, algorithm="SeasonalNaive", pipeline_name="SeasonalNaive (per series)",
        metrics=metrics, score=metrics[run.primary_metric], charts=charts, test_metrics=forecast_metrics(test),
        test_charts=forecast_charts(test), status="completed", duration_seconds=1.5, started_at=now,
        finished_at=now)
    run.best_trial, run.best_score, run.trials_done = trial, trial.score, 1
    run.save(update_fields=["best_trial", "best_score", "trials_done"])
    return run
