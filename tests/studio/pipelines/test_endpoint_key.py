"""A deploy step that creates an endpoint keeps its scoring key until an editor has seen it once (on the
endpoint page, as after a one-click deploy, or from the API); viewers and outsiders never get it."""
import pytest

from studio.pipelines.models import PipelineStep
from tests.studio.pipelines.test_services import _deploy_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed(team, bank_run):
    from studio.registry.services import register_version

    trial = bank_run.trials.filter(is_ensemble=False).order_by("number").first()
    version = register_version(trial=trial, name="bank", user=team.bob)
    step = _deploy_step(team, {"type": "registered_model", "model": "bank", "model_id": version.model_id,
                               "version": 1})
    assert step.status == "completed", step.error
    return step


def test_the_page_shows_the_key_once_to_an_editor(team, deployed, client_for):
    from studio.serving.models import Endpoint

    endpoint = Endpoint.objects.get(name="bank-ep")
    page = client_for(team.carol).get(f"/pipelines/jobs/{deployed.job_id}/").content.decode()
    assert "The new endpoint's key is waiting to be shown once." in page
    assert "An editor of this workspace can show it." in page and "show-key-deploy" not in page
    url = f"/pipelines/jobs/{deployed.job_id}/steps/deploy/endpoint-key/"
    assert client_for(team.carol).post(url).status_code == 403
    assert client_for(team.dave).post(url).status_code == 404
    bob = client_for(team.bob)
    assert 'data-testid="show-key-deploy"' in bob.get(f"/pipelines/jobs/{deployed.job_id}/").content.decode()
    key = deployed.endpoint_key
    r = bob.post(url)
    assert r.status_code == 302 and r["Location"] == f"/endpoints/{endpoint.pk}/"
    shown = bob.get(r["Location"]).content.decode()
    assert f'value="{key}"' in shown and "it is shown only once" in shown
    assert key not in bob.get(r["Location"]).content.decode()  # once
    assert PipelineStep.objects.get(pk=deployed.pk).endpoint_key == ""
    assert endpoint.key_matches(key)  # the key shown is the endpoint's key
    again = bob.post(url, follow=True).content.decode()
    assert "Step deploy has no endpoint key to show any more: it is shown once." in again
    assert "the endpoint key was shown once" in PipelineStep.objects.get(pk=deployed.pk).log


def test_the_api_answers_the_key_once_to_an_editor(team, deployed, api_for):
    url = f"/api/v1/pipeline-jobs/{deployed.job_id}/steps/deploy/endpoint-key/"
    job = api_for(team.carol).get(f"/api/v1/pipeline-jobs/{deployed.job_id}/").json()
    assert [s["endpoint_key_waiting"] for s in job["steps"]] == [False, True]
    assert api_for(team.carol).post(url).status_code == 403
    assert api_for(team.dave).post(url).status_code == 404
    key = deployed.endpoint_key
    r = api_for(team.bob).post(url)
    assert r.status_code == 200
    assert r.json() == {"endpoint": "bank-ep", "endpoint_id": r.json()["endpoint_id"], "key": key,
                        "scoring_url": "http://testserver/api/v1/endpoints/bank-ep/score/"}
    r = api_for(team.alice).post(url)
    assert r.status_code == 400 and r.json()["step"][0].startswith(
        f"step 'deploy' of job {deployed.job_id} has no endpoint key to show: only a deploy step that created an "
        "endpoint has one, and it is shown once")
    assert api_for(team.bob).post(f"/api/v1/pipeline-jobs/{deployed.job_id}/steps/register/endpoint-key/"
                                  ).status_code == 400
