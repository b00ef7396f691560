"""A yes/no target stays yes/no from the confusion matrix to the endpoint's answer and the batch CSV; the
threshold explorer changes the endpoint's answer; "Test model" scores bank marketing's test file; Cancel
shows canceled trials. A real Celery worker, a live studio and headless Chromium."""
import csv
import io
import json
import urllib.request

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.experiments import services as experiments
from studio.experiments.models import ModelTestJob, Run
from studio.registry.models import ModelVersion
from tests.conftest import SAMPLES, sign_in, wait_for
from tests.studio.experiments.conftest import small_job

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _upload(team, file_name: str, name: str, rows: int | None = None):
    from studio.datasets import services as datasets
    from studio.datasets.models import DatasetVersion

    data = (SAMPLES / file_name).read_bytes()
    if rows is not None:
        data = b"\n".join(data.splitlines()[:rows + 1]) + b"\n"
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name=name,
                                              uploaded=SimpleUploadedFile(file_name, data), file_name=file_name)
    wait_for(lambda: DatasetVersion.objects.get(pk=version.pk).status == "ready", 90, message=f"the {name} profile")
    return DatasetVersion.objects.get(pk=version.pk)


def _score(live_server, endpoint: str, key: str, rows: list[dict]) -> dict:
    request = urllib.request.Request(f"{live_server.url}/api/v1/endpoints/{endpoint}/score/",
                                     data=json.dumps({"data": rows}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_yes_no_labels_threshold_and_test_model(page, team, celery_worker, live_server, screenshots_dir, tmp_path):
    training = _upload(team, "bank_marketing_validation_data.csv", "bank-marketing", rows=600)
    test_data = _upload(team, "bank_marketing_test_data.csv", "bank-marketing-test")
    run = experiments.submit_run(team.workspace, team.alice, small_job(training.dataset_id, name="bank-yes-no"))
    wait_for(lambda: Run.objects.get(pk=run.pk).status in ("completed", "failed"), 150, message="the run")
    run = Run.objects.get(pk=run.pk)
    assert run.status == "completed", run.error
    best = run.best_trial

    sign_in(page, "alice", "alice-pass-123")
    page.goto(f"/experiments/runs/{run.pk}/")
    page.wait_for_selector("[data-testid=leaderboard]")
    page.screenshot(path=screenshots_dir / "run-page.png", full_page=True)
    page.goto(f"/experiments/trials/{best.pk}/")
    page.wait_for_selector("[data-testid=chart-confusion] .main-svg")
    ticks = page.locator("[data-testid=chart-confusion] .xtick text").all_text_contents()
    assert ticks == ["no", "yes"]

    # Test model on bank marketing's test file, on a worker.
    assert page.locator("[data-testid=model-test-dataset]").input_value() == str(test_data.pk)  # training data last
    page.select_option("[data-testid=model-test-dataset]", str(test_data.pk))
    page.click("[data-testid=model-test-run]")
    page.wait_for_selector("[data-testid=model-test-metrics]", timeout=90_000)
    job = ModelTestJob.objects.get()
    assert job.status == "completed" and job.n_rows == test_data.n_rows
    assert job.charts["confusion_matrix"]["labels"] == ["no", "yes"]
    page.wait_for_selector("[data-testid=model-test-chart-confusion] .main-svg")
    page.wait_for_selector("[data-testid=threshold-chart] .main-svg")
    page.screenshot(path=screenshots_dir / "trial-page.png", full_page=True)

    # Register and deploy; the endpoint answers in the data's own labels.
    from studio.registry import services as registry
    from studio.serving import services as serving

    version = registry.register_version(trial=best, name="bank", user=team.alice)
    endpoint, key = serving.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-yes-no",
                                            model_version=version)
    rows = json.loads(pd.read_csv(SAMPLES / "bank_marketing_test_data.csv").head(30).drop(columns=["y"])
                      .to_json(orient="records"))
    answer = _score(live_server, "bank-yes-no", key, rows)
    assert answer["classes"] == ["no", "yes"] and set(answer["predictions"]) <= {"no", "yes"}
    assert set(answer["probabilities"][0]) == {"no", "yes"} and "threshold" not in answer

    # The threshold explorer on the version page: a threshold of 0 predicts yes for everyone.
    page.goto(version.get_absolute_url())
    page.wait_for_selector("[data-testid=threshold-chart] .main-svg")
    page.fill("[data-testid=cost-fn]", "5")
    page.fill("[data-testid=threshold-value]", "0")
    assert page.locator("[data-testid=threshold-cost]").inner_text() != ""
    page.click("[data-testid=threshold-save]")
    page.wait_for_selector("[data-testid=threshold-saved]")
    assert ModelVersion.objects.get(pk=version.pk).decision_threshold == {
        "value": 0.0, "positive_class": "yes", "cost_fp": 1.0, "cost_fn": 5.0}
    answer = _score(live_server, "bank-yes-no", key, rows)
    assert answer["predictions"] == ["yes"] * 30 and answer["threshold"] == {"value": 0.0, "positive_class": "yes"}
    page.fill("[data-testid=threshold-value]", "0.5")
    page.click("[data-testid=threshold-save]")
    page.wait_for_selector("[data-testid=threshold-saved]")
    answer = _score(live_server, "bank-yes-no", key, rows)
    assert answer["predictions"] == ["yes" if p["yes"] >= 0.5 else "no" for p in answer["probabilities"]]

    page.goto("/")
    page.wait_for_selector("[data-testid=recent-runs]")
    page.screenshot(path=screenshots_dir / "home-page.png", full_page=True)

    # Batch scoring: the y column of the file and the prediction speak the same words.
    path = tmp_path / "customers.csv"
    pd.read_csv(SAMPLES / "bank_marketing_test_data.csv").head(40).to_csv(path, index=False)
    page.goto(f"/endpoints/{endpoint.pk}/?tab=batch")
    page.set_input_files("#id_file", str(path))
    page.click("[data-testid=batch-submit]")
    page.wait_for_selector("[data-testid=batch-row][data-status=completed]", timeout=90_000)
    with page.expect_download() as download:
        page.click("[data-testid=batch-download]")
    out = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(out) == 40 and {r["y"] for r in out} <= {"no", "yes"} and {r["prediction"] for r in out} <= {"no", "yes"}


def test_cancel_shows_canceled_trials(page, team, celery_worker):
    training = _upload(team, "bank_marketing_validation_data.csv", "bank-marketing", rows=600)
    job = small_job(training.dataset_id, name="bank-cancel", limits={"max_trials": 200, "timeout_minutes": 10})
    run = experiments.submit_run(team.workspace, team.alice, job)
    sign_in(page, "alice", "alice-pass-123")
    page.goto(f"/experiments/runs/{run.pk}/")
    page.wait_for_selector("[data-testid=trial-row]", timeout=90_000)
    page.click("[data-testid=cancel-run]")
    page.wait_for_selector("[data-testid=run-status]:text('Canceled')", timeout=60_000)
    page.wait_for_selector("[data-testid=trial-row] .status-canceled")
    assert page.locator("[data-testid=trial-row] .status-canceled").first.inner_text().lower() == "canceled"
    assert page.locator("[data-testid=trials-failed]").count() == 0
    assert "stopped by the run" in page.locator("[data-testid=trials-stopped]").inner_text()
