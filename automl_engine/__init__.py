"""automl_engine: classification, regression and forecasting AutoML with Azure ML SDK v2 semantics.

Pure Python (pandas, numpy, scikit-learn, LightGBM, XGBoost, Optuna); never imports Django or Celery.
The studio drives it through the seam described in docs/engine-seam.md.
"""
from .algorithms import Algorithm, register
from .artifacts import ModelIntegrityError, export_onnx, load_model, onnx_inputs, save_model
from .config import ConfigError, JobConfig, validate_config
from .executor import InlineExecutor, LocalProcessExecutor, TrialExecutor
from .explain import explain
from .job import AutoMLJob, classification, job_from_config, regression
from . import forecasting  # the package is callable: forecasting(...) makes a job
from .results import AutoMLResult, Callbacks, TrialResult
from .tasks import ScoringContext, Task, get_task, register_task
from .trial import TrialOutcome, TrialTask, evaluate_trial

__all__ = [
    "Algorithm", "ScoringContext", "Task", "get_task", "register", "register_task",
    "AutoMLJob", "AutoMLResult", "Callbacks", "ConfigError", "InlineExecutor", "JobConfig", "LocalProcessExecutor",
    "ModelIntegrityError", "TrialExecutor", "TrialOutcome", "TrialResult", "TrialTask", "classification",
    "evaluate_trial", "explain", "export_onnx", "forecasting", "job_from_config", "load_model", "onnx_inputs",
    "regression",
    "save_model", "validate_config",
]
