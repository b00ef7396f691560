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
