"""The task abstraction: one object per machine-learning task (classification, regression, ...).

Everything that differs between tasks lives on its :class:`Task`: the metrics and which are primary, the
target handling, the data preparation and validation scheme (a splitter of (train rows, validation rows)
pairs), how a fitted model's predictions are read, the ensemble combiner and the default algorithms.
The driver, the trial evaluation, the ensembles, the explanations and the CLI ask the task and never
branch on its name. ``config.task`` (the task's ``name``) stays the serialised identifier.

See docs/tasks.md for how to add a task.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..algorithms import Algorithm
    from ..config import JobConfig
    from ..trial import PreparedData
    from .splits import Splits


@dataclass
class ScoringContext:
    """What a metric or chart hook may need beyond ``(y_true, pred)``.

    ``X`` is the frame the scored rows come from (the prepared training frame for out-of-fold
    predictions, the test features for test scores); ``rows[i]`` is the row of ``X`` that prediction ``i``
    is for; ``splits[i]`` the split (validation origin) it was predicted in, ``None`` for test data.
    ``history`` is the prepared training data (features, target, splits): the data a scale such as MASE's
    denominator comes from. ``meta`` is the prepared data's metadata (classes, positive label, settings).
    """

    meta: Mapping[str, Any]
    X: pd.DataFrame | None = None
    rows: np.ndarray | None = None
    splits: np.ndarray | None = None
    history: "PreparedData | None" = None

    @property
    def classes(self):
        return self.meta.get("classes")

    @property
    def positive_label(self):
        return self.meta.get("positive_label")


@dataclass
class PreparedRun:
    """The outcome of :meth:`Task.prepare`: what the driver writes for the trials and keeps for itself.

    ``X``/``y``/``weights`` are the rows trials train and validate on; ``splits`` the validation scheme
    over them; ``meta`` the JSON metadata trials read (``problem_type``, ``plan``, ``classes`` ...);
    ``test`` the held-out test frame (target column included) or None; ``drop`` the columns removed from
    a frame to get its features; ``plans`` and ``guardrails`` the featurization plan and data checks;
    ``flags`` task-specific search hints (``imbalanced``, ``log_target``); ``messages`` log lines."""

    X: pd.DataFrame
    y: np.ndarray
    weights: np.ndarray | None
    splits: "Splits"
    meta: dict[str, Any]
    validation: dict[str, Any]
    plans: list[Any] = field(default_factory=list)
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    test: pd.DataFrame | None = None
    drop: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    messages: list[tuple[str, str]] = field(default_factory=list)

    @property
    def classes(self):
        return self.meta.get("classes")


class Task:
    """Base class of a task. A subclass sets the class attributes and overrides what differs.

    Class attributes: ``name`` (the ``config.task`` identifier), ``primary_metrics`` (primary metric name ->
    greater is better), ``default_primary_metric``, ``has_classes`` (predictions are probability matrices
    over ``classes``), ``meta_learner_name`` (shown for stack ensembles), ``settings_key`` (the name of the
    task's own config block, e.g. ``"forecasting"``, or None).
    """

    name: str = ""
    primary_metrics: Mapping[str, bool] = {}
    default_primary_metric: str = ""
    has_classes: bool = False
    meta_learner_name: str = ""
    settings_key: str | None = None
    # The share of a voting ensemble's validation gain over its best candidate that may be given up to drop
    # members, costliest to predict first (automl_engine.ensemble.prune_by_cost); 0: every member is kept.
    vote_prune_share: float = 0.0
    # Score the voting ensemble out of sample: its weights chosen on the other validation splits for each
    # split's entries (automl_engine.driver.Driver._vote_held_out), as the stack's meta-learner is. Worth its
    # cost where the validation entries are few and selection over many candidates fits their noise.
    vote_held_out: bool = False
    # Boosting trials on a holdout stop on its validation rows (automl_engine.trial._fit_early_stopping).
    early_stopping: bool = False
    # On large data the search fits early configurations on a growing random sample of the training rows
    # (automl_engine.driver); rows of a time series are not independent, so only row-wise tasks do.
    row_sampling: bool = False

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # ---------------------------------------------------------------------------------------- metrics
    def greater_is_better(self, metric: str) -> bool:
        """Whether a larger value of primary metric ``metric`` is better."""
        return bool(self.primary_metrics[metric])

    def compute_metrics(self, y_true: np.ndarray, pred: np.ndarray, context: ScoringContext) -> dict[str, float]:
        """Every metric (primary and secondary) of predictions ``pred`` against ``y_true``."""
        raise NotImplementedError

    def compute_charts(self, y_true: np.ndarray, pred: np.ndarray, context: ScoringContext) -> dict[str, Any]:
        """JSON chart data for the studio's run page."""
        raise NotImplementedError

    def primary_scorer(self, metric: str, y_true: np.ndarray,
                       context: ScoringContext) -> Callable[[np.ndarray], float]:
        """A fast ``pred -> score`` for one primary metric, called many times by ensemble selection."""
        return lambda pred: self.compute_metrics(y_true, pred, context)[metric]

    def selection_scorer(self, metric: str, y_true: np.ndarray,
                         context: ScoringContext) -> Callable[[np.ndarray], float]:
        """What ensemble selection maximises (or minimises, as the primary metric): the primary metric,
        unless the task breaks its ties (see :meth:`ClassificationTask.selection_scorer`)."""
        return self.primary_scorer(metric, y_true, context)

    # ---------------------------------------------------------------------------------------- target
    def validate_target(self, config: "JobConfig", y: Any) -> None:
        """Raise :class:`ConfigError` when the target values cannot be learned by this task."""

    def target_array(self, y: np.ndarray) -> np.ndarray:
        """Target values as the estimators and metrics need them (training, validation and test targets)."""
        return np.asarray(y)

    def classes_of(self, y: np.ndarray) -> list | None:
        """The sorted class labels of a labelled task, None otherwise."""
        return None

    # ---------------------------------------------------------------------------------------- data
    def prepare(self, job: Any, log: Callable[[str, str], None]) -> PreparedRun:
        """Load and check the job's data, hold out test data, choose the validation and compute the splits,
        plan featurization and run the guardrails. Replaceable as a whole by a task with its own data rules
        (a time series task checks frequency and series); see :class:`automl_engine.tasks.tabular.TabularTask`."""
        raise NotImplementedError

    def load_frames(self, job: Any) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
        """The job's training, validation and test frames, loaded and checked the same way for every task:
        training data present, the configuration valid for its columns, the target in every frame that must
        hold it, and the training target acceptable to the task (:meth:`validate_target`)."""
        from ..config import validate_config
        from ..data import load_frame

        config = job.config
        train = load_frame(job.training_data, "training_data", job.base_dir)
        if train is None:
            raise ConfigError("training_data", "training data is required")
        validate_config(config, columns=list(train.columns), n_rows=len(train))
        valid = load_frame(job.validation_data, "validation_data", job.base_dir)
        test = load_frame(job.test_data, "test_data", job.base_dir)
        target = config.target_column_name
        for name, frame in (("validation_data", valid), ("test_data", test)):
            if frame is not None and target not in frame.columns:
                raise ConfigError(name, f"target column {target!r} is missing from {name}")
        self.validate_target(config, train[target])
        return train, valid, test

    def splitter(self, validation: Mapping[str, Any], random_state: int, n_validation_rows: int = 0) -> Any:
        """An object with ``split(X, y)`` yielding ``(train_rows, valid_rows)`` and a ``refit`` attribute
        (see :mod:`automl_engine.tasks.splits`) for the chosen ``validation``."""
        raise NotImplementedError

    def validate_settings(self, config: "JobConfig", columns: Sequence[str] | None) -> None:
        """Task-specific configuration checks, called by :func:`automl_engine.config.validate_config`
        (``columns``: the training data's columns when known)."""

    def parse_settings(self, data: Mapping[str, Any] | None) -> Any:
        """The task's own config block (``config[settings_key]``) as a frozen object for
        ``JobConfig.task_settings``; only called for a task with a ``settings_key``."""
        return None

    def settings_to_dict(self, settings: Any) -> dict[str, Any] | None:
        """JSON form of ``JobConfig.task_settings``, inverted by :meth:`parse_settings`."""
        return None

    # ---------------------------------------------------------------------------------------- models
    def algorithm_names(self) -> list[str]:
        """The algorithms registered for this task (its default candidates), in registration order."""
        from ..algorithms import algorithm_names

        return algorithm_names(self.name)

    def portfolio(self, flags: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Portfolio configurations in the order they are tried, from the ``Algorithm`` declarations."""
        from ..algorithms import portfolio_order

        return portfolio_order(self.name, bool((flags or {}).get("log_target")))

    def build_pipeline(self, meta: Mapping[str, Any], algorithm: str, hyperparameters: Mapping[str, Any],
                       n_jobs: int = 1, random_state: int = 0) -> Any:
        """An unfitted sklearn-like estimator: ``fit(X, y[, model__sample_weight=])`` then predict on rows."""
        from ..trial import build_pipeline

        return build_pipeline(dict(meta), algorithm, dict(hyperparameters), n_jobs, random_state)

    def scaling_steps(self, algo: "Algorithm") -> list[tuple[str, Any]]:
        """Pipeline steps between featurization and the model for ``algo`` (unfitted)."""
        return []

    def standardize_target(self, algo: "Algorithm") -> bool:
        """Whether ``algo`` is fitted on a standardised target (see ``Algorithm.standardize_target``)."""
        return False

    def predict_scores(self, model: Any, X: Any, classes: Sequence[Any] | None, cache: Any = None) -> np.ndarray:
        """What metrics and ensembles consume: predictions, or a probability matrix over ``classes``."""
        from ..predict import call

        return np.asarray(call(model, X, "predict", cache), dtype=float)

    def finish_model(self, model: Any, y_true: np.ndarray, oof: np.ndarray, context: ScoringContext) -> Any:
        """The trial's saved model, given its validation predictions (a forecaster calibrates its prediction
        intervals on them); the model unchanged by default."""
        return model

    def calibrate(self, model: Any, y_true: np.ndarray, oof: np.ndarray, context: ScoringContext,
                  primary_metric: str, greater_is_better: bool, random_state: int = 0
                  ) -> tuple[Any, np.ndarray, dict[str, Any] | None]:
        """``(model, oof, calibration)``: a trial's model and its validation predictions after probability
        calibration on those predictions (classification), with what was done (None: nothing)."""
        return model, oof, None

    def calibrate_ensemble(self, model: Any, y_true: np.ndarray, oof: np.ndarray, context: ScoringContext,
                           primary_metric: str, greater_is_better: bool, random_state: int = 0
                           ) -> tuple[Any, np.ndarray, dict[str, Any] | None]:
        """As :meth:`calibrate`, for an assembled voting ensemble and its blended validation predictions."""
        return model, oof, None

    def refitted_model(self, original: Any, refitted: Any) -> Any:
        """A holdout trial's model after the refit on all rows (:func:`automl_engine.trial.refit_on_all_rows`):
        ``refitted``, its pipeline fitted again on every training row, with what :meth:`calibrate` put on
        ``original`` after fitting it. Nothing by default."""
        return refitted

    # ---------------------------------------------------------------------------------------- ensembles
    def vote_weights(self, oofs: Sequence[np.ndarray], scorer: Callable[[np.ndarray], float],
                     greater_is_better: bool) -> list[float]:
        """Weights of the voting ensemble over the candidates' stored out-of-fold predictions."""
        from ..ensemble import caruana_selection

        return caruana_selection(oofs, scorer, greater_is_better)

    def assemble_ensemble(self, kind: str, members: Sequence[Any], weights: Sequence[float] | None = None,
                          meta_learner: Any = None, classes: Sequence[Any] | None = None) -> Any:
        """The fitted ensemble model a run saves: ``kind`` "voting" (``weights``) or "stacking"
        (``meta_learner``) over the members' fitted models. Default: the tabular ensembles in a Pipeline."""
        from sklearn.pipeline import Pipeline

        from ..ensemble import StackEnsemble, VotingEnsemble

        if kind == "stacking":
            return Pipeline([("ensemble", StackEnsemble(list(members), meta_learner, self.name, classes))])
        return Pipeline([("ensemble", VotingEnsemble(list(members), list(weights or ()), self.name, classes))])

    def meta_features(self, predictions: Sequence[np.ndarray]) -> np.ndarray:
        """The stack ensemble's meta-learner input from its members' predictions."""
        return np.hstack([np.asarray(p, dtype=float)[:, None] for p in predictions])

    def fit_stacker(self, oofs: Sequence[np.ndarray], y: np.ndarray, context: ScoringContext,
                    random_state: int = 0) -> tuple[Any, np.ndarray]:
        """Fit the meta-learner on the members' out-of-fold predictions; return it and honest (cross-
        validated) predictions of it for the same entries."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------- reporting
    def guardrails(self, config: "JobConfig", X: pd.DataFrame, y: np.ndarray, plans: list[Any],
                   validation: Mapping[str, Any], test_X: pd.DataFrame | None) -> list[dict[str, Any]]:
        from ..guardrails import run_guardrails

        return run_guardrails(config, X, y, plans, dict(validation), test_X, has_classes=self.has_classes)

    def featurization_summary(self, meta: Mapping[str, Any], plans: list[Any], X: pd.DataFrame,
                              random_state: int = 0) -> list[dict[str, Any]]:
        """What featurization did to each input column (the run result's ``featurization_summary``):
        the column plan's featurizer fitted once on the training rows."""
        from ..featurize import Featurizer, InputSchema, featurization_summary

        featurizer = Featurizer(meta["plan"], random_state)
        kept = [p for p in meta["plan"] if not p["dropped"]]
        schema = InputSchema([p["column"] for p in kept], {p["column"]: p["detected_type"] for p in kept}).fit(X)
        featurizer.fit(schema.transform(X))
        return featurization_summary(plans, featurizer)

    def explain(self, model: Any, X: pd.DataFrame, y: np.ndarray, random_state: int = 0) -> dict[str, Any]:
        from ..explain import explain

        return explain(model, X, y, random_state=random_state)
