"""Profiling runs on a real Celery worker; load_samples fills a workspace; load_frame serves the engine."""
import pytest
from django.core.management import call_command

from studio.datasets import services
from studio.datasets.models import Dataset, DatasetVersion, ProfileJob
from tests.conftest import wait_for
from tests.studio.datasets.conftest import SAMPLES


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_profile_runs_on_worker_and_is_exact(team, upload, api_for, celery_worker):
    body = upload(team.bob, (SAMPLES / "titanic.csv").read_bytes(), name="titanic", file_name="titanic.csv").json()
    assert body["status"] == "profiling"
    wait_for(lambda: DatasetVersion.objects.get(pk=body["version_id"]).status == "ready", timeout=90,
             message=f"the profile to finish; worker log:\n{celery_worker.log()[-3000:]}")
    job = ProfileJob.objects.get(version_id=body["version_id"])
    assert job.status == "completed" and job.started_at <= job.finished_at and job.error == ""
    response = api_for(team.carol).get(f"/api/v1/datasets/{body['id']}/profile/").json()
    assert (response["status"], response["job"]["status"]) == ("ready", "completed")
    profile = response["profile"]
    assert (profile["n_rows"], profile["n_columns"], profile["duplicate_rows"]) == (891, 12, 0)
    columns = {c["name"]: c for c in profile["columns"]}
    age = columns["Age"]
    assert (age["count"], age["missing"], age["missing_percent"], age["min"], age["max"]) == (714, 177, 19.87, 0.42, 80.0)
    assert round(age["mean"], 4) == 29.6991 and round(age["std"], 4) == 14.5265
    assert age["quantiles"]["median"] == 28.0 and round(age["skewness"], 3) == 0.388
    assert sum(age["histogram"]["counts"]) == 714
    assert columns["Sex"]["top_values"] == [{"value": "male", "count": 577, "percent": 64.76},
                                            {"value": "female", "count": 314, "percent": 35.24}]
    assert columns["Embarked"]["missing"] == 2 and columns["Cabin"]["missing"] == 687
    corr = profile["correlation"]
    assert "Fare" in corr["columns"] and "PassengerId" not in corr["columns"]
    assert "Pclass" not in corr["columns"]  # three whole numbers: the schema reads it as categories
    i, j = corr["columns"].index("Age"), corr["columns"].index("Fare")
    assert corr["matrix"][i][j] == 0.0961  # pandas: titanic[["Age", "Fare"]].corr() pairwise = 0.096067


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_duplicate_rows_and_datetime_profile(team, upload, celery_worker):
    content = b"when,what,amount\n2024-01-01,a,1\n2024-01-01,a,1\n2024-03-01,b,2\n2024-01-01,a,1\n2024-02-15,,3\n"
    body = upload(team.bob, content, name="dups").json()
    wait_for(lambda: DatasetVersion.objects.get(pk=body["version_id"]).status == "ready", timeout=90,
             message="profile")
    profile = services.profile_of(DatasetVersion.objects.get(pk=body["version_id"]))
    assert profile["duplicate_rows"] == 2
    when = profile["columns"][0]
    assert (when["type"], when["min"], when["max"], when["span_days"]) == \
        ("datetime", "2024-01-01T00:00:00", "2024-03-01T00:00:00", 60.0)


@pytest.mark.django_db
def test_failed_profile_is_recorded_on_job_and_version(team, upload, settings):
    body = upload(team.bob, b"a,b\n1,2\n3,4\n", name="broken").json()
    version = DatasetVersion.objects.get(pk=body["version_id"])
    (settings.MEDIA_ROOT and __import__("pathlib").Path(settings.MEDIA_ROOT, version.parquet_file.name).unlink())
    job = ProfileJob.objects.get(version=version)
    services.run_profile(job.pk)
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("The profile failed: FileNotFoundError")
    assert str(settings.MEDIA_ROOT) not in job.error and "<storage>/datasets/" in job.error  # no server paths
    assert version.status == "failed" and version.error == job.error
    # A second delivery of the same task finds the job taken and does nothing.
    services.run_profile(job.pk)
    assert ProfileJob.objects.get(pk=job.pk).finished_at == job.finished_at


@pytest.mark.django_db
def test_load_samples_command_synchronous(team):
    call_command("load_samples", "--user", "bob", "--workspace", str(team.workspace.pk), "--sync")
    names = sorted(Dataset.objects.filter(workspace=team.workspace).values_list("name", flat=True))
    assert names == ["bank-marketing-test", "bank-marketing-train", "bank-marketing-validation",
                     "hardware-performance", "nyc-energy-test", "nyc-energy-train", "oj-sales-test", "oj-sales-train",
                     "titanic"]
    versions = DatasetVersion.objects.filter(dataset__workspace=team.workspace)
    assert {v.status for v in versions} == {"ready"}
    assert {v.dataset.name: v.n_rows for v in versions} == {
        "bank-marketing-train": 29999, "bank-marketing-validation": 1999, "bank-marketing-test": 952,
        "hardware-performance": 209, "titanic": 891, "nyc-energy-train": 49108, "nyc-energy-test": 48,
        "oj-sales-train": 972, "oj-sales-test": 60}
    # Running it again adds nothing.
    assert services.load_samples(team.workspace, team.bob) == []


@pytest.mark.django_db
def test_load_samples_refuses_viewer(team):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="carol cannot add datasets to Team: an editor role is needed."):
        call_command("load_samples", "--user", "carol", "--workspace", str(team.workspace.pk))


@pytest.mark.django_db
def test_load_frame_applies_types(team):
    versions = services.load_samples(team.workspace, team.bob, synchronous=True)
    version = next(v for v in versions if v.dataset.name == "titanic")
    frame = services.load_frame(version)
    assert frame.shape == (891, 12)
    assert frame["Pclass"].tolist()[:3] == ["3", "1", "3"]   # few integer values: categorical
    assert frame["Survived"].tolist()[:3] == [False, True, True]  # 0/1: boolean as a feature
    assert frame["Age"].dtype == "float64" and frame["Name"].dtype == object
    services.update_schema(version, {"types": {"Pclass": "numeric"}, "excluded": ["PassengerId", "Name"]})
    frame = services.load_frame(DatasetVersion.objects.get(pk=version.pk))
    assert frame.shape == (891, 10) and frame["Pclass"].tolist()[:3] == [3, 1, 3]


@pytest.mark.django_db
def test_load_frame_reads_labels_as_they_are_and_only_the_rows_and_columns_asked_for(team):
    samples = {v.dataset.name: v for v in services.load_samples(team.workspace, team.bob, synchronous=True)}
    titanic, bank = samples["titanic"], samples["bank-marketing-validation"]
    frame = services.load_frame(titanic, columns=["Survived", "Sex"], limit=4, labels="Survived")
    assert list(frame.columns) == ["Survived", "Sex"] and len(frame) == 4
    assert frame["Survived"].tolist() == [0, 1, 1, 1] and frame["Survived"].dtype == "int64"
    assert services.load_frame(titanic, columns=["Survived"], limit=0).shape == (0, 1)
    labels = services.load_frame(bank, columns=["y"], labels="y")["y"]
    assert next(c for c in bank.columns if c["name"] == "y")["type"] == "boolean"
    assert set(labels) == {"yes", "no"} and labels.dtype == object  # the schema's boolean is for features
