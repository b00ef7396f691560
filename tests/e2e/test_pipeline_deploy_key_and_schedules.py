"""In the browser: an editor shows the key of the endpoint a pipeline's deploy step created, once, on the
endpoint page as after a one-click deploy; the schedules page lists an Azure recurrence in words and pauses
it."""
import pytest

from tests.conftest import sign_in
from tests.studio.experiments.conftest import bank_small, machine, make_version  # noqa: F401
from tests.studio.pipelines.test_api import small_example
from tests.studio.registry.factories import _serving_state, bank_models, bank_run  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_deploy_steps_key_is_shown_once(page, team, bank_run, screenshots_dir, live_server):
    from studio.registry.services import register_version
    from tests.studio.pipelines.test_services import _deploy_step

    version = register_version(trial=bank_run.trials.filter(is_ensemble=False).first(), name="bank", user=team.bob)
    step = _deploy_step(team, {"type": "registered_model", "model": "bank", "model_id": version.model_id,
                               "version": 1})
    key = step.endpoint_key
    sign_in(page, "bob", "bob-pass-123")
    page.goto(f"/pipelines/jobs/{step.job_id}/")
    assert page.locator("[data-testid=step-deploy] [data-testid=output-endpoint]").inner_text() == \
        "endpoint: bank-ep · bank-v1 100 %"
    page.screenshot(path=screenshots_dir / "pipelines-job-deploy-key.png", full_page=True)
    page.click("[data-testid=show-key-deploy]")
    assert page.locator("[data-testid=new-key-value]").input_value() == key
    page.screenshot(path=screenshots_dir / "pipelines-deploy-key-shown.png", full_page=True)
    page.goto(f"/pipelines/jobs/{step.job_id}/")
    assert page.locator("[data-testid=endpoint-key-deploy]").count() == 0
    assert "the endpoint key was shown once; it is erased here" in page.locator("[data-testid=log-deploy]").inner_text()


def test_the_schedules_page_shows_a_recurrence_and_pauses_it(page, team, make_version, screenshots_dir,
                                                             live_server):
    from studio.pipelines.schedules import create_schedule

    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    create_schedule(team.workspace, team.bob, name="monthly retrain", text=small_example(), recurrence={
        "frequency": "month", "interval": 1, "schedule": {"month_days": [1], "hours": [3], "minutes": [0]}})
    create_schedule(team.workspace, team.bob, name="hourly check", text=small_example(), every_minutes=60)
    sign_in(page, "bob", "bob-pass-123")
    page.goto("/pipelines/schedules/")
    assert page.locator("[data-testid='when-monthly retrain']").inner_text() == \
        "every 1 month at 0 3 1 * * (cron, UTC)"
    assert page.locator("[data-testid='when-hourly check']").inner_text() == "every 60 min"
    assert page.locator("[data-testid='next-monthly retrain']").inner_text().endswith("-01 03:00")
    page.click("[data-testid='toggle-hourly check']")
    assert page.locator("[data-testid='schedule-hourly check']").inner_text().count("paused") == 2  # state, next run
    assert "not yet" in page.locator("[data-testid='schedule-monthly retrain']").inner_text()
    page.screenshot(path=screenshots_dir / "pipelines-schedules.png", full_page=True)
