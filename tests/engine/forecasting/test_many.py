"""Many models: a forecasting run per partition, every trial through the run's executor (the driver's one
search loop), partitions side by side."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl_engine import LocalProcessExecutor, forecasting
from automl_engine.forecasting import ManyModelsForecaster


def _stores(oj_many, n=3):
    stores = sorted(oj_many["Store"].unique())[:n]
    df = oj_many[oj_many["Store"].isin(stores)]
    last = df["WeekStarting"] > sorted(df["WeekStarting"].unique())[-7]
    return df[~last], df[last]


def _job(train, max_trials=2):
    job = forecasting(training_data=train, target_column_name="Quantity", n_cross_validations=2)
    job.set_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                              time_series_id_column_names=["Store", "Brand"])
    job.set_limits(timeout_minutes=5, max_trials=max_trials)  # max_trials ends it; the budget only on a busy machine
    job.set_training(allowed_training_algorithms=["SeasonalNaive", "LightGBM"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    return job


def test_many_models_run_each_partition_through_the_executor(oj_many, tmp_path):
    train, test = _stores(oj_many)
    logs, trials = [], []
    from automl_engine import Callbacks

    many = ManyModelsForecaster(_job(train), ["Store"]).fit(
        max_concurrent_partitions=2, workdir=tmp_path,
        callbacks=Callbacks(on_log=lambda level, m: logs.append(m), on_trial=trials.append))
    stores = [str(s) for s in sorted(train["Store"].unique())]
    assert sorted(many.models_) == stores
    assert [s["n_trials"] for s in many.summary_] == [2, 2, 2]
    assert all(s["status"] == "completed" for s in many.summary_)
    # Each partition is the driver's run: its trials were evaluated by worker processes, which wrote the
    # models under the partition's own folder.
    for i, key in enumerate(stores):
        paths = [Path(t.model_path) for t in many.results_[key].trials]
        assert [p.parent.parent.parent.name for p in paths] == [f"partition-{i}"] * 2
        assert all(p.exists() for p in paths)
        assert [t.algorithm for t in many.results_[key].trials] == ["LightGBM", "SeasonalNaive"]
        assert many.results_[key].validation_method["n_cross_validations"] == 2
    assert sorted({t.partition for t in trials}) == stores and len(trials) == 6
    assert any(m.startswith(f"[partition {stores[0]}] trial 0 LightGBM") for m in logs)
    X = test.drop(columns=["Quantity"])
    pred = many.predict(X)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    for key in stores:  # each row forecast by its partition's model
        rows = (X["Store"].astype(str) == key).to_numpy()
        np.testing.assert_array_equal(pred[rows], many.models_[key].predict(X[rows]))
    fc = many.forecast(X)
    np.testing.assert_allclose(fc["prediction"].to_numpy(), pred)
    with pytest.raises(ValueError, match="partition '4242' was not in the training data"):
        many.predict(X.assign(Store=4242))


def test_many_models_share_a_given_executor_and_report_bad_partitions(oj_many, tmp_path):
    train, _ = _stores(oj_many, 2)
    executor = LocalProcessExecutor(n_workers=2).start()
    try:
        many = ManyModelsForecaster(_job(train, max_trials=1), ["Store", "Brand"]).fit(
            executor=executor, max_concurrent_partitions=2, workdir=tmp_path)
        assert len(many.models_) == 6 and [s["n_trials"] for s in many.summary_] == [1] * 6
        assert executor._workers and all(w.alive() for w in executor._workers)  # still the caller's to stop
    finally:
        executor.shutdown()
    with pytest.raises(ValueError, match="no partition column 'Region'"):
        ManyModelsForecaster(_job(train), ["Region"]).fit(workdir=tmp_path / "x")
