"""The profile of a dataset version, computed from its Parquet copy one column at a time.

Memory stays bounded by one column (plus one 64-bit hash per row for duplicate detection and a few numeric
columns per batch for correlations), whatever the number of columns. Every statistic is exact except where
the profile says otherwise (``notes``).
"""
from __future__ import annotations

import math
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HISTOGRAM_BINS = 30
TOP_VALUES = 10
MAX_CORRELATION_COLUMNS = 30
CORRELATION_BATCH = 1_000_000
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _splitmix(v: np.ndarray) -> np.ndarray:
    """A fast 64-bit mixer, so that equal rows hash equal and different rows almost never do."""
    with np.errstate(over="ignore"):
        z = v + _MIX
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _column_codes(arr: pa.ChunkedArray) -> np.ndarray:
    """One uint64 per row that is equal exactly when the values are equal (missing included)."""
    t = arr.type
    if pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        values = np.where(np.isnan(values), np.float64("nan"), values)
        return values.view(np.uint64)
    if pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_boolean(t):
        filled = pc.fill_null(pc.cast(arr, pa.int64()), -(2**63) + 7)
        return filled.to_numpy(zero_copy_only=False).astype("int64").view(np.uint64)
    encoded = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype("int64").view(np.uint64)


def _histogram(values: np.ndarray) -> dict | None:
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return {"edges": [lo, hi], "counts": [int(values.size)]}
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _top_values(arr: pa.ChunkedArray, present: int) -> list[dict]:
    counts = pc.value_counts(pc.drop_null(arr))
    if len(counts) == 0:
        return []
    values, freq = counts.field("values"), counts.field("counts")
    order = pc.array_sort_indices(freq, order="descending")[:TOP_VALUES]
    return [{"value": str(values[i].as_py()), "count": int(freq[i].as_py()),
             "percent": round(100 * freq[i].as_py() / present, 2) if present else 0.0}
            for i in order.to_pylist()]


def _numeric_stats(arr: pa.ChunkedArray) -> dict:
    values = pc.drop_null(arr).to_numpy(zero_copy_only=False).astype("float64", copy=False)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {}
    quantiles = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    if values.size > 2 and std > 0:
        centred = (values - mean) / values.std(ddof=0)
        skew = float(np.mean(centred ** 3))
        kurt = float(np.mean(centred ** 4) - 3.0)
    else:
        skew = kurt = None
    return {"min": _finite(values.min()), "max": _finite(values.max()), "mean": _finite(mean), "std": _finite(std),
            "quantiles": {"p5": _finite(quantiles[0]), "p25": _finite(quantiles[1]), "median": _finite(quantiles[2]),
                          "p75": _finite(quantiles[3]), "p95": _finite(quantiles[4])},
            "skewness": _finite(skew), "kurtosis": _finite(kurt), "zeros": int((values == 0).sum()),
            "histogram": _histogram(values)}


def _datetime_stats(arr: pa.ChunkedArray) -> dict:
    valid = pc.drop_null(pc.cast(arr, pa.timestamp("us")))
    if len(valid) == 0:
        return {}
    mm = pc.min_max(valid)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    micros = valid.to_numpy(zero_copy_only=False).astype("datetime64[us]").astype("int64").astype("float64")
    hist = _histogram(micros)
    if hist:
        hist["edges"] = [np.datetime64(int(e), "us").astype(str) for e in hist["edges"]]
    span = hi - lo
    return {"min": lo.isoformat(), "max": hi.isoformat(), "span_days": round(span.total_seconds() / 86400, 3),
            "histogram": hist}


def _text_stats(arr: pa.ChunkedArray) -> dict:
    lengths = pc.utf8_length(pc.drop_null(arr)).to_numpy(zero_copy_only=False)
    if lengths.size == 0:
        return {}
    return {"length_min": int(lengths.min()), "length_max": int(lengths.max()),
            "length_mean": round(float(lengths.mean()), 2), "length_histogram": _histogram(lengths.astype("float64"))}


def profile_parquet(parquet: BinaryIO, columns: list[dict]) -> dict:
    """The whole profile: table-level counts, per-column statistics and charts, numeric correlations."""
    pf = pq.ParquetFile(parquet)
    n_rows = pf.metadata.num_rows
    by_name = {c["name"]: c for c in columns}
    row_hash = np.zeros(n_rows, dtype=np.uint64)
    memory = 0
    out_columns = []
    numeric_names = []
    for f in pf.schema_arrow:
        arr = pf.read(columns=[f.name]).column(0)
        memory += arr.nbytes
        meta = by_name.get(f.name, {})
        kind = meta.get("type", "categorical")
        missing = arr.null_count
        if pa.types.is_floating(f.type):
            missing += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
        present = n_rows - missing
        stats: dict = {"name": f.name, "type": kind, "physical": meta.get("physical", str(f.type)),
                       "count": int(present), "missing": int(missing),
                       "missing_percent": round(100 * missing / n_rows, 2) if n_rows else 0.0,
                       "distinct": int(meta.get("distinct", pc.count_distinct(arr).as_py())),
                       "excluded": bool(meta.get("excluded")), "flags": meta.get("flags", [])}
        is_number = pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        if is_number:
            stats.update(_numeric_stats(arr))
            if not meta.get("excluded") and kind not in ("id",) and stats.get("std"):
                numeric_names.append(f.name)
        elif pa.types.is_timestamp(f.type) or pa.types.is_date(f.type):
            stats.update(_datetime_stats(arr))
        elif pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            stats.update(_text_stats(arr))
        if not is_number or kind in ("categorical", "boolean"):
            if kind != "id" and not pa.types.is_timestamp(f.type):
                stats["top_values"] = _top_values(arr, present)
        with np.errstate(over="ignore"):
            row_hash = row_hash * np.uint64(31) + _splitmix(_column_codes(arr))
        out_columns.append(stats)
        del arr
    unique_rows = int(np.unique(row_hash).size) if n_rows else 0
    del row_hash
    notes = ["Duplicate rows are counted by a 64-bit hash of each row: exact unless two different rows collide, "
             "which is vanishingly unlikely."]
    correlation = _correlation(pf, numeric_names[:MAX_CORRELATION_COLUMNS])
    if len(numeric_names) > MAX_CORRELATION_COLUMNS:
        notes.append(f"The correlation heatmap shows the first {MAX_CORRELATION_COLUMNS} of "
                     f"{len(numeric_names)} numeric columns.")
    return {"n_rows": n_rows, "n_columns": len(out_columns), "duplicate_rows": n_rows - unique_rows,
            "memory_bytes": int(memory), "columns": out_columns, "correlation": correlation, "notes": notes}


def _correlation(pf: pq.ParquetFile, names: list[str]) -> dict | None:
    """Pearson correlation over pairwise-complete rows, accumulated exactly batch by batch."""
    k = len(names)
    if k < 2:
        return None
    n = np.zeros((k, k))
    sx = np.zeros((k, k))
    sy = np.zeros((k, k))
    sxx = np.zeros((k, k))
    syy = np.zeros((k, k))
    sxy = np.zeros((k, k))
    for batch in pf.iter_batches(batch_size=CORRELATION_BATCH, columns=names):
        X = np.column_stack([pc.cast(c, pa.float64()).to_numpy(zero_copy_only=False) for c in batch.columns])
        valid = ~np.isnan(X)
        Xz = np.where(valid, X, 0.0)
        V = valid.astype("float64")
        n += V.T @ V
        sx += Xz.T @ V
        sy += V.T @ Xz
        sxx += (Xz ** 2).T @ V
        syy += V.T @ (Xz ** 2)
        sxy += Xz.T @ Xz
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy / n - (sx / n) * (sy / n)
        varx = sxx / n - (sx / n) ** 2
        vary = syy / n - (sy / n) ** 2
        r = cov / np.sqrt(varx * vary)
    r = np.clip(r, -1, 1)
    matrix = [[(round(float(v), 4) if np.isfinite(v) else None) for v in row] for row in r]
    for i in range(k):
        matrix[i][i] = 1.0
    return {"columns": names, "matrix": matrix}
