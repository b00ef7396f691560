"""The forecasting run: prepare, validate on rolling origins, search the portfolio, build ensembles, refit.

Each trial fits a :class:`ForecastModel` on the data up to each origin and forecasts the horizon after it;
its score is the primary metric over all origins' forecasts. The ensembles combine those out-of-sample
forecasts: Caruana voting (greedy selection with replacement) and stacking with a non-negative ElasticNet
meta-learner scored leave-one-origin-out. The winner is refitted on all the data and its intervals are
calibrated on its rolling-origin residuals.
"""
from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..metrics import is_better
from ..results import TrialResult
from .features import detect_seasonality
from .metrics import PRIMARY_METRICS, forecast_charts, forecast_metrics, mase_scales, per_horizon_metrics, \
    per_series_metrics
from .models import FORECASTING_ALGORITHMS, ForecastModel, GLOBAL_ALGORITHMS, PROPHET, STATS_ALGORITHMS
from .prep import DS, ID, Y, PreparedData
from .settings import ForecastSettings
from .splitter import RollingOrigin

ENSEMBLE_TOP = 8
ENSEMBLE_RESERVE = 0.03
VOTING_MAX_MODELS = 6
VOTING_ITERATIONS = 20


def portfolio(n_points: int, n_series: int, season: int, has_covariates: bool) -> list[tuple[str, dict[str, Any]]]:
    """Candidates, cheapest strong ones first: the seasonal baselines and the global LightGBM on lags (the
    usual winner) within the first trials, then the slower statistical models and the other learners.
    The global learners use the hyperparameters of :mod:`automl_engine.algorithms`' portfolios."""
    from ..algorithms import get_algorithm
    from ..config import REGRESSION

    def default(name: str, i: int = 0) -> dict[str, Any]:
        configs = get_algorithm(REGRESSION, name).portfolio.get(REGRESSION, [])
        return dict(configs[min(i, len(configs) - 1)]) if configs else {}

    lgb_small = {"n_estimators": 150, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 10,
                 "colsample_bytree": 0.7, "subsample": 1.0, "reg_lambda": 1.0, "reg_alpha": 1e-3}
    out: list[tuple[str, dict[str, Any]]] = [
        ("SeasonalNaive", {}),
        ("LightGBM", {**lgb_small, "target_mode": "level"}),
        ("ExponentialSmoothing", {}),
        ("LightGBM", {**lgb_small, "target_mode": "scaled"}),
        ("Naive", {}),
        ("SeasonalAverage", {}),
        ("ElasticNet", {**default("ElasticNet"), "target_mode": "level"}),
        ("AutoArima", {}),
    ]
    if has_covariates:
        out.append(("Arimax", {}))
    out += [
        ("LightGBM", {**default("LightGBM", 3), "target_mode": "level"}),
        ("ExtremeRandomTrees", {**default("ExtremeRandomTrees"), "target_mode": "level"}),
        ("XGBoostRegressor", {**default("XGBoostRegressor"), "target_mode": "level"}),
        ("Prophet", {}),
        ("LightGBM", {**default("LightGBM", 4), "target_mode": "level"}),
        ("RandomForest", {**default("RandomForest"), "target_mode": "level"}),
        ("GradientBoosting", {**default("GradientBoosting"), "target_mode": "level"}),
        ("Average", {}),
        ("KNN", {**default("KNN"), "target_mode": "level"}),
        ("DecisionTree", {**default("DecisionTree"), "target_mode": "level"}),
        ("LassoLars", {**default("LassoLars"), "target_mode": "level"}),
        ("SGD", {**default("SGD"), "target_mode": "level"}),
    ]
    return out


def estimated_seconds(algorithm: str, n_points: int, n_series: int, season: int) -> float:
    """A rough fit time per fold, to skip what cannot finish in the time left (measured on this machine:
    AutoARIMA ~0.05 s per series and 100 points at season 12, AutoETS ~0.25 s, Prophet ~0.4 s)."""
    per_series = n_points / max(n_series, 1)
    if algorithm in ("AutoArima", "Arimax"):
        return n_series * 0.05 * (min(per_series, 6 * max(season, 20)) / 100) * max(1.0, season / 12) ** 1.5 * 3
    if algorithm == "Prophet":
        return n_series * (0.4 + min(per_series, 2000) / 5000)
    if algorithm == "ExponentialSmoothing":
        return n_series * (0.25 if season > 1 else 0.05) * max(1.0, min(per_series, 20 * season) / 200)
    if algorithm in STATS_ALGORITHMS:
        return 0.01 * n_series
    return 0.2 + n_points / 20000 * (4 if algorithm in ("RandomForest", "ExtremeRandomTrees", "GradientBoosting",
                                                         "XGBoostRegressor") else 1)


@dataclass
class Candidate:
    """A finished trial's out-of-sample forecasts (one row per origin, series and step)."""

    number: int
    algorithm: str
    params: dict[str, Any]
    oof: pd.DataFrame
    score: float
    metrics: dict[str, float]
    model: Any = None
    members: list["Candidate"] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def evaluate(prepared: PreparedData, settings: ForecastSettings, plan: RollingOrigin, algorithm: str,
             params: dict[str, Any], season: int, target: str, random_state: int, n_jobs: int) -> pd.DataFrame:
    """Rolling-origin forecasts of one configuration: columns unique_id, ds, origin, step, y, prediction."""
    frame = prepared.frame
    parts = []
    for (train_idx, valid_idx), origin in zip(plan.split(frame), plan.origins):
        model = ForecastModel(settings, algorithm, dict(params), target, random_state, n_jobs)
        train = PreparedData(frame.iloc[train_idx].reset_index(drop=True), prepared.freq, prepared.covariates,
                             prepared.series_ids, {})
        model.fit(None, prepared=train, season=season)
        valid = frame.iloc[valid_idx].reset_index(drop=True)
        known = valid[valid[ID].isin(model.last_times_.index)]
        res = model.residuals_on(known)
        res[Y] = known[Y].to_numpy()
        res["origin"] = origin
        parts.append(res)
    return pd.concat(parts, ignore_index=True)


def evaluate_and_refit(prepared: PreparedData, settings: ForecastSettings, plan: RollingOrigin, algorithm: str,
                       params: dict[str, Any], season: int, target: str, random_state: int,
                       n_jobs: int) -> tuple[pd.DataFrame, ForecastModel]:
    """A trial: the rolling-origin forecasts, and the model refitted on all the data in the same process
    (the run then ends without refitting anything, so the last trial's time limit is the run's)."""
    oof = evaluate(prepared, settings, plan, algorithm, params, season, target, random_state, n_jobs)
    model = ForecastModel(settings, algorithm, dict(params), target, random_state, n_jobs)
    return oof, model.fit(None, prepared=prepared, season=season)


def _score(oof: pd.DataFrame, primary: str, scales: pd.Series) -> tuple[float, dict[str, float]]:
    metrics = forecast_metrics(oof, scales)
    return float(metrics.get(primary, float("nan"))), metrics


class ForecastEnsemble:
    """A weighted average of forecasters (voting) or a linear meta-model over them (stacking); the same
    ``predict``/``forecast``/``history=`` API as :class:`ForecastModel`."""

    def __init__(self, models: Sequence[ForecastModel], weights: Sequence[float], intercept: float = 0.0,
                 kind: str = "voting"):
        self.models = list(models)
        self.weights = np.asarray(weights, dtype=float)
        self.intercept = float(intercept)
        self.kind = kind
        self.settings = self.models[0].settings

    def _combine(self, frames: list[pd.DataFrame]) -> np.ndarray:
        stacked = np.column_stack([f for f in frames])
        return stacked @ self.weights + self.intercept

    def _parse(self, X_future: pd.DataFrame, history: pd.DataFrame | None) -> tuple:
        # Members share the training data, so the future frame is parsed once, by a member that needs the
        # covariates when any does (its checks are the strictest).
        # (An unknown series still raises in a per-series member's core.)
        base = next((m for m in self.models if m.uses_covariates_), self.models[0])
        return base._future(X_future, history)

    def _points(self, X_future: pd.DataFrame, history: pd.DataFrame | None) -> tuple[np.ndarray, pd.DataFrame,
                                                                                       pd.DataFrame]:
        future = self._parse(X_future, history)
        cache: dict = {}  # calendar and covariate features, built once for the members that share them
        outs = [m._point(X_future, history, future=future, cache=cache)[0] for m in self.models]
        return self._combine([o["prediction"].to_numpy(dtype=float) for o in outs]), outs[0], future[0]

    def predict(self, X_future: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """One point forecast per row of ``X_future`` (see :meth:`ForecastModel.predict`)."""
        return self._points(X_future, history)[0]

    def forecast(self, X_future: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.5, 0.9),
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
        """As :meth:`ForecastModel.forecast`; intervals from the ensemble's own rolling-origin residuals."""
        prediction, out, hist = self._points(X_future, history)
        frame = pd.DataFrame({self.settings.time_column_name: out[DS].to_numpy()})
        for c in self.settings.id_columns:
            frame[c] = X_future[c].to_numpy()
        frame["prediction"] = prediction
        if quantiles:
            scale = out[ID].map(hist.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s)))))
            scale = scale.fillna(float(np.nanmedian(scale)) if scale.notna().any() else 1.0).to_numpy()
            for q in quantiles:
                frame[f"q{q:g}"] = frame["prediction"].to_numpy() + self.intervals_.offset(
                    q, out["__step__"].to_numpy()) * scale
        return frame

    def input_schema(self) -> list[dict[str, str]]:
        """The columns a future frame holds (those of the first member; all members share them)."""
        return self.models[0].input_schema()

    def manifest(self) -> dict[str, Any]:
        """As :meth:`ForecastModel.manifest`, with the members and their weights."""
        return {**self.models[0].manifest(), "ensemble": {"kind": self.kind,
                                                         "members": [m.algorithm for m in self.models],
                                                         "weights": self.weights.tolist(), "intercept": self.intercept}}

    def calibrate(self, residuals: pd.DataFrame) -> "ForecastEnsemble":
        from .models import ResidualIntervals

        hist = self.models[0].history_
        scale = hist.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s))))
        scaled = residuals["residual"].to_numpy() / residuals[ID].map(scale).fillna(float(scale.median())).to_numpy()
        self.intervals_ = ResidualIntervals(self.settings.forecast_horizon).fit(residuals["step"].to_numpy(), scaled)
        return self


def primary_score(y: np.ndarray, p: np.ndarray, primary: str) -> float:
    """Just the primary metric (as :func:`forecast_metrics` computes it), for the ensemble selection's many
    evaluations."""
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    span = float(np.max(y) - np.min(y)) or 1.0
    if primary == "normalized_root_mean_squared_error":
        return float(np.sqrt(np.mean((y - p) ** 2)) / span)
    if primary == "normalized_mean_absolute_error":
        return float(np.mean(np.abs(y - p)) / span)
    if primary == "r2_score":
        return float(1 - np.sum((y - p) ** 2) / (np.sum((y - np.mean(y)) ** 2) or 1.0))
    from scipy.stats import spearmanr

    return float(spearmanr(y, p).statistic) if np.std(p) > 0 else 0.0


def caruana(cands: list[Candidate], primary: str, greater: bool, scales: pd.Series) -> tuple[list[int], list[float]]:
    """Greedy ensemble selection with replacement (Caruana et al. 2004), sorted initialisation with the best."""
    preds = np.column_stack([c.oof["prediction"].to_numpy() for c in cands])
    y = cands[0].oof[Y].to_numpy(dtype=float)
    counts = np.zeros(len(cands))
    counts[0] = 1
    best_score = cands[0].score
    for _ in range(VOTING_ITERATIONS):
        best_j, best_s = None, best_score
        for j in range(len(cands)):
            trial = counts.copy()
            trial[j] += 1
            if (trial > 0).sum() > VOTING_MAX_MODELS:
                continue
            p = preds @ (trial / trial.sum())
            s = primary_score(y, p, primary)
            if is_better(s, best_s, greater):
                best_j, best_s = j, s
        if best_j is None:
            break
        counts[best_j] += 1
        best_score = best_s
    keep = np.flatnonzero(counts)
    return keep.tolist(), (counts[keep] / counts.sum()).tolist()


def stack(cands: list[Candidate]) -> tuple[list[int], list[float], float, pd.Series]:
    """ElasticNet meta-learner (non-negative weights, no intercept: a blend, which held up better than a
    shifted one on a few origins) on the out-of-sample forecasts; its own forecasts are
    leave-one-origin-out, so its score is out of sample too."""
    from sklearn.linear_model import ElasticNetCV

    X = np.column_stack([c.oof["prediction"].to_numpy() for c in cands])
    y = cands[0].oof[Y].to_numpy(dtype=float)
    origins = cands[0].oof["origin"].to_numpy()
    scale = float(np.std(y)) or 1.0
    pred = np.full(len(y), np.nan)
    uniq = np.unique(origins)

    def fit(Xa, ya):
        return ElasticNetCV(l1_ratio=[0.1, 0.5, 0.9, 1.0], cv=min(3, max(2, len(ya) // 10)), positive=True,
                            fit_intercept=False, max_iter=5000).fit(Xa / scale, ya / scale)

    if len(uniq) > 1:
        for o in uniq:
            tr, te = origins != o, origins == o
            meta = fit(X[tr], y[tr])
            pred[te] = meta.predict(X[te] / scale) * scale
    else:
        pred = fit(X, y).predict(X / scale) * scale
    meta = fit(X, y)
    weights = meta.coef_.tolist()
    keep = [i for i, w in enumerate(weights) if w > 1e-9]
    return keep, [weights[i] for i in keep], float(meta.intercept_) * scale, pd.Series(pred)


def _warm_imports(algorithms: set[str]) -> None:
    """Import the model libraries once in the run's process, so forked trials do not each pay for it."""
    import os

    os.environ.setdefault("NIXTLA_NUMBA_CACHE", "1")
    import sklearn.ensemble  # noqa: F401

    if algorithms & set(STATS_ALGORITHMS):
        import statsforecast.models  # noqa: F401
    if "LightGBM" in algorithms:
        import lightgbm  # noqa: F401
    if "XGBoostRegressor" in algorithms:
        import xgboost  # noqa: F401
    if PROPHET in algorithms:
        import prophet  # noqa: F401


class TrialTimeout(Exception):
    """A trial killed because it did not finish in the time left."""


def run_isolated(fn: Callable[[], Any], timeout: float, isolate: bool = True) -> Any:
    """``fn()`` in a forked child process (it inherits the prepared data, nothing is re-imported or
    pickled on the way in), killed after ``timeout`` seconds; the result comes back pickled. The run's own
    process never fits a model before the search ends, so the fork never copies a busy thread pool."""
    if not isolate:
        return fn()
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send(("ok", fn()))
        except BaseException as exc:  # reported to the parent, which records the failed trial
            send.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"))
        finally:
            send.close()

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(max(timeout, 0.1)):
            raise TrialTimeout(f"did not finish in the {timeout:.0f} s left; killed")
        kind, payload = recv.recv()
    except EOFError:
        raise RuntimeError(f"the trial process died (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        recv.close()
    if kind == "error":
        raise RuntimeError(payload)
    return payload


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def run_forecast_search(training_data: pd.DataFrame, target: str, settings: ForecastSettings, *,
                        primary_metric: str = "normalized_root_mean_squared_error",
                        n_cross_validations: Any = "auto", validation_data: pd.DataFrame | None = None,
                        test_data: pd.DataFrame | None = None, timeout_seconds: float = 3600.0,
                        max_trials: int = 1000, allowed: Sequence[str] | None = None,
                        blocked: Sequence[str] = (), enable_vote_ensemble: bool = True,
                        enable_stack_ensemble: bool = True, random_state: int = 0, n_jobs: int = 1,
                        exit_score: float | None = None, on_trial: Callable[[TrialResult], None] | None = None,
                        on_log: Callable[[str, str], None] | None = None,
                        should_stop: Callable[[], bool] | None = None, isolate: bool = True) -> dict[str, Any]:
    """The whole forecasting run. Returns a dict with the fitted best model, the trial results, the
    guardrails, the validation plan, the test metrics and charts; :mod:`automl_engine.job` wraps it into an
    :class:`automl_engine.AutoMLResult`. ``isolate``: each trial in a forked child process that is killed
    when it outlives the time left (AutoARIMA on a long seasonal series can take minutes)."""
    from .prep import forecasting_guardrails, leaking_covariates, prepare_training
    from .splitter import plan_rolling_origin

    start = time.monotonic()
    log = on_log or (lambda level, message: None)
    greater = PRIMARY_METRICS[primary_metric]
    if validation_data is not None:
        training_data = pd.concat([training_data, validation_data], ignore_index=True)
    prepared = prepare_training(training_data, target, settings)
    frame = prepared.frame
    season = settings.seasonality if settings.seasonality != "auto" else None
    season_reason = "given"
    if season is None:
        season, season_reason = detect_seasonality(frame, prepared.freq)
    if validation_data is not None:
        # Validation data given: one origin at the end of the training data, validated on what follows.
        n_folds, step = 1, settings.forecast_horizon
    else:
        n_folds = n_cross_validations if n_cross_validations not in (None, "auto") else "auto"
        step = settings.cv_step_size
    plan = plan_rolling_origin(frame, prepared.freq, settings.forecast_horizon, n_folds, step)
    guardrails = forecasting_guardrails(prepared, settings, leaking_covariates(prepared, settings))
    guardrails.insert(1, {"name": "seasonality_detection", "status": "done" if settings.seasonality == "auto"
                          else "passed", "description": f"Season length {season}: {season_reason}.",
                          "parameters": {"season": int(season)}})
    guardrails.insert(2, {"name": "validation_method", "status": "done", "description": plan.reason,
                          "parameters": plan.to_dict()})
    log("info", plan.reason)
    scales = mase_scales(frame, max(int(season), 1))
    known = [c for c in prepared.covariates if c not in settings.unknown_features]
    candidates = [(a, p) for a, p in portfolio(len(frame), prepared.n_series, season, bool(known))
                  if (allowed is None or a in allowed) and a not in blocked]
    if allowed:
        # An allowed algorithm missing from the portfolio still runs once with its defaults.
        names = {a for a, _ in candidates}
        candidates += [(a, {"target_mode": "level"} if a in GLOBAL_ALGORITHMS else {}) for a in allowed
                       if a not in names and a not in blocked]
    _warm_imports({a for a, _ in candidates})
    trials: list[TrialResult] = []
    done: list[Candidate] = []
    best: Candidate | None = None
    number = 0
    for algorithm, params in candidates:
        elapsed = time.monotonic() - start
        left = timeout_seconds * (1 - ENSEMBLE_RESERVE) - elapsed  # the ensembles are built in the time kept back
        if number >= max_trials or left <= 0 or (should_stop and should_stop()):
            break
        if best is not None and exit_score is not None and is_better(best.score, exit_score, greater) or (
                best is not None and exit_score is not None and best.score == exit_score):
            break
        estimate = estimated_seconds(algorithm, len(frame), prepared.n_series, season) * (plan.n_folds + 1)
        if best is not None and estimate > left:
            log("info", f"skipped {algorithm}: estimated {estimate:.0f} s, {left:.0f} s left")
            continue
        number += 1
        started = _now()
        t0 = time.monotonic()
        try:
            oof, final = run_isolated(lambda: evaluate_and_refit(prepared, settings, plan, algorithm, params, season,
                                                              target, random_state, n_jobs),
                                      timeout=left if best is not None else max(left, 5.0), isolate=isolate)
            score, metrics = _score(oof, primary_metric, scales)
            status, error = "completed", None
        except TrialTimeout as exc:
            oof, final, score, metrics, status, error = None, None, float("nan"), {}, "timed_out", str(exc)
        except Exception as exc:  # a failing configuration is a failed trial, not a failed run
            oof, final, score, metrics, status = None, None, float("nan"), {}, "failed"
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        duration = time.monotonic() - t0
        cand = None
        if status == "completed" and np.isfinite(score):
            cand = Candidate(number, algorithm, params, oof, score, metrics, model=final)
            done.append(cand)
            if best is None or is_better(score, best.score, greater):
                best = cand
        trial = TrialResult(number=number, algorithm=algorithm, pipeline_name=_pipeline_name(algorithm, params),
                            featurization="forecasting", hyperparameters=dict(params), metrics=metrics,
                            score=score if np.isfinite(score) else None,
                            charts=_charts(oof, scales, settings) if oof is not None else {}, test_metrics=None,
                            test_charts=None, duration_seconds=round(duration, 3), status=status, error=error,
                            is_ensemble=False, model_path=None, started_at=started, finished_at=_now())
        trials.append(trial)
        if on_trial:
            on_trial(trial)
        log("info", f"trial {number} {trial.pipeline_name}: {status}, {primary_metric}={score:.4f} in {duration:.1f} s")
    if best is None:
        raise RuntimeError("no forecasting trial completed; see the trials' errors")

    # Ensembles over the distinct best candidates.
    ranked = sorted(done, key=lambda c: c.score, reverse=greater)
    distinct: list[Candidate] = []
    for c in ranked:
        p = c.oof["prediction"].to_numpy()
        if all(not np.allclose(p, d.oof["prediction"].to_numpy(), rtol=1e-6, atol=1e-9) for d in distinct):
            distinct.append(c)
        if len(distinct) >= ENSEMBLE_TOP:
            break
    ensembles: list[Candidate] = []
    if len(distinct) >= 2 and enable_vote_ensemble:
        keep, weights = caruana(distinct, primary_metric, greater, scales)
        if len(keep) > 1:
            members = [distinct[i] for i in keep]
            p = np.column_stack([m.oof["prediction"].to_numpy() for m in members]) @ np.asarray(weights)
            ensembles.append(_ensemble_candidate("VotingEnsemble", members, weights, 0.0, p, primary_metric, scales))
    if len(distinct) >= 2 and enable_stack_ensemble:
        try:
            keep, weights, intercept, pred = stack(distinct[:5])
            if keep:
                members = [distinct[:5][i] for i in keep]
                ensembles.append(_ensemble_candidate("StackEnsemble", members, weights, intercept, pred.to_numpy(),
                                                     primary_metric, scales))
        except Exception as exc:
            log("warning", f"stack ensemble failed: {exc}")
    for e in ensembles:
        number += 1
        e.number = number
        trial = TrialResult(number=number, algorithm=e.algorithm, pipeline_name=e.algorithm,
                            featurization="forecasting", hyperparameters={
                                "members": [m.number for m in e.members], "weights": [round(w, 6) for w in e.weights],
                                "intercept": e.params.get("intercept", 0.0)},
                            metrics=e.metrics, score=e.score, charts=_charts(e.oof, scales, settings),
                            test_metrics=None, test_charts=None, duration_seconds=0.0, status="completed", error=None,
                            is_ensemble=True, model_path=None, started_at=_now(), finished_at=_now())
        trials.append(trial)
        if on_trial:
            on_trial(trial)
        if is_better(e.score, best.score, greater):
            best = e

    # The winner (or its members) was refitted on all the data inside its trial; intervals come from its
    # rolling-origin residuals.
    residuals = best.oof.assign(residual=best.oof[Y] - best.oof["prediction"])
    if best.members:
        model = ForecastEnsemble([m.model for m in best.members], best.weights, best.params.get("intercept", 0.0),
                                 kind="stacking" if best.algorithm == "StackEnsemble" else "voting")
    else:
        model = best.model
    model.calibrate(residuals)
    best_trial = next(t for t in trials if t.number == best.number)
    test_metrics = test_charts = None
    if test_data is not None:
        test_metrics, test_charts = score_test(model, test_data, target, settings, scales)
        best_trial.test_metrics, best_trial.test_charts = test_metrics, test_charts
    return {"model": model, "best_trial": best_trial, "trials": trials, "guardrails": guardrails,
            "validation": plan.to_dict(), "season": int(season), "frequency": prepared.freq,
            "prepared": prepared, "test_metrics": test_metrics, "duration_seconds": time.monotonic() - start}


def _ensemble_candidate(name: str, members: list[Candidate], weights: list[float], intercept: float,
                        pred: np.ndarray, primary: str, scales: pd.Series) -> Candidate:
    oof = members[0].oof.assign(prediction=pred)
    score, metrics = _score(oof, primary, scales)
    return Candidate(0, name, {"intercept": intercept}, oof, score, metrics, members=members, weights=list(weights))


def _pipeline_name(algorithm: str, params: dict[str, Any]) -> str:
    if algorithm in GLOBAL_ALGORITHMS:
        mode = params.get("target_mode", "level")
        return f"{algorithm} (global, lags, {'level-differenced' if mode == 'level' else 'scaled'} target)"
    if algorithm == PROPHET:
        return "Prophet (per series)"
    return f"{algorithm} (per series)"


def _charts(oof: pd.DataFrame, scales: pd.Series, settings: ForecastSettings) -> dict[str, Any]:
    charts = forecast_charts(oof, settings.id_columns)
    charts["per_horizon"] = per_horizon_metrics(oof)
    charts["per_series"] = per_series_metrics(oof, scales)
    return charts


def score_test(model: Any, test_data: pd.DataFrame, target: str, settings: ForecastSettings,
               scales: pd.Series) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics and charts of the final model on test data following the training data."""
    from .prep import parse_time, series_key

    fc = model.forecast(test_data.drop(columns=[target]), quantiles=(0.1, 0.9))
    keys = series_key(test_data, settings.id_columns).to_numpy()
    ds = parse_time(test_data, settings.time_column_name).to_numpy()
    last = model.models[0].last_times_ if hasattr(model, "models") else model.last_times_
    freq = model.models[0].freq_ if hasattr(model, "models") else model.freq_
    grid_last = pd.Series(keys).map(last)
    offset = pd.tseries.frequencies.to_offset(freq)
    step = np.array([len(pd.date_range(a, b, freq=offset)) - 1 if pd.notna(a) else 0
                     for a, b in zip(grid_last, ds)]) if len(ds) < 5000 else np.ones(len(ds), dtype=int)
    res = pd.DataFrame({ID: keys, DS: ds, Y: pd.to_numeric(test_data[target], errors="coerce").to_numpy(),
                        "prediction": fc["prediction"].to_numpy(), "lower": fc["q0.1"].to_numpy(),
                        "upper": fc["q0.9"].to_numpy(), "step": step, "origin": "test"})
    return forecast_metrics(res, scales), _charts(res, scales, settings)
