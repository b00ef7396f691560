"""The datasets API: upload, list, detail, profile, preview, schema; every bad input gets a clear 400."""
import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio import storage
from studio.datasets.models import Dataset, DatasetVersion, ProfileJob
from tests.studio.datasets.conftest import SAMPLES

pytestmark = pytest.mark.django_db

CSV = b"age,job,income,joined\n31,admin,52000.5,2020-01-03\n45,technician,61000,2019-11-30\n" \
      b"28,admin,,2021-06-01\n52,manager,88000,2018-02-14\n"


def test_upload_returns_201_with_schema_and_queues_profile(team, upload):
    response = upload(team.bob, CSV, name="customers", description="CRM export")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["version"], body["status"], body["n_rows"], body["n_columns"]) == \
        ("customers", 1, "profiling", 4, 4)
    assert [(c["name"], c["type"], c["missing"], c["distinct"]) for c in body["columns"]] == [
        ("age", "numeric", 0, 4), ("job", "categorical", 0, 3), ("income", "numeric", 1, 3),
        ("joined", "datetime", 0, 4)]
    version = DatasetVersion.objects.get(pk=body["version_id"])
    assert version.dataset.workspace == team.workspace and version.created_by == team.bob
    assert version.parse_settings["delimiter"] == "," and version.parse_settings["encoding"] == "utf-8"
    assert ProfileJob.objects.get(version=version).status == "queued"


def test_reupload_under_same_name_makes_next_version(team, upload):
    first = upload(team.bob, CSV, name="customers").json()
    second = upload(team.alice, CSV + b"60,admin,1000,2017-01-01\n", name="customers").json()
    assert (second["id"], second["version"], second["n_rows"]) == (first["id"], 2, 5)
    assert [v["version"] for v in second["versions"]] == [2, 1]
    assert Dataset.objects.count() == 1


def test_bank_marketing_sample_types(team, upload):
    content = (SAMPLES / "bank_marketing_train_data.csv").read_bytes()
    body = upload(team.bob, content, name="bank", file_name="bank_marketing_train_data.csv").json()
    assert (body["n_rows"], body["n_columns"]) == (29999, 21)
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert (types["age"], types["job"], types["previous"], types["euribor3m"], types["y"]) == \
        ("numeric", "categorical", "categorical", "numeric", "boolean")


@pytest.mark.parametrize("content,fields,expected", [
    (b"a;b;c\n1;2;3\n4;5;6\n", {}, (";", 2, 3)),
    (b"a\tb\n1\t2\n", {}, ("\t", 1, 2)),
    (b"a|b\n1|2\n3|4\n", {}, ("|", 2, 2)),
    (b"title of the export\na,b\n1,2\n", {"skip_rows": "1"}, (",", 1, 2)),
    (b"1,2\n3,4\n", {"header": "false"}, (",", 2, 2)),
    (b"a,b\n1,2\n", {"delimiter": ";"}, (";", 1, 1)),
])
def test_delimiters_header_and_skip_rows(team, upload, content, fields, expected):
    body = upload(team.bob, content, **fields).json()
    assert (body["parse_settings"]["delimiter"], body["n_rows"], body["n_columns"]) == expected


def test_headerless_file_gets_numbered_column_names(team, upload):
    body = upload(team.bob, b"1,x\n2,y\n3,z\n", header="false").json()
    assert [c["name"] for c in body["columns"]] == ["Column1", "Column2"]


@pytest.mark.parametrize("encoded,encoding", [
    ("name,city\nJosé,Zürich\nRenée,Kraków\n".encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + "name,city\nJosé,Zürich\nRenée,Köln\n".encode("utf-8"), "utf-8-sig"),
    ("name,city\nJosé,Zürich\nRenée,Köln\n".encode("utf-16"), "utf-16"),
    ("name,city\nJosé,Zürich\nRenée,Köln – Süd\n".encode("cp1252"), "cp1252"),
])
def test_encodings_are_detected(team, upload, encoded, encoding, api_for):
    body = upload(team.bob, encoded).json()
    assert body["parse_settings"]["encoding"] == encoding
    assert [c["name"] for c in body["columns"]] == ["name", "city"]
    preview = api_for(team.bob).get(f"/api/v1/datasets/{body['id']}/preview/?rows=2").json()
    assert preview["rows"][0] == ["José", "Zürich"]


def test_gzip_csv_and_parquet_upload(team, upload):
    body = upload(team.bob, gzip.compress(CSV), name="gz", file_name="customers.csv.gz").json()
    assert (body["n_rows"], body["n_columns"], body["parse_settings"]["compression"]) == (4, 4, "gzip")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [1.5, 2.5, None], "label": ["a", "b", "a"]}), buffer)
    body = upload(team.bob, buffer.getvalue(), name="pq", file_name="table.parquet").json()
    assert (body["n_rows"], body["parse_settings"]["file_format"]) == (3, "parquet")
    assert [(c["name"], c["type"], c["missing"]) for c in body["columns"]] == [("x", "numeric", 1),
                                                                              ("label", "categorical", 0)]


BAD_INPUTS = [
    ("empty", b"", "data.csv", {}, "The file is empty (0 bytes)"),
    ("blank lines", b"\n\n  \n", "data.csv", {}, "The file is empty: it holds only blank lines"),
    ("header only", b"a,b,c\n", "data.csv", {}, "The file has a header row but no data rows"),
    ("binary", bytes(range(256)) * 3, "data.csv", {}, "This file is binary, not text"),
    ("undecodable", b"a,b\n1,x\n2,caf\xe9\n", "data.csv", {"encoding": "utf-8"},
     "The file cannot be read as UTF-8: line 3 has the byte 0xe9 that is not valid there"),
    ("wrong field count", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", "data.csv", {},
     "Line 4 has 4 fields but the header has 3."),
    ("too few fields", b"a,b,c\n1,2,3\n4,5\n", "data.csv", {}, "Line 3 has 2 fields but the header has 3."),
    ("duplicate names", b"a,b,a\n1,2,3\n", "data.csv", {},
     "The header row names the column 'a' twice (positions 1 and 3)"),
    ("empty name", b"a,,c\n1,2,3\n", "data.csv", {}, "The header row has an empty column name at position 2"),
    ("too many columns", (",".join(f"c{i}" for i in range(6)) + "\n" + ",".join("1" * 6) + "\n").encode(),
     "data.csv", {}, "The file has 6 columns, more than the limit of 5"),
    ("path parts", b"a,b\n1,2\n", "../../etc/data.csv", {}, "The file name '../../etc/data.csv' contains folder parts"),
    ("windows path parts", b"a,b\n1,2\n", "C:\\\\Users\\\\me\\\\data.csv", {}, "contains folder parts"),
    ("too large", b"a,b\n" + b"1,2\n" * 400, "data.csv", {}, "The file is larger than the upload limit of 1.0 KB"),
    ("bad parquet", b"PAR1 this is not parquet at all", "data.parquet", {}, "cannot be read as Parquet"),
    ("bad delimiter", b"a,b\n1,2\n", "data.csv", {"delimiter": "ab"}, "The delimiter must be one character"),
]


@pytest.mark.parametrize("label,content,file_name,fields,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_clear_400_and_leaves_nothing(team, upload, storage_files, settings, label, content,
                                                    file_name, fields, message):
    settings.STUDIO_MAX_COLUMNS = 5
    settings.STUDIO_MAX_UPLOAD_BYTES = 1024
    before = storage_files()
    response = upload(team.bob, content, name="bad", file_name=file_name, **fields)
    assert response.status_code == 400, response.content
    body = response.json()
    assert message in body.get("detail", "") + " ".join(sum((v for v in body.values() if isinstance(v, list)), []))
    assert Dataset.objects.count() == 0 and DatasetVersion.objects.count() == 0
    assert storage_files() == before
    assert early_copies(settings) == []


def test_wrong_field_count_far_into_a_file_names_the_line(team, upload, storage_files):
    rows = b"".join(b"%d,%d,x\n" % (i, i * 2) for i in range(50_000))
    before = storage_files()
    response = upload(team.bob, b"a,b,c\n" + rows + b"1,2\n" + rows)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Line 50,002 has 2 fields but the header has 3.")
    assert response.json()["line"] == 50002
    assert Dataset.objects.count() == 0 and storage_files() == before


def test_missing_file_and_missing_name(team, api_for):
    response = api_for(team.bob).post("/api/v1/datasets/", {"name": "x"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["file"] == ["No file in the request; send it as the multipart field 'file' "
                                       "(curl -F file=@data.csv)."]
    response = api_for(team.bob).post("/api/v1/datasets/", {"file": io.BytesIO(CSV)}, format="multipart")
    assert response.json()["name"] == ["Give the dataset a name, for example name=bank-marketing."]


def test_access_per_role(team, upload, api_for):
    body = upload(team.bob, CSV, name="customers").json()
    pk = body["id"]
    urls = [f"/api/v1/datasets/{pk}/", f"/api/v1/datasets/{pk}/profile/", f"/api/v1/datasets/{pk}/preview/"]
    for role, code in (("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)):
        user = team.by_role(role)
        for url in urls:
            assert api_for(user).get(url).status_code == code, (role, url)
        names = [d["name"] for d in api_for(user).get("/api/v1/datasets/").json()["results"]]
        assert names == ([] if role == "outsider" else ["customers"])
    assert upload(team.carol, CSV, name="by-viewer").status_code == 403
    assert api_for(team.carol).patch(f"/api/v1/datasets/{pk}/schema/", {"types": {"age": "categorical"}},
                                     format="json").status_code == 403
    assert api_for(team.dave).patch(f"/api/v1/datasets/{pk}/schema/", {"types": {"age": "categorical"}},
                                    format="json").status_code == 404
    # The outsider cannot reach it even by naming the workspace.
    assert api_for(team.dave).get(f"/api/v1/datasets/{pk}/?workspace={team.workspace.pk}").status_code == 404


def test_schema_patch_overrides_and_excludes(team, upload, api_for):
    pk = upload(team.bob, CSV, name="customers").json()["id"]
    response = api_for(team.bob).patch(f"/api/v1/datasets/{pk}/schema/",
                                       {"types": {"age": "categorical"}, "excluded": ["joined"]}, format="json")
    assert response.status_code == 200
    columns = {c["name"]: c for c in response.json()["columns"]}
    assert (columns["age"]["type"], columns["age"]["detected_type"], columns["joined"]["excluded"]) == \
        ("categorical", "numeric", True)
    from studio.datasets.services import load_frame

    frame = load_frame(DatasetVersion.objects.get(dataset_id=pk))
    assert list(frame.columns) == ["age", "job", "income"]
    assert frame["age"].tolist() == ["31", "45", "28", "52"]
    assert frame["income"].tolist()[:2] == [52000.5, 61000.0]
    bad = api_for(team.bob).patch(f"/api/v1/datasets/{pk}/schema/", {"types": {"nope": "numeric"}}, format="json")
    assert bad.status_code == 400
    assert bad.json()["schema"] == ["There is no column 'nope' in this dataset; use one of the names listed in its schema."]
    bad = api_for(team.bob).patch(f"/api/v1/datasets/{pk}/schema/", {"types": {"age": "float"}}, format="json")
    assert bad.json()["schema"] == ["'float' is not a column type; use one of boolean, categorical, datetime, id, "
                                    "numeric, text."]


def test_preview_rows_and_csv_export_neutralises_formulas(team, upload, api_for):
    content = b"name,formula\nalice,=1+2\nbob,+SUM(A1)\ncarol,-3\ndave,@cmd\n"
    pk = upload(team.bob, content, name="f").json()["id"]
    preview = api_for(team.carol).get(f"/api/v1/datasets/{pk}/preview/?rows=2").json()
    assert preview["columns"] == ["name", "formula"] and preview["rows"] == [["alice", "=1+2"], ["bob", "+SUM(A1)"]]
    csv_text = api_for(team.carol).get(f"/api/v1/datasets/{pk}/preview/?rows=10&download=csv").content.decode()
    assert csv_text.splitlines() == ["name,formula", "alice,'=1+2", "bob,'+SUM(A1)", "carol,'-3", "dave,'@cmd"]
    bad = api_for(team.carol).get(f"/api/v1/datasets/{pk}/preview/?rows=5000")
    assert bad.status_code == 400 and bad.json()["rows"] == ["rows must be a whole number from 1 to 1000; got '5000'."]


def test_version_parameter_selects_older_version(team, upload, api_for):
    pk = upload(team.bob, CSV, name="c").json()["id"]
    upload(team.bob, CSV + b"1,admin,2,2020-01-01\n", name="c")
    assert api_for(team.bob).get(f"/api/v1/datasets/{pk}/?version=1").json()["n_rows"] == 4
    assert api_for(team.bob).get(f"/api/v1/datasets/{pk}/").json()["n_rows"] == 5
    assert api_for(team.bob).get(f"/api/v1/datasets/{pk}/?version=7").status_code == 404


def early_copies(settings) -> list:
    return sorted(Path(settings.FILE_UPLOAD_TEMP_DIR).glob("*.early.parquet"))


def orders_csv(rows: int, amount_at_end: str = "7") -> bytes:
    """A file past the sniffed head (so conversion starts while it arrives) with a date-only column, which
    pyarrow reads as date32 and the conversion settles as timestamps from the start."""
    lines = [f"{i},2024-01-{1 + i % 28:02d},{'abcdefgh'[i % 8]}-shop,{i % 13}" for i in range(rows)]
    lines[-1] = f"{rows - 1},2024-01-02,a-shop,{amount_at_end}"
    return ("order,day,shop,amount\n" + "\n".join(lines) + "\n").encode()


def parquet_of(version) -> pa.Table:
    with storage.open_file(version.parquet_file.name) as f:
        return pq.read_table(f)


def test_large_upload_is_converted_while_it_arrives(team, upload, settings, caplog):
    content = orders_csv(40_000)
    assert len(content) > 3 * 256 * 1024  # well past the sniffed head
    with caplog.at_level("INFO", logger="studio.datasets.services"):
        body = upload(team.bob, content, name="orders").json()
    assert "converted while it arrived" in caplog.text
    assert (body["n_rows"], [(c["name"], c["type"], c["distinct"]) for c in body["columns"]]) == \
        (40_000, [("order", "id", 40_000), ("day", "datetime", 28), ("shop", "categorical", 8),
                  ("amount", "numeric", 13)])
    table = parquet_of(DatasetVersion.objects.get(pk=body["version_id"]))
    assert str(table.schema.field("day").type).startswith("timestamp")
    assert table.column("amount").to_pylist()[-3:] == [9, 10, 7]
    assert early_copies(settings) == []


def test_override_unlike_detection_converts_the_stored_file(team, upload, settings, caplog):
    content = orders_csv(40_000).replace(b",", b";")
    with caplog.at_level("INFO", logger="studio.datasets.services"):
        body = upload(team.bob, content, name="orders", delimiter=";", header="true", skip_rows="0").json()
    assert (body["n_rows"], body["n_columns"]) == (40_000, 4)
    assert "converted while it arrived" in caplog.text  # the overrides equal what was detected
    caplog.clear()
    with caplog.at_level("INFO", logger="studio.datasets.services"):
        body = upload(team.bob, content, name="orders", header="false").json()
    assert "converted after it arrived" in caplog.text
    assert (body["version"], body["n_rows"], body["columns"][0]["name"]) == (2, 40_001, "Column1")
    assert early_copies(settings) == []


def test_type_widened_after_the_first_block_falls_back_to_a_second_pass(team, upload, settings, caplog,
                                                                         monkeypatch):
    from studio.datasets import parsing
    monkeypatch.setattr(parsing, "BLOCK_SIZE", 64 * 1024)  # so that the last line is many blocks in
    content = orders_csv(40_000, amount_at_end="7.5")
    with caplog.at_level("INFO", logger="studio.datasets.services"):
        body = upload(team.bob, content, name="orders").json()
    assert "converted after it arrived" in caplog.text
    table = parquet_of(DatasetVersion.objects.get(pk=body["version_id"]))
    assert str(table.schema.field("amount").type) == "double"
    assert table.column("amount").to_pylist()[-2:] == [10.0, 7.5]
    assert early_copies(settings) == []


def test_gzip_upload_is_converted_while_it_arrives(team, upload, settings, caplog):
    content = gzip.compress(orders_csv(40_000), compresslevel=1)
    with caplog.at_level("INFO", logger="studio.datasets.services"):
        body = upload(team.bob, content, name="orders", file_name="orders.csv.gz").json()
    assert "converted while it arrived" in caplog.text
    assert (body["n_rows"], body["parse_settings"]["compression"], body["columns"][1]["type"]) == \
        (40_000, "gzip", "datetime")
    table = parquet_of(DatasetVersion.objects.get(pk=body["version_id"]))
    assert str(table.schema.field("day").type).startswith("timestamp")
    assert table.column("amount").to_pylist()[-3:] == [9, 10, 7]
    assert early_copies(settings) == []
