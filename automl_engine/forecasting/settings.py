"""Forecast settings: the SDK v2 ``set_forecast_settings`` names, frozen and JSON-serialisable.

Every check raises :class:`automl_engine.config.ConfigError` with a setting name of the form
``"forecasting.<name>"`` so that a form can show the message next to the field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import ConfigError

SHORT_SERIES_HANDLING = ("auto", "pad", "drop")
AGGREGATE_FUNCTIONS = ("sum", "mean", "min", "max")
USE_STL = (None, "season", "season_trend")
# Settings of the seed that select a deep-learning forecaster; the engine has none (TCNForecaster is out of
# scope), so asking for them is an error rather than a silently ignored flag.
UNSUPPORTED = {"enable_dnn_training": "TCNForecaster and other deep-learning forecasters are not part of this "
                                      "engine; remove enable_dnn_training (the statistical models, Prophet and "
                                      "the gradient-boosted global models are searched instead)"}


def _tuple_or_none(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _lags(value: Any) -> Any:
    """None, "auto", an int or a list of ints, with lists stored as sorted tuples."""
    if value is None or isinstance(value, str) or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    return tuple(value)


@dataclass(frozen=True)
class ForecastSettings:
    """What a forecasting job knows about time (Azure ``set_forecast_settings``).

    ``target_lags``/``target_rolling_window_size``: ``None`` or ``"auto"`` let the engine choose from the
    seasonality (lags 1..m plus the season multiples, a rolling window of one season), an int ``n`` means
    lags ``1..n`` (or one window of ``n``), a list gives them exactly; an empty list turns them off. Unlike
    the seed, where ``None`` turns lags off, the engine's global learners always forecast from lags unless
    told ``[]``: without them a tree model cannot follow the level of a series. ``feature_lags``: ``None``
    none, ``"auto"`` lags 1 of every numeric covariate, an int or list as for the target.
    ``features_unknown_at_forecast_time``: covariates not known in the future; they enter only lagged by at
    least the horizon, never at the forecast time itself.
    """

    time_column_name: str
    forecast_horizon: int = 1
    time_series_id_column_names: tuple[str, ...] | None = None
    frequency: str | None = None
    target_lags: Any = None
    feature_lags: Any = None
    target_rolling_window_size: Any = None
    seasonality: Any = "auto"
    use_stl: str | None = None
    short_series_handling_config: str | None = "auto"
    target_aggregate_function: str | None = None
    country_or_region_for_holidays: str | None = None
    cv_step_size: Any = "auto"
    features_unknown_at_forecast_time: tuple[str, ...] | None = None

    @property
    def id_columns(self) -> list[str]:
        return list(self.time_series_id_column_names or ())

    @property
    def unknown_features(self) -> list[str]:
        return list(self.features_unknown_at_forecast_time or ())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples as lists); :meth:`from_dict` inverts it."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ForecastSettings":
        """Build validated settings from :meth:`to_dict` output or a CLI v2 ``forecasting:`` block."""
        return make_forecast_settings(**dict(data))


def make_forecast_settings(**kwargs: Any) -> ForecastSettings:
    """Validated :class:`ForecastSettings` from keyword arguments (unknown names rejected)."""
    for name, message in UNSUPPORTED.items():
        if kwargs.pop(name, None):
            raise ConfigError(f"forecasting.{name}", message)
    known = {f.name for f in dataclasses.fields(ForecastSettings)}
    for key in kwargs:
        if key not in known:
            raise ConfigError(f"forecasting.{key}", f"unknown forecast setting; known: {sorted(known)}")
    if not kwargs.get("time_column_name"):
        raise ConfigError("forecasting.time_column_name", "time_column_name is required: the column holding "
                                                          "each row's timestamp")
    for key in ("time_series_id_column_names", "features_unknown_at_forecast_time"):
        if key in kwargs:
            kwargs[key] = _tuple_or_none(kwargs[key])
    for key in ("target_lags", "feature_lags", "target_rolling_window_size"):
        if key in kwargs:
            kwargs[key] = _lags(kwargs[key])
    settings = ForecastSettings(**kwargs)
    validate_forecast_settings(settings)
    return settings


def _check_lags(name: str, value: Any) -> None:
    setting = f"forecasting.{name}"
    if value is None or value == "auto":
        return
    if isinstance(value, str):
        raise ConfigError(setting, f"unknown value {value!r}; use None, 'auto', an integer or a list of integers")
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else list(value)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(setting, f"{v!r} is not a positive integer; give lags as integers of at least 1")


def validate_forecast_settings(s: ForecastSettings, columns: Sequence[str] | None = None,
                               target_column_name: str | None = None) -> None:
    """Check the settings against themselves and, when given, the training data's columns."""
    h = s.forecast_horizon
    if isinstance(h, bool) or not isinstance(h, int) or h < 1:
        raise ConfigError("forecasting.forecast_horizon", f"{h!r} is not a positive integer; give the number of "
                                                          "periods to forecast (e.g. 48 for two days of hours)")
    for name in ("target_lags", "feature_lags", "target_rolling_window_size"):
        _check_lags(name, getattr(s, name))
    if s.seasonality != "auto" and (isinstance(s.seasonality, bool) or not isinstance(s.seasonality, int)
                                    or s.seasonality < 1):
        raise ConfigError("forecasting.seasonality", f"{s.seasonality!r}: use 'auto' or a positive integer "
                                                     "(periods per season, e.g. 24 for hourly data with a daily cycle)")
    if s.use_stl not in USE_STL:
        raise ConfigError("forecasting.use_stl", f"{s.use_stl!r}: use None, 'season' or 'season_trend'")
    if s.short_series_handling_config not in SHORT_SERIES_HANDLING + (None,):
        raise ConfigError("forecasting.short_series_handling_config",
                          f"{s.short_series_handling_config!r}: use one of {list(SHORT_SERIES_HANDLING)} or None")
    if s.target_aggregate_function is not None and s.target_aggregate_function not in AGGREGATE_FUNCTIONS:
        raise ConfigError("forecasting.target_aggregate_function",
                          f"{s.target_aggregate_function!r}: use one of {list(AGGREGATE_FUNCTIONS)} or None")
    if s.cv_step_size != "auto" and (isinstance(s.cv_step_size, bool) or not isinstance(s.cv_step_size, int)
                                     or s.cv_step_size < 1):
        raise ConfigError("forecasting.cv_step_size", f"{s.cv_step_size!r}: use 'auto' or a positive number of "
                                                      "periods between validation origins")
    if s.frequency is not None:
        import pandas as pd

        try:
            pd.tseries.frequencies.to_offset(s.frequency)
        except ValueError:
            raise ConfigError("forecasting.frequency", f"{s.frequency!r} is not a pandas frequency; use e.g. 'h', "
                                                       "'D', 'W-THU', 'MS', or None to infer it") from None
    if s.country_or_region_for_holidays is not None:
        import holidays

        if s.country_or_region_for_holidays not in holidays.list_supported_countries():
            raise ConfigError("forecasting.country_or_region_for_holidays",
                              f"{s.country_or_region_for_holidays!r} is not a supported country code; use an "
                              "ISO 3166 code such as 'US', 'GB' or 'DE'")
    if columns is not None:
        columns = list(columns)
        if s.time_column_name not in columns:
            raise ConfigError("forecasting.time_column_name", f"column {s.time_column_name!r} is not in the "
                                                              f"training data; columns are {columns[:20]}")
        for name in ("time_series_id_column_names", "features_unknown_at_forecast_time"):
            for column in getattr(s, name) or ():
                if column not in columns:
                    raise ConfigError(f"forecasting.{name}", f"column {column!r} is not in the training data")
                if column in (s.time_column_name, target_column_name):
                    raise ConfigError(f"forecasting.{name}", f"column {column!r} is the time or target column")
