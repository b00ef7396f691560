"""Generated training code for a trial and the data files it runs on (Azure's "view generated code")."""
from __future__ import annotations

import io

from studio.experiments.models import Run, Trial
from studio.experiments.services import ArtifactUnavailable, trial_model_path

# Which data file the script's options read, and the run field that holds each.
DATA_ROLES = {"train": "dataset_version", "validation": "validation_version", "test": "test_version"}


def trial_training_code(trial: Trial) -> str:
    """The script retraining ``trial``'s pipeline; raises ArtifactUnavailable (saying why) for an ensemble or a
    trial without a model."""
    import automl_engine
    from automl_engine.algorithms import get_algorithm
    from automl_engine.codegen import generate_training_code, trial_code_title

    if trial.is_ensemble:
        raise ArtifactUnavailable("Generated code covers single-model trials: an ensemble blends other trials' "
                                  "models. Open one of its member trials instead.")
    if not trial.has_model:
        raise ArtifactUnavailable(f"Trial {trial.number} has no model: it {trial.get_status_display().lower()}.")
    run = trial.run
    model = automl_engine.load_model(trial_model_path(trial), expected_sha256=trial.sha256)
    algorithm = get_algorithm(run.task, trial.algorithm)
    return generate_training_code(run.config, model, supports_sample_weight=algorithm.supports_sample_weight,
                                  title=trial_code_title(trial.number, trial.pipeline_name, f"{run}"))


def script_command(trial: Trial) -> str:
    """The command line that runs the downloaded script on the downloaded data files."""
    run = trial.run
    parts = [f"python {script_filename(trial)}"]
    for role, field in DATA_ROLES.items():
        if getattr(run, f"{field}_id"):
            parts.append(f"--{role} {data_filename(run, role)}")
    return " ".join(parts)


def script_filename(trial: Trial) -> str:
    return f"train_run{trial.run.pk}_trial{trial.number}.py"


def data_filename(run: Run, role: str) -> str:
    return f"run{run.pk}_{role}.csv"


def run_data_csv(run: Run, role: str) -> bytes:
    """The run's training/validation/test data as CSV, read the way the run read it (column types and
    exclusions of the dataset version applied)."""
    from studio.datasets.services import load_frame

    if role not in DATA_ROLES:
        raise ArtifactUnavailable(f"Unknown data role {role!r}; use one of {list(DATA_ROLES)}.")
    version = getattr(run, DATA_ROLES[role])
    if version is None:
        raise ArtifactUnavailable(f"This run has no {role} dataset (or its version was deleted).")
    buffer = io.StringIO()
    load_frame(version).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _zip_folder(folder) -> bytes:
    import shutil
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="zip-") as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "model"), "zip", root_dir=folder.parent, base_dir=folder.name)
        return Path(archive).read_bytes()


def mlflow_zip(model_path, name: str, input_example: dict | None, metadata: dict) -> bytes:
    """A zip of the MLflow ``python_function`` folder ``name/`` for the pickled pipeline at ``model_path``."""
    import tempfile
    from pathlib import Path

    from automl_engine.mlflow_flavor import save_mlflow_model

    with tempfile.TemporaryDirectory(prefix="mlflow-") as tmp:
        folder = save_mlflow_model(model_path, Path(tmp) / name, input_example=input_example, metadata=metadata)
        return _zip_folder(folder)


def trial_mlflow_zip(trial: Trial) -> tuple[str, bytes]:
    """(file name, zip bytes) of a trial's model in MLflow format; the model file's sha256 is checked first."""
    import automl_engine

    path = trial_model_path(trial)
    automl_engine.load_model(path, expected_sha256=trial.sha256)  # refuses a file that changed since training
    run = trial.run
    name = f"run{run.pk}-trial{trial.number}-mlflow"
    return f"{name}.zip", mlflow_zip(path, name, None, {
        "source": "automl studio trial", "run": run.pk, "trial": trial.number, "algorithm": trial.algorithm,
        "primary_metric": run.primary_metric, "score": trial.score})


def version_mlflow_zip(version) -> tuple[str, bytes]:
    """(file name, zip bytes) of a registered model version in MLflow format, its sha256 verified."""
    from studio.registry.services import verified_artifact

    path = verified_artifact(version)
    name = f"{version.model.name}-v{version.version}-mlflow"
    return f"{name}.zip", mlflow_zip(path, name, version.sample_input or None, {
        "source": "automl studio registry", "model": version.model.name, "version": version.version,
        "primary_metric": version.primary_metric, "score": version.primary_score, "sha256": version.sha256})


class MLTableError(ValueError):
    """An MLTable upload that cannot become a dataset; the message says why."""


def dataset_from_mltable_zip(workspace, user, name: str, archive: bytes):
    """A new dataset version from a zip of an MLTable folder (the ``MLTable`` file and the data files it
    names): read with :mod:`automl_engine.mltable` and stored as CSV."""
    import tempfile
    import zipfile
    from pathlib import Path, PurePosixPath

    from django.core.files.uploadedfile import SimpleUploadedFile

    from automl_engine.config import ConfigError
    from automl_engine.mltable import load_mltable
    from studio.datasets.services import create_dataset_version

    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile:
        raise MLTableError("the file is not a zip; zip the MLTable folder (the MLTable file and its data)") from None
    members = bundle.namelist()
    for member in members:
        path = PurePosixPath(member)
        if path.is_absolute() or ".." in path.parts:
            raise MLTableError(f"{member!r} points outside the archive; keep the data inside the zipped folder")
    tables = sorted((m for m in members if PurePosixPath(m).name == "MLTable"), key=lambda m: m.count("/"))
    if not tables:
        raise MLTableError("the zip holds no MLTable file")
    with tempfile.TemporaryDirectory(prefix="mltable-") as tmp:
        bundle.extractall(tmp)
        try:
            frame = load_mltable(Path(tmp) / tables[0], "file")
        except ConfigError as exc:
            raise MLTableError(exc.message.replace(tmp + "/", "")) from None
    content = frame.to_csv(index=False).encode()
    return create_dataset_version(workspace=workspace, user=user, name=name, file_name=f"{name}.csv",
                                  uploaded=SimpleUploadedFile(f"{name}.csv", content),
                                  description="Created from an MLTable folder.")
