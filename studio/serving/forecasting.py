"""Scoring a forecasting model: ``{"data": [rows of the future frame], "history": [newer actuals]}`` to
``{"predictions", "quantiles", "time", "series"}``.

Future rows hold the time column, the series id columns and the covariates known at forecast time. Every
problem the model would meet is reported up front with its row and column, as for the other tasks: a
missing or unparsable time, a time that is not after the series' last known time or lies beyond the
horizon, a series a per-series model cannot forecast, a missing known covariate. ``history`` (rows of the
training data's shape, target included) moves each series' origin to its newest actual without
retraining.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from studio.serving.runtime import MAX_ERRORS_REPORTED, PayloadError, _summary, _type_name

QUANTILES = (0.1, 0.9)


def is_forecaster(pipeline) -> bool:
    """Whether a loaded model forecasts (``forecast(X_future, quantiles=, history=)``) rather than predicts."""
    return callable(getattr(pipeline, "forecast", None)) and hasattr(_base(pipeline), "last_times_")


def _base(pipeline):
    return pipeline.models[0] if hasattr(pipeline, "models") else pipeline


def _members(pipeline) -> list:
    """The forecasters a prediction runs (an ensemble's members, or the model itself)."""
    return list(pipeline.models) if hasattr(pipeline, "models") else [pipeline]


@dataclass
class ForecastRequest:
    """A checked request: the future frame, the newer actuals (or None) and the quantiles asked for."""

    future: pd.DataFrame
    history: pd.DataFrame | None
    quantiles: tuple[float, ...] = QUANTILES

    def __len__(self) -> int:
        return len(self.future)


class _Errors:
    def __init__(self):
        self.items: list[dict] = []
        self.total = 0

    def sorted(self) -> list[dict]:
        return sorted(self.items, key=lambda e: (e.get("in", ""), e["row"] is None, e["row"] or 0))

    def add(self, row, column, message, where: str = "data"):
        self.total += 1
        if len(self.items) < MAX_ERRORS_REPORTED:
            entry = {"row": row, "column": column, "message": message}
            if where != "data":
                entry["in"] = where
            self.items.append(entry)


def parse_body(body: bytes, pipeline, max_rows: int) -> ForecastRequest:
    """The checked request in a scoring body (see :func:`parse_payload`); ``MalformedBody`` when not JSON."""
    from studio.serving.runtime import MalformedBody, parse_json

    try:
        payload = parse_json(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f'The body is not valid JSON ({exc}); send {{"data": [{{"column": value}}]}}.') from None
    return parse_payload(payload, pipeline, max_rows)


def parse_payload(payload, pipeline, max_rows: int) -> ForecastRequest:
    """Check a parsed body against the model (see the module docstring); raises ``PayloadError`` listing
    every problem by row and column."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise PayloadError('The body must be a JSON object with "data": the future rows to forecast, e.g. '
                           '{"data": [{"time": "2017-08-08T06:00:00"}]}.',
                           [{"row": None, "column": None, "message": 'missing "data"'}])
    unknown = sorted(set(payload) - {"data", "history"})
    if unknown:
        raise PayloadError(f'Unknown field {unknown[0]!r}: a forecast request has "data" and optionally "history".',
                           [{"row": None, "column": None, "message": f"unknown field {unknown[0]!r}"}])
    model = _base(pipeline)
    settings = model.settings
    data, history = payload["data"], payload.get("history")
    _check_rows(data, "data", max_rows)
    if history is not None:
        _check_rows(history, "history", max_rows, allow_empty=True)
    errors = _Errors()
    future = _frame(data, "data", errors)
    hist = _frame(history, "history", errors) if history else None
    time_column, ids = settings.time_column_name, settings.id_columns
    uses_covariates = any(m.uses_covariates_ for m in _members(pipeline))
    required = [time_column, *ids] + (list(model.known_covariates_) if uses_covariates else [])
    for name in required:
        missing = future[name].isna().to_numpy() if name in future else np.ones(len(future), bool)
        what = ("missing time; give each row's timestamp" if name == time_column else
                "missing series id" if name in ids else
                "missing known covariate; give its planned value for every forecast time")
        for i in np.flatnonzero(missing):
            errors.add(int(i), name, what)
    if hist is not None:
        for name in [time_column, *ids, model.target_column_name, *model.covariates_]:
            if name not in hist:
                errors.add(None, name, "missing column in history; history rows have the training data's columns, "
                                       "target included", "history")
    times = _times(future, time_column, errors, "data")
    if hist is not None and time_column in hist:
        _times(hist, time_column, errors, "history")
    if errors.total:
        raise PayloadError(_summary(errors.total, "value"), errors.sorted(), errors.total)
    members = _members(pipeline)
    per_series = [m.algorithm for m in members if m.core_.per_series]
    who = (per_series[0] if len(members) == 1 else f"the ensemble's member {per_series[0]}") if per_series else None
    _check_horizon(future, times, hist, model, errors, per_series_model=who)
    if errors.total:
        raise PayloadError(_summary(errors.total, "row"), errors.sorted(), errors.total)
    return ForecastRequest(future=future, history=hist)


def _check_rows(rows, where: str, max_rows: int, allow_empty: bool = False) -> None:
    if not isinstance(rows, list):
        raise PayloadError(f'"{where}" must be a list of row objects such as [{{"column": value}}], not '
                           f"{_type_name(rows)}")
    if not rows and not allow_empty:
        raise PayloadError(f'"{where}" is empty: send at least one future row')
    if len(rows) > max_rows:
        raise PayloadError(f'{len(rows):,} rows in "{where}" is more than the {max_rows:,} allowed in one request; '
                           "split them or use batch forecasting")
    bad = [i for i, row in enumerate(rows) if type(row) is not dict]
    if bad:
        raise PayloadError(_summary(len(bad), "row"), [
            {"row": i, "column": None, "message": f"each row must be an object of column: value, not "
                                                   f"{_type_name(rows[i])}", **({} if where == "data" else {"in": where})}
            for i in bad[:MAX_ERRORS_REPORTED]], len(bad))


def _frame(rows: list[dict], where: str, errors: _Errors) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


def _times(frame: pd.DataFrame, column: str, errors: _Errors, where: str) -> pd.Series:
    raw = frame[column]
    parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    for i in np.flatnonzero(parsed.isna().to_numpy() & raw.notna().to_numpy()):
        errors.add(int(i), column, f"{raw.iloc[i]!r} is not a date or time; use ISO 8601 such as 2017-08-08T06:00:00",
                   where)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed


def _check_horizon(future: pd.DataFrame, times: pd.Series, hist: pd.DataFrame | None, model, errors: _Errors,
                   per_series_model: str | None):
    """Each row's time must be 1..horizon periods after its series' last time (the history's when given), on
    the model's frequency; a series the model has not seen needs a global model or history."""
    from automl_engine.forecasting.prep import series_key

    settings = model.settings
    keys = series_key(future, settings.id_columns)
    last = model.last_times_.copy()
    if hist is not None and len(hist):
        newer = pd.DataFrame({"key": series_key(hist, settings.id_columns).to_numpy(),
                              "time": pd.to_datetime(hist[settings.time_column_name], format="mixed").to_numpy()})
        last = pd.concat([last, newer.groupby("key")["time"].max()]).groupby(level=0).max()
    origin = keys.map(last)
    offset = pd.tseries.frequencies.to_offset(model.freq_)
    horizon = settings.forecast_horizon
    ids = ", ".join(settings.id_columns) or "series"
    unseen = origin.isna().to_numpy()
    per_series = per_series_model is not None
    if unseen.any() and per_series:
        for i in np.flatnonzero(unseen):
            errors.add(int(i), ids, f"series {keys.iloc[i]!r} was not in the training data and "
                                    f"{per_series_model} forecasts each series from its own history; "
                                    'send its recent actuals in "history" or use a global model')
    origin = origin.fillna(model.last_times_.max())  # a global model forecasts a new series from the common origin
    # Steps after the origin, one grid per distinct origin (series usually share a few).
    steps = np.full(len(future), -1, dtype=np.int64)
    for start in pd.unique(origin):
        rows = np.flatnonzero((origin == start).to_numpy())
        grid = pd.date_range(start, max(times.iloc[rows].max(), start) + offset, freq=offset)
        steps[rows] = grid.get_indexer(pd.DatetimeIndex(times.iloc[rows]))
    for i in np.flatnonzero(~unseen | (not per_series)):
        t, start, step = times.iloc[i], origin.iloc[i], int(steps[i])
        if 1 <= step <= horizon:
            continue
        if t <= start:
            errors.add(int(i), settings.time_column_name,
                       f"{t} is not after the end of series {keys.iloc[i]!r} ({start}); forecasts start one period "
                       'later (send newer actuals in "history" to move the origin)')
        elif step > horizon:
            errors.add(int(i), settings.time_column_name,
                       f"{t} is {step} periods after the end of series {keys.iloc[i]!r} ({start}), beyond the "
                       f"forecast horizon of {horizon}; forecast at most {horizon} periods ahead (or send newer "
                       'actuals in "history")')
        else:
            errors.add(int(i), settings.time_column_name,
                       f"{t} is not on the model's {model.freq_!r} grid; use one of the periods after {start}")


def batch_request(frame: pd.DataFrame, pipeline, offset: int) -> ForecastRequest:
    """A chunk of a batch CSV (rows ``offset + 1`` ...) as a checked request; a ``ValueError`` names the first
    bad rows by their line in the file's data (1-based, header excluded) and column."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    try:
        return parse_payload({"data": records}, pipeline, len(records))
    except PayloadError as exc:
        where = "; ".join(f"row {offset + e['row'] + 1:,}, column {e['column']}: {e['message']}" if e["row"] is not None
                          else f"column {e['column']}: {e['message']}" for e in exc.errors[:3])
        more = f" (and {exc.total - 3:,} more)" if exc.total > 3 else ""
        raise ValueError(f"{where}{more}.") from None


def example_rows(pipeline, periods: int = 1, series: str | None = None) -> list[dict]:
    """Future rows a forecaster accepts: the ``periods`` after the last time of ``series`` (default: the first
    series), with its id values and the covariates of its last known period; JSON-ready values."""
    model = _base(pipeline)
    settings = model.settings
    last = model.last_times_
    key = series if series is not None else str(last.index[0])
    if key not in last.index:
        raise KeyError(key)
    offset = pd.tseries.frequencies.to_offset(model.freq_)
    times = pd.date_range(last[key], periods=periods + 1, freq=offset)[1:]
    ids = model.series_ids_.set_index("unique_id").loc[key] if settings.id_columns else {}
    history = model.history_[model.history_["unique_id"] == key]
    covariates = {c: history[c].iloc[-1] for c in model.known_covariates_ if c in history}
    rows = []
    for t in times:
        row = {settings.time_column_name: t.isoformat()}
        row.update({c: _plain(ids[c]) for c in settings.id_columns})
        row.update({c: _plain(v) for c, v in covariates.items()})
        rows.append(row)
    return rows


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def forecast(pipeline, request: ForecastRequest) -> dict:
    """``{"predictions": [...], "quantiles": {"0.1": [...], "0.9": [...]}, "time": [...], "series": [...]}``,
    one entry per future row in the order sent."""
    from automl_engine.forecasting.prep import series_key

    model = _base(pipeline)
    frame = pipeline.forecast(request.future, quantiles=request.quantiles, history=request.history)
    time_column = model.settings.time_column_name

    def values(column) -> list:
        return [None if not np.isfinite(v) else round(float(v), 6) for v in frame[column].to_numpy(dtype=float)]

    return {"predictions": values("prediction"),
            "quantiles": {f"{q:g}": values(f"q{q:g}") for q in request.quantiles},
            "time": [pd.Timestamp(t).isoformat() for t in frame[time_column]],
            "series": [str(k) for k in series_key(request.future, model.settings.id_columns)]
            if model.settings.id_columns else [None] * len(frame)}
