"""MLflow model format without the mlflow package: a folder that ``mlflow models serve`` and
``mlflow.pyfunc.load_model`` load as a ``python_function`` model.

The folder::

    MLmodel               flavors.python_function: loader_module automl_engine.mlflow_flavor, data model.pkl,
                          code code/ (put on sys.path by MLflow), env conda.yaml / python_env.yaml
    model.pkl             the trial's fitted scikit-learn Pipeline (joblib), unchanged
    code/automl_engine/   this package's source, so the pickle's classes import in any environment
    requirements.txt      the libraries that trained the model, pinned to the versions in this process
    python_env.yaml, conda.yaml
    input_example.json    one input row, when given

Predictions are what the studio's endpoint answers in ``predictions``: for a classifier the label of the
highest probability (first in class order on a tie), for a regressor the predicted value.
"""
from __future__ import annotations

import json
import platform
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

# The distributions a trained pipeline needs at load time (import name -> PyPI name).
REQUIREMENTS = {"numpy": "numpy", "pandas": "pandas", "scipy": "scipy", "sklearn": "scikit-learn",
                "lightgbm": "lightgbm", "xgboost": "xgboost", "joblib": "joblib", "threadpoolctl": "threadpoolctl",
                "yaml": "PyYAML"}
MLFLOW_VERSION = "3.17.2"  # the version the serving benchmark's environment runs (Makefile: bench-serving)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for module, dist in REQUIREMENTS.items():
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def save_mlflow_model(model_path: str | Path, out_dir: str | Path, *, input_example: dict[str, Any] | None = None,
                      metadata: dict[str, Any] | None = None) -> Path:
    """Write an MLflow ``python_function`` model folder for the pickled pipeline at ``model_path``.

    ``out_dir`` must not exist yet. ``metadata`` (JSON-serialisable: run, trial, metrics...) goes into the
    MLmodel file's ``metadata``. The environment files pin the library versions of this process, which are
    the ones that trained and validated the model."""
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out} already exists; MLflow model folders are written once")
    out.mkdir(parents=True)
    shutil.copyfile(model_path, out / "model.pkl")
    package = Path(__file__).resolve().parent
    shutil.copytree(package, out / "code" / "automl_engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "README.md"))
    versions = _versions()
    pins = [f"{name}=={version}" for name, version in sorted(versions.items())]
    (out / "requirements.txt").write_text("\n".join([f"mlflow=={MLFLOW_VERSION}", *pins]) + "\n")
    python = platform.python_version()
    (out / "python_env.yaml").write_text(yaml.safe_dump({
        "python": python, "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": ["-r requirements.txt"]}, sort_keys=False))
    (out / "conda.yaml").write_text(yaml.safe_dump({
        "name": "mlflow-env", "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": [f"mlflow=={MLFLOW_VERSION}", *pins]}]}, sort_keys=False))
    mlmodel: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": {"python_function": {
            "loader_module": "automl_engine.mlflow_flavor", "data": "model.pkl", "code": "code",
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}, "python_version": python}},
        "mlflow_version": MLFLOW_VERSION,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    if input_example is not None:
        (out / "input_example.json").write_text(json.dumps({"dataframe_split": {
            "columns": list(input_example), "data": [list(input_example.values())]}}, default=str))
        mlmodel["saved_input_example_info"] = {"artifact_path": "input_example.json", "type": "dataframe",
                                               "pandas_orient": "split", "serving_input_path": "input_example.json"}
    if metadata:
        mlmodel["metadata"] = json.loads(json.dumps(metadata, default=str))
    (out / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    return out


class PyFuncModel:
    """What MLflow's ``python_function`` flavour calls: ``predict(model_input, params=None)``."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def predict(self, model_input, params: dict[str, Any] | None = None):
        import numpy as np
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if hasattr(self.pipeline, "predict_proba") and hasattr(self.pipeline, "classes_"):
            proba = np.asarray(self.pipeline.predict_proba(frame), dtype=float)
            return np.asarray(self.pipeline.classes_)[proba.argmax(axis=1)]
        return np.asarray(self.pipeline.predict(frame), dtype=float)

    def unwrap_python_model(self):
        return self.pipeline


def _load_pyfunc(data_path: str) -> PyFuncModel:
    """MLflow's loader hook: ``data_path`` is the folder's ``model.pkl``."""
    import joblib

    return PyFuncModel(joblib.load(data_path))
