"""Splitters: the validation scheme of a run as (train row indices, validation row indices) pairs.

One contract for every scheme. k-fold cross-validation and holdout (the tabular tasks) and rolling-origin
validation (a time-series task: train on the past of each origin, validate on the next horizon) all give
a list of pairs; a row may be validated in several splits (overlapping rolling windows) or in none (the
training part of a holdout). ``refit`` says whether the final model is refitted on every row after
validation (cross-validation) or is the model of the last split (holdout).

The k-fold and holdout splitters reproduce exactly the fold assignment of earlier engine versions
(:func:`automl_engine.data.make_folds`), so scores do not move.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Splits:
    """The splits of one run, computed once by the driver and written with the prepared data.

    ``pairs[k] = (train_rows, valid_rows)``, both sorted ``int64`` row indices into the prepared training
    frame. ``refit``: the final model is refitted on all rows (True) or is the last split's model (False).
    """

    pairs: tuple[Split, ...]
    refit: bool

    def __post_init__(self):
        if not self.pairs:
            raise ValueError("a splitter must yield at least one (train, validation) pair")
        for k, (train, valid) in enumerate(self.pairs):
            if len(train) == 0 or len(valid) == 0:
                raise ValueError(f"split {k} has an empty training or validation part")

    @property
    def n_splits(self) -> int:
        return len(self.pairs)

    def scored(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, split_numbers)`` of every out-of-fold prediction, in the order trials store them.

        The validation rows of all splits are concatenated in split order, then stably sorted by row:
        for k-fold and holdout (each row validated at most once) this is ascending row order, the order
        of earlier versions, so metrics, ensemble selection and stacking see the same arrays; a row
        validated in several splits (rolling origins) appears once per split, its entries adjacent."""
        rows = np.concatenate([valid for _, valid in self.pairs]).astype(np.int64)
        numbers = np.concatenate([np.full(len(valid), k, dtype=np.int64) for k, (_, valid) in enumerate(self.pairs)])
        order = np.argsort(rows, kind="stable")
        return rows[order], numbers[order]

    @classmethod
    def from_folds(cls, folds: np.ndarray, refit: bool) -> "Splits":
        """From a fold number per row (``-1``: train only). Cross-validation (``refit``) trains each fold on
        every row outside it; a holdout trains on the ``-1`` rows only."""
        folds = np.asarray(folds)
        pairs = []
        for fold in sorted(int(f) for f in np.unique(folds) if f >= 0):
            valid = np.flatnonzero(folds == fold)
            train = np.flatnonzero(folds != fold) if refit else np.flatnonzero(folds == -1)
            pairs.append((train, valid))
        return cls(tuple(pairs), refit)


class KFoldSplitter:
    """k-fold cross-validation, stratified for labels when every class has at least k rows."""

    refit = True

    def __init__(self, n_folds: int, stratify: bool, random_state: int):
        self.n_folds, self.stratify, self.random_state = int(n_folds), stratify, random_state

    def split(self, X: Any, y: np.ndarray) -> list[Split]:
        import pandas as pd
        from sklearn.model_selection import KFold, StratifiedKFold

        n = len(y)
        stratified = self.stratify and pd.Series(y).value_counts().min() >= self.n_folds
        splitter = (StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state) if stratified
                    else KFold(self.n_folds, shuffle=True, random_state=self.random_state))
        folds = np.empty(n, dtype=np.int64)
        for fold, (_, valid) in enumerate(splitter.split(np.zeros(n), _codes(y) if stratified else None)):
            folds[valid] = fold
        return list(Splits.from_folds(folds, refit=True).pairs)


def _codes(y: np.ndarray) -> np.ndarray:
    """Labels as integer codes in sorted label order: sklearn's stratified splitters then draw exactly the
    same rows as from the labels, without sorting an object array of strings several times (seconds on
    200,000 rows)."""
    import pandas as pd

    try:
        return np.asarray(pd.Categorical(y).codes, dtype=np.int64)
    except TypeError:
        return y


class HoldoutSplitter:
    """One random validation part of ``validation_size`` (stratified for labels when possible)."""

    refit = False

    def __init__(self, validation_size: float, stratify: bool, random_state: int):
        self.validation_size, self.stratify, self.random_state = validation_size, stratify, random_state

    def split(self, X: Any, y: np.ndarray) -> list[Split]:
        import pandas as pd
        from sklearn.model_selection import train_test_split

        n = len(y)
        can_stratify = self.stratify and pd.Series(y).value_counts().min() >= 2
        _, valid = train_test_split(np.arange(n), test_size=self.validation_size, random_state=self.random_state,
                                    stratify=_codes(y) if can_stratify else None)
        valid = np.sort(valid)
        return [(np.setdiff1d(np.arange(n), valid), valid)]


class PredefinedHoldout:
    """The user's validation data: its rows come last in the prepared frame and form the one validation part."""

    refit = False

    def __init__(self, n_validation_rows: int):
        self.n_validation_rows = int(n_validation_rows)

    def split(self, X: Any, y: np.ndarray) -> list[Split]:
        n = len(y)
        cut = n - self.n_validation_rows
        return [(np.arange(cut), np.arange(cut, n))]


def make_splits(splitter: Any, X: Any, y: np.ndarray) -> Splits:
    """Run a splitter (anything with ``split(X, y)`` yielding pairs and a ``refit`` attribute) into
    :class:`Splits`, checking the contract: integer indices within the rows, no row both trained on and
    validated in one split."""
    n = len(y)
    pairs = []
    for k, (train, valid) in enumerate(splitter.split(X, y)):
        train, valid = np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(valid, dtype=np.int64))
        for part in (train, valid):
            if len(part) and (part[0] < 0 or part[-1] >= n):
                raise ValueError(f"split {k} indexes rows outside 0..{n - 1}")
        if np.intersect1d(train, valid).size:
            raise ValueError(f"split {k} trains on rows it validates")
        pairs.append((train, valid))
    return Splits(tuple(pairs), bool(getattr(splitter, "refit", True)))


def folds_of(splits: Splits, n_rows: int) -> np.ndarray:
    """The fold number of every row for splits where each row is validated at most once (``-1``: never);
    the representation of earlier versions, kept for callers that show it."""
    folds = np.full(n_rows, -1, dtype=np.int64)
    for k, (_, valid) in enumerate(splits.pairs):
        if (folds[valid] >= 0).any():
            raise ValueError("rows are validated in several splits: no single fold number per row")
        folds[valid] = k
    return folds


def stack_pairs(pairs: Sequence[Split]) -> dict[str, np.ndarray]:
    """Arrays for ``np.savez``: ``train_<k>`` and ``valid_<k>``."""
    out = {}
    for k, (train, valid) in enumerate(pairs):
        out[f"train_{k}"], out[f"valid_{k}"] = np.asarray(train, np.int64), np.asarray(valid, np.int64)
    return out


def unstack_pairs(arrays: Any, n_splits: int) -> tuple[Split, ...]:
    return tuple((arrays[f"train_{k}"], arrays[f"valid_{k}"]) for k in range(n_splits))
