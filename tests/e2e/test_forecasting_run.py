"""The issue's walk, in a real headless Chromium against a live studio and a real Celery worker: NYC hourly
energy demand (examples/data/nyc_energy_training_clean.csv, 49,108 rows) read as a time series, a
forecasting experiment with a 48-hour horizon, trials arriving, the best trial's forecast chart, register,
deploy, and a forecast from the endpoint's Test tab."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.experiments.models import Run
from tests.conftest import SAMPLES, sign_in, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def energy(team, celery_worker):
    from studio.datasets import services as datasets
    from studio.datasets.models import DatasetVersion

    path = SAMPLES / "nyc_energy_training_clean.csv"
    version = datasets.create_dataset_version(
        workspace=team.workspace, user=team.alice, name="nyc-energy",
        uploaded=SimpleUploadedFile(path.name, path.read_bytes()), file_name=path.name)
    wait_for(lambda: DatasetVersion.objects.get(pk=version.pk).status == "ready", 120, message="the profile")
    return version


def test_from_hourly_demand_to_a_deployed_forecast(page, team, energy, screenshots_dir):
    sign_in(page, "alice", "alice-pass-123")
    page.goto(f"/datasets/{energy.dataset_id}/")
    page.click("[data-testid=open-timeseries]")
    page.wait_for_selector("#ts-chart .main-svg")
    assert page.locator("[data-testid=ts-frequency]").inner_text() == "Hourly"
    assert page.locator("[data-testid=ts-gaps]").inner_text() == "2"

    page.goto("/experiments/new/")
    page.fill("#id_name", "nyc-demand")
    page.click("[data-testid=wizard-next]")
    page.select_option("#id_dataset", str(energy.dataset_id))
    page.wait_for_selector("#id_target_column option[value=demand]", state="attached")
    page.check("input[name=task][value=forecasting]")
    page.select_option("#id_target_column", "demand")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/settings/")
    page.select_option("#id_primary_metric", "normalized_root_mean_squared_error")
    page.check("input[name=allowed_algorithms][value=SeasonalNaive]")
    page.check("input[name=allowed_algorithms][value=LightGBM]")
    page.uncheck("#id_enable_stack_ensemble")
    page.uncheck("#id_enable_model_explainability")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/forecast/")
    page.fill("#id_forecast_horizon", "48")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/limits/")
    page.fill("#id_timeout_minutes", "5")
    page.fill("#id_max_trials", "3")
    page.click("[data-testid=wizard-next]")
    yaml = page.locator("[data-testid=job-yaml]").inner_text()
    assert "task: forecasting" in yaml and "forecast_horizon: 48" in yaml and "time_column_name: timeStamp" in yaml
    page.click("[data-testid=wizard-submit]")
    page.wait_for_url("**/experiments/runs/*/")
    run = Run.objects.get(experiment__name="nyc-demand")

    page.wait_for_selector("[data-testid=trial-row]", timeout=180_000)
    page.wait_for_selector("#run-live[data-status=completed]", timeout=300_000)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert [g["name"] for g in run.guardrails][:2] == ["frequency_detection", "seasonality_detection"]
    page.screenshot(path=screenshots_dir / "forecasting-run.png", full_page=True)

    page.click("[data-testid=best-trial-link]")
    page.wait_for_selector("#fc-chart[data-series='series']")
    assert int(page.locator("#fc-chart").get_attribute("data-windows")) == run.validation_method["n_cross_validations"]
    page.screenshot(path=screenshots_dir / "forecasting-best-trial.png", full_page=True)

    page.click("[data-testid=register-trial]")
    page.fill("#id_name", "nyc-demand")
    page.click("[data-testid=register-submit]")
    page.wait_for_selector("[data-testid=version-title]")
    page.click("[data-testid=deploy-button]")
    page.fill("#id_name", "nyc-demand-ep")
    page.click("[data-testid=deploy-submit]")
    page.wait_for_selector("[data-testid=endpoint-name]")
    page.click("[data-testid=tab-test]")
    page.fill("[data-testid=fc-test-periods]", "48")
    page.click("[data-testid=fc-test-run]")
    page.wait_for_selector("#fc-test-chart[data-points='48']", timeout=60_000)
    page.screenshot(path=screenshots_dir / "forecasting-deployed-test.png", full_page=True)


@pytest.fixture
def orange_juice(team, celery_worker):
    from studio.datasets import services as datasets
    from studio.datasets.models import DatasetVersion

    path = SAMPLES / "dominicks_OJ_2_5_8_train.csv"
    version = datasets.create_dataset_version(
        workspace=team.workspace, user=team.alice, name="oj-sales",
        uploaded=SimpleUploadedFile(path.name, path.read_bytes()), file_name=path.name)
    wait_for(lambda: DatasetVersion.objects.get(pk=version.pk).status == "ready", 120, message="the profile")
    return version


def test_nine_orange_juice_series_picked_and_ranked(page, team, orange_juice, api_for, screenshots_dir):
    response = api_for(team.bob).post("/api/v1/experiments/", {
        "name": "oj-forecast", "dataset": orange_juice.dataset_id, "task": "forecasting", "target_column": "Quantity",
        "forecasting": {"time_column_name": "WeekStarting", "forecast_horizon": 8,
                        "time_series_id_column_names": ["Store", "Brand"]},
        "training": {"allowed_training_algorithms": ["SeasonalNaive", "LightGBM"], "enable_stack_ensemble": False,
                     "enable_model_explainability": False},
        "limits": {"timeout_minutes": 5, "max_trials": 2}}, format="json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    wait_for(lambda: Run.objects.get(pk=run.pk).is_finished, 300, interval=1, message="the run")
    run.refresh_from_db()
    assert run.status == "completed", run.error
    sign_in(page, "carol", "carol-pass-123")
    page.goto(f"/experiments/trials/{run.best_trial_id}/")
    page.wait_for_selector("#fc-chart[data-series]")
    assert page.locator("#fc-picker .ts-item").count() == 9
    page.fill("[data-testid=fc-search]", "minute")
    assert page.locator("#fc-picker .ts-item").count() == 3
    page.click("#fc-picker .ts-item[data-key='5|minute.maid']")
    page.wait_for_selector("#fc-chart[data-series='5|minute.maid']")
    rows = page.locator("#fc-series-table tbody tr")
    assert rows.count() == 9
    mase = [float(v) for v in page.locator("#fc-series-table tbody td:nth-child(2)").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]
    assert mase == sorted(mase, reverse=True)  # the worst series first
    worst = rows.first.get_attribute("data-series")
    rows.first.click()
    page.wait_for_selector(f"#fc-chart[data-series='{worst}']")
    page.screenshot(path=screenshots_dir / "forecasting-oj-trial.png", full_page=True)
