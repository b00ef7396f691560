"""Many models: one forecasting run per partition of the series (a store, a region), trained independently.

The seed's "many models" pattern for datasets with hundreds of series. Each partition is an ordinary
forecasting run of the job (the driver's search, rolling-origin validation, ensembles): there is one search
loop for one and for many. The partitions' drivers run side by side and send every trial through one
:class:`~automl_engine.executor.TrialExecutor`: the local process pool by default, or any executor given
(the studio's Celery executor spreads them over its workers, on any machine sharing the storage).

Only the caller's thread touches the executor: each partition's driver talks to a
:class:`_PartitionExecutor`, whose requests the caller's thread forwards and whose results it routes back by
handle. An executor that is not thread-safe (a database connection per thread, a pool of child processes)
is therefore used as from one driver.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

PUMP_SECONDS = 0.02


def partition_keys(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One key per row: its partition's values joined with "|"."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the data has no partition column {missing[0]!r}; partition_column_names must be columns "
                         "of the data (usually some of time_series_id_column_names)")
    key = df[columns[0]].astype(str)
    for c in columns[1:]:
        key = key + "|" + df[c].astype(str)
    return key


class _PartitionExecutor:
    """The executor protocol for one partition's driver: requests are queued for the caller's thread,
    outcomes arrive in this view's inbox under the handles it gave out."""

    def __init__(self, mux: "_Multiplexer"):
        self.mux = mux
        self.inbox: queue.Queue = queue.Queue()

    def submit(self, task: Any) -> str:
        handle = f"part-{next(self.mux.ids)}"
        self.mux.requests.put(("submit", self, handle, task))
        return handle

    def poll(self) -> list[tuple[str, Any]]:
        out = []
        while True:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                return out

    def cancel(self, handle: str) -> None:
        self.mux.requests.put(("cancel", self, handle, None))

    def shutdown(self) -> None:
        """The shared executor outlives one partition: the caller shuts it down."""


class _Multiplexer:
    """One executor shared by several drivers; :meth:`pump` (the caller's thread only) forwards their
    submissions and cancellations and routes outcomes back."""

    def __init__(self, executor: Any):
        self.executor = executor
        self.requests: queue.Queue = queue.Queue()
        self.ids = itertools.count()
        self.owner: dict[str, tuple[_PartitionExecutor, str]] = {}  # executor handle -> (view, view handle)
        self.real: dict[str, str] = {}  # view handle -> executor handle

    def view(self) -> _PartitionExecutor:
        return _PartitionExecutor(self)

    def pump(self) -> None:
        while True:
            try:
                kind, view, handle, task = self.requests.get_nowait()
            except queue.Empty:
                break
            if kind == "submit":
                real = self.executor.submit(task)
                self.owner[real] = (view, handle)
                self.real[handle] = real
            else:
                real = self.real.pop(handle, None)
                if real is not None and self.owner.pop(real, None) is not None:
                    self.executor.cancel(real)
        for real, outcome in self.executor.poll():
            owner = self.owner.pop(real, None)
            if owner is None:
                continue
            view, handle = owner
            self.real.pop(handle, None)
            view.inbox.put((handle, outcome))


class ManyModelsForecaster:
    """A forecasting run per partition of a job's data, with the
    :class:`~automl_engine.forecasting.models.ForecastModel` API over the partitions' best models: rows are
    routed to their partition's model; a partition not seen in training raises a ValueError.

    ``job``: a configured forecasting job (``forecasting(...)``, ``set_forecast_settings``, ``set_limits``,
    ``set_training``) whose data holds every partition; each partition runs it with its own rows, so its
    limits (``timeout_minutes``, ``max_trials``, ``max_concurrent_trials``) are per partition.
    ``partition_column_names``: the columns that define a partition (usually some of the series ids).
    """

    def __init__(self, job: Any, partition_column_names: Sequence[str]):
        from ..tasks.forecasting import FORECASTING

        if job.config.task != FORECASTING:
            raise ValueError(f"many models needs a forecasting job, not {job.config.task}")
        if isinstance(partition_column_names, str):
            partition_column_names = [partition_column_names]
        if not partition_column_names:
            raise ValueError("partition_column_names is empty; name the column(s) that define a partition")
        self.job = job
        self.partition_column_names = list(partition_column_names)
        self.settings = job.config.task_settings

    def partitions(self) -> dict[str, tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]]:
        """{partition key: (training, validation, test rows)} of the job's data, keys sorted."""
        from ..tasks import get_task

        train, valid, test = get_task(self.job.config.task).load_frames(self.job)
        keys = partition_keys(train, self.partition_column_names)
        out = {}
        other = {name: (frame, partition_keys(frame, self.partition_column_names))
                 for name, frame in (("valid", valid), ("test", test)) if frame is not None}
        for key, idx in sorted(keys.groupby(keys, sort=True).groups.items()):
            parts = [train.loc[idx].reset_index(drop=True)]
            for name in ("valid", "test"):
                if name in other:
                    frame, fkeys = other[name]
                    parts.append(frame[(fkeys == key).to_numpy()].reset_index(drop=True))
                else:
                    parts.append(None)
            out[key] = tuple(parts)
        return out

    def fit(self, executor: Any = None, max_concurrent_partitions: int | None = None,
            workdir: str | Path | None = None, callbacks: Any = None) -> "ManyModelsForecaster":
        """Run every partition; their trials go through ``executor`` (default: a local pool of
        ``max_concurrent_partitions x max_concurrent_trials`` worker processes). ``max_concurrent_partitions``
        partitions run at once (default: 2, or the local pool's size / max_concurrent_trials); give the
        number your executor's workers can take, since a partition's trial times count from submission.
        ``workdir``: each partition's trials under ``workdir/partition-<n>`` (a temporary folder by default;
        the studio's executor needs its storage). ``callbacks``: :class:`~automl_engine.Callbacks`; log lines
        are prefixed with the partition, ``on_trial`` gets every partition's trials (``trial.partition``
        says whose), ``should_stop`` stops them all."""
        import tempfile

        from ..executor import LocalProcessExecutor
        from ..job import job_from_config
        from ..results import Callbacks

        callbacks = callbacks or Callbacks()
        parts = self.partitions()
        per_run = self.job.config.limits.max_concurrent_trials
        own = executor is None
        if max_concurrent_partitions is None:
            max_concurrent_partitions = 2
        max_concurrent_partitions = max(1, min(int(max_concurrent_partitions), len(parts)))
        if own:
            executor = LocalProcessExecutor(n_workers=max_concurrent_partitions * per_run, n_threads=1).start()
        base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="automl-many-"))
        mux = _Multiplexer(executor)
        results: dict[str, Any] = {}
        errors: dict[str, BaseException] = {}
        lock = threading.Lock()

        def run(i: int, key: str, frames: tuple) -> None:
            def log(level: str, message: str) -> None:
                if callbacks.on_log:
                    with lock:
                        callbacks.on_log(level, f"[partition {key}] {message}")

            def on_trial(trial: Any) -> None:
                trial.partition = key
                if callbacks.on_trial:
                    with lock:
                        callbacks.on_trial(trial)

            try:
                train, valid, test = frames
                # The data are these frames: the file paths recorded in the config are not read again.
                job = job_from_config(_without_paths(self.job.config), training_data=train, validation_data=valid,
                                      test_data=test, base_dir=self.job.base_dir)
                results[key] = job.run(callbacks=Callbacks(on_trial=on_trial, on_log=log,
                                                           should_stop=callbacks.should_stop),
                                       executor=mux.view(), workdir=base / f"partition-{i}")
            except BaseException as exc:  # reported after the others finish
                errors[key] = exc

        started = time.monotonic()
        pending = list(enumerate(parts.items()))
        running: list[threading.Thread] = []
        try:
            while pending or running:
                running = [t for t in running if t.is_alive()]
                while pending and len(running) < max_concurrent_partitions:
                    i, (key, frames) = pending.pop(0)
                    thread = threading.Thread(target=run, args=(i, key, frames), name=f"partition-{key}", daemon=True)
                    thread.start()
                    running.append(thread)
                mux.pump()
                time.sleep(PUMP_SECONDS)
            mux.pump()
        finally:
            if own:
                executor.shutdown()
        if errors:
            key, exc = next(iter(sorted(errors.items())))
            raise RuntimeError(f"partition {key!r} failed: {type(exc).__name__}: {exc}") from exc
        self.results_ = {key: results[key] for key in parts}
        missing = [key for key, r in self.results_.items() if r.best_model is None]
        if missing:
            raise RuntimeError(f"partition {missing[0]!r} has no model: no trial completed within its limits "
                               f"({self.results_[missing[0]].status}); raise timeout_minutes")
        self.models_ = {key: r.best_model for key, r in self.results_.items()}
        self.summary_ = [{"partition": key, "best": r.best_trial.pipeline_name, "score": r.best_trial.score,
                          "n_trials": sum(1 for t in r.trials if not t.is_ensemble),
                          "seconds": round(r.duration_seconds, 2), "status": r.status}
                         for key, r in self.results_.items()]
        self.duration_seconds_ = round(time.monotonic() - started, 2)
        return self

    def _route(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        keys = partition_keys(X, self.partition_column_names)
        unknown = sorted(set(keys) - set(self.models_))
        if unknown:
            raise ValueError(f"partition {unknown[0]!r} was not in the training data; many-models forecasters "
                             "only forecast the partitions they were trained on")
        return {key: np.asarray(idx) for key, idx in keys.groupby(keys, sort=False).indices.items()}

    def predict(self, X_future: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """One point forecast per row, each from its partition's model."""
        out = np.full(len(X_future), np.nan)
        hist_parts = self._split_history(history)
        for key, idx in self._route(X_future).items():
            out[idx] = self.models_[key].predict(X_future.iloc[idx], history=hist_parts.get(key))
        return out

    def forecast(self, X_future: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.5, 0.9),
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
        """As :meth:`ForecastModel.forecast`, in the rows' order."""
        parts = []
        hist_parts = self._split_history(history)
        for key, idx in self._route(X_future).items():
            fc = self.models_[key].forecast(X_future.iloc[idx], quantiles=quantiles, history=hist_parts.get(key))
            parts.append(fc.set_axis(idx))
        return pd.concat(parts).sort_index().reset_index(drop=True)

    def _split_history(self, history: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
        if history is None:
            return {}
        keys = partition_keys(history, self.partition_column_names)
        return {key: history.loc[idx] for key, idx in keys.groupby(keys, sort=False).groups.items()}


def _without_paths(config: Any) -> Any:
    import dataclasses

    return dataclasses.replace(config, training_data=None, validation_data=None, test_data=None)
