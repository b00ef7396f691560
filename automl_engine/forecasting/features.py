"""Forecasting features: seasonality detection, target lags and rolling windows that never look past the
origin, feature lags, calendar and holiday features, STL components.

Target features are computed on a matrix with one row per series, right-aligned in time (NaN before a
series starts): :func:`target_feature_matrix` is the single implementation used both to build the training
rows and, step by step, to forecast recursively, so what a model is trained on is exactly what it sees
when it forecasts.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .prep import DS, ID, Y

# Seasons worth testing per base frequency (periods per cycle), most common first.
SEASON_CANDIDATES = {"h": [24, 168], "min": [60, 1440], "D": [7, 365], "B": [5, 260], "W": [52], "M": [12],
                     "Q": [4], "Y": [1], "s": [60]}
ACF_THRESHOLD = 0.2


def _base(freq: str) -> str:
    code = pd.tseries.frequencies.to_offset(freq).rule_code  # "W-THU" -> "W-THU", "MS" -> "MS", "h" -> "h"
    for prefix in ("min", "h", "D", "B", "W", "M", "Q", "Y", "s"):
        if code.startswith(prefix) or code.lstrip("0123456789").startswith(prefix):
            return prefix
    if code in ("MS", "ME", "BMS", "BME", "SMS"):
        return "M"
    return code


def season_candidates(freq: str) -> list[int]:
    offset = pd.tseries.frequencies.to_offset(freq)
    base = _base(freq)
    cands = SEASON_CANDIDATES.get(base, [1])
    n = getattr(offset, "n", 1) or 1
    return [max(1, c // n) for c in cands] if n > 1 else list(cands)


def detect_seasonality(frame: pd.DataFrame, freq: str, max_series: int = 20) -> tuple[int, str]:
    """The shortest of the frequency's candidate season lengths (periods) whose autocorrelation reaches
    ``ACF_THRESHOLD``, measured on the first difference of up to ``max_series`` of the longest series; 1
    when none does. Returns it with a sentence saying why."""
    cands = season_candidates(freq)
    lengths = frame.groupby(ID, sort=False).size().sort_values(ascending=False)
    best, best_acf = 1, ACF_THRESHOLD
    scores = {}
    for m in cands:
        if m < 2:
            continue
        acfs = []
        for sid in lengths.index[:max_series]:
            y = frame.loc[frame[ID] == sid, Y].to_numpy(dtype=float)
            if len(y) < 2 * m + 2:
                continue
            d = np.diff(y)
            d = d - d.mean()
            denom = float(d @ d)
            if denom > 0:
                acfs.append(float(d[m:] @ d[:-m]) / denom)
        if acfs:
            scores[m] = float(np.mean(acfs))
            # The shortest season that is clearly there wins (hourly load: the day, not the week): longer
            # ones come in through the lags, and the per-series models stay fast.
            if best == 1 and scores[m] > ACF_THRESHOLD:
                best, best_acf = m, scores[m]
    if best == 1:
        return 1, f"no seasonal autocorrelation above {ACF_THRESHOLD} at {cands} periods; no season"
    return best, f"autocorrelation {best_acf:.2f} at {best} periods (candidates {scores})"


# Default lags and rolling windows per base frequency: the recent past, multiples of the season and the
# longer cycle (a week of hours, a year of days). Measured on the dev suite: daily GitHub users went from
# MASE 1.22 with lags 1..7 and 14 to 0.51 with three weeks of daily lags and the season multiples.
AUTO_LAGS = {
    "h": (list(range(1, 25)) + [48, 72, 96, 168, 336], [24, 168]),
    "min": (list(range(1, 25)) + [60, 120, 1440], [60, 1440]),
    "D": (list(range(1, 22)) + [28, 35, 42, 364], [7, 28]),
    "B": (list(range(1, 11)) + [15, 20, 260], [5, 20]),
    "W": (list(range(1, 14)) + [26, 52], [4, 13]),
    "M": (list(range(1, 13)) + [24, 36], [3, 12]),
    "Q": (list(range(1, 9)), [4]),
}


def resolve_target_lags(value: Any, m: int, horizon: int, min_length: int, freq: str | None = None) -> list[int]:
    """Lags for ``target_lags``: None/"auto" -> the frequency's defaults (:data:`AUTO_LAGS`) plus the season
    and its double; int n -> 1..n; list as given. Lags the shortest series cannot provide are dropped."""
    if value is None or value == "auto":
        base = AUTO_LAGS.get(_base(freq), None) if freq else None
        lags = set(base[0]) if base else set(range(1, min(max(m, 7), 24) + 1))
        lags |= {m, 2 * m}
    elif isinstance(value, int):
        lags = set(range(1, value + 1))
    else:
        lags = set(int(v) for v in value)
    return sorted(k for k in lags if 1 <= k < max(2, min_length - 1))


def resolve_windows(value: Any, m: int, min_length: int, freq: str | None = None) -> list[int]:
    """Rolling-mean windows: None/"auto" -> the frequency's defaults and one season, int -> [n], list as given."""
    if value is None or value == "auto":
        base = AUTO_LAGS.get(_base(freq), None) if freq else None
        wins = (set(base[1]) if base else ({7} if m > 7 else set())) | {max(m, 2)}
    elif isinstance(value, int):
        wins = {value}
    else:
        wins = set(int(v) for v in value)
    return sorted(w for w in wins if 2 <= w < max(3, min_length // 2))


def resolve_feature_lags(value: Any) -> list[int]:
    if value is None:
        return []
    if value == "auto":
        return [1]
    if isinstance(value, int):
        return list(range(1, value + 1))
    return sorted(set(int(v) for v in value))


def to_matrix(frame: pd.DataFrame, column: str, width: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A long frame sorted by (unique_id, ds) -> (series ids, matrix right-aligned in time, the row and
    column in the matrix of each frame row). Series shorter than the width are NaN on the left."""
    ids, starts, lengths = _runs(frame[ID].to_numpy())
    width = int(lengths.max()) if width is None else width
    n = len(ids)
    rows = np.repeat(np.arange(n), lengths)
    within = np.arange(len(frame)) - np.repeat(starts, lengths)
    cols = width - np.repeat(lengths, lengths) + within
    matrix = np.full((n, width), np.nan)
    keep = cols >= 0
    matrix[rows[keep], cols[keep]] = frame[column].to_numpy(dtype=float)[keep]
    return ids, matrix, np.stack([rows, cols])


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive runs of equal values (series in a sorted long frame): values, starts, lengths."""
    if len(values) == 0:
        return values, np.array([], dtype=int), np.array([], dtype=int)
    change = np.r_[True, values[1:] != values[:-1]]
    starts = np.flatnonzero(change)
    lengths = np.diff(np.r_[starts, len(values)])
    return values[starts], starts, lengths


def _shift(matrix: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(matrix, np.nan)
    if k < matrix.shape[1]:
        out[:, k:] = matrix[:, :matrix.shape[1] - k]
    return out


def _rolling_mean(matrix: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` values before each column (column t sees t-window..t-1, never t itself);
    NaN where none of them is known."""
    lagged = _shift(matrix, 1)
    valid = ~np.isnan(lagged)
    cs = np.cumsum(np.where(valid, lagged, 0.0), axis=1)
    cn = np.cumsum(valid, axis=1)
    total = cs - _shift_fill0(cs, window)
    count = cn - _shift_fill0(cn, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _shift_fill0(matrix: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(matrix)
    if k < matrix.shape[1]:
        out[:, k:] = matrix[:, :matrix.shape[1] - k]
    return out


def target_feature_matrix(matrix: np.ndarray, lags: Sequence[int], windows: Sequence[int],
                          level_window: int | None) -> dict[str, np.ndarray]:
    """Target features for every cell of a right-aligned (series x time) matrix. A feature in column t uses
    only columns before t (lags >= 1, windows ending at t-1), so the feature at a forecast origin cannot
    see the future. ``level_window``: also the trailing mean used as the level of the differenced target."""
    out = {f"lag_{k}": _shift(matrix, k) for k in lags}
    for w in windows:
        out[f"roll_mean_{w}"] = _rolling_mean(matrix, w)
    if level_window:
        out["level"] = _rolling_mean(matrix, level_window)
    return out


class TargetFeatureSteps:
    """:func:`target_feature_matrix` one column at a time, for the recursive forecast: the features of column
    ``c`` of ``buffer`` once columns ``0..c-1`` hold values, without recomputing every lag and window over the
    whole history at each step (for 99 weekly series that was most of a step's work, not the learner).

    The same numbers bit for bit: the running sums behind the rolling means are extended by one addition
    per column, which is what ``np.cumsum`` does, and a mean is the same difference of two of them."""

    def __init__(self, buffer: np.ndarray, known: int, lags: Sequence[int], windows: Sequence[int],
                 level_window: int | None):
        self.buffer = buffer
        self.lags, self.windows, self.level_window = list(lags), list(windows), level_window
        n, total = buffer.shape
        # Sums and counts of the values before each column (the column itself excluded), as _rolling_mean.
        self.sums = np.zeros((n, total))
        self.counts = np.zeros((n, total), dtype=np.int64)
        if known:
            lagged = _shift(buffer[:, :known], 1)
            valid = ~np.isnan(lagged)
            self.sums[:, :known] = np.cumsum(np.where(valid, lagged, 0.0), axis=1)
            self.counts[:, :known] = np.cumsum(valid, axis=1)
        self.ready = known  # columns whose sums are computed

    def _extend(self, c: int) -> None:
        for t in range(max(self.ready, 1), c + 1):
            before = self.buffer[:, t - 1]
            valid = ~np.isnan(before)
            self.sums[:, t] = self.sums[:, t - 1] + np.where(valid, before, 0.0)
            self.counts[:, t] = self.counts[:, t - 1] + valid
        self.ready = max(self.ready, c + 1)

    def at(self, c: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The features of column ``c`` for ``rows``: a matrix with the lags then the rolling means, in the
        order :func:`target_feature_matrix` names them, and the level (None without a level window)."""
        self._extend(c)
        lags = np.asarray(self.lags, dtype=np.int64)
        out = np.empty((len(rows), len(lags) + len(self.windows)))
        reach = lags <= c
        if reach.all():
            out[:, :len(lags)] = self.buffer[rows[:, None], c - lags]
        else:
            out[:, :len(lags)] = np.nan
            out[:, :len(lags)][:, reach] = self.buffer[rows[:, None], c - lags[reach]]
        spans = np.asarray(self.windows + ([self.level_window] if self.level_window else []), dtype=np.int64)
        if not len(spans):
            return out, None
        # every window at once, each element computed as _rolling_mean computes it
        inside = c >= spans
        start = np.where(inside, c - spans, 0)
        total = self.sums[rows, c][:, None] - np.where(inside, self.sums[rows[:, None], start], 0.0)
        count = self.counts[rows, c][:, None] - np.where(inside, self.counts[rows[:, None], start], 0)
        means = np.where(count > 0, total / np.maximum(count, 1), np.nan)  # divides by 1 or more: no warning
        out[:, len(lags):] = means[:, :len(self.windows)]
        return out, (means[:, -1] if self.level_window else None)


def calendar_columns(ds: pd.Series | pd.DatetimeIndex, freq: str) -> dict[str, np.ndarray]:
    """Calendar parts that vary at this frequency, plus a continuous time in years (for linear trends), as
    name -> values. Computed once per distinct timestamp (a long frame repeats each one per series)."""
    ds = pd.DatetimeIndex(ds)
    codes, uniques = pd.factorize(ds)
    if len(uniques) < len(ds) and (codes >= 0).all():
        return {name: values[codes] for name, values in calendar_columns(pd.DatetimeIndex(uniques), freq).items()}
    base = _base(freq)
    # numpy's calendar units, not the index's fields: each field built an index of its own, and the parts
    # of a few dozen dates took longer than a forecast step. Casting to a coarser unit floors, before 1970 too.
    days = ds.to_numpy().astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    years = days.astype("datetime64[Y]")
    day_of_year = (days - years.astype("datetime64[D]")).astype(np.int64) + 1
    out: dict[str, np.ndarray] = {}
    if base in ("min", "s", "h"):
        out["hour"] = ds.to_numpy().astype("datetime64[h]").view(np.int64) % 24
    if base in ("min", "s", "h", "D", "B"):
        out["dayofweek"] = (days.view(np.int64) + 3) % 7  # Monday 0: 1 January 1970 was a Thursday
        out["dayofmonth"] = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    if base in ("min", "s", "h", "D", "B", "W"):
        out["weekofyear"] = iso_week(ds)
        out["dayofyear"] = day_of_year
    if base not in ("Y",):
        out["month"] = months.view(np.int64) % 12 + 1
    out["year_fraction"] = (years.view(np.int64) + 1970) + (day_of_year - 1) / 366.0
    return out


def iso_week(ds: pd.DatetimeIndex) -> np.ndarray:
    """ISO 8601 week numbers (``ds.isocalendar().week``, which builds a frame of three columns and took 11 ms
    for twenty dates): the week of the Thursday of each date's week, counted from that Thursday's 1 January."""
    days = ds.to_numpy().astype("datetime64[D]")
    weekday = (days.view("int64") + 3) % 7  # Monday 0: 1 January 1970 was a Thursday
    thursday = days - weekday + 3
    january_1 = thursday.astype("datetime64[Y]").astype("datetime64[D]")
    return (thursday - january_1).astype("int64") // 7 + 1


def holiday_features(ds: pd.Series | pd.DatetimeIndex, freq: str, country: str) -> pd.DataFrame:
    """``holiday``: 1 on a public holiday of ``country`` (the ``holidays`` package) for daily and finer
    data; for coarser data the number of holidays in the period starting at the timestamp."""
    import holidays

    ds = pd.DatetimeIndex(ds)
    years = range(int(ds.year.min()) - 1, int(ds.year.max()) + 2)
    dates = pd.DatetimeIndex(sorted(holidays.country_holidays(country, years=years).keys())).astype("datetime64[ns]")
    base = _base(freq)
    if base in ("min", "s", "h", "D", "B"):
        return pd.DataFrame({"holiday": ds.normalize().isin(dates).astype(int)})
    offset = pd.tseries.frequencies.to_offset(freq)
    ends = ds + offset
    values = dates.asi8
    count = np.searchsorted(values, ends.asi8, side="left") - np.searchsorted(values, ds.asi8, side="left")
    return pd.DataFrame({"holiday": count.astype(int)})


def stl_components(frame: pd.DataFrame, m: int, with_trend: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per series, the STL seasonal component over the last season (to repeat into the future) and the last
    trend value: {unique_id: (seasonal of the last m periods, [last trend])}. Series shorter than two
    seasons get zeros."""
    from statsmodels.tsa.seasonal import STL

    out = {}
    for sid, g in frame.groupby(ID, sort=False):  # one STL fit per series: grouped, not per row
        y = g[Y].to_numpy(dtype=float)
        if m < 2 or len(y) < 2 * m + 1:
            out[sid] = (np.zeros(max(m, 1)), np.array([y[-1] if len(y) else 0.0]), np.zeros(len(y)),
                        np.full(len(y), y.mean() if len(y) else 0.0))
            continue
        res = STL(y, period=m, robust=True).fit()
        out[sid] = (res.seasonal[-m:], np.array([res.trend[-1]]), res.seasonal, res.trend)
    return out
