"""The pipeline-jobs API: submit YAML, follow the steps, cancel; bad YAML is a 400 naming step and field.
The bank-marketing example runs end to end on a real worker: prep -> AutoML -> register."""
from pathlib import Path

import pytest
import yaml

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = (ROOT / "examples" / "pipelines" / "bank_marketing.yml").read_text()


def small_example() -> str:
    """The example with a budget that finishes in seconds on two shared cores."""
    spec = yaml.safe_load(EXAMPLE)
    train = spec["jobs"]["train"]
    train["limits"] = {"timeout_minutes": 3, "max_trials": 2, "max_concurrent_trials": 1}
    train["training"] = {"allowed_training_algorithms": ["LightGBM", "LogisticRegression"],
                         "enable_vote_ensemble": False, "enable_stack_ensemble": False,
                         "enable_model_explainability": False}
    return yaml.safe_dump(spec, sort_keys=False)


@pytest.mark.django_db
def test_invalid_yaml_is_a_400_naming_the_step_and_field(team, api_for):
    text = EXAMPLE.replace("${{parent.jobs.prepare.outputs.prepared_data}}", "${{parent.jobs.prep.outputs.data}}")
    r = api_for(team.bob).post("/api/v1/pipeline-jobs/", {"yaml": text}, format="json")
    assert r.status_code == 400
    assert r.json() == {"jobs.train.training_data": ["there is no step 'prep'; steps are ['prepare', 'register', "
                                                     "'train']"]}
    r = api_for(team.bob).post("/api/v1/pipeline-jobs/", {"yaml": EXAMPLE}, format="json")
    assert r.status_code == 400
    assert r.json()["inputs.training_data"][0].startswith("no dataset 'bank_marketing_train_data' in this workspace")
    assert api_for(team.carol).post("/api/v1/pipeline-jobs/", {"yaml": EXAMPLE}, format="json").status_code == 403
    assert api_for(team.bob).post("/api/v1/pipeline-jobs/", {}, format="json").json() == {
        "yaml": ["Send the pipeline YAML as {\"yaml\": \"...\"} or upload it as file."]}


@pytest.mark.django_db
def test_submit_as_a_file_upload_and_cancel(team, api_for, make_version):
    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = api_for(team.bob)
    r = api.post("/api/v1/pipeline-jobs/", {"file": SimpleUploadedFile("p.yml", small_example().encode())},
                 format="multipart")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "queued" and body["url"].endswith(f"/pipelines/jobs/{body['id']}/")
    job = api.get(f"/api/v1/pipeline-jobs/{body['id']}/").json()
    assert [(s["name"], s["type"], s["status"]) for s in job["steps"]] == [
        ("prepare", "prep", "waiting"), ("train", "automl", "waiting"), ("register", "register", "waiting")]
    assert job["inputs"]["training_data"]["dataset"] == "bank_marketing_train_data"
    canceled = api.post(f"/api/v1/pipeline-jobs/{body['id']}/cancel/").json()
    assert canceled["status"] == "canceled" and {s["status"] for s in canceled["steps"]} == {"canceled"}
    assert api_for(team.dave).get(f"/api/v1/pipeline-jobs/{body['id']}/").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_the_bank_marketing_pipeline_runs_end_to_end(team, api_for, make_version, celery_worker, client_for):
    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=400)
    api = api_for(team.bob)
    r = api.post("/api/v1/pipeline-jobs/", {"yaml": small_example(), "inputs": {"auc_threshold": 0.5}},
                 format="json")
    assert r.status_code == 201, r.content
    job_id = r.json()["id"]
    wait_for(lambda: api.get(f"/api/v1/pipeline-jobs/{job_id}/").json()["status"] in ("completed", "failed"), 240,
             message="the pipeline job")
    job = api.get(f"/api/v1/pipeline-jobs/{job_id}/").json()
    assert job["status"] == "completed", job
    steps = {s["name"]: s for s in job["steps"]}
    assert [s["status"] for s in job["steps"]] == ["completed"] * 3
    prepared = steps["prepare"]["outputs"]["prepared_data"]
    assert prepared["dataset"] == "bank_marketing_prepared"
    best = steps["train"]["outputs"]["best_model"]
    assert best["primary_metric"] == "AUC_weighted" and best["score"] > 0.5
    assert steps["train"]["outputs"]["metrics"]["validation"]["AUC_weighted"] == best["score"]
    registered = steps["register"]["outputs"]["registered_model"]
    assert (registered["model"], registered["version"]) == ("bank-marketing", 1)
    assert all(s["started_at"] and s["finished_at"] for s in job["steps"])
    from studio.experiments.models import Run
    from studio.registry.models import RegisteredModel

    run = Run.objects.get(pk=steps["train"]["run"])
    assert run.dataset_version_id == prepared["dataset_version"]
    model = RegisteredModel.objects.get(name="bank-marketing")
    assert model.aliases.get(name="champion").version.trial_id == best["trial"]
    page = client_for(team.carol).get(f"/pipelines/jobs/{job_id}/").content.decode()
    assert 'data-testid="step-register" data-status="completed"' in page
    assert f'href="/models/{model.pk}/versions/1/"' in page
    metrics = client_for(team.carol).get(f"/pipelines/jobs/{job_id}/steps/train/metrics.json")
    assert metrics.status_code == 200 and metrics.json()["validation"]["AUC_weighted"] == best["score"]
    assert client_for(team.carol).get(f"/pipelines/jobs/{job_id}/steps/train/nope.json").status_code == 404
    assert f'href="/experiments/trials/{best["trial"]}/model.pkl"' in page
