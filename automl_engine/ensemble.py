"""Final ensembles built from the trials' out-of-fold predictions.

- Voting: Caruana et al. ensemble selection (sorted initialisation with up to 5 models within 5% of
  the best, then greedy forward selection with replacement); weights are selection counts.
- Stacking: the task's meta-learner (LogisticRegression for classification, ElasticNet for regression) on
  the members' out-of-fold predictions; its own score is cross-validated on those predictions.

Both work on the stored out-of-fold predictions as they are (one entry per validated row and split, see
:meth:`automl_engine.tasks.Splits.scored`), so they need no fold layout. The task supplies the combiner:
``Task.vote_weights``, ``Task.meta_features`` and ``Task.fit_stacker``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from .tasks import ScoringContext, get_task

ENSEMBLE_ITERATIONS = 25
META_MAX_ROWS = 4000  # a low-dimensional meta-learner needs few rows; keeps stacking cheap on big data
SORTED_INIT_SIZE = 5
SORTED_INIT_TOLERANCE = 0.05


class _AssembledEnsemble(BaseEstimator):
    """What both ensembles share: their members are already fitted, so an ensemble is assembled, not trained."""

    @property
    def classes_(self):
        if not get_task(self.problem_type).has_classes:
            raise AttributeError(f"a {self.problem_type} ensemble has no classes_")
        return np.asarray(self.classes)

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True


class VotingEnsemble(_AssembledEnsemble):
    """Weighted average of fitted pipelines' probabilities (classification) or predictions."""

    def __init__(self, estimators: Sequence[Any] = (), weights: Sequence[float] = (), problem_type: str = "classification",
                 classes: Sequence[Any] | None = None, calibration: tuple[str, Sequence[float]] | None = None):
        self.estimators = estimators
        self.weights = weights
        self.problem_type = problem_type
        self.classes = classes
        # (method, params) of a probability map over the blend (automl_engine.calibration.apply_map)
        self.calibration = calibration

    def __setstate__(self, state):
        # A vote pickled before it could hold a map has none.
        super().__setstate__({"calibration": None, **state})

    def _scores(self, X):
        from .calibration import apply_map
        from .trial import predict_scores

        total = sum(self.weights)
        cache = _feature_cache(X)
        blend = sum(w / total * predict_scores(m, X, self.problem_type, self.classes, cache)
                    for m, w in zip(self.estimators, self.weights))
        return blend if self.calibration is None else apply_map(blend, *self.calibration)

    def predict_proba(self, X):
        return self._scores(X)

    def predict(self, X):
        scores = self._scores(X)
        if get_task(self.problem_type).has_classes:
            return self.classes_[np.argmax(scores, axis=1)]
        return scores


class StackEnsemble(_AssembledEnsemble):
    """Members' predictions fed to a fitted meta-learner."""

    def __init__(self, estimators: Sequence[Any] = (), meta_learner: Any = None, problem_type: str = "classification",
                 classes: Sequence[Any] | None = None):
        self.estimators = estimators
        self.meta_learner = meta_learner
        self.problem_type = problem_type
        self.classes = classes

    def _meta_features(self, X):
        from .trial import predict_scores

        cache = _feature_cache(X)
        return meta_features([predict_scores(m, X, self.problem_type, self.classes, cache) for m in self.estimators],
                             self.problem_type)

    def predict_proba(self, X):
        from .trial import predict_scores

        return predict_scores(self.meta_learner, self._meta_features(X), self.problem_type, self.classes)

    def predict(self, X):
        if get_task(self.problem_type).has_classes:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return np.asarray(self.meta_learner.predict(self._meta_features(X)), dtype=float)


def _feature_cache(X):
    """One validation and featurization of ``X`` shared by the members that have equal ones."""
    import pandas as pd

    from .predict import Columns, FeatureCache

    return FeatureCache(X) if isinstance(X, (pd.DataFrame, Columns)) else None


def meta_features(predictions: Sequence[np.ndarray], problem_type: str) -> np.ndarray:
    """The meta-learner's input from members' predictions: the task's :meth:`Task.meta_features`."""
    return get_task(problem_type).meta_features(predictions)


def distinct_predictions(predictions: Iterable[np.ndarray], limit: int) -> list[tuple[int, np.ndarray]]:
    """``(index, prediction)`` of the first ``limit`` predictions that differ from every earlier one kept (equal
    up to floating-point noise, relative 1e-9, counts as the same). ``predictions`` is read lazily, best first,
    and not beyond what ``limit`` needs."""
    kept: list[tuple[int, np.ndarray]] = []
    if limit <= 0:
        return kept
    for i, p in enumerate(predictions):
        if not any(_same(p, q) for _, q in kept):
            kept.append((i, p))
            if len(kept) == limit:
                break
    return kept


def spread_over_groups(groups: Sequence[Any], per_group: int) -> list[int]:
    """Positions of ``groups`` (labels of items best first, e.g. each trial's algorithm) in the order that
    takes at most ``per_group`` of one label while other labels remain: the items passed over follow, best
    first. A search that found one algorithm best spends most of its trials refining it; without this, its
    variants filled every seat among the ensemble candidates and the ensemble was one algorithm (on
    house_prices_ames, seven LassoLars fits that all extrapolated the same houses the same way)."""
    first, rest, taken = [], [], {}
    for i, g in enumerate(groups):
        if taken.get(g, 0) < per_group:
            taken[g] = taken.get(g, 0) + 1
            first.append(i)
        else:
            rest.append(i)
    return first + rest


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12 * max(float(np.abs(b).max(initial=0.0)), 1.0)))


def caruana_selection(oofs: Sequence[np.ndarray], scorer: Callable[[np.ndarray], float], greater_is_better: bool,
                      iterations: int = ENSEMBLE_ITERATIONS) -> list[float]:
    """Weights (summing to 1) over ``oofs`` by ensemble selection with replacement."""
    sign = 1.0 if greater_is_better else -1.0
    single = np.array([sign * scorer(o) for o in oofs])
    order = np.argsort(-single, kind="stable")
    best = single[order[0]]
    tolerance = SORTED_INIT_TOLERANCE * max(abs(best), 1e-12)
    counts = np.zeros(len(oofs))
    for i in order[:SORTED_INIT_SIZE]:
        if best - single[i] <= tolerance:
            counts[i] += 1
    current = sum(counts[i] * oofs[i] for i in range(len(oofs)))
    current_score = sign * scorer(current / counts.sum())
    for _ in range(iterations):
        candidates = [sign * scorer((current + oofs[i]) / (counts.sum() + 1)) for i in range(len(oofs))]
        j = int(np.argmax(candidates))
        if candidates[j] < current_score - 1e-12 and counts.sum() >= SORTED_INIT_SIZE:
            break
        counts[j] += 1
        current = current + oofs[j]
        current_score = candidates[j]
    return (counts / counts.sum()).tolist()


def prune_by_cost(oofs: Sequence[np.ndarray], weights: Sequence[float], costs: Sequence[float],
                  scorer: Callable[[np.ndarray], float], greater_is_better: bool, share: float) -> list[float]:
    """Voting weights with the members whose prediction time buys too little dropped: repeatedly the costliest
    member whose removal (the other weights scaled back to sum 1) keeps the blend within ``share`` of its gain
    over the best single candidate, until no member can go. The weights sum to 1; dropped members weigh 0.

    Caruana selection adds a member for any gain, however small, and a forecaster predicts step by step, so
    each member costs a forecast its full time: an ensemble of five forests forecast ten times slower than one
    for a last few hundredths of a percent of validation score."""
    sign = 1.0 if greater_is_better else -1.0
    w = np.asarray(weights, dtype=float)
    blend = lambda v: sum(v[i] * oofs[i] for i in np.flatnonzero(v > 0))  # noqa: E731
    full = sign * scorer(blend(w))
    single = max(sign * scorer(o) for o in oofs)
    floor = full - share * max(full - single, 0.0)
    while np.count_nonzero(w) > 1:
        for i in sorted(np.flatnonzero(w > 0), key=lambda i: (-costs[i], i)):
            trial = w.copy()
            trial[i] = 0.0
            trial /= trial.sum()
            if sign * scorer(blend(trial)) >= floor:
                w = trial
                break
        else:
            break
    return w.tolist()


def stack_rows(n: int, n_features: int, random_state: int) -> np.ndarray:
    """The entries a meta-learner is fitted on: all, or a fixed random subset on big data (a
    low-dimensional meta-learner needs few rows)."""
    max_rows = META_MAX_ROWS if n_features <= 20 else META_MAX_ROWS // 2
    if n > max_rows:
        return np.sort(np.random.RandomState(random_state).choice(n, max_rows, replace=False))
    return np.arange(n)


def fit_stacker(oofs: Sequence[np.ndarray], y: np.ndarray, problem_type: str, classes, random_state: int = 0,
                context: ScoringContext | None = None):
    """Fit the task's meta-learner on members' out-of-fold predictions; return it and its cross-validated
    predictions (the honest estimate of the stack's score)."""
    context = context or ScoringContext({"classes": classes})
    return get_task(problem_type).fit_stacker(oofs, y, context, random_state)
