"""Rolling-origin validation: train on the past only, validate on the next horizon.

Origins are points on the time grid, ``step`` periods apart, the last one a horizon before the end of the
data. Fold k trains on every row at or before its origin and validates on the rows in the horizon after it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .prep import DS, ID

# "auto" validates on up to 5 origins when the data is small (a 12-month window is a noisy judge of a
# monthly model: more origins make the choice steadier) and 3 above SMALL_ROWS rows, where fits cost more.
MAX_AUTO_FOLDS, MAX_AUTO_FOLDS_SMALL, SMALL_ROWS = 3, 5, 5000


@dataclass(frozen=True)
class RollingOrigin:
    """``n_folds`` origins ``step`` periods apart; ``origins`` are their timestamps, oldest first."""

    horizon: int
    n_folds: int
    step: int
    origins: tuple[pd.Timestamp, ...]
    ends: tuple[pd.Timestamp, ...]
    reason: str

    def split(self, frame: pd.DataFrame) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train positions, validation positions) per origin, oldest first, for a prepared long frame."""
        ds = frame[DS].to_numpy()
        for origin, end in zip(self.origins, self.ends):
            train = np.flatnonzero(ds <= np.datetime64(origin))
            valid = np.flatnonzero((ds > np.datetime64(origin)) & (ds <= np.datetime64(end)))
            yield train, valid

    def to_dict(self) -> dict[str, Any]:
        return {"method": "rolling_origin", "n_cross_validations": self.n_folds, "cv_step_size": self.step,
                "horizon": self.horizon, "origins": [str(o) for o in self.origins], "reason": self.reason}


def plan_rolling_origin(frame: pd.DataFrame, freq: str, horizon: int, n_folds: Any = "auto",
                        step: Any = "auto", min_train: int | None = None) -> RollingOrigin:
    """Choose the origins. ``"auto"``: up to 5 folds (3 above 5,000 rows), one horizon apart, as many as
    leave at least two horizons (or ``min_train``) of training periods before the first origin."""
    grid = pd.date_range(frame[DS].min(), frame[DS].max(), freq=freq)
    n_periods = len(grid)
    auto = (n_folds == "auto" or n_folds is None) and (step == "auto" or step is None)
    wanted = min_train or max(2 * horizon, 8)
    min_train = wanted
    # "auto" on a short history: one origin a horizon before the end, as long as the models still train on at
    # least a horizon (and 8 periods) of data, rather than refusing a run the user left to the engine.
    if auto and n_periods - horizon < wanted and n_periods - horizon >= max(horizon, 8):
        min_train = n_periods - horizon
    room = n_periods - horizon - min_train  # periods available to move the origin back
    if room < 0:
        raise ConfigError("n_cross_validations", f"{n_periods} periods of history are too few to validate a "
                                                 f"{horizon}-period horizon (need at least {horizon + min_train}); "
                                                 "shorten forecast_horizon or give more history")
    auto_step = step == "auto" or step is None
    auto_folds = n_folds == "auto" or n_folds is None
    if auto_step:
        step = horizon if auto_folds or int(n_folds) <= 1 else max(1, min(horizon, room // max(int(n_folds) - 1, 1)))
    if auto_folds:
        most = MAX_AUTO_FOLDS_SMALL if len(frame) <= SMALL_ROWS else MAX_AUTO_FOLDS
        n_folds = int(min(most, room // step + 1))
    n_folds, step = int(n_folds), int(step)
    if (n_folds - 1) * step > room:
        raise ConfigError("n_cross_validations", f"{n_folds} origins {step} periods apart need "
                                                 f"{(n_folds - 1) * step + horizon + min_train} periods; the data "
                                                 f"has {n_periods}: use fewer folds or a smaller cv_step_size")
    last = n_periods - 1 - horizon
    positions = [last - k * step for k in reversed(range(n_folds))]
    origins = tuple(grid[p] for p in positions)
    ends = tuple(grid[p + horizon] for p in positions)
    chosen = "chosen automatically" if (auto_folds or auto_step) else "as configured"
    reason = (f"Rolling-origin validation ({chosen}): {n_folds} origin(s) {step} period(s) apart, from "
              f"{origins[0]} to {origins[-1]}, each validated on the next {horizon} period(s); models train only "
              "on data up to their origin.")
    if min_train < wanted:
        reason += (f" The history ({n_periods} periods) is short for this horizon: one origin, with "
                   f"{min_train} periods to train on (two horizons are the usual minimum).")
    return RollingOrigin(horizon=horizon, n_folds=n_folds, step=step, origins=origins, ends=ends, reason=reason)


def rolling_origin_folds(frame: pd.DataFrame, horizon: int, freq: str, n_folds: int = 3,
                         step: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """As many of ``n_folds`` origins as the data allows (at least one), for back-testing a fitted model."""
    grid = pd.date_range(frame[DS].min(), frame[DS].max(), freq=freq)
    step = step or horizon
    room = len(grid) - horizon - max(2 * horizon, 8)
    n = max(1, min(n_folds, room // step + 1)) if room >= 0 else 1
    plan = plan_rolling_origin(frame, freq, horizon, n, step, min_train=max(1, min(max(2 * horizon, 8),
                                                                                   len(grid) - horizon - 1)))
    return list(plan.split(frame))
