"""Forecasters on real series: exact seasonal forecasts, history=, unknown series, bad future frames,
interval coverage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl_engine.forecasting.models import ForecastModel
from automl_engine.forecasting.settings import make_forecast_settings


def _beer_settings(**kw):
    return make_forecast_settings(**{"time_column_name": "DATE", "forecast_horizon": 12, **kw})


def test_pure_seasonal_series_is_forecast_exactly_by_seasonal_naive(beer):
    season = beer["BeerProduction"].to_numpy()[:12]
    dates = pd.date_range("1992-01-01", periods=132, freq="MS")
    df = pd.DataFrame({"DATE": dates[:120], "BeerProduction": np.tile(season, 10)})
    model = ForecastModel(_beer_settings(), "SeasonalNaive", target_column_name="BeerProduction")
    model.fit(df[["DATE"]], df["BeerProduction"])
    assert model.season_ == 12
    pred = model.predict(pd.DataFrame({"DATE": dates[120:]}))
    np.testing.assert_array_equal(pred, season)
    # any subset of the horizon, in any order
    np.testing.assert_array_equal(model.predict(pd.DataFrame({"DATE": dates[[125, 120]]})), season[[5, 0]])


def test_history_moves_the_origin_without_retraining(beer):
    train, newer = beer.iloc[:288], beer.iloc[288:]  # newer: the 12 months of 2016
    model = ForecastModel(_beer_settings(), "SeasonalNaive", target_column_name="BeerProduction")
    model.fit(train[["DATE"]], train["BeerProduction"])
    future = pd.DataFrame({"DATE": pd.date_range("2017-01-01", periods=12, freq="MS")})
    with pytest.raises(ValueError, match="beyond forecast_horizon 12"):
        model.predict(future)
    pred = model.predict(future, history=newer)
    np.testing.assert_array_equal(pred, newer["BeerProduction"].to_numpy(dtype=float))


def test_history_of_a_single_new_period_moves_the_origin_by_one(beer):
    """A deployed model given yesterday's actual (one row per series) forecasts from today."""
    train, newer = beer.iloc[:288], beer.iloc[288:289]  # January 2016 only
    model = ForecastModel(_beer_settings(), "SeasonalNaive", target_column_name="BeerProduction")
    model.fit(train[["DATE"]], train["BeerProduction"])
    future = pd.DataFrame({"DATE": pd.date_range("2016-02-01", periods=12, freq="MS")})
    pred = model.predict(future, history=newer)
    # seasonal naive from the new origin: February..December 2015, then the January 2016 actual
    expected = np.concatenate([train["BeerProduction"].to_numpy(dtype=float)[-11:],
                               newer["BeerProduction"].to_numpy(dtype=float)])
    np.testing.assert_array_equal(pred, expected)


def _oj(oj_many, n_stores=4):
    stores = sorted(oj_many["Store"].unique())[:n_stores]
    df = oj_many[oj_many["Store"].isin(stores)].sort_values(["Store", "Brand", "WeekStarting"])
    last = df.groupby(["Store", "Brand"]).cumcount(ascending=False) < 6
    return df[~last], df[last]


def _oj_settings():
    return make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                                  time_series_id_column_names=["Store", "Brand"])


def test_unknown_series_global_model_forecasts_per_series_model_refuses(oj_many):
    train, test = _oj(oj_many)
    future = test.drop(columns=["Quantity"]).copy()
    future["Store"] = 9999  # a store the models never saw
    glob = ForecastModel(_oj_settings(), "LightGBM", {"n_estimators": 50}, target_column_name="Quantity")
    glob.fit(train.drop(columns=["Quantity"]), train["Quantity"])
    pred = glob.predict(future)
    assert pred.shape == (len(future),) and np.isfinite(pred).all() and (pred > 0).all()
    local = ForecastModel(_oj_settings(), "SeasonalNaive", target_column_name="Quantity")
    local.fit(train.drop(columns=["Quantity"]), train["Quantity"])
    with pytest.raises(ValueError, match="series '9999|dominicks' was not in the training data: the per-series model "
                                         "SeasonalNaive cannot forecast it"):
        local.predict(future)


def test_future_frame_missing_a_known_covariate_is_rejected(oj_many):
    train, test = _oj(oj_many, 2)
    model = ForecastModel(_oj_settings(), "LightGBM", {"n_estimators": 30}, target_column_name="Quantity")
    model.fit(train.drop(columns=["Quantity"]), train["Quantity"])
    with pytest.raises(ValueError, match=r"lacks known covariate column\(s\) \['Price'\]"):
        model.predict(test.drop(columns=["Quantity", "Price"]))
    # a week skipped inside the horizon is bridged with the covariates of the nearest given week
    skipped = test[test["WeekStarting"] != sorted(test["WeekStarting"].unique())[2]].drop(columns=["Quantity"])
    pred = model.predict(skipped)
    assert pred.shape == (len(skipped),) and np.isfinite(pred).all()


def test_intervals_cover_held_back_weeks(oj_many):
    train, test = _oj(oj_many, 33)  # all 99 series, 6 held-back weeks each
    model = ForecastModel(_oj_settings(), "LightGBM", {"n_estimators": 100, "num_leaves": 15},
                          target_column_name="Quantity")
    model.fit(train.drop(columns=["Quantity"]), train["Quantity"])
    fc = model.forecast(test.drop(columns=["Quantity"]), quantiles=(0.1, 0.5, 0.9))
    assert list(fc.columns) == ["WeekStarting", "Store", "Brand", "prediction", "q0.1", "q0.5", "q0.9"]
    y = test["Quantity"].to_numpy()
    inside = (y >= fc["q0.1"].to_numpy()) & (y <= fc["q0.9"].to_numpy())
    assert 0.7 <= inside.mean() <= 0.95, inside.mean()
    assert (fc["q0.9"] > fc["q0.1"]).all()


def test_saved_forecaster_has_its_manifest_and_loads_with_the_hash_check(oj_many, tmp_path):
    from automl_engine.artifacts import ModelIntegrityError, load_model, save_model

    train, test = _oj(oj_many, 2)
    model = ForecastModel(_oj_settings(), "LightGBM", {"n_estimators": 30}, target_column_name="Quantity")
    model.fit(train.drop(columns=["Quantity"]), train["Quantity"])
    manifest = save_model(model, tmp_path)
    fc = manifest["forecasting"]
    assert fc["frequency"] == "W-THU" and fc["forecast_horizon"] == 6
    assert fc["forecast_settings"]["time_series_id_column_names"] == ["Store", "Brand"]
    assert fc["series"][0] == {"series": "1000|dominicks", "last_timestamp": "1992-08-20 00:00:00", "Store": 1000,
                               "Brand": "dominicks"}
    assert len(fc["series"]) == 6
    assert manifest["input_schema"] == [
        {"name": "WeekStarting", "type": "DateTime", "role": "time"},
        {"name": "Store", "type": "Categorical", "role": "series_id"},
        {"name": "Brand", "type": "Categorical", "role": "series_id"},
        {"name": "Advert", "type": "Numeric", "role": "known_covariate"},
        {"name": "Price", "type": "Numeric", "role": "known_covariate"}]
    loaded = load_model(tmp_path)
    X = test.drop(columns=["Quantity"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    (tmp_path / "model.pkl").write_bytes((tmp_path / "model.pkl").read_bytes() + b"x")
    with pytest.raises(ModelIntegrityError):
        load_model(tmp_path)


@pytest.mark.parametrize("algorithm", ["ExponentialSmoothing", "LightGBM"])
def test_history_lets_fitted_models_forecast_a_later_horizon(oj_many, algorithm):
    df = oj_many[oj_many["Store"].isin(sorted(oj_many["Store"].unique())[:2])].sort_values(
        ["Store", "Brand", "WeekStarting"])
    rank = df.groupby(["Store", "Brand"]).cumcount(ascending=False)
    train, newer, later = df[rank >= 12], df[(rank < 12) & (rank >= 6)], df[rank < 6]
    model = ForecastModel(_oj_settings(), algorithm, {"n_estimators": 30} if algorithm == "LightGBM" else {},
                          target_column_name="Quantity")
    model.fit(train.drop(columns=["Quantity"]), train["Quantity"])
    future = later.drop(columns=["Quantity"])
    with pytest.raises(ValueError, match="beyond forecast_horizon 6"):
        model.predict(future)
    pred = model.predict(future, history=newer)
    assert pred.shape == (len(later),) and np.isfinite(pred).all()
    # the newer actuals matter: doubled recent sales raise the forecast (a lagged global model follows the
    # new level; ETS moves by its fitted smoothing weight, small on these noisy weekly sales)
    doubled = model.predict(future, history=newer.assign(Quantity=newer["Quantity"] * 2))
    assert np.mean(doubled) > (1.3 if algorithm == "LightGBM" else 1.0) * np.mean(pred)
    assert model.last_times_.max() == pd.Timestamp(train["WeekStarting"].max())  # the model itself is unchanged


@pytest.mark.parametrize("algorithm", ["RandomForest", "ExtremeRandomTrees"])
def test_a_forest_forecaster_pickles(beer, algorithm):
    # A trial saves its model with pickle: the forests' forecasting trials all failed when the model held the
    # learner's declaration, whose build function is a closure.
    import pickle

    train, future = beer.iloc[:288], beer.iloc[288:][["DATE"]]
    model = ForecastModel(_beer_settings(), algorithm, {"n_estimators": 20, "target_mode": "level"},
                          target_column_name="BeerProduction").fit(train[["DATE"]], train["BeerProduction"])
    # The tree arrays the forecast walks are built when the forest is fitted or loaded, and are not pickled.
    assert "_predict" not in model.core_.__getstate__() and "_predict" in model.core_.__dict__
    copy = pickle.loads(pickle.dumps(model))
    assert "_predict" in copy.core_.__dict__
    np.testing.assert_array_equal(copy.predict(future), model.predict(future))


def test_the_recursive_fast_path_predicts_what_the_learners_predict(oj_many):
    # The recursive loop bypasses the learners' input checks (booster, coefficients): same numbers as predict().
    df = oj_many[oj_many["Store"].isin(sorted(oj_many["Store"].unique())[:2])]
    last = df["WeekStarting"] > sorted(df["WeekStarting"].unique())[-7]
    train, future = df[~last], df[last].drop(columns=["Quantity"])
    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                                      time_series_id_column_names=["Store", "Brand"])
    for algorithm, params in [("LightGBM", {"n_estimators": 30, "target_mode": "level"}),
                              ("ElasticNet", {"target_mode": "scaled"}), ("LassoLars", {"target_mode": "level"})]:
        model = ForecastModel(settings, algorithm, params, target_column_name="Quantity").fit(
            train.drop(columns=["Quantity"]), train["Quantity"])
        fast = model.predict(future)
        core = model.core_
        core._predict = core.model_.predict  # the learner's own predict instead of the step predictor
        np.testing.assert_allclose(model.predict(future), fast, rtol=1e-9, atol=1e-9)
        assert np.isfinite(fast).all()


def test_fast_prediction_paths_forecast_what_the_libraries_forecast(oj_many):
    # predict() computes Prophet's terms on kept date features, reads the statistical models' kept paths,
    # calls the learners' trees and boosters directly and lays the future frame out by position: the
    # forecasts are the libraries' own, bit for bit.
    train, test = _oj(oj_many, 1)  # 3 series with Price and Advert
    future = test.drop(columns=["Quantity"])
    future = future[future["WeekStarting"] != sorted(future["WeekStarting"].unique())[2]]  # a skipped week
    X = train.drop(columns=["Quantity"])
    # one of each path: Prophet, a kept statistical path, ARIMA with regressors, the tree arrays (a forest on
    # the scaled target, a tree on the level), XGBoost, HistGradientBoosting, a learner's own predict (KNN)
    cases = [("Prophet", {}), ("ExponentialSmoothing", {}), ("Arimax", {}),
             ("ExtremeRandomTrees", {"n_estimators": 8, "target_mode": "scaled"}),
             ("DecisionTree", {"target_mode": "level"}), ("XGBoostRegressor", {"n_estimators": 20}),
             ("GradientBoosting", {"max_iter": 20, "target_mode": "level"}), ("KNN", {"n_neighbors": 5})]
    for algorithm, params in cases:
        model = ForecastModel(_oj_settings(), algorithm, params, target_column_name="Quantity")
        fast = model.fit(X, train["Quantity"]).predict(future)
        _, _, rows, path, steps = model._future(future, None)
        core = model.core_
        on_rows = rows["__pos__"].to_numpy()  # each row's place in the path of every series' steps
        if algorithm == "Prophet":
            expected = np.concatenate([core.models_[sid].predict(path[path["unique_id"] == sid][
                ["ds"] + core.models_[sid]._automl_exog])["yhat"].to_numpy() for sid in steps.index])[on_rows]
        elif hasattr(core, "paths_"):
            expected = []
            for sid, h in steps.items():
                m = core.models_[sid]
                Xf = path[path["unique_id"] == sid][m._automl_exog].to_numpy(dtype=float) if m._automl_exog else None
                expected.append(m.predict(h=int(h), X=Xf)["mean"] if Xf is not None else m.predict(h=int(h))["mean"])
            expected = np.concatenate(expected)[on_rows]
        else:
            step_predictor, core._predict = core._predict, core.model_.predict  # the learner's own predict
            expected = model.predict(future)
            core._predict = step_predictor
        assert len(fast) == len(future) and np.isfinite(fast).all(), algorithm
        np.testing.assert_array_equal(fast, expected, err_msg=algorithm)


def test_ensemble_members_share_one_copy_of_their_history(beer):
    # Each member comes from its own trial process with its own copy of the training history; the ensemble
    # keeps one, so the saved model holds it once (and loads faster), with the same forecasts.
    import pickle

    from automl_engine.forecasting.ensemble import ForecastEnsemble

    train, future = beer.iloc[:288], beer.iloc[288:][["DATE"]]
    members = [pickle.loads(pickle.dumps(ForecastModel(_beer_settings(), name, target_column_name="BeerProduction")
                                         .fit(train[["DATE"]], train["BeerProduction"])))
               for name in ("SeasonalNaive", "Naive")]
    assert members[0].history_ is not members[1].history_
    expected = 0.75 * members[0].predict(future) + 0.25 * members[1].predict(future)
    ensemble = ForecastEnsemble(members, [0.75, 0.25])
    assert ensemble.models[1].history_ is ensemble.models[0].history_
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ensemble)).predict(future), expected)


def test_stack_ensemble_leaves_out_the_members_its_meta_learner_weighs_zero(beer):
    # The non-negative ElasticNet often zeroes a member: forecasting with it would cost its time for nothing.
    from automl_engine.tasks import get_task
    from automl_engine.tasks.forecasting import LinearStacker

    train, future = beer.iloc[:288], beer.iloc[288:][["DATE"]]
    members = [ForecastModel(_beer_settings(), name, target_column_name="BeerProduction")
               .fit(train[["DATE"]], train["BeerProduction"]) for name in ("SeasonalNaive", "Naive", "Average")]
    task = get_task("forecasting")
    stack = task.assemble_ensemble("stacking", members, meta_learner=LinearStacker([0.0, 0.75, 0.0], 5.0))
    assert [m.algorithm for m in stack.models] == ["Naive"]
    assert stack.weights.tolist() == [0.75] and stack.intercept == 5.0
    np.testing.assert_array_equal(stack.predict(future), 0.75 * members[1].predict(future) + 5.0)
    # all weights zero: the intercept alone, through one member kept for the forecasting API
    flat = task.assemble_ensemble("stacking", members, meta_learner=LinearStacker([0.0] * 3, 7.0))
    assert len(flat.models) == 1 and flat.predict(future).tolist() == [7.0] * 12
