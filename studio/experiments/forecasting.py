"""Forecasting jobs in the studio: the ``forecasting: {...}`` block of a submission checked against the data,
and for each setting a sentence saying what it (or "auto") will do on this dataset.

The checks are the engine's own (``automl_engine.forecasting``: settings, data preparation, seasonality and
the rolling-origin plan), run on the few columns they need (time, series ids, target) read from the
version's Parquet copy, so that a problem the run would hit surfaces next to its wizard field before the run
is submitted, with the engine's wording.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

TASK = "forecasting"
# The seed's list settings accept one name or a list; the form sends lists, the API either.
LIST_SETTINGS = ("time_series_id_column_names", "features_unknown_at_forecast_time")
# Wizard and API order: the Azure studio's main settings first, then its "additional configuration".
MAIN_SETTINGS = ("time_column_name", "time_series_id_column_names", "forecast_horizon", "frequency")


def setting_names() -> list[str]:
    """The SDK v2 names of the forecast settings, from the engine's ``ForecastSettings``."""
    from automl_engine.forecasting.settings import ForecastSettings

    return [f.name for f in dataclasses.fields(ForecastSettings)]


@dataclass
class ForecastCheck:
    """A forecasting block checked against the data: the engine's settings as a dict (what the run stores),
    ``hints`` (setting name -> what it does on this data) and ``errors`` (API field path -> message)."""

    settings: dict | None = None
    hints: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _sentence(message: str) -> str:
    message = message.strip()
    first = message.split(" ", 1)[0]
    if "_" not in first:  # a setting's name keeps its spelling
        message = message[:1].upper() + message[1:]
    return message + ("" if message.endswith(".") else ".")


def _field(setting: str) -> str:
    """The API field path of an engine setting name (``forecasting.x`` stays, the rest is the job's)."""
    from studio.experiments.services import api_field_for

    return api_field_for(setting)


def normalise_block(block: Any, errors: dict) -> dict:
    """The ``forecasting`` object with empty values removed and comma-separated column lists split."""
    if block in (None, ""):
        return {}
    if not isinstance(block, dict):
        errors["forecasting"] = ("must be an object of forecast settings, e.g. {\"time_column_name\": \"date\", "
                                 f"\"forecast_horizon\": 14}}; got {type(block).__name__}.")
        return {}
    out = {}
    for key, value in block.items():
        if value in (None, "", []):
            continue
        if key in LIST_SETTINGS and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        out[key] = value
    return out


def check_forecasting(block: dict, version, target: str | None, columns: dict, n_cross_validations) -> ForecastCheck:
    """Check the forecast settings against themselves and the version's data with the engine's rules.

    ``columns`` are the version's included columns by name; ``n_cross_validations`` is the job's
    (None or "auto" for the automatic plan). Every problem is keyed by the API field it belongs to."""
    from automl_engine.config import ConfigError
    from automl_engine.forecasting.settings import make_forecast_settings, validate_forecast_settings

    check = ForecastCheck()
    if not block.get("time_column_name"):
        check.errors["forecasting.time_column_name"] = _missing_time_message(columns)
        return check
    try:
        settings = make_forecast_settings(**block)
        validate_forecast_settings(settings, columns=list(columns), target_column_name=target)
    except ConfigError as exc:
        check.errors[_field(exc.setting)] = _sentence(exc.message)
        return check
    except TypeError as exc:  # a value of the wrong kind, e.g. a list where a number belongs
        check.errors["forecasting"] = _sentence(f"a forecast setting has the wrong type ({exc})")
        return check
    time_kind = columns[settings.time_column_name].get("type")
    if time_kind != "datetime":
        check.errors["forecasting.time_column_name"] = (
            f"{settings.time_column_name!r} is {time_kind}, not a date/time column; choose a date/time column, or "
            "set its type to Date/time in the dataset's schema.")
        return check
    if target and columns.get(target, {}).get("type") != "numeric":
        check.errors["target_column"] = (f"Forecasting needs a numeric target, but {target!r} is "
                                         f"{columns.get(target, {}).get('type')}; choose a numeric column.")
        return check
    check.settings = settings.to_dict()
    if not target or version is None:
        return check
    try:
        _plan(check, settings, version, target, columns, n_cross_validations)
    except ConfigError as exc:
        check.errors[_field(exc.setting)] = _sentence(exc.message)
    return check


def _missing_time_message(columns: dict) -> str:
    dates = [name for name, c in columns.items() if c.get("type") == "datetime"]
    if not dates:
        return ("Forecasting needs a date/time column and this dataset has none; set a column's type to "
                "Date/time in the dataset's schema.")
    return f"Choose the column holding each row's timestamp: {', '.join(dates)}."


def _plan(check: ForecastCheck, settings, version, target: str, columns: dict, n_cross_validations) -> None:
    """Run the engine's preparation and rolling-origin plan on the data; fill ``check.hints``."""
    from automl_engine.forecasting.features import (detect_seasonality, resolve_feature_lags, resolve_target_lags,
                                                    resolve_windows)
    from automl_engine.forecasting.prep import prepare_training
    from automl_engine.forecasting.splitter import plan_rolling_origin

    from studio.datasets.timeseries import describe_frequency, read_columns

    ids = settings.id_columns
    frame = read_columns(version, [settings.time_column_name, *ids, target])
    prepared = prepare_training(frame, target, settings)
    report = prepared.report
    freq = prepared.freq
    h = settings.forecast_horizon
    lengths = prepared.frame.groupby("unique_id", sort=False).size()
    hints = check.hints
    hints["time_column_name"] = (f"{prepared.frame['ds'].min():%Y-%m-%d %H:%M} to "
                                 f"{prepared.frame['ds'].max():%Y-%m-%d %H:%M}".replace(" 00:00", ""))
    hints["time_series_id_column_names"] = (
        f"One series of {int(lengths.iloc[0]):,} periods." if len(lengths) == 1 else
        f"{len(lengths):,} series ({' × '.join(ids)}), {int(lengths.min()):,} to {int(lengths.max()):,} periods each.")
    words = describe_frequency(freq)
    hints["frequency"] = f"{'Given' if settings.frequency else 'Detected'}: {words} ({freq})."
    hints["forecast_horizon"] = f"{h:,} periods ahead: {_duration(freq, h)} after each series' last timestamp."
    n_folds = n_cross_validations if n_cross_validations not in (None, "") else "auto"
    plan = plan_rolling_origin(prepared.frame, freq, h, n_folds, settings.cv_step_size)
    fold_words = (f"{plan.n_folds} fold{'s' if plan.n_folds != 1 else ''} {plan.step} period"
                  f"{'s' if plan.step != 1 else ''} ({_duration(freq, plan.step)}) apart, each validated on the next "
                  f"{h} periods; origins {plan.origins[0]:%Y-%m-%d %H:%M} to {plan.origins[-1]:%Y-%m-%d %H:%M}")
    hints["n_cross_validations"] = ("Auto: " if n_folds == "auto" else "") + fold_words.replace(" 00:00", "") + "."
    hints["cv_step_size"] = (f"Auto: {plan.step} periods (one horizon)." if settings.cv_step_size == "auto"
                             else f"{plan.step} periods between origins.")
    if settings.seasonality == "auto":
        m, why = detect_seasonality(prepared.frame, freq)
        hints["seasonality"] = (f"Auto: {m} periods ({_duration(freq, m)}); {why.split(' (')[0]}." if m > 1
                                else f"Auto: no season; {why.split(' at ')[0]}.")
    else:
        m = int(settings.seasonality)
        hints["seasonality"] = f"{m} periods ({_duration(freq, m)})."
    shortest = int(lengths.min())
    lags = resolve_target_lags(settings.target_lags, m, h, shortest)
    hints["target_lags"] = (("Auto: " if settings.target_lags in (None, "auto") else "") +
                            (f"lags {_ranges(lags)} of the target." if lags else "no target lags."))
    windows = resolve_windows(settings.target_rolling_window_size, m, shortest)
    hints["target_rolling_window_size"] = (("Auto: " if settings.target_rolling_window_size in (None, "auto") else "")
                                           + (f"rolling means over {_ranges(windows)} periods." if windows
                                              else "no rolling window."))
    covariates = [c for c in columns if c not in {settings.time_column_name, target, *ids}]
    unknown = settings.unknown_features
    known = [c for c in covariates if c not in unknown]
    feature_lags = resolve_feature_lags(settings.feature_lags)
    hints["feature_lags"] = (f"Lags {_ranges(feature_lags)} of the numeric covariates." if feature_lags else
                             "None: covariates enter at the forecast time only.")
    hints["features_unknown_at_forecast_time"] = (
        (f"Known at forecast time (a forecast request must give them): {', '.join(known[:8])}"
         f"{'…' if len(known) > 8 else ''}." if known else "No covariates: the model forecasts from the target alone.")
        + (f" Used only lagged: {', '.join(unknown)}." if unknown else ""))
    short = report.get("short_series") or {}
    hints["short_series_handling_config"] = (
        f"{short['short']} series shorter than {short['min_points']} periods: {short['handling']}." if short.get("short")
        else f"No series shorter than {short.get('min_points', 2 * h + 1)} periods: nothing to pad or drop.")
    hints["target_aggregate_function"] = (
        f"Aggregates {report['aggregated_duplicates']:,} duplicate timestamps with "
        f"{settings.target_aggregate_function}." if report.get("aggregated_duplicates") else
        "No duplicate timestamps: nothing to aggregate.")
    hints["country_or_region_for_holidays"] = (f"Holiday features for {settings.country_or_region_for_holidays}."
                                               if settings.country_or_region_for_holidays else "No holiday features.")
    hints["use_stl"] = {None: "No STL decomposition.", "season": "STL seasonal component as a feature.",
                        "season_trend": "STL seasonal and trend components as features."}[settings.use_stl]
    filled = report.get("missing_time_points", 0)
    hints["summary"] = (f"{words[:1].upper() + words[1:]} data, {len(lengths):,} series; {plan.n_folds} rolling-origin folds "
                        f"{_duration(freq, plan.step)} apart" + (f"; {filled:,} missing time points filled" if filled
                                                                else "") + ".")


def _duration(freq: str, periods: int) -> str:
    """``periods`` of ``freq`` in words people use: 48 hourly periods are "2 days", 8 weeks "8 weeks"."""
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        seconds = pd.Timedelta(offset).total_seconds() * periods
    except ValueError:
        base = offset.rule_code.split("-")[0]
        unit = {"W": "week", "MS": "month", "ME": "month", "M": "month", "QS": "quarter", "QE": "quarter",
                "YS": "year", "YE": "year"}.get(base, "period")
        n = periods * (offset.n or 1)
        return f"{n:,} {unit}{'s' if n != 1 else ''}"
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n:,} {unit}{'s' if n != 1 else ''}"
    return f"{periods} periods"


def _ranges(values: list[int]) -> str:
    """[1, 2, 3, 24, 48] as "1–3, 24, 48"."""
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}–{v}" if v - start >= 2 else ", ".join(str(x) for x in range(start, v + 1)))
            start = None
    return ", ".join(out)


def check_submission(spec: dict, task: str, version, target: str | None, columns: dict, validation: dict,
                     errors: dict) -> dict | None:
    """The forecasting part of ``services.validate_submission``: the checked settings for the engine config
    (None for other tasks), every problem added to ``errors`` under its API field."""
    block = normalise_block(spec.get("forecasting"), errors)
    if task != TASK:
        if block:
            errors["forecasting"] = (f"Forecast settings apply to task {TASK!r} only; remove the forecasting block "
                                     f"or choose task {TASK!r}.")
        return None
    data_ok = version is not None and target in columns and "target_column" not in errors
    check = check_forecasting(block, version if data_ok else None, target if data_ok else None, columns,
                              validation.get("n_cross_validations"))
    for key, message in check.errors.items():
        errors.setdefault(key, message)
    return check.settings
