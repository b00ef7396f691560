""""Profile again" and "Retry" where a job failed, through the API and the pages, with the role matrix."""
import pytest

from studio.datasets import services as datasets
from studio.datasets.models import DatasetVersion, ProfileJob
from studio.experiments import services as experiments
from studio.experiments.models import Run
from studio.jobs import lifecycle
from tests.studio.experiments.conftest import small_job
from tests.studio.jobs.test_faults import _csv_upload

pytestmark = pytest.mark.django_db


def _failed_version(team) -> DatasetVersion:
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="unlucky",
                                              uploaded=_csv_upload("u.csv", 40), file_name="u.csv", enqueue=False)
    job = ProfileJob.objects.get(version=version)
    lifecycle.claim(ProfileJob, job.pk)
    assert lifecycle.fail(ProfileJob, job.pk, "The worker running this profile stopped responding.")
    version.refresh_from_db()
    assert (version.status, version.error) == ("failed", "The worker running this profile stopped responding.")
    return version


def test_profile_again_through_the_api(team, api_for):
    version = _failed_version(team)
    url = f"/api/v1/datasets/{version.dataset_id}/profile/"
    assert api_for(team.carol).post(url).status_code == 403
    assert api_for(team.dave).post(url).status_code == 404
    r = api_for(team.bob).post(url)
    assert r.status_code == 202, r.content
    assert r.json() == {"id": version.dataset_id, "version": 1, "status": "profiling",
                        "job": {"status": "queued", "error": ""}}
    assert DatasetVersion.objects.get(pk=version.pk).status == "profiling"
    datasets.profile_now(version)
    assert DatasetVersion.objects.get(pk=version.pk).status == "ready"
    r = api_for(team.bob).post(url)
    assert (r.status_code, r.json()) == (400, {"detail": "Version 1 is ready; only a failed profile can be run again."})


def test_profile_again_from_the_page(team, client_for):
    version = _failed_version(team)
    page = client_for(team.bob).get(f"/datasets/{version.dataset_id}/profile/?version=1").content.decode()
    assert 'data-testid="profile-again"' in page
    viewer = client_for(team.carol).get(f"/datasets/{version.dataset_id}/profile/?version=1").content.decode()
    assert 'data-testid="profile-again"' not in viewer
    assert client_for(team.carol).post(f"/datasets/{version.dataset_id}/profile/again/?version=1").status_code == 403
    r = client_for(team.bob).post(f"/datasets/{version.dataset_id}/profile/again/?version=1")
    assert r.status_code == 302 and r["Location"] == f"/datasets/{version.dataset_id}/?version=1"
    assert ProfileJob.objects.filter(version=version, status="queued").count() == 1


def test_retry_a_failed_run(team, bank_small, api_for, client_for):
    run = experiments.submit_run(team.workspace, team.bob, small_job(bank_small.dataset_id))
    r = api_for(team.bob).post(f"/api/v1/experiments/{run.pk}/retry/")
    assert (r.status_code, r.json()) == (400, {"errors": {"status": "Run 1 is queued; only a failed or canceled run "
                                                                    "can be retried."}})
    lifecycle.claim(Run, run.pk)
    lifecycle.fail(Run, run.pk, "The worker running this experiment stopped responding.")
    assert api_for(team.carol).post(f"/api/v1/experiments/{run.pk}/retry/").status_code == 403
    assert api_for(team.dave).post(f"/api/v1/experiments/{run.pk}/retry/").status_code == 404
    page = client_for(team.bob).get(f"/experiments/runs/{run.pk}/").content.decode()
    assert 'data-testid="retry-run"' in page
    r = api_for(team.bob).post(f"/api/v1/experiments/{run.pk}/retry/")
    assert r.status_code == 201, r.content
    retried = Run.objects.get(pk=r.json()["id"])
    assert (retried.number, retried.status, retried.config, retried.dataset_version_id) == \
        (2, "queued", Run.objects.get(pk=run.pk).config, run.dataset_version_id)
    r = client_for(team.bob).post(f"/experiments/runs/{run.pk}/retry/")
    new = Run.objects.order_by("-pk").first()
    assert new.number == 3 and r["Location"] == f"/experiments/runs/{new.pk}/"
