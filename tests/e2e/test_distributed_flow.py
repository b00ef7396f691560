"""A distributed experiment from the wizard's Compute section to the run page's cluster card, in a real
headless Chromium against a live studio and a real Celery worker (which starts a local Dask cluster).

Data: 3,000 rows of UCI Adult (tests/data/adult_6000.csv, a sample of ../shared/data/bench), uploaded as the dataset "adult".
"""
import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.experiments.models import Run
from tests.conftest import sign_in, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).resolve().parents[1] / "data"  # samples of ../shared/data/bench (tests/data/README.md)


@pytest.fixture
def adult(team, celery_worker):
    from studio.datasets import services as datasets
    from studio.datasets.models import DatasetVersion

    buffer = io.StringIO()
    pd.read_csv(DATA / "adult_6000.csv").sample(3000, random_state=2).to_csv(buffer, index=False)
    version = datasets.create_dataset_version(
        workspace=team.workspace, user=team.alice, name="adult",
        uploaded=SimpleUploadedFile("adult.csv", buffer.getvalue().encode()), file_name="adult.csv")
    wait_for(lambda: DatasetVersion.objects.get(pk=version.pk).status == "ready", 90, message="the profile")
    return version


def test_a_distributed_experiment_from_the_compute_step_to_the_cluster_card(page, team, adult, screenshots_dir):
    sign_in(page, "alice", "alice-pass-123")
    page.goto("/experiments/new/")
    page.fill("#id_name", "adult-dask")
    page.click("[data-testid=wizard-next]")
    page.select_option("#id_dataset", str(adult.dataset_id))
    page.wait_for_selector("#id_target_column option[value='income >50K']", state="attached")
    page.check("#id_task_0")
    page.select_option("#id_target_column", "income >50K")
    page.click("[data-testid=wizard-next]")
    page.select_option("#id_primary_metric", "AUC_weighted")
    page.click("[data-testid=wizard-next]")

    # Limits and compute: distributed LightGBM on two nodes; the page says what is switched off.
    page.fill("#id_timeout_minutes", "5")
    page.fill("#id_max_trials", "2")
    page.check("input[name=training_mode][value=distributed]")
    page.fill("#id_max_nodes", "2")
    assert "vote and stack ensembles" in page.locator("[data-testid=distributed-off]").inner_text()
    page.screenshot(path=screenshots_dir / "experiments-wizard-compute.png", full_page=True)
    page.click("[data-testid=wizard-next]")
    yaml_text = page.locator("[data-testid=job-yaml]").inner_text()
    assert "training_mode: distributed" in yaml_text and "max_nodes: 2" in yaml_text
    page.click("[data-testid=wizard-submit]")
    page.wait_for_url("**/experiments/runs/*/")

    page.wait_for_selector("[data-testid=cluster-worker]", timeout=120_000)
    page.screenshot(path=screenshots_dir / "experiments-run-cluster-live.png", full_page=True)
    page.wait_for_selector("#run-live[data-status=completed]", timeout=240_000)
    run = Run.objects.get(experiment__name="adult-dask")
    assert run.status == "completed", run.error
    assert page.locator("[data-testid=cluster-worker]").count() == 2
    assert page.locator("[data-testid=cluster-memory]").inner_text() == "4.0\xa0GB"  # two workers of 2 GiB
    assert page.locator("[data-testid=trial-row]").count() == 2
    page.screenshot(path=screenshots_dir / "experiments-run-cluster-completed.png", full_page=True)
