"""Data preparation: duplicates, aggregation, frequency inference, gaps, short series, bad input."""
from __future__ import annotations

import pandas as pd
import pytest

from automl_engine.config import ConfigError
from automl_engine.forecasting.prep import forecasting_guardrails, prepare_training
from automl_engine.forecasting.settings import make_forecast_settings


def _settings(**kw):
    return make_forecast_settings(**{"time_column_name": "DATE", "forecast_horizon": 12, **kw})


def test_duplicate_timestamps_are_rejected_naming_the_setting(beer):
    df = pd.concat([beer, beer.iloc[[0]]], ignore_index=True)
    with pytest.raises(ConfigError) as err:
        prepare_training(df, "BeerProduction", _settings())
    assert err.value.setting == "forecasting.target_aggregate_function"
    assert "1 duplicate timestamp(s) within a series (e.g. 1992-01-01 00:00:00)" in err.value.message


def test_duplicate_timestamps_are_aggregated_when_asked(beer):
    df = pd.concat([beer, beer.iloc[[0]]], ignore_index=True)
    prepared = prepare_training(df, "BeerProduction", _settings(target_aggregate_function="sum"))
    assert prepared.frame["y"].iloc[0] == 2 * 3459
    assert len(prepared.frame) == 300
    assert prepared.report["aggregated_duplicates"] == 1


def test_frequency_inferred_despite_gaps_and_gaps_filled(github):
    settings = make_forecast_settings(time_column_name="date", forecast_horizon=14)
    prepared = prepare_training(github, "count", settings)
    assert prepared.freq == "D"
    assert "most common step" in prepared.report["frequency"]["reason"]
    assert prepared.report["missing_time_points"] == 2
    assert prepared.report["imputed_target"] == 2
    assert len(prepared.frame) == len(github) + 2
    guard = {g["name"]: g for g in forecasting_guardrails(prepared, settings)}
    assert guard["missing_time_points"]["status"] == "done"
    assert guard["missing_time_points"]["parameters"] == {"filled": 2}


def test_weekly_frequency_keeps_its_weekday(oj_many):
    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                                      time_series_id_column_names=["Store", "Brand"])
    prepared = prepare_training(oj_many, "Quantity", settings)
    assert prepared.freq == "W-THU"
    assert prepared.n_series == 99
    assert prepared.covariates == ["Advert", "Price"]


def test_short_series_dropped_in_auto_mode(oj_many):
    first = (oj_many["Store"] == 1000) & (oj_many["Brand"] == "dominicks")
    df = pd.concat([oj_many[~first], oj_many[first].iloc[:5]], ignore_index=True)
    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                                      time_series_id_column_names=["Store", "Brand"])
    prepared = prepare_training(df, "Quantity", settings)
    assert prepared.n_series == 98
    assert prepared.report["short_series"]["handling"] == "drop"
    assert prepared.report["short_series"]["series"] == ["1000|dominicks"]


def test_short_series_padded_on_request(oj_many):
    first = (oj_many["Store"] == 1000) & (oj_many["Brand"] == "dominicks")
    df = pd.concat([oj_many[~first], oj_many[first].iloc[:5]], ignore_index=True)
    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                                      time_series_id_column_names=["Store", "Brand"],
                                      short_series_handling_config="pad")
    prepared = prepare_training(df, "Quantity", settings)
    padded = prepared.frame[prepared.frame["unique_id"] == "1000|dominicks"]
    assert len(padded) == 13  # 2 horizons + 1
    assert padded["y"].iloc[0] == pytest.approx(oj_many[first]["Quantity"].iloc[:5].mean())


def test_horizon_longer_than_history_is_rejected(beer):
    with pytest.raises(ConfigError) as err:
        prepare_training(beer, "BeerProduction", _settings(forecast_horizon=300))
    assert err.value.setting == "forecasting.forecast_horizon"


def test_unparsable_time_column_is_named(beer):
    df = beer.copy()
    df.loc[5, "DATE"] = "not a date"
    with pytest.raises(ConfigError) as err:
        prepare_training(df, "BeerProduction", _settings())
    assert err.value.setting == "forecasting.time_column_name"
    assert "1 value(s) of time column 'DATE'" in err.value.message


def test_settings_validation_and_dnn_out_of_scope():
    with pytest.raises(ConfigError) as err:
        make_forecast_settings(time_column_name="t", forecast_horizon=0)
    assert err.value.setting == "forecasting.forecast_horizon"
    with pytest.raises(ConfigError) as err:
        make_forecast_settings(time_column_name="t", enable_dnn_training=True)
    assert err.value.setting == "forecasting.enable_dnn_training"
    assert "TCNForecaster" in err.value.message
    with pytest.raises(ConfigError) as err:
        make_forecast_settings(time_column_name="t", frequency="fortnightly")
    assert err.value.setting == "forecasting.frequency"
    settings = make_forecast_settings(time_column_name="t", forecast_horizon=3, target_lags=[1, 7],
                                      time_series_id_column_names="store")
    assert settings.to_dict()["target_lags"] == [1, 7]
    assert type(settings).from_dict(settings.to_dict()) == settings
