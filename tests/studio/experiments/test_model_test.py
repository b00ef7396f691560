"""Test model: a trial's model scored on a dataset version with the target, as a background job, by role."""
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from studio.experiments import testing
from studio.experiments.models import ModelTestJob
from tests.studio.experiments.conftest import SAMPLES
from tests.studio.registry.factories import bank_models, bank_run  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role,status", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_a_model_is_tested_on_a_dataset_with_the_target(team, bank_run, make_version, client_for, role, status,
                                                        storage_dir):
    test_data = make_version("bank_marketing_test_data.csv", name="bank-test", rows=250)
    hardware = make_version("machine_full_209rows.csv", name="hardware")
    trial = bank_run.best_trial
    candidates = testing.test_candidates(trial)
    assert test_data in candidates and hardware not in candidates  # no column y
    client = client_for(team.by_role(role))
    response = client.post(f"/experiments/trials/{trial.pk}/test/", {"dataset_version": test_data.pk})
    assert response.status_code == status
    if status != 302:
        assert not ModelTestJob.objects.exists()
        return
    job = ModelTestJob.objects.get()
    assert (job.status, job.dataset_version, job.requested_by) == ("queued", test_data, team.by_role(role))
    testing.run_model_test(job.pk)  # what the worker's task does
    job.refresh_from_db()
    assert job.status == "completed", job.error
    frame = pd.read_csv(SAMPLES / "bank_marketing_test_data.csv").head(250)
    assert job.n_rows == 250 and job.charts["confusion_matrix"]["labels"] == ["no", "yes"]
    assert sum(map(sum, job.charts["confusion_matrix"]["matrix"])) == 250
    import automl_engine

    from studio.experiments.services import trial_model_path

    pipeline = automl_engine.load_model(trial_model_path(trial), trial.sha256)
    expected = roc_auc_score(frame["y"] == "yes", pipeline.predict_proba(frame.drop(columns=["y"]))[:, 1])
    assert round(job.metrics["AUC_weighted"], 6) == round(expected, 6)
    page = client.get(f"/experiments/trials/{trial.pk}/").content.decode()
    assert 'data-testid="model-test-metrics"' in page and 'data-testid="model-test-chart-roc"' in page


def test_a_test_dataset_without_the_target_or_with_unknown_labels_is_refused(team, bank_run, make_version):
    trial = bank_run.best_trial
    hardware = make_version("machine_full_209rows.csv", name="hardware")
    with pytest.raises(testing.ModelTestError, match="Choose a ready dataset version of this workspace with the column 'y'."):
        testing.request_model_test(trial, hardware, team.bob)
    frame = pd.read_csv(SAMPLES / "bank_marketing_test_data.csv").head(50)
    frame["y"] = ["maybe", "no"] * 25
    odd = make_version("odd.csv", name="odd-labels", frame=frame)
    job = testing.request_model_test(trial, odd, team.bob)
    testing.run_model_test(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "'y' has values the model never saw: maybe; the model knows no, yes."
