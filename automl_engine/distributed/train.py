"""One LightGBM training on the Dask cluster, with LightGBM's own network (data-parallel tree learner), and
each worker's ``lightgbm.Dataset`` built from its partitions without concatenating them.

``lightgbm.dask`` concatenates a worker's partitions into one frame, which LightGBM then converts into one
more float matrix before binning it: about three copies of the worker's share of the data on top of the
binned Dataset, so a worker holding a quarter of its memory limit in partitions goes over it. Here each
partition is featurized on the worker into one float32 matrix (categories as their codes, missing as NaN),
and the worker's Dataset is created from the list of those matrices (``LGBM_DatasetCreateFromMats``: no
concatenated copy); LightGBM bins them into about one byte per feature per row. The bin boundaries are
agreed between the machines by LightGBM itself when the network is up, as in ``lightgbm.dask``. Once every
worker has built its Dataset (a callback before the first round tells the driver), the driver releases the
partitions, so during the boosting rounds a worker holds the binned data and LightGBM's training state only.

The trained booster comes back as the same scikit-learn estimator (``LGBMClassifier`` / ``LGBMRegressor``)
that ``DaskLGBMClassifier.to_local()`` gives, so the saved artifact does not change.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

# LightGBM's socket timeout (minutes); the driver's watcher acts much sooner on a lost worker.
NETWORK_TIMEOUT_MINUTES = 5
POLL_SECONDS = 0.5
TINY_ROWS = 64


def pack_partition(X: pd.DataFrame, y: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
    """One featurized partition as LightGBM reads a pandas frame: categoricals as their codes (missing as
    NaN), everything as one C-ordered float32 matrix; the label as its own array."""
    data = np.empty((len(X), X.shape[1]), dtype=np.float32)
    for j, column in enumerate(X.columns):
        values = X[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            data[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            data[:, j] = values.to_numpy(dtype=np.float32, na_value=np.nan)
    return {"data": data, "label": np.asarray(y)}


BUILT_TOPIC = "automl-dataset-built"


class _DatasetBuilt:
    """A LightGBM callback run before the first round, once the worker's Dataset is built: it tells the
    driver, which then releases the worker's partitions (LightGBM holds the binned copy)."""

    before_iteration = True
    order = 0

    def __init__(self, token: str):
        self.token, self.sent = token, False

    def __call__(self, env) -> None:
        if not self.sent:
            from distributed import get_worker

            worker = get_worker()
            worker.log_event(BUILT_TOPIC, {"token": self.token, "worker": worker.address})
            self.sent = True


def _free_port() -> int:
    """A TCP port free on this worker's machine now, for LightGBM to listen on (as lightgbm.dask found ports
    before 4.0; the socket is closed at once, so nothing unpicklable stays in the worker's memory)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _train_on_worker(params: dict[str, Any], keys: list[str], feature_names: list[str], categorical: list[int],
                     rounds: int, callbacks: list, network: dict[str, Any] | None, token: str,
                     return_model: bool) -> str | None:
    """Build the Dataset from this worker's partitions (by key, so that once it is built the driver can
    release them and they leave this worker's memory), then train with LightGBM's network."""
    import lightgbm as lgb
    from distributed import get_worker

    data = get_worker().data
    mats, labels = [], []
    for key in keys:
        part = data[key]
        if len(part["data"]):
            mats.append(part["data"])
            labels.append(part["label"])
        del part
    label = np.concatenate(labels)
    dataset = lgb.Dataset(mats, label=label, feature_name=feature_names, categorical_feature=categorical,
                          free_raw_data=True)
    del mats, labels, label
    params = {**params, **(network or {})}
    booster = None
    try:
        booster = lgb.train(params, dataset, num_boost_round=rounds, callbacks=[_DatasetBuilt(token), *callbacks])
    finally:
        if booster is not None and network:
            booster.free_network()
    return booster.model_to_string() if return_model else None


def local_estimator(params: dict[str, Any], sample: pd.DataFrame, n_classes: int | None):
    """The unfitted-to-data scikit-learn estimator for ``params``, fitted for one round on a few rows of
    ``sample`` so that it carries everything LightGBM's scikit-learn API sets when it fits (features,
    categories, objective, classes): its booster is replaced by the distributed one afterwards."""
    from lightgbm import LGBMClassifier, LGBMRegressor

    rows = sample.head(TINY_ROWS)
    need = max(2, n_classes or 0)
    rows = pd.concat([rows] * -(-need // len(rows)), ignore_index=True)
    if n_classes is not None:
        y = np.arange(len(rows)) % n_classes
        model = LGBMClassifier(**{**params, "n_estimators": 1, "n_jobs": 1})
    else:
        y = np.arange(len(rows), dtype="float64")
        model = LGBMRegressor(**{**params, "n_estimators": 1, "n_jobs": 1})
    return model.fit(rows, y)


def booster_params(tiny) -> dict[str, Any]:
    """The core LightGBM parameters the scikit-learn estimator trained ``tiny`` with (objective, classes and
    every hyperparameter under the names LightGBM reads), without its round count and thread count."""
    params = dict(tiny.booster_.params)
    for key in ("num_iterations", "n_estimators", "num_threads", "n_jobs", "categorical_feature",
                "categorical_column"):
        params.pop(key, None)
    params["tree_learner"] = "data"
    return params


def train_on_cluster(client, parts: list, params: dict[str, Any], sample: pd.DataFrame, n_classes: int | None,
                     workers: Sequence[str] | None, callbacks: list):
    """Train LightGBM with ``params`` (scikit-learn names, ``n_estimators`` rounds) on ``parts``, delayed
    objects each giving one :func:`pack_partition` result, only on ``workers`` (all when ``None``).
    ``sample`` is a featurized pandas frame (a few rows set up the local estimator). Returns the local
    scikit-learn estimator holding the trained booster; the partitions are released from the workers."""
    import lightgbm as lgb
    from distributed import wait

    tiny = local_estimator(params, sample, n_classes)
    core = booster_params(tiny)
    rounds = int(params["n_estimators"])
    feature_names = list(sample.columns)
    categorical = [j for j, c in enumerate(sample.columns) if isinstance(sample[c].dtype, pd.CategoricalDtype)]
    restrict = {"workers": list(workers), "allow_other_workers": False} if workers else {}
    futures = client.compute(parts, **restrict)
    try:
        wait(futures)
        for future in futures:
            if future.status == "error":
                future.result()  # raises the partition's error here
        by_key = {f.key: f for f in futures}
        worker_map: dict[str, list] = defaultdict(list)
        for key, holders in client.who_has(futures).items():
            worker_map[next(iter(holders))].append(by_key[key])
        machines = sorted(worker_map)
        ncores = client.ncores()
        ports = client.run(_free_port, workers=machines) if len(machines) > 1 else {}
        machine_list = ",".join(f"{urlparse(w).hostname}:{ports[w]}" for w in machines) if ports else None
        token = uuid.uuid4().hex
        trainings = []
        for worker in machines:
            network = None
            if machine_list:
                network = {"machines": machine_list, "local_listen_port": ports[worker],
                           "num_machines": len(machines), "time_out": NETWORK_TIMEOUT_MINUTES}
            trainings.append(client.submit(
                _train_on_worker, {**core, "num_threads": ncores[worker]}, [f.key for f in worker_map[worker]],
                feature_names, categorical, rounds, callbacks, network, token, worker == machines[0],
                workers=[worker], allow_other_workers=False, pure=False))
        released = False
        while True:
            try:
                wait(trainings, timeout=POLL_SECONDS)
                break
            except TimeoutError:
                if not released and _built_on(client, token) >= set(machines):
                    client.cancel(futures)  # every Dataset is built: the partitions can go
                    released = True
        model_string = next(m for m in client.gather(trainings) if m)
    finally:
        client.cancel(futures)
    booster = lgb.Booster(model_str=model_string)
    booster.pandas_categorical = tiny.booster_.pandas_categorical
    tiny._Booster = booster  # the fitted state LightGBM's own Dask to_local() copies the same way
    tiny._best_iteration = booster.best_iteration
    tiny._best_score = booster.best_score
    tiny._evals_result = {}
    tiny.set_params(n_estimators=rounds, n_jobs=params.get("n_jobs", 1))
    return tiny


def _built_on(client, token: str) -> set[str]:
    """The workers that have built their Dataset for the training ``token``."""
    try:
        events = client.get_events(BUILT_TOPIC)
    except Exception:  # noqa: BLE001 - the scheduler is busy or restarting: no news this time
        return set()
    return {msg["worker"] for _, msg in events if isinstance(msg, dict) and msg.get("token") == token}
