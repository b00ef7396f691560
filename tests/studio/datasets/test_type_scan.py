"""The wizard's whole-file type check: the schema step's types come from the same conversion that creating the
dataset runs, done in the background, and creating the dataset with the same settings takes its copy over."""
import json
import logging

import pytest
from django.urls import reverse

from studio.datasets import parsing, profiling, services
from studio.datasets.models import TypeScanJob
from tests.studio.datasets.conftest import bank_sorted_by

pytestmark = pytest.mark.django_db


def staged(team, content: bytes, name: str = "bank.csv"):
    upload = services.stage_upload(workspace=team.workspace, user=team.bob, file_name=name, chunks=[content])
    return upload, parsing.ParseSettings.from_dict(upload.detected_settings)


def test_the_whole_file_decides_where_the_first_rows_mislead_and_creation_takes_the_copy_over(
        team, storage_files, settings, caplog):
    content = bank_sorted_by("previous")  # the first 5,000 rows all have previous = 0
    upload, parse_settings = staged(team, content)
    preview = services.preview_upload(upload, parse_settings)
    guessed = dict(zip(preview.columns, preview.column_types))
    assert guessed["previous"] == "numeric"

    job = services.scan_upload(upload, parse_settings)
    assert (job.status, job.parse_settings) == ("queued", parse_settings.to_dict())
    assert services.scan_upload(upload, parse_settings).pk == job.pk  # the preview asks again: the same check
    services.run_upload_scan(job.pk)
    job.refresh_from_db()
    assert (job.status, job.n_rows, job.fraction, job.error) == ("completed", 29_999, 1.0, "")
    decided = {c["name"]: c["type"] for c in job.columns}
    assert decided == {**guessed, "previous": "categorical"}

    caplog.set_level(logging.INFO, logger="studio.datasets.services")
    version = services.create_from_upload(upload, name="bank", parse_settings=parse_settings, user=team.bob)
    assert "upload bank.csv: the type check's conversion is taken over" in caplog.messages
    assert {c["name"]: c["type"] for c in version.columns} == decided
    assert version.n_rows == 29_999
    folder = version.parquet_file.name.rsplit("/", 1)[0]
    assert {f for f in storage_files() if f.startswith(folder)} == {
        f"{folder}/raw.csv", f"{folder}/data.parquet", f"{folder}/profile-pass.json"}
    # What the profile job reads is what a conversion at creation would have written.
    with open(settings.MEDIA_ROOT + "/" + folder + "/profile-pass.json") as f:
        taken_over = json.load(f)
    import io
    direct = parsing.convert_to_parquet(lambda: io.BytesIO(content), parse_settings, io.BytesIO(), 1000)
    assert taken_over == json.loads(json.dumps(profiling.pass_statistics(direct.summary)))
    assert TypeScanJob.objects.count() == 0  # went with the staged upload


def test_new_settings_stop_the_check_of_the_old_ones(team):
    upload, parse_settings = staged(team, b"a;b,c\n1;2,3\n4;5,6\n", name="semi.csv")
    first = services.scan_upload(upload, parse_settings)
    semicolon = parsing.ParseSettings.from_dict({**parse_settings.to_dict(), "delimiter": ";"})
    second = services.scan_upload(upload, semicolon)
    first.refresh_from_db()
    assert (first.status, first.error) == ("canceled", "The parse settings changed; the newer settings are checked.")
    services.run_upload_scan(first.pk)  # its message arrives late: nothing runs
    first.refresh_from_db()
    assert (first.status, first.columns) == ("canceled", None)
    services.run_upload_scan(second.pk)
    second.refresh_from_db()
    assert [(c["name"], c["type"]) for c in second.columns] == [("a", "numeric"), ("b,c", "categorical")]
    # Back to the first settings: a new check, since the old one never ran.
    again = services.scan_upload(upload, parse_settings)
    assert again.pk not in (first.pk, second.pk)


def test_a_bad_row_past_the_first_rows_fails_the_check_with_its_line(team):
    content = bank_sorted_by("previous")
    lines = content.splitlines()
    lines[6001] += b",extra"
    upload, parse_settings = staged(team, b"\n".join(lines) + b"\n")
    assert len(services.preview_upload(upload, parse_settings).rows) == parsing.PREVIEW_ROWS
    job = services.scan_upload(upload, parse_settings)
    services.run_upload_scan(job.pk)
    job.refresh_from_db()
    with pytest.raises(parsing.DataError) as creation:
        services.create_from_upload(upload, name="bank", parse_settings=parse_settings, user=team.bob)
    assert (job.status, job.error) == ("failed", creation.value.message)
    assert job.error.startswith("Line 6,002 has 22 fields but the header has 21.")


def test_the_schema_step_polls_the_check_and_shows_the_whole_files_types(team, client_for):
    bob = client_for(team.bob)
    body = bob.post(reverse("datasets:upload"), b"city,temp\nOslo,3.5\nRome,14\n",
                    content_type="application/octet-stream", HTTP_X_FILE_NAME="w.csv").json()
    form = {"delimiter": ",", "encoding": "utf-8", "header": "on", "skip_rows": "0", "quote_char": '"'}
    preview = bob.post(body["preview_url"], form).content.decode()
    job = TypeScanJob.objects.get()
    url = reverse("datasets:upload-scan", args=[body["id"], job.pk])
    # It polls into itself: inside the wizard's form it would inherit the form's target (step 5's create result).
    assert (f'hx-get="{url}" hx-trigger="load delay:700ms" hx-swap="outerHTML"\n     hx-target="this" '
            'hx-indicator="#type-scan"') in preview
    assert "waiting for a worker to check them on the whole file" in preview
    assert "polls itself" not in preview  # the template's comment stays a comment
    services.run_upload_scan(job.pk)
    done = bob.get(url).content.decode()
    assert "Types decided on the whole file (2 rows)" in done and "hx-get" not in done
    assert '<script id="type-scan-types" type="application/json">{"city": "categorical", "temp": "numeric"}</script>' \
        in done
    for user in (team.alice, team.carol, team.dave):
        assert client_for(user).get(url).status_code == 404


@pytest.mark.parametrize("kind", ["csv.gz", "parquet"])
def test_compressed_and_parquet_uploads_are_checked_as_creation_reads_them(team, kind, tmp_path):
    import gzip

    import pandas as pd

    from tests.studio.datasets.conftest import SAMPLES

    raw = (SAMPLES / "titanic.csv").read_bytes()
    if kind == "parquet":
        pd.read_csv(SAMPLES / "titanic.csv").to_parquet(tmp_path / "t.parquet", index=False)
        content = (tmp_path / "t.parquet").read_bytes()
    else:
        content = gzip.compress(raw)
    upload, parse_settings = staged(team, content, name=f"titanic.{kind}")
    job = services.scan_upload(upload, parse_settings)
    services.run_upload_scan(job.pk)
    job.refresh_from_db()
    version = services.create_from_upload(upload, name="titanic", parse_settings=parse_settings, user=team.bob)
    assert (job.status, job.n_rows, version.n_rows) == ("completed", 891, 891)
    assert [(c["name"], c["type"]) for c in version.columns] == [(c["name"], c["type"]) for c in job.columns]
    assert {c["name"]: c["type"] for c in job.columns}["Survived"] == "boolean"
