"""The profile of a dataset version, computed from its Parquet copy one column at a time.

Text columns start from what the conversion pass counted exactly (``pass_statistics``: value counts, lengths)
and are read again only when duplicate rows could hinge on them. Memory stays bounded by one column (plus one 64-bit hash per row for duplicate detection and a few numeric
columns per batch for correlations), whatever the number of columns. Every statistic is exact except where
the profile says otherwise (``notes``).
"""
from __future__ import annotations

import math
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from studio.datasets import parsing  # noqa: F401  (sets the Arrow allocator to return memory promptly)

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


def _column_codes(arr: pa.ChunkedArray, string_indices: np.ndarray | None = None) -> np.ndarray:
    """One uint64 per row that is equal exactly when the values are equal (missing included)."""
    if string_indices is not None:
        return string_indices.astype("int64").view(np.uint64)
    t = arr.type
    if pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        values = np.where(np.isnan(values), np.float64("nan"), values)
        return values.view(np.uint64)
    if pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_boolean(t):
        filled = pc.fill_null(pc.cast(arr, pa.int64()), -(2**63) + 7)
        return filled.to_numpy(zero_copy_only=False).astype("int64").view(np.uint64)
    return _encode_strings(arr)[0].astype("int64").view(np.uint64)


def _encode_strings(arr: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(index per row, -1 when missing; the distinct values; how often each occurs): one hashing pass."""
    encoded = pc.dictionary_encode(arr)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return np.zeros(0, dtype=np.int64), pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    dictionary = chunks[0].dictionary
    indices = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
                              for c in chunks])
    counts = np.bincount(indices[indices >= 0], minlength=len(dictionary))
    return indices, dictionary, counts


def top_indices(counts: np.ndarray, k: int = TOP_VALUES) -> np.ndarray:
    """Indices of the ``k`` largest counts, largest first; equal counts in order of index (first seen)."""
    k = min(k, counts.size)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    kth = counts[np.argpartition(-counts, k - 1)[k - 1]]
    above = np.flatnonzero(counts > kth)
    top = np.concatenate([above, np.flatnonzero(counts == kth)[:k - above.size]])
    return top[np.lexsort((top, -counts[top]))]


def _top_from_counts(dictionary: pa.Array, counts: np.ndarray, present: int) -> list[dict]:
    if counts.size == 0:
        return []
    top = top_indices(counts)
    return [{"value": str(dictionary[int(i)].as_py()), "count": int(counts[i]),
             "percent": round(100 * counts[i] / present, 2) if present else 0.0} for i in top]


def _histogram(values: np.ndarray, weights: np.ndarray | None = None) -> dict | None:
    """Counts in HISTOGRAM_BINS equal bins from min to max; ``weights`` counts each value that many times."""
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return {"edges": [lo, hi], "counts": [int(values.size if weights is None else weights.sum())]}
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(lo, hi), weights=weights)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def pass_statistics(summary: "parsing.TableSummary") -> dict:
    """What the conversion pass already knows exactly, for ``profile_parquet(pass_stats=...)``: the top values
    and lengths of each text column, so the worker reads a text column again only if duplicates need it."""
    return {"text": summary.text_profiles(top_indices, _histogram)}


def _top_values(arr: pa.ChunkedArray, present: int) -> list[dict]:
    counts = pc.value_counts(pc.drop_null(arr))
    if len(counts) == 0:
        return []
    values, freq = counts.field("values"), counts.field("counts")
    order = pc.array_sort_indices(freq, order="descending")[:TOP_VALUES]
    return [{"value": str(values[i].as_py()), "count": int(freq[i].as_py()),
             "percent": round(100 * freq[i].as_py() / present, 2) if present else 0.0}
            for i in order.to_pylist()]


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _quantiles(values: np.ndarray, qs=QUANTILES) -> list[float]:
    """Quantiles by linear interpolation between order statistics, as numpy's default method. Only the order
    statistics needed are put in place (``np.partition``, linear time), which is 3x quicker than a sort;
    ``values`` is reordered."""
    n = values.size
    positions = [q * (n - 1) for q in qs]
    ranks = sorted({r for pos in positions for r in (int(np.floor(pos)), min(int(np.floor(pos)) + 1, n - 1))})
    values.partition(ranks)
    out = []
    for pos in positions:
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        out.append(float(values[lo] + (values[hi] - values[lo]) * (pos - lo)))
    return out


def _numeric_stats(arr: pa.ChunkedArray) -> dict:
    """Exact statistics of a numeric column, in a few linear passes over one float64 copy of its values."""
    values = pc.drop_null(arr).to_numpy(zero_copy_only=False).astype("float64", copy=False)
    if np.isnan(values).any():
        values = values[~np.isnan(values)]
    if not values.flags.writeable:  # zero-copy view of Arrow memory
        values = values.copy()
    if values.size == 0:
        return {}
    n = values.size
    mean = float(values.mean())
    deviation = values - mean
    square = deviation * deviation
    m2 = float(square.mean())
    std = float(np.sqrt(m2 * n / (n - 1))) if n > 1 else 0.0
    if n > 2 and m2 > 0:
        np.multiply(deviation, square, out=deviation)
        skew = float(deviation.mean()) / m2 ** 1.5
        np.multiply(square, square, out=square)
        kurt = float(square.mean()) / m2 ** 2 - 3.0
    else:
        skew = kurt = None
    del deviation, square
    low, high = float(values.min()), float(values.max())
    zeros = int(np.count_nonzero(values == 0))
    histogram = _histogram(values)
    quantiles = _quantiles(values)
    return {"min": _finite(low), "max": _finite(high), "mean": _finite(mean), "std": _finite(std),
            "quantiles": {"p5": _finite(quantiles[0]), "p25": _finite(quantiles[1]), "median": _finite(quantiles[2]),
                          "p75": _finite(quantiles[3]), "p95": _finite(quantiles[4])},
            "skewness": _finite(skew), "kurtosis": _finite(kurt), "zeros": zeros, "histogram": histogram}


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
    """Lengths of the values, one chunk at a time (a text column can be most of a file's memory)."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    lengths = [pc.drop_null(pc.utf8_length(c)).to_numpy(zero_copy_only=False) for c in chunks]
    lengths = np.concatenate(lengths) if lengths else np.zeros(0)
    if lengths.size == 0:
        return {}
    return {"length_min": int(lengths.min()), "length_max": int(lengths.max()),
            "length_mean": round(float(lengths.mean()), 2), "length_histogram": _histogram(lengths.astype("float64"))}


def _profile_column(open_parquet, name: str, meta: dict, n_rows: int,
                    hash_rows: bool = True) -> tuple[dict, np.ndarray | None, int]:
    """(statistics, mixed 64-bit codes of each row's value for the duplicate count or None when
    ``hash_rows`` is off, bytes in memory)."""
    with open_parquet() as handle:
        arr = pq.ParquetFile(handle).read(columns=[name]).column(0)
    nbytes = arr.nbytes
    physical_type = arr.type
    kind = meta.get("type", "categorical")
    missing = arr.null_count
    if pa.types.is_floating(physical_type):
        missing += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
    present = n_rows - missing
    stats: dict = {"name": name, "type": kind, "physical": meta.get("physical", str(physical_type)),
                   "count": int(present), "missing": int(missing),
                   "missing_percent": round(100 * missing / n_rows, 2) if n_rows else 0.0,
                   "distinct": int(meta["distinct"]) if "distinct" in meta else None,
                   "excluded": bool(meta.get("excluded")), "flags": meta.get("flags", [])}
    string_indices = None
    if pa.types.is_string(physical_type) or pa.types.is_large_string(physical_type):
        string_indices, dictionary, counts = _encode_strings(arr)
        stats["distinct"] = int(counts.size)
        if meta.get("date_format"):
            # Dates in a text format (31/12/2024): profiled as dates, stored as the text the user uploaded.
            stats.update(_datetime_stats(pc.strptime(arr, format=meta["date_format"], unit="s", error_is_null=True)))
        else:
            stats.update(_text_stats(arr))
            if kind != "id":
                stats["top_values"] = _top_from_counts(dictionary, counts, present)
        del dictionary, counts
    elif pa.types.is_integer(physical_type) or pa.types.is_floating(physical_type):
        stats.update(_numeric_stats(arr))
        if kind in ("categorical", "boolean") and (stats["distinct"] or 0) <= 10_000:
            stats["top_values"] = _top_values(arr, present)
    elif pa.types.is_timestamp(physical_type) or pa.types.is_date(physical_type):
        stats.update(_datetime_stats(arr))
    elif kind in ("categorical", "boolean"):
        stats["top_values"] = _top_values(arr, present)
    if not hash_rows:
        return stats, None, nbytes
    with np.errstate(over="ignore"):
        codes = _splitmix(_column_codes(arr, string_indices))
    return stats, codes, nbytes


def _text_column_from_pass(name: str, meta: dict, n_rows: int, text: dict) -> dict:
    """The statistics of a text column from the conversion pass (``pass_statistics``), without reading it."""
    kind = meta.get("type", "categorical")
    missing = int(meta["missing"])
    stats = {"name": name, "type": kind, "physical": meta.get("physical", "string"), "count": n_rows - missing,
             "missing": missing, "missing_percent": round(100 * missing / n_rows, 2) if n_rows else 0.0,
             "distinct": int(meta["distinct"]), "excluded": bool(meta.get("excluded")),
             "flags": meta.get("flags", [])}
    stats.update({k: text[k] for k in ("length_min", "length_max", "length_mean", "length_histogram")})
    if kind != "id":
        stats["top_values"] = text["top_values"]
    return stats


def _fold_codes(row_hash: np.ndarray, codes: np.ndarray) -> None:
    with np.errstate(over="ignore"):
        row_hash *= np.uint64(31)
        row_hash += codes


def _string_codes(open_parquet, name: str) -> np.ndarray:
    with open_parquet() as handle:
        arr = pq.ParquetFile(handle).read(columns=[name]).column(0)
    with np.errstate(over="ignore"):
        return _splitmix(_column_codes(arr, _encode_strings(arr)[0]))


def _correlation_columns(names: list[str], by_name: dict) -> list[str]:
    """The numeric columns worth correlating, known from the conversion pass before any is read: typed
    numeric by the schema (a few whole numbers read as categories are not), not excluded, with at least two
    distinct values (so a non-zero spread)."""
    return [n for n in names if n in by_name and by_name[n].get("physical") in ("integer", "float")
            and not by_name[n].get("excluded") and by_name[n].get("type", "numeric") == "numeric"
            and by_name[n].get("distinct", 2) > 1]


def profile_parquet(open_parquet, columns: list[dict], threads: int = 2, pass_stats: dict | None = None,
                    progress=None) -> dict:
    """The whole profile: table-level counts, per-column statistics and charts, numeric correlations.

    ``open_parquet()`` returns a fresh binary handle on the Parquet copy. Columns are profiled two at a time
    in threads (the correlations alongside them), and at most two finished columns wait to be folded into
    the row hashes, so memory holds a few columns, never the table. Duplicate rows need no hashing at all
    when the conversion pass found a column with a different value in every row. Text columns the
    conversion pass summarised (``pass_stats``) are not read when the other columns already tell every row
    apart. ``progress()`` is called after each column, so the job's heartbeat proves the work moves.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with open_parquet() as handle:
        pf = pq.ParquetFile(handle)
        n_rows = pf.metadata.num_rows
        names = pf.schema_arrow.names
    by_name = {c["name"]: c for c in columns}
    unique_column = next((n for n in names if n_rows > 1 and by_name.get(n, {}).get("distinct") == n_rows), None)
    row_hash = None if unique_column else np.zeros(n_rows, dtype=np.uint64)
    memory = 0
    out_columns = []
    numeric_names = _correlation_columns(names, by_name)

    def fold(result):
        nonlocal memory
        if progress is not None:
            progress()
        stats, codes, nbytes = result
        if codes is not None:
            _fold_codes(row_hash, codes)
        memory += nbytes
        out_columns.append(stats)

    text = (pass_stats or {}).get("text", {})
    deferred = [n for n in names if n in text and n in by_name and "distinct" in by_name[n]
                and "missing" in by_name[n] and not by_name[n].get("date_format")]
    with ThreadPoolExecutor(max(1, threads)) as pool:
        correlating = pool.submit(_correlation_of, open_parquet, numeric_names[:MAX_CORRELATION_COLUMNS])
        pending: deque = deque()
        for name in names:
            if name in deferred:
                continue
            pending.append(pool.submit(_profile_column, open_parquet, name, by_name.get(name, {}), n_rows,
                                       unique_column is None))
            if len(pending) >= max(1, threads):
                fold(pending.popleft().result())
        while pending:
            fold(pending.popleft().result())
        for name in deferred:
            out_columns.append(_text_column_from_pass(name, by_name[name], n_rows, text[name]))
            memory += text[name].get("nbytes", 0)
        if unique_column is not None:
            unique_rows = n_rows
        else:
            # Rows the read columns cannot tell apart may still differ in the text columns not read yet:
            # hash those too, unless the read columns already tell every row apart.
            seen = np.sort(row_hash) if deferred and len(deferred) < len(names) else None
            if seen is None or _distinct_sorted(seen) < n_rows:
                del seen
                for name in deferred:
                    pending.append(pool.submit(_string_codes, open_parquet, name))
                    if len(pending) >= max(1, threads):
                        _fold_codes(row_hash, pending.popleft().result())
                while pending:
                    _fold_codes(row_hash, pending.popleft().result())
                row_hash.sort()
                seen = row_hash
            unique_rows = _distinct_sorted(seen)
            del seen
        correlation = correlating.result()
    del row_hash
    out_columns.sort(key=lambda c: names.index(c["name"]))
    if unique_column is not None:
        notes = [f"No row is a duplicate: the column {unique_column!r} has a different value in every row."]
    else:
        notes = ["Duplicate rows are counted by a 64-bit hash of each row: exact unless two different rows "
                 "collide, which is vanishingly unlikely."]
    if len(numeric_names) > MAX_CORRELATION_COLUMNS:
        notes.append(f"The correlation heatmap shows the first {MAX_CORRELATION_COLUMNS} of "
                     f"{len(numeric_names)} numeric columns.")
    return {"n_rows": n_rows, "n_columns": len(out_columns), "duplicate_rows": n_rows - unique_rows,
            "memory_bytes": int(memory), "columns": out_columns, "correlation": correlation, "notes": notes}


def _distinct_sorted(values: np.ndarray) -> int:
    return 1 + int(np.count_nonzero(values[1:] != values[:-1])) if values.size else 0


def _correlation_of(open_parquet, names: list[str]) -> dict | None:
    with open_parquet() as handle:
        return _correlation(pq.ParquetFile(handle), names)


def _correlation(pf: pq.ParquetFile, names: list[str], batch_size: int = CORRELATION_BATCH) -> dict | None:
    """Pearson correlation over pairwise-complete rows, accumulated exactly batch by batch."""
    k = len(names)
    if k < 2:
        return None
    n = np.zeros((k, k))
    sx = np.zeros((k, k))
    sxx = np.zeros((k, k))
    sxy = np.zeros((k, k))
    # Single-threaded BLAS: these products are small (k x k), and OpenBLAS threads that spin while waiting
    # for work burn a shared 2-core machine for nothing (5x the CPU time of one thread here).
    with threadpool_limits(1):
        for batch in pf.iter_batches(batch_size=batch_size, columns=names):
            X = np.column_stack([pc.cast(c, pa.float64()).to_numpy(zero_copy_only=False) for c in batch.columns])
            valid = ~np.isnan(X)
            Xz = np.where(valid, X, 0.0)
            V = valid.astype("float64")
            n += V.T @ V
            sx += Xz.T @ V
            sxx += (Xz * Xz).T @ V
            sxy += Xz.T @ Xz
    sy, syy = sx.T, sxx.T  # sum of y over pairs (i, j) is the sum of x over pairs (j, i)
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
