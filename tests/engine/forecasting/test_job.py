"""forecasting(...) end to end: Python API, config round trip, artifacts and the command line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl_engine import ConfigError, forecasting, job_from_config, load_model, regression, validate_config

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "examples" / "data"


def test_forecasting_run_end_to_end_and_saved_model(beer, tmp_path):
    train, test = beer.iloc[:288], beer.iloc[288:]
    job = forecasting(training_data=train, target_column_name="BeerProduction", test_data=test)
    job.set_forecast_settings(time_column_name="DATE", forecast_horizon=12)
    job.set_limits(timeout_minutes=1, max_trials=3)
    job.set_training(allowed_training_algorithms=["LightGBM", "SeasonalNaive"])
    result = job.run()
    assert result.status == "completed"
    names = [t.algorithm for t in result.trials]
    assert names[:3] == ["LightGBM", "SeasonalNaive", "LightGBM"]  # the plugins' portfolio order
    assert {"VotingEnsemble", "StackEnsemble"} <= set(names)
    assert result.validation_method["method"] == "rolling_origin"
    assert result.validation_method["origins"] == [f"{year}-12-01 00:00:00" for year in range(2010, 2015)]
    naive = next(t for t in result.trials if t.algorithm == "SeasonalNaive")
    # per-horizon and per-series metrics and the forecast-vs-actual chart of every origin
    assert naive.charts["error_by_horizon"]["step"] == list(range(1, 13))
    assert len(naive.charts["forecast_vs_actual"]) == 5
    for window in naive.charts["forecast_vs_actual"]:  # every validation window has its interval band
        assert len(window["lower"]) == len(window["upper"]) == len(window["forecast"]) == 12
        assert all(lo < f < hi for lo, f, hi in zip(window["lower"], window["forecast"], window["upper"]))
    assert naive.charts["per_series"][0]["series"] == "series"
    assert set(result.test_metrics) >= {"normalized_root_mean_squared_error", "r2_score", "mase", "smape", "mape",
                                        "mae", "rmse", "spearman_correlation", "normalized_mean_absolute_error"}
    future = test.drop(columns=["BeerProduction"])
    fc = result.best_model.forecast(future, quantiles=(0.1, 0.9))
    assert list(fc.columns) == ["DATE", "prediction", "q0.1", "q0.9"] and len(fc) == 12
    assert (fc["q0.9"] > fc["q0.1"]).all()
    out = result.save(tmp_path / "out")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["forecasting"]["frequency"] == "MS"
    assert manifest["forecasting"]["series"] == [{"series": "series", "last_timestamp": "2015-12-01 00:00:00"}]
    assert manifest["config"]["forecasting"]["forecast_horizon"] == 12
    loaded = load_model(out)
    np.testing.assert_allclose(loaded.predict(future), result.best_model.predict(future))


def test_config_round_trip_and_errors(beer):
    job = forecasting(training_data="x.csv", target_column_name="BeerProduction", n_cross_validations=3)
    job.set_forecast_settings(time_column_name="DATE", forecast_horizon=12, target_lags=[1, 12])
    job.set_forecast_settings(country_or_region_for_holidays="US")  # later calls update
    config = job.to_config()
    assert config["task"] == "forecasting" and config["n_cross_validations"] == 3
    assert config["forecasting"]["target_lags"] == [1, 12] and config["forecasting"]["forecast_horizon"] == 12
    assert config["forecasting"]["country_or_region_for_holidays"] == "US"
    again = job_from_config(json.loads(json.dumps(config)))
    assert again.to_config() == config
    with pytest.raises(ConfigError) as err:
        validate_config({**config, "forecasting": {**config["forecasting"], "lags": 3}})
    assert err.value.setting == "forecasting.lags"
    with pytest.raises(ConfigError) as err:
        job.set_forecast_settings(enable_dnn_training=True)
    assert err.value.setting == "forecasting.enable_dnn_training"
    with pytest.raises(ConfigError) as err:
        regression(training_data="x.csv", target_column_name="y").set_forecast_settings(time_column_name="t")
    assert err.value.setting == "forecasting"
    bare = forecasting(training_data=beer, target_column_name="BeerProduction")
    with pytest.raises(ConfigError) as err:
        bare.run()
    assert err.value.setting == "forecasting.time_column_name" and "set_forecast_settings" in err.value.message


def test_cli_runs_a_forecasting_job(tmp_path):
    (tmp_path / "job.yml").write_text(f"""
type: automl
task: forecasting
primary_metric: normalized_root_mean_squared_error
target_column_name: Quantity
training_data:
  path: {DATA / "dominicks_OJ_2_5_8_train.csv"}
  type: uri_file
test_data:
  path: {DATA / "dominicks_OJ_2_5_8_test.csv"}
  type: uri_file
forecasting:
  time_column_name: WeekStarting
  time_series_id_column_names: [Store, Brand]
  forecast_horizon: 20
limits:
  timeout_minutes: 1
  max_trials: 2
training:
  allowed_training_algorithms: [SeasonalNaive, LightGBM]
featurization:
  mode: custom
  column_name_and_types:
    logQuantity: Ignore
""")
    out = subprocess.run([sys.executable, "-m", "automl_engine", "run", str(tmp_path / "job.yml"),
                          "--output", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert sorted(board["algorithm"])[:2] == ["LightGBM", "SeasonalNaive"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["validation_method"]["method"] == "rolling_origin"
    assert metrics["test_metrics"]["mase"] > 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["forecasting"]["series"]) == 9
    assert [c["name"] for c in manifest["input_schema"]][:3] == ["WeekStarting", "Store", "Brand"]
    assert "logQuantity" not in [c["name"] for c in manifest["input_schema"]]


def test_test_data_size_holds_out_the_last_horizon_in_periods_on_series_with_missing_weeks():
    """Stores 2, 5 and 8 skip weeks: the last 8 rows of a series can span 9 weeks, beyond the horizon."""
    from automl_engine.tasks import get_task

    oj = pd.read_csv(Path(__file__).resolve().parents[3] / "examples" / "data" / "dominicks_OJ_2_5_8_train.csv")
    weeks = pd.to_datetime(oj["WeekStarting"])
    series = (oj["Store"] == 2) & (oj["Brand"] == "tropicana")
    oj = oj[~(series & (weeks == weeks[series].max() - pd.Timedelta(weeks=3)))]  # a missing week near the end
    job = forecasting(training_data=oj.drop(columns=["logQuantity"]), target_column_name="Quantity",
                      test_data_size=0.1)
    job.set_forecast_settings(time_column_name="WeekStarting", forecast_horizon=8,
                              time_series_id_column_names=["Store", "Brand"])
    prepared = get_task("forecasting").prepare(job, lambda level, message: None)
    test = prepared.test.assign(WeekStarting=pd.to_datetime(prepared.test["WeekStarting"]))
    last = pd.to_datetime(oj["WeekStarting"]).groupby([oj["Store"], oj["Brand"]]).max()
    for (store, brand), weeks in test.groupby(["Store", "Brand"])["WeekStarting"]:
        assert weeks.min() > last[(store, brand)] - pd.Timedelta(weeks=8)
        assert weeks.max() == last[(store, brand)]
    # the series with a missing week in its last 8 keeps 7 test rows, the others 8
    sizes = test.groupby(["Store", "Brand"]).size()
    assert sizes[(2, "tropicana")] == 7 and (sizes.drop((2, "tropicana")) == 8).all()


def test_a_seeded_run_with_a_fixed_trial_count_is_reproducible(beer):
    # Two trials at a time finish in any order; the learners are seeded (the forests draw from random_state)
    # and the candidates' order is the plugins'. A time budget still decides which trials fit in it.
    def run():
        job = forecasting(training_data=beer.iloc[:288], target_column_name="BeerProduction", n_cross_validations=2,
                          random_state=3)
        job.set_forecast_settings(time_column_name="DATE", forecast_horizon=12)
        # a budget no trial comes near, so that none is skipped as not fitting in the time left on a busy machine
        job.set_limits(timeout_minutes=20, max_trials=3, max_concurrent_trials=2)
        job.set_training(allowed_training_algorithms=["ExtremeRandomTrees", "SeasonalNaive", "ElasticNet"],
                         enable_model_explainability=False)
        result = job.run()
        future = beer.iloc[288:].drop(columns=["BeerProduction"])
        return ({t.number: (t.algorithm, t.score) for t in result.trials}, result.best_trial.number,
                result.best_model.predict(future))

    first, second = run(), run()
    assert first[0] == second[0] and first[1] == second[1]
    assert {a for a, _ in first[0].values()} >= {"ExtremeRandomTrees", "SeasonalNaive", "ElasticNet"}
    np.testing.assert_array_equal(first[2], second[2])


def test_the_voting_ensemble_is_scored_on_origins_its_weights_were_not_chosen_on(beer, tmp_path):
    from automl_engine import Callbacks
    from automl_engine.driver import Driver
    from automl_engine.ensemble import distinct_predictions
    from automl_engine.forecasting.ensemble import primary_score

    job = forecasting(training_data=beer.iloc[:288], target_column_name="BeerProduction")
    job.set_forecast_settings(time_column_name="DATE", forecast_horizon=12)
    job.set_limits(timeout_minutes=1, max_trials=4)
    job.set_training(allowed_training_algorithms=["LightGBM", "SeasonalNaive", "ExponentialSmoothing"],
                     enable_stack_ensemble=False, enable_model_explainability=False)
    driver = Driver(job, Callbacks(), None, tmp_path)
    result = driver.run()
    vote = next(t for t in result.trials if t.algorithm == "VotingEnsemble")
    singles = driver._candidate_order(sorted((t for t in result.trials if not t.is_ensemble),
                                             key=lambda t: (t.score, t.number)))
    distinct = distinct_predictions((np.load(t.oof_path) for t in singles), 12)
    candidates, oofs = [singles[i] for i, _ in distinct], [oof for _, oof in distinct]
    y, splits = driver.y[driver.data.oof_rows], driver.data.oof_splits
    held = driver._vote_held_out(candidates, oofs, y)
    # What the run stored and scored for the ensemble is the held-out blend, not the blend its weights fit.
    np.testing.assert_array_equal(np.load(tmp_path / "trials" / str(vote.number) / "oof.npy"), held)
    assert vote.score == primary_score(y, held, "normalized_root_mean_squared_error")
    weights = vote.hyperparameters["weights"]
    members = [oofs[[t.number for t in candidates].index(n)] for n in vote.hyperparameters["members"]]
    fitted = sum(w * o for w, o in zip(weights, members)) / sum(weights)
    assert primary_score(y, fitted, "normalized_root_mean_squared_error") < vote.score
    # Each origin's blend uses weights chosen without its actual values: scrambling them leaves it unchanged.
    for origin in np.unique(splits):
        inside = splits == origin
        scrambled = y.copy()
        scrambled[inside] = scrambled[inside][::-1] * 3
        np.testing.assert_array_equal(driver._vote_held_out(candidates, oofs, scrambled)[inside], held[inside])
    assert len(np.unique(splits)) == 5
