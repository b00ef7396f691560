"""Upload bombs and malformed files: limits on decompressed bytes, rows and field size enforced while the
file streams, and every parse error a 400 with a message that leaves no row and no file behind."""
import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio.datasets.models import Dataset

pytestmark = pytest.mark.django_db


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _refused(upload, team, storage_files, content: bytes, file_name: str) -> str:
    before = storage_files()
    r = upload(team.bob, content, name="bomb", file_name=file_name)
    assert r.status_code == 400, (r.status_code, r.content[:500])
    assert not Dataset.objects.filter(name="bomb").exists()
    assert storage_files() == before
    errors = r.json()
    return " ".join(str(v) for v in errors.values())


def test_a_gzip_bomb_is_refused_on_its_decompressed_size(team, upload, storage_files, settings):
    settings.STUDIO_MAX_DATA_BYTES = 1_000_000
    bomb = _gzip(b"a,b\n" + b"1,2\n" * 2_000_000)  # 8 MB of text in about 20 KB
    assert len(bomb) < 100_000
    message = _refused(upload, team, storage_files, bomb, "bomb.csv.gz")
    assert "decompresses to more than 976.6 KB" in message and "STUDIO_MAX_DATA_BYTES" in message


def test_rows_beyond_the_limit_are_refused(team, upload, storage_files, settings):
    settings.STUDIO_MAX_ROWS = 1000
    message = _refused(upload, team, storage_files, b"a,b\n" + b"1,2\n" * 1500, "rows.csv")
    assert "more than 1,000 rows" in message and "STUDIO_MAX_ROWS" in message


def test_a_gzip_with_one_huge_field_is_refused(team, upload, storage_files, settings):
    settings.STUDIO_MAX_FIELD_BYTES = 100_000
    huge = _gzip(b"a,b\n1,2\n3," + b"x" * 3_000_000 + b"\n")
    message = _refused(upload, team, storage_files, huge, "field.csv.gz")
    assert "a value longer than 97.7 KB" in message and "STUDIO_MAX_FIELD_BYTES" in message


def test_a_corrupt_csv_gz_is_a_400(team, upload, storage_files):
    whole = _gzip(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(200_000)))
    message = _refused(upload, team, storage_files, whole[: len(whole) // 2], "cut.csv.gz")
    assert "compressed file" in message.lower()
    flipped = bytearray(whole)
    flipped[len(flipped) // 2: len(flipped) // 2 + 64] = b"\xff" * 64
    _refused(upload, team, storage_files, bytes(flipped), "flipped.csv.gz")


@pytest.mark.parametrize("column", [
    pa.array([b"\x00\x01", b"\x02"], pa.binary()),
    pa.array([[1, 2], [3]], pa.list_(pa.int64())),
    pa.array([{"x": 1}, {"x": 2}], pa.struct([("x", pa.int64())])),
])
def test_parquet_with_binary_list_or_struct_columns_is_a_400(team, upload, storage_files, column):
    table = pa.table({"ok": [1, 2], "odd": column})
    message = _refused(upload, team, storage_files, _parquet(table), "odd.parquet")
    assert "'odd'" in message and "plain values" in message


def test_a_corrupt_parquet_file_is_a_400(team, upload, storage_files):
    data = _parquet(pa.table({"a": list(range(1000))}))
    _refused(upload, team, storage_files, data[:4] + b"\x00" * 50 + data[54:], "bad.parquet")


def test_the_sweeper_deletes_orphans_of_killed_uploads_and_never_a_file_a_row_points_to(team, upload, settings,
                                                                                          tmp_path):
    import os
    import time
    from pathlib import Path

    from studio.datasets import services

    settings.STUDIO_ORPHAN_AGE_SECONDS = 3600
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    kept = upload(team.bob, b"a,b\n1,2\n", name="kept").json()
    version = Dataset.objects.get(name="kept").versions.get()
    root = Path(settings.MEDIA_ROOT)
    old = time.time() - 7200
    orphan = root / "datasets" / "0badc0de" / "raw.csv"
    young = root / "datasets" / "0badbeef" / "raw.csv"
    stale_temp = tmp_path / "abc.early.parquet"
    for path in (orphan, young, stale_temp):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"a,b\n")
    for path in (orphan, orphan.parent, stale_temp, root / version.raw_file.name, root / version.parquet_file.name):
        os.utime(path, (old, old))
    removed = services.sweep_orphan_files()
    assert sorted(removed) == ["datasets/0badc0de", "tmp/abc.early.parquet"]
    assert not orphan.exists() and young.exists() and not stale_temp.exists()
    assert (root / version.raw_file.name).exists() and (root / version.parquet_file.name).exists()
    assert kept["status"] == "profiling"
