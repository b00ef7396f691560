"""Distributed mode on a real Dask LocalCluster (worker processes with memory limits): classification and
regression over a Parquet dataset in many partitions made from the benchmark data, the saved model scored by
the engine's predict path, unsupported settings refused by name, and a worker killed mid-training."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

import automl_engine
from automl_engine import ConfigError, artifacts, predict
from automl_engine.distributed import search, train
from automl_engine.distributed.cluster import worker_addresses
from automl_engine.distributed.data import check_fits_in_memory
from automl_engine.distributed.scoring import score_partitions

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"  # samples of ../shared/data/bench (tests/data/README.md)


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread and 1 GiB each (a worker over it is restarted by its nanny)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                           dashboard_address=":0", silence_logs=40)
    with Client(cluster) as client:
        yield client
    cluster.close()


def _parts(df: pd.DataFrame, folder, n_parts: int):
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(df)), n_parts)):
        df.iloc[part].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def adult_parquet(tmp_path_factory):
    """6,000 rows of UCI Adult (8 categorical columns) in 12 Parquet files."""
    df = pd.read_csv(DATA / "adult_6000.csv")
    return df, _parts(df, tmp_path_factory.mktemp("adult") / "data", 12)


@pytest.fixture(scope="module")
def diamonds_parquet(tmp_path_factory):
    """5,000 diamonds with a listing date (a datetime column) in 10 Parquet files."""
    df = pd.read_csv(DATA / "diamonds_5000.csv")
    df["listed"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(df)) % 700, unit="D")
    return df, _parts(df, tmp_path_factory.mktemp("diamonds") / "data", 10)


def _job(make, path, target, **kwargs):
    job = make(training_data=str(path), target_column_name=target, **kwargs)
    job.set_training(training_mode="distributed")
    job.set_limits(max_nodes=2, max_trials=2)
    return job


def test_distributed_classification_on_partitions_is_served_by_the_predict_path(client, adult_parquet, tmp_path):
    df, path = adult_parquet
    target = "income >50K"
    events, logs = [], []
    job = _job(automl_engine.classification, path, target, primary_metric="AUC_weighted")
    result = job.run(callbacks=automl_engine.Callbacks(on_cluster=events.append, on_log=lambda l, m: logs.append(m)),
                     workdir=tmp_path, cluster=client)
    assert result.status == "completed"
    assert [t.status for t in result.trials] == ["completed", "completed"]
    assert result.validation_method["method"] == "holdout"
    assert result.config["training"]["training_mode"] == "distributed"
    assert any("read" in m and "in 12 partitions" in m for m in logs)
    # the adult income task: a LightGBM this size scores about 0.92 AUC; 0.88 leaves room for the split
    assert result.best_trial.score > 0.88
    assert events[0]["n_workers"] == 2 and events[0]["workers"][0]["memory_limit"] == 2**30
    assert max(e["round"] for e in events if e.get("trial") == 0) == 200  # the first trial's rounds
    model = artifacts.load_model(os.path.dirname(result.best_trial.model_path))
    manifest = artifacts.input_schema(model)
    assert [c["name"] for c in manifest][:3] == ["age", "workclass", "education"]
    assert {c["name"]: c["type"] for c in manifest}["workclass"] == "Categorical"
    rows = df.drop(columns=[target]).head(50)
    proba = predict.call(model, rows, "predict_proba")
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1]
    assert np.array_equal(predict.call(model, rows, "predict"), np.array([0, 1])[proba.argmax(axis=1)])
    # a request with an unseen category and a missing number still scores
    odd = rows.head(1).assign(workclass="Space-agency", age=np.nan)
    assert predict.call(model, odd, "predict_proba").shape == (1, 2)
    with pytest.raises(ValueError, match=r"missing input columns \['age'\]"):
        model.predict(rows.drop(columns=["age"]))
    # batch scoring on the cluster: a CSV cut into partitions, scored in file order
    csv = tmp_path / "score.csv"
    df.drop(columns=[target]).head(3000).to_csv(csv, index=False)
    progress = []
    parts = list(score_partitions(str(csv), model, client, blocksize=60_000,
                                  on_partition=lambda done, total: progress.append((done, total))))
    assert len(parts) > 3 and progress[-1] == (len(parts), len(parts))
    scored = pd.concat(parts, ignore_index=True)
    assert len(scored) == 3000 and list(scored.columns[-3:]) == ["prediction", "probability_0", "probability_1"]
    assert np.allclose(scored["probability_1"], model.predict_proba(df.drop(columns=[target]).head(3000))[:, 1],
                       atol=1e-6)
    assert scored["age"].tolist() == df["age"].head(3000).tolist()  # the input rows, in order


def test_distributed_regression_with_test_data_and_datetime_parts(client, diamonds_parquet, tmp_path):
    df, path = diamonds_parquet
    job = _job(automl_engine.regression, path, "price", primary_metric="r2_score", test_data_size=0.2)
    result = job.run(workdir=tmp_path, cluster=client)
    assert result.status == "completed"
    # price from carat, cut, colour and clarity: R² about 0.97 for a tuned LightGBM
    assert result.best_trial.score > 0.93 and result.test_metrics["r2_score"] > 0.93
    summary = {row["column"]: row for row in result.featurization_summary}
    assert summary["listed"]["detected_type"] == "DateTime" and summary["listed"]["n_engineered_features"] == 7
    assert summary["cut"]["transformations"] == ["LightGBM native categorical (5 categories)"]
    model = artifacts.load_model(os.path.dirname(result.best_trial.model_path))
    pred = predict.call(model, df.drop(columns=["price"]).head(20), "predict")
    assert pred.shape == (20,) and np.all(np.isfinite(pred))


@pytest.mark.parametrize("change, setting", [
    (lambda job: job.set_training(enable_vote_ensemble=True), "training.enable_vote_ensemble"),
    (lambda job: job.set_training(enable_stack_ensemble=True), "training.enable_stack_ensemble"),
    (lambda job: job.set_training(enable_onnx_compatible_models=True), "training.enable_onnx_compatible_models"),
    (lambda job: job.set_training(allowed_training_algorithms=["LightGBM", "XGBoostClassifier"]),
     "training.allowed_training_algorithms"),
    (lambda job: job.set_training(enable_model_explainability=True), "training.enable_model_explainability"),
    (lambda job: job.set_limits(max_nodes=0), "limits.max_nodes"),
    (lambda job: job.set_training(training_mode="sharded"), "training.training_mode"),
])
def test_unsupported_settings_are_refused_by_name(change, setting):
    job = automl_engine.classification(training_data="data.parquet", target_column_name="y")
    job.set_training(training_mode="distributed")
    assert job.config.training.enable_vote_ensemble is False  # switched off with the mode
    with pytest.raises(ConfigError) as error:
        change(job)
    assert error.value.setting == setting


def test_cross_validation_and_forecasting_are_refused_by_name():
    with pytest.raises(ConfigError) as error:
        automl_engine.job_from_config({"task": "classification", "target_column_name": "y", "n_cross_validations": 5,
                                       "training": {"training_mode": "distributed"}})
    assert error.value.setting == "n_cross_validations"
    job = automl_engine.forecasting(training_data="data.parquet", target_column_name="y")
    with pytest.raises(ConfigError, match="supports classification and regression, not forecasting") as error:
        job.set_training(training_mode="distributed")
    assert error.value.setting == "training.training_mode"


def test_non_distributed_run_on_parquet_that_does_not_fit_is_refused_before_loading(adult_parquet, monkeypatch):
    _, path = adult_parquet
    monkeypatch.setenv("AUTOML_MEMORY_LIMIT", "100KiB")  # a process limit below this data's size
    job = automl_engine.classification(training_data=str(path), target_column_name="income >50K")
    with pytest.raises(ConfigError, match="does not fit in memory") as error:
        job.run()
    assert error.value.setting == "training.training_mode"
    monkeypatch.setenv("AUTOML_MEMORY_LIMIT", "4GiB")
    check_fits_in_memory(path)  # fits: nothing raised


def test_a_worker_killed_mid_training_fails_the_trial_with_a_reason_and_the_run_goes_on(
        client, adult_parquet, tmp_path, monkeypatch):
    _, path = adult_parquet
    # a first trial long enough to be killed in the middle of
    monkeypatch.setitem(search.FIRST_TRIAL, "n_estimators", 4000)
    monkeypatch.setitem(search.FIRST_TRIAL, "learning_rate", 0.02)
    pids = client.run(os.getpid)
    killed = []

    def kill_once(state):
        if state.get("trial") == 0 and state.get("round", 0) > 0 and not killed:
            victim = sorted(pids)[0]
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    job = _job(automl_engine.classification, path, "income >50K")
    started = time.monotonic()
    result = job.run(callbacks=automl_engine.Callbacks(on_cluster=kill_once), workdir=tmp_path, cluster=client)
    assert killed
    assert time.monotonic() - started < 150
    first, second = result.trials
    assert first.status == "failed"
    assert f"worker {killed[0]} left the cluster during training" in first.error
    assert second.status == "completed"  # the workers came back and the search went on
    assert result.status == "completed" and result.best_trial is second
    assert len(worker_addresses(client)) == 2


def test_a_running_cluster_trains_on_at_most_max_nodes_of_its_workers(adult_parquet, tmp_path):
    """Three workers on the scheduler, max_nodes=2: the run reads and trains on two of them only (every
    task of the run in the scheduler's task stream ran on those two), the third stays free."""
    from distributed import Client, LocalCluster, get_task_stream

    _, path = adult_parquet
    cluster = LocalCluster(n_workers=3, threads_per_worker=1, processes=True, memory_limit="700MiB",
                           dashboard_address=":0", silence_logs=40)
    try:
        with Client(cluster) as client:
            logs = []
            job = _job(automl_engine.classification, path, "income >50K", primary_metric="AUC_weighted")
            job.set_limits(max_nodes=2, max_trials=1)
            with get_task_stream(client) as stream:
                result = job.run(callbacks=automl_engine.Callbacks(on_log=lambda level, m: logs.append(m)),
                                 workdir=tmp_path, cluster=client)
            assert result.status == "completed" and result.best_trial.score > 0.88
            assert result.best_trial.pipeline_name == "LightGBM on Dask (2 workers)"
            chosen = result.extra["cluster"]["training_workers"]
            assert len(chosen) == 2 and set(chosen) < worker_addresses(client)
            assert any(m == f"training on 2 of its 3 workers (limits.max_nodes=2): {', '.join(chosen)}" for m in logs)
            used = {task["worker"] for task in stream.data}
            assert used == set(chosen)
            # each of the two built its LightGBM Dataset from its partitions, which were then released
            built = {msg["worker"] for _, msg in client.get_events(train.BUILT_TOPIC)}
            assert built == set(chosen)
    finally:
        cluster.close()


def test_the_workers_are_read_fresh_while_the_client_refreshes_its_cache():
    """The client's own refresh of its cached identity lists no workers; a read that raced it saw an empty
    cluster (31 of 300 reads with a 1 ms refresh under distributed 2026.8), so a run thought its training
    workers had left. Every read must see both workers."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.client.scheduler-info-interval": "1ms"}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                          silence_logs=40) as cluster, Client(cluster) as client:
            seen = [len(worker_addresses(client)) for _ in range(300)]
    assert seen == [2] * 300
