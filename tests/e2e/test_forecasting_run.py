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
