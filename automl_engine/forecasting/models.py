"""Forecasting models as scikit-learn-like estimators.

:class:`ForecastModel` is what a user holds: ``fit(X, y)`` on long-format data (time column, series id
columns, covariates), ``predict(X_future)`` (one point forecast per row), ``forecast(X_future,
quantiles=...)`` (a frame with time, ids, prediction and quantile columns) and ``history=`` on both to
forecast from a later origin without retraining. It delegates the arithmetic to a core:

* :class:`StatsCore`: per-series statistical models from statsforecast (Naive, SeasonalNaive, Average,
  SeasonalAverage, ExponentialSmoothing = AutoETS, AutoArima = AutoARIMA, Arimax = AutoARIMA with the
  known covariates as regressors);
* :class:`ProphetCore`: Prophet per series, known numeric covariates as extra regressors;
* :class:`GlobalCore`: one regression learner from :mod:`automl_engine.algorithms` across all series on
  lag, rolling-window, calendar, holiday, STL and covariate features, forecasting recursively.

Unknown series (not in the training data): a global model forecasts them from calendar and covariates
(lag features missing, the median scale of the training series); a per-series model raises a ValueError
saying so, unless ``history=`` gives the series' actuals (then it is fitted on them at forecast time).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import REGRESSION
from .features import (TargetFeatureSteps, calendar_columns, detect_seasonality, holiday_features,
                       resolve_feature_lags, resolve_target_lags, resolve_windows, stl_components,
                       target_feature_matrix, to_matrix)
from .prep import DS, ID, Y, PreparedData, grid_positions, parse_time, prepare_training, series_key
from .settings import ForecastSettings

STATS_ALGORITHMS = ("Naive", "SeasonalNaive", "Average", "SeasonalAverage", "ExponentialSmoothing", "AutoArima",
                    "Arimax")
PROPHET = "Prophet"
GLOBAL_ALGORITHMS = ("LightGBM", "XGBoostRegressor", "ElasticNet", "GradientBoosting", "DecisionTree", "KNN",
                     "LassoLars", "SGD", "RandomForest", "ExtremeRandomTrees")
FORECASTING_ALGORITHMS = STATS_ALGORITHMS + (PROPHET,) + GLOBAL_ALGORITHMS
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
PROPHET_MAX_POINTS = 2000
GLOBAL_MAX_HISTORY = 50000


def _statsforecast_model(name: str, m: int, params: dict[str, Any], n_points: int):
    # Numba-compiled statsforecast kernels are cached on disk so only the first process ever compiles them.
    os.environ.setdefault("NIXTLA_NUMBA_CACHE", "1")
    from statsforecast import models as sfm

    m = max(int(m), 1)
    if name == "Naive":
        return sfm.Naive()
    if name == "SeasonalNaive":
        return sfm.SeasonalNaive(season_length=m) if m > 1 else sfm.Naive()
    if name == "Average":
        return sfm.HistoricAverage()
    if name == "SeasonalAverage":
        if m < 2:
            return sfm.HistoricAverage()
        seasons = max(1, min(int(params.get("window_size", 4)), n_points // m))
        return sfm.SeasonalWindowAverage(season_length=m, window_size=seasons)
    if name == "ExponentialSmoothing":
        return sfm.AutoETS(season_length=m if m <= 24 else 1, model=params.get("model", "ZZZ"))
    if name in ("AutoArima", "Arimax"):
        return sfm.AutoARIMA(season_length=m, approximation=True, stepwise=True,
                             max_p=params.get("max_p", 3), max_q=params.get("max_q", 3))
    raise ValueError(f"unknown statistical algorithm {name!r}")


# Points of history the slower statistical models are fitted on: their parameters settle long before
# 10 seasons, and AutoARIMA on a year of hours would not finish in a trial's budget.
def _history_cap(name: str, m: int) -> int | None:
    if name in ("AutoArima", "Arimax"):
        return max(6 * m, 120) if m <= 24 else max(3 * m, 150)
    if name == "ExponentialSmoothing":
        return max(20 * m, 300)
    return None


class StatsCore:
    """One statsforecast model per series (fitted in a grouped loop over series)."""

    per_series = True

    def __init__(self, algorithm: str, params: dict[str, Any], m: int, exog: Sequence[str]):
        self.algorithm = algorithm
        self.params = params
        self.m = m
        self.exog = list(exog) if algorithm == "Arimax" else []

    def _arrays(self, g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        cap = _history_cap(self.algorithm, self.m)
        if cap is not None and len(g) > cap:
            g = g.iloc[-cap:]
        y = g[Y].to_numpy(dtype=float)
        exog = self._series_exog(g)
        X = g[exog].to_numpy(dtype=float) if exog else None
        return y, X

    def _series_exog(self, g: pd.DataFrame) -> list[str]:
        # Covariates constant within a series (a store's demographics) are collinear with ARIMA's mean.
        return [c for c in self.exog if g[c].nunique() > 1]

    def _fit_one(self, g: pd.DataFrame):
        y, X = self._arrays(g)
        model = _statsforecast_model(self.algorithm, self.m, self.params, len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted = model.fit(y, X) if X is not None else model.fit(y)
                fitted._automl_exog = self._series_exog(g) if X is not None else []
            except Exception:
                if X is None:
                    raise
                # Collinear regressors: ARIMA without them rather than no forecast.
                fitted = _statsforecast_model(self.algorithm, self.m, self.params, len(y)).fit(y)
                fitted._automl_exog = []
            return fitted

    def fit(self, frame: pd.DataFrame, context: dict[str, Any]) -> "StatsCore":
        self.models_ = {sid: self._fit_one(g) for sid, g in frame.groupby(ID, sort=False)}
        # A model without regressors forecasts the same path from its training origin every time: it is
        # computed here, once, and a forecast from that origin reads its first steps (the same numbers:
        # each step of these recursions depends only on the steps before it).
        H = int(context["horizon"])
        self.paths_ = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for sid, model in self.models_.items():
                if not getattr(model, "_automl_exog", None):
                    self.paths_[sid] = np.asarray(model.predict(h=H)["mean"], dtype=float)
        return self

    def predict_paths(self, history: pd.DataFrame, future: pd.DataFrame, steps: pd.Series,
                      refit_series: set) -> dict[Any, np.ndarray]:
        """Point forecasts for steps 1..steps[sid] of each series; ``refit_series`` are series whose
        history differs from the training data (``history=``). ``future`` holds each series' rows in step
        order (:meth:`ForecastModel._future`'s path)."""
        out = {}
        paths = getattr(self, "paths_", None) or {}  # a model saved before they were kept has none
        # A series' history is needed only to refit (or, for a model saved before, to read which
        # covariates it uses): splitting the whole history into frames per series took longer than the
        # forecasts themselves.
        need = {sid for sid in steps.index if sid in refit_series or sid not in self.models_
                or (self.exog and not hasattr(self.models_[sid], "_automl_exog"))}
        groups = {}
        if need:
            sub = history[history[ID].isin(need)]
            groups = {sid: sub.iloc[idx] for sid, idx in sub.groupby(ID, sort=False).indices.items()}
        first = _path_starts(steps)
        for sid, h in steps.items():
            h = int(h)
            model = self.models_.get(sid)
            if model is not None and sid not in refit_series and sid not in groups:
                # From the training origin: the kept path, or the model's forecast with the covariates it
                # was fitted with (those varying within the series' history, as _fit_one chose them).
                path = paths.get(sid)
                if path is not None and h <= len(path):
                    out[sid] = path[:h]
                    continue
                exog = model._automl_exog
                Xf = None
                if exog:
                    Xf = future[exog].to_numpy(dtype=float)[first[sid]:first[sid] + h]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = model.predict(h=h, X=Xf) if Xf is not None else model.predict(h=h)
                out[sid] = np.asarray(res["mean"], dtype=float)
                continue
            Xf = None
            g = groups.get(sid)
            exog = self._series_exog(g) if (self.exog and g is not None) else []
            if exog and (model is None or getattr(model, "_automl_exog", None) == exog):
                fut = future[future[ID] == sid].sort_values(DS).iloc[:h]
                Xf = fut[exog].to_numpy(dtype=float)
            if model is None or sid in refit_series:
                if g is None:
                    raise ValueError(f"series {sid!r} was not in the training data: the per-series model "
                                     f"{self.algorithm} cannot forecast it; pass its recent actuals with "
                                     "history= or use a global model")
                y, X = self._arrays(g)
                if model is not None and hasattr(model, "forward") and self.algorithm not in ("Naive",):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        try:
                            res = model.forward(y=y, h=h, X=X, X_future=Xf) if Xf is not None else \
                                model.forward(y=y, h=h)
                        except Exception:
                            res = None
                    if res is not None:
                        out[sid] = np.asarray(res["mean"], dtype=float)
                        continue
                model = self._fit_one(g)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = model.predict(h=h, X=Xf) if Xf is not None else model.predict(h=h)
            out[sid] = np.asarray(res["mean"], dtype=float)
        return out


class ProphetCore:
    """Prophet per series; known numeric covariates as extra regressors, the country's holidays."""

    per_series = True

    def __init__(self, algorithm: str, params: dict[str, Any], m: int, exog: Sequence[str],
                 country: str | None = None):
        self.algorithm = algorithm
        self.params = params
        self.m = m
        self.exog = list(exog)
        self.country = country

    def _fit_one(self, g: pd.DataFrame):
        import logging

        from prophet import Prophet

        for name in ("prophet", "cmdstanpy"):
            logging.getLogger(name).setLevel(logging.ERROR)
        model = Prophet(seasonality_mode=self.params.get("seasonality_mode", "additive"),
                        changepoint_prior_scale=self.params.get("changepoint_prior_scale", 0.05),
                        uncertainty_samples=0)
        if self.country:
            model.add_country_holidays(country_name=self.country)
        exog = [c for c in self.exog if g[c].nunique() > 1]
        for c in exog:
            model.add_regressor(c)
        # Prophet's fit grows with the points; two thousand (three months of hours) set its curve as well.
        model.fit(g[[DS, Y] + exog].iloc[-PROPHET_MAX_POINTS:])
        model._automl_exog = exog
        return model

    def fit(self, frame: pd.DataFrame, context: dict[str, Any]) -> "ProphetCore":
        self.models_ = {}
        H, freq = int(context["horizon"]), context["freq"]
        for sid, g in frame.groupby(ID, sort=False):
            model = self._fit_one(g)
            # The date features of the horizon after the training end, which every forecast from that
            # origin multiplies (see _prophet_yhat): computed once, here.
            _prophet_date_parts(model, pd.date_range(g[DS].iloc[-1], periods=H + 1, freq=freq)[1:].to_numpy())
            self.models_[sid] = model
        return self

    def predict_paths(self, history: pd.DataFrame, future: pd.DataFrame, steps: pd.Series,
                      refit_series: set) -> dict[Any, np.ndarray]:
        out = {}
        need = {sid for sid in steps.index if sid in refit_series or sid not in self.models_}
        groups = {}
        if need:
            sub = history[history[ID].isin(need)]
            groups = {sid: sub.iloc[idx] for sid, idx in sub.groupby(ID, sort=False).indices.items()}
        first = _path_starts(steps)
        ds = future[DS].to_numpy(dtype="datetime64[ns]")
        regressors = {c: future[c].to_numpy(dtype=float) for c in self.exog}
        for sid, h in steps.items():
            model = self.models_.get(sid)
            if model is None:
                g = groups.get(sid)
                if g is None:
                    raise ValueError(f"series {sid!r} was not in the training data: the per-series model "
                                     "Prophet cannot forecast it; pass its recent actuals with history= or use a "
                                     "global model")
                model = self._fit_one(g)
            rows = slice(first[sid], first[sid] + int(h))
            pred = _prophet_yhat(model, ds[rows], {c: regressors[c][rows] for c in model._automl_exog})
            if sid in refit_series and sid in groups:
                # A later origin: Prophet has no state to roll forward, so shift its curve by the mean
                # error over the newest season of actuals (the level it has drifted from).
                g = groups[sid].iloc[-max(self.m, 7):]
                fitted = _prophet_yhat(model, g[DS].to_numpy(dtype="datetime64[ns]"),
                                       {c: g[c].to_numpy(dtype=float) for c in model._automl_exog})
                pred = pred + float(np.mean(g[Y].to_numpy(dtype=float) - fitted))
            out[sid] = pred
        return out


def _fill_within(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Missing values filled from the previous known value of the same segment, else the next one (a
    grouped ``ffill().bfill()`` over consecutive segments, without the grouping)."""
    missing = pd.isna(values)
    if not missing.any():
        return values
    n = len(values)
    at = np.arange(n)
    seg_start = np.repeat(starts, lengths)
    seg_end = seg_start + np.repeat(lengths, lengths)
    before = np.maximum.accumulate(np.where(missing, -1, at))
    after = np.minimum.accumulate(np.where(missing, n, at)[::-1])[::-1]
    source = np.where(before >= seg_start, before, np.where(after < seg_end, after, -1))
    out = values.copy()
    fill = missing & (source >= 0)
    out[fill] = values[source[fill]]
    return out


def _path_starts(steps: pd.Series) -> dict[Any, int]:
    """Where each series' rows start in a path (the series one after the other, steps 1..steps[sid])."""
    n = steps.to_numpy().astype(np.int64)
    return dict(zip(steps.index, (np.cumsum(n) - n).tolist()))


PROPHET_DATE_PARTS_KEPT = 8


def _prophet_date_parts(model: Any, ds: np.ndarray) -> tuple:
    """What Prophet's ``predict`` computes from the dates alone (ascending ``datetime64[ns]``), kept on the
    model by first date: the dates, the trend, the feature matrix (seasonalities, holidays, then the
    regressors' columns, here holding each regressor's mean until a forecast writes its values), the
    regressors' column positions and the coefficients of the additive and multiplicative terms. Built with
    Prophet's own functions, so the matrix is the one its ``predict`` multiplies; a request for the first n
    of the kept dates uses the first n rows."""
    ds = np.asarray(ds, dtype="datetime64[ns]")
    kept = model.__dict__.setdefault("_automl_date_parts", {})
    entry = kept.get(int(ds[0].view("int64")))
    if entry is not None and len(entry[0]) >= len(ds) and (entry[0][:len(ds)] == ds).all():
        return entry
    df = pd.DataFrame({"ds": ds})
    for name, props in model.extra_regressors.items():
        df[name] = props["mu"]  # its mean for now: each forecast writes the standardised values into the column
    df = model.setup_dataframe(df)
    trend = np.asarray(model.predict_trend(df), dtype=float)
    features, _, component_cols, _ = model.make_all_seasonality_features(df)
    positions = {name: features.columns.get_loc(name) for name in model.extra_regressors}
    beta = model.params["beta"]
    entry = (ds.copy(), trend, features.values, positions, beta * component_cols["additive_terms"].values,
             beta * component_cols["multiplicative_terms"].values)
    if len(kept) >= PROPHET_DATE_PARTS_KEPT:
        kept.pop(next(iter(kept)))
    kept[int(ds[0].view("int64"))] = entry
    return entry


def _prophet_yhat(model: Any, ds: np.ndarray, regressors: dict[str, np.ndarray]) -> np.ndarray:
    """``model.predict(frame)["yhat"]`` for a frame of dates ``ds`` (ascending) and the model's regressors
    (no uncertainty samples) without the frame work around the arithmetic: the date features come from
    :func:`_prophet_date_parts`, the regressors are standardised into their columns, and the terms are
    Prophet's own products, ``trend * (1 + multiplicative) + additive``. Prophet's predict took 20 ms a
    series, 0.9 s for an ensemble of five Prophets on nine series."""
    n = len(ds)
    _, trend, features, positions, beta_add, beta_mult = _prophet_date_parts(model, ds)
    X = features[:n].copy(order="K")
    for name, pos in positions.items():
        props = model.extra_regressors[name]
        values = regressors[name]
        if np.isnan(values).any():
            raise ValueError(f"Found NaN in column {name!r}")  # Prophet's own check and words
        X[:, pos] = (values - props["mu"]) / props["std"]
    additive = np.matmul(X, beta_add.transpose())
    additive *= model.y_scale
    multiplicative = np.matmul(X, beta_mult.transpose())
    # Prophet averages each term over its samples of the coefficients (np.nanmean over axis 1); a MAP fit has
    # one sample, whose average is the value itself
    if beta_add.shape[0] == 1:
        multiplicative, additive = multiplicative[:, 0], additive[:, 0]
    else:
        multiplicative, additive = np.nanmean(multiplicative, axis=1), np.nanmean(additive, axis=1)
    return trend[:n] * (1 + multiplicative) + additive


class GlobalCore:
    """One regression learner across all series, forecasting recursively on lag features.

    The target of series s is divided by its scale (mean absolute value in training). ``target_mode``
    ``"level"``: the learner predicts the difference from the trailing mean of the last season (the level),
    with lag features relative to it, so it follows trends a tree could not extrapolate; ``"scaled"``: it
    predicts the scaled value itself."""

    per_series = False

    def __init__(self, algorithm: str, params: dict[str, Any], m: int, exog: Sequence[str], context: dict[str, Any]):
        self.algorithm = algorithm
        self.params = dict(params)
        self.m = m
        self.exog = list(exog)
        self.context = context

    # -- features -----------------------------------------------------------------------------------
    def _exog_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every feature not derived from the target, for rows of a long frame holding history and future
        rows (covariate lags reach back into the history)."""
        return pd.DataFrame(self._exog_columns(frame))

    def _exog_columns(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """:meth:`_exog_features` as name -> values, in training order (a forecast builds no frame of them)."""
        c = self.context
        ds = frame[DS]
        cols = calendar_columns(ds, c["freq"])
        if c.get("country"):
            cols["holiday"] = holiday_features(ds, c["freq"], c["country"])["holiday"].to_numpy()
        grouped = frame.groupby(ID, sort=False) if self.feature_lags_ or self.unknown_ else None
        for col in self.exog:
            cols[col] = self._encode(col, frame[col])
            for k in self.feature_lags_:
                cols[f"{col}_lag{k}"] = self._encode(col, grouped[col].shift(k))
        for col in self.unknown_:
            for k in self.unknown_lags_:
                cols[f"{col}_lag{k}"] = self._encode(col, grouped[col].shift(k))
        if self.use_id_:
            codes = self.series_codes_
            cols["series"] = np.array([codes.get(k, -1) for k in frame[ID].to_numpy()], dtype=float)
        return cols

    def _encode(self, col: str, values: pd.Series) -> np.ndarray:
        cats = self.categories_.get(col)
        if cats is None:
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                return values.to_numpy(dtype=float)  # what to_numeric leaves of numbers, without its checks
            return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return values.map(cats).to_numpy(dtype=float)

    def _target_array(self, matrix: np.ndarray, rows: np.ndarray,
                      cols: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The target features of cells (rows, cols) of a (series x time) matrix as names, a float matrix
        (one column per name, in training order) and the level; one implementation for fit and predict
        (the recursive forecast computes the same features a column at a time, :meth:`_step_values`)."""
        feats = target_feature_matrix(matrix, self.lags_, self.windows_, self.level_window_)
        return self._target_values({name: v[rows, cols] for name, v in feats.items()}, len(rows))

    def _target_values(self, feats: dict[str, np.ndarray], n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The target features of ``n`` selected cells (name -> values, ``level`` among them in level mode) ->
        names, the float matrix the learner sees and the level."""
        level_at = feats.pop("level", None)
        if level_at is not None:
            level_at = np.where(np.isnan(level_at), 1.0, level_at)  # unknown series: the mean scaled level
        else:
            level_at = np.zeros(n)
        names = list(feats)
        values = np.empty((n, len(names) + (self.target_mode == "level")))
        for i, name in enumerate(names):
            v = feats[name]
            values[:, i] = v - level_at if self.target_mode == "level" else v
        if self.target_mode == "level":
            names.append("level")
            values[:, -1] = level_at
        return names, values, level_at

    def _step_values(self, feats: np.ndarray, level: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_target_values` for the recursive loop, on :class:`TargetFeatureSteps`' matrix (lags and
        rolling means in training order) and level: the same arithmetic, a matrix at a time."""
        level_at = np.where(np.isnan(level), 1.0, level) if level is not None else np.zeros(len(feats))
        if self.target_mode != "level":
            return feats, level_at
        return np.hstack([feats - level_at[:, None], level_at[:, None]]), level_at

    def _target_features(self, matrix: np.ndarray, rows: np.ndarray,
                         cols: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        names, values, level_at = self._target_array(matrix, rows, cols)
        return pd.DataFrame(values, columns=names), level_at

    # -- fit / predict -------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, context: dict[str, Any]) -> "GlobalCore":
        from ..algorithms import get_algorithm

        c = self.context
        self.target_mode = self.params.pop("target_mode", "level")
        min_len = int(frame.groupby(ID, sort=False).size().min())
        self.lags_ = resolve_target_lags(c["target_lags"], self.m, c["horizon"], min_len, c["freq"])
        self.windows_ = resolve_windows(c["windows"], self.m, min_len, c["freq"])
        self.level_window_ = max(self.m, 2) if self.target_mode == "level" else None
        self.feature_lags_ = resolve_feature_lags(c["feature_lags"])
        self.unknown_ = list(c["unknown"])
        self.unknown_lags_ = [c["horizon"] + k - 1 for k in (resolve_feature_lags(c["feature_lags"]) or [1])]
        # The learner's declaration is looked up, not kept: a model holding it would pickle its ``build``
        # function, which for the forests is a closure (RandomForest and ExtremeRandomTrees trials failed).
        algo = get_algorithm(REGRESSION, self.algorithm)
        self.use_id_ = bool(algo.is_tree) and frame[ID].nunique() > 1
        sids = pd.unique(frame[ID])
        self.series_codes_ = {sid: i for i, sid in enumerate(sids)}
        self.categories_ = {}
        for col in self.exog + self.unknown_:
            if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
                self.categories_[col] = {v: i for i, v in enumerate(pd.unique(frame[col].astype(object)))}
        # Global learners fit on the latest GLOBAL_MAX_HISTORY periods of each series (about five years of
        # hours). Years matter: hourly NYC demand in August, MASE 0.63 from eight months of history (no
        # summer to learn the heat from), 0.50 from two years, 0.25 from all five and a half.
        limit = int(self.params.pop("max_history", GLOBAL_MAX_HISTORY))
        frame = frame.groupby(ID, sort=False).tail(limit).reset_index(drop=True)
        scale = frame.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s))))
        self.scale_ = scale.where(scale > 1e-9, 1.0)
        self.default_scale_ = float(self.scale_.median())
        work = frame.copy()
        work[Y] = work[Y] / work[ID].map(self.scale_).to_numpy()
        ids, matrix, (rows, cols) = to_matrix(work, Y)
        tfeats, level = self._target_features(matrix, rows, cols)
        X = pd.concat([tfeats, self._exog_features(frame).reset_index(drop=True)], axis=1)
        if self.context.get("stl"):
            X = pd.concat([X, self._stl_train(frame)], axis=1)
        target = work[Y].to_numpy() - (level if self.target_mode == "level" else 0.0)
        first = tfeats["lag_1"].isna().to_numpy() if "lag_1" in tfeats else np.zeros(len(X), bool)
        keep = ~first
        self.columns_ = list(X.columns)
        self.model_ = self._build(context)
        self.model_.fit(X.loc[keep].to_numpy(dtype=float), target[keep])
        self.history_width_ = max(self.lags_ + self.windows_ + [self.level_window_ or 0, 1]) + 1
        # The scaled values a forecast from the training origin starts from (the last history_width_ of each
        # series), so that predict does not cut them out of the history frame again.
        width = self.history_width_
        tail = np.full((len(ids), width), np.nan)
        keep = min(width, matrix.shape[1])
        tail[:, width - keep:] = matrix[:, matrix.shape[1] - keep:]
        self.tail_ids_, self.tail_ = ids, tail
        self._predict = self._step_predictor()
        return self

    # The step predictor is built when the learner is fitted or loaded, not at the first forecast (for a forest,
    # its node arrays took longer than the forecast), and it is not pickled: it holds closures, and a forest's
    # node arrays are as large as its trees.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_predict", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "model_" in state:
            self._predict = self._step_predictor()

    def _build(self, context: dict[str, Any]):
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        params = {k: v for k, v in self.params.items() if k != "target_transform"}
        # One thread: a global model's data is small (thousands of rows), and on a busy machine LightGBM's
        # OpenMP threads spin-wait for each other: 11 s instead of 0.4 s for 150 rounds on 288 rows with 2
        # threads under load. Trials, not threads, use the cores.
        from ..algorithms import get_algorithm

        algo = get_algorithm(REGRESSION, self.algorithm)
        est = algo.build(params, REGRESSION, 1, context.get("random_state", 0))
        if self.algorithm in ("LightGBM", "XGBoostRegressor"):
            return est  # missing lags are a signal these learners handle natively
        steps = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if algo.needs_scaling:
            steps.append(StandardScaler())
        return make_pipeline(*steps, est)

    def _stl_train(self, frame: pd.DataFrame) -> pd.DataFrame:
        comps = stl_components(frame, self.m, self.context["stl"] == "season_trend")
        self.stl_ = {sid: (v[0], v[1]) for sid, v in comps.items()}
        scale = frame[ID].map(self.scale_).to_numpy()
        season = np.concatenate([comps[sid][2] for sid in pd.unique(frame[ID])]) / scale
        out = {"stl_season": season}
        if self.context["stl"] == "season_trend":
            out["stl_trend"] = np.concatenate([comps[sid][3] for sid in pd.unique(frame[ID])]) / scale
        return pd.DataFrame(out)

    def _stl_future(self, future: pd.DataFrame) -> pd.DataFrame:
        season = np.zeros(len(future))
        trend = np.zeros(len(future))
        for sid, idx in future.groupby(ID, sort=False).indices.items():
            seas, last = self.stl_.get(sid, (np.zeros(max(self.m, 1)), np.array([np.nan])))
            steps = future["__step__"].to_numpy()[idx]
            s = self.scale_.get(sid, self.default_scale_)
            season[idx] = seas[(steps - 1) % len(seas)] / s
            trend[idx] = last[0] / s
        out = {"stl_season": season}
        if self.context["stl"] == "season_trend":
            out["stl_trend"] = trend
        return pd.DataFrame(out)

    def _exog_key(self) -> tuple:
        """What the non-target features of a future frame depend on: members of an ensemble trained on the
        same data share them (and compute them once, see :meth:`predict_paths`' ``cache``)."""
        return ("exog", tuple(self.exog), tuple(self.feature_lags_), tuple(self.unknown_), tuple(self.unknown_lags_),
                self.use_id_, tuple(self.series_codes_.items()) if self.use_id_ else (),
                tuple((c, tuple(m.items())) for c, m in sorted(self.categories_.items())),
                tuple(sorted((k, str(v)) for k, v in self.context.items() if k in ("freq", "country"))))

    def _future_exog(self, hist: pd.DataFrame, fut: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """The non-target features of the future rows, whose covariate lags reach back into ``hist``, and
        those rows in (series, time) order."""
        both = pd.concat([hist.assign(__step__=0), fut], ignore_index=True)
        both = both.sort_values([ID, DS], kind="stable").reset_index(drop=True)
        is_future = both["__step__"].to_numpy() > 0
        exog = {name: values[is_future] for name, values in self._exog_columns(both).items()}
        fut_sorted = both.loc[is_future].reset_index(drop=True)
        return self._exog_matrix(fut_sorted, exog), fut_sorted

    def _exog_matrix(self, fut: pd.DataFrame, exog: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The non-target features of future rows as the learner's float matrix (``exog``: name -> values
        when already computed)."""
        exog = self._exog_columns(fut) if exog is None else exog
        if self.context.get("stl"):
            exog = {**exog, **{name: values.to_numpy() for name, values in self._stl_future(fut).items()}}
        n_target = len(self.columns_) - len(exog)
        if list(exog) != self.columns_[n_target:]:
            raise RuntimeError("forecast features differ from the training features")  # a bug, not bad input
        return np.column_stack([np.asarray(v, dtype=float) for v in exog.values()])

    def _step_predictor(self):
        """``X -> predictions`` for the recursive loop's one call per step. The learners' own ``predict``
        checks its input each time (a few milliseconds per call, the bulk of a forecast of tens of steps
        by an ensemble of several learners); these compute the same numbers on the checked matrix:
        LightGBM's booster, XGBoost's in-place prediction (what ``XGBRegressor.predict`` calls), the imputer
        and scaler as arithmetic, a linear learner's coefficients, a forest's trees summed in its order and
        divided by their number (what scikit-learn's ``predict`` does with one job), any other learner's own
        ``predict`` after that arithmetic."""
        model = self.model_
        if self.algorithm == "LightGBM" and hasattr(model, "booster_"):
            booster = model.booster_
            return lambda X: booster.predict(X, num_threads=1)
        if self.algorithm == "XGBoostRegressor" and hasattr(model, "get_booster") and model._can_use_inplace_predict():
            xgb_booster = model.get_booster()
            iteration_range = model._get_iteration_range(None)
            missing = model.missing
            return lambda X: xgb_booster.inplace_predict(X, iteration_range=iteration_range, predict_type="value",
                                                         missing=missing, validate_features=False)
        steps = getattr(model, "steps", None)
        if steps is None or len(steps) not in (2, 3):
            return model.predict
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import StandardScaler

        est = steps[-1][1]
        imputer = steps[0][1]
        scaler = steps[1][1] if len(steps) == 3 else None
        if type(imputer) is not SimpleImputer or not np.all(np.isfinite(imputer.statistics_)) or \
                (scaler is not None and type(scaler) is not StandardScaler):
            return model.predict
        fill = np.asarray(imputer.statistics_, dtype=float)
        mean = np.asarray(scaler.mean_, dtype=float) if scaler is not None and scaler.with_mean else 0.0
        sd = np.asarray(scaler.scale_, dtype=float) if scaler is not None and scaler.with_std else 1.0

        def prepare(X: np.ndarray) -> np.ndarray:
            return (np.where(np.isnan(X), fill, X) - mean) / sd

        kind = type(est).__name__
        if hasattr(est, "coef_") and hasattr(est, "intercept_") and np.ndim(est.coef_) == 1 and \
                kind in ("ElasticNet", "LassoLars", "SGDRegressor", "Lasso", "Ridge", "LinearRegression"):
            coef = np.asarray(est.coef_, dtype=float)
            intercept = float(np.ravel(est.intercept_)[0]) if np.ndim(est.intercept_) else float(est.intercept_)
            return lambda X: prepare(X) @ coef + intercept
        if kind in ("RandomForestRegressor", "ExtraTreesRegressor", "DecisionTreeRegressor") and est.n_outputs_ == 1:
            trees = _TreeArrays.of_trees([e.tree_ for e in getattr(est, "estimators_", [est])])
            return lambda X: trees.mean(prepare(X).astype(np.float32))
        if kind == "HistGradientBoostingRegressor":
            hgb = _hist_gradient_boosting_predictor(est, prepare)
            if hgb is not None:
                return hgb
        return lambda X: est.predict(prepare(X))

    def predict_paths(self, history: pd.DataFrame, future: pd.DataFrame, steps: pd.Series,
                      refit_series: set, cache: dict | None = None) -> dict[Any, np.ndarray]:
        """Recursive forecasts: step j's prediction becomes lag 1 of step j+1, one learner call per step
        for all series at once. ``cache``: a dict shared by the members of an ensemble forecasting the same
        frame, which then build the calendar and covariate features once."""
        sids = list(steps.index)
        H = int(steps.max())
        width = self.history_width_
        known_scale = _positions(self.scale_.index, sids)
        scale = np.where(known_scale >= 0, self.scale_.to_numpy(dtype=float)[known_scale], self.default_scale_)
        buffer = np.full((len(sids), width + H), np.nan)
        hist = None
        if getattr(self, "tail_", None) is not None and not refit_series:
            # From the training origin: the values kept at fit time (a model saved before has none).
            pos = _positions(self.tail_ids_, sids)
            known = pos >= 0
            buffer[known, :width] = self.tail_[pos[known]]
        else:
            hist = self._history_tail(history, sids, width)
            if len(hist):
                work = hist.copy()
                work[Y] = work[Y] / work[ID].map(self.scale_).fillna(self.default_scale_).to_numpy()
                ids, matrix, _ = to_matrix(work, Y, width)
                order = {sid: i for i, sid in enumerate(sids)}
                buffer[[order[i] for i in ids], :width] = matrix
        # Future rows for every series and step 1..H, in (series, step) order, with their exog features.
        # Members that keep the same history width and exog setup share them through the cache.
        key = (self._exog_key(), width, tuple(sids))
        if cache is not None and key in cache:
            exog_values, f_rows, f_steps = cache[key]
        else:
            if self.feature_lags_ or self.unknown_:  # covariate lags reach back into the history
                if hist is None:
                    hist = self._history_tail(history, sids, width)
                exog_values, fut_sorted = self._future_exog(hist, future)
                f_rows = pd.Series(np.arange(len(sids)), index=sids).reindex(fut_sorted[ID]).to_numpy()
            else:
                # Every feature of a row depends on that row alone: the path's rows in (series, time) order,
                # the order the frame above gives them (the learners see the same matrix).
                n = steps.to_numpy().astype(np.int64)
                first = np.cumsum(n) - n
                by_name = np.argsort(np.asarray(sids, dtype=object), kind="stable")
                perm = np.concatenate([np.arange(first[i], first[i] + n[i]) for i in by_name])
                fut_sorted = future.iloc[perm].reset_index(drop=True)
                exog_values = self._exog_matrix(fut_sorted)
                f_rows = np.repeat(by_name, n[by_name])
            f_steps = fut_sorted["__step__"].to_numpy()
            if cache is not None:
                cache[key] = (exog_values, f_rows, f_steps)
        predict = self._predict  # built when fitted or loaded
        stepper = TargetFeatureSteps(buffer, width, self.lags_, self.windows_, self.level_window_)
        out = np.full((len(sids), H), np.nan)
        with _one_openmp_thread(self.algorithm == "KNN"):
            for j in range(1, H + 1):
                sel = np.flatnonzero(f_steps == j)
                if not len(sel):
                    continue
                rows = f_rows[sel]
                tvalues, level = self._step_values(*stepper.at(width + j - 1, rows))
                # numpy, not a frame per step: the columns are in training order (target features, then exog)
                X = np.hstack([tvalues, exog_values[sel]])
                pred = predict(X)
                value = pred + (level if self.target_mode == "level" else 0.0)
                buffer[rows, width + j - 1] = value
                out[rows, j - 1] = value * scale[rows]
        return {sid: out[i, :h] for i, (sid, h) in enumerate(zip(sids, steps.to_numpy().astype(np.int64)))}

    @staticmethod
    def _history_tail(history: pd.DataFrame, sids: list, width: int) -> pd.DataFrame:
        hist = history[history[ID].isin(sids)]
        return hist.groupby(ID, sort=False).tail(width)


def _positions(index: Sequence, keys: Sequence) -> np.ndarray:
    """The position of each of ``keys`` in ``index`` (-1 when absent), as ``Index.get_indexer`` gives it,
    by dict: matching a few series keys against a pandas string index cost more than the forecast."""
    where = {k: i for i, k in enumerate(index)}
    return np.array([where.get(k, -1) for k in keys], dtype=np.int64)


class _TreeArrays:
    """Regression trees (a forest's, or a gradient-boosting model's, in their order) as flat node arrays,
    walked for every row and tree at once: a forest of 100 trees predicts one row in 0.08 ms instead of
    0.36 ms tree by tree, and a booster of 200 trees in a tenth of its per-tree loop, for each step of a
    recursive forecast. The same numbers as the learners' ``predict``: rows compared with the float64
    thresholds (``<=`` goes left), the leaves' values summed tree by tree in order from ``start``, then
    divided by the number of trees when ``average`` (a single tree: its leaf value). Rows reach here
    imputed (no missing values).

    A leaf is its own child on both sides and its threshold is +inf, so every walker takes one step per
    level without masks (a row in a leaf stays there): a level costs four small array operations, not a
    dozen, and the walk stops when every walker is in a leaf."""

    def __init__(self, trees: list[tuple[np.ndarray, ...]], depth: int, start: float = 0.0, average: bool = True):
        # trees: (left child, right child, feature, threshold, value, is leaf) arrays of each tree's nodes
        sizes = np.array([len(t[0]) for t in trees], dtype=np.int64)
        self.roots = np.cumsum(sizes) - sizes
        offsets = np.repeat(self.roots, sizes)
        left, right, feature, threshold, value, leaf = (np.concatenate(parts) for parts in zip(*trees))
        leaf = leaf.astype(bool)
        own = np.arange(len(left), dtype=np.int64)
        # child[2 i] is node i's left child, child[2 i + 1] its right one
        self.child = np.empty(2 * len(left), dtype=np.int64)
        self.child[0::2] = np.where(leaf, own, left.astype(np.int64) + offsets)
        self.child[1::2] = np.where(leaf, own, right.astype(np.int64) + offsets)
        self.feature = np.where(leaf, 0, feature.astype(np.int64))
        self.threshold = np.where(leaf, np.inf, threshold.astype(np.float64))
        self.leaf = leaf
        self.depth = depth
        self.value = value.astype(np.float64)
        self.n_trees = len(trees)
        self.start, self.average = float(start), average

    @classmethod
    def of_trees(cls, trees: list) -> "_TreeArrays":
        """scikit-learn's regression trees (``tree_`` of a tree, or of each of a forest's): their mean."""
        return cls([(t.children_left, t.children_right, t.feature, t.threshold, t.value[:, 0, 0], t.children_left < 0)
                    for t in trees], depth=max(int(t.max_depth) for t in trees))

    @classmethod
    def of_hist_gradient_boosting(cls, est: Any) -> "_TreeArrays | None":
        """A single-output HistGradientBoostingRegressor's trees on numeric splits: its baseline plus their sum
        (before the link's inverse). None when it has categorical splits or is laid out otherwise."""
        try:
            nodes = [p.nodes for (p,) in est._predictors]
            baseline = est._baseline_prediction
        except (AttributeError, TypeError, ValueError):
            return None
        if np.shape(baseline) != (1, 1) or any(n["is_categorical"].any() for n in nodes):
            return None
        return cls([(n["left"], n["right"], n["feature_idx"], n["num_threshold"], n["value"], n["is_leaf"])
                    for n in nodes], depth=max(int(n["depth"].max()) for n in nodes) if nodes else 0,
                   start=float(baseline[0, 0]), average=False)

    def mean(self, Z: np.ndarray) -> np.ndarray:
        n = len(Z)
        node = np.broadcast_to(self.roots, (n, self.n_trees)).copy()
        row = np.arange(n)[:, None]
        for level in range(self.depth):
            # right when the row's value is above the threshold: the same split as predict's "<= goes left"
            node = self.child[2 * node + (Z[row, self.feature[node]] > self.threshold[node])]
            if level % 4 == 3 and self.leaf[node].all():
                break
        # np.cumsum adds left to right, as predict's ``out += tree's values`` does tree after tree
        total = np.cumsum(np.concatenate([np.full((n, 1), self.start), self.value[node]], axis=1), axis=1)[:, -1]
        return total / self.n_trees if self.average and self.n_trees > 1 else total


def _hist_gradient_boosting_predictor(est: Any, prepare):
    """``est.predict`` of a single-output HistGradientBoostingRegressor without categorical features: the
    baseline plus each tree's values in order, as its ``_predict_iterations`` adds them, by the tree arrays
    (walked level by level for all trees at once) on the imputed rows as float64, what its input check makes
    of them. On a busy machine predict's OpenMP threads waited for each other (65 ms a call for nine rows),
    and its per-tree loop and input checks took 2 ms a step for 200 trees. None when the estimator is not
    laid out as expected (another scikit-learn version, categorical splits), and the caller uses ``predict``."""
    if getattr(est, "_preprocessor", None) is not None or getattr(est, "n_trees_per_iteration_", 1) != 1:
        return None
    trees = _TreeArrays.of_hist_gradient_boosting(est)
    link = getattr(getattr(est, "_loss", None), "link", None)
    if trees is None or link is None:
        return None

    def predict(X: np.ndarray) -> np.ndarray:
        return link.inverse(trees.mean(np.asarray(prepare(X), dtype=np.float64)))
    return predict


_OPENMP = None


class _one_openmp_thread:
    """One OpenMP thread while active (and ``on``): scikit-learn's nearest-neighbour search splits even a
    query of one row over every core, and on a busy machine the threads wait for each other (65 ms per call
    instead of under one)."""

    def __init__(self, on: bool):
        self.on, self.limit = on, None

    def __enter__(self):
        global _OPENMP
        if self.on:
            from threadpoolctl import ThreadpoolController

            if _OPENMP is None:
                _OPENMP = ThreadpoolController()
            self.limit = _OPENMP.limit(limits=1, user_api="openmp")
        return self

    def __exit__(self, *exc):
        if self.limit is not None:
            self.limit.restore_original_limits()
        return False


class ForecastModel:
    """A fitted forecaster for long-format data (see the module docstring for the API).

    ``algorithm``: one of :data:`FORECASTING_ALGORITHMS`; ``params``: its hyperparameters (for the global
    learners those of :mod:`automl_engine.algorithms` plus ``target_mode``); ``target_column_name``: the
    target's name in ``history=`` frames.
    """

    def __init__(self, settings: ForecastSettings, algorithm: str = "SeasonalNaive",
                 params: dict[str, Any] | None = None, target_column_name: str = "y", random_state: int = 0,
                 n_jobs: int = 1, season: int | None = None, frequency: str | None = None):
        self.settings = settings
        self.algorithm = algorithm
        self.params = params
        self.target_column_name = target_column_name
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.season = season
        self.frequency = frequency

    # -- fitting -------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None, prepared: PreparedData | None = None,
            season: int | None = None) -> "ForecastModel":
        """Fit on training rows ``X`` (time column, id columns, covariates) and target ``y``; or on an
        already prepared frame (the search passes one so every trial shares the preparation)."""
        if self.algorithm not in FORECASTING_ALGORITHMS:
            raise ValueError(f"unknown forecasting algorithm {self.algorithm!r}; use one of {FORECASTING_ALGORITHMS}")
        s = self.settings
        if prepared is None:
            data = X.copy()
            if y is not None:
                data[self.target_column_name] = np.asarray(y, dtype=float)
            # A run passes the frequency found on all the data, so every fold's model uses the same grid.
            prep_settings = s if self.frequency is None else s.__class__(**{**s.__dict__, "frequency": self.frequency})
            prepared = prepare_training(data, self.target_column_name, prep_settings)
        self.freq_ = prepared.freq
        frame = prepared.frame
        season = season if season is not None else self.season
        if season is None:
            season = s.seasonality if s.seasonality != "auto" else detect_seasonality(frame, self.freq_)[0]
        self.season_ = int(season)
        unknown = [c for c in s.unknown_features if c in prepared.covariates]
        self.known_covariates_ = [c for c in prepared.covariates if c not in unknown]
        self.covariates_ = list(prepared.covariates)
        self.series_ids_ = prepared.series_ids
        context = {"freq": self.freq_, "horizon": s.forecast_horizon, "target_lags": s.target_lags,
                   "windows": s.target_rolling_window_size, "feature_lags": s.feature_lags, "unknown": unknown,
                   "country": s.country_or_region_for_holidays, "stl": s.use_stl, "n_jobs": self.n_jobs,
                   "random_state": self.random_state}
        params = dict(self.params or {})
        numeric_known = [c for c in self.known_covariates_ if pd.api.types.is_numeric_dtype(frame[c])
                         and not pd.api.types.is_bool_dtype(frame[c])]
        if self.algorithm in STATS_ALGORITHMS:
            core = StatsCore(self.algorithm, params, self.season_, numeric_known)
        elif self.algorithm == PROPHET:
            core = ProphetCore(self.algorithm, params, self.season_, numeric_known, s.country_or_region_for_holidays)
        else:
            core = GlobalCore(self.algorithm, params, self.season_, self.known_covariates_, context)
        self.core_ = core.fit(frame, context)
        self.uses_covariates_ = bool(getattr(core, "exog", []) or (not core.per_series and unknown))
        self.history_ = frame
        self.last_times_ = frame.groupby(ID, sort=False)[DS].max()
        self.grid_start_ = frame[DS].min()
        return self

    # -- prediction ----------------------------------------------------------------------------------
    def _history(self, history: pd.DataFrame | None) -> tuple[pd.DataFrame, set]:
        if history is None:
            return self.history_, set()
        s = self.settings
        if self.target_column_name not in history.columns:
            raise ValueError(f"history= needs the target column {self.target_column_name!r} with the newer actuals")
        new = prepare_training(history, self.target_column_name,
                               s.__class__(**{**s.__dict__, "frequency": self.freq_,
                                              "short_series_handling_config": None}), continues_history=True)
        missing = [c for c in self.covariates_ if c not in new.frame.columns]
        if missing:
            raise ValueError(f"history= is missing covariate column(s) {missing}; give the same columns as the "
                             "training data")
        combined = pd.concat([self.history_, new.frame[self.history_.columns]], ignore_index=True)
        combined = combined.drop_duplicates([ID, DS], keep="last").sort_values([ID, DS], kind="stable")
        return combined.reset_index(drop=True), set(new.frame[ID].unique())

    def _future(self, X_future: pd.DataFrame, history: pd.DataFrame | None):
        """The future frame checked and laid out for the cores: ``rows`` (one per row of ``X_future``: series,
        time, step, covariates and ``__pos__``, the row's place in the path), ``steps`` (each series' last
        step, in order of first appearance) and ``path`` (every step 1..steps of each series, the series one
        after the other in the order of ``steps``, with the covariates), after the history and the series
        that history= gives anew."""
        s = self.settings
        hist, refit = self._history(history)
        keys = series_key(X_future, s.id_columns).to_numpy()
        ds = parse_time(X_future, s.time_column_name)
        if history is None:  # the training history: its ends were kept at fit time
            last, start = self.last_times_, self.grid_start_
        else:
            last, start = hist.groupby(ID, sort=False)[DS].max(), min(self.grid_start_, hist[DS].min())
        # Each series once (codes in order of first appearance), looked up in a dict: a pandas string index
        # matched against the rows' keys took most of a small forecast's parsing.
        code, order = pd.factorize(keys)
        series_known = _positions(last.index, order)
        known = series_known[code]
        if (known < 0).any() and self.core_.per_series:
            unknown = sorted(set(keys[known < 0]))
            raise ValueError(f"series {unknown[0]!r} was not in the training data: the per-series model "
                             f"{self.algorithm} cannot forecast it; pass its recent actuals with history= or "
                             "use a global model")
        last_values = last.to_numpy(dtype="datetime64[ns]")
        global_last = last_values.max()
        origin = pd.DatetimeIndex(np.where(known >= 0, last_values[known], global_last))
        offset = pd.tseries.frequencies.to_offset(self.freq_)
        H = s.forecast_horizon
        end = max(ds.max(), pd.Timestamp(global_last)) + offset
        # The grid from the earliest origin: every origin and requested time lies on it (the history is on the
        # grid), and pandas builds anchored grids (weeks, months) one timestamp at a time, so a grid from the
        # history's start cost a monthly forecast more than its models. A requested time before the earliest
        # origin takes the whole grid, for the error below that names its series.
        earliest = origin.min()
        start = earliest if ds.min() >= earliest else start
        kept = self.__dict__.get("_grid")  # the last grid: anchored frequencies (weeks, months) build it slowly
        if kept is not None and kept[0] == start and kept[1] == end:
            grid = kept[2]
        else:
            grid = pd.date_range(start, end, freq=self.freq_)
            self._grid = (start, end, grid)
        at = grid_positions(grid, ds)
        if (at < 0).any():
            bad = ds[at < 0].iloc[0]
            raise ValueError(f"timestamp {bad} is not on the model's {self.freq_!r} grid")
        step = at - grid_positions(grid, origin)
        if (step < 1).any():
            i = int(np.flatnonzero(step < 1)[0])
            raise ValueError(f"timestamp {ds.iloc[i]} is not after the end of series {keys[i]!r}'s history "
                             f"({origin[i]}); forecasts start one period later (pass newer actuals with "
                             "history= to move the origin)")
        if (step > H).any():
            i = int(np.flatnonzero(step > H)[0])
            raise ValueError(f"timestamp {ds.iloc[i]} is {int(step[i])} periods after the end of series "
                             f"{keys[i]!r}'s history ({origin[i]}), beyond forecast_horizon {H}; "
                             "forecast at most that far (pass newer actuals with history= to move the origin)")
        missing = [c for c in self.known_covariates_ if c not in X_future.columns]
        if missing and self.uses_covariates_:
            raise ValueError(f"the future frame lacks known covariate column(s) {missing}; give their planned "
                             "values for every forecast time (or list them in features_unknown_at_forecast_time "
                             "when training)")
        # The series in order of first appearance (``order``, ``code``), and each one's last step.
        last_step = np.zeros(len(order), dtype=step.dtype)
        np.maximum.at(last_step, code, step)
        # Series keys stay Python strings (object): converting them to pandas' Arrow strings, for an index
        # and two frames, cost more than many a forecast.
        steps = pd.Series(last_step, index=pd.Index(order, name=ID, dtype=object), name="__step__")
        # The full path 1..last step of each series: recursive models need every step before the last one.
        n = last_step.astype(np.int64)
        first = np.cumsum(n) - n
        st = np.arange(int(n.sum())) - np.repeat(first, n) + 1
        orig_pos = grid_positions(grid, pd.DatetimeIndex(np.where(series_known >= 0, last_values[series_known],
                                                                  global_last)))
        pos = first[code] + step - 1
        path_len = int(n.sum())
        row_cols = {ID: pd.Series(keys, dtype=object, copy=False), DS: ds.to_numpy(), "__step__": step, "__pos__": pos}
        path_cols = {ID: pd.Series(np.repeat(order, n), dtype=object, copy=False),
                     DS: grid[np.repeat(orig_pos, n) + st], "__step__": st}
        if self.covariates_:
            # Each path period takes the first row of X_future at its time; a period without one is missing.
            taken, which = np.unique(pos, return_index=True)
            for c in self.covariates_:
                values = X_future[c].to_numpy() if c in X_future.columns else np.full(len(X_future), np.nan)
                row_cols[c] = values
                if len(taken) == path_len:
                    path_cols[c] = values[which]
                else:  # missing periods are NaN, in a float column for numbers (as a merge would make them)
                    numeric = values.dtype.kind in "iuf"
                    column = np.full(path_len, np.nan, dtype=float if numeric else object)
                    column[taken] = values[which]
                    if self.uses_covariates_ and c in self.known_covariates_:
                        # Periods between the history and a requested time that the frame skips (a week
                        # without sales): their covariates are carried from the nearest given period of the
                        # same series.
                        column = _fill_within(column, first, n)
                    path_cols[c] = column
        return hist, refit, pd.DataFrame(row_cols), pd.DataFrame(path_cols), steps

    def _point(self, X_future: pd.DataFrame, history: pd.DataFrame | None,
               future: tuple | None = None, cache: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        # ``future``: the parsed future frame, when an ensemble parsed it once for all its members; ``cache``:
        # the features its global members share
        future = future if future is not None else self._future(X_future, history)
        hist, rows = future[0], future[2]
        out = rows[[ID, DS, "__step__"]].reset_index(drop=True)
        out["prediction"] = self._point_values(future, cache)
        return out, hist

    def _point_values(self, future: tuple, cache: dict | None = None) -> np.ndarray:
        """The point forecast of each row of a parsed future frame (:meth:`_future`)."""
        hist, refit, rows, path, steps = future
        if isinstance(self.core_, GlobalCore):
            paths = self.core_.predict_paths(hist, path, steps, refit, cache=cache)
        else:
            paths = self.core_.predict_paths(hist, path, steps, refit)
        values = np.concatenate([paths[sid] for sid in steps.index])
        return values[rows["__pos__"].to_numpy()]  # each row's forecast by its place in the path

    def predict(self, X_future: pd.DataFrame, history: pd.DataFrame | None = None) -> np.ndarray:
        """One point forecast per row of ``X_future`` (time column, id columns, known covariates), for
        timestamps 1..forecast_horizon periods after each series' last time. ``history``: newer actuals
        (same columns as the training data, target included) to forecast from their end instead, without
        retraining: a global model reads its lags from them, a per-series model rolls its fitted state
        forward over them (ETS, ARIMA) or recomputes its statistic (naive, average)."""
        return np.asarray(self._point_values(self._future(X_future, history)), dtype=float)

    def forecast(self, X_future: pd.DataFrame, quantiles: Sequence[float] = DEFAULT_QUANTILES,
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
        """A frame with the time column, the id columns, ``prediction`` and one column per quantile
        (``q0.1`` ...): intervals from rolling-origin residuals per horizon step (:meth:`calibrate`)."""
        out, hist = self._point(X_future, history)
        frame = pd.DataFrame({self.settings.time_column_name: out[DS].to_numpy()})
        for c in self.settings.id_columns:
            frame[c] = X_future[c].to_numpy()
        frame["prediction"] = out["prediction"].to_numpy()
        if quantiles:
            cal = self.intervals_ if getattr(self, "intervals_", None) is not None else self._self_calibrate()
            scale = out[ID].map(hist.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s)))))
            scale = scale.fillna(float(np.nanmedian(scale)) if scale.notna().any() else 1.0).to_numpy()
            for q in quantiles:
                frame[f"q{q:g}"] = frame["prediction"].to_numpy() + cal.offset(q, out["__step__"].to_numpy()) * scale
        return frame

    # -- description ---------------------------------------------------------------------------------
    def input_schema(self) -> list[dict[str, str]]:
        """The columns a future frame holds: time, series ids, known covariates (with their kinds)."""
        return forecast_input_schema(self)

    def manifest(self) -> dict[str, Any]:
        """What a saved model's manifest records about it (see :func:`forecast_manifest`)."""
        return forecast_manifest(self)

    # -- intervals -----------------------------------------------------------------------------------
    def calibrate(self, residuals: pd.DataFrame) -> "ForecastModel":
        """Prediction intervals from out-of-sample residuals: a frame with ``unique_id``, ``step`` and
        ``residual`` (actual - forecast), e.g. from rolling-origin validation."""
        self.intervals_, _ = residual_intervals(self.history_, residuals, self.settings.forecast_horizon)
        return self

    def _self_calibrate(self) -> "ResidualIntervals":
        """No validation residuals given: back-test this model on its own history (up to three origins one
        horizon apart), once."""
        from .splitter import rolling_origin_folds

        H = self.settings.forecast_horizon
        frame = self.history_
        folds = rolling_origin_folds(frame, H, self.freq_, n_folds=3, step=H)
        parts = []
        for train_idx, valid_idx in folds:
            model = ForecastModel(self.settings, self.algorithm, self.params, self.target_column_name,
                                  self.random_state, self.n_jobs)
            train = frame.iloc[train_idx]
            prep = PreparedData(train.reset_index(drop=True), self.freq_, self.covariates_, self.series_ids_, {})
            model.fit(None, prepared=prep, season=self.season_)
            parts.append(model.residuals_on(frame.iloc[valid_idx]))
        res = pd.concat(parts, ignore_index=True)
        self.calibrate(res)
        return self.intervals_

    def residuals_on(self, actual: pd.DataFrame) -> pd.DataFrame:
        """Residuals (actual - forecast) on prepared long rows following the training data."""
        X = self.to_user_frame(actual)
        out, _ = self._point(X, None)
        return pd.DataFrame({ID: out[ID].to_numpy(), DS: out[DS].to_numpy(), "step": out["__step__"].to_numpy(),
                             "prediction": out["prediction"].to_numpy(),
                             "residual": actual[Y].to_numpy() - out["prediction"].to_numpy()})

    def to_user_frame(self, long: pd.DataFrame) -> pd.DataFrame:
        """Prepared long rows -> the user's column names (time, ids, covariates)."""
        s = self.settings
        X = pd.DataFrame({s.time_column_name: long[DS].to_numpy()})
        ids = self.series_ids_.set_index(ID)
        for c in s.id_columns:
            X[c] = long[ID].map(ids[c]).to_numpy()
        for c in self.covariates_:
            X[c] = long[c].to_numpy()
        return X


def residual_intervals(history: pd.DataFrame, residuals: pd.DataFrame,
                       horizon: int) -> tuple["ResidualIntervals", np.ndarray]:
    """Intervals fitted on ``residuals`` (``unique_id``, ``step``, ``residual``) scaled by each series' mean
    absolute level in ``history`` (so one pool of residuals serves series of any size), and the scale of each
    residual's row: an offset of ``intervals.offset(q, steps)`` is ``offset * scale`` in the target's units."""
    level = history.groupby(ID, sort=False)[Y].apply(lambda s: float(np.mean(np.abs(s))))
    scale = residuals[ID].map(level).fillna(float(level.median())).to_numpy(dtype=float)
    intervals = ResidualIntervals(horizon).fit(residuals["step"].to_numpy(), residuals["residual"].to_numpy() / scale)
    return intervals, scale


class ResidualIntervals:
    """Quantile offsets per horizon step from scaled residuals: the spread (RMS) per step, made
    non-decreasing in the step, times the pooled quantiles of the residuals divided by that spread.
    Pooling over steps gives stable quantiles from few origins; the per-step spread keeps the widening."""

    def __init__(self, horizon: int):
        self.horizon = horizon

    def fit(self, steps: np.ndarray, scaled: np.ndarray) -> "ResidualIntervals":
        ok = np.isfinite(scaled)
        steps, scaled = steps[ok], scaled[ok]
        rms = np.full(self.horizon, np.nan)
        for h in range(1, self.horizon + 1):
            sel = scaled[steps == h]
            if len(sel):
                rms[h - 1] = np.sqrt(np.mean(sel ** 2))
        overall = np.sqrt(np.mean(scaled ** 2)) if len(scaled) else 0.0
        rms = pd.Series(rms).interpolate(limit_direction="both").fillna(overall).to_numpy()
        self.spread_ = np.maximum.accumulate(np.maximum(rms, 1e-12))
        z = scaled / self.spread_[np.clip(steps, 1, self.horizon) - 1] if len(scaled) else np.zeros(1)
        self.z_ = np.sort(z)
        return self

    def offset(self, q: float, steps: np.ndarray) -> np.ndarray:
        zq = float(np.quantile(self.z_, q)) if len(self.z_) else 0.0
        return zq * self.spread_[np.clip(np.asarray(steps, dtype=int), 1, self.horizon) - 1]


def _base_model(model: Any) -> ForecastModel:
    return model.models[0] if hasattr(model, "models") else model


def forecast_input_schema(model: Any) -> list[dict[str, str]]:
    """Input columns of a fitted forecaster (or ensemble): the time column (DateTime), the series id
    columns (Categorical) and the known covariates (Numeric or Categorical)."""
    base = _base_model(model)
    s = base.settings
    hist = base.history_
    out = [{"name": s.time_column_name, "type": "DateTime", "role": "time"}]
    out += [{"name": c, "type": "Categorical", "role": "series_id"} for c in s.id_columns]
    for c in base.known_covariates_:
        kind = "Numeric" if pd.api.types.is_numeric_dtype(hist[c]) and not pd.api.types.is_bool_dtype(hist[c]) \
            else "Categorical"
        out.append({"name": c, "type": kind, "role": "known_covariate"})
    return out


def forecast_manifest(model: Any) -> dict[str, Any]:
    """The forecasting part of a saved model's manifest: settings, frequency, season, the series seen with
    their last timestamps (the origin a forecast starts from) and the input schema."""
    base = _base_model(model)
    ids = base.series_ids_.set_index(ID)
    series = []
    for sid, last in base.last_times_.items():
        entry = {"series": str(sid), "last_timestamp": str(last)}
        for c in base.settings.id_columns:
            value = ids.loc[sid, c]
            entry[c] = value.item() if hasattr(value, "item") else value
        series.append(entry)
    return {"forecast_settings": base.settings.to_dict(), "frequency": base.freq_, "season": base.season_,
            "forecast_horizon": base.settings.forecast_horizon, "series": series,
            "input_schema": forecast_input_schema(model)}
