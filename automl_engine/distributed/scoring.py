"""Batch scoring of a large CSV or Parquet file on a Dask cluster: the file is read as partitions on the
workers, each partition is scored there by the model (a pipeline that predicts on one machine), and the
scored partitions come back in file order, a few at a time, so the caller can stream them to its output
without holding the file."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from .cluster import worker_addresses
from .data import CSV_BLOCKSIZE, read_frame

# Partitions scored at once per worker: enough to keep the workers busy while the caller writes.
IN_FLIGHT_PER_WORKER = 2


def _score_partition(part: pd.DataFrame, model, classifier: bool) -> pd.DataFrame:
    """The partition with ``prediction`` and, for a classifier, ``probability_<class>`` columns (rounded to
    six places, as the scoring API answers)."""
    from ..predict import call

    out = part.reset_index(drop=True)
    if classifier:
        proba = np.asarray(call(model, part, "predict_proba"), dtype="float64")
        classes = np.asarray(model.classes_)
        out["prediction"] = classes[np.argmax(proba, axis=1)]
        for j, label in enumerate(classes):
            out[f"probability_{label}"] = proba[:, j].round(6)
    else:
        out["prediction"] = np.asarray(call(model, part, "predict"), dtype="float64")
    return out


def score_partitions(source: Any, model, client, dtype: dict[str, Any] | None = None,
                     on_partition: Callable[[int, int], None] | None = None,
                     blocksize: int | str = CSV_BLOCKSIZE) -> Iterator[pd.DataFrame]:
    """Yield the scored partitions of ``source`` (a CSV or Parquet path) in order. ``model`` is scattered to
    the workers once; at most :data:`IN_FLIGHT_PER_WORKER` partitions per worker are in flight.
    ``on_partition(done, total)`` is called after each; a CSV is cut into ``blocksize``-byte partitions."""
    import dask

    frame = read_frame(source, "data", dtype=dtype, blocksize=blocksize)
    parts = frame.to_delayed()
    classifier = hasattr(model, "predict_proba") and hasattr(model, "classes_")
    [model_future] = client.scatter([model], broadcast=True)
    window = max(1, IN_FLIGHT_PER_WORKER * len(worker_addresses(client)))
    pending: list = []
    next_part = 0
    for done in range(len(parts)):
        while next_part < len(parts) and len(pending) < window:
            task = dask.delayed(_score_partition)(parts[next_part], model_future, classifier)
            pending.append(client.compute(task))
            next_part += 1
        future = pending.pop(0)
        scored = future.result()
        future.release()
        if on_partition:
            on_partition(done + 1, len(parts))
        yield scored
