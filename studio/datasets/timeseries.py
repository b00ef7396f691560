"""A dataset version read as time series: the columns that can play each role, a summary of the series
(frequency, lengths, gaps, duplicate timestamps, span) and the points of a few chosen series for a chart.

Only the columns a question needs are read from the version's Parquet copy (the time column, the series id
columns and, for a chart, the target), and only the chosen series are sent to the browser, so the page
stays quick on a dataset of a thousand series.

Series are held in long format (one row per series and timestamp); every per-series figure is a grouped,
vectorised operation, never a Python loop over rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from studio.datasets.models import ColumnType, DatasetVersion

# Joins the values of several series id columns into one readable series name ("2 · dominicks").
KEY_SEPARATOR = " · "
# A series longer than this is drawn from the minimum and maximum of equal buckets (peaks survive).
MAX_POINTS_PER_SERIES = 5000
MAX_SERIES_PER_CHART = 12
# Series id columns are categories; a column with this many distinct values per row is an id of rows.
ID_KINDS = (ColumnType.CATEGORICAL, ColumnType.ID, ColumnType.TEXT, ColumnType.NUMERIC)


class TimeSeriesError(ValueError):
    """A choice of columns that cannot be read as time series; ``field`` names the form field to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SeriesColumns:
    """The roles chosen for a version's columns: one time column, zero or more series id columns, a target."""

    time_column: str
    id_columns: tuple[str, ...] = ()
    target: str | None = None


def column_roles(version: DatasetVersion) -> dict[str, list[str]]:
    """Columns that can be the time column (date/time as detected or set in the schema), series ids
    (categories, ids and integer-like numbers with repeats) and the target (numbers)."""
    columns = version.included_columns()
    return {
        "time": [c["name"] for c in columns if c["type"] == ColumnType.DATETIME],
        "id": [c["name"] for c in columns if c["type"] in ID_KINDS and c["type"] != ColumnType.DATETIME
               and (c["type"] != ColumnType.NUMERIC or (c.get("physical") == "integer"
                                                        and (c.get("distinct") or 0) * 2 <= version.n_rows))
               and 0 < (c.get("distinct") or 0) < max(2, version.n_rows)],
        "target": [c["name"] for c in columns if c["type"] == ColumnType.NUMERIC],
    }


def check_columns(version: DatasetVersion, chosen: SeriesColumns) -> SeriesColumns:
    """The chosen roles, checked against the version's columns; raises :class:`TimeSeriesError`."""
    roles = column_roles(version)
    if not roles["time"]:
        raise TimeSeriesError("time", "This version has no date/time column. Set a column's type to Date/time in "
                                      "the Schema tab, or upload data with a column of timestamps.")
    if chosen.time_column not in roles["time"]:
        raise TimeSeriesError("time", f"{chosen.time_column!r} is not a date/time column of this version; choose "
                                      f"one of {', '.join(roles['time'])}.")
    for column in chosen.id_columns:
        if column == chosen.time_column or column == chosen.target:
            raise TimeSeriesError("ids", f"{column!r} is the time or target column; series ids are other columns.")
        if column not in roles["id"]:
            raise TimeSeriesError("ids", f"{column!r} cannot identify series; choose among "
                                         f"{', '.join(roles['id']) or 'none (no category columns)'}.")
    if chosen.target is not None and chosen.target not in roles["target"]:
        raise TimeSeriesError("target", f"{chosen.target!r} is not a numeric column; choose one of "
                                        f"{', '.join(roles['target']) or 'none'}.")
    return chosen


def _read(version: DatasetVersion, names: list[str]) -> pd.DataFrame:
    from studio.storage import open_file as _open

    with _open(version.parquet_file.name) as f:
        return pq.read_table(f, columns=list(dict.fromkeys(names))).to_pandas()


def read_columns(version: DatasetVersion, names: list[str]) -> pd.DataFrame:
    """Only ``names`` of a version, typed as the studio's schema says (dates as datetimes, numbers as numbers,
    categories as strings): what a forecasting check needs, without loading the rest of the table."""
    from studio.datasets.services import _as_type

    columns = {c["name"]: c for c in version.columns}
    frame = _read(version, names)
    for name in frame.columns:
        column = columns[name]
        if column["type"] == ColumnType.DATETIME:
            frame[name] = _as_time(frame[name], column)
        elif column["type"] != column.get("detected_type") or column["type"] in (ColumnType.CATEGORICAL,
                                                                                 ColumnType.BOOLEAN):
            frame[name] = _as_type(frame[name], column["type"])
    return frame


def _as_time(values: pd.Series, column: dict) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
    if column.get("date_format"):
        return pd.to_datetime(values, format=column["date_format"], errors="coerce")
    return pd.to_datetime(values, errors="coerce", format="mixed")


def series_keys(frame: pd.DataFrame, id_columns) -> pd.Series:
    """One readable name per row for the series it belongs to ("all rows" when there are no id columns)."""
    if not id_columns:
        return pd.Series("all rows", index=frame.index, dtype=object)
    parts = [frame[c].astype(object).map(_label) for c in id_columns]
    key = parts[0]
    for part in parts[1:]:
        key = key + KEY_SEPARATOR + part
    return key


def _label(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "(missing)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _frame(version: DatasetVersion, chosen: SeriesColumns, with_target: bool) -> tuple[pd.DataFrame, int]:
    """Columns ``series``, ``time`` (and ``value``), rows with a missing or unreadable time dropped; also how many
    were dropped."""
    columns = {c["name"]: c for c in version.columns}
    names = [chosen.time_column, *chosen.id_columns] + ([chosen.target] if with_target and chosen.target else [])
    raw = _read(version, names)
    frame = pd.DataFrame({"series": series_keys(raw, chosen.id_columns),
                          "time": _as_time(raw[chosen.time_column], columns[chosen.time_column])})
    if with_target and chosen.target:
        frame["value"] = pd.to_numeric(raw[chosen.target], errors="coerce")
    missing = int(frame["time"].isna().sum())
    if missing:
        frame = frame[frame["time"].notna()]
    return frame, missing


# --- Frequency ---------------------------------------------------------------------------------------------

_NAMES = {"s": "secondly", "min": "minutely", "h": "hourly", "D": "daily", "B": "business daily",
          "W": "weekly", "MS": "monthly (month start)", "ME": "monthly (month end)", "M": "monthly",
          "QS": "quarterly (quarter start)", "QE": "quarterly (quarter end)",
          "YS": "yearly (year start)", "YE": "yearly (year end)"}
_WEEKDAYS = {"MON": "Mondays", "TUE": "Tuesdays", "WED": "Wednesdays", "THU": "Thursdays", "FRI": "Fridays",
             "SAT": "Saturdays", "SUN": "Sundays"}


@dataclass(frozen=True)
class Frequency:
    """The spacing of the timestamps: a pandas offset alias (``"h"``, ``"W-THU"``) and words for people."""

    alias: str | None
    label: str
    note: str = ""


def describe_frequency(alias: str | None) -> str:
    """Words for a pandas offset alias: ``"h"`` is hourly, ``"W-THU"`` weekly (Thursdays), ``"15min"``
    every 15 minutes."""
    if not alias:
        return "not regular"
    offset = pd.tseries.frequencies.to_offset(alias)
    base = offset.rule_code.split("-")[0]
    anchor = offset.rule_code.split("-")[1] if "-" in offset.rule_code else ""
    words = _NAMES.get(base, base)
    if offset.n != 1:
        unit = {"s": "seconds", "min": "minutes", "h": "hours", "D": "days", "W": "weeks", "MS": "months",
                "ME": "months", "QS": "quarters", "QE": "quarters", "YS": "years", "YE": "years"}.get(base, base)
        words = f"every {offset.n} {unit}"
    if anchor and base == "W":
        words += f" ({_WEEKDAYS.get(anchor, anchor)})"
    return words


def infer_frequency(frame: pd.DataFrame) -> Frequency:
    """The frequency of long-format series (columns ``series`` and ``time``), inferred by the engine exactly
    as a forecasting run will infer it, so that the page and the run agree."""
    from automl_engine.config import ConfigError
    from automl_engine.forecasting.prep import DS, ID
    from automl_engine.forecasting.prep import infer_frequency as engine_infer_frequency

    long = frame[["series", "time"]].drop_duplicates().rename(columns={"series": ID, "time": DS})
    try:
        alias, how = engine_infer_frequency(long)
    except ConfigError as exc:
        return Frequency(None, "not regular", _sentence(exc.message))
    return Frequency(alias, describe_frequency(alias), _sentence(how))


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# --- Summary -----------------------------------------------------------------------------------------------


def summarize(version: DatasetVersion, chosen: SeriesColumns) -> dict:
    """Frequency, series count, length per series (min/median/max), gaps, duplicate timestamps, first and last
    time, and one entry per series (name, length, first, last, missing points) for the series picker."""
    chosen = check_columns(version, chosen)
    frame, unreadable = _frame(version, chosen, with_target=False)
    if frame.empty:
        raise TimeSeriesError("time", f"No row of {chosen.time_column!r} holds a readable date or time.")
    frequency = infer_frequency(frame)
    duplicated = frame.duplicated(["series", "time"])
    grouped = frame[~duplicated].groupby("series", sort=True)["time"]
    per = pd.DataFrame({"length": grouped.size(), "first": grouped.min(), "last": grouped.max()})
    per["missing"] = _missing_points(per, frequency.alias)
    per["duplicates"] = frame[duplicated].groupby("series").size().reindex(per.index, fill_value=0)
    lengths = per["length"].to_numpy()
    return {
        "frequency": frequency.alias, "frequency_label": frequency.label, "frequency_note": frequency.note,
        "series_count": int(len(per)), "rows": int(len(frame) + unreadable), "unreadable_times": unreadable,
        "length_min": int(lengths.min()), "length_median": float(np.median(lengths)),
        "length_max": int(lengths.max()),
        "first_time": per["first"].min().isoformat(), "last_time": per["last"].max().isoformat(),
        "span_label": f"{_when(per['first'].min())} → {_when(per['last'].max())}",
        "duplicate_timestamps": int(duplicated.sum()), "series_with_duplicates": int((per["duplicates"] > 0).sum()),
        "missing_points": int(per["missing"].sum()), "series_with_gaps": int((per["missing"] > 0).sum()),
        "aligned": bool(per["first"].nunique() == 1 and per["last"].nunique() == 1),
        "series": [{"key": str(key), "length": int(row.length), "first": row.first.isoformat(),
                    "last": row.last.isoformat(), "missing": int(row.missing), "duplicates": int(row.duplicates)}
                   for key, row in per.iterrows()],
    }


def _when(moment: pd.Timestamp) -> str:
    """A timestamp for people: the date alone at midnight, else to the minute (or second when it has them)."""
    if moment == moment.normalize():
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M" if moment.second == 0 else "%Y-%m-%d %H:%M:%S")


def _missing_points(per: pd.DataFrame, alias: str | None) -> pd.Series:
    """Timestamps absent between each series' first and last time at the frequency (0 when it is unknown)."""
    if not alias:
        return pd.Series(0, index=per.index)
    offset = pd.tseries.frequencies.to_offset(alias)
    try:
        step = pd.Timedelta(offset)  # fixed steps (hours, days): one vectorised division
        expected = ((per["last"] - per["first"]) // step).astype("int64") + 1
    except ValueError:  # calendar steps (months, anchored weeks) differ in length: count them per series
        expected = pd.Series([len(pd.date_range(a, b, freq=offset)) for a, b in zip(per["first"], per["last"])],
                             index=per.index)
    return (expected - per["length"]).clip(lower=0)


# --- Points for the chart ----------------------------------------------------------------------------------


def series_points(version: DatasetVersion, chosen: SeriesColumns, keys: list[str]) -> list[dict]:
    """The target over time of each chosen series (at most ``MAX_SERIES_PER_CHART``), sorted by time, a long
    series drawn from the minimum and maximum of equal buckets; one entry ``{"key", "time", "value",
    "points", "shown"}`` per series found."""
    chosen = check_columns(version, chosen)
    if not chosen.target:
        raise TimeSeriesError("target", "Choose the numeric column to draw.")
    if len(keys) > MAX_SERIES_PER_CHART:
        raise TimeSeriesError("series", f"{len(keys)} series chosen; draw at most {MAX_SERIES_PER_CHART} at once.")
    frame, _ = _frame(version, chosen, with_target=True)
    if not chosen.id_columns:
        keys = ["all rows"]
    frame = frame[frame["series"].isin(keys)].sort_values(["series", "time"], kind="stable")
    out = []
    for key, part in frame.groupby("series", sort=False):
        shown = _downsample(part)
        out.append({"key": str(key), "points": int(len(part)), "shown": int(len(shown)),
                    "time": [t.isoformat() for t in shown["time"]],
                    "value": [None if v != v else float(v) for v in shown["value"].to_numpy()]})
    order = {k: i for i, k in enumerate(keys)}
    return sorted(out, key=lambda s: order.get(s["key"], len(order)))


def _downsample(part: pd.DataFrame) -> pd.DataFrame:
    n = len(part)
    if n <= MAX_POINTS_PER_SERIES:
        return part
    buckets = np.arange(n) * (MAX_POINTS_PER_SERIES // 2) // n
    values = part["value"].fillna(part["value"].mean()).to_numpy()
    positions = pd.DataFrame({"bucket": buckets, "value": values, "row": np.arange(n)})
    lowest = positions.loc[positions.groupby("bucket")["value"].idxmin(), "row"]
    highest = positions.loc[positions.groupby("bucket")["value"].idxmax(), "row"]
    rows = np.unique(np.concatenate([[0, n - 1], lowest.to_numpy(), highest.to_numpy()]))
    return part.iloc[rows]
