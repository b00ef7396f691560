"""Trial artifacts for people and for other apps: model files, manifests, ONNX export and feature
importance jobs."""
from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction

from studio.experiments.models import ImportanceJob, JobStatus, Trial
from studio.experiments.services.execution import _jsonable
from studio.jobs import lifecycle
from studio.storage import relative_to_storage, storage_path

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Artifacts for people and for the registry


class ArtifactUnavailable(Exception):
    """A model file that does not exist for this trial; the message says why."""


def trial_model_path(trial: Trial) -> Path:
    """Absolute path of the trial's ``model.pkl`` (the fitted pipeline)."""
    if not trial.model_file:
        raise ArtifactUnavailable(f"Trial {trial.number} has no model: it {trial.get_status_display().lower()}.")
    path = storage_path(trial.model_file)
    if not path.exists():
        raise ArtifactUnavailable(f"The model file of trial {trial.number} is missing from storage.")
    return path


def trial_manifest(trial: Trial) -> dict:
    """The trial model's manifest (input schema, class labels, library versions, metrics, sha256); built on
    first use, written beside ``model.pkl`` and kept on the row."""
    import json

    import automl_engine
    from automl_engine.artifacts import (
        MANIFEST_FILE,
        MODEL_FILE,
        input_schema,
        library_versions,
    )

    if trial.manifest:
        return trial.manifest
    path = trial_model_path(trial)
    pipeline = automl_engine.load_model(path, expected_sha256=trial.sha256)
    classes = getattr(pipeline, "classes_", None)
    run = trial.run
    # A forecaster describes itself: its future frame's columns, settings, frequency and series origins.
    forecast = pipeline.manifest() if callable(getattr(pipeline, "forecast", None)) else None
    if forecast:
        from studio.serving.forecasting import example_rows

        forecast["example_rows"] = example_rows(pipeline)  # the sample a deployment is checked with
    manifest = {
        "format": "automl_engine.model/1", "model_file": MODEL_FILE, "sha256": trial.sha256,
        "input_schema": forecast["input_schema"] if forecast else input_schema(pipeline),
        "class_labels": _jsonable([c.item() if hasattr(c, "item") else c for c in classes])
        if classes is not None else None,
        "library_versions": library_versions(), "task": run.task, "primary_metric": run.primary_metric,
        "trial": trial.number, "pipeline_name": trial.pipeline_name, "algorithm": trial.algorithm,
        "hyperparameters": trial.hyperparameters, "metrics": trial.metrics, "test_metrics": trial.test_metrics,
        "target_column_name": run.config.get("target_column_name"), "run": run.pk,
        **({"forecasting": forecast} if forecast else {}),
    }
    (path.parent / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
    Trial.objects.filter(pk=trial.pk).update(manifest=manifest)
    trial.manifest = manifest
    return manifest


def onnx_available(trial: Trial) -> bool:
    """ONNX export exists for single-model trials of runs trained with ONNX-compatible models."""
    return (trial.has_model and not trial.is_ensemble
            and bool((trial.run.config.get("training") or {}).get("enable_onnx_compatible_models")))


def trial_onnx_path(trial: Trial) -> Path:
    """Absolute path of the trial's ONNX model, converted on first request."""
    import automl_engine

    if not onnx_available(trial):
        raise ArtifactUnavailable(
            "ONNX is only available for single models of runs trained with ONNX-compatible models: resubmit with "
            "training.enable_onnx_compatible_models=true." if not trial.is_ensemble else
            "Ensembles are not exported to ONNX; download the .pkl or pick a single-model trial.")
    if trial.onnx_file and storage_path(trial.onnx_file).exists():
        return storage_path(trial.onnx_file)
    model_path = trial_model_path(trial)
    pipeline = automl_engine.load_model(model_path, expected_sha256=trial.sha256)
    from studio.datasets.services import load_frame

    sample = load_frame(trial.run.dataset_version, limit=5) if trial.run.dataset_version else None
    target = model_path.parent / "model.onnx"
    automl_engine.export_onnx(pipeline, sample, target)
    relative = relative_to_storage(target)
    Trial.objects.filter(pk=trial.pk).update(onnx_file=relative)
    trial.onnx_file = relative
    return target


def request_feature_importance(trial: Trial, user) -> ImportanceJob:
    """Queue the computation of a trial's feature importance (one job at a time per trial)."""
    if trial.run.task == "forecasting":
        raise ArtifactUnavailable("Feature importance is not computed for forecasting models; the trial's forecast "
                                  "chart, error by horizon and per-series metrics describe them.")
    if not trial.has_model:
        raise ArtifactUnavailable(f"Trial {trial.number} has no model to explain.")
    with transaction.atomic():
        Trial.objects.select_for_update().filter(pk=trial.pk).first()
        job = trial.importance_jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
        if job is None:
            job = ImportanceJob.objects.create(trial=trial, requested_by=user)
            lifecycle.enqueue(job)
    return job


def compute_feature_importance(job_id: int) -> None:
    """Claim an importance job and explain the trial's model on the run's training data."""
    def body(job: ImportanceJob, progress) -> dict:
        import automl_engine
        from studio.datasets.services import load_frame

        trial = job.trial
        pipeline = automl_engine.load_model(trial_model_path(trial), expected_sha256=trial.sha256)
        progress()
        target = trial.run.config["target_column_name"]
        frame = load_frame(trial.run.dataset_version, labels=target if trial.run.task == "classification" else None)
        drop = [target] + ([trial.run.config["weight_column_name"]] if trial.run.config.get("weight_column_name")
                           else [])
        with lifecycle.beating(progress):  # the engine's explain has no callbacks; its time limit bounds a hang
            explanation = automl_engine.explain(pipeline, frame.drop(columns=drop, errors="ignore"), frame[target],
                                                random_state=trial.run.config.get("random_state", 0))
        Trial.objects.filter(pk=trial.pk).update(feature_importance=_jsonable(explanation))
        return {}

    lifecycle.run_job(ImportanceJob, job_id, body)
