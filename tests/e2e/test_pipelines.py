"""A person builds "prepare → train → register" from the template in the browser, runs it on a real worker,
watches each step finish on the job page and finds the model registered under the champion alias."""
import pytest

from studio.registry.models import RegisteredModel
from tests.conftest import sign_in
from tests.studio.experiments.conftest import make_version  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_build_from_the_template_run_and_see_the_model_registered(page, team, make_version, celery_worker,
                                                                  screenshots_dir, live_server):
    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=400)
    sign_in(page, "bob", "bob-pass-123")
    page.goto("/pipelines/")
    page.click("[data-testid=new-pipeline]")
    page.select_option("#template", "prepare-train-register")
    page.select_option("#dataset", "bank_marketing_train_data")
    page.fill("#target", "y")
    page.fill("#threshold", "0.5")
    page.fill("#model_name", "bank-marketing")
    page.click("[data-testid=fill-template]")
    text = page.locator("#yaml").input_value()
    assert "path: azureml:bank_marketing_train_data@latest" in text and "model_name: bank-marketing" in text
    # A smaller budget than the template's, as a user in a hurry would edit it.
    page.fill("#yaml", text.replace("max_trials: 4", "max_trials: 2").replace(
        "enable_model_explainability: false", "enable_model_explainability: false\n"
                                              "      allowed_training_algorithms: [LightGBM, LogisticRegression]"))
    page.screenshot(path=screenshots_dir / "pipelines-new.png", full_page=True)
    page.click("[data-testid=submit-pipeline]")
    page.wait_for_selector("[data-testid=graph]")
    for step in ("prepare", "train", "register"):
        page.wait_for_selector(f"[data-testid=step-{step}][data-status=completed]", timeout=240_000)
    assert page.locator("[data-testid=job-status]").inner_text() == "Completed"
    model = RegisteredModel.objects.get(name="bank-marketing")
    assert model.aliases.get(name="champion").version.version == 1
    assert page.locator("[data-testid=step-register] [data-testid=output-registered_model]").inner_text() == \
        "registered_model: bank-marketing v1"
    page.screenshot(path=screenshots_dir / "pipelines-job.png", full_page=True)
