"""An experiment from the wizard to a downloaded model, in a real headless Chromium against a live studio
and a real Celery worker.

Data: the bank marketing sample's validation split (examples/data/bank_marketing_validation_data.csv, 1,998
rows; the 29,999-row training split is too slow for a browser test on two shared cores), uploaded as the
dataset "bank-marketing-validation".
"""
import joblib
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.experiments.models import Run
from tests.conftest import SAMPLES, sign_in, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bank_validation(team, celery_worker):
    from studio.datasets import services as datasets
    from studio.datasets.models import DatasetVersion

    path = SAMPLES / "bank_marketing_validation_data.csv"
    version = datasets.create_dataset_version(
        workspace=team.workspace, user=team.alice, name="bank-marketing-validation",
        uploaded=SimpleUploadedFile(path.name, path.read_bytes()), file_name=path.name)
    wait_for(lambda: DatasetVersion.objects.get(pk=version.pk).status == "ready", 90, message="the profile")
    return version


def test_create_an_experiment_watch_trials_open_charts_download_the_model(page, team, bank_validation,
                                                                          screenshots_dir, tmp_path):
    sign_in(page, "alice", "alice-pass-123")
    page.goto("/experiments/")
    page.screenshot(path=screenshots_dir / "experiments-empty.png", full_page=True)
    page.click("[data-testid=new-experiment]")

    # 1. Basic settings.
    page.fill("#id_name", "bank-marketing")
    page.fill("#id_description", "Will the client subscribe a term deposit?")
    page.fill("#id_tags", "source=uci")
    page.click("[data-testid=wizard-next]")

    # 2. Data and task: the target select fills in for the chosen dataset.
    page.select_option("#id_dataset", str(bank_validation.dataset_id))
    page.wait_for_selector("#id_target_column option[value='y']", state="attached")
    page.check("#id_task_0")
    page.select_option("#id_target_column", "y")
    page.screenshot(path=screenshots_dir / "experiments-wizard-data.png", full_page=True)
    page.click("[data-testid=wizard-next]")

    # 3. Task settings: AUC, 3-fold CV, two fast algorithms, no stack ensemble.
    page.select_option("#id_primary_metric", "AUC_weighted")
    page.check("input[name=validation_type][value=kfold]")
    assert page.locator("#id_n_cross_validations").is_visible()
    page.fill("#id_n_cross_validations", "3")
    page.check("input[name=allowed_algorithms][value=LightGBM]")
    page.check("input[name=allowed_algorithms][value=LogisticRegression]")
    page.uncheck("#id_enable_stack_ensemble")
    page.uncheck("#id_enable_model_explainability")
    page.screenshot(path=screenshots_dir / "experiments-wizard-settings.png", full_page=True)
    page.click("[data-testid=wizard-next]")

    # 4. Limits: a tiny budget.
    page.fill("#id_timeout_minutes", "5")
    page.fill("#id_max_trials", "4")
    page.click("[data-testid=wizard-next]")

    # 5. Review as YAML, then submit.
    yaml_text = page.locator("[data-testid=job-yaml]").inner_text()
    assert "primary_metric: AUC_weighted" in yaml_text and "max_trials: 4" in yaml_text
    assert "name: bank-marketing-validation" in yaml_text
    page.screenshot(path=screenshots_dir / "experiments-wizard-review.png", full_page=True)
    page.click("[data-testid=wizard-submit]")
    page.wait_for_url("**/experiments/runs/*/")
    run = Run.objects.get(experiment__name="bank-marketing")

    # Trials arrive on the page while it polls; it reloads once when the run ends.
    page.wait_for_selector("[data-testid=trial-row]", timeout=120_000)
    page.screenshot(path=screenshots_dir / "experiments-run-live.png", full_page=True)
    page.wait_for_selector("#run-live[data-status=completed]", timeout=180_000)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert page.locator("[data-testid=trial-row]").count() == run.trials.count() == 5  # 4 trials + voting ensemble
    assert page.locator("[data-testid=trials-done]").inner_text() == "4 of 4"
    page.wait_for_selector("[data-figure=best-figure][data-drawn]")
    page.screenshot(path=screenshots_dir / "experiments-run-completed.png", full_page=True)
    page.click("[data-testid=tab-history]")
    page.wait_for_selector("[data-figure=parallel-figure][data-drawn]")
    page.screenshot(path=screenshots_dir / "experiments-run-history.png", full_page=True)
    page.click("[data-testid=tab-logs]")
    page.wait_for_selector("[data-testid=run-log]")
    assert "completed: best trial" in page.locator("[data-testid=run-log]").inner_text()

    # Compare two trials, only what differs.
    page.locator("[data-testid=trial-row] input[type=checkbox]").nth(0).check()
    page.locator("[data-testid=trial-row] input[type=checkbox]").nth(1).check()
    page.click("[data-testid=compare-button]")
    page.check("[data-testid=only-differences]")
    page.click("[data-testid=compare-submit]")
    page.wait_for_selector("[data-testid=compare-table]")
    assert "only_differences=1" in page.url
    page.screenshot(path=screenshots_dir / "experiments-compare.png", full_page=True)
    page.goto("/experiments/")
    assert "bank-marketing" in page.locator("[data-testid=runs-table]").inner_text()
    page.screenshot(path=screenshots_dir / "experiments-list.png", full_page=True)
    page.goto(f"/experiments/runs/{run.pk}/")

    # The best trial's charts.
    page.click("[data-testid=best-trial-link]")
    page.wait_for_selector("[data-testid=chart-confusion][data-drawn]")
    assert page.locator("[data-testid=best-score]").count() == 0
    page.screenshot(path=screenshots_dir / "experiments-trial-confusion.png", full_page=True)
    page.click("[data-testid=chart-tab-roc]")
    page.wait_for_selector("#chart-roc.show")
    page.screenshot(path=screenshots_dir / "experiments-trial-roc.png", full_page=True)

    # Download the model and use it.
    with page.expect_download() as info:
        page.click("[data-testid=download-pkl]")
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert download.suggested_filename.startswith("bank-marketing-run1-trial")
    model = joblib.load(target)
    from studio.datasets.services import load_frame

    frame = load_frame(bank_validation).head(20)
    assert len(model.predict(frame.drop(columns=["y"]))) == 20
