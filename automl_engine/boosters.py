"""LightGBM prediction a block of trees at a time.

LightGBM predicts row by row, each row through every tree. Once the trees no longer fit in the processor's
cache, every row reads them from memory again: a 26-class model of 100 rounds (2,600 trees) predicted 4,000
rows in 0.87 s, and its first 10 rounds in 0.029 s, a third of the time per tree. Predicting the raw scores
of ``BLOCK_TREES`` trees at a time and adding them up, as XGBoost's predictor walks blocks of trees, took
0.39 s for the same probabilities (differences of 1e-15, the order of the additions), and 0.31 s against
0.82 s for a 1,000-tree regression on 10,788 rows of diamonds.
"""
from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

BLOCK_TREES = 64
# Below this many rows a block's call costs more than the cache saves (one row: 0.7 ms against 0.3 ms).
MIN_ROWS = 32
_IDENTITY = {"regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root",
             "root_mean_squared_error", "rmse", "regression_l1", "l1", "mean_absolute_error", "mae", "huber",
             "fair", "quantile", "mape", "mean_absolute_percentage_error"}


def _output(params: dict[str, Any]):
    """The function LightGBM applies to the summed raw scores for ``params``' objective, or None for an
    objective this module does not reproduce (that booster predicts the usual way)."""
    objective = params.get("objective")
    if objective == "binary":
        sigmoid = float(params.get("sigmoid", 1.0))
        return lambda raw: 1.0 / (1.0 + np.exp(-sigmoid * raw))
    if objective in ("multiclass", "softmax"):
        def softmax(raw):
            exp = np.exp(raw - raw.max(axis=1, keepdims=True))
            return exp / exp.sum(axis=1, keepdims=True)
        return softmax
    if objective in _IDENTITY:
        return lambda raw: raw
    return None


class BlockwiseBooster(lgb.Booster):
    """A :class:`lightgbm.Booster` whose predictions of many rows add up the raw scores of blocks of
    ``BLOCK_TREES`` trees (see the module's docstring); everything else is LightGBM's own."""

    def predict(self, data, start_iteration: int = 0, num_iteration: int | None = None, raw_score: bool = False,
                pred_leaf: bool = False, pred_contrib: bool = False, **kwargs):
        output = _output(self.params)
        per_block = max(1, BLOCK_TREES // max(1, self.num_model_per_iteration()))
        if num_iteration is None:  # LightGBM's rule: the best iteration, unless predicting from a later start
            num_iteration = self.best_iteration if start_iteration <= 0 else -1
        end = self.current_iteration()
        if num_iteration > 0:
            end = min(end, start_iteration + num_iteration)
        plain = not (pred_leaf or pred_contrib) and output is not None and start_iteration >= 0
        if (not plain or not isinstance(data, (np.ndarray, pd.DataFrame)) or len(data) < MIN_ROWS
                or end - start_iteration <= 2 * per_block):
            return super().predict(data, start_iteration=start_iteration, num_iteration=num_iteration,
                                   raw_score=raw_score, pred_leaf=pred_leaf, pred_contrib=pred_contrib, **kwargs)
        raw = None
        for start in range(start_iteration, end, per_block):
            block = super().predict(data, start_iteration=start, num_iteration=min(per_block, end - start),
                                    raw_score=True, **kwargs)
            raw = block if raw is None else raw + block
        return raw if raw_score else output(raw)


def predict_blockwise(estimator) -> None:
    """Make a fitted LightGBM scikit-learn estimator predict through :class:`BlockwiseBooster` (in place; a
    no-op for a booster with an objective it does not reproduce). The booster keeps its state: only its
    class changes, so it pickles and loads as before, and predicts the same up to the order of additions."""
    booster = getattr(estimator, "_Booster", None)
    if type(booster) is lgb.Booster and _output(booster.params) is not None:
        booster.__class__ = BlockwiseBooster
