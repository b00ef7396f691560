"""Fixtures of the experiments tests: real dataset versions made from the sample files, and runs."""
import io
from pathlib import Path

import pandas as pd
import pytest

SAMPLES = Path(__file__).resolve().parents[3] / "examples" / "data"


@pytest.fixture
def make_version(team):
    """A ready dataset version in the Team workspace from a sample CSV, optionally its first ``rows`` rows."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.datasets import services as datasets

    def make(file_name: str, name: str | None = None, rows: int | None = None, frame: pd.DataFrame | None = None,
             workspace=None):
        if frame is None:
            frame = pd.read_csv(SAMPLES / file_name)
            if rows is not None:
                frame = frame.head(rows)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        upload = SimpleUploadedFile(file_name, buffer.getvalue().encode())
        version = datasets.create_dataset_version(
            workspace=workspace or team.workspace, user=team.alice, name=name or Path(file_name).stem,
            uploaded=upload, file_name=file_name)
        datasets.profile_now(version)  # a worker may have claimed the profile job first: then wait for it
        from tests.conftest import wait_for

        wait_for(lambda: type(version).objects.get(pk=version.pk).status != "profiling", 60,
                 message="the dataset profile")
        version.refresh_from_db()
        assert version.status == "ready", version.error
        return version

    return make


@pytest.fixture
def bank_small(make_version):
    """400 rows of the bank marketing validation split (the first 400 lines of that file)."""
    return make_version("bank_marketing_validation_data.csv", name="bank-small", rows=400)


@pytest.fixture
def machine(make_version):
    """The 209-row computer hardware dataset (regression on ERP)."""
    return make_version("machine_full_209rows.csv", name="machine")


def small_job(dataset_id: int, **overrides) -> dict:
    """A job with a tiny budget that finishes in seconds on two shared cores."""
    job = {
        "name": "bank-small", "dataset": dataset_id, "task": "classification", "target_column": "y",
        "primary_metric": "AUC_weighted", "validation": {"n_cross_validations": 3},
        "training": {"allowed_training_algorithms": ["LightGBM", "LogisticRegression", "DecisionTree"],
                     "enable_stack_ensemble": False, "enable_vote_ensemble": False,
                     "enable_model_explainability": False},
        "limits": {"timeout_minutes": 5, "max_trials": 3, "max_concurrent_trials": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(job.get(key), dict):
            job[key] = {**job[key], **value}
        else:
            job[key] = value
    return job
