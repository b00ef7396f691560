"""Training data as a Dask DataFrame (Parquet or CSV read partition by partition, only the needed columns),
the holdout split and its bounded sample, and the check that tells a non-distributed run its data does not
fit in memory before it tries."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..errors import ConfigError

# Validation and test scores are computed on the driver from a sample of the holdout of at most this many
# rows (the seed's "sub-sampled validation"): the metrics of 200,000 rows are stable to the third decimal.
MAX_SCORING_ROWS = 200_000
CSV_BLOCKSIZE = "64MB"
PANDAS_PARTITION_ROWS = 50_000
# How many times the on-disk (uncompressed) size a non-distributed run needs in memory: the frame itself,
# the featurized matrix, the validation copies and the learner's own dataset.
IN_MEMORY_FACTOR = 3.0
SAMPLE_ROWS = 10_000


def _path(source: Any) -> Path | None:
    return Path(source) if isinstance(source, (str, os.PathLike)) else None


def read_frame(source: Any, setting: str, columns: Sequence[str] | None = None, dtype: dict | None = None,
               blocksize: int | str = CSV_BLOCKSIZE):
    """``source`` (a Parquet file or folder, a CSV file, a pandas or Dask DataFrame) as a Dask DataFrame
    with only ``columns`` read (all when ``None``); ``dtype`` fixes CSV column types (text stays text)."""
    import dask.dataframe as dd

    if isinstance(source, dd.DataFrame):
        return source[list(columns)] if columns is not None else source
    if isinstance(source, pd.DataFrame):
        frame = source[list(columns)] if columns is not None else source
        return dd.from_pandas(frame, npartitions=max(1, -(-len(frame) // PANDAS_PARTITION_ROWS)), sort=False)
    path = _path(source)
    if path is None:
        raise ConfigError(setting, "distributed training reads a Parquet or CSV path, a pandas or a Dask "
                                   f"DataFrame; got {type(source).__name__}")
    if not path.exists():
        raise ConfigError(setting, f"{path} does not exist")
    name = path.name.lower()
    kwargs = {"columns": list(columns)} if columns is not None else {}
    if path.is_dir() or name.endswith(".parquet") or name.endswith(".pq"):
        return dd.read_parquet(str(path), **kwargs)
    if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        sep = "\t" if name.endswith(".tsv") else ","
        frame = dd.read_csv(str(path), blocksize=None if name.endswith(".gz") else blocksize, sep=sep,
                            sample=1_000_000, assume_missing=True, usecols=kwargs.get("columns"), dtype=dtype)
        return frame
    raise ConfigError(setting, f"distributed training reads Parquet (a file or a folder of parts) or CSV; "
                               f"{path.name} is neither")


def column_names(source: Any, setting: str) -> list[str]:
    """The columns of ``source`` without reading its rows."""
    return list(read_frame(source, setting).columns)


def bounded_sample(ddf, n_rows: int, random_state: int, compute) -> pd.DataFrame:
    """At most :data:`MAX_SCORING_ROWS` rows of ``ddf`` (which has ``n_rows``), as one pandas frame."""
    if n_rows > MAX_SCORING_ROWS:
        ddf = ddf.sample(frac=MAX_SCORING_ROWS / n_rows, random_state=random_state)
    (frame,) = compute(ddf)
    return frame


def parquet_memory_estimate(path: str | os.PathLike) -> int:
    """Bytes a pandas run would need for the Parquet data at ``path`` (file or folder): the pandas size of a
    sample of its first rows, per row, times the row count in the metadata, times :data:`IN_MEMORY_FACTOR`.
    (The metadata's own sizes say little: dictionary-encoded text is far smaller on disk than in pandas.)"""
    import pyarrow.parquet as pq

    path = Path(path)
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        return 0
    rows = sum(pq.ParquetFile(file).metadata.num_rows for file in files)
    first = pq.ParquetFile(files[0])
    sample = next(first.iter_batches(batch_size=SAMPLE_ROWS), None)
    if sample is None or sample.num_rows == 0:
        return 0
    per_row = sample.to_pandas().memory_usage(deep=True).sum() / sample.num_rows
    return int(per_row * rows * IN_MEMORY_FACTOR)


def memory_budget() -> int:
    """Bytes one process may use: the memory available now, or less when ``AUTOML_MEMORY_LIMIT`` (bytes,
    or a size such as ``2GiB``) says so (a container's or a worker's limit)."""
    import psutil
    from dask.utils import parse_bytes

    available = psutil.virtual_memory().available
    limit = os.environ.get("AUTOML_MEMORY_LIMIT")
    return min(available, parse_bytes(limit)) if limit else available


def check_fits_in_memory(source: Any) -> None:
    """Refuse, before loading anything, a non-distributed run on Parquet data that does not fit in this
    process's memory (raises ConfigError naming ``training_mode``)."""
    path = _path(source)
    if path is None or not path.exists():
        return
    if not (path.is_dir() or path.name.lower().endswith((".parquet", ".pq"))):
        return
    need, budget = parquet_memory_estimate(path), memory_budget()
    if need > budget:
        raise ConfigError("training.training_mode", (
            f"the training data does not fit in memory: a non-distributed run needs about {need / 2**30:.1f} GiB "
            f"for it, and this process has {budget / 2**30:.1f} GiB; use training_mode='distributed' "
            "(LightGBM on a Dask cluster), which reads it partition by partition"))
