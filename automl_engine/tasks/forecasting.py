"""Forecasting: long-format time series (time column, series ids, covariates), rolling-origin validation,
forecasters that keep each series' history, metrics per series and horizon step, interval calibration.

The data rules live in :mod:`automl_engine.forecasting` (preparation, features, models, splitter, metrics);
this module is the task object the driver, the trials and the ensembles ask.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .base import PreparedRun, ScoringContext, Task
from .splits import make_splits

FORECASTING = "forecasting"


class RollingOriginSplitter:
    """The splitter of :mod:`automl_engine.tasks.splits`' contract for a rolling-origin plan: split k trains
    on every row up to origin k and validates on the horizon after it; the final model is refitted on all
    rows."""

    refit = True

    def __init__(self, plan: Any, frame: pd.DataFrame):
        self.plan, self.frame = plan, frame

    def split(self, X: Any, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(train.astype(np.int64), valid.astype(np.int64)) for train, valid in self.plan.split(self.frame)]


class LinearStacker:
    """The stack ensemble's fitted meta-learner: non-negative weights on the members' forecasts plus an
    intercept (an ElasticNet fitted on the out-of-sample forecasts)."""

    def __init__(self, coef: Sequence[float], intercept: float):
        self.coef_ = np.asarray(coef, dtype=float)
        self.intercept_ = float(intercept)

    def predict(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(Z, dtype=float) @ self.coef_ + self.intercept_


class ForecastingTask(Task):
    name = FORECASTING
    primary_metrics = {
        "normalized_root_mean_squared_error": False,
        "r2_score": True,
        "normalized_mean_absolute_error": False,
        "spearman_correlation": True,
    }
    default_primary_metric = "normalized_root_mean_squared_error"
    meta_learner_name = "ElasticNet"
    settings_key = "forecasting"
    # A forecast calls each member once per step: a member that adds little costs its whole prediction time.
    vote_prune_share = 0.1
    # A few horizons of validation: on nyc_energy (3 x 48 hours) the blend Caruana selection found scored
    # NRMSE 0.080 against the best single model's 0.092, and forecast the test window with MASE 0.79 against
    # 0.49: its weak members (Prophet, KNN) only cancelled that validation window's errors.
    vote_held_out = True

    # ------------------------------------------------------------------------------------------ settings
    def parse_settings(self, data: Mapping[str, Any] | None) -> Any:
        from ..forecasting.settings import make_forecast_settings

        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ConfigError("forecasting", "the forecasting block must be a mapping of forecast settings")
        return make_forecast_settings(**dict(data))

    def settings_to_dict(self, settings: Any) -> dict[str, Any] | None:
        return settings.to_dict() if settings is not None else None

    def validate_settings(self, config: Any, columns: Sequence[str] | None) -> None:
        from ..forecasting.settings import validate_forecast_settings

        settings = config.task_settings
        if settings is None:
            if columns is not None:
                raise _missing_settings()
            return
        validate_forecast_settings(settings, columns, config.target_column_name)

    def validate_target(self, config: Any, y: Any) -> None:
        s = pd.to_numeric(pd.Series(y), errors="coerce")
        if s.isna().sum() > pd.Series(y).isna().sum() or pd.api.types.is_bool_dtype(pd.Series(y)):
            raise ConfigError("target_column_name", f"target column {config.target_column_name!r} is not numeric; "
                                                    "forecasting needs numbers")
        if s.notna().sum() == 0:
            raise ConfigError("target_column_name", f"target column {config.target_column_name!r} has no values")

    def target_array(self, y: np.ndarray) -> np.ndarray:
        return pd.to_numeric(pd.Series(np.asarray(y)), errors="coerce").to_numpy(dtype=float)

    # ------------------------------------------------------------------------------------------ data
    def prepare(self, job: Any, log: Callable[[str, str], None]) -> PreparedRun:
        from ..forecasting.features import detect_seasonality
        from ..forecasting.prep import (DS, ID, Y, forecasting_guardrails, infer_frequency, leaking_covariates,
                                        prepare_training, series_key)
        from ..forecasting.splitter import plan_rolling_origin

        config = job.config
        settings = config.task_settings
        if settings is None:
            raise _missing_settings()
        train, valid, test = self.load_frames(job)
        target = config.target_column_name
        messages: list[tuple[str, str]] = []
        # featurization column types: Ignore drops a column (a copy of the target such as logQuantity)
        ignored = [c for c, kind in config.featurization.column_name_and_types if kind == "Ignore"]
        if ignored:
            train, valid, test = (f.drop(columns=ignored, errors="ignore") if f is not None else None
                                  for f in (train, valid, test))
            messages.append(("info", f"ignored column(s) {ignored} (featurization column type Ignore)"))
        h = settings.forecast_horizon
        if test is None and config.test_data_size:
            # Test data given as a size: the last horizon of every series, the forecasts a user would make.
            # Periods, not rows: a series with a missing week inside its last horizon keeps the rows it has.
            order = pd.DataFrame({ID: series_key(train, settings.id_columns).to_numpy(),
                                  DS: pd.to_datetime(train[settings.time_column_name], errors="coerce").to_numpy()},
                                 index=train.index)
            offset = pd.tseries.frequencies.to_offset(settings.frequency or infer_frequency(order.dropna())[0])
            last = order.groupby(ID, sort=False)[DS].transform("max")
            in_test = (order[DS] > last - h * offset).to_numpy()
            test, train = train[in_test].reset_index(drop=True), train[~in_test].reset_index(drop=True)
            messages.append(("info", f"test data: the last {h} periods of each series ({len(test)} rows)"))
        if config.weight_column_name:
            messages.append(("warning", "weight_column_name is not used by forecasting models; every period counts "
                                        "the same"))
        data = train if valid is None else pd.concat([train, valid[train.columns]], ignore_index=True)
        prepared = prepare_training(data, target, settings, config.weight_column_name)
        frame = prepared.frame
        if settings.seasonality == "auto":
            season, season_reason = detect_seasonality(frame, prepared.freq)
        else:
            season, season_reason = int(settings.seasonality), "given"
        if valid is not None:
            n_folds, step = 1, h
        else:
            n_folds = config.n_cross_validations or "auto"
            step = settings.cv_step_size
        plan = plan_rolling_origin(frame, prepared.freq, h, n_folds, step)
        X = _user_frame(frame, prepared, settings)
        y = frame[Y].to_numpy(dtype=float)
        splits = make_splits(RollingOriginSplitter(plan, frame), X, y)
        validation = {**plan.to_dict(), "method": "rolling_origin",
                      "source": "validation_data" if valid is not None else "training_data"}
        guardrails = forecasting_guardrails(prepared, settings, leaking_covariates(prepared, settings))
        guardrails.insert(1, {"name": "seasonality_detection",
                              "status": "done" if settings.seasonality == "auto" else "passed",
                              "description": f"Season length {season}: {season_reason}.",
                              "parameters": {"season": int(season)}})
        guardrails.insert(2, {"name": "validation_method", "status": "done", "description": plan.reason,
                              "parameters": validation})
        known = [c for c in prepared.covariates if c not in settings.unknown_features]
        meta = {
            "problem_type": self.name, "target": target, "classes": None, "positive_label": None,
            "primary_metric": config.primary_metric, "validation": validation, "plan": [],
            "featurization_mode": config.featurization.mode, "onnx_compatible": False,
            "random_state": config.random_state, "forecast_settings": settings.to_dict(),
            "frequency": prepared.freq, "season": int(season), "covariates": prepared.covariates,
            "known_covariates": known,
        }
        messages.append(("info", plan.reason))
        drop = [c for c in (target, config.weight_column_name) if c]
        return PreparedRun(X=X, y=y, weights=None, splits=splits, meta=meta, validation=validation, plans=[],
                           guardrails=guardrails, test=test, drop=drop, messages=messages,
                           flags={"n_points": int(len(frame)), "n_series": prepared.n_series, "season": int(season),
                                  "has_covariates": bool(known)})

    def splitter(self, validation: Mapping[str, Any], random_state: int, n_validation_rows: int = 0) -> Any:
        raise ConfigError("task", "forecasting chooses its rolling origins in prepare(); there is no row splitter")

    # ------------------------------------------------------------------------------------------ models
    def portfolio(self, flags: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The plugins' declared order; Arimax (ARIMA with regressors) only when there are known covariates."""
        order = super().portfolio(flags)
        if flags is not None and not flags.get("has_covariates", True):
            order = [(n, p) for n, p in order if n != "Arimax"]
        return order

    def build_pipeline(self, meta: Mapping[str, Any], algorithm: str, hyperparameters: Mapping[str, Any],
                       n_jobs: int = 1, random_state: int = 0) -> Any:
        from ..forecasting.models import ForecastModel
        from ..forecasting.settings import ForecastSettings

        settings = ForecastSettings.from_dict(meta["forecast_settings"])
        params = {k: v for k, v in dict(hyperparameters).items() if k != "class_weight"}
        return ForecastModel(settings, algorithm, params, meta["target"], random_state, n_jobs,
                             season=meta["season"], frequency=meta["frequency"])

    def predict_scores(self, model: Any, X: Any, classes: Sequence[Any] | None, cache: Any = None) -> np.ndarray:
        return np.asarray(model.predict(X), dtype=float)

    def finish_model(self, model: Any, y_true: np.ndarray, oof: np.ndarray, context: ScoringContext) -> Any:
        """Calibrate the final model's prediction intervals on its rolling-origin residuals."""
        res = _result_frame(y_true, oof, context)
        model.calibrate(res.assign(residual=res["y"] - res["prediction"]))
        return model

    # ------------------------------------------------------------------------------------------ metrics
    def compute_metrics(self, y_true, pred, context: ScoringContext) -> dict[str, float]:
        from ..forecasting.metrics import forecast_metrics

        return forecast_metrics(_result_frame(y_true, pred, context), _scales(context))

    def compute_charts(self, y_true, pred, context: ScoringContext) -> dict[str, Any]:
        from ..forecasting.metrics import forecast_charts, per_horizon_metrics, per_series_metrics

        res = _result_frame(y_true, pred, context)
        scales = _scales(context)
        if context.splits is not None and context.history is not None:
            # The band the model's intervals draw, calibrated (as finish_model does) on these rolling-origin
            # residuals, so every validation window shows its interval and not the test window alone.
            from ..forecasting.models import DEFAULT_QUANTILES, residual_intervals

            h = int(context.meta["forecast_settings"]["forecast_horizon"])
            residuals = res.assign(residual=res["y"] - res["prediction"])
            intervals, scale = residual_intervals(_history(context), residuals, h)
            low, high = DEFAULT_QUANTILES[0], DEFAULT_QUANTILES[-1]
            res = res.assign(lower=res["prediction"] + intervals.offset(low, res["step"].to_numpy()) * scale,
                             upper=res["prediction"] + intervals.offset(high, res["step"].to_numpy()) * scale)
        charts = forecast_charts(res)
        charts["per_horizon"] = per_horizon_metrics(res)
        charts["per_series"] = per_series_metrics(res, scales)
        return charts

    def primary_scorer(self, metric: str, y_true, context: ScoringContext):
        from ..forecasting.ensemble import primary_score

        y = np.asarray(y_true, dtype=float)
        return lambda pred: primary_score(y, np.asarray(pred, dtype=float), metric)

    # ------------------------------------------------------------------------------------------ ensembles
    def fit_stacker(self, oofs, y, context: ScoringContext, random_state: int = 0):
        """ElasticNet with non-negative weights on the members' forecasts; its own forecasts for the
        entries are leave-one-origin-out (fitted on the other origins), so its score is out of sample."""
        from sklearn.linear_model import ElasticNetCV

        Z = self.meta_features(oofs)
        y = np.asarray(y, dtype=float)
        scale = float(np.std(y)) or 1.0
        origins = np.asarray(context.splits) if context.splits is not None else np.zeros(len(y), dtype=int)

        def fit(rows: np.ndarray) -> LinearStacker:
            # 20 penalties on each path, not scikit-learn's 100: a few members' weights barely move between
            # neighbouring ones, and the fit (once per origin, and once more) took seconds of a short budget.
            net = ElasticNetCV(l1_ratio=[0.1, 0.5, 0.9, 1.0], alphas=20, cv=min(3, max(2, int(rows.sum()) // 10)),
                               positive=True, fit_intercept=False, max_iter=5000, random_state=random_state)
            net.fit(Z[rows] / scale, y[rows] / scale)
            return LinearStacker(net.coef_, float(net.intercept_) * scale)

        pred = np.empty(len(y))
        uniq = np.unique(origins)
        if len(uniq) > 1:
            for o in uniq:
                pred[origins == o] = fit(origins != o).predict(Z[origins == o])
        meta = fit(np.ones(len(y), dtype=bool))
        if len(uniq) == 1:
            pred = meta.predict(Z)
        return meta, pred

    def assemble_ensemble(self, kind: str, members: Sequence[Any], weights: Sequence[float] | None = None,
                          meta_learner: Any = None, classes: Sequence[Any] | None = None) -> Any:
        """A :class:`~automl_engine.forecasting.ensemble.ForecastEnsemble`: the forecasting API
        (``predict``, ``forecast``, ``history=``) over its members."""
        from ..forecasting.ensemble import ForecastEnsemble

        if kind == "stacking":
            # Members the non-negative meta-learner weighs zero are left out: they would forecast for nothing.
            coef = np.asarray(meta_learner.coef_, dtype=float)
            used = np.flatnonzero(coef != 0) if np.any(coef != 0) else np.arange(1)
            return ForecastEnsemble([members[i] for i in used], coef[used], meta_learner.intercept_, kind="stacking")
        return ForecastEnsemble(members, weights, 0.0, kind="voting")

    # ------------------------------------------------------------------------------------------ reporting
    def featurization_summary(self, meta: Mapping[str, Any], plans: list[Any], X: pd.DataFrame,
                              random_state: int = 0) -> list[dict[str, Any]]:
        """One entry per input column: the time column becomes calendar (and holiday) features, the series
        ids a series category, known covariates enter at the forecast time (and lagged by feature_lags),
        unknown ones only lagged by the horizon; the target gives the lags and rolling means."""
        from ..forecasting.features import AUTO_LAGS, _base
        from ..forecasting.settings import ForecastSettings

        s = ForecastSettings.from_dict(meta["forecast_settings"])
        out = [{"column": s.time_column_name, "detected_type": "DateTime", "dropped": False,
                "transformations": ["calendar parts"] + (["holidays " + s.country_or_region_for_holidays]
                                                         if s.country_or_region_for_holidays else [])}]
        out += [{"column": c, "detected_type": "Categorical", "dropped": False,
                 "transformations": ["series id", "series category (tree models)"]} for c in s.id_columns]
        unknown = set(s.unknown_features)
        for c in meta.get("covariates", []):
            out.append({"column": c, "detected_type": "Numeric" if pd.api.types.is_numeric_dtype(X[c]) else
                        "Categorical", "dropped": False,
                        "transformations": [f"lag {s.forecast_horizon}+ only (unknown at forecast time)"]
                        if c in unknown else ["value at the forecast time"] +
                        ([f"lags {s.feature_lags}"] if s.feature_lags else [])})
        lags, windows = AUTO_LAGS.get(_base(meta["frequency"]), ([], []))
        lag_text = s.target_lags if s.target_lags not in (None, "auto") else f"auto ({len(lags)} by default)"
        win_text = s.target_rolling_window_size if s.target_rolling_window_size not in (None, "auto") else windows
        out.append({"column": meta["target"], "detected_type": "Numeric", "dropped": False, "transformations": [
            f"lags {lag_text}", f"rolling means {win_text}", *(["STL " + s.use_stl] if s.use_stl else [])]})
        return out

    def explain(self, model: Any, X: pd.DataFrame, y: np.ndarray, random_state: int = 0) -> dict[str, Any]:
        """Split-gain importances of a global tree model's features (lags, calendar, covariates); per-series
        statistical models have no feature importances."""
        from ..forecasting.models import GlobalCore

        core = getattr(model, "core_", None)
        est = getattr(core, "model_", None)
        est = est.steps[-1][1] if hasattr(est, "steps") else est  # imputer (and scaler) before the learner
        if not isinstance(core, GlobalCore) or not hasattr(est, "feature_importances_"):
            name = getattr(model, "algorithm", type(model).__name__)
            why = ("forecasts each series from its own history" if not isinstance(core, GlobalCore)
                   else "has no per-feature importances")
            return {"method": "none", "reason": f"{name} {why}", "global_importance": []}
        values = np.asarray(est.feature_importances_, dtype=float)
        total = values.sum() or 1.0
        order = np.argsort(-values)
        return {"method": "split_importance", "global_importance": [
            {"feature": core.columns_[i], "importance": round(float(values[i] / total), 6)} for i in order]}


def _missing_settings() -> ConfigError:
    return ConfigError("forecasting.time_column_name", "forecast settings are missing: call "
                                                       "job.set_forecast_settings(time_column_name=..., "
                                                       "forecast_horizon=...) or add a forecasting: block to the job")


def _user_frame(frame: pd.DataFrame, prepared: Any, settings: Any) -> pd.DataFrame:
    """The prepared long frame with the user's column names: time, series ids, covariates."""
    from ..forecasting.prep import DS, ID

    X = pd.DataFrame({settings.time_column_name: frame[DS].to_numpy()})
    ids = prepared.series_ids.set_index(ID)
    for c in settings.id_columns:
        X[c] = frame[ID].map(ids[c]).to_numpy()
    for c in prepared.covariates:
        X[c] = frame[c].to_numpy()
    return X


def _history(context: ScoringContext) -> pd.DataFrame:
    """The training series as a long frame (unique_id, ds, y), from the run's prepared data."""
    from ..forecasting.prep import DS, ID, Y, parse_time, series_key
    from ..forecasting.settings import ForecastSettings

    h = context.history
    settings = ForecastSettings.from_dict(context.meta["forecast_settings"])
    return pd.DataFrame({ID: series_key(h.X, settings.id_columns).to_numpy(),
                         DS: parse_time(h.X, settings.time_column_name).to_numpy(),
                         Y: np.asarray(h.y, dtype=float)})


def _scales(context: ScoringContext) -> pd.Series | None:
    from ..forecasting.metrics import mase_scales

    if context.history is None:
        return None
    return mase_scales(_history(context), max(int(context.meta.get("season", 1)), 1))


def _result_frame(y_true, pred, context: ScoringContext) -> pd.DataFrame:
    """One row per scored forecast: series, time, actual, forecast, horizon step and origin."""
    from ..forecasting.prep import DS, ID, Y, parse_time, series_key
    from ..forecasting.settings import ForecastSettings

    meta = context.meta
    settings = ForecastSettings.from_dict(meta["forecast_settings"])
    X = context.X.iloc[context.rows] if context.rows is not None else context.X
    keys = series_key(X, settings.id_columns).to_numpy()
    ds = pd.DatetimeIndex(parse_time(X, settings.time_column_name))
    if context.splits is not None:
        origins = pd.DatetimeIndex(pd.to_datetime(meta["validation"]["origins"]))[np.asarray(context.splits)]
        origin_label = origins.astype(str)
    else:
        hist = _history(context) if context.history is not None else None
        last = hist.groupby(ID)[DS].max() if hist is not None else pd.Series(dtype="datetime64[ns]")
        fallback = last.max() if len(last) else ds.min()
        origins = pd.DatetimeIndex(pd.Series(keys).map(last).fillna(fallback))
        origin_label = np.full(len(keys), "test", dtype=object)
    grid = pd.date_range(min(origins.min(), ds.min()), ds.max(), freq=meta["frequency"])
    step = grid.get_indexer(ds) - grid.get_indexer(origins)
    return pd.DataFrame({ID: keys, DS: ds, Y: np.asarray(y_true, dtype=float),
                         "prediction": np.asarray(pred, dtype=float), "step": step, "origin": origin_label})
