"""A dataset from a zipped MLTable folder through the API: the table Azure would read, or a 400 naming the
unsupported transformation."""
import io
import zipfile

import pytest

pytestmark = pytest.mark.django_db


def _zip(files: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    buffer.seek(0)
    buffer.name = "table.zip"
    return buffer


def test_mltable_zip_becomes_a_dataset(team, api_for):
    table = "paths:\n  - pattern: ./data/*.csv\ntransformations:\n  - read_delimited: {delimiter: ';'}\n" \
            "  - drop_columns: [id]\n"
    archive = _zip({"bank/MLTable": table, "bank/data/a.csv": "id;age;y\n1;30;no\n", "bank/data/b.csv":
                    "id;age;y\n2;41;yes\n"})
    r = api_for(team.bob).post("/api/v1/datasets/mltable/", {"name": "bank-mltable", "file": archive},
                               format="multipart")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["name"] == "bank-mltable" and body["n_rows"] == 2
    assert [c["name"] for c in body["columns"]] == ["age", "y"]


@pytest.mark.parametrize("files, message", [
    ({"t/MLTable": "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited: {}\n  - filter: x\n",
      "t/d.csv": "a\n1\n"}, "transformation 'filter' is not supported here"),
    ({"t/d.csv": "a\n1\n"}, "the zip holds no MLTable file"),
    ({"../MLTable": "x"}, "points outside the archive"),
])
def test_bad_mltable_zips_are_refused_with_the_reason(team, api_for, files, message):
    r = api_for(team.bob).post("/api/v1/datasets/mltable/", {"name": "x", "file": _zip(files)}, format="multipart")
    assert r.status_code == 400 and message in r.json()["file"][0]
