"""Forecasting data preparation: one long frame (``unique_id, ds, y`` plus covariates) on a regular grid.

Time parsing, frequency inference, sorting, duplicate timestamps (rejected, or aggregated when
``target_aggregate_function`` is set), gap filling, target imputation, short-series handling, and the
forecasting guardrails. Everything is vectorised over rows; the only per-series work is grouped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..guardrails import ALERTED, DONE, PASSED, _entry
from .settings import ForecastSettings

ID, DS, Y = "unique_id", "ds", "y"
SINGLE_SERIES = "series"
# Below this many points per series a short series is padded or dropped: one horizon to validate on and
# at least as much again to learn from.
MIN_TRAIN_MULTIPLE = 2


@dataclass
class PreparedData:
    """The training data as the models see it, and what preparation did to it."""

    frame: pd.DataFrame
    freq: str
    covariates: list[str]
    series_ids: pd.DataFrame  # one row per series: unique_id and the original id column values
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_series(self) -> int:
        return int(self.frame[ID].nunique())

    def last_timestamps(self) -> pd.Series:
        return self.frame.groupby(ID, sort=False)[DS].max()


def series_key(df: pd.DataFrame, id_columns: list[str]) -> pd.Series:
    """One string key per row naming its series ("2|dominicks" for Store 2, Brand dominicks)."""
    if not id_columns:
        return pd.Series(SINGLE_SERIES, index=df.index, dtype=object)
    missing = [c for c in id_columns if c not in df.columns]
    if missing:
        raise ValueError(f"the data has no series id column {missing[0]!r}; include every column of "
                         f"time_series_id_column_names ({id_columns})")
    key = df[id_columns[0]].astype(str)
    for column in id_columns[1:]:
        key = key + "|" + df[column].astype(str)
    return key.astype(object)


def parse_time(df: pd.DataFrame, column: str) -> pd.Series:
    """The time column as naive datetimes; a clear error when it is missing or does not parse."""
    if column not in df.columns:
        raise ConfigError("forecasting.time_column_name", f"column {column!r} is not in the data; columns are "
                                                          f"{list(df.columns)[:20]}")
    raw = df[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, errors="coerce")
        if parsed.isna().sum() > raw.isna().sum():  # one format inferred from the first value did not fit all
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        example = raw[bad].iloc[0]
        raise ConfigError("forecasting.time_column_name",
                          f"{int(bad.sum())} value(s) of time column {column!r} are missing or not dates "
                          f"(e.g. {example!r}); fix or drop those rows")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed.astype("datetime64[ns]")


def infer_frequency(frame: pd.DataFrame) -> tuple[str, str]:
    """The pandas frequency of a long frame and a sentence saying how it was found.

    ``pd.infer_freq`` on the longest series first; when gaps defeat it, the modal step between consecutive
    timestamps over all series, mapped to a calendar frequency (weekly steps keep their weekday, monthly
    steps their month start or end)."""
    lengths = frame.groupby(ID, sort=False).size()
    longest = frame.loc[frame[ID] == lengths.idxmax(), DS]
    if len(longest) >= 3:
        with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset; either works
            warnings.simplefilter("ignore")
            inferred = pd.infer_freq(pd.DatetimeIndex(longest.sort_values()))
        if inferred is not None:
            return _canonical(inferred), f"inferred {_canonical(inferred)!r} from the timestamps"
    diffs = frame.sort_values([ID, DS])[DS].groupby(frame[ID]).diff().dropna()
    diffs = diffs[diffs > pd.Timedelta(0)]
    if diffs.empty:
        raise ConfigError("forecasting.frequency", "cannot infer the frequency: no series has two distinct "
                                                   "timestamps; set frequency (e.g. 'D', 'h', 'W-MON', 'MS')")
    mode = diffs.mode().iloc[0]
    share = float((diffs == mode).mean())
    days = mode / pd.Timedelta(days=1)
    ds = frame[DS]
    freq = None
    if mode < pd.Timedelta(days=1):
        freq = pd.tseries.frequencies.to_offset(mode).freqstr
    elif days == int(days) and days % 7 and days < 28:
        freq = "D" if days == 1 else f"{int(days)}D"
    elif days % 7 == 0 and days < 28:
        weekday = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"][int(ds.iloc[0].weekday())]
        freq = f"W-{weekday}" if days == 7 else f"{int(days // 7)}W-{weekday}"
    elif 28 <= days <= 31:
        freq = "MS" if (ds.dt.day == 1).all() else "ME" if ds.dt.is_month_end.all() else None
    elif 89 <= days <= 92:
        freq = "QS" if (ds.dt.day == 1).all() else "QE" if ds.dt.is_quarter_end.all() else None
    elif 365 <= days <= 366:
        freq = "YS" if (ds.dt.dayofyear == 1).all() else "YE" if ds.dt.is_year_end.all() else None
    if freq is None or share < 0.5:
        raise ConfigError("forecasting.frequency", f"cannot infer the frequency: the most common step between "
                                                   f"timestamps ({mode}) covers {share:.0%} of them; set frequency "
                                                   "(e.g. 'D', 'h', 'W-MON', 'MS')")
    return _canonical(freq), (f"inferred {_canonical(freq)!r} from the most common step between timestamps "
                              f"({share:.0%} of steps; the others are gaps)")


def _canonical(freq: str) -> str:
    return pd.tseries.frequencies.to_offset(freq).freqstr


def time_grid(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every period of ``freq`` from ``start`` to ``end`` (both on the grid)."""
    return pd.date_range(start, end, freq=freq)


def grid_positions(grid: pd.DatetimeIndex, ds: pd.Series | np.ndarray) -> np.ndarray:
    """Position of each timestamp on the grid, -1 when it is not a grid point."""
    return grid.get_indexer(pd.DatetimeIndex(ds))


def prepare_training(df: pd.DataFrame, target: str, settings: ForecastSettings,
                     weight_column: str | None = None, continues_history: bool = False) -> PreparedData:
    """Training data -> :class:`PreparedData`: parsed, sorted, deduplicated/aggregated, on a regular grid,
    target imputed, short series handled. Raises ConfigError naming the setting to change.

    ``continues_history``: the frame holds newer actuals that extend a fitted model's history (``history=``),
    so a series of a single new period is fine and the length checks of training data do not apply."""
    s = settings
    if target not in df.columns:
        raise ConfigError("target_column_name", f"column {target!r} is not in the training data")
    id_columns = s.id_columns
    frame = pd.DataFrame({ID: series_key(df, id_columns).to_numpy(), DS: parse_time(df, s.time_column_name).to_numpy()})
    y = pd.to_numeric(df[target], errors="coerce")
    if y.isna().sum() > df[target].isna().sum():
        raise ConfigError("target_column_name", f"target column {target!r} is not numeric; forecasting needs "
                                                "numbers")
    frame[Y] = y.astype(float).to_numpy()
    exclude = {target, s.time_column_name, *id_columns, *( [weight_column] if weight_column else [])}
    covariates = [c for c in df.columns if c not in exclude]
    for c in covariates:
        frame[c] = df[c].to_numpy()
    series_ids = _series_ids(df, frame, id_columns)
    report: dict[str, Any] = {"rows_in": int(len(df))}

    frame = frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    freq_reason = None
    if s.frequency is not None:
        freq, freq_reason = _canonical(s.frequency), f"given as {_canonical(s.frequency)!r}"
    else:
        dedup = frame.drop_duplicates([ID, DS])
        freq, freq_reason = infer_frequency(dedup)
    report["frequency"] = {"freq": freq, "reason": freq_reason}

    offset = pd.tseries.frequencies.to_offset(freq)
    # The grid starts at the last period start at or before the first timestamp (a Thursday for W-THU).
    grid = time_grid(offset.rollback(frame[DS].min()), frame[DS].max() + offset, freq)
    pos = grid_positions(grid, frame[DS])
    off_grid = pos < 0
    if off_grid.any():
        if s.target_aggregate_function is None:
            example = frame.loc[off_grid, DS].iloc[0]
            raise ConfigError("forecasting.frequency", f"{int(off_grid.sum())} timestamp(s) are not on the "
                                                       f"{freq!r} grid (e.g. {example}); set frequency to the data's "
                                                       "step, or set target_aggregate_function to aggregate "
                                                       "them into periods")
        # Aggregating to a coarser frequency: each timestamp belongs to the period starting at or before it.
        idx = np.searchsorted(grid.asi8, frame[DS].to_numpy().astype("datetime64[ns]").astype(np.int64),
                              side="right") - 1
        frame[DS] = grid[np.clip(idx, 0, len(grid) - 1)]
        report["snapped_to_grid"] = int(off_grid.sum())

    dup = frame.duplicated([ID, DS], keep=False)
    if dup.any():
        n_dup = int(frame.duplicated([ID, DS]).sum())
        if s.target_aggregate_function is None:
            example = frame.loc[dup].iloc[0]
            where = "" if not id_columns else f" of series {example[ID]!r}"
            raise ConfigError("forecasting.target_aggregate_function",
                              f"{n_dup} duplicate timestamp(s) within a series (e.g. {example[DS]}{where}); "
                              "make the time column unique per series (check time_series_id_column_names) or set "
                              "target_aggregate_function ('sum', 'mean', 'min' or 'max') to aggregate them")
        frame = _aggregate(frame, covariates, s.target_aggregate_function)
        report["aggregated_duplicates"] = n_dup

    frame, filled = _fill_gaps(frame, grid, covariates)
    report["missing_time_points"] = filled
    n_missing = int(frame[Y].isna().sum())
    report["imputed_target"] = n_missing
    if n_missing:
        # Forward fill carries the last known level, as the seed does; a series starting with missing
        # values takes its first observed one.
        frame[Y] = frame.groupby(ID, sort=False)[Y].ffill()
        frame[Y] = frame.groupby(ID, sort=False)[Y].bfill()
        empty = frame[Y].isna()
        if empty.any():
            report["dropped_empty_series"] = sorted(frame.loc[empty, ID].unique().tolist())
            frame = frame.loc[~empty].reset_index(drop=True)
    if frame.empty:
        raise ConfigError("target_column_name", f"target column {target!r} has no values")
    for c in covariates:
        if frame[c].isna().any():
            frame[c] = frame.groupby(ID, sort=False)[c].ffill()
            frame[c] = frame.groupby(ID, sort=False)[c].bfill()

    if continues_history:
        short = {"min_points": 1, "short": 0, "handling": None, "series": []}
    else:
        frame, short = _short_series(frame, s, grid)
    report["short_series"] = short
    series_ids = series_ids[series_ids[ID].isin(frame[ID].unique())].reset_index(drop=True)
    return PreparedData(frame=frame.reset_index(drop=True), freq=freq, covariates=covariates,
                        series_ids=series_ids, report=report)


def _series_ids(df: pd.DataFrame, frame: pd.DataFrame, id_columns: list[str]) -> pd.DataFrame:
    ids = pd.DataFrame({ID: frame[ID].to_numpy()})
    for c in id_columns:
        ids[c] = df[c].to_numpy()
    return ids.drop_duplicates(ID).reset_index(drop=True)


def _aggregate(frame: pd.DataFrame, covariates: list[str], how: str) -> pd.DataFrame:
    agg: dict[str, Any] = {Y: how}
    for c in covariates:
        agg[c] = "mean" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) \
            else "first"
    out = frame.groupby([ID, DS], sort=True, as_index=False).agg(agg)
    return out.sort_values([ID, DS], kind="stable").reset_index(drop=True)


def _fill_gaps(frame: pd.DataFrame, grid: pd.DatetimeIndex, covariates: list[str]) -> tuple[pd.DataFrame, int]:
    """Insert the missing periods between each series' first and last timestamp (target left missing)."""
    pos = grid_positions(grid, frame[DS])
    first = pd.Series(pos).groupby(frame[ID].to_numpy(), sort=False).agg(["min", "max"])
    lengths = (first["max"] - first["min"] + 1).to_numpy()
    if int(lengths.sum()) == len(frame):
        return frame, 0
    ids = np.repeat(first.index.to_numpy(), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    full = pd.DataFrame({ID: ids, DS: grid[np.repeat(first["min"].to_numpy(), lengths) + offsets]})
    out = full.merge(frame, on=[ID, DS], how="left", sort=False)
    return out, int(len(full) - len(frame))


def _short_series(frame: pd.DataFrame, s: ForecastSettings, grid: pd.DatetimeIndex) -> tuple[pd.DataFrame, dict]:
    h = s.forecast_horizon
    lengths = frame.groupby(ID, sort=False).size()
    if lengths.max() <= h:
        raise ConfigError("forecasting.forecast_horizon",
                          f"forecast_horizon {h} is not shorter than the history: the longest series has "
                          f"{int(lengths.max())} periods; use a horizon below {int(lengths.max())} or give more "
                          "history")
    minimum = MIN_TRAIN_MULTIPLE * h + 1
    short = lengths[lengths < minimum]
    info = {"min_points": minimum, "short": int(len(short)), "handling": None, "series": short.index.tolist()[:20]}
    if short.empty:
        return frame, info
    mode = s.short_series_handling_config
    if mode is None:
        return frame, {**info, "handling": "kept"}
    if mode == "auto":
        mode = "drop" if len(short) < len(lengths) else "pad"
    info["handling"] = mode
    if mode == "drop":
        return frame[~frame[ID].isin(short.index)].reset_index(drop=True), info
    # pad: extend each short series backwards on the grid with its own mean (a neutral level that adds no
    # trend and no season), covariates with their first value.
    pos = grid_positions(grid, frame.loc[frame[ID].isin(short.index)].groupby(ID, sort=False)[DS].min())
    need = (minimum - short).to_numpy()
    starts = pos - need
    if (starts < 0).any():
        extra = pd.date_range(end=grid[0], periods=int(-starts.min()) + 1, freq=grid.freq)[:-1]
        grid = extra.append(grid)
        starts = starts + len(extra)
        pos = pos + len(extra)
    ids = np.repeat(short.index.to_numpy(), need)
    offsets = np.arange(int(need.sum())) - np.repeat(np.cumsum(need) - need, need)
    pad = pd.DataFrame({ID: ids, DS: grid[np.repeat(starts, need) + offsets]})
    firsts = frame[frame[ID].isin(short.index)].groupby(ID, sort=False).first()
    means = frame[frame[ID].isin(short.index)].groupby(ID, sort=False)[Y].mean()
    pad[Y] = means.reindex(ids).to_numpy()
    for c in frame.columns:
        if c not in (ID, DS, Y):
            pad[c] = firsts[c].reindex(ids).to_numpy()
    out = pd.concat([pad, frame], ignore_index=True).sort_values([ID, DS], kind="stable")
    return out.reset_index(drop=True), info


def forecasting_guardrails(prepared: PreparedData, settings: ForecastSettings,
                           leakage: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The forecasting guardrails in :mod:`automl_engine.guardrails`' shape (name, status, description,
    parameters): frequency detection, missing time points, target imputation, short series, series count,
    holidays and leakage."""
    r = prepared.report
    out = []
    freq = r["frequency"]
    out.append(_entry("frequency_detection", DONE if settings.frequency is None else PASSED,
                      f"Frequency {freq['freq']!r}: {freq['reason']}.", dict(freq)))
    missing = r.get("missing_time_points", 0)
    out.append(_entry("missing_time_points", DONE if missing else PASSED,
                      f"Filled {missing} missing time point(s) on the {prepared.freq!r} grid." if missing
                      else "No missing time points.", {"filled": missing}))
    imputed = r.get("imputed_target", 0)
    out.append(_entry("target_imputation", DONE if imputed else PASSED,
                      f"Imputed {imputed} missing target value(s) by carrying the last value forward." if imputed
                      else "No missing target values.", {"imputed": imputed}))
    if r.get("aggregated_duplicates"):
        out.append(_entry("target_aggregation", DONE, f"Aggregated {r['aggregated_duplicates']} duplicate "
                          f"timestamp(s) with {settings.target_aggregate_function!r}.",
                          {"aggregated": r["aggregated_duplicates"], "function": settings.target_aggregate_function}))
    short = r.get("short_series", {})
    out.append(_entry("short_series", (ALERTED if short.get("handling") in ("kept", None) else DONE)
                      if short.get("short") else PASSED,
                      f"{short['short']} series shorter than {short['min_points']} periods: {short['handling']}."
                      if short.get("short") else "No short series.", short))
    n = prepared.n_series
    out.append(_entry("series_count", PASSED, f"{n} time series "
                      f"({'one series' if n == 1 else 'global models learn across them'}).",
                      {"n_series": n, "id_columns": settings.id_columns}))
    country = settings.country_or_region_for_holidays
    out.append(_entry("holidays", DONE if country else PASSED,
                      f"Holiday features for {country!r}." if country else
                      "No holiday features (set country_or_region_for_holidays to add them).", {"country": country}))
    leaks = leakage or []
    out.append(_entry("target_leakage", ALERTED if leaks else PASSED,
                      f"{len(leaks)} covariate(s) track the target at the same time point almost exactly; they "
                      "are unlikely to be known at forecast time: drop them or list them in "
                      "features_unknown_at_forecast_time." if leaks else "No covariate reproduces the target.", leaks))
    return out


def leaking_covariates(prepared: PreparedData, settings: ForecastSettings, threshold: float = 0.99
                       ) -> list[dict[str, Any]]:
    """Known covariates whose same-time correlation with the target is >= ``threshold`` (``casual`` and
    ``registered`` add up to the bike-share count)."""
    unknown = set(settings.unknown_features)
    out = []
    f = prepared.frame
    for c in prepared.covariates:
        if c in unknown or not pd.api.types.is_numeric_dtype(f[c]) or f[c].nunique() < 3:
            continue
        corr = f[[c, Y]].astype(float).corr().iloc[0, 1]
        if np.isfinite(corr) and abs(corr) >= threshold:
            out.append({"column": c, "correlation": round(float(corr), 4)})
    return out
