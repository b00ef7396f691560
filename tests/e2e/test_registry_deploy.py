"""A person registers the best model of a finished experiment, deploys it in one click and scores a row in
the endpoint's Test tab; then batch-scores a CSV with a real worker and downloads the predictions."""
import csv
import io
import json
import urllib.request

import automl_engine
import pandas as pd
import pytest

from studio.registry.models import ModelVersion
from studio.serving.models import BatchJob, Endpoint
from tests.conftest import sign_in
from tests.studio.registry.factories import _serving_state, bank_models, record_run, sample_rows  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_register_best_model_deploy_and_score_in_the_test_tab(page, team, bank_models, storage_dir, screenshots_dir,
                                                              live_server):
    run = record_run(team.workspace, team.alice, bank_models, storage_dir, "bank")
    sign_in(page, "alice", "alice-pass-123")

    page.goto(f"/models/register/?run={run.pk}")
    selected = page.locator("#id_trial option:checked").inner_text()
    assert selected.endswith("★ best") and f"trial {run.best_trial.number} ·" in selected
    page.fill("#id_name", "bank-marketing")
    page.fill("#id_description", "Predicts **term deposit** subscriptions.")
    page.fill("#id_tags", "marketing, demo")
    page.screenshot(path=screenshots_dir / "registry-register.png", full_page=True)
    page.click("[data-testid=register-submit]")
    page.wait_for_selector("[data-testid=version-title]")
    version = ModelVersion.objects.get()
    assert version.trial_id == run.best_trial_id
    assert page.locator("[data-testid=version-title]").inner_text().startswith("bank-marketing v1")
    page.wait_for_selector("#chart-a .main-svg")
    page.screenshot(path=screenshots_dir / "registry-version.png", full_page=True)

    page.goto("/models/")
    assert "bank-marketing" in page.locator("[data-testid=models-table]").inner_text()
    page.goto(f"/models/{version.model_id}/")
    assert page.locator("[data-testid=source-run]").get_attribute("href") == f"/experiments/runs/{run.pk}/"
    page.screenshot(path=screenshots_dir / "registry-list.png", full_page=True)
    page.goto(version.get_absolute_url())
    page.click("[data-testid=deploy-button]")
    # A new endpoint takes all the traffic: the modal asks for a name, not for a traffic share.
    page.wait_for_selector("#id_name", state="visible")
    assert not page.locator("#field-traffic_percent").is_visible()
    page.fill("#id_name", "bank-marketing-ep")
    page.click("[data-testid=deploy-submit]")
    page.wait_for_selector("[data-testid=endpoint-name]")
    endpoint = Endpoint.objects.get()
    key = page.locator("[data-testid=new-key-value]").input_value()
    assert endpoint.key_matches(key)
    assert page.locator("[data-testid=scoring-url]").input_value() == f"{live_server.url}/api/v1/endpoints/bank-marketing-ep/score/"

    page.click("[data-testid=tab-test]")
    assert page.locator("[data-column=age]").input_value() == "57"
    page.locator("[data-column=duration]").fill("900")
    page.screenshot(path=screenshots_dir / "serving-test-tab.png", full_page=True)
    page.click("[data-testid=test-run]")
    page.wait_for_selector("[data-testid=test-prediction]")
    shown = page.locator("[data-testid=test-prediction]").inner_text()
    row = dict(version.sample_input, duration=900)
    pipeline = automl_engine.load_model(storage_dir / version.file, version.sha256)
    assert shown == pipeline.predict(pd.DataFrame([row]))[0]
    assert "%" in page.locator("[data-testid=test-result]").inner_text()
    page.screenshot(path=screenshots_dir / "serving-test-result.png", full_page=True)

    page.locator("[data-column=age]").fill("old")
    page.click("[data-testid=test-run]")
    page.wait_for_selector("[data-testid=test-error]")
    assert "row 0, column age: expects a number (or null), got string 'old'" in \
        page.locator("[data-testid=test-result]").inner_text()

    # The same endpoint answers a client with the key, through the live server.
    request = urllib.request.Request(f"{live_server.url}/api/v1/endpoints/bank-marketing-ep/score/",
                                     data=json.dumps({"data": [row]}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["predictions"] == [shown]

    page.goto(f"/endpoints/{endpoint.pk}/?tab=monitoring")
    page.wait_for_selector("#chart-requests .main-svg")
    assert "expects a number" in page.locator("[data-testid=errors-table]").inner_text()
    page.screenshot(path=screenshots_dir / "serving-monitoring.png", full_page=True)


def test_batch_scoring_from_the_ui_with_progress_and_formula_safe_download(page, team, bank_models, storage_dir,
                                                                         celery_worker, screenshots_dir, tmp_path):
    from studio.registry import services as registry
    from studio.serving import services

    run = record_run(team.workspace, team.alice, bank_models, storage_dir, "bank")
    version = registry.register_version(trial=run.best_trial, name="bank", user=team.alice)
    endpoint, _ = services.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-batch",
                                           model_version=version)
    rows = sample_rows(bank_models, 120)
    rows[0]["job"] = "=HYPERLINK(\"http://x\")"
    frame = pd.DataFrame(rows)
    frame.insert(0, "customer", [f"c{i}" for i in range(len(frame))])
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)

    sign_in(page, "bob", "bob-pass-123")
    page.goto(f"/endpoints/{endpoint.pk}/?tab=batch")
    page.set_input_files("#id_file", str(path))
    page.click("[data-testid=batch-submit]")
    page.wait_for_selector("[data-testid=batch-row][data-status=completed]", timeout=90_000)
    page.screenshot(path=screenshots_dir / "serving-batch.png", full_page=True)
    job = BatchJob.objects.get()
    assert (job.status, job.rows_done, job.rows_total, job.error) == ("completed", 120, 120, "")
    with page.expect_download() as download:
        page.click("[data-testid=batch-download]")
    text = open(download.value.path(), encoding="utf-8").read()
    out = list(csv.reader(io.StringIO(text)))
    assert out[0] == ["customer", *frame.columns[1:], "prediction", "probability_no", "probability_yes"]
    assert len(out) == 121
    assert out[1][out[0].index("job")] == "'=HYPERLINK(\"http://x\")"
    pipeline = automl_engine.load_model(storage_dir / version.file, version.sha256)
    expected = pipeline.predict(pd.DataFrame(rows))
    assert [r[out[0].index("prediction")] for r in out[1:]][1:] == list(expected)[1:]
