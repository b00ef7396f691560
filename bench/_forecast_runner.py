"""Fit one forecasting system on one dataset and one origin in this process; write its forecasts to a CSV file.

Called by bench/forecast.py with the Python of the system's own virtual environment (one fresh process per
system, dataset and origin, so that wall time and peak memory are measured in isolation), and imported by it
for the data protocol. Module level imports only numpy and pandas, which every benchmark venv has.

Protocol (the manifest's `about`): columns in `drop` are removed; rows are sorted by series and time; per
series the last `horizon` rows are the test window and everything before is training. With ``--window w`` the
test window ends ``w * horizon`` rows before the end (rolling origins). Only the time, the series ids and the
known covariates of the test rows are given to a system. A system forecasts `steps` steps ahead of each
series' training end (`steps` is the horizon, one more where a series has a missing time point inside its test
window, as 5 of the 9 oj_sales series have) and is scored on the test rows' timestamps.

The output CSV has columns ``_series``, the time column and ``prediction`` (the system's forecast), plus one
column per member model for StatsForecast. The last stdout line starting with ``RESULT `` is a JSON object
with the status, fit and predict wall seconds and notes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SERIES = "_series"


# ---------------------------------------------------------------------------------------------- protocol

def load_entry(manifest: Path, name: str) -> dict:
    entries = json.loads(Path(manifest).read_text())["datasets"]
    try:
        return next(e for e in entries if e["name"] == name)
    except StopIteration:
        raise SystemExit(f"dataset {name!r} is not in {manifest}; it has {[e['name'] for e in entries]}") from None


def load_frame(manifest: Path, entry: dict) -> pd.DataFrame:
    """The dataset with `drop` removed, the time column parsed, sorted by series and time, and a `_series` key."""
    df = pd.read_csv(Path(manifest).parent / entry["file"])
    df = df.drop(columns=entry.get("drop") or [])
    time_col, ids = entry["time_column"], entry["series_id_columns"]
    df[time_col] = pd.to_datetime(df[time_col], format=entry.get("time_format"))
    keep = ids + [time_col, entry["target"]] + entry["known_covariates"]
    df = df[keep]
    df[SERIES] = df[ids].astype(str).agg("|".join, axis=1) if ids else "series"
    return df.sort_values([SERIES, time_col], kind="stable").reset_index(drop=True)


def split(df: pd.DataFrame, entry: dict, window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows and test rows of origin `window` (0 = the last `horizon` rows of every series)."""
    h = entry["horizon"]
    from_end = df.groupby(SERIES, sort=False).cumcount(ascending=False)  # 0 for the last row of a series
    test = df[(from_end >= window * h) & (from_end < (window + 1) * h)]
    train = df[from_end >= (window + 1) * h]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def steps_needed(train: pd.DataFrame, test: pd.DataFrame, entry: dict) -> int:
    """Steps from each series' training end to its last test timestamp, the largest over the series."""
    time_col, freq = entry["time_column"], entry["freq"]
    ends = train.groupby(SERIES)[time_col].max()
    lasts = test.groupby(SERIES)[time_col].max()
    return max(len(pd.date_range(ends[s], lasts[s], freq=freq)) - 1 for s in lasts.index)


def regular(series: pd.DataFrame, entry: dict) -> pd.Series:
    """One series' training target on its regular time grid; missing time points and values are NaN."""
    time_col, freq = entry["time_column"], entry["freq"]
    s = series.set_index(time_col)[entry["target"]]
    grid = pd.date_range(s.index.min(), s.index.max(), freq=freq)
    return s.reindex(grid).astype(float)


def filled(y: pd.Series) -> pd.Series:
    """Gaps filled for the systems that need a complete series: linear inside, nearest value at the ends."""
    return y.interpolate(method="linear", limit_area="inside").ffill().bfill()


def future_grid(train: pd.DataFrame, entry: dict, steps: int) -> pd.DataFrame:
    """`_series` and time of the `steps` regular steps after each series' training end."""
    time_col, freq = entry["time_column"], entry["freq"]
    frames = [pd.DataFrame({SERIES: s, time_col: pd.date_range(end, periods=steps + 1, freq=freq)[1:]})
              for s, end in train.groupby(SERIES, sort=False)[time_col].max().items()]
    return pd.concat(frames, ignore_index=True)


def future_covariates(train: pd.DataFrame, test: pd.DataFrame, entry: dict, steps: int) -> pd.DataFrame:
    """Known covariates on the full future grid: the test rows' values; a grid point with no test row (a
    missing week inside the window) or a missing value takes the series' previous known value."""
    time_col, known = entry["time_column"], entry["known_covariates"]
    grid = future_grid(train, entry, steps)
    grid = grid.merge(test[[SERIES, time_col] + known], on=[SERIES, time_col], how="left")
    last = train.groupby(SERIES, sort=False)[known].last()
    grid[known] = grid.groupby(SERIES, sort=False)[known].ffill()
    for col in known:
        grid[col] = grid[col].fillna(grid[SERIES].map(last[col]))
    return grid


# ---------------------------------------------------------------------------------------------- metrics

def mase_scale(y: pd.Series, m: int) -> tuple[float, int]:
    """In-sample MAE of the seasonal naive forecast on the regular grid (pairs with both values present), and
    the lag used: the season m, or 1 where the training series is shorter than one season plus one point."""
    values = y.to_numpy()
    for lag in (m, 1):
        if len(values) > lag:
            diffs = np.abs(values[lag:] - values[:-lag])
            diffs = diffs[~np.isnan(diffs)]
            if len(diffs):
                return float(np.mean(diffs)), lag
    return float("nan"), 0


def score(train: pd.DataFrame, test: pd.DataFrame, forecast: pd.Series, entry: dict) -> dict:
    """MASE, sMAPE (percent) and RMSE / training range per series, averaged over the series (the M4 way).

    `forecast` is aligned with the rows of `test`; test rows with a missing actual value are not scored."""
    target = entry["target"]
    per_series = {"mase": [], "smape": [], "nrmse": []}
    lags = set()
    for key, rows in test.assign(_f=forecast.to_numpy()).groupby(SERIES, sort=False):
        rows = rows[rows[target].notna()]
        if rows.empty:
            continue
        y, f = rows[target].to_numpy(float), rows["_f"].to_numpy(float)
        history = train[train[SERIES] == key]
        scale, lag = mase_scale(regular(history, entry), entry["m"])
        lags.add(lag)
        err = np.abs(y - f)
        per_series["mase"].append(float(np.mean(err)) / scale if scale > 0 else float("nan"))
        denom = np.abs(y) + np.abs(f)
        per_series["smape"].append(float(np.mean(np.where(denom > 0, 200 * err / np.where(denom > 0, denom, 1),
                                                              0.0))))
        span = float(history[target].max() - history[target].min())
        per_series["nrmse"].append(float(np.sqrt(np.mean(err ** 2))) / span if span > 0 else float("nan"))
    out = {k: float(np.nanmean(v)) if v and not np.all(np.isnan(v)) else float("nan")
           for k, v in per_series.items()}
    out["series"] = len(per_series["mase"])
    out["mase_lags"] = sorted(lags)
    return out


# ---------------------------------------------------------------------------------------------- systems

def seasonal_naive_values(y: pd.Series, m: int, steps: int) -> np.ndarray:
    """ŷ(T+k) = y(T+k-m·ceil(k/m)); the last value where the series is shorter than one season."""
    values = filled(y).to_numpy()
    if len(values) < m:
        return np.repeat(values[-1], steps)
    season = values[-m:]
    return np.array([season[(k - 1) % m] for k in range(1, steps + 1)])


def run_snaive(train, test, entry, steps, budget, n_jobs, workdir):
    time_col = entry["time_column"]
    start = time.perf_counter()
    frames = []
    for key, rows in train.groupby(SERIES, sort=False):
        y = regular(rows, entry)
        grid = pd.date_range(y.index[-1], periods=steps + 1, freq=entry["freq"])[1:]
        frames.append(pd.DataFrame({SERIES: key, time_col: grid,
                                    "prediction": seasonal_naive_values(y, entry["m"], steps)}))
    fit = time.perf_counter() - start
    return pd.concat(frames, ignore_index=True), fit, 0.0, {"version": "bench/_forecast_runner.py"}


def run_ours(train, test, entry, steps, budget, n_jobs, workdir):
    sys.path.insert(0, str(ROOT))
    try:
        from automl_engine import forecasting
    except ImportError as exc:
        raise Unavailable(f"automl_engine.forecasting not importable: {exc}"[:120]) from None
    if not callable(forecasting):  # the forecasting package exists but the task's entry point not yet
        raise Unavailable("automl_engine.forecasting is a package without the forecasting(...) entry point yet")
    import automl_engine

    time_col, ids, target = entry["time_column"], entry["series_id_columns"], entry["target"]
    columns = ids + [time_col, target] + entry["known_covariates"]
    job = forecasting(training_data=train[columns], target_column_name=target,
                      primary_metric="normalized_root_mean_squared_error")
    job.set_forecast_settings(time_column_name=time_col, forecast_horizon=steps,
                              time_series_id_column_names=ids or None, frequency=entry["freq"])
    job.set_limits(timeout_minutes=budget / 60.0, max_concurrent_trials=n_jobs)
    # Explanations are a post-hoc artifact the other systems do not compute: not part of the timed fit.
    job.set_training(enable_model_explainability=False)
    start = time.perf_counter()
    result = job.run()
    fit = time.perf_counter() - start
    model = result.best_model
    if model is None:
        raise RuntimeError(f"no trial finished within {budget:g} s ({len(result.trials)} trials)")
    X_future = test[ids + [time_col] + entry["known_covariates"]]
    import joblib

    saved = Path(workdir) / "best_model.pkl"
    joblib.dump(model, saved)  # as the run left it, before any forecast (not timed)
    start = time.perf_counter()
    prediction = np.asarray(model.predict(X_future), dtype=float)
    predict = time.perf_counter() - start
    # AutoGluon-TimeSeries keeps its models on disk (low_memory) and loads them inside predict(); the
    # like-for-like figure for ours is loading the saved model and forecasting.
    start = time.perf_counter()
    again = np.asarray(joblib.load(saved).predict(X_future), dtype=float)
    predict_with_load = time.perf_counter() - start
    if not np.array_equal(again, prediction):
        raise RuntimeError("the saved model forecasts differently from the fitted one")
    out = test[[SERIES, time_col]].assign(prediction=prediction)
    best = getattr(getattr(result, "best_trial", None), "pipeline_name", None)
    members = [getattr(m, "algorithm", type(m).__name__) for m in getattr(model, "models", [model])]
    return out, fit, predict, {"version": getattr(automl_engine, "__version__", "worktree"),
                               "trials": len(result.trials), "best": best, "ensemble_members": members,
                               "predict_with_load": predict_with_load}


SF_MODELS = ("AutoETS", "AutoTheta", "AutoARIMA")


def run_statsforecast(train, test, entry, steps, budget, n_jobs, workdir):
    """AutoETS, AutoTheta and AutoARIMA with season_length=m, each in its own process group, one after the
    other, each with the budget as its own time limit (StatsForecast has no time limit of its own); one still
    running when its limit is reached is killed and reported as not finished. The system's forecast is the
    median of the members that finished."""
    import statsforecast

    data = Path(workdir) / "sf_train.csv"
    sf_frame(train, entry).to_csv(data, index=False)
    members, fit, predict, notes = {}, 0.0, 0.0, {}
    for name in SF_MODELS:
        out = Path(workdir) / f"sf_{name}.csv"
        cmd = [sys.executable, __file__, "--sf-member", name, "--sf-data", str(data), "--out", str(out),
               "--steps", str(steps), "--season", str(entry["m"]), "--freq", entry["freq"], "--n-jobs", str(n_jobs)]
        with open(Path(workdir) / f"sf_{name}.log", "w+") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
            if not wait_member(proc, log, budget):
                kill_group(proc)
                notes[name] = f"timeout: not finished within the {budget:g} s budget"
                continue
            log.seek(0)
            line = next((l for l in reversed(log.read().splitlines()) if l.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            notes[name] = f"failed (exit {proc.returncode}), see log"
            continue
        info = json.loads(line[len("RESULT "):])
        fit += info["fit"]
        predict += info["predict"]
        members[name] = pd.read_csv(out, parse_dates=["ds"])
        notes[name] = f"ok: fit {info['fit']:.1f} s"
    if not members:
        raise RuntimeError("no StatsForecast model finished: " + json.dumps(notes))
    time_col = entry["time_column"]
    merged = None
    for name, frame in members.items():
        frame = frame.rename(columns={"unique_id": SERIES, "ds": time_col})[[SERIES, time_col, name]]
        merged = frame if merged is None else merged.merge(frame, on=[SERIES, time_col], how="outer")
    merged["prediction"] = merged[list(members)].median(axis=1)
    for name in SF_MODELS:
        if name not in merged:
            merged[name] = np.nan
    merged[SERIES] = merged[SERIES].astype(str)
    return merged, fit, predict, {"version": statsforecast.__version__, "members": notes,
                                  "finished": list(members)}


def wait_member(proc: subprocess.Popen, log, budget: float, startup_limit: float = 300) -> bool:
    """Wait for a member process; its budget starts when it prints READY (imports done), as AutoGluon's
    time_limit starts at fit(), so a busy machine's slow interpreter start does not count as model time.
    False if it is still running when the budget is spent."""
    started = time.monotonic()
    ready_at = None
    while proc.poll() is None:
        now = time.monotonic()
        if ready_at is None:
            log.seek(0)
            if "READY" in log.read():
                ready_at = now
            elif now - started > startup_limit:
                return False
        elif now - ready_at > budget:
            return False
        time.sleep(0.1)
    return True


def sf_frame(train: pd.DataFrame, entry: dict) -> pd.DataFrame:
    """unique_id, ds, y on each series' regular grid with gaps filled (StatsForecast needs complete series)."""
    frames = []
    for key, rows in train.groupby(SERIES, sort=False):
        y = filled(regular(rows, entry))
        frames.append(pd.DataFrame({"unique_id": key, "ds": y.index, "y": y.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def sf_member(args) -> None:
    """Fit and predict one StatsForecast model (run in a process of its own by run_statsforecast)."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf_models

    df = pd.read_csv(args.sf_data, parse_dates=["ds"])
    df["unique_id"] = df["unique_id"].astype(str)
    model = getattr(sf_models, args.sf_member)(season_length=args.season)
    sf = StatsForecast(models=[model], freq=args.freq, n_jobs=args.n_jobs if df["unique_id"].nunique() > 1 else 1)
    print("READY", flush=True)
    start = time.perf_counter()
    sf.fit(df)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    out = sf.predict(h=args.steps)
    predict = time.perf_counter() - start
    out = out.reset_index() if "unique_id" not in out.columns else out
    out[["unique_id", "ds", args.sf_member]].to_csv(args.out, index=False)
    print("RESULT " + json.dumps({"fit": fit, "predict": predict}), flush=True)


# medium_quality is AutoGluon 1.6.3's "light" hyperparameter preset: SeasonalNaive, ETS, Theta,
# RecursiveTabular, DirectTabular, Chronos2 (autogluon/chronos-2-small) and Toto2 (Toto-2.0-4m). The last two
# load pretrained weights from the Hugging Face hub, which this machine cannot reach: excluded.
AG_PRETRAINED = ["Chronos", "Chronos2", "Toto", "Toto2"]


def run_autogluon(train, test, entry, steps, budget, n_jobs, workdir):
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor
    from autogluon.timeseries.version import __version__ as version

    time_col, target, ids = entry["time_column"], entry["target"], entry["series_id_columns"]
    known, static_cols = static_split(train, test, entry)
    data = train[[SERIES, time_col, target] + known].rename(columns={SERIES: "item_id", time_col: "timestamp"})
    static = None
    if len(ids) and train[SERIES].nunique() > 1:
        static = train.groupby(SERIES, sort=False)[ids + static_cols].first()
        static[ids] = static[ids].astype(str).astype("category")  # ids as categorical static features
        static.index.name = "item_id"
    tsdf = TimeSeriesDataFrame.from_data_frame(data, id_column="item_id", timestamp_column="timestamp",
                                               static_features_df=static.reset_index() if static is not None
                                               else None)
    future = None
    if known:
        grid = future_covariates(train, test, entry, steps)[[SERIES, time_col] + known]
        future = TimeSeriesDataFrame.from_data_frame(grid.rename(columns={SERIES: "item_id", time_col: "timestamp"}),
                                                     id_column="item_id", timestamp_column="timestamp")
    predictor = TimeSeriesPredictor(prediction_length=steps, target=target, freq=entry["freq"],
                                    known_covariates_names=known or None,
                                    eval_metric="MASE", eval_metric_seasonal_period=entry["m"],
                                    path=str(Path(workdir) / "ag"), verbosity=0)
    start = time.perf_counter()
    predictor.fit(tsdf, presets="medium_quality", time_limit=budget, excluded_model_types=AG_PRETRAINED,
                  random_seed=0)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    forecast = predictor.predict(tsdf, known_covariates=future)
    predict = time.perf_counter() - start
    out = forecast["mean"].reset_index().rename(columns={"item_id": SERIES, "timestamp": time_col,
                                                         "mean": "prediction"})
    board = predictor.leaderboard(silent=True)
    return out, fit, predict, {"version": version,
                               "best": predictor.model_best, "models": list(board["model"]),
                               "static_features": static_cols + (ids if static is not None else [])}


def static_split(train: pd.DataFrame, test: pd.DataFrame, entry: dict) -> tuple[list, list]:
    """Known covariates split into time-varying ones and static ones (constant within every series, with
    several series: oj_sales' store demographics), which AutoGluon takes as static features."""
    known = list(entry["known_covariates"])
    if train[SERIES].nunique() < 2:
        return known, []
    both = pd.concat([train, test])
    static = [c for c in known if (both.groupby(SERIES)[c].nunique(dropna=False) == 1).all()]
    return [c for c in known if c not in static], static


class Unavailable(Exception):
    """The system is not installed or its API does not exist yet: reported as a row, not a crash."""


SYSTEMS = {"snaive": run_snaive, "ours": run_ours, "statsforecast": run_statsforecast, "autogluon": run_autogluon}


def kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--dataset")
    parser.add_argument("--system", choices=sorted(SYSTEMS))
    parser.add_argument("--window", type=int, default=0)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    # a StatsForecast member run in its own process by run_statsforecast
    parser.add_argument("--sf-member")
    parser.add_argument("--sf-data")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--season", type=int)
    parser.add_argument("--freq")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.sf_member:
        sf_member(args)
        return
    entry = load_entry(args.manifest, args.dataset)
    train, test = split(load_frame(args.manifest, entry), entry, args.window)
    steps = steps_needed(train, test, entry)
    status, fit, predict, info = "ok", float("nan"), float("nan"), {}
    with tempfile.TemporaryDirectory(prefix=f"forecast-{args.system}-") as workdir:
        try:
            out, fit, predict, info = SYSTEMS[args.system](train, test, entry, steps, args.budget, args.n_jobs,
                                                           workdir)
            out.to_csv(args.out, index=False)
        except Unavailable as exc:
            status, info = "not available", {"error": str(exc)}
        except Exception as exc:  # any failure of a system is a row of the table, with its reason
            traceback.print_exc()
            status, info = "error", {"error": f"{type(exc).__name__}: {exc}"[:500]}
    print("RESULT " + json.dumps({"status": status, "fit": fit, "predict": predict, "steps": steps, **info},
                                 default=str), flush=True)


if __name__ == "__main__":
    main()
