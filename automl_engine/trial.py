"""One trial: a JSON-serialisable task, the pipeline it builds, and ``evaluate_trial``, the pure top-level
function a worker (a local child process or a Celery worker on another machine) calls.

The driver writes the prepared training data once under ``workdir/data/`` (features, target, weights, the
splits as (train rows, validation rows) pairs, metadata); ``evaluate_trial`` reads it from there, fits the
task's pipeline on the training rows of every split and predicts its validation rows, writes ``model.pkl``
and ``oof.npy`` (the validation predictions of all splits, entry ``i`` for row ``PreparedData.oof_rows[i]``)
under ``workdir/trials/<number>/`` and returns a plain dict.
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

from .algorithms import get_algorithm, import_plugins
from .tasks import ScoringContext, Splits, get_task

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
    # Fit on at most this many of each split's training rows (a fixed random subset): the search's
    # sample growth on large data; None fits on all of them. Validation rows are always all scored.
    sample_size: int | None = None

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
    # What the driver's cost model and final-step planning read: rows the model was fitted on (per split),
    # seconds spent fitting and predicting the validation rows, and how many rows those were.
    sample_size: int | None = None
    fit_rows: int | None = None
    fit_seconds: float | None = None
    predict_seconds: float | None = None
    predict_rows: int | None = None
    # Boosting rounds kept by early stopping on the validation rows (None: no early stopping).
    best_iteration: int | None = None
    # The probability calibration applied (classification), see automl_engine.calibration.
    calibration: dict[str, Any] | None = None

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
    """Training features, target, splits and run metadata as loaded from ``workdir/data``.

    ``splits`` holds the (train rows, validation rows) pairs; ``oof_rows``/``oof_splits`` give, for each
    stored out-of-fold prediction, its row and the split it was predicted in (see :meth:`Splits.scored`)."""

    X: pd.DataFrame
    y: np.ndarray
    splits: Splits
    weights: np.ndarray | None
    meta: dict[str, Any]

    def __post_init__(self):
        self.oof_rows, self.oof_splits = self.splits.scored()

    @property
    def is_cv(self) -> bool:
        return self.splits.refit

    @property
    def classes(self):
        return self.meta.get("classes")

    @property
    def task(self):
        return get_task(self.meta["problem_type"])

    def context(self) -> ScoringContext:
        """The scoring context of the stored out-of-fold predictions."""
        return ScoringContext(meta=self.meta, X=self.X, rows=self.oof_rows, splits=self.oof_splits, history=self)


def write_prepared(workdir: Path, X: pd.DataFrame, y: np.ndarray, splits: Splits | np.ndarray,
                   weights: np.ndarray | None, meta: dict[str, Any]) -> None:
    """Write the prepared training data once, for any worker that shares ``workdir``.

    ``splits`` is a :class:`Splits`, or a fold number per row (``-1``: train only) read as cross-validation
    when ``meta["validation"]["method"] == "cv"`` and as a holdout otherwise."""
    if not isinstance(splits, Splits):
        splits = Splits.from_folds(np.asarray(splits), refit=meta.get("validation", {}).get("method") == "cv")
    from .tasks.splits import stack_pairs

    data_dir = Path(workdir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    frame = X.copy()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_pickle(data_dir / "X.pkl")
    np.save(data_dir / "y.npy", np.asarray(y), allow_pickle=True)
    np.savez(data_dir / "splits.npz", **stack_pairs(splits.pairs))
    if weights is not None:
        np.save(data_dir / "weights.npy", np.asarray(weights, dtype=float))
    meta = {**meta, "splits": {"n_splits": splits.n_splits, "refit": splits.refit}}
    (data_dir / "meta.json").write_text(json.dumps(meta, default=_json_default, indent=1))


_CACHE: dict[str, tuple[float, PreparedData]] = {}


def load_prepared(workdir: str | Path) -> PreparedData:
    """Load (and cache per process) the prepared data written by :func:`write_prepared`."""
    from .tasks.splits import unstack_pairs

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
    with np.load(data_dir / "splits.npz") as arrays:
        splits = Splits(unstack_pairs(arrays, meta["splits"]["n_splits"]), meta["splits"]["refit"])
    weights = np.load(data_dir / "weights.npy") if (data_dir / "weights.npy").exists() else None
    data = PreparedData(X=X, y=y, splits=splits, weights=weights, meta=meta)
    _CACHE.clear()
    _CACHE[key] = (stamp, data)
    return data


def scored_targets(workdir: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The target of every stored out-of-fold prediction (entry ``i`` of any trial's ``oof.npy``) and the
    run's meta, read without the features: what a page needs to recount a trial's validation results."""
    from .tasks.splits import unstack_pairs

    data_dir = Path(workdir) / "data"
    meta = json.loads((data_dir / "meta.json").read_text())
    y = np.load(data_dir / "y.npy", allow_pickle=True)
    with np.load(data_dir / "splits.npz") as arrays:
        splits = Splits(unstack_pairs(arrays, meta["splits"]["n_splits"]), meta["splits"]["refit"])
    rows, _ = splits.scored()
    return y[rows], meta


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

    from .featurize import Featurizer, InputSchema
    from .target import wrap_target

    problem_type = meta["problem_type"]
    task = get_task(problem_type)
    algo = get_algorithm(problem_type, algorithm)
    plan = meta["plan"]
    onnx = meta.get("onnx_compatible", False)
    kept = [p for p in plan if not p["dropped"]]
    schema = InputSchema(columns=[p["column"] for p in kept], kinds={p["column"]: p["detected_type"] for p in kept})
    # ONNX-compatible mode uses the same featurizer (its plan leaves out what ONNX cannot compute);
    # artifacts.export_onnx converts it.
    featurizer = Featurizer(plan=plan, random_state=random_state)
    steps = [("input", schema), ("featurize", featurizer), *task.scaling_steps(algo)]
    if onnx:
        from skl2onnx.sklapi import CastTransformer

        # ONNX runs trees in float32: train on float32-rounded features so both runtimes see equal inputs.
        steps.append(("cast", CastTransformer(dtype=np.float32)))
    params = dict(hyperparameters)
    target_transform = params.pop("target_transform", None)
    standardize = task.standardize_target(algo)
    steps.append(("model", wrap_target(algo.build(params, problem_type, n_jobs, random_state), target_transform,
                                       standardize)))
    pipeline = Pipeline(steps)
    # The plugin's declaration travels with the fitted model: explanations pick SHAP's tree explainer from it.
    pipeline.automl_is_tree = algo.is_tree
    pipeline.automl_onnx_compatible = onnx
    return pipeline


def pipeline_name(meta: dict[str, Any], algorithm: str, hyperparameters: dict[str, Any] | None = None) -> str:
    """Leaderboard name: the preprocessing steps (as :func:`build_pipeline` adds them), the algorithm and,
    when one is used, the target transform."""
    algo = get_algorithm(meta["problem_type"], algorithm)
    steps = get_task(meta["problem_type"]).scaling_steps(algo)
    name = ", ".join([type(step).__name__ for _, step in steps] + [algorithm])
    target_transform = (hyperparameters or {}).get("target_transform")
    return f"{name}, {target_transform} target" if target_transform else name


def featurization_text(meta: dict[str, Any]) -> str:
    plan = meta["plan"]
    kept = [p for p in plan if not p["dropped"]]
    encodings = sorted({p["encoding"] for p in kept})
    return f"{meta['featurization_mode']}: {len(kept)}/{len(plan)} columns, " + ", ".join(encodings)


def predict_scores(model, X: pd.DataFrame, problem_type: str, classes, cache=None) -> np.ndarray:
    """Probability matrix aligned to ``classes`` (classification) or predictions (regression): the task's
    :meth:`~automl_engine.tasks.Task.predict_scores`.

    ``cache`` (a :class:`automl_engine.predict.FeatureCache` of ``X``) lets several models share one
    validation and featurization of ``X``."""
    return get_task(problem_type).predict_scores(model, X, classes, cache)


def _fit(pipe, X, y, weights, supports_weight: bool):
    if weights is not None and supports_weight:
        pipe.fit(X, y, model__sample_weight=weights)
    else:
        pipe.fit(X, y)
    return pipe


EARLY_STOPPING_ROUNDS = 50


def _fit_early_stopping(pipe, X, y, weights, supports_weight: bool, X_valid, y_valid) -> int | None:
    """Fit a boosting pipeline with early stopping on the validation rows (a holdout): the featurizing
    steps are fitted on the training rows only, the booster stops after ``EARLY_STOPPING_ROUNDS`` rounds
    without a better validation loss and predicts with its best round. Returns that round (None when the
    model step is not a LightGBM or XGBoost estimator, which is then fitted the plain way)."""
    from sklearn.pipeline import Pipeline

    model = pipe.steps[-1][1]
    module = type(model).__module__
    is_lgb = module.startswith("lightgbm")
    is_xgb = module.startswith("xgboost") or type(model).__name__ == "XGBLabelClassifier"
    if not (is_lgb or is_xgb):
        _fit(pipe, X, y, weights, supports_weight)
        return None
    front = Pipeline(pipe.steps[:-1])
    Z = front.fit_transform(X, y)
    Z_valid = front.transform(X_valid)
    kwargs: dict[str, Any] = {"eval_set": [(Z_valid, y_valid)]}
    if weights is not None and supports_weight:
        kwargs["sample_weight"] = weights
    if is_lgb:
        import warnings

        import lightgbm as lgb

        with warnings.catch_warnings():
            # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but its classifier does not encode the labels
            # of eval_y ("could not convert string to float: 'yes'"): eval_set is the form that works.
            warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
            model.fit(Z, y, callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)], **kwargs)
        best = getattr(model, "best_iteration_", None)
    else:
        model.set_params(early_stopping_rounds=EARLY_STOPPING_ROUNDS)
        model.fit(Z, y, verbose=False, **kwargs)
        best = getattr(model, "best_iteration", None)
        best = None if best is None else best + 1
    return int(best) if best else None


def _predict_by_blocks(pipe) -> None:
    """A fitted LightGBM model step predicts a block of trees at a time (:mod:`automl_engine.boosters`): the
    same predictions, 1.4-2.7 times faster on the benchmark's test rows (most on many classes or trees). A
    forecasting model (no pipeline steps) is left as it is."""
    from .target import inner_estimator

    estimator = inner_estimator(pipe.steps[-1][1]) if hasattr(pipe, "steps") else None
    if type(estimator).__module__.startswith("lightgbm."):
        from .boosters import predict_blockwise

        predict_blockwise(estimator)


def sample_rows(train: np.ndarray, sample_size: int | None, random_state: int) -> np.ndarray:
    """At most ``sample_size`` of the training rows ``train``: a fixed random subset (the same rows for
    every trial of a run at this size, in their original order)."""
    if sample_size is None or len(train) <= sample_size:
        return train
    rng = np.random.RandomState(random_state + 7919)
    return np.sort(rng.choice(np.asarray(train), int(sample_size), replace=False))


def evaluate_trial(task_dict: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one trial from a JSON task dict and return a JSON-serialisable outcome dict.

    For every split: fit the task's pipeline on the training rows and predict the validation rows
    (featurization is inside the pipeline, so no statistic ever sees validation rows). The validation
    predictions of all splits are stored together (``oof.npy``, ordered as ``PreparedData.oof_rows``) and
    scored by the task with the prepared data as context. The final model is refitted on all rows when the
    splits ask for it (cross-validation), otherwise it is the last split's model (holdout)."""
    from threadpoolctl import threadpool_limits

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
        import_plugins(meta.get("plugins", []))
        ml_task = get_task(meta["problem_type"])
        algo = get_algorithm(ml_task.name, task.algorithm)
        outcome.pipeline_name = pipeline_name(meta, task.algorithm, task.hyperparameters)
        outcome.featurization = featurization_text(meta)
        classes = data.classes

        # Early stopping uses the validation rows of a holdout (the model fitted there is the final one);
        # with cross-validation the final model is refitted on all rows, with no rows left to stop on.
        stop_early = (not data.splits.refit and ml_task.early_stopping
                      and not task.hyperparameters.get("target_transform") and not meta.get("onnx_compatible"))
        timing = {"fit": 0.0, "predict": 0.0, "predict_rows": 0, "fit_rows": 0, "best_iteration": None}

        def fitted(rows, valid=None):
            pipe = ml_task.build_pipeline(meta, task.algorithm, task.hyperparameters, task.n_jobs, task.random_state)
            X = data.X if rows is None else data.X.iloc[rows]
            y = data.y if rows is None else data.y[rows]
            w = data.weights if rows is None or data.weights is None else data.weights[rows]
            start = time.time()
            if valid is not None and stop_early:
                timing["best_iteration"] = _fit_early_stopping(pipe, X, y, w, algo.supports_sample_weight,
                                                               data.X.iloc[valid], data.y[valid])
            else:
                _fit(pipe, X, y, w, algo.supports_sample_weight)
            timing["fit"] += time.time() - start
            timing["fit_rows"] = max(timing["fit_rows"], len(X))
            _predict_by_blocks(pipe)
            return pipe

        predictions: list[np.ndarray] = []
        final = None
        with threadpool_limits(limits=max(1, task.n_jobs)):
            for train, valid in data.splits.pairs:
                final = fitted(sample_rows(train, task.sample_size, task.random_state), valid)
                start = time.time()
                predictions.append(ml_task.predict_scores(final, data.X.iloc[valid], classes))
                timing["predict"] += time.time() - start
                timing["predict_rows"] += len(valid)
            if data.splits.refit:
                final = fitted(None if task.sample_size is None else
                               sample_rows(np.arange(len(data.X)), task.sample_size, task.random_state))
        # Entries in split order, then stably sorted by row: the order of PreparedData.oof_rows.
        rows = np.concatenate([valid for _, valid in data.splits.pairs])
        oof = np.concatenate(predictions)[np.argsort(rows, kind="stable")]
        y_scored = data.y[data.oof_rows]
        context = data.context()
        metric = meta.get("primary_metric")
        if metric in ml_task.primary_metrics:
            final, oof, outcome.calibration = ml_task.calibrate(
                final, y_scored, oof, context, metric, ml_task.greater_is_better(metric), task.random_state)
        outcome.sample_size = task.sample_size
        if task.sample_size is not None:
            outcome.pipeline_name += f", {min(task.sample_size, timing['fit_rows']):,}-row sample"
        if outcome.calibration is not None:
            outcome.pipeline_name += f", {outcome.calibration['method']} calibration"
        outcome.fit_rows = int(timing["fit_rows"])
        outcome.fit_seconds = round(timing["fit"], 4)
        outcome.predict_seconds = round(timing["predict"], 4)
        outcome.predict_rows = int(timing["predict_rows"])
        outcome.best_iteration = timing["best_iteration"]
        outcome.metrics = ml_task.compute_metrics(y_scored, oof, context)
        outcome.charts = ml_task.compute_charts(y_scored, oof, context)
        final = ml_task.finish_model(final, y_scored, oof, context)
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


def refit_on_all_rows(data: PreparedData, model, algorithm: str, hyperparameters: dict[str, Any],
                      best_iteration: int | None, n_jobs: int = 1, random_state: int = 0):
    """``model``, a trial's saved model from a holdout search (fitted on the training part alone), fitted again
    on every training row, the validation rows included: the same pipeline and hyperparameters, a booster that
    early stopping ended with the rounds it kept (``best_iteration``: there are no rows left to stop on), and
    what the task put on the model after fitting it (a probability map, :meth:`Task.refitted_model`)."""
    from threadpoolctl import threadpool_limits

    ml_task = data.task
    algo = get_algorithm(ml_task.name, algorithm)
    params = dict(hyperparameters)
    if best_iteration:
        params["n_estimators"] = int(best_iteration)
    pipe = ml_task.build_pipeline(data.meta, algorithm, params, n_jobs, random_state)
    with threadpool_limits(limits=max(1, n_jobs)):
        _fit(pipe, data.X, data.y, data.weights, algo.supports_sample_weight)
    _predict_by_blocks(pipe)
    if hasattr(pipe, "steps"):  # the artifact says how it was fitted (generated training code refits it so)
        pipe.automl_refitted = True
    return ml_task.refitted_model(model, pipe)


def thread_env(n_threads: int) -> dict[str, str]:
    """Environment that caps native thread pools in a child process."""
    value = str(max(1, int(n_threads)))
    return {name: value for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


def apply_thread_env(n_threads: int) -> None:
    os.environ.update(thread_env(n_threads))
