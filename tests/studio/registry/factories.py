"""Fixtures shared by the registry, serving and registry e2e tests: small real models trained once per
session with the engine, and finished runs with those trials recorded as the experiments app records them.
"""
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
BANK = ROOT / "examples" / "data" / "bank_marketing_train_data.csv"
HARDWARE = ROOT / "examples" / "data" / "machine_full_209rows.csv"
BANK_ROWS = 300


@dataclass
class Trained:
    """An engine run's result kept for the session: the job config, the trials and the training frame."""

    config: dict
    trials: list
    frame: pd.DataFrame
    target: str
    primary_metric: str
    task: str


def _train(frame: pd.DataFrame, target: str, task: str, ensembles: bool) -> Trained:
    import automl_engine

    factory = automl_engine.classification if task == "classification" else automl_engine.regression
    job = factory(training_data=frame, target_column_name=target, n_cross_validations=3)
    job.set_limits(max_trials=2, max_concurrent_trials=1)
    job.set_training(enable_vote_ensemble=ensembles, enable_stack_ensemble=False)
    workdir = Path(tempfile.mkdtemp(prefix="registry-tests-"))
    result = job.run(workdir=workdir)
    assert result.status == "completed", result.status
    return Trained(config=result.config, trials=[t for t in result.trials if t.status == "completed"], frame=frame,
                   target=target, primary_metric=result.primary_metric, task=task)


@pytest.fixture(scope="session")
def bank_models() -> Trained:
    """Two bank-marketing classifiers (LightGBM, logistic regression) and their voting ensemble."""
    frame = pd.read_csv(BANK).head(BANK_ROWS)
    return _train(frame, "y", "classification", ensembles=True)


@pytest.fixture(scope="session")
def hardware_models() -> Trained:
    """Two hardware-performance regressors, no ensemble."""
    frame = pd.read_csv(HARDWARE)
    return _train(frame, "ERP", "regression", ensembles=False)


def record_run(workspace, user, trained: Trained, storage: Path, name: str = "bank"):
    """A completed experiment run holding ``trained``'s trials, their model files copied into storage, and a
    dataset version with the training data (so that lineage and sample rows are real)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from automl_engine.artifacts import sha256_file
    from studio.datasets.services import create_dataset_version
    from studio.experiments.models import Experiment, Run, Trial

    csv = trained.frame.to_csv(index=False).encode()
    dataset_version = create_dataset_version(workspace=workspace, user=user, name=f"{name}-data-{uuid.uuid4().hex[:4]}",
                                             uploaded=SimpleUploadedFile(f"{name}.csv", csv), file_name=f"{name}.csv")
    experiment = Experiment.objects.create(workspace=workspace, name=f"{name}-{uuid.uuid4().hex[:6]}", created_by=user)
    run = Run.objects.create(experiment=experiment, workspace=workspace, number=1, dataset_version=dataset_version,
                             config=trained.config, task=trained.task, primary_metric=trained.primary_metric,
                             status=Run.Status.COMPLETED, created_by=user)
    folder = f"experiments/{run.pk}-{uuid.uuid4().hex[:6]}"
    best = None
    for t in trained.trials:
        relative = f"{folder}/trials/{t.number}/model.pkl"
        target = storage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(t.model_path, target)
        oof = Path(t.model_path).with_name("oof.npy")
        if oof.exists():  # validation predictions and the prepared target feed the threshold explorer
            shutil.copyfile(oof, target.with_name("oof.npy"))
            data = oof.parent.parent.parent / "data"
            if not (storage / folder / "data").exists():
                shutil.copytree(data, storage / folder / "data", ignore=shutil.ignore_patterns("X.pkl"))
        trial = Trial.objects.create(
            run=run, number=t.number, algorithm=t.algorithm, pipeline_name=t.pipeline_name,
            hyperparameters=t.hyperparameters, metrics=t.metrics, score=t.score, charts=t.charts,
            status="completed", is_ensemble=t.is_ensemble, model_file=relative, sha256=sha256_file(target),
            duration_seconds=t.duration_seconds)
        if best is None or (t.score or 0) > (best.score or 0):
            best = trial
    Run.objects.filter(pk=run.pk).update(best_trial=best, best_score=best.score, trials_done=len(trained.trials))
    run.refresh_from_db()
    return run


def sample_rows(trained: Trained, n: int = 1, start: int = 0) -> list[dict]:
    """Rows of the training data without the target, as a JSON client would send them."""
    import json

    rows = trained.frame.drop(columns=[trained.target]).iloc[start:start + n]
    return json.loads(rows.to_json(orient="records"))


@pytest.fixture
def bank_run(team, bank_models, storage_dir):
    return record_run(team.workspace, team.alice, bank_models, storage_dir, "bank")


@pytest.fixture
def hardware_run(team, hardware_models, storage_dir):
    return record_run(team.workspace, team.alice, hardware_models, storage_dir, "hardware")


@pytest.fixture(autouse=True)
def _serving_state():
    """Metrics are written at once and every test starts with an empty model cache."""
    from studio.serving import runtime

    buffer = runtime.metrics_buffer()
    buffer.flush_seconds = 0
    runtime.model_cache().clear()
    yield
    runtime.model_cache().clear()
