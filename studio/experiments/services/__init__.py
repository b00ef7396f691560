"""Workflows of the experiments app, one module per job: :mod:`.submission` validates and submits a job,
    :mod:`.execution` runs it on a worker with the engine (and evaluates trials for any worker), retries and
    cancels it, :mod:`.artifacts` hands trial models, manifests, ONNX and feature importance to people and
    to other apps. Storage paths are in :mod:`studio.storage`.

The engine never touches the database: execution gives it callbacks (``on_trial``, ``on_log``,
``should_stop``) and, for parallel trials, an executor that sends trials to any Celery worker.
"""
from studio.experiments.services.submission import (  # noqa: F401
    RUNS_DIR, API_FIELDS, VALIDATION_KEYS, TEST_KEYS, METRIC_HINTS, SubmissionError, Submission, api_field_for,
    _ready_version, _parse_tags, validate_submission, target_labels, submit_run, _greater_is_better,
    submission_spec_for, config_yaml, add_log)
from studio.experiments.services.execution import (  # noqa: F401
    worker_name, RunProgress, RunRecorder, _jsonable, execute_run, retry_run, cancel_run, localize_task,
    portable_outcome, local_outcome, evaluate_trial_job)
from studio.experiments.services.artifacts import (  # noqa: F401
    ArtifactUnavailable, trial_model_path, trial_manifest, onnx_available, trial_onnx_path,
    request_feature_importance, compute_feature_importance)
from studio.storage import relative_to_storage, storage_path  # noqa: F401
