"""Target features never look past the origin; exact lag values on real data."""
from __future__ import annotations

import numpy as np

from automl_engine.forecasting.features import detect_seasonality, target_feature_matrix, to_matrix
from automl_engine.forecasting.prep import prepare_training
from automl_engine.forecasting.settings import make_forecast_settings


def _matrix(beer):
    prepared = prepare_training(beer, "BeerProduction", make_forecast_settings(time_column_name="DATE",
                                                                                 forecast_horizon=12))
    return prepared, to_matrix(prepared.frame, "y")[1]


def test_features_at_an_origin_ignore_everything_after_it(beer):
    _, matrix = _matrix(beer)
    origin = 200
    before = target_feature_matrix(matrix, [1, 2, 12, 24], [3, 12], level_window=12)
    perturbed = matrix.copy()
    perturbed[:, origin:] = 1e9  # the future (the origin's own value included) changes completely
    after = target_feature_matrix(perturbed, [1, 2, 12, 24], [3, 12], level_window=12)
    for name in before:
        np.testing.assert_array_equal(before[name][:, :origin + 1], after[name][:, :origin + 1], err_msg=name)
        # and the test can fail: after the origin every feature sees the change
        assert not np.array_equal(before[name][:, origin + 1:], after[name][:, origin + 1:]), name


def test_lags_and_windows_have_exact_values(beer):
    prepared, matrix = _matrix(beer)
    feats = target_feature_matrix(matrix, [1, 12], [3], level_window=None)
    y = beer["BeerProduction"].to_numpy(dtype=float)
    assert feats["lag_12"][0, 12] == y[0] == 3459
    assert feats["lag_1"][0, 12] == y[11]
    assert np.isnan(feats["lag_12"][0, 11])
    assert feats["roll_mean_3"][0, 12] == np.mean(y[9:12])


def test_seasonality_detected_on_monthly_beer(beer):
    prepared, _ = _matrix(beer)
    season, reason = detect_seasonality(prepared.frame, prepared.freq)
    assert season == 12
    assert "autocorrelation" in reason


def test_step_features_are_the_matrix_features_bit_for_bit(oj_many):
    # The recursive forecast computes each new column's features with running sums (TargetFeatureSteps);
    # they must be the numbers target_feature_matrix trains on, gaps and short series included.
    from automl_engine.forecasting.features import TargetFeatureSteps

    df = oj_many.sort_values(["Store", "Brand", "WeekStarting"])
    matrix = df["Quantity"].to_numpy(dtype=float).reshape(99, 121)[:12] / 1000.0
    matrix[3, 50:53] = np.nan  # missing weeks
    matrix[5, :90] = np.nan  # a series that starts late
    lags, windows, level_window = [1, 2, 3, 13, 52, 104, 130], [4, 13], 52
    buffer = np.full_like(matrix, np.nan)
    buffer[:, :100] = matrix[:, :100]
    stepper = TargetFeatureSteps(buffer, 100, lags, windows, level_window)
    rows = np.array([0, 3, 5, 11])
    for c in range(100, 121):
        feats, level = stepper.at(c, rows)
        expected = target_feature_matrix(buffer[:, :c + 1], lags, windows, level_window)
        names = [f"lag_{k}" for k in lags] + [f"roll_mean_{w}" for w in windows]
        np.testing.assert_array_equal(feats, np.column_stack([expected[n][rows, c] for n in names]))
        np.testing.assert_array_equal(level, expected["level"][rows, c])
        buffer[:, c] = matrix[:, c]  # the step's forecast becomes history for the next


def test_iso_weeks_are_pandas_isocalendar_weeks():
    import pandas as pd

    from automl_engine.forecasting.features import iso_week

    ds = pd.DatetimeIndex(pd.date_range("1960-12-25", "2031-01-08", freq="D"))
    np.testing.assert_array_equal(iso_week(ds), ds.isocalendar().week.to_numpy(dtype=int))


def test_calendar_parts_are_pandas_datetime_fields():
    # Computed in numpy's calendar units: the same values as the index's fields, before 1970 too, whatever
    # the timestamps' resolution.
    import pandas as pd

    from automl_engine.forecasting.features import calendar_columns

    hours = pd.date_range("1899-12-25", "2101-01-05", freq="7h53min")
    for unit in ("ns", "us", "s"):
        ds = hours.as_unit(unit)
        parts = calendar_columns(ds, "h")
        assert list(parts) == ["hour", "dayofweek", "dayofmonth", "weekofyear", "dayofyear", "month", "year_fraction"]
        for name, field in [("hour", ds.hour), ("dayofweek", ds.day_of_week), ("dayofmonth", ds.day),
                            ("dayofyear", ds.day_of_year), ("month", ds.month),
                            ("year_fraction", ds.year + (ds.day_of_year - 1) / 366.0)]:
            np.testing.assert_array_equal(parts[name], field.to_numpy(), err_msg=f"{name} ({unit})")
    assert list(calendar_columns(hours[:3], "MS")) == ["month", "year_fraction"]
