"""Rolling-origin folds at exactly the right dates, training only on the past."""
from __future__ import annotations

import pandas as pd
import pytest

from automl_engine.config import ConfigError
from automl_engine.forecasting.prep import prepare_training
from automl_engine.forecasting.settings import make_forecast_settings
from automl_engine.forecasting.splitter import plan_rolling_origin


@pytest.fixture(scope="module")
def beer_frame(beer):
    settings = make_forecast_settings(time_column_name="DATE", forecast_horizon=12)
    return prepare_training(beer, "BeerProduction", settings).frame  # 1992-01 .. 2016-12


def test_auto_folds_one_horizon_apart_ending_a_horizon_before_the_end(beer_frame):
    plan = plan_rolling_origin(beer_frame, "MS", 12)
    assert [str(o.date()) for o in plan.origins] == ["2011-12-01", "2012-12-01", "2013-12-01", "2014-12-01",
                                                  "2015-12-01"]
    assert plan.reason.startswith("Rolling-origin validation (chosen automatically): 5 origin(s) 12 period(s) apart")
    folds = list(plan.split(beer_frame))
    for (train, valid), origin in zip(folds, plan.origins):
        assert beer_frame["ds"].iloc[train].max() == origin
        assert len(train) == beer_frame["ds"].le(origin).sum()
        dates = beer_frame["ds"].iloc[valid]
        assert list(dates) == list(pd.date_range(origin + pd.offsets.MonthBegin(1), periods=12, freq="MS"))


def test_configured_folds_and_step(beer_frame):
    plan = plan_rolling_origin(beer_frame, "MS", 12, n_folds=2, step=6)
    assert [str(o.date()) for o in plan.origins] == ["2015-06-01", "2015-12-01"]
    assert plan.to_dict()["cv_step_size"] == 6
    with pytest.raises(ConfigError) as err:
        plan_rolling_origin(beer_frame, "MS", 12, n_folds=40, step=12)
    assert err.value.setting == "n_cross_validations"


def test_auto_on_a_short_history_validates_one_origin_instead_of_refusing(beer_frame):
    short = beer_frame[beer_frame["ds"] >= "2012-07-01"].reset_index(drop=True)  # 54 months
    plan = plan_rolling_origin(short, "MS", 23)
    assert [str(o.date()) for o in plan.origins] == ["2015-01-01"]  # 31 months to train on, 23 to validate
    assert plan.reason.endswith("one origin, with 31 periods to train on (two horizons are the usual minimum).")
    with pytest.raises(ConfigError, match="too few to validate"):
        plan_rolling_origin(short, "MS", 23, n_folds=1)  # configured: the usual minimum holds
    with pytest.raises(ConfigError, match="too few to validate"):
        plan_rolling_origin(short.iloc[:40], "MS", 23)  # 17 periods left: shorter than the horizon
