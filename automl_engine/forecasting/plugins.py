"""The forecasting algorithm plugins (seed names, so allowed/blocked lists work).

Per-series statistical models (statsforecast), Prophet, and the regression learners of
:mod:`automl_engine.algorithms` as global models on lag features: their declarations reuse the regression
plugins' ``build`` and ``suggest`` (plus the forecasting ``target_mode``), so a learner's search space
is written once. ``portfolio_rank`` is the order of the first trials: a global LightGBM on lags (the usual
winner) first, then the seasonal baseline, exponential smoothing and the cheap baselines, the slower ARIMA
and Prophet later. LightGBM goes first because the driver estimates later trials from the first one's
rate: a first trial paying a worker's one-off library imports would make everything after it look dear.
"""
from __future__ import annotations

from typing import Any

from ..algorithms import Algorithm, get_algorithm, register
from .models import GLOBAL_ALGORITHMS, PROPHET, STATS_ALGORITHMS

FORECASTING = "forecasting"
TARGET_MODES = ("level", "scaled")


def _stats_build(name: str):
    def build(params: dict[str, Any], problem_type: str, n_jobs: int, random_state: int):
        """The model for one series (statsforecast, season length 1: the forecaster passes the real one;
        or Prophet)."""
        from .models import _statsforecast_model

        if name == PROPHET:
            from prophet import Prophet

            return Prophet(**{k: v for k, v in params.items() if k in ("changepoint_prior_scale",
                                                                          "seasonality_mode")})
        return _statsforecast_model(name, int(params.get("season_length", 1)), params, 10 ** 6)
    return build


def _stats_suggest(name: str):
    def suggest(trial, n_rows: int) -> dict[str, Any]:
        if name == "SeasonalAverage":
            return {"window_size": trial.suggest_int(f"{name}.window_size", 1, 8)}
        if name == "ExponentialSmoothing":
            return {"model": trial.suggest_categorical(f"{name}.model", ["ZZZ", "ZZN", "AAA", "MAM", "ZAZ"])}
        if name in ("AutoArima", "Arimax"):
            return {"max_p": trial.suggest_int(f"{name}.max_p", 1, 5),
                    "max_q": trial.suggest_int(f"{name}.max_q", 1, 5)}
        if name == PROPHET:
            return {"changepoint_prior_scale": trial.suggest_float(f"{name}.changepoint_prior_scale", 0.001, 0.5,
                                                                   log=True),
                    "seasonality_mode": trial.suggest_categorical(f"{name}.seasonality_mode",
                                                                  ["additive", "multiplicative"])}
        return {}
    return suggest


def _global_suggest(name: str):
    learner = get_algorithm("regression", name)

    def suggest(trial, n_rows: int) -> dict[str, Any]:
        params = learner.suggest(trial, n_rows)
        params["target_mode"] = trial.suggest_categorical(f"{learner.prefix}.target_mode", list(TARGET_MODES))
        return params
    return suggest


def _defaults(name: str, *indices: int, **overrides: Any) -> list[dict[str, Any]]:
    configs = get_algorithm("regression", name).portfolio.get("regression", [])
    out = []
    for i in indices:
        base = dict(configs[min(i, len(configs) - 1)]) if configs else {}
        out.append({**base, **overrides})
    return out


# The global LightGBM configurations: a quick model on the level-differenced target (follows trends), the
# same on the scaled target (for stationary series), then the regression portfolio's larger ones.
_LGB_FAST = {"n_estimators": 150, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 10, "max_bin": 63,
             "colsample_bytree": 0.7, "subsample": 1.0, "reg_lambda": 1.0, "reg_alpha": 1e-3}
_LGB = ([{**_LGB_FAST, "target_mode": "level"}, {**_LGB_FAST, "target_mode": "scaled"}]
        + _defaults("LightGBM", 3, target_mode="level") + _defaults("LightGBM", 4, target_mode="level"))

_STATS_RANK = {"SeasonalNaive": 1, "ExponentialSmoothing": 2, "Naive": 4, "SeasonalAverage": 5, "AutoArima": 7,
               "Arimax": 8, "Average": 16}
# Costs relative to a global LightGBM of 100 rounds (cost 1). A forecasting trial also prepares every
# fold's data, so even the naive models cost a fraction of a boosted model, not nothing: estimated from the
# first trial's rate, near-zero costs made the boosted models look hundreds of times dearer and skipped them.
_STATS_COST = {"SeasonalNaive": 0.3, "Naive": 0.3, "Average": 0.3, "SeasonalAverage": 0.3,
               "ExponentialSmoothing": 1.0, "AutoArima": 3.0, "Arimax": 4.0}
_GLOBAL = {  # name: (portfolio, ranks)
    "LightGBM": (_LGB, (0, 3, 9, 13)),
    "ElasticNet": (_defaults("ElasticNet", 0, target_mode="level"), (6,)),
    "ExtremeRandomTrees": (_defaults("ExtremeRandomTrees", 0, target_mode="level"), (10,)),
    "XGBoostRegressor": (_defaults("XGBoostRegressor", 0, target_mode="level"), (11,)),
    "RandomForest": (_defaults("RandomForest", 0, target_mode="level"), (14,)),
    "GradientBoosting": (_defaults("GradientBoosting", 0, target_mode="level"), (15,)),
    "KNN": (_defaults("KNN", 0, target_mode="level"), (17,)),
    "DecisionTree": (_defaults("DecisionTree", 0, target_mode="level"), (18,)),
    "LassoLars": (_defaults("LassoLars", 0, target_mode="level"), (19,)),
    "SGD": (_defaults("SGD", 0, target_mode="level"), (20,)),
}

for _name in STATS_ALGORITHMS:
    register(Algorithm(name=_name, problem_types=(FORECASTING,), build=_stats_build(_name),
                       suggest=_stats_suggest(_name), portfolio={FORECASTING: [{}]}, cost=_STATS_COST[_name],
                       onnx_convertible=False, supports_sample_weight=False,
                       portfolio_rank=(_STATS_RANK[_name],), param_prefix=f"forecasting.{_name}"))
register(Algorithm(name=PROPHET, problem_types=(FORECASTING,), build=_stats_build(PROPHET),
                   suggest=_stats_suggest(PROPHET), portfolio={FORECASTING: [{}]}, cost=4.0, onnx_convertible=False,
                   supports_sample_weight=False, portfolio_rank=(12,), param_prefix=f"forecasting.{PROPHET}"))
for _name in GLOBAL_ALGORITHMS:
    _learner = get_algorithm("regression", _name)
    _portfolio, _ranks = _GLOBAL[_name]
    register(Algorithm(name=_name, problem_types=(FORECASTING,), build=_learner.build,
                       suggest=_global_suggest(_name), portfolio={FORECASTING: _portfolio}, cost=_learner.cost,
                       needs_scaling=_learner.needs_scaling, onnx_convertible=False, supports_sample_weight=False,
                       is_tree=_learner.is_tree, portfolio_rank=_ranks, param_prefix=_learner.prefix))
