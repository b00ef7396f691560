"""Dataset pages: the list, the wizard endpoints, the dataset page, the profile fragment, role checks, escaping."""
import pytest
from django.urls import reverse

from studio.datasets import services
from studio.datasets.models import Dataset, DatasetVersion, StagedUpload

pytestmark = pytest.mark.django_db

CSV = b"city,temp,when\nOslo,3.5,2024-01-02\nRome,14.25,2024-01-03\nLima,19,2024-01-04\n"


def stage(client, content=CSV, name="weather.csv"):
    return client.post(reverse("datasets:upload"), content, content_type="application/octet-stream",
                       HTTP_X_FILE_NAME=name)


def wizard_post(upload_id, **extra):
    data = {"upload_id": upload_id, "name": "weather", "description": "daily", "tags": "team=ops, raw",
            "delimiter": ",", "encoding": "utf-8", "header": "on", "skip_rows": "0", "quote_char": '"'}
    data.update(extra)
    return data


def test_wizard_upload_preview_create(team, client_for, storage_files):
    bob = client_for(team.bob)
    assert bob.get(reverse("datasets:new")).status_code == 200
    response = stage(bob)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["size"], body["parquet"]) == ("weather.csv", "76 bytes", False)
    assert body["settings"] == {"delimiter": ",", "other_delimiter": "", "encoding": "utf-8", "header": True,
                                "skip_rows": 0, "quote_char": '"'}
    preview = bob.post(body["preview_url"], wizard_post(body["id"])).content.decode()
    assert "<th>city</th><th>temp</th><th>when</th>" in preview and "<td>Rome</td>" in preview
    assert 'name="col-1-detected" value="numeric"' in preview and 'name="col-2-detected" value="datetime"' in preview
    # A different delimiter re-reads the file: one column, three rows.
    preview = bob.post(body["preview_url"], wizard_post(body["id"], delimiter=";")).content.decode()
    assert "<th>city,temp,when</th>" in preview and "1 column" in preview
    response = bob.post(reverse("datasets:create"), wizard_post(
        body["id"], **{"col-0-name": "city", "col-0-detected": "categorical", "col-0-type": "text", "col-0-include": "1",
                       "col-1-name": "temp", "col-1-detected": "numeric", "col-1-type": "numeric",
                       "col-2-name": "when", "col-2-detected": "datetime", "col-2-type": "datetime", "col-2-include": "1"}))
    assert response.status_code == 204
    dataset = Dataset.objects.get(name="weather")
    assert response["HX-Redirect"] == f"/datasets/{dataset.pk}/?version=1"
    assert (dataset.description, dataset.tags) == ("daily", {"team": "ops", "raw": ""})
    version = dataset.versions.get()
    assert [(c["name"], c["type"], c["excluded"]) for c in version.columns] == [
        ("city", "text", False), ("temp", "numeric", True), ("when", "datetime", False)]
    assert StagedUpload.objects.count() == 0
    files = storage_files()
    folder = version.parquet_file.name.rsplit("/", 1)[0]
    # The raw upload, the Parquet copy, and what the conversion pass knows for the profile job.
    assert {f for f in files if f.startswith(folder)} == {f"{folder}/raw.csv", f"{folder}/data.parquet",
                                                         f"{folder}/profile-pass.json"}


def test_wizard_bad_uploads_leave_nothing(team, client_for, storage_files, settings):
    bob = client_for(team.bob)
    before = storage_files()
    for content, name, message in [
        (b"", "empty.csv", "The file is empty (0 bytes)"),
        (b"\x00\x01\x02\x03binary" * 50, "x.csv", "This file is binary"),
        (CSV, "../x.csv", "contains folder parts"),
    ]:
        response = stage(bob, content, name)
        assert response.status_code == 400 and message in response.json()["error"]
    settings.STUDIO_MAX_UPLOAD_BYTES = 50
    response = stage(bob, CSV)
    assert response.status_code == 400
    assert response.json()["error"].startswith("The file is larger than the upload limit of 50 bytes")
    assert StagedUpload.objects.count() == 0 and storage_files() == before


def test_wizard_preview_shows_errors_with_line_numbers(team, client_for):
    bob = client_for(team.bob)
    body = stage(bob, b"a,b\n1,2\n3,4,5\n").json()
    preview = bob.post(body["preview_url"], wizard_post(body["id"])).content.decode()
    assert "Line 3 has 3 fields but the header has 2." in preview
    response = bob.post(reverse("datasets:create"), wizard_post(body["id"]))
    assert "Line 3 has 3 fields but the header has 2." in response.content.decode()
    assert Dataset.objects.count() == 0
    # The upload stays for another try; cancelling removes it.
    assert bob.post(reverse("datasets:upload-discard", args=[body["id"]])).status_code == 204
    assert StagedUpload.objects.count() == 0


def test_staged_uploads_are_private_to_their_uploader(team, client_for):
    body = stage(client_for(team.bob)).json()
    for user in (team.alice, team.carol, team.dave):
        assert client_for(user).post(body["preview_url"], wizard_post(body["id"])).status_code == 404
    assert client_for(team.alice).post(reverse("datasets:create"), wizard_post(body["id"])).content.decode().count(
        "Upload a file first") == 1


@pytest.fixture
def dataset(team):
    content = b"<script>alert(1)</script>,=cmd\n<b>bold</b>,@x\n<img src=x onerror=alert(2)>,+1\n"
    version = services.create_dataset_version(workspace=team.workspace, user=team.bob, name="<i>evil</i>",
                                              uploaded=_Upload(content), file_name="x.csv")
    return version


class _Upload:
    def __init__(self, content):
        import io

        self.file, self.size, self.name = io.BytesIO(content), len(content), "x.csv"

    def chunks(self, chunk_size=None):
        yield self.file.getvalue()

    def read(self, *a):
        return self.file.getvalue()


def test_dataset_page_escapes_names_and_values(team, client_for, dataset):
    page = client_for(team.carol).get(reverse("datasets:detail", args=[dataset.dataset_id])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<i>evil</i>" not in page and "&lt;i&gt;evil&lt;/i&gt;" in page
    csv_text = client_for(team.carol).get(reverse("datasets:preview-csv", args=[dataset.dataset_id])).content.decode()
    assert csv_text.splitlines() == ["<script>alert(1)</script>,'=cmd", "<b>bold</b>,'@x",
                                     "<img src=x onerror=alert(2)>,'+1"]


@pytest.mark.parametrize("role,code", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_read_pages_per_role(team, client_for, dataset, role, code):
    c = client_for(team.by_role(role))
    pk = dataset.dataset_id
    for url in (reverse("datasets:detail", args=[pk]), reverse("datasets:profile", args=[pk]),
                reverse("datasets:preview-csv", args=[pk])):
        assert c.get(url).status_code == code, url
    listing = c.get(reverse("datasets:list")).content.decode()
    assert ("&lt;i&gt;evil&lt;/i&gt;" in listing) == (role != "outsider")


@pytest.mark.parametrize("role,code", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_change_pages_per_role(team, client_for, dataset, role, code):
    c = client_for(team.by_role(role))
    pk = dataset.dataset_id
    schema = {"col-0-name": "<script>alert(1)</script>", "col-0-type": "text", "col-0-include": "1",
              "col-1-name": "=cmd", "col-1-type": "categorical", "col-1-include": "1"}
    assert c.post(reverse("datasets:schema", args=[pk]), schema).status_code == code
    if code == 302:
        assert DatasetVersion.objects.get(pk=dataset.pk).columns[0]["type"] == "text"
    assert c.post(reverse("datasets:delete", args=[pk])).status_code == code
    assert Dataset.objects.filter(pk=pk).exists() == (code != 302)


@pytest.mark.parametrize("role,code", [("owner", 200), ("editor", 200), ("viewer", 403)])
def test_wizard_needs_editor(team, client_for, role, code):
    c = client_for(team.by_role(role))
    assert c.get(reverse("datasets:new")).status_code == code
    assert stage(c).status_code == (200 if code == 200 else 403)


def test_empty_list_offers_upload_and_samples(team, client_for):
    page = client_for(team.bob).get(reverse("datasets:list")).content.decode()
    assert "No datasets in Team yet" in page and "Load the sample datasets" in page
    viewer_page = client_for(team.carol).get(reverse("datasets:list")).content.decode()
    assert "ask an editor of Team to upload data" in viewer_page and "Load the sample datasets" not in viewer_page
    assert client_for(team.carol).post(reverse("datasets:samples")).status_code == 403


def test_profile_fragment_polls_until_finished(team, client_for, dataset):
    url = reverse("datasets:profile", args=[dataset.dataset_id])
    fragment = client_for(team.carol).get(url).content.decode()
    assert 'hx-trigger="every 2s"' in fragment and "Waiting for a worker to profile this version" in fragment
    services.profile_now(dataset)
    fragment = client_for(team.carol).get(url).content.decode()
    assert 'hx-trigger' not in fragment and 'data-status="completed"' in fragment
    assert 'data-figure="col-fig-0"' in fragment


def test_wizard_creates_a_wide_table(team, client_for):
    bob = client_for(team.bob)
    names = [f"feature_{i}" for i in range(300)]
    content = (",".join(names) + "\n" + "\n".join(",".join(str(r * i) for i in range(300)) for r in range(5))).encode()
    body = stage(bob, content, "wide.csv").json()
    schema = {}
    for i, name in enumerate(names):
        schema.update({f"col-{i}-name": name, f"col-{i}-detected": "numeric", f"col-{i}-type": "numeric",
                       f"col-{i}-include": "1"})
    response = bob.post(reverse("datasets:create"), wizard_post(body["id"], name="wide", **schema))
    assert response.status_code == 204
    assert Dataset.objects.get(name="wide").versions.get().n_columns == 300


def test_versions_list_runs_that_used_them_and_lock_their_schema(team, client_for, api_for, dataset):
    from studio.experiments.models import Experiment, Run

    services.profile_now(dataset)
    dataset.refresh_from_db()
    experiment = Experiment.objects.create(workspace=team.workspace, name="churn", created_by=team.bob)
    Run.objects.create(experiment=experiment, workspace=team.workspace, number=1, dataset_version=dataset,
                       config={}, task="classification", primary_metric="accuracy")
    page = client_for(team.carol).get(reverse("datasets:detail", args=[dataset.dataset_id])).content.decode()
    assert "churn · run 1</a> <span class=\"text-body-secondary\">(training, queued)</span>" in page
    assert "Experiments used this version, so it keeps its schema" in page
    response = api_for(team.bob).patch(f"/api/v1/datasets/{dataset.dataset_id}/schema/",
                                       {"types": {"=cmd": "text"}}, format="json")
    # The used version is not changed: the edit is version 2, sharing the stored files and the profile.
    assert response.status_code == 200 and response.json()["version"] == 2, response.json()
    used, edited = DatasetVersion.objects.filter(dataset_id=dataset.dataset_id).order_by("version")
    assert used.columns == dataset.columns
    assert {c["name"]: c["type"] for c in edited.columns}["=cmd"] == "text"
    assert (edited.parquet_file.name, edited.raw_file.name, edited.status) == (used.parquet_file.name,
                                                                              used.raw_file.name, "ready")
    from studio.datasets.services import load_frame, profile_of

    assert load_frame(edited).shape == load_frame(used).shape
    assert {c["name"]: c["type"] for c in profile_of(edited)["columns"]}["=cmd"] == "text"
    client_for(team.bob).post(reverse("datasets:delete", args=[dataset.dataset_id]))
    assert Dataset.objects.filter(pk=dataset.dataset_id).exists()


def test_the_wizards_type_guess_is_the_full_files_decision_on_bank_marketing(team):
    from studio.datasets import parsing
    from tests.studio.datasets.conftest import SAMPLES

    content = (SAMPLES / "bank_marketing_train_data.csv").read_bytes()
    upload = services.stage_upload(workspace=team.workspace, user=team.bob, file_name="bank.csv",
                                   chunks=[content])
    settings = parsing.ParseSettings.from_dict(upload.detected_settings)
    preview = services.preview_upload(upload, settings)
    assert len(preview.rows) == parsing.PREVIEW_ROWS
    version = services.create_from_upload(upload, name="bank", parse_settings=settings, user=team.bob)
    decided = {c["name"]: c["type"] for c in version.columns}
    assert dict(zip(preview.columns, preview.column_types)) == decided
    assert (decided["housing"], decided["pdays"]) == ("categorical", "numeric")  # 50 rows said boolean, categorical


def test_the_dataset_list_searches_filters_by_tag_and_sorts(team, client_for):
    samples = services.load_samples(team.workspace, team.bob, synchronous=True)
    assert len(samples) == 9
    client = client_for(team.carol)

    def names(**query):
        response = client.get(reverse("datasets:list"), query)
        return [d.name for d, _ in response.context["rows"]]

    assert names() == ["bank-marketing-test", "bank-marketing-train", "bank-marketing-validation",
                       "hardware-performance", "nyc-energy-test", "nyc-energy-train", "oj-sales-test",
                       "oj-sales-train", "titanic"]
    assert names(q="bank", sort="rows") == ["bank-marketing-train", "bank-marketing-validation", "bank-marketing-test"]
    assert names(tag="task=regression") == ["hardware-performance"]
    assert names(tag="task=forecasting", sort="rows") == ["nyc-energy-train", "oj-sales-train", "oj-sales-test",
                                                          "nyc-energy-test"]
    assert names(q="survived") == ["titanic"]  # the description is searched too
    page = client.get(reverse("datasets:list"), {"q": "nothing like it"}).content.decode()
    assert 'data-testid="datasets-none-match"' in page and 'data-testid="datasets-empty"' not in page
