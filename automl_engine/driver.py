"""The driver of one run: prepare data once, search (portfolio then Optuna TPE) through an executor while
honouring every limit, then build the ensembles, score the test data and explain the best model."""
from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .algorithms import Algorithm, get_algorithm, module_origin, plugin_origin
from .config import ConfigError, JobConfig
from .metrics import is_better
from .results import AutoMLResult, Callbacks, TrialResult
from .target import TARGET_TRANSFORMS
from .tasks import ScoringContext, get_task
from .trial import CANCELED, COMPLETED, CUT_BY_BUDGET, FAILED, TIMED_OUT, PreparedData, TrialOutcome, TrialTask, now_iso, write_prepared

EARLY_TERMINATION_MIN_TRIALS = 20
EARLY_TERMINATION_PATIENCE = 10
TPE_ALGORITHMS = 3
ENSEMBLE_CANDIDATES = 12
STACK_MEMBERS = 5
SELECTION_MAX_ROWS = 8000
POLL_SECONDS = 0.05


def _cost_units(params: dict[str, Any]) -> float:
    """Relative size of a configuration: boosting rounds / trees count, everything else 1."""
    for key in ("n_estimators", "max_iter"):
        if key in params:
            return max(float(params[key]), 1.0) / 100.0
    return 1.0


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
        self.rates: dict[str, list[float]] = {}

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
            if algo.max_rows is not None and n_rows > algo.max_rows and (allowed is None or name not in allowed):
                self.log("info", f"skipping {name}: {n_rows} rows > {algo.max_rows} (allow it explicitly to use it)")
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

    def _estimate(self, name: str, params: dict[str, Any]) -> float | None:
        algo = get_algorithm(self.config.task, name)
        units = self._units(name, params)
        if self.rates.get(name):
            return float(np.median(self.rates[name])) * units
        per_cost = [r / get_algorithm(self.config.task, n).cost for n, rs in self.rates.items() for r in rs]
        if per_cost:
            return float(np.median(per_cost)) * algo.cost * units
        return None

    def search(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        config = self.config
        limits = config.limits
        greater = config.greater_is_better
        names = [a.name for a in self.algorithms]
        queue = [(n, {**p, **self._class_weight(get_algorithm(config.task, n))})
                 for n, p in self.task.portfolio(self.prepared.flags) if n in names]
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
        stop_reason = None
        try:
            while True:
                now = time.time()
                if self.should_stop():
                    self.status, stop_reason = "canceled", "canceled by the caller"
                    break
                has_result = any(t.status == COMPLETED for t in self.trials)
                # Without any finished trial the time kept for ensembles is worth more to running trials.
                if now >= (self.search_deadline if has_result or not running else self.deadline - 0.5):
                    stop_reason = "timeout reached"
                    break
                for handle, info in list(running.items()):
                    limit = info["deadline"] if info["deadline"] < self.search_deadline or has_result \
                        else self.deadline - 0.5
                    if now >= limit:
                        executor.cancel(handle)
                        del running[handle]
                        own = info["own_timeout"] and limit == info["deadline"]
                        self._record(TrialOutcome(
                            number=info["task"].number, status=TIMED_OUT if own else CUT_BY_BUDGET,
                            algorithm=info["task"].algorithm,
                            hyperparameters=info["task"].hyperparameters, started_at=info["started_at"],
                            finished_at=now_iso(), duration_seconds=round(now - info["start"], 3),
                            error=f"stopped after {now - info['start']:.1f} s " +
                                  ("(trial timeout)" if own else "(the run's time budget ran out)")), info)
                        if info["study_trial"] is not None:
                            study.tell(info["study_trial"], state=optuna.trial.TrialState.FAIL)
                for handle, outcome in executor.poll():
                    info = running.pop(handle, None)
                    if info is None:
                        continue
                    if isinstance(outcome, dict):
                        outcome = TrialOutcome.from_dict(outcome)
                    trial = self._record(outcome, info)
                    ok = trial.status == COMPLETED and trial.score is not None and not math.isnan(trial.score)
                    if ok:
                        units = self._units(trial.algorithm, trial.hyperparameters)
                        self.rates.setdefault(trial.algorithm, []).append(trial.duration_seconds / units)
                    if info["study_trial"] is not None:
                        if ok:
                            study.tell(info["study_trial"], trial.score)
                        else:
                            study.tell(info["study_trial"], state=optuna.trial.TrialState.FAIL)
                    if ok and is_better(trial.score, best, greater):
                        best = trial.score
                        since_improvement = 0
                    else:
                        since_improvement += 1
                    done = sum(1 for t in self.trials if not t.is_ensemble)
                    if limits.exit_score is not None and best is not None and (
                            best >= limits.exit_score if greater else best <= limits.exit_score):
                        stop_reason = f"exit score {limits.exit_score} reached"
                    elif limits.enable_early_termination and done >= EARLY_TERMINATION_MIN_TRIALS and \
                            since_improvement >= EARLY_TERMINATION_PATIENCE:
                        stop_reason = f"early termination: no improvement in the last {EARLY_TERMINATION_PATIENCE} trials"
                if stop_reason:
                    break
                if number >= limits.max_trials and not running:
                    stop_reason = "max_trials reached"
                    break
                while len(running) < concurrency and number < limits.max_trials and \
                        time.time() < self.search_deadline:
                    remaining = self.search_deadline - time.time()
                    study_trial = None
                    if queue:
                        name, params = queue.pop(0)
                        estimate = self._estimate(name, params)
                        if estimate is not None and estimate > remaining and number > 0:
                            continue
                    else:
                        if study is None:
                            study, tpe_names = self._start_study(names, greater)
                            if study is None:
                                break
                        study_trial, name, params = None, None, None
                        for _ in range(20):
                            candidate = study.ask()
                            name, params = self._suggest(candidate, tpe_names)
                            estimate = self._estimate(name, params)
                            if estimate is not None and estimate > remaining:
                                study.tell(candidate, state=optuna.trial.TrialState.PRUNED)
                                continue
                            study_trial = candidate
                            break
                        if study_trial is None:
                            break
                    per_trial = remaining if trial_timeout is None else min(trial_timeout, remaining)
                    task = TrialTask(number=number, algorithm=name, hyperparameters=params,
                                     workdir=str(self.workdir), timeout_seconds=round(per_trial, 3),
                                     n_jobs=n_threads, random_state=config.random_state)
                    handle = executor.submit(task)
                    start = time.time()
                    running[handle] = {"task": task, "start": start, "started_at": now_iso(),
                                       "deadline": start + per_trial, "study_trial": study_trial,
                                       "own_timeout": trial_timeout is not None and trial_timeout <= remaining}
                    number += 1
                if not running:
                    stop_reason = ("max_trials reached" if number >= limits.max_trials
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

    def _start_study(self, names: list[str], greater: bool):
        """Optuna TPE over the most promising algorithms, warm-started with the portfolio's results."""
        import optuna

        best_by_algo: dict[str, float] = {}
        for t in self.trials:
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
            for t in self.trials:
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
            started_at=outcome.started_at, finished_at=outcome.finished_at)
        trial.oof_path = outcome.oof_path  # type: ignore[attr-defined]  (driver-side only)
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
        # so one model could fill the stack and most of the vote.
        distinct = distinct_predictions((np.load(t.oof_path) for t in done), ENSEMBLE_CANDIDATES)
        candidates, oofs = [done[i] for i, _ in distinct], [oof for _, oof in distinct]
        if len(candidates) < 2:
            return []
        y = self.y[rows]
        context = self.data.context()
        # Selection scores many candidate blends: a fixed random subset keeps that cheap on big data.
        pick = np.arange(len(y))
        if len(y) > SELECTION_MAX_ROWS:
            pick = np.sort(np.random.RandomState(config.random_state).choice(len(y), SELECTION_MAX_ROWS, replace=False))
        pick_context = ScoringContext(meta=self.meta, X=self.X, rows=rows[pick], splits=self.data.oof_splits[pick],
                                      history=self.data)
        scorer_on_pick = task.primary_scorer(config.primary_metric, y[pick], pick_context)
        scorer = lambda pred: scorer_on_pick(pred[pick])  # noqa: E731
        out = []
        number = max(t.number for t in self.trials) + 1
        if config.training.enable_vote_ensemble and time.time() < self.final_deadline:
            start = time.time()
            weights = task.vote_weights(oofs, scorer, greater)
            members = [(t, w, o) for t, w, o in zip(candidates, weights, oofs) if w > 0]
            pred = sum(w * o for _, w, o in members)
            model = task.assemble_ensemble("voting", [joblib.load(t.model_path) for t, _, _ in members],
                                           weights=[w for _, w, _ in members], classes=self.classes)
            model = task.finish_model(model, y, pred, context)
            out.append(self._ensemble_trial(number, "VotingEnsemble", model, pred, y, start, {
                "members": [t.number for t, _, _ in members], "weights": [round(w, 4) for _, w, _ in members]}))
            number += 1
        if config.training.enable_stack_ensemble and time.time() < self.final_deadline:
            start = time.time()
            members = candidates[:STACK_MEMBERS]
            meta, cv_pred = task.fit_stacker(oofs[:STACK_MEMBERS], y, context, config.random_state)
            model = task.assemble_ensemble("stacking", [joblib.load(t.model_path) for t in members],
                                           meta_learner=meta, classes=self.classes)
            model = task.finish_model(model, y, cv_pred, context)
            out.append(self._ensemble_trial(number, "StackEnsemble", model, cv_pred, y, start, {
                "members": [t.number for t in members],
                "meta_learner": task.meta_learner_name}))
        return out

    def _ensemble_trial(self, number: int, name: str, model, pred, y, start: float, params) -> TrialResult:
        import joblib

        trial_dir = self.workdir / "trials" / str(number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        model_path = trial_dir / "model.pkl"
        joblib.dump(model, model_path)
        np.save(trial_dir / "oof.npy", pred)
        context = self.data.context()
        metrics = self.task.compute_metrics(y, pred, context)
        trial = TrialResult(
            number=number, algorithm=name, pipeline_name=name, featurization="per member",
            hyperparameters=params, metrics=metrics, score=metrics.get(self.config.primary_metric),
            charts=self.task.compute_charts(y, pred, context),
            test_metrics=None, test_charts=None, duration_seconds=round(time.time() - start, 3), status=COMPLETED,
            error=None, is_ensemble=True, model_path=str(model_path), started_at=now_iso(), finished_at=now_iso())
        trial.oof_path = str(trial_dir / "oof.npy")  # type: ignore[attr-defined]
        return trial

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> AutoMLResult:
        import joblib

        started = time.time()
        config = self.config
        budget = config.limits.timeout_minutes * 60.0
        self.deadline = started + budget
        reserve = min(max(0.15 * budget, 1.5), 60.0)
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
        self.search_deadline = self.deadline - reserve
        self.final_deadline = self.deadline - 0.3 * reserve
        self.search()
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
        best_model = joblib.load(best.model_path) if best is not None else None
        if self.test is not None:
            X_test = self.test.drop(columns=self.drop, errors="ignore")
            y_test = self.task.target_array(self.test[config.target_column_name].to_numpy())
            test_context = ScoringContext(meta=self.meta, X=X_test, rows=np.arange(len(X_test)), splits=None,
                                          history=self.data)
            for t in ensembles + ([best] if best is not None and not best.is_ensemble else []):
                model = best_model if t is best else joblib.load(t.model_path)
                pred = self.task.predict_scores(model, X_test, self.classes)
                t.test_metrics = self.task.compute_metrics(y_test, pred, test_context)
                t.test_charts = self.task.compute_charts(y_test, pred, test_context)
        for t in ensembles:
            self.trials.append(t)
            self._emit(t)
        if best is not None and not best.is_ensemble and best.test_metrics is not None:
            self._emit(best)  # the studio upserts by number: this adds the test scores
        summary = self.task.featurization_summary(self.meta, self.plans, self.X, config.random_state)
        explanation = None
        if config.training.enable_model_explainability and best_model is not None and time.time() < self.deadline:
            try:
                explanation = self.task.explain(best_model, self.X, self.y, random_state=config.random_state)
            except Exception as exc:
                self.log("warning", f"explanation failed: {type(exc).__name__}: {exc}")
        if best is None and self.status == "completed":
            self.status = "timed_out"
            self.log("error", "no trial completed within the limits")
        return AutoMLResult(
            status=self.status, best_trial=best, best_model=best_model, trials=self.trials,
            featurization_summary=summary, guardrails=self.guardrails,
            test_metrics=best.test_metrics if best is not None else None, validation_method=self.validation,
            config=config.to_dict(), primary_metric=config.primary_metric, greater_is_better=greater,
            explanation=explanation, workdir=str(self.workdir), duration_seconds=round(time.time() - started, 3))
