"""The one conversion pass: exact column summaries merged over many batches, and a profile that reuses them.

Pure functions over small in-memory data (no database): batches are fed by hand so that merging across batches,
the switch from hashing to sorted runs, and the profile's shortcut for text columns are all exercised.
"""
import io
import json

import numpy as np
import pyarrow as pa

from studio.datasets import parsing, profiling


def summarize(batches: list[pa.Array], name: str = "x") -> dict:
    summary = parsing.ColumnSummary(pa.field(name, batches[0].type))
    for arr in batches:
        summary.update(arr)
    return summary.result()


def test_distinct_of_many_numbers_is_exact_across_batches():
    # 3 x 2,000 integers, overlapping between batches: distinct per batch is high, so the sorted runs are used.
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 5_000, 2_000) for _ in range(3)]
    batches = [pa.array(p, mask=(p % 97 == 0)) for p in parts]
    column = summarize(batches)
    present = np.concatenate([p[p % 97 != 0] for p in parts])
    assert column["distinct"] == len(set(present.tolist()))
    assert column["missing"] == int(sum((p % 97 == 0).sum() for p in parts))
    assert column["physical"] == "integer" and column["type"] == "numeric"


def test_float_distinct_counts_nan_as_missing_and_signed_zero_once():
    first = pa.array([0.0, -0.0, float("nan"), None, 1.5] + [float(i) for i in range(2_000)])
    second = pa.array([-0.0, 2.5, float("nan"), 1.5])
    column = summarize([first, second])
    # 0.0 and -0.0 are one value; 1.5 and 2.5 are new only once; 0.0 is also in range(2000).
    assert column["distinct"] == 2_000 + 2
    assert column["missing"] == 3  # two NaN, one null


def test_consecutive_unique_integers_across_batches_are_an_id():
    batches = [pa.array(range(start, start + 1_500)) for start in (100, 1_600, 3_100)]
    column = summarize(batches, name="order_number")
    assert (column["distinct"], column["type"], column["flags"]) == (4_500, "id", ["unique"])


def test_text_summary_and_date_format_follow_every_batch():
    column = summarize([pa.array(["31/12/2024", "01/02/2023", None]), pa.array(["15/06/2022"])], name="when")
    assert (column["type"], column["date_format"], column["distinct"], column["missing"]) == (
        "datetime", "%d/%m/%Y", 3, 1)
    broken = summarize([pa.array(["31/12/2024", "01/02/2023"]), pa.array(["not a date"])], name="when")
    assert broken["type"] == "categorical" and "date_format" not in broken


def convert(csv: bytes) -> tuple[parsing.IngestResult, bytes]:
    opener = lambda: io.BytesIO(csv)  # noqa: E731
    settings = parsing.inspect_file(opener, "data.csv")
    out = io.BytesIO()
    result = parsing.convert_to_parquet(opener, settings, out, max_columns=100)
    return result, out.getvalue()


def profiles(csv: bytes) -> tuple[dict, dict]:
    """(profile reusing the pass's text statistics, profile reading every column), both through JSON."""
    result, parquet = convert(csv)
    pass_stats = json.loads(json.dumps(profiling.pass_statistics(result.summary)))
    opener = lambda: io.BytesIO(parquet)  # noqa: E731
    reused = profiling.profile_parquet(opener, result.columns, pass_stats=pass_stats)
    full = profiling.profile_parquet(opener, result.columns)
    return json.loads(json.dumps(reused)), json.loads(json.dumps(full))


def without_memory(profile: dict) -> dict:
    # In-memory size is measured on the arrays at hand; the pass's batches and a re-read differ by bitmaps.
    return {k: v for k, v in profile.items() if k != "memory_bytes"}


def test_profile_from_the_pass_equals_reading_every_column_when_rows_are_distinct():
    words = ["red", "green", "blue", "red apple", "green pear"]
    lines = ["id,colour,score"] + [f"{i},{words[i % 5] if i % 7 else ''},{i % 4}" for i in range(1, 301)]
    reused, full = profiles("\n".join(lines).encode())
    assert without_memory(reused) == without_memory(full)
    colour = {c["name"]: c for c in reused["columns"]}["colour"]
    # Three values tie at 52 of 258: they are listed in the order the file shows them first.
    assert [(t["value"], t["count"], t["percent"]) for t in colour["top_values"]] == [
        ("green", 52, 20.16), ("red apple", 52, 20.16), ("red", 52, 20.16), ("blue", 51, 19.77),
        ("green pear", 51, 19.77)]
    assert (colour["missing"], colour["length_min"], colour["length_max"]) == (42, 3, 10)
    assert reused["duplicate_rows"] == 0


def test_profile_from_the_pass_still_counts_duplicates_that_differ_only_in_text():
    # Rows 1 and 2 agree on every number but differ in text; rows 3 and 4 are true duplicates.
    csv = b"n,label\n1,a\n1,b\n2,c\n2,c\n3,d\n"
    reused, full = profiles(csv)
    assert without_memory(reused) == without_memory(full)
    assert reused["duplicate_rows"] == 1
    assert {c["name"]: c for c in reused["columns"]}["label"]["top_values"][0] == {
        "value": "c", "count": 2, "percent": 40.0}


def test_top_values_break_ties_by_first_appearance():
    counts = np.array([5, 1, 5, 3, 3, 3, 9, 1])
    assert profiling.top_indices(counts, 4).tolist() == [6, 0, 2, 3]
    assert profiling.top_indices(counts, 20).tolist() == [6, 0, 2, 3, 4, 5, 1, 7]
    assert profiling.top_indices(np.zeros(0, dtype=np.int64)).tolist() == []


def summarize_with_bitmaps(batches: list[pa.Array], budget: int) -> tuple[dict, parsing.ColumnSummary]:
    summary = parsing.ColumnSummary(pa.field("x", batches[0].type), parsing._BitmapBudget(budget))
    for arr in batches:
        summary.update(arr)
    return summary.result(), summary


def test_byte_map_counts_ascending_and_descending_integers_exactly():
    rng = np.random.default_rng(2)
    # Ascending ids with repeats, then a batch far below them: the map grows up, then down.
    parts = [np.arange(i * 1_500, i * 1_500 + 2_000) for i in range(4)] + [rng.integers(-30_000, -20_000, 3_000)]
    column, summary = summarize_with_bitmaps([pa.array(p) for p in parts], budget=1 << 20)
    assert summary.bitmap is not None and summary.runs == []  # counted in the map, nothing sorted
    assert column["distinct"] == len(set(np.concatenate(parts).tolist()))
    assert summary.distinct_values().to_pylist() == sorted(set(np.concatenate(parts).tolist()))


def test_byte_map_past_its_budget_falls_back_to_sorted_runs_with_the_same_count():
    parts = [np.arange(0, 2_000), np.arange(50_000, 52_000), np.arange(1_000, 3_000)]
    column, summary = summarize_with_bitmaps([pa.array(p) for p in parts], budget=10_000)
    assert summary.bitmap is None and summary.runs  # the second batch needed a 52,000-byte map
    assert column["distinct"] == 2_000 + 2_000 + 1_000
    # Consecutive? No: the values leave a gap, so this is not an id even though every value differs.
    assert column["type"] == "numeric"


def test_byte_map_counts_timestamps_and_keeps_the_shared_budget():
    budget = parsing._BitmapBudget(1 << 20)
    stamps = pa.array(np.datetime64("2024-01-01T00:00:00") + np.arange(0, 4_000, 2).astype("timedelta64[s]"))
    ids = pa.array(np.arange(10_000, 14_000))
    first = parsing.ColumnSummary(pa.field("at", stamps.type), budget)
    second = parsing.ColumnSummary(pa.field("id", ids.type), budget)
    first.update(stamps)
    second.update(ids)
    assert first.distinct_count() == 2_000 and second.distinct_count() == 4_000
    assert budget.left == (1 << 20) - first.bitmap.bits.size - second.bitmap.bits.size
    assert first.result()["type"] == "datetime" and second.result()["type"] == "id"


def test_numeric_quantiles_match_numpy_exactly():
    values = np.random.default_rng(3).lognormal(2.0, 1.0, 10_001)
    stats = profiling._numeric_stats(pa.chunked_array([pa.array(values)]))
    expected = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert [stats["quantiles"][k] for k in ("p5", "p25", "median", "p75", "p95")] == [float(q) for q in expected]
    assert (stats["min"], stats["max"]) == (float(values.min()), float(values.max()))
    assert stats["zeros"] == 0 and sum(stats["histogram"]["counts"]) == values.size


def test_a_column_unique_in_every_row_settles_duplicates_without_hashing(monkeypatch):
    def no_hashing(_values):
        raise AssertionError("rows were hashed although a column tells every row apart")
    monkeypatch.setattr(profiling, "_splitmix", no_hashing)
    lines = ["ref,colour,score"] + [f"R{i:04d},{'red' if i % 2 else 'blue'},{i % 3}" for i in range(200)]
    reused, full = profiles("\n".join(lines).encode())
    assert without_memory(reused) == without_memory(full)
    assert reused["duplicate_rows"] == 0
    assert reused["notes"][0] == "No row is a duplicate: the column 'ref' has a different value in every row."
    assert reused["correlation"] is None  # score is the only numeric column


def test_rows_apart_only_in_combination_are_counted_by_hashing():
    # No column is unique on its own, but (a, b) pairs are all different except one repeated row.
    csv = b"a,b\n1,1\n1,2\n2,1\n2,2\n2,2\n"
    reused, full = profiles(csv)
    assert without_memory(reused) == without_memory(full)
    assert reused["duplicate_rows"] == 1
    assert reused["notes"][0].startswith("Duplicate rows are counted by a 64-bit hash")
    assert reused["correlation"]["columns"] == ["a", "b"]
