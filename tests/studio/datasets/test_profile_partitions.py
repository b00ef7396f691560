"""The partitioned profile (large stored files) against the one-column-at-a-time profile, on real datasets."""
import math
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from studio import storage
from studio.datasets import profile_partitions, profiling, services
from studio.datasets.models import DatasetVersion, ProfileJob
from tests.conftest import wait_for
from tests.studio.datasets.conftest import SAMPLES

TEST_DATA = Path(__file__).resolve().parents[2] / "data"
# Floating-point sums taken batch by batch instead of over the whole column differ in the last bits.
MOMENTS = ("mean", "std", "skewness", "kurtosis")
MOMENT_RTOL = 1e-9
APPROXIMATE_FLAGS = {"quantiles_approximate", "distinct_approximate", "top_values_approximate"}


def _stored(upload, user, path: Path) -> DatasetVersion:
    body = upload(user, path.read_bytes(), name=path.stem, file_name=path.name).json()
    return DatasetVersion.objects.get(pk=body["version_id"])


def _both(version: DatasetVersion, batch_rows: int, with_pass_stats: bool = True) -> tuple[dict, dict]:
    name = version.parquet_file.name
    pass_stats = services._load_json(services._pass_stats_name(name)) if with_pass_stats else None
    opener = lambda: storage.open_file(name)
    whole = profiling.profile_parquet(opener, version.columns, pass_stats=pass_stats)
    parts = profile_partitions.profile_parquet_partitioned(opener, version.columns, pass_stats=pass_stats,
                                                           batch_rows=batch_rows)
    return whole, parts


def _assert_same(whole: dict, parts: dict, approximate_ok: bool = False) -> None:
    assert (parts["n_rows"], parts["n_columns"], parts["duplicate_rows"]) == \
        (whole["n_rows"], whole["n_columns"], whole["duplicate_rows"])
    assert parts["correlation"] == whole["correlation"]
    # Bytes of Arrow buffers: a batch's slices carry a few bytes of offsets and validity more than the column.
    assert abs(parts["memory_bytes"] - whole["memory_bytes"]) <= 0.02 * whole["memory_bytes"]
    for w, p in zip(whole["columns"], parts["columns"], strict=True):
        assert set(p) - APPROXIMATE_FLAGS == set(w), w["name"]
        for key, value in w.items():
            if key in MOMENTS and value is not None:
                assert math.isclose(p[key], value, rel_tol=MOMENT_RTOL), (w["name"], key)
            elif approximate_ok and p.get(f"{key}_approximate"):
                continue
            else:
                assert p[key] == value, (w["name"], key)


@pytest.mark.django_db
def test_partitioned_profile_equals_the_whole_column_profile(team, upload):
    """Many partitions (100 rows each): every exact statistic equals profile_parquet's; nothing needed an
    estimate at this size (all values fit the quantile sample, all distinct values the sketch)."""
    for path in (SAMPLES / "titanic.csv", TEST_DATA / "adult_6000.csv", TEST_DATA / "diamonds_5000.csv"):
        version = _stored(upload, team.bob, path)
        for with_pass_stats in (True, False):
            whole, parts = _both(version, batch_rows=100, with_pass_stats=with_pass_stats)
            _assert_same(whole, parts)
            assert not any(APPROXIMATE_FLAGS & set(c) for c in parts["columns"]), path.name
            assert parts["notes"][0] == (f"Profiled in {math.ceil(whole['n_rows'] / 100)} partitions of up to "
                                         "100 rows, never a whole column in memory.")
            assert parts["notes"][1:] == whole["notes"]


@pytest.mark.django_db
def test_estimates_past_the_caps_are_labelled_and_close(team, upload, monkeypatch):
    """With a quantile sample of 1,000 values and a distinct sketch of 300 hashes, adult's quantiles and
    titanic's names are estimated: labelled so, quantiles within 3% of rank, distinct counts within 15%;
    everything else still exact."""
    monkeypatch.setattr(profile_partitions, "QUANTILE_SAMPLE", 1000)
    monkeypatch.setattr(profile_partitions, "DISTINCT_CAP", 300)
    adult = _stored(upload, team.bob, TEST_DATA / "adult_6000.csv")
    whole, parts = _both(adult, batch_rows=500)
    _assert_same(whole, parts, approximate_ok=True)
    table = pq.read_table(storage.local_path(adult.parquet_file.name))
    estimated = [c for c in parts["columns"] if c.get("quantiles_approximate")]
    assert [c["name"] for c in estimated] == [c["name"] for c in whole["columns"]
                                              if c.get("quantiles") and c["count"] > 1000]
    for column in estimated:
        values = table.column(column["name"]).drop_null().to_numpy().astype("float64")
        for q, key in zip(profiling.QUANTILES, ("p5", "p25", "median", "p75", "p95")):
            estimate = column["quantiles"][key]
            below, at_most = np.mean(values < estimate), np.mean(values <= estimate)
            assert below - 0.03 <= q <= at_most + 0.03, (column["name"], key, estimate)
    assert any("Quantiles of" in n and "uniform sample of 1,000 values" in n for n in parts["notes"])

    titanic = _stored(upload, team.bob, SAMPLES / "titanic.csv")
    whole, parts = _both(titanic, batch_rows=100, with_pass_stats=False)
    _assert_same(whole, parts, approximate_ok=True)
    estimated = {c["name"]: c["distinct"] for c in parts["columns"] if c.get("distinct_approximate")}
    exact = {c["name"]: c["distinct"] for c in whole["columns"]}
    assert set(estimated) == {"Name", "Ticket"}  # 891 and 681 distinct values; Cabin's 147 stay exact
    for name, estimate in estimated.items():
        assert abs(estimate - exact[name]) <= 0.15 * exact[name], (name, estimate, exact[name])
    assert any("Distinct counts of 'Name', 'Ticket' are estimates" in n for n in parts["notes"])


@pytest.mark.django_db
def test_row_hashes_spilled_to_bucket_files_count_the_same_duplicates(team, upload, monkeypatch, tmp_path):
    """Row hashes over ROW_HASH_BUCKET_BYTES go to bucket files on disk; the duplicate count is unchanged,
    and the files are gone afterwards. Past TOP_CAP distinct values the top values are marked approximate."""
    monkeypatch.setattr(profile_partitions, "ROW_HASH_BUCKET_BYTES", 8)  # 5 rows: 5 buckets, 8 files
    monkeypatch.setattr(profile_partitions, "TOP_CAP", 1)
    content = b"when,what,amount\n2024-01-01,a,1\n2024-01-01,a,1\n2024-03-01,b,2\n2024-01-01,a,1\n2024-02-15,,3\n"
    body = upload(team.bob, content, name="dups").json()
    version = DatasetVersion.objects.get(pk=body["version_id"])
    name = version.parquet_file.name
    parts = profile_partitions.profile_parquet_partitioned(lambda: storage.open_file(name), version.columns,
                                                           batch_rows=2, temp_dir=str(tmp_path))
    whole = profiling.profile_parquet(lambda: storage.open_file(name), version.columns)
    assert parts["duplicate_rows"] == whole["duplicate_rows"] == 2
    assert list(tmp_path.iterdir()) == []
    what = next(c for c in parts["columns"] if c["name"] == "what")
    assert what["top_values_approximate"] is True and what["top_values"][0] == {"value": "a", "count": 3,
                                                                               "percent": 75.0}
    assert any(n.startswith("Top values of 'what' are approximate") for n in parts["notes"])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_large_file_profile_runs_partitioned_on_worker(team, upload, settings, worker_factory):
    """A worker whose threshold is one byte profiles every file by partitions, through the real job path;
    the figures are those the whole-column profile gives (test_profile's test on the same file)."""
    queue = f"partitioned-{uuid.uuid4().hex[:8]}"  # the session's shared worker must not take this job
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    worker = worker_factory(queue=queue, extra_env={"STUDIO_PROFILE_PARTITION_BYTES": "1"})
    body = upload(team.bob, (SAMPLES / "titanic.csv").read_bytes(), name="titanic", file_name="titanic.csv").json()
    wait_for(lambda: DatasetVersion.objects.get(pk=body["version_id"]).status == "ready", timeout=90,
             message=f"the profile to finish; worker log:\n{worker.log()[-3000:]}")
    job = ProfileJob.objects.get(version_id=body["version_id"])
    assert job.status == "completed" and job.error == ""
    profile = services.profile_of(DatasetVersion.objects.get(pk=body["version_id"]))
    assert profile["notes"][0] == "Profiled in 1 partition of up to 250,000 rows, never a whole column in memory."
    assert (profile["n_rows"], profile["n_columns"], profile["duplicate_rows"]) == (891, 12, 0)
    columns = {c["name"]: c for c in profile["columns"]}
    age = columns["Age"]
    assert (age["count"], age["missing"], age["missing_percent"], age["min"], age["max"]) == \
        (714, 177, 19.87, 0.42, 80.0)
    assert round(age["mean"], 4) == 29.6991 and round(age["std"], 4) == 14.5265
    assert age["quantiles"]["median"] == 28.0 and round(age["skewness"], 3) == 0.388
    assert sum(age["histogram"]["counts"]) == 714
    assert columns["Sex"]["top_values"] == [{"value": "male", "count": 577, "percent": 64.76},
                                            {"value": "female", "count": 314, "percent": 35.24}]
    corr = profile["correlation"]
    i, j = corr["columns"].index("Age"), corr["columns"].index("Fare")
    assert corr["matrix"][i][j] == 0.0961
