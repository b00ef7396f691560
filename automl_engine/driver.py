"""The driver of one run: prepare data once, search (portfolio then Optuna TPE) through an executor while
honouring every limit, then build the ensembles, score the test data and explain the best model."""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .algorithms import Algorithm, get_algorithm, module_origin, plugin_origin
from .config import ConfigError, JobConfig
from .ensemble import ENSEMBLE_ITERATIONS
from .metrics import is_better
from .results import AutoMLResult, Callbacks, TrialResult
from .target import TARGET_TRANSFORMS
from .tasks import ScoringContext, get_task
from .trial import (CANCELED, COMPLETED, CUT_BY_BUDGET, EARLY_STOPPING_ROUNDS, FAILED, TIMED_OUT, PreparedData,
                    TrialOutcome, TrialTask, now_iso, write_prepared)

# SDK v2's enable_early_termination: "terminate early if there is no score improvement in the last 20
# iterations", never within the first 20 (v1's landmark iterations).
EARLY_TERMINATION_MIN_TRIALS = 20
EARLY_TERMINATION_PATIENCE = 20
TPE_ALGORITHMS = 3
# An algorithm whose last SETTLE_TRIALS model-based trials did not improve its own best by SETTLE_TOLERANCE
# (relative) leaves the model-based search, and the next best algorithm takes its place: on 1,168 house
# prices TPE spent 99 of 136 trials on LassoLars' one parameter, whose scores differed in the fifth decimal.
SETTLE_TRIALS = 10
SETTLE_TOLERANCE = 1e-3
ENSEMBLE_CANDIDATES = 12
ENSEMBLE_PER_ALGORITHM = 4  # seats among the candidates one algorithm takes while others are left
STACK_MEMBERS = 5
SELECTION_MAX_ROWS = 8000
POLL_SECONDS = 0.05
# Sample growth on large data (successive halving, asynchronous): when a split fits on at least
# SAMPLE_MIN_ROWS rows, every new configuration is first fitted on SAMPLE_START rows; the best third of the
# trials at each size (at least the best one) is promoted to SAMPLE_GROWTH times as many rows, up to all.
SAMPLE_MIN_ROWS = 100_000
# A run always ends with a model when one can be had: when no trial has finished after FALLBACK_SHARE of the
# search time (a slow first configuration, a busy machine), the first portfolio configuration is also fitted on
# FALLBACK_ROWS rows beside the trials still running (FLAML keeps its cheapest model the same way).
FALLBACK_SHARE = 0.5
FALLBACK_ROWS = 2_000
SAMPLE_START = 10_000
SAMPLE_GROWTH = 4
# A portfolio configuration expected to take more than DEFER_SHARE of the search time left waits until the
# cheaper configurations after it have been tried, then runs if it still fits. On letter's 26 classes the
# boosted defaults cost 20-30 s each of a 57 s search (XGBoost's 200 rounds: 30 s for a model no ensemble
# kept), and the extra-trees forest that wins there only started after 28 s; the cheap configurations a
# dear one holds back tell the ensembles and the model-based search more per second.
DEFER_SHARE = 1 / 3
PROMOTE_SHARE = 3
# A boosted configuration promoted to more rows is expected to grow PROMOTION_ROUND_GROWTH times the rounds it
# grew before early stopping ended it on fewer rows (at most its n_estimators). Estimated at its n_estimators,
# fertility's promising configurations (500-960 rounds asked, 250-470 grown on all rows) looked 3-5 times
# dearer than they were and were skipped as not fitting, so the run ended with one configuration on all rows.
PROMOTION_ROUND_GROWTH = 2
# Seconds of a fit grow at least as rows ** ROW_COST_EXPONENT_MIN when estimated from smaller samples
# (Driver._nearest_rate).
ROW_COST_EXPONENT_MIN = 0.5
# The steps after the search (ensembles, test scores, explanation) are planned from what this run measured:
# their estimate, times FINAL_SAFETY, is kept free at the end of the budget, and never less than
# MIN_RESERVE_SHARE of the budget (at least MIN_RESERVE_SECONDS). A trial still running at the search
# deadline whose algorithm has no finished trial yet (on a short budget, the first boosted model beside the
# baselines) may also use the safety margin: it is cut when only the unscaled estimate is left (the grace
# deadline), not at the search deadline. Another configuration of a finished algorithm is not worth that risk.
FINAL_SAFETY = 1.5
MIN_RESERVE_SHARE = 0.04
MIN_RESERVE_SECONDS = 1.0
FINAL_FIXED_SECONDS = 0.6
SCORE_TIMINGS = 5
# After a holdout search the best model is refitted on all rows, validation rows included (FLAML's
# retrain_full does the same, after its budget). Its expected time is reserved as measured, without
# FINAL_SAFETY: it is the same configuration's own fit on nine tenths of the rows, and it is refitted only
# when that estimate still fits the time left (Driver._refit_final).
REFIT_SUFFIX = ", refitted on all rows"


def _cpu_seconds(function, *args) -> tuple[float, object]:
    """The processor time of one call (this process, all its threads) and its result."""
    start = time.process_time()
    result = function(*args)
    return time.process_time() - start, result


def _cost_units(params: dict[str, Any]) -> float:
    """Relative size of a configuration: boosting rounds / trees count, everything else 1."""
    for key in ("n_estimators", "max_iter"):
        if key in params:
            return max(float(params[key]), 1.0) / 100.0
    return 1.0


def _grown(trial: TrialResult, factor: int = 1) -> dict[str, Any]:
    """``trial``'s hyperparameters with ``n_estimators`` at ``factor`` times the rounds it grew when early
    stopping ended it (its best round plus the patience), at most what it asked for."""
    params = dict(trial.hyperparameters)
    if trial.best_iteration and "n_estimators" in params:
        params["n_estimators"] = min(params["n_estimators"], factor * (trial.best_iteration + EARLY_STOPPING_ROUNDS))
    return params


SHRINK_SAFETY = 0.8
SHRINK_MIN_UNITS = 10


def shrink_to_fit(candidates: list[tuple[float, str, dict[str, Any]]], remaining: float,
                  overhead: float) -> tuple[str, dict[str, Any]] | None:
    """The search's last configuration when none of ``candidates`` (``(expected seconds, algorithm,
    params)``, sampled by TPE) fits the ``remaining`` seconds: the cheapest one with fewer rounds or trees,
    so that it is expected to take ``SHRINK_SAFETY`` of the time left, instead of leaving that time unused.
    None when no candidate has rounds or trees, or fewer than ``SHRINK_MIN_UNITS`` would fit."""
    sized = [(estimate, name, params, key) for estimate, name, params in candidates
             for key in ("n_estimators", "max_iter") if key in params]
    if not sized:
        return None
    estimate, name, params, key = min(sized, key=lambda c: c[0])
    available, variable = SHRINK_SAFETY * remaining - overhead, estimate - overhead
    if available <= 0 or variable <= 0:
        return None
    units = int(params[key] * available / variable)
    if units < SHRINK_MIN_UNITS:
        return None
    return name, {**params, key: units}


def sample_sizes(n_fit_rows: int) -> list[int | None]:
    """The row counts of the search's sample growth for splits that fit on ``n_fit_rows`` rows, smallest
    first, ``None`` (all rows) last; ``[None]`` below ``SAMPLE_MIN_ROWS``."""
    if n_fit_rows < SAMPLE_MIN_ROWS:
        return [None]
    sizes: list[int | None] = []
    size = SAMPLE_START
    while size * 1.5 < n_fit_rows:
        sizes.append(size)
        size *= SAMPLE_GROWTH
    return sizes + [None]


def target_array(y: np.ndarray, problem_type: str) -> np.ndarray:
    """Target values as the estimators and metrics need them: the task's :meth:`Task.target_array`."""
    return get_task(problem_type).target_array(y)


class Driver:
    """Runs one :class:`AutoMLJob`. Not reusable: create one per run."""

    def __init__(self, job, callbacks: Callbacks, executor: Any, workdir: str | Path | None):
        self.job = job
        self.config: JobConfig = job.config
        self.task = get_task(self.config.task)
        self.callbacks = callbacks
        self.user_executor = executor
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="automl-"))
        self.trials: list[TrialResult] = []
        self.status = "completed"
        # per algorithm: (rows fitted, seconds per unit on all rows) of each finished trial
        self.rates: dict[str, list[tuple[int, float]]] = {}
        self.overheads: list[float] = []
        self.sizes: list[int | None] = [None]
        self.n_fit_rows = 0
        self.models: dict[int, Any] = {}          # loaded models of the ensemble candidates, by trial number
        self.summary = None
        self.summary_seconds = 0.0
        self.final_costs: dict[str, float] | None = None   # measured by _measure_final_costs
        self.timings: dict[int, dict[str, Any]] = {}   # fit/predict seconds and rows reported by each trial

    # ------------------------------------------------------------------------------------------ helpers
    def log(self, level: str, message: str) -> None:
        if self.callbacks.on_log:
            self.callbacks.on_log(level, message)

    def should_stop(self) -> bool:
        return bool(self.callbacks.should_stop and self.callbacks.should_stop())

    def _emit(self, trial: TrialResult) -> None:
        if self.callbacks.on_trial:
            self.callbacks.on_trial(trial)

    # ------------------------------------------------------------------------------------------ data
    def prepare(self) -> None:
        """The task prepares the data (:meth:`Task.prepare`); the driver writes it for the trials, with the
        modules that register the run's plugins so that workers in other processes import them first."""
        prepared = self.task.prepare(self.job, self.log)
        for level, message in prepared.messages:
            self.log(level, message)
        self.prepared = prepared
        self.X, self.y, self.classes, self.meta = prepared.X, prepared.y, prepared.classes, prepared.meta
        self.validation, self.plans, self.guardrails = prepared.validation, prepared.plans, prepared.guardrails
        self.test, self.drop = prepared.test, prepared.drop
        self.imbalanced = bool(prepared.flags.get("imbalanced"))
        self.log_target = bool(prepared.flags.get("log_target"))
        self.algorithms = self.candidate_algorithms()
        self.meta["plugins"] = self._plugins(self.algorithms)
        write_prepared(self.workdir, prepared.X, prepared.y, prepared.splits, prepared.weights, self.meta)
        if self.callbacks.on_prepared:
            self.callbacks.on_prepared({"guardrails": self.guardrails, "validation": self.validation})
        self.data = PreparedData(X=prepared.X, y=prepared.y, splits=prepared.splits, weights=prepared.weights,
                                 meta=self.meta)
        self.n_fit_rows = max([len(train) for train, _ in prepared.splits.pairs] +
                              ([len(self.X)] if prepared.splits.refit else []))
        if self.task.row_sampling:
            self.sizes = sample_sizes(self.n_fit_rows)
        if len(self.sizes) > 1:
            self.log("info", f"{self.n_fit_rows:,} training rows: configurations are fitted on "
                             f"{', '.join(f'{s:,}' for s in self.sizes[:-1])} and then all rows as they prove "
                             "themselves (successive halving)")
        test = prepared.test
        self.log("info", f"prepared {len(self.X)} training rows, {self.X.shape[1]} columns; validation: "
                         f"{self.validation['reason']}; test rows: {0 if test is None else len(test)}")

    def _plugins(self, algos: list[Algorithm]) -> list[dict[str, str]]:
        """Modules a trial worker imports before evaluating: the task's and the plugins' (built-ins need none)."""
        from .executor import InlineExecutor

        origins = []
        task_module = type(self.task).__module__
        if not task_module.startswith("automl_engine."):
            origins.append(module_origin(task_module))
        for algo in algos:
            origin = plugin_origin(self.task.name, algo.name)
            if origin is not None:
                origins.append(origin)
        for origin in origins:
            if origin["module"] == "__main__" and not isinstance(self.executor, InlineExecutor):
                raise ConfigError("training.allowed_training_algorithms", (
                    "a plugin is registered in __main__ (a script or notebook): trial workers run in other "
                    "processes and cannot import it; define and register it in an importable module and import "
                    "that module, or block the algorithm"))
        unique = {o["module"]: o for o in origins}
        return list(unique.values())

    def candidate_algorithms(self) -> list[Algorithm]:
        config = self.config
        allowed = config.training.allowed_training_algorithms
        names = list(allowed) if allowed is not None else self.task.algorithm_names()
        out = []
        n_rows = len(self.X)
        for name in names:
            if name in config.training.blocked_training_algorithms:
                continue
            algo = get_algorithm(config.task, name)
            explicit = allowed is not None and name in allowed
            if algo.max_rows is not None and n_rows > algo.max_rows and not explicit:
                self.log("info", f"skipping {name}: {n_rows} rows > {algo.max_rows} (allow it explicitly to use it)")
                continue
            work = float(n_rows) ** 2 * self.X.shape[1]
            if algo.max_kernel_work is not None and work > algo.max_kernel_work and not explicit:
                self.log("info", f"skipping {name}: {n_rows} rows² × {self.X.shape[1]} columns = {work:.2g} kernel "
                                 f"entries > {algo.max_kernel_work:.2g} (allow it explicitly to use it)")
                continue
            if config.training.enable_onnx_compatible_models and not algo.onnx_convertible:
                self.log("info", f"skipping {name}: not ONNX-convertible")
                continue
            if config.weight_column_name and not algo.supports_sample_weight:
                self.log("warning", f"{name} takes no sample weights: its trials ignore {config.weight_column_name!r} "
                                    "(block it to use only weighted algorithms)")
            out.append(algo)
        if not out:
            raise ConfigError("training.allowed_training_algorithms", "no algorithm is left after the row limits, "
                                                                      "blocked list and ONNX restriction")
        return out

    # ------------------------------------------------------------------------------------------ search
    def _class_weight(self, algo: Algorithm) -> dict[str, Any]:
        if self.imbalanced and algo.supports_class_weight and \
                self.config.primary_metric == "norm_macro_recall":
            return {"class_weight": "balanced"}
        return {}

    def _suggest(self, study_trial, algo_names: list[str]) -> tuple[str, dict[str, Any]]:
        name = study_trial.suggest_categorical("algorithm", algo_names)
        algo = get_algorithm(self.config.task, name)
        params = algo.suggest(study_trial, len(self.X))
        if self.imbalanced and algo.supports_class_weight:
            params["class_weight"] = study_trial.suggest_categorical(f"{algo.prefix}.class_weight",
                                                                     [None, "balanced"])
        if self.log_target and algo.is_tree:
            # Trees predict within the range of the targets they saw, so expm1 of their output stays sane; a
            # linear model on log1p(y) is multiplicative, and its extrapolation grows exponentially.
            params["target_transform"] = study_trial.suggest_categorical(f"{algo.prefix}.target_transform",
                                                                         list(TARGET_TRANSFORMS))
        return name, params

    def _units(self, name: str, params: dict[str, Any]) -> float:
        """Size of a configuration in the units its algorithm's cost is given in: rounds or trees
        (:func:`_cost_units`), times the number of classes of a multiclass problem for an algorithm whose
        cost grows with it (``Algorithm.cost_per_class``). Without that factor, the 26 classes of a
        letter-recognition task made boosting and linear models look 26 times dearer per unit than they
        are, and the forests, estimated from their rates, were skipped as not fitting in the time left when
        they took seconds."""
        units = _cost_units(params)
        if self.classes is not None and len(self.classes) > 2 and get_algorithm(self.config.task, name).cost_per_class:
            units *= len(self.classes)
        return units

    def _row_share(self, sample_size: int | None) -> float:
        """The share of all training rows a trial at ``sample_size`` fits on: rates are kept per all rows."""
        return self._fit_rows(sample_size) / self.n_fit_rows if self.n_fit_rows else 1.0

    def _fit_rows(self, sample_size: int | None) -> int:
        return self.n_fit_rows if sample_size is None else min(sample_size, self.n_fit_rows)

    @staticmethod
    def _nearest_rate(measured: list[tuple[int, float]], rows: int) -> float:
        """Seconds per unit on all rows for a fit on ``rows`` rows, from the rates ``measured`` at the sizes
        trials fitted: the median rate at the largest size up to ``rows`` (at the smallest, when all are
        larger), carried to ``rows`` by the growth between the two largest sizes measured up to it.

        A fit's cost grows more slowly than its rows (binning, building a booster and starting its threads
        weigh most on a sample): on fertility a LightGBM took 2.4 s on 40,000 rows and 7.3 s on all 183,350
        with twice the rounds. Scaled in proportion to the rows from its 40,000-row rate, it was expected to
        take 24 s, and promising configurations were skipped as not fitting in the time left. The exponent
        is kept between ROW_COST_EXPONENT_MIN and 1 (in proportion to the rows, never more)."""
        by_size = {n: float(np.median([r for m, r in measured if m == n])) for n in {n for n, _ in measured}}
        below = sorted(n for n in by_size if n <= rows)
        if not below:
            return by_size[min(by_size)]
        top = below[-1]
        if len(below) < 2 or top == rows or min(by_size[top], by_size[below[-2]]) <= 0:
            return by_size[top]
        lower = below[-2]
        # a fit's seconds grow as rows ** exponent; the rate, per all rows, as rows ** (exponent - 1)
        exponent = 1 + np.log(by_size[top] / by_size[lower]) / np.log(top / lower)
        exponent = min(max(exponent, ROW_COST_EXPONENT_MIN), 1.0)
        return by_size[top] * (rows / top) ** (exponent - 1)

    def _estimate(self, name: str, params: dict[str, Any], sample_size: int | None = None) -> float | None:
        """Expected seconds of a configuration: the rate (seconds per unit on all rows) of its algorithm's
        finished trials, else of all finished trials scaled by the algorithms' cost hints, times its units
        and the share of the rows it fits on."""
        algo = get_algorithm(self.config.task, name)
        units = self._units(name, params) * self._row_share(sample_size)
        # What does not grow with the rows fitted or the model's size: loading the data, predicting and
        # scoring the validation rows, calibration, saving. On a sample it is most of a trial's time, and
        # scaled with the rows it made every larger configuration look many times too dear.
        overhead = float(np.median(self.overheads)) if self.overheads else 0.0
        rows = self._fit_rows(sample_size)
        if self.rates.get(name):
            return overhead + self._nearest_rate(self.rates[name], rows) * units
        per_cost = [(n, r / get_algorithm(self.config.task, a).cost) for a, rs in self.rates.items() for n, r in rs]
        if per_cost:
            return overhead + self._nearest_rate(per_cost, rows) * algo.cost * units
        return None

    # ------------------------------------------------------------------------------------------ final steps
    def _predict_seconds(self, trial: TrialResult, n_rows: int) -> float:
        """Expected seconds for ``trial``'s model to predict ``n_rows`` rows in one call, from its validation
        predictions (one call per split): the time of a call, scaled up only for more rows than it had (on
        small data a call's fixed cost, not its rows, is most of its time)."""
        info = self.timings.get(trial.number) or {}
        calls = max(1, len(self.data.splits.pairs))
        if not info.get("predict_rows"):
            return 0.05 + 2e-5 * n_rows
        per_call = info["predict_seconds"] / calls
        rows_per_call = info["predict_rows"] / calls
        return per_call * max(1.0, n_rows / rows_per_call)

    def _ranked(self) -> list[TrialResult]:
        greater = self.config.greater_is_better
        done = [t for t in self.trials if t.status == COMPLETED and t.score is not None and not math.isnan(t.score)]
        return sorted(done, key=lambda t: (-t.score if greater else t.score, t.number))

    def _candidate_order(self, ranked: list[TrialResult]) -> list[TrialResult]:
        """The ensemble candidates' order: best first, at most ENSEMBLE_PER_ALGORITHM of one algorithm
        while other algorithms are left (see :func:`~automl_engine.ensemble.spread_over_groups`)."""
        from .ensemble import spread_over_groups

        return [ranked[i] for i in spread_over_groups([t.algorithm for t in ranked], ENSEMBLE_PER_ALGORITHM)]

    def _final_estimate(self) -> dict[str, float]:
        """Seconds the steps after the search will take, from what this run measured so far: loading the
        ensemble candidates not loaded yet, selecting and stacking them, predicting the test rows with the
        models that are test-scored, the featurization summary and the explanation."""
        ranked = self._ranked()
        config = self.config
        candidates = self._candidate_order(ranked)[:ENSEMBLE_CANDIDATES]
        n_oof = len(self.data.oof_rows)
        # A candidate loaded during the search costs nothing more (its measured loading was counted here too,
        # and the first statistical model's, which imports statsforecast, kept 3 s of a 10 s run idle).
        load = sum(self._load_guess(t) for t in candidates if t.number not in self.models)
        ensembles = 0.0
        members = candidates[:STACK_MEMBERS]
        training = config.training
        if len(candidates) >= 2 and (training.enable_vote_ensemble or training.enable_stack_ensemble):
            costs = self.final_costs or self._measure_final_costs(candidates)
            # Each ensemble is scored and charted on all out-of-fold entries once.
            ensembles = 0.2
            if training.enable_vote_ensemble:
                # selection's rounds, and pruning's (at most one score per pair of candidates)
                rounds = ENSEMBLE_ITERATIONS + 1 + (len(candidates) / 2 if self.task.vote_prune_share > 0 else 0)
                # scored out of sample, once more per split on the other splits' entries: k selections in all
                n_splits = len(self.data.splits.pairs)
                selections = n_splits if self.task.vote_held_out and n_splits > 1 else 1
                ensembles += costs["score"] * len(candidates) * rounds * selections + costs["metrics"] + \
                    costs.get("calibration", 0.0)
            if training.enable_stack_ensemble:
                ensembles += costs["stack"] * len(members) + costs["metrics"]
        n_test = 0 if self.test is None else len(self.test)
        predict_models = members + ranked[:1]
        if config.training.enable_vote_ensemble:
            predict_models = predict_models + members
        test = (sum(self._predict_seconds(t, n_test) for t in predict_models) + 0.2) if n_test else 0.0
        summary = 0.0 if self.summary is not None else max(self.summary_seconds, 2e-6 * len(self.X) * self.X.shape[1])
        # The best trial's refit on all rows; an ensemble's other members are refitted if the time left allows.
        refit = self._refit_seconds(ranked[0]) if ranked and self._refittable(ranked[0]) else 0.0
        # The explanation is not reserved: it runs if the time left after the rest allows it, else the caller
        # computes it after the run (the studio queues the best trial's feature importance).
        return {"load": load, "ensembles": ensembles, "test": test, "summary": summary, "refit": refit}

    def _selection_scorer(self, y_oof: np.ndarray, entries: np.ndarray | None = None):
        """The primary metric of a blend of out-of-fold predictions, as ensemble selection scores it: on
        ``entries`` (default: all), a fixed random subset of SELECTION_MAX_ROWS of them on big data (selection
        scores many blends)."""
        rows = self.data.oof_rows
        pick = np.arange(len(y_oof)) if entries is None else np.asarray(entries)
        if len(pick) > SELECTION_MAX_ROWS:
            pick = np.sort(np.random.RandomState(self.config.random_state).choice(pick, SELECTION_MAX_ROWS,
                                                                                 replace=False))
        context = ScoringContext(meta=self.meta, X=self.X, rows=rows[pick], splits=self.data.oof_splits[pick],
                                 history=self.data)
        scorer_on_pick = self.task.selection_scorer(self.config.primary_metric, y_oof[pick], context)
        return lambda pred: scorer_on_pick(pred[pick])

    def _measure_final_costs(self, candidates: list[TrialResult]) -> dict[str, float]:
        """Seconds of the ensembles' unit steps, measured once on the best candidates' out-of-fold
        predictions: one selection score, a stack member's share of the meta-learner's fit, and the
        metrics and charts of one ensemble. They depend on the metric, the classes and the rows, not on the
        models, and vary by orders of magnitude (a 26-class AUC_weighted score takes 80 times an accuracy's):
        a formula in the rows and classes was off by a factor of ten either way."""
        from threadpoolctl import threadpool_limits

        y = self.y[self.data.oof_rows]
        context = self.data.context()
        try:
            oofs = [np.load(t.oof_path) for t in candidates[:STACK_MEMBERS]]
            with threadpool_limits(limits=1):  # as the final steps run
                scorer = self._selection_scorer(y)
                # Processor time, not wall time: the trial workers hold the cores while this runs, the final
                # steps run alone (fertility: 0.024 s a score by the clock, a reserve of 16.7 s, and the
                # final steps then took 1.4 s). The fastest of a few calls: the first one warms up.
                score = min(_cpu_seconds(scorer, oofs[i % len(oofs)])[0] for i in range(SCORE_TIMINGS))
                # The meta-learner on as many members as the stack takes (the candidates so far, repeated): its
                # fit costs mostly the same whatever their number, so timing it on two and scaling by members
                # reserved two and a half times its time, a quarter of a 10 s budget.
                members = [oofs[i % len(oofs)] for i in range(STACK_MEMBERS)]
                seconds, (_, stacked) = _cpu_seconds(self.task.fit_stacker, members, y, context,
                                                     self.config.random_state)
                stack = seconds / STACK_MEMBERS
                metrics = _cpu_seconds(self.task.compute_metrics, y, stacked, context)[0] + \
                    _cpu_seconds(self.task.compute_charts, y, stacked, context)[0]
                # The vote's calibration map, chosen on predictions of its shape (an empty vote holds it).
                empty = self.task.assemble_ensemble("voting", [], weights=[], classes=self.classes)
                calibration = _cpu_seconds(self.task.calibrate_ensemble, empty, y, stacked, context,
                                           self.config.primary_metric, self.config.greater_is_better,
                                           self.config.random_state)[0]
        except Exception as exc:  # the ensembles will meet (and report) the same failure; plan generously
            self.log("warning", f"final steps could not be measured ({type(exc).__name__}: {exc}); "
                                "reserving for slow ones")
            score, stack, metrics, calibration = 0.05, 1.0, 2.0, 1.0
        self.final_costs = {"score": score, "stack": stack, "metrics": metrics, "calibration": calibration}
        self.log("info", "final steps measured: {:.4f} s a selection score, {:.2f} s a stack member, {:.2f} s "
                         "an ensemble's metrics and charts, {:.2f} s the vote's calibration".format(
                             score, stack, metrics, calibration))
        return self.final_costs

    def _load_guess(self, trial: TrialResult) -> float:
        try:
            size = Path(trial.model_path).stat().st_size
        except (OSError, TypeError):
            return 0.1
        return 0.02 + size / 150e6

    def reserve(self) -> float:
        """Seconds kept free at the end of the budget for the final steps (see :meth:`_final_estimate`)."""
        return self._reserves()[0]

    def _reserves(self) -> tuple[float, float]:
        """The reserve, and the smaller one a running trial of an algorithm with no finished trial may eat into:
        the final steps' estimate without the safety factor (at least :data:`MIN_RESERVE_SECONDS`)."""
        steps = self._final_estimate()
        refit = steps.pop("refit")  # measured on the configuration itself: no safety factor (see REFIT_SUFFIX)
        estimate = sum(steps.values()) + FINAL_FIXED_SECONDS
        floor = max(MIN_RESERVE_SHARE * self.budget, MIN_RESERVE_SECONDS)
        reserve = min(max(FINAL_SAFETY * estimate, floor) + refit, 0.5 * self.budget)
        return reserve, min(max(estimate + refit, MIN_RESERVE_SECONDS), reserve)

    def _plan_deadlines(self) -> None:
        reserve, grace = self._reserves()
        self.search_deadline = self.deadline - reserve
        self.grace_deadline = self.deadline - grace

    def _trial_limit(self, info: dict, finished: set[str]) -> float:
        """When the running trial of ``info`` is cut, given the algorithms with a ``finished`` trial: before any
        has finished, half a second before the deadline (the time kept for ensembles is worth more to a running
        trial than to nothing); the first model of an algorithm not finished yet at the grace deadline (see
        :data:`FINAL_SAFETY`); any other at the search deadline."""
        if not finished:
            return self.deadline - 0.5
        return self.search_deadline if info["task"].algorithm in finished else self.grace_deadline

    def _fits(self, seconds: float) -> bool:
        return time.time() + seconds <= self.deadline

    def _cache_models(self) -> None:
        """Keep the ensemble candidates' models loaded as the search goes (their loading is then no longer
        part of the final steps); models that fell out of the candidates are dropped."""
        import joblib

        wanted = [t for t in self._candidate_order(self._ranked())[:ENSEMBLE_CANDIDATES] if t.model_path]
        keep = {t.number for t in wanted}
        for number in list(self.models):
            if number not in keep:
                del self.models[number]
        for t in wanted:
            if t.number not in self.models:
                self.models[t.number] = joblib.load(t.model_path)
                return  # one per poll: the loop keeps feeding the workers

    def _model(self, trial: TrialResult):
        import joblib

        if trial.number not in self.models:
            self.models[trial.number] = joblib.load(trial.model_path)
        return self.models[trial.number]

    def _next_promotion(self, promoted: set, running: dict) -> tuple[TrialResult, int | None] | None:
        """The trial whose configuration is fitted on more rows next, and that row count (asynchronous
        successive halving): at each sample size, from the largest down, the best trial among the top third
        (at least the best one) of the completed trials at that size that has not been promoted yet."""
        for level in range(len(self.sizes) - 2, -1, -1):
            size = self.sizes[level]
            at_level = [t for t in self._ranked() if t.sample_size == size]
            quota = max(1, len(at_level) // PROMOTE_SHARE)
            for t in at_level[:quota]:
                key = (t.algorithm, json.dumps(t.hyperparameters, sort_keys=True, default=str), level)
                if key not in promoted:
                    promoted.add(key)
                    return t, self.sizes[level + 1]
        return None

    def _promotion_estimate(self, trial: TrialResult, size: int | None) -> float | None:
        """Expected seconds of ``trial``'s configuration on ``size`` rows: for a booster that early stopping
        ended, PROMOTION_ROUND_GROWTH times the rounds it grew (at most its n_estimators), not all it asked."""
        return self._estimate(trial.algorithm, _grown(trial, PROMOTION_ROUND_GROWTH), size)

    def search(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        config = self.config
        limits = config.limits
        greater = config.greater_is_better
        names = [a.name for a in self.algorithms]
        first_size = self.sizes[0]
        queue = [(n, {**p, **self._class_weight(get_algorithm(config.task, n))}, first_size)
                 for n, p in self.task.portfolio(self.prepared.flags) if n in names]
        promoted: set = set()
        waiting: list = []   # dear portfolio configurations, tried after the cheaper ones
        waited = False
        sampling = len(self.sizes) > 1
        if sampling:
            # The algorithms' large-data configurations come right after the first (cheapest) default: on
            # large data they are the better start, and the budget rarely reaches the end of the portfolio.
            extra = [(name, {**p, **self._class_weight(get_algorithm(config.task, name))}, first_size)
                     for name in names for p in get_algorithm(config.task, name).large_data_portfolio.get(config.task, [])]
            queue[1:1] = extra
        planned_at = 0.0
        concurrency = limits.max_concurrent_trials
        n_threads = self.n_threads
        executor = self.executor
        trial_timeout = limits.trial_timeout_minutes * 60 if limits.trial_timeout_minutes else None
        running: dict[str, dict[str, Any]] = {}
        number = 0
        best: float | None = None
        since_improvement = 0
        study = None
        tpe_names: list[str] = []
        settled: set[str] = set()
        tpe_best: dict[str, float] = {}
        tpe_stale: dict[str, int] = {}
        stop_reason = None
        graced = False
        search_started = time.time()
        fallback = queue[0][:2] if queue and self.task.row_sampling and self.n_fit_rows > FALLBACK_ROWS else None
        try:
            while True:
                now = time.time()
                if now - planned_at > 0.5:
                    # The final steps' reserve follows what the run has measured (and the machine's load).
                    self._plan_deadlines()
                    planned_at = now
                if self.should_stop():
                    self.status, stop_reason = "canceled", "canceled by the caller"
                    break
                finished = {t.algorithm for t in self.trials if t.status == COMPLETED}
                if now >= self.search_deadline and all(now >= self._trial_limit(info, finished)
                                                       for info in running.values()):
                    stop_reason = "timeout reached"
                    break
                if now >= self.search_deadline and not graced:
                    graced = True
                    for info in running.values():
                        if finished and info["task"].algorithm not in finished:
                            self.log("info", f"trial {info['task'].number} {info['task'].algorithm}, the first of "
                                             f"its algorithm, may run {self.grace_deadline - now:.1f} s into the "
                                             "final steps' reserve")
                for handle, info in list(running.items()):
                    # A trial stops at its own timeout, or when the search's time is up (the search deadline
                    # moves as the final steps' estimate does).
                    budget_limit = self._trial_limit(info, finished)
                    own = info["own_timeout"] and info["deadline"] <= budget_limit and now >= info["deadline"]
                    if own or now >= budget_limit:
                        executor.cancel(handle)
                        del running[handle]
                        self._record(TrialOutcome(
                            number=info["task"].number, status=TIMED_OUT if own else CUT_BY_BUDGET,
                            algorithm=info["task"].algorithm,
                            hyperparameters=info["task"].hyperparameters, started_at=info["started_at"],
                            finished_at=now_iso(), duration_seconds=round(now - info["start"], 3),
                            error=f"stopped after {now - info['start']:.1f} s " +
                                  ("(trial timeout)" if own else "(the run's time budget ran out)")), info)
                        if info["study_trial"] is not None:
                            info["study"].tell(info["study_trial"], state=optuna.trial.TrialState.FAIL)
                for handle, outcome in executor.poll():
                    info = running.pop(handle, None)
                    if info is None:
                        continue
                    if isinstance(outcome, dict):
                        outcome = TrialOutcome.from_dict(outcome)
                    trial = self._record(outcome, info)
                    ok = trial.status == COMPLETED and trial.score is not None and not math.isnan(trial.score)
                    if ok:
                        # Early stopping ended it sooner: its rate is per round actually grown.
                        units = self._units(trial.algorithm, _grown(trial)) * self._row_share(trial.sample_size)
                        fit = (self.timings.get(trial.number) or {}).get("fit_seconds")
                        if fit is None:  # an executor that does not report the split of its time
                            fit = trial.duration_seconds
                        else:
                            self.overheads.append(max(trial.duration_seconds - fit, 0.0))
                        self.rates.setdefault(trial.algorithm, []).append(
                            (self._fit_rows(trial.sample_size), fit / units))
                        planned_at = 0.0
                    if info["study_trial"] is not None:
                        if ok:
                            info["study"].tell(info["study_trial"], trial.score)
                        else:
                            info["study"].tell(info["study_trial"], state=optuna.trial.TrialState.FAIL)
                        if ok and self._settles(trial, tpe_best, tpe_stale, settled, names):
                            settled.add(trial.algorithm)
                            self.log("info", f"{trial.algorithm} leaves the model-based search: its last "
                                             f"{SETTLE_TRIALS} trials did not improve its best "
                                             f"({tpe_best[trial.algorithm]:.6g}) by {SETTLE_TOLERANCE:.1%}")
                            study = None  # started again below without it, from every result so far
                    if ok and is_better(trial.score, best, greater):
                        best = trial.score
                        since_improvement = 0
                    else:
                        since_improvement += 1
                    done = sum(1 for t in self.trials if not t.is_ensemble)
                    if limits.exit_score is not None and best is not None and (
                            best >= limits.exit_score if greater else best <= limits.exit_score):
                        stop_reason = f"exit score {limits.exit_score} reached"
                    elif limits.enable_early_termination and not sampling and \
                            done >= EARLY_TERMINATION_MIN_TRIALS and since_improvement >= EARLY_TERMINATION_PATIENCE:
                        # (Not while sample growth runs: trials on samples rarely beat the best on all rows,
                        # yet they are what decides which configurations get more rows.)
                        stop_reason = f"early termination: no improvement in the last {EARLY_TERMINATION_PATIENCE} trials"
                if stop_reason:
                    break
                if fallback is not None and running and number < limits.max_trials \
                        and not any(t.status == COMPLETED for t in self.trials) \
                        and now >= search_started + FALLBACK_SHARE * (self.search_deadline - search_started):
                    name, params = fallback
                    fallback = None
                    self.log("info", f"no trial has finished in half the search time: trial {number} fits {name} "
                                     f"on a {FALLBACK_ROWS:,}-row sample beside the running ones, so that the run "
                                     "ends with a model")
                    task = TrialTask(number=number, algorithm=name, hyperparameters=params, workdir=str(self.workdir),
                                     timeout_seconds=round(max(self.deadline - 0.5 - now, 1.0), 3), n_jobs=n_threads,
                                     random_state=config.random_state, sample_size=FALLBACK_ROWS)
                    if hasattr(executor, "n_workers") and self.user_executor is None:
                        executor.n_workers += 1  # our own pool: one more process, the running trials keep theirs
                    handle = executor.submit(task)
                    running[handle] = {"task": task, "start": now, "started_at": now_iso(),
                                       "deadline": self.deadline - 0.5, "study_trial": None, "own_timeout": False}
                    number += 1
                self._cache_models()
                if self.summary is None and running and len(running) >= concurrency:
                    # Needed at the end in any case: computed while the workers are busy, not after them.
                    start = time.time()
                    self.summary = self.task.featurization_summary(self.meta, self.plans, self.X,
                                                                   config.random_state)
                    self.summary_seconds = time.time() - start
                if number >= limits.max_trials and not running:
                    stop_reason = "max_trials reached"
                    break
                while len(running) < concurrency and number < limits.max_trials and \
                        time.time() < self.search_deadline:
                    remaining = self.search_deadline - time.time()
                    study_trial = None
                    promotion = self._next_promotion(promoted, running) if sampling else None
                    if promotion is not None:
                        promoted_trial, size = promotion
                        name, params = promoted_trial.algorithm, dict(promoted_trial.hyperparameters)
                        estimate = self._promotion_estimate(promoted_trial, size)
                        if estimate is not None and estimate > remaining:
                            continue
                    elif queue or waiting:
                        if not queue:
                            # Only the dear configurations are left: each runs now if it still fits.
                            queue, waiting, waited = waiting, [], True
                        name, params, size = queue.pop(0)
                        estimate = self._estimate(name, params, size)
                        if estimate is not None and estimate > remaining and number > 0:
                            self.log("info", f"portfolio configuration {name} {params} skipped: about "
                                             f"{estimate:.1f} s expected, {remaining:.1f} s left for the search")
                            continue
                        if not waited and estimate is not None and estimate > DEFER_SHARE * remaining:
                            waiting.append((name, params, size))
                            self.log("info", f"portfolio configuration {name} {params} waits for the cheaper "
                                             f"ones: about {estimate:.1f} s expected, over {DEFER_SHARE:.0%} of "
                                             f"the {remaining:.1f} s left for the search")
                            continue
                    else:
                        size = first_size
                        if study is None:
                            study, tpe_names = self._start_study([n for n in names if n not in settled], greater)
                            if study is None:
                                break
                        study_trial, name, params = None, None, None
                        too_long = []
                        for _ in range(20):
                            candidate = study.ask()
                            name, params = self._suggest(candidate, tpe_names)
                            estimate = self._estimate(name, params, size)
                            if estimate is not None and estimate > remaining:
                                study.tell(candidate, state=optuna.trial.TrialState.PRUNED)
                                too_long.append((estimate, name, params))
                                continue
                            study_trial = candidate
                            break
                        if study_trial is None:
                            # The time left would go unused: the cheapest sampled configuration with fewer
                            # rounds or trees still adds a model (outside the study: TPE learns from the
                            # configurations it asked for).
                            shrunk = shrink_to_fit(too_long, remaining,
                                                   float(np.median(self.overheads)) if self.overheads else 0.0)
                            if shrunk is None:
                                break
                            name, params = shrunk
                            self.log("info", f"no sampled configuration fits the {remaining:.1f} s left for the "
                                             f"search: {name} with fewer rounds or trees ({params}) instead")
                    per_trial = remaining if trial_timeout is None else min(trial_timeout, remaining)
                    task = TrialTask(number=number, algorithm=name, hyperparameters=params,
                                     workdir=str(self.workdir), timeout_seconds=round(per_trial, 3),
                                     n_jobs=n_threads, random_state=config.random_state, sample_size=size)
                    handle = executor.submit(task)
                    start = time.time()
                    running[handle] = {"task": task, "start": start, "started_at": now_iso(),
                                       "deadline": start + (trial_timeout if trial_timeout is not None
                                                            else per_trial),
                                       "study_trial": study_trial, "study": study,
                                       "own_timeout": trial_timeout is not None}
                    number += 1
                if not running:
                    stop_reason = ("max_trials reached" if number >= limits.max_trials
                                   else "timeout reached" if time.time() >= self.search_deadline
                                   else "no configuration fits the remaining time")
                    break
                time.sleep(POLL_SECONDS)
        finally:
            for handle, info in running.items():
                # Our own pool is shut down below, busy workers included; cancelling first would start a
                # replacement process per trial only to stop it again, costing a second of the ensembles' time.
                if self.user_executor is not None:
                    executor.cancel(handle)
                now = time.time()
                cut = stop_reason == "timeout reached"
                self._record(TrialOutcome(
                    number=info["task"].number, status=CUT_BY_BUDGET if cut else CANCELED,
                    algorithm=info["task"].algorithm,
                    hyperparameters=info["task"].hyperparameters, started_at=info["started_at"],
                    finished_at=now_iso(), duration_seconds=round(now - info["start"], 3),
                    error="stopped: the run's time budget ran out" if cut else
                          f"stopped: the run ended ({stop_reason or 'an error'})"), info)
            if self.user_executor is None:
                executor.shutdown()
        self.log("info", f"search finished after {number} trials: {stop_reason or 'done'}")

    def _settles(self, trial: TrialResult, best: dict[str, float], stale: dict[str, int], settled: set[str],
                 names: list[str]) -> bool:
        """Count ``trial``, a finished model-based trial, against its algorithm; True when the algorithm has
        had :data:`SETTLE_TRIALS` trials in a row without improving its best by :data:`SETTLE_TOLERANCE`
        and another algorithm can take its place."""
        name, score = trial.algorithm, trial.score
        greater = self.config.greater_is_better
        previous = best.get(name)
        bound = None if previous is None else previous + (1 if greater else -1) * SETTLE_TOLERANCE * abs(previous)
        stale[name] = 0 if is_better(score, bound, greater) else stale.get(name, 0) + 1
        if is_better(score, previous, greater):
            best[name] = score
        return stale[name] >= SETTLE_TRIALS and any(n not in settled and n != name for n in names)

    def _start_study(self, names: list[str], greater: bool):
        """Optuna TPE over the most promising algorithms, warm-started with the portfolio's results."""
        import optuna

        best_by_algo: dict[str, float] = {}
        # The study samples configurations for the smallest sample size: it learns from trials of that size.
        first = [t for t in self.trials if t.sample_size == self.sizes[0]]
        for t in first:
            if t.status == COMPLETED and t.score is not None and not math.isnan(t.score):
                if t.algorithm not in best_by_algo or is_better(t.score, best_by_algo[t.algorithm], greater):
                    best_by_algo[t.algorithm] = t.score
        ranked = sorted(best_by_algo, key=lambda n: best_by_algo[n], reverse=greater)
        tpe_names = [n for n in ranked if n in names][:TPE_ALGORITHMS]
        if not tpe_names:
            tpe_names = names[:TPE_ALGORITHMS]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate/group are flagged experimental by Optuna
            sampler = optuna.samplers.TPESampler(seed=self.config.random_state, n_startup_trials=5,
                                                 constant_liar=True, multivariate=True, group=True)
            study = optuna.create_study(direction="maximize" if greater else "minimize", sampler=sampler)
            for t in first:
                if t.algorithm in tpe_names and t.status == COMPLETED and t.score is not None \
                        and not math.isnan(t.score):
                    prefix = get_algorithm(self.config.task, t.algorithm).prefix
                    fixed = {"algorithm": t.algorithm,
                             **{f"{prefix}.{k}": v for k, v in t.hyperparameters.items()}}
                    if self.imbalanced and get_algorithm(self.config.task, t.algorithm).supports_class_weight:
                        fixed.setdefault(f"{prefix}.class_weight", None)
                    if self.log_target and get_algorithm(self.config.task, t.algorithm).is_tree:
                        fixed.setdefault(f"{prefix}.target_transform", None)
                    study.enqueue_trial(fixed, skip_if_exists=False)
                    warm = study.ask()
                    self._suggest(warm, tpe_names)
                    study.tell(warm, t.score)
        self.log("info", f"model-based search (TPE) over {tpe_names}")
        return study, tpe_names

    def _record(self, outcome: TrialOutcome, info: dict[str, Any] | None) -> TrialResult:
        metrics = outcome.metrics or {}
        score = metrics.get(self.config.primary_metric) if outcome.status == COMPLETED else None
        trial = TrialResult(
            number=outcome.number, algorithm=outcome.algorithm,
            pipeline_name=outcome.pipeline_name or outcome.algorithm, featurization=outcome.featurization,
            hyperparameters=outcome.hyperparameters, metrics=metrics, score=score, charts=outcome.charts or {},
            test_metrics=None, test_charts=None, duration_seconds=outcome.duration_seconds, status=outcome.status,
            error=outcome.error, is_ensemble=False, model_path=outcome.model_path,
            started_at=outcome.started_at, finished_at=outcome.finished_at,
            sample_size=outcome.sample_size if outcome.status == COMPLETED else
            (info["task"].sample_size if info else None),
            best_iteration=outcome.best_iteration, calibration=outcome.calibration)
        trial.oof_path = outcome.oof_path  # type: ignore[attr-defined]  (driver-side only)
        if outcome.predict_rows:
            self.timings[trial.number] = {"predict_seconds": outcome.predict_seconds,
                                          "predict_rows": outcome.predict_rows, "fit_seconds": outcome.fit_seconds}
        self.trials.append(trial)
        level = "info" if trial.status == COMPLETED else "warning"
        self.log(level, f"trial {trial.number} {trial.pipeline_name}: {trial.status}"
                        + (f" {self.config.primary_metric}={score:.5f}" if score is not None else "")
                        + (f" ({trial.error.splitlines()[0]})" if trial.error else ""))
        self._emit(trial)
        return trial

    # ------------------------------------------------------------------------------------------ ensembles
    def ensembles(self) -> list[TrialResult]:
        import joblib
        from .ensemble import distinct_predictions

        config = self.config
        greater = config.greater_is_better
        done = [t for t in self.trials if t.status == COMPLETED and t.score is not None and not math.isnan(t.score)]
        done.sort(key=lambda t: (-t.score if greater else t.score, t.number))
        task = self.task
        rows = self.data.oof_rows
        # Trials that predict the same as a better one (a search revisiting a configuration, or hyperparameters
        # that do not change the fit: LassoLars alphas below the end of its LARS path) add nothing to an
        # ensemble; kept, each copy took a seat among the candidates and a vote in the sorted initialisation,
        # so one model could fill the stack and most of the vote. Variants of one algorithm are held to a few
        # seats while other algorithms are left, for the same reason.
        done = self._candidate_order(done)
        distinct = distinct_predictions((np.load(t.oof_path) for t in done), ENSEMBLE_CANDIDATES)
        candidates, oofs = [done[i] for i, _ in distinct], [oof for _, oof in distinct]
        if len(candidates) < 2:
            return []
        y = self.y[rows]
        context = self.data.context()
        scorer = self._selection_scorer(y)
        out = []
        number = max(t.number for t in self.trials) + 1
        if config.training.enable_vote_ensemble and self._fits(self._after("voting")):
            start = time.time()
            weights = self._vote(candidates, oofs, scorer)
            members = [(t, w, o) for t, w, o in zip(candidates, weights, oofs) if w > 0]
            pred = sum(w * o for _, w, o in members)
            if task.vote_held_out:
                held = self._vote_held_out(candidates, oofs, y)
                pred = pred if held is None else held
            model = task.assemble_ensemble("voting", [self._model(t) for t, _, _ in members],
                                           weights=[w for _, w, _ in members], classes=self.classes)
            model, pred, calibration = task.calibrate_ensemble(model, y, pred, context, config.primary_metric,
                                                               greater, config.random_state)
            model = task.finish_model(model, y, pred, context)
            out.append(self._ensemble_trial(number, "VotingEnsemble", model, pred, y, start, {
                "members": [t.number for t, _, _ in members], "weights": [round(w, 4) for _, w, _ in members]},
                calibration))
            number += 1
        else:
            self.log("info", "voting ensemble skipped: it would not finish within the time budget")
        if config.training.enable_stack_ensemble and self._fits(self._after("stacking")):
            start = time.time()
            members = candidates[:STACK_MEMBERS]
            meta, cv_pred = task.fit_stacker(oofs[:STACK_MEMBERS], y, context, config.random_state)
            model = task.assemble_ensemble("stacking", [self._model(t) for t in members],
                                           meta_learner=meta, classes=self.classes)
            model = task.finish_model(model, y, cv_pred, context)
            out.append(self._ensemble_trial(number, "StackEnsemble", model, cv_pred, y, start, {
                "members": [t.number for t in members],
                "meta_learner": task.meta_learner_name}))
        elif config.training.enable_stack_ensemble:
            self.log("info", "stack ensemble skipped: it would not finish within the time budget")
        return out

    def _vote(self, candidates: list[TrialResult], oofs: list[np.ndarray], scorer, log: bool = True) -> list[float]:
        """The voting weights over ``candidates`` that maximise ``scorer``, pruned by cost when the task says so."""
        weights = self.task.vote_weights(oofs, scorer, self.config.greater_is_better)
        if self.task.vote_prune_share > 0:
            weights = self._prune_vote(candidates, oofs, weights, scorer, log)
        return weights

    def _vote_held_out(self, candidates: list[TrialResult], oofs: list[np.ndarray], y: np.ndarray) -> np.ndarray | None:
        """The voting ensemble's out-of-sample predictions: each validation split's entries blended with the
        weights selected on the other splits' entries (None with a single split). Its score is then as honest
        as a single trial's, so the run prefers a blend only when its gain holds on data it was not chosen on."""
        splits = np.asarray(self.data.oof_splits)
        names = np.unique(splits)
        if len(names) < 2:
            return None
        held = np.zeros_like(np.asarray(oofs[0], dtype=float))
        for name in names:
            inside = splits == name
            weights = self._vote(candidates, oofs, self._selection_scorer(y, np.flatnonzero(~inside)), log=False)
            held[inside] = sum(w * o[inside] for w, o in zip(weights, oofs) if w > 0)
        return held

    def _prune_vote(self, candidates: list[TrialResult], oofs: list[np.ndarray], weights: list[float],
                    scorer, log: bool = True) -> list[float]:
        """The voting weights after :func:`~automl_engine.ensemble.prune_by_cost` with the task's share, the
        members' costs being their validation prediction time per call; the run's log says what was dropped."""
        from .ensemble import prune_by_cost

        costs = [self._predict_seconds(t, 0) for t in candidates]
        pruned = prune_by_cost(oofs, weights, costs, scorer, self.config.greater_is_better, self.task.vote_prune_share)
        dropped = [t for t, w, p in zip(candidates, weights, pruned) if w > 0 and p == 0]
        if dropped and log:
            saved = sum(c for c, w, p in zip(costs, weights, pruned) if w > 0 and p == 0)
            kept = sum(c for c, p in zip(costs, pruned) if p > 0)
            names = ", ".join(f"{t.algorithm} (trial {t.number})" for t in dropped)
            self.log("info", f"voting ensemble: left out {names}, {saved:.3f} s of prediction per call for less than "
                             f"{self.task.vote_prune_share:.0%} of its gain over the best model ({kept:.3f} s kept)")
        return pruned

    def _member_trials(self, trial: TrialResult) -> list[TrialResult]:
        if not trial.is_ensemble:
            return [trial]
        numbers = set(trial.hyperparameters.get("members", []))
        return [t for t in self.trials if t.number in numbers and not t.is_ensemble]

    def _test_seconds(self, trial: TrialResult, n_rows: int) -> float:
        return sum(self._predict_seconds(t, n_rows) for t in self._member_trials(trial)) + 0.1

    def _explain_seconds(self, trial: TrialResult) -> float:
        """The explanation's expected seconds: permutation importance predicts 200 rows twice per column and
        once more, through every member of an ensemble (a tree model's SHAP values, and a member's
        engineered-feature importance in front of its estimator, cost less)."""
        members = self._member_trials(trial)
        calls = 2 * self.X.shape[1] + 1
        per_call = sum(self._predict_seconds(t, 200) for t in members)
        return 0.3 + calls * per_call

    def _after(self, step: str) -> float:
        """Seconds needed from now to finish ``step`` and what must follow it (the best model's test scores)."""
        est = self._final_estimate()
        ranked = self._ranked()
        n_test = 0 if self.test is None else len(self.test)
        best_test = self._predict_seconds(ranked[0], n_test) if ranked and n_test else 0.0
        share = {"voting": 0.5, "stacking": 0.5}[step]
        return FINAL_SAFETY * (share * (est["ensembles"] + est["test"]) + best_test) + FINAL_FIXED_SECONDS

    def _ensemble_trial(self, number: int, name: str, model, pred, y, start: float, params,
                        calibration: dict[str, Any] | None = None) -> TrialResult:
        import joblib

        trial_dir = self.workdir / "trials" / str(number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        model_path = trial_dir / "model.pkl"
        joblib.dump(model, model_path)
        self.models[number] = model
        np.save(trial_dir / "oof.npy", pred)
        context = self.data.context()
        metrics = self.task.compute_metrics(y, pred, context)
        trial = TrialResult(
            number=number, algorithm=name, featurization="per member",
            # named as a calibrated trial is (automl_engine.trial)
            pipeline_name=name + (f", {calibration['method']} calibration" if calibration else ""),
            hyperparameters=params, metrics=metrics, score=metrics.get(self.config.primary_metric),
            charts=self.task.compute_charts(y, pred, context),
            test_metrics=None, test_charts=None, duration_seconds=round(time.time() - start, 3), status=COMPLETED,
            error=None, is_ensemble=True, model_path=str(model_path), started_at=now_iso(), finished_at=now_iso(),
            calibration=calibration)
        trial.oof_path = str(trial_dir / "oof.npy")  # type: ignore[attr-defined]
        return trial

    # ------------------------------------------------------------------------------------------ refit
    def _refits(self) -> bool:
        """Whether the final model is refitted on all rows after the search: when its trials validated on a
        holdout split off the training data (the automatic 10% on large data, or ``validation_data_size``).
        Cross-validation trials are refitted on all rows already; rows given as ``validation_data`` stay out
        of training, as the user set them apart."""
        return not self.data.splits.refit and self.validation.get("source") != "validation_data"

    def _refittable(self, trial: TrialResult) -> bool:
        """A trial whose model can be refitted: fitted on all of the training part (not on a sample, whose
        configuration was validated at that size) with its fit time measured."""
        return (self._refits() and not trial.is_ensemble and trial.sample_size is None and bool(trial.model_path)
                and (self.timings.get(trial.number) or {}).get("fit_seconds") is not None)

    def _refit_seconds(self, trial: TrialResult) -> float:
        """Expected seconds of refitting ``trial`` on all rows and saving it: its own fit on the training part,
        in proportion to the rows, for the rounds early stopping kept of those it grew (it also predicted the
        validation rows after each), with as many threads as it had (the refit gets all the run's)."""
        grown = _grown(trial).get("n_estimators")
        rounds = min(1.0, trial.best_iteration / grown) if trial.best_iteration and grown else 1.0
        fit = self.timings[trial.number]["fit_seconds"] * len(self.X) / self.n_fit_rows * rounds
        return fit + 2 * self._load_guess(trial)

    def _refit_final(self, best: TrialResult) -> None:
        """Refit the best model on all rows after a holdout search, which fitted it on the training part alone:
        a single trial, or an ensemble's members, largest weight first, each when it is expected to finish
        before the time the test scores need. A refitted trial's model is the refitted one, and its name says
        so; its metrics stay those of the holdout. An ensemble is assembled again over its members as refitted
        (weights, meta-learner and probability map as chosen)."""
        import joblib

        from .trial import refit_on_all_rows

        members = self._member_trials(best)
        if best.is_ensemble:
            numbers = list(best.hyperparameters.get("members", []))
            weights = dict(zip(numbers, best.hyperparameters.get("weights", [1.0] * len(numbers))))
            members.sort(key=lambda t: -weights.get(t.number, 0.0))
        n_test = 0 if self.test is None else len(self.test)
        after = FINAL_SAFETY * (self._test_seconds(best, n_test) if n_test else 0.0) + FINAL_FIXED_SECONDS
        n_jobs = max(1, min(self.n_threads * self.config.limits.max_concurrent_trials, os.cpu_count() or 1))
        refitted: dict[int, Any] = {}
        for trial in members:
            if not self._refittable(trial):
                continue
            expected = self._refit_seconds(trial)
            if not self._fits(expected + after):
                self.log("info", f"refit of trial {trial.number} {trial.algorithm} on all rows skipped: about "
                                 f"{expected:.1f} s expected, {max(self.deadline - time.time() - after, 0):.1f} s "
                                 "left of the budget; its model is the one fitted on the training part")
                continue
            start = time.time()
            try:
                model = refit_on_all_rows(self.data, self._model(trial), trial.algorithm, trial.hyperparameters,
                                          trial.best_iteration, n_jobs, self.config.random_state)
                path = Path(trial.model_path).with_name("refit.pkl")
                joblib.dump(model, path)
            except Exception as exc:  # the model fitted on the training part is still a good one
                self.log("warning", f"refit of trial {trial.number} {trial.algorithm} on all rows failed "
                                    f"({type(exc).__name__}: {exc}); its model is the one fitted on the training part")
                continue
            self.models[trial.number] = refitted[trial.number] = model
            trial.model_path = str(path)
            trial.pipeline_name += REFIT_SUFFIX
            asked = trial.hyperparameters.get("n_estimators")
            rounds = (f", {trial.best_iteration} of its {asked} rounds (early stopping's)"
                      if trial.best_iteration and asked and trial.best_iteration < asked else "")
            self.log("info", f"trial {trial.number} {trial.algorithm} refitted on all {len(self.X):,} rows{rounds} in "
                             f"{time.time() - start:.1f} s (about {expected:.1f} s expected)")
            self._emit(trial)
        if best.is_ensemble and refitted:
            model = self._model(best)
            ensemble = model.steps[-1][1]
            numbers = best.hyperparameters["members"]
            ensemble.estimators = [refitted.get(n, m) for n, m in zip(numbers, ensemble.estimators)]
            path = Path(best.model_path).with_name("refit.pkl")
            joblib.dump(model, path)
            best.model_path = str(path)
            share = "" if len(refitted) == len(numbers) else f" {len(refitted)} of {len(numbers)}"
            best.pipeline_name += f",{share} members refitted on all rows"

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> AutoMLResult:
        import joblib

        started = time.time()
        config = self.config
        budget = config.limits.timeout_minutes * 60.0
        self.budget = budget
        self.deadline = started + budget
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=1, default=str))
        concurrency = config.limits.max_concurrent_trials
        self.n_threads = config.limits.threads_per_trial()
        self.executor = self.user_executor
        if self.executor is None:
            from .executor import LocalProcessExecutor

            # Started before data preparation so worker start-up overlaps it.
            self.executor = LocalProcessExecutor(n_workers=concurrency, n_threads=self.n_threads).start()
        try:
            self.prepare()
        except BaseException:
            if self.user_executor is None:
                self.executor.shutdown()
            raise
        self._plan_deadlines()
        self.search()
        search_ended = time.time()
        ensembles = []
        if self.status != "canceled":
            try:
                from threadpoolctl import threadpool_limits

                # Small meta-problems gain nothing from BLAS threads, and thread spinning on a busy
                # machine made them crawl; one thread keeps finalisation predictable.
                with threadpool_limits(limits=1):
                    ensembles = self.ensembles()
            except Exception as exc:  # an ensemble failure must not lose the finished trials
                self.log("warning", f"ensembles failed: {type(exc).__name__}: {exc}")
        greater = config.greater_is_better
        completed = [t for t in self.trials + ensembles if t.status == COMPLETED and t.score is not None
                     and not math.isnan(t.score)]
        best = None
        for t in completed:
            if best is None or is_better(t.score, best.score, greater):
                best = t
        if best is not None and self.status != "canceled" and self._refits():
            self._refit_final(best)
        best_model = (self.models.get(best.number) or joblib.load(best.model_path)) if best is not None else None
        if best_model is not None:
            from .predict import limit_threads

            # Trials fitted on a share of the cores; the model handed back predicts (and is explained) with
            # all the job had. Serving sets its own count (one thread per worker process) when it loads it.
            limit_threads(best_model, min(self.n_threads * concurrency, os.cpu_count() or 1))
        if self.test is not None:
            X_test = self.test.drop(columns=self.drop, errors="ignore")
            y_test = self.task.target_array(self.test[config.target_column_name].to_numpy())
            test_context = ScoringContext(meta=self.meta, X=X_test, rows=np.arange(len(X_test)), splits=None,
                                          history=self.data)
            # The best model first (its test scores are the run's); the other ensemble only if it fits.
            scored = ([best] if best is not None else []) + [t for t in ensembles if t is not best]
            for t in scored:
                if t is not best and not self._fits(FINAL_SAFETY * self._test_seconds(t, len(X_test))):
                    self.log("info", f"test scores of {t.pipeline_name} skipped: they would not finish within "
                                     "the time budget")
                    continue
                model = best_model if t is best else self._model(t)
                pred = self.task.predict_scores(model, X_test, self.classes)
                t.test_metrics = self.task.compute_metrics(y_test, pred, test_context)
                t.test_charts = self.task.compute_charts(y_test, pred, test_context)
        for t in ensembles:
            self.trials.append(t)
            self._emit(t)
        if best is not None and not best.is_ensemble and best.test_metrics is not None:
            self._emit(best)  # the studio upserts by number: this adds the test scores
        summary = self.summary
        if summary is None:
            summary = self.task.featurization_summary(self.meta, self.plans, self.X, config.random_state)
        explanation = None
        if config.training.enable_model_explainability and best_model is not None:
            needed = FINAL_SAFETY * self._explain_seconds(best)
            if self._fits(needed):
                try:
                    explanation = self.task.explain(best_model, self.X, self.y, random_state=config.random_state)
                except Exception as exc:
                    self.log("warning", f"explanation failed: {type(exc).__name__}: {exc}")
            else:
                self.log("info", f"explanation of the best model skipped: about {needed:.1f} s needed, "
                                 f"{max(self.deadline - time.time(), 0):.1f} s left of the budget; it can be "
                                 "computed after the run (feature importance of the trial)")
        self.log("info", f"final steps took {time.time() - search_ended:.1f} s "
                         f"(reserved {self.deadline - self.search_deadline:.1f} s)")
        if best is None and self.status == "completed":
            self.status = "timed_out"
            self.log("error", "no trial completed within the limits")
        return AutoMLResult(
            status=self.status, best_trial=best, best_model=best_model, trials=self.trials,
            featurization_summary=summary, guardrails=self.guardrails,
            test_metrics=best.test_metrics if best is not None else None, validation_method=self.validation,
            config=config.to_dict(), primary_metric=config.primary_metric, greater_is_better=greater,
            explanation=explanation, workdir=str(self.workdir), duration_seconds=round(time.time() - started, 3))
