"""The distributed run: data read over partitions, a holdout, featurization learned in one pass, then LightGBM
trials one after another on the Dask cluster (LightGBM's data-parallel learner over its own network, each
worker's Dataset built from its partitions: ``train.py``), each watched from this process so that a lost
worker, a trial timeout or a stop request ends the trial with a reason instead of leaving it waiting. Each
trial's booster comes back as the scikit-learn estimator ``DaskLGBMClassifier.to_local()`` would give, in the
same artifact format as the in-memory engine's models: one scikit-learn Pipeline that predicts on one machine.
"""
from __future__ import annotations

import math
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from ..errors import ConfigError
from ..results import AutoMLResult, Callbacks, TrialResult
from .cluster import Cluster, worker_addresses
from .data import bounded_sample, column_names, read_frame
from .featurize import DATETIME_PARTS, column_kinds, fit_featurizer
from .train import pack_partition, train_on_cluster

PROGRESS_TOPIC = "automl-boosting-progress"
ALGORITHM = "LightGBM"
DEFAULT_VALIDATION_SIZE = 0.1
POLL_SECONDS = 0.5
# The first trial is LightGBM's defaults with more rounds; TPE samples the space below afterwards.
FIRST_TRIAL = {"n_estimators": 200, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20,
               "colsample_bytree": 1.0, "subsample": 1.0, "reg_lambda": 0.001}


def search_space(trial) -> dict[str, Any]:
    """LightGBM's hyperparameters as an Optuna trial samples them."""
    return {"n_estimators": trial.suggest_int("n_estimators", 50, 800, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 255, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)}


class LabelDecoder(BaseEstimator, ClassifierMixin):
    """A classifier trained on label codes 0..k-1 (so that every worker encodes labels the same way, whatever
    classes its partitions hold) answering in the original labels."""

    def __init__(self, model=None, classes=None):
        self.model = model
        self.classes = classes

    def fit(self, X=None, y=None):
        self.classes_ = np.asarray(self.classes)
        return self

    def predict_proba(self, X, **kwargs):
        return self.model.predict_proba(X, **kwargs)

    def predict(self, X, **kwargs):
        return self.classes_[np.argmax(self.predict_proba(X, **kwargs), axis=1)]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "classes_")


class BoostingProgress:
    """LightGBM callback run on each worker: every ``every`` rounds it logs an event the driver reads (the
    run page's progress of the current trial)."""

    def __init__(self, token: str, every: int):
        self.token = token
        self.every = max(1, every)

    def __call__(self, env) -> None:
        done = env.iteration + 1
        if done % self.every == 0 or done == env.end_iteration:
            from distributed import get_worker

            get_worker().log_event(PROGRESS_TOPIC, {"token": self.token, "round": done,
                                                    "of": env.end_iteration - env.begin_iteration})


def _training_part(part: pd.DataFrame, input_step, featurizer, target: str, classes: list | None) -> dict:
    """One raw partition (features and target, read once) as the float32 matrix and label a worker trains on."""
    X = featurizer.transform(input_step.transform(part))
    if classes is not None:
        y = _encode(part[target], classes).to_numpy()
    else:
        y = pd.to_numeric(part[target], errors="coerce").to_numpy(dtype="float64")
    return pack_partition(X, y)


def _encode(values: pd.Series, classes: list) -> pd.Series:
    return pd.Series(pd.Index(classes).get_indexer(values), index=values.index, dtype="int32")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class StopRequested(Exception):
    """The caller asked to stop before the search began."""


class TrialAborted(Exception):
    """A trial stopped from outside: a worker left, its time ran out or the caller asked to stop."""


class DistributedRun:
    """One distributed job run; :meth:`run` returns the :class:`AutoMLResult`."""

    def __init__(self, job, callbacks: Callbacks, workdir, cluster=None):
        self.job = job
        self.config = job.config
        self.callbacks = callbacks
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="automl-dask-"))
        self.cluster_config = cluster
        self.trials: list[TrialResult] = []
        self.status = "completed"
        self.cluster_state: dict[str, Any] = {}

    # -- callbacks ------------------------------------------------------------------------------------

    def log(self, level: str, message: str) -> None:
        if self.callbacks.on_log:
            self.callbacks.on_log(level, message)

    def report_cluster(self, **changes: Any) -> None:
        self.cluster_state.update(changes)
        on_cluster = getattr(self.callbacks, "on_cluster", None)
        if on_cluster:
            on_cluster(dict(self.cluster_state))

    def should_stop(self) -> bool:
        return bool(self.callbacks.should_stop and self.callbacks.should_stop())

    # -- data -----------------------------------------------------------------------------------------

    def read(self, compute):
        config = self.config
        target = config.target_column_name
        overrides = config.featurization.column_types()
        names = column_names(self.job.training_data, "training_data")
        if target not in names:
            raise ConfigError("target_column_name", f"column {target!r} is not in the training data; columns "
                                                    f"are {names[:20]}")
        features = [c for c in names if c != target and overrides.get(c) != "Ignore"]
        if not features:
            raise ConfigError("training_data", "the training data has no column besides the target")
        frame = read_frame(self.job.training_data, "training_data", features + [target])
        frame = frame[~frame[target].isna()]
        seed = config.random_state
        if self.job.validation_data is not None:
            train = frame
            valid = read_frame(self.job.validation_data, "validation_data", features + [target])
            source, size = "validation_data", None
        else:
            size = config.validation_data_size or DEFAULT_VALIDATION_SIZE
            train, valid = frame.random_split([1 - size, size], random_state=seed)
            source = "split"
        test = None
        if self.job.test_data is not None:
            test = read_frame(self.job.test_data, "test_data", features + [target])
        elif config.test_data_size:
            train, test = train.random_split([1 - config.test_data_size, config.test_data_size],
                                             random_state=seed + 1)
        counts = [train.map_partitions(len).sum(), valid.map_partitions(len).sum()]
        if self.config.task == "classification":
            counts.append(train[target].value_counts(split_out=1))
        else:
            counts.append(train[target].map_partitions(pd.to_numeric, errors="coerce").count())
        n_train, n_valid, target_stats = compute(*counts)
        n_train, n_valid = int(n_train), int(n_valid)
        if n_train < 2 or n_valid < 1:
            raise ConfigError("training_data", f"{n_train} training and {n_valid} validation rows: too few to "
                                               "train and validate; give more data")
        if self.config.task == "classification":
            classes = sorted(target_stats.index.tolist())
            if len(classes) < 2:
                raise ConfigError("target_column_name", f"the target has one class ({classes}); "
                                                        "classification needs at least two")
            self.classes = classes
        else:
            if int(target_stats) < n_train:
                raise ConfigError("target_column_name", "the regression target has non-numeric values")
            self.classes = None
        kinds = column_kinds(frame[features].dtypes.to_dict(), overrides)
        self.input_step, self.featurizer, dropped = fit_featurizer(train[features], kinds, n_train, compute)
        self.features, self.train, self.n_train = features, train, n_train
        self.validation = {"method": "holdout", "source": source, "validation_size": size,
                           "validation_rows": n_valid, "scored_rows": min(n_valid, 200_000),
                           "reason": (f"distributed training: holdout of {n_valid} rows"
                                      + (f" ({size:.0%} of the data)" if size else " (the validation data)")
                                      + (", scored on a 200,000-row sample" if n_valid > 200_000 else ""))}
        self.valid = bounded_sample(valid, n_valid, seed, compute)
        self.sample_features = self.featurizer.transform(self.input_step.transform(self.valid[features].head(64)))
        self.test = None
        if test is not None:
            n_test = int(compute(test.map_partitions(len).sum())[0])
            self.test = bounded_sample(test, n_test, seed, compute) if n_test else None
        self.summary = self.featurizer.summary() + dropped
        for row in self.summary:
            row.setdefault("drop_reason", row.pop("reason", None))
            row.setdefault("transformations", [])
            row.setdefault("n_engineered_features", 0 if row["dropped"] else
                           (len(DATETIME_PARTS) if row["detected_type"] == "DateTime" else 1))
        self.guardrails = [{"name": "validation method", "status": "done",
                            "description": self.validation["reason"], "parameters": {}},
                           {"name": "distributed training", "status": "done",
                            "description": "cross-validation, ensembles, ONNX export, code generation and "
                                           "model explanations are not available in distributed mode",
                            "parameters": {}}]
        self.log("info", f"read {n_train} training rows in {train.npartitions} partitions, "
                         f"{len(self.input_step.columns_)} feature columns used, {len(dropped)} dropped")

    def compute(self, client, *objs):
        """``dask.compute(*objs)`` on the cluster, polling ``should_stop`` (the caller's heartbeat) while a
        pass over a large dataset runs; a stop request cancels it."""
        from distributed import wait

        restrict = {"workers": list(self.workers), "allow_other_workers": False} if self.workers else {}
        futures = client.compute(list(objs), **restrict)
        while True:
            try:
                wait(futures, timeout=2 * POLL_SECONDS)
                break
            except TimeoutError:
                if self.should_stop():
                    client.cancel(futures)
                    raise StopRequested("stopped on request while reading the data") from None
        return tuple(client.gather(futures))

    # -- trials ---------------------------------------------------------------------------------------

    def lightgbm_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's hyperparameters as LightGBM's scikit-learn estimator takes them."""
        return {**params, "random_state": self.config.random_state, "verbose": -1,
                "subsample_freq": 1 if params.get("subsample", 1.0) < 1.0 else 0}

    def pick_workers(self, client) -> None:
        """The workers this run trains on: every worker of the LocalCluster it started; on a running cluster
        at most ``limits.max_nodes`` of them, those with the most memory first (the others stay free for
        other work). Picked again after a restart, which gives workers new addresses."""
        described = self.cluster.describe()
        if self.cluster.local is not None:
            self.workers = None
            self.n_workers = described["n_workers"]
            return
        ranked = sorted(described["workers"], key=lambda w: (-(w["memory_limit"] or 0), w["address"]))
        chosen = ranked[:self.config.limits.max_nodes]
        self.workers = [w["address"] for w in chosen]
        self.n_workers = len(self.workers)
        self.report_cluster(training_workers=list(self.workers))

    def fit_trial(self, client, number: int, params: dict[str, Any], deadline: float):
        """Train one trial on the cluster, watching it; returns the local pipeline or raises TrialAborted."""
        from dask import delayed

        target = self.config.target_column_name
        raw = self.train[self.features + [target]].to_delayed()
        parts = [delayed(_training_part)(part, self.input_step, self.featurizer, target, self.classes)
                 for part in raw]
        token = uuid.uuid4().hex
        rounds = int(params["n_estimators"])
        box: dict[str, Any] = {}

        def fit() -> None:
            try:
                box["model"] = train_on_cluster(client, parts, self.lightgbm_params(params), self.sample_features,
                                                len(self.classes) if self.classes is not None else None,
                                                self.workers, [BoostingProgress(token, rounds // 20)])
            except BaseException as exc:  # reported by the watcher
                box["error"] = exc

        workers = set(self.workers) if self.workers else worker_addresses(client)
        thread = threading.Thread(target=fit, name=f"dask-trial-{number}", daemon=True)
        thread.start()
        reason = None
        last_round = 0
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            done = self._progress(client, token)
            if done != last_round:
                last_round = done
                self.report_cluster(trial=number, round=done, rounds=rounds)
            if not thread.is_alive():
                break
            gone = workers - worker_addresses(client)
            if gone:
                reason = _lost(gone)
            elif time.monotonic() > deadline:
                reason = "the trial ran past its time limit (limits.trial_timeout_minutes or the job's timeout)"
            elif self.should_stop():
                reason = "stopped on request"
            if reason:
                break
        if reason:
            self._reset(client)
            thread.join(30)
            raise TrialAborted(reason)
        if "error" in box:
            gone = workers - worker_addresses(client)
            if gone:  # the peers of a killed worker fail fast on their LightGBM sockets
                self._reset(client)
                error = box["error"]
                raise TrialAborted(f"{_lost(gone)} ({type(error).__name__}: {error})")
            raise box["error"]
        self.report_cluster(trial=number, round=rounds, rounds=rounds)
        local = box["model"]
        local.set_params(n_jobs=1)  # a served model predicts on one thread; parallelism is the server's
        model = LabelDecoder(local, self.classes).fit() if self.classes is not None else local
        return Pipeline([("input", self.input_step), ("featurize", self.featurizer), ("model", model)])

    def _progress(self, client, token: str) -> int:
        try:
            events = client.get_events(PROGRESS_TOPIC)
        except Exception:  # the scheduler is restarting: no news this time
            return 0
        rounds = [msg["round"] for _, msg in events if isinstance(msg, dict) and msg.get("token") == token]
        return max(rounds, default=0)

    def _reset(self, client) -> None:
        """Cancel a stuck or stopped training: restart the workers (their nannies bring them back) so no
        LightGBM process keeps waiting for a peer that is gone."""
        try:
            client.restart(timeout=120, wait_for_workers=False)
        except Exception as exc:
            self.log("warning", f"restarting the Dask workers failed: {type(exc).__name__}: {exc}")
        try:
            client.wait_for_workers(self.n_workers, timeout=120)
        except Exception:
            self.log("warning", f"fewer than {self.n_workers} Dask workers came back after the restart")
        self.report_cluster(**self.cluster.describe())
        self.pick_workers(client)

    def score(self, pipeline, frame: pd.DataFrame) -> tuple[dict[str, float], dict[str, Any]]:
        from ..metrics import compute_charts, compute_metrics

        target = self.config.target_column_name
        X = frame[self.features]
        y = frame[target].to_numpy()
        if self.classes is not None:
            pred = pipeline.predict_proba(X)
        else:
            y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
            pred = pipeline.predict(X)
        positive = self.config.positive_label
        return (compute_metrics(self.config.task, y, pred, self.classes),
                compute_charts(self.config.task, y, pred, self.classes, positive))

    # -- the loop -------------------------------------------------------------------------------------

    def run(self) -> AutoMLResult:
        import optuna

        started = time.monotonic()
        config, limits = self.config, self.config.limits
        deadline = started + limits.timeout_minutes * 60
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.n_workers = limits.max_nodes
        with Cluster(self.cluster_config, n_workers=self.n_workers) as cluster:
            self.cluster = cluster
            client = cluster.client
            self.threads = max(1, min(w["threads"] or 1 for w in cluster.describe()["workers"]))
            self.report_cluster(**cluster.describe(), trial=None, round=0, rounds=0)
            described = cluster.describe()
            self.workers = None
            self.pick_workers(client)
            self.log("info", f"Dask cluster {described['scheduler']}: {described['n_workers']} workers, "
                             f"{described['total_memory'] / 2**30:.1f} GiB memory in all")
            if self.workers is not None:
                self.log("info", f"training on {self.n_workers} of its {described['n_workers']} workers "
                                 f"(limits.max_nodes={limits.max_nodes}): {', '.join(self.workers)}")
            try:
                self.read(lambda *objs: self.compute(client, *objs))
            except StopRequested as exc:
                self.log("info", str(exc))
                return self.result_without_trials(started)
            if self.callbacks.on_prepared:
                self.callbacks.on_prepared({"guardrails": self.guardrails, "validation": self.validation})
            greater = config.greater_is_better
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(direction="maximize" if greater else "minimize",
                                        sampler=optuna.samplers.TPESampler(seed=config.random_state,
                                                                           n_startup_trials=5))
            best: TrialResult | None = None
            best_model = None
            since_best = 0
            number = 0
            stop_reason = "max_trials reached"
            while number < limits.max_trials:
                if self.should_stop():
                    self.status, stop_reason = "canceled", "canceled by the caller"
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 1:
                    stop_reason = "timeout_minutes reached"
                    break
                if limits.enable_early_termination and number >= 20 and since_best >= 10:
                    stop_reason = "early termination: 10 trials without improvement"
                    break
                if number == 0:
                    study.enqueue_trial(FIRST_TRIAL)
                optuna_trial = study.ask()
                params = search_space(optuna_trial)
                trial_limit = remaining if limits.trial_timeout_minutes is None \
                    else min(remaining, limits.trial_timeout_minutes * 60)
                result, model = self.one_trial(client, number, params, time.monotonic() + trial_limit)
                self.trials.append(result)
                if result.status == "completed":
                    study.tell(optuna_trial, result.score)
                else:
                    study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
                if self.callbacks.on_trial:
                    self.callbacks.on_trial(result)
                if result.status == "completed" and _better(result.score, best.score if best else None, greater):
                    best, best_model, since_best = result, model, 0
                else:
                    since_best += 1
                number += 1
                if best is not None and limits.exit_score is not None and \
                        (best.score >= limits.exit_score if greater else best.score <= limits.exit_score):
                    stop_reason = "exit_score reached"
                    break
                if result.error == "stopped on request":
                    self.status, stop_reason = "canceled", "canceled by the caller"
                    break
            self.log("info", f"search stopped: {stop_reason}")
            self.report_cluster(**cluster.describe(), trial=None)
        if best is not None and self.test is not None:
            best.test_metrics, best.test_charts = self.score(best_model, self.test)
            if self.callbacks.on_trial:
                self.callbacks.on_trial(best)
        if best is None and self.status == "completed":
            self.status = "timed_out"
            self.log("error", "no trial completed within the limits")
        return AutoMLResult(
            status=self.status, best_trial=best, best_model=best_model, trials=self.trials,
            featurization_summary=self.summary, guardrails=self.guardrails,
            test_metrics=best.test_metrics if best is not None else None, validation_method=self.validation,
            config=config.to_dict(), primary_metric=config.primary_metric, greater_is_better=config.greater_is_better,
            explanation=None, workdir=str(self.workdir), duration_seconds=round(time.monotonic() - started, 3),
            extra={"cluster": dict(self.cluster_state)})

    def result_without_trials(self, started: float) -> AutoMLResult:
        config = self.config
        return AutoMLResult(status="canceled", best_trial=None, best_model=None, trials=[], featurization_summary=[],
                            guardrails=[], test_metrics=None, validation_method={}, config=config.to_dict(),
                            primary_metric=config.primary_metric, greater_is_better=config.greater_is_better,
                            workdir=str(self.workdir), duration_seconds=round(time.monotonic() - started, 3),
                            extra={"cluster": dict(self.cluster_state)})

    def one_trial(self, client, number: int, params: dict[str, Any], deadline: float):
        from ..artifacts import save_model

        started_at, t0 = _now(), time.monotonic()
        name = f"LightGBM on Dask ({self.n_workers} worker{'s' if self.n_workers != 1 else ''})"
        featurization = "mean imputation + scaling, native categoricals, datetime parts (fitted over partitions)"
        common = dict(number=number, algorithm=ALGORITHM, pipeline_name=name, featurization=featurization,
                      hyperparameters=params, test_metrics=None, test_charts=None, is_ensemble=False,
                      started_at=started_at)
        try:
            pipeline = self.fit_trial(client, number, params, deadline)
            metrics, charts = self.score(pipeline, self.valid)
            score = metrics.get(self.config.primary_metric)
            trial_dir = self.workdir / f"trial_{number:04d}"
            save_model(pipeline, trial_dir, {"task": self.config.task, "training_mode": "distributed",
                                             "hyperparameters": params})
            result = TrialResult(**common, metrics=metrics, score=score, charts=charts,
                                 duration_seconds=round(time.monotonic() - t0, 3), status="completed", error=None,
                                 model_path=str(trial_dir / "model.pkl"), finished_at=_now())
            self.log("info", f"trial {number}: {self.config.primary_metric}={score:.5f} "
                             f"({result.duration_seconds:.1f}s)")
            return result, pipeline
        except (TrialAborted, Exception) as exc:
            message = str(exc) if isinstance(exc, TrialAborted) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, TrialAborted) and self._workers_changed(client):
                message = f"a Dask worker was lost during training ({message}); the workers were restarted"
                self._reset(client)
            self.log("warning", f"trial {number} failed: {message}")
            return TrialResult(**common, metrics={}, score=None, charts={},
                               duration_seconds=round(time.monotonic() - t0, 3), status="failed",
                               error=message[:2000], model_path=None, finished_at=_now()), None

    def _workers_changed(self, client) -> bool:
        try:
            if self.workers:
                return bool(set(self.workers) - worker_addresses(client))
            return len(worker_addresses(client)) < self.n_workers
        except Exception:
            return True


def _lost(gone: set[str]) -> str:
    return (f"worker {', '.join(sorted(gone))} left the cluster during training (killed, or over its memory "
            "limit); the trial was stopped and the workers restarted")


def _better(a: float | None, b: float | None, greater: bool) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    if b is None:
        return True
    return a > b if greater else a < b


def run_distributed(job, callbacks: Callbacks | None = None, workdir=None, cluster=None) -> AutoMLResult:
    """Run ``job`` (``training_mode="distributed"``) on a Dask cluster: ``cluster`` is a
    :class:`~automl_engine.distributed.ClusterConfig`, a ``distributed.Client``, or ``None`` (the
    ``DASK_SCHEDULER_ADDRESS`` environment variable, else a LocalCluster of ``max_nodes`` workers)."""
    return DistributedRun(job, callbacks or Callbacks(), workdir, cluster).run()
