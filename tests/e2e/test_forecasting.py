"""Forecasting in a real browser: the time-series view of the orange juice sales (9 series by store and
brand), the wizard's forecast step with what "auto" does on that data, a forecasting trial's charts with
its series picker and per-series table, and a deployed forecaster's Test tab."""
from pathlib import Path

import joblib
import pandas as pd
import pytest

from tests.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OJ = Path(__file__).resolve().parents[2] / "examples" / "data" / "dominicks_OJ_2_5_8_train.csv"


@pytest.fixture
def orange_juice(team):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.datasets import services

    version = services.create_dataset_version(
        workspace=team.workspace, user=team.alice, name="oj-sales", uploaded=SimpleUploadedFile("oj.csv", OJ.read_bytes()),
        file_name="oj.csv", enqueue=False)
    services.run_profile(version.latest_profile_job().pk)
    version.refresh_from_db()
    return version


def test_time_series_view_and_the_forecast_step(page, team, orange_juice, screenshots_dir):
    sign_in(page, "bob", "bob-pass-123")
    page.goto(f"/datasets/{orange_juice.dataset_id}/")
    page.click("[data-testid=open-timeseries]")
    page.wait_for_selector("[data-testid=ts-summary]")
    assert page.locator("[data-testid=ts-series-count]").inner_text() == "1"
    assert page.locator("[data-testid=ts-duplicates]").inner_text() == "857"
    page.check("input[name=ids][value=Store]")  # each change reloads the view with the new roles
    page.wait_for_selector("[data-testid=ts-series-count]:text-is('3')")
    page.check("input[name=ids][value=Brand]")
    page.wait_for_selector("[data-testid=ts-series-count]:text-is('9')")
    assert page.locator("[data-testid=ts-frequency]").inner_text() == "Weekly (Thursdays)"
    assert page.locator("[data-testid=ts-lengths]").inner_text() == "103 · 109 · 112"
    assert page.locator("[data-testid=ts-duplicates]").inner_text() == "0"
    page.wait_for_selector("#ts-chart .main-svg")
    page.fill("[data-testid=ts-search]", "trop")
    assert page.locator("#ts-picker .ts-item").count() == 3
    page.click("#ts-picker .ts-item[data-key='5 · tropicana']")
    page.wait_for_selector("#ts-chart[data-series='2 · dominicks|5 · tropicana']")
    assert page.locator("[data-testid=ts-chart-note]").inner_text() == "104 + 109 points"
    page.screenshot(path=screenshots_dir / "forecasting-timeseries.png", full_page=True)

    page.goto("/experiments/new/")
    page.click("[data-testid=wizard-next]")
    page.select_option("#id_dataset", str(orange_juice.dataset_id))
    page.wait_for_selector("#id_target_column option[value=Quantity]", state="attached")
    page.check("input[name=task][value=forecasting]")
    page.select_option("#id_target_column", "Quantity")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/settings/")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/forecast/")
    assert page.locator("#id_time_column_name").input_value() == "WeekStarting"
    page.fill("#id_forecast_horizon", "8")
    page.click("[data-testid=wizard-next]")  # duplicate weeks: the engine's message under aggregation
    page.wait_for_selector("[data-testid=error-target_aggregate_function]")
    assert page.locator("[data-testid=error-target_aggregate_function]").inner_text().startswith(
        "857 duplicate timestamp(s) within a series")
    page.check("input[name=time_series_id_column_names][value=Store]")
    page.check("input[name=time_series_id_column_names][value=Brand]")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/limits/")
    page.goto("/experiments/new/forecast/")
    page.click("[data-testid=forecast-advanced] summary")
    assert page.locator("[data-testid=hint-frequency]").inner_text().strip() == "Detected: weekly (Thursdays) (W-THU)."
    assert "folds 8 periods (8 weeks) apart, each validated on the next 8 periods" in \
        page.locator("[data-testid=hint-n_cross_validations]").inner_text()
    page.screenshot(path=screenshots_dir / "forecasting-wizard.png", full_page=True)
    page.click("[data-testid=wizard-next]")
    page.click("[data-testid=wizard-next]")
    page.wait_for_url("**/experiments/new/review/")
    yaml = page.locator("[data-testid=job-yaml]").inner_text()
    assert "task: forecasting" in yaml and "forecast_horizon: 8" in yaml
    assert "time_series_id_column_names:\n  - Store\n  - Brand" in yaml
    page.screenshot(path=screenshots_dir / "forecasting-review.png", full_page=True)


def test_a_forecasting_trial_and_a_deployed_forecaster(page, team, orange_juice, storage_dir, screenshots_dir):
    from automl_engine.artifacts import sha256_file
    from automl_engine.forecasting.models import ForecastModel
    from automl_engine.forecasting.settings import make_forecast_settings

    from studio.registry import services as registry
    from studio.serving import services as serving
    from tests.studio.experiments.forecast_factories import make_forecast_run

    run = make_forecast_run(team.workspace, team.alice, orange_juice, OJ)
    trial = run.best_trial
    sign_in(page, "carol", "carol-pass-123")
    page.goto(f"/experiments/trials/{trial.pk}/")
    page.wait_for_selector("#fc-chart[data-windows='3']")
    assert page.locator("#fc-chart").get_attribute("data-series") == "2|dominicks"
    page.fill("[data-testid=fc-search]", "8|")
    page.click("#fc-picker .ts-item[data-key='8|tropicana']")
    page.wait_for_selector("#fc-chart[data-series='8|tropicana'][data-windows='3']")
    page.click("[data-testid=fc-kind-test]")
    page.wait_for_selector("#fc-chart[data-series='8|tropicana'][data-windows='1']")
    first = page.locator("#fc-series-table tbody tr").first.get_attribute("data-series")
    page.click("#fc-series-table th:has-text('SMAPE')")  # sorted by sMAPE, worst first
    smape = [float(v) for v in page.locator("#fc-series-table tbody td:nth-child(3)").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]
    assert smape == sorted(smape, reverse=True) and first == max(
        trial.charts["per_series"], key=lambda r: r["mase"])["series"]
    page.click(f"#fc-series-table tbody tr[data-series='{first}']")
    page.wait_for_selector(f"#fc-chart[data-series='{first}']")
    page.screenshot(path=screenshots_dir / "forecasting-trial.png", full_page=True)

    sales = pd.read_csv(OJ, parse_dates=["WeekStarting"])
    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=8,
                                      time_series_id_column_names=["Store", "Brand"])
    model = ForecastModel(settings, "DecisionTree", target_column_name="Quantity").fit(
        sales[["WeekStarting", "Store", "Brand", "Price", "Advert"]], sales["Quantity"])
    trial.model_file = f"experiments/e2e-forecast-{run.pk}/model.pkl"
    path = storage_dir / trial.model_file
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    trial.sha256 = sha256_file(path)
    trial.save(update_fields=["model_file", "sha256"])
    version = registry.register_version(trial=trial, name="oj-sales", user=team.alice)
    endpoint, _ = serving.create_endpoint(workspace=team.workspace, user=team.alice, name="oj-ep", model_version=version)
    page.goto(f"/endpoints/{endpoint.pk}/?tab=test")
    page.fill("#fc-test-search", "5|trop")
    page.select_option("[data-testid=fc-test-series]", "5|tropicana")
    page.fill("[data-testid=fc-test-periods]", "6")
    page.fill("[data-covariate=Price]", "1.79")
    page.click("[data-testid=fc-test-run]")
    page.wait_for_selector("#fc-test-chart[data-points='6']")
    assert page.locator("[data-testid=fc-test-result]").inner_text() == \
        "6 periods forecast for 5|tropicana by oj-sales-v1."
    page.screenshot(path=screenshots_dir / "forecasting-endpoint-test.png", full_page=True)
