"""One trial: a JSON-serialisable task, the pipeline it builds, and ``evaluate_trial``, the pure top-level
function a worker (a local child process or a Celery worker on another machine) calls.

The driver writes the prepared training data once under ``workdir/data/``; ``evaluate_trial`` reads it
from there, fits the pipeline inside every fold, writes ``model.pkl`` and ``oof.npy`` under
``workdir/trials/<number>/`` and returns a plain dict.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .algorithms import get_algorithm
from .config import CLASSIFICATION, REGRESSION

COMPLETED, FAILED, TIMED_OUT = "completed", "failed", "timed_out"
# A trial stopped by something other than its own time limit did not fail: it was cut by the run's overall
# budget, or canceled (by the caller or a stop rule such as the exit score) while it was running.
CUT_BY_BUDGET, CANCELED = "cut_by_budget", "canceled"


@dataclass
class TrialTask:
    """What a worker needs to evaluate one trial; ``to_dict`` is JSON-serialisable."""

    number: int
    algorithm: str
    hyperparameters: dict[str, Any]
    workdir: str
    timeout_seconds: float | None = None
    n_jobs: int = 1
    random_state: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialTask":
        return cls(**data)


@dataclass
class TrialOutcome:
    """What a worker returns: metrics on out-of-fold predictions and where the artifacts are."""

    number: int
    status: str
    algorithm: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    pipeline_name: str = ""
    featurization: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    charts: dict[str, Any] = field(default_factory=dict)
    duration_seconds: float = 0.0
    error: str | None = None
    model_path: str | None = None
    oof_path: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialOutcome":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# Prepared data on disk


@dataclass
class PreparedData:
    """Training features, target, fold assignment and run metadata as loaded from ``workdir/data``.

    ``folds[i]`` is the validation fold of row ``i`` (0..k-1); ``-1`` marks rows that are only ever
    trained on (the training part of a holdout split)."""

    X: pd.DataFrame
    y: np.ndarray
    folds: np.ndarray
    weights: np.ndarray | None
    meta: dict[str, Any]

    @property
    def is_cv(self) -> bool:
        return self.meta["validation"]["method"] == "cv"

    @property
    def classes(self):
        return self.meta.get("classes")


def write_prepared(workdir: Path, X: pd.DataFrame, y: np.ndarray, folds: np.ndarray,
                   weights: np.ndarray | None, meta: dict[str, Any]) -> None:
    """Write the prepared training data once, for any worker that shares ``workdir``."""
    data_dir = Path(workdir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    frame = X.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_pickle(data_dir / "X.pkl")
    np.save(data_dir / "y.npy", np.asarray(y), allow_pickle=True)
    np.save(data_dir / "folds.npy", np.asarray(folds, dtype=np.int64))
    if weights is not None:
        np.save(data_dir / "weights.npy", np.asarray(weights, dtype=float))
    (data_dir / "meta.json").write_text(json.dumps(meta, default=_json_default, indent=1))


_CACHE: dict[str, tuple[float, PreparedData]] = {}


def load_prepared(workdir: str | Path) -> PreparedData:
    """Load (and cache per process) the prepared data written by :func:`write_prepared`."""
    data_dir = Path(workdir) / "data"
    meta_path = data_dir / "meta.json"
    stamp = meta_path.stat().st_mtime
    key = str(data_dir.resolve())
    cached = _CACHE.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    meta = json.loads(meta_path.read_text())
    X = pd.read_pickle(data_dir / "X.pkl")
    y = np.load(data_dir / "y.npy", allow_pickle=True)
    folds = np.load(data_dir / "folds.npy")
    weights = np.load(data_dir / "weights.npy") if (data_dir / "weights.npy").exists() else None
    data = PreparedData(X=X, y=y, folds=folds, weights=weights, meta=meta)
    _CACHE.clear()
    _CACHE[key] = (stamp, data)
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# --------------------------------------------------------------------------------------------------
# Pipelines


def build_pipeline(meta: dict[str, Any], algorithm: str, hyperparameters: dict[str, Any], n_jobs: int = 1,
                   random_state: int = 0):
    """The whole model as one scikit-learn Pipeline: input checks, featurization, scaling, estimator."""
    from sklearn.pipeline import Pipeline

    from .featurize import Featurizer, InputSchema, build_onnx_featurizer
    from .target import wrap_target

    problem_type = meta["problem_type"]
    algo = get_algorithm(problem_type, algorithm)
    plan = meta["plan"]
    onnx = meta.get("onnx_compatible", False)
    kept = [p for p in plan if not p["dropped"]]
    schema = InputSchema(columns=[p["column"] for p in kept], kinds={p["column"]: p["detected_type"] for p in kept},
                         categorical_missing="__missing__" if onnx else None)
    featurizer = build_onnx_featurizer(plan) if onnx else Featurizer(plan=plan, random_state=random_state)
    steps = [("input", schema), ("featurize", featurizer), *_scaling_steps(algo, problem_type)]
    if onnx:
        from skl2onnx.sklapi import CastTransformer

        # ONNX runs trees in float32: train on float32-rounded features so both runtimes see equal inputs.
        steps.append(("cast", CastTransformer(dtype=np.float32)))
    params = dict(hyperparameters)
    target_transform = params.pop("target_transform", None)
    standardize = algo.standardize_target and problem_type == REGRESSION
    steps.append(("model", wrap_target(algo.build(params, problem_type, n_jobs, random_state), target_transform,
                                       standardize)))
    return Pipeline(steps)


def _scaling_steps(algo, problem_type: str) -> list[tuple[str, Any]]:
    """The steps between featurization and the model for ``algo`` (unfitted).

    Linear models extrapolate without limit and neighbours measure distances across the excess: for
    regression, one input far outside the training range (a house twice the largest sold) must not decide a
    prediction alone, nor one rare category inflated by standardisation (see IndicatorScaler).
    Classification keeps raw inputs and plain standardisation: its link function already bounds the
    output, clipping would tie the extreme rows that ranking metrics tell apart, and it was not benchmarked
    without them."""
    from sklearn.preprocessing import StandardScaler

    from .featurize import IndicatorScaler, RangeClipper

    if not algo.needs_scaling:
        return []
    if problem_type == REGRESSION:
        return [("clip", RangeClipper()), ("scale", IndicatorScaler())]
    return [("scale", StandardScaler())]


def pipeline_name(meta: dict[str, Any], algorithm: str, hyperparameters: dict[str, Any] | None = None) -> str:
    """Leaderboard name: the preprocessing steps (as :func:`build_pipeline` adds them), the algorithm and,
    when one is used, the target transform."""
    algo = get_algorithm(meta["problem_type"], algorithm)
    name = ", ".join([type(step).__name__ for _, step in _scaling_steps(algo, meta["problem_type"])] + [algorithm])
    target_transform = (hyperparameters or {}).get("target_transform")
    return f"{name}, {target_transform} target" if target_transform else name


def featurization_text(meta: dict[str, Any]) -> str:
    plan = meta["plan"]
    kept = [p for p in plan if not p["dropped"]]
    encodings = sorted({p["encoding"] for p in kept})
    return f"{meta['featurization_mode']}: {len(kept)}/{len(plan)} columns, " + ", ".join(encodings)


def predict_scores(model, X: pd.DataFrame, problem_type: str, classes, cache=None) -> np.ndarray:
    """Probability matrix aligned to ``classes`` (classification) or predictions (regression).

    ``cache`` (a :class:`automl_engine.predict.FeatureCache` of ``X``) lets several models share one
    validation and featurization of ``X``."""
    from .predict import call

    if problem_type != CLASSIFICATION:
        return np.asarray(call(model, X, "predict", cache), dtype=float)
    proba = np.asarray(call(model, X, "predict_proba", cache), dtype=float)
    model_classes = list(model.classes_)
    classes = list(classes)
    if model_classes == classes:
        return proba
    out = np.zeros((len(X), len(classes)))
    for j, c in enumerate(model_classes):
        out[:, classes.index(c)] = proba[:, j]
    return out


def _fit(pipe, X, y, weights, supports_weight: bool):
    if weights is not None and supports_weight:
        pipe.fit(X, y, model__sample_weight=weights)
    else:
        pipe.fit(X, y)
    return pipe


def evaluate_trial(task_dict: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one trial from a JSON task dict and return a JSON-serialisable outcome dict.

    Fits the pipeline on each training fold and predicts the held-out fold (featurization included, so no
    statistic ever sees validation rows), scores the out-of-fold predictions, then refits on all training
    rows for cross-validation (the holdout model is the final model for a holdout split)."""
    from threadpoolctl import threadpool_limits

    from .metrics import compute_charts, compute_metrics

    task = TrialTask.from_dict(task_dict)
    started = time.time()
    started_at = now_iso()
    trial_dir = Path(task.workdir) / "trials" / str(task.number)
    trial_dir.mkdir(parents=True, exist_ok=True)
    outcome = TrialOutcome(number=task.number, status=FAILED, algorithm=task.algorithm,
                           hyperparameters=task.hyperparameters, started_at=started_at)
    try:
        data = load_prepared(task.workdir)
        meta = data.meta
        problem_type = meta["problem_type"]
        algo = get_algorithm(problem_type, task.algorithm)
        outcome.pipeline_name = pipeline_name(meta, task.algorithm, task.hyperparameters)
        outcome.featurization = featurization_text(meta)
        classes = data.classes
        n = len(data.y)
        oof = np.full((n, len(classes)) if problem_type == CLASSIFICATION else n, np.nan)
        final = None
        with threadpool_limits(limits=max(1, task.n_jobs)):
            for fold in sorted(int(f) for f in np.unique(data.folds) if f >= 0):
                valid = data.folds == fold
                train = ~valid if data.is_cv else data.folds == -1
                pipe = build_pipeline(meta, task.algorithm, task.hyperparameters, task.n_jobs, task.random_state)
                w = data.weights[train] if data.weights is not None else None
                _fit(pipe, data.X.loc[train], data.y[train], w, algo.supports_sample_weight)
                oof[valid] = predict_scores(pipe, data.X.loc[valid], problem_type, classes)
                final = pipe
            if data.is_cv:
                final = build_pipeline(meta, task.algorithm, task.hyperparameters, task.n_jobs, task.random_state)
                _fit(final, data.X, data.y, data.weights, algo.supports_sample_weight)
        scored = data.folds >= 0
        outcome.metrics = compute_metrics(problem_type, data.y[scored], oof[scored], classes)
        outcome.charts = compute_charts(problem_type, data.y[scored], oof[scored], classes,
                                        meta.get("positive_label"))
        import joblib

        outcome.model_path = str(trial_dir / "model.pkl")
        joblib.dump(final, outcome.model_path)
        outcome.oof_path = str(trial_dir / "oof.npy")
        np.save(outcome.oof_path, oof)
        outcome.status = COMPLETED
    except Exception as exc:  # a failing trial is a result, not a crash of the run
        outcome.status = FAILED
        outcome.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    outcome.duration_seconds = round(time.time() - started, 3)
    outcome.finished_at = now_iso()
    result = outcome.to_dict()
    (trial_dir / "outcome.json").write_text(json.dumps(result, default=_json_default))
    return json.loads(json.dumps(result, default=_json_default))


def thread_env(n_threads: int) -> dict[str, str]:
    """Environment that caps native thread pools in a child process."""
    value = str(max(1, int(n_threads)))
    return {name: value for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


def apply_thread_env(n_threads: int) -> None:
    os.environ.update(thread_env(n_threads))
