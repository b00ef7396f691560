"""Test a trial's model on a dataset version that holds the target (the "Test model" button): a background
job that scores every row and keeps the test metrics and charts."""
from __future__ import annotations

from studio.experiments.models import ModelTestJob, Trial
from studio.jobs import lifecycle


class ModelTestError(ValueError):
    """A test that cannot be started or finished; the message names the problem and the fix."""


def test_candidates(trial: Trial) -> list:
    """Ready dataset versions of the trial's workspace that hold its target column (newest first)."""
    from studio.datasets.models import DatasetVersion

    target = trial.run.config["target_column_name"]
    versions = (DatasetVersion.objects.filter(dataset__workspace_id=trial.run.workspace_id,
                                              status=DatasetVersion.Status.READY)
                .select_related("dataset").order_by("dataset__name", "-version"))
    candidates = [v for v in versions if target in {c["name"] for c in v.included_columns()}]
    # The run's own training data tests nothing new: offered last.
    return sorted(candidates, key=lambda v: v.pk in (trial.run.dataset_version_id, trial.run.validation_version_id))


def request_model_test(trial: Trial, dataset_version, user) -> ModelTestJob:
    """Queue a test of ``trial``'s model on ``dataset_version`` (after commit)."""
    if not trial.has_model:
        raise ModelTestError(f"Trial {trial.number} has no model to test.")
    if dataset_version is None or dataset_version not in test_candidates(trial):
        raise ModelTestError(f"Choose a ready dataset version of this workspace with the column "
                             f"{trial.run.config['target_column_name']!r}.")
    job = ModelTestJob.objects.create(trial=trial, dataset_version=dataset_version, requested_by=user)
    lifecycle.enqueue(job)
    return job


def run_model_test(job_id: int) -> None:
    """Claim a test job, score the dataset version with the trial's model and store metrics and charts."""

    def body(job: ModelTestJob, progress) -> dict:
        import automl_engine
        from automl_engine.metrics import compute_charts, compute_metrics
        from automl_engine.trial import predict_scores

        from studio.datasets.services import load_frame
        from studio.experiments.services import _jsonable, trial_model_path

        trial, run = job.trial, job.trial.run
        try:
            if job.dataset_version is None:
                raise ModelTestError("The dataset version was deleted before the test started.")
            config = run.config
            target, task = config["target_column_name"], run.task
            frame = load_frame(job.dataset_version, labels=target if task == "classification" else None)
            frame = frame[frame[target].notna()]
            if frame.empty:
                raise ModelTestError(f"{job.dataset_version} has no row with a value of {target!r}.")
            progress()
            pipeline = automl_engine.load_model(trial_model_path(trial), expected_sha256=trial.sha256)
            X = frame.drop(columns=[c for c in (target, config.get("weight_column_name")) if c])
            y = frame[target].to_numpy()
            classes = list(getattr(pipeline, "classes_", [])) if task == "classification" else None
            if classes is not None:
                unknown = sorted({str(v) for v in y} - {str(c) for c in classes})
                if unknown:
                    raise ModelTestError(f"{target!r} has values the model never saw: {', '.join(unknown[:5])}; "
                                         f"the model knows {', '.join(str(c) for c in classes)}.")
                y = _as_model_labels(y, classes)
            pred = predict_scores(pipeline, X, task, classes)
            progress()
            metrics = compute_metrics(task, y, pred, classes)
            charts = compute_charts(task, y, pred, classes, config.get("positive_label"))
        except ModelTestError as exc:
            raise lifecycle.JobFailed(str(exc)) from None
        except (ValueError, KeyError) as exc:  # a dataset that does not fit the model is the usual cause
            raise lifecycle.JobFailed(f"{type(exc).__name__}: {exc}") from None
        return {"metrics": _jsonable(metrics), "charts": _jsonable(charts), "n_rows": len(frame)}

    lifecycle.run_job(ModelTestJob, job_id, body)


def _as_model_labels(y, classes: list):
    """The test labels as the model's own label objects (a CSV's "1" and a model's 1 are the same class)."""
    import numpy as np

    by_text = {str(c): c for c in classes}
    out = np.empty(len(y), dtype=object)
    out[:] = [by_text[str(v)] for v in y]
    return out
