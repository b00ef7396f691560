"""What classification and regression share: one row per example, the seed's validation rules (k-fold
or holdout), column-wise featurization and the tabular guardrails."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .base import PreparedRun, Task
from .splits import HoldoutSplitter, KFoldSplitter, PredefinedHoldout, Splits, make_splits


class TabularTask(Task):
    """A task on independent rows; subclasses give metrics, target handling and the meta-learner."""

    early_stopping = True
    row_sampling = True
    # Caruana selection takes any gain, however small: on letter (26 classes, 60 s) it blended two forests, an
    # XGBoost, two LightGBMs and an SGD, 3.7 s of prediction (one thread, 4,000 rows), 2.3 s of it a
    # 400-round LightGBM. Pruned to an extra-trees forest, a LightGBM and the XGBoost, the blend predicts in
    # 1.3 s with validation accuracy 0.9649 against 0.9648 (test 0.9715 against 0.9722).
    vote_prune_share = 0.1

    def splitter(self, validation: Mapping[str, Any], random_state: int, n_validation_rows: int = 0):
        if validation["source"] == "validation_data":
            return PredefinedHoldout(n_validation_rows)
        if validation["method"] == "cv":
            return KFoldSplitter(validation["n_folds"], self.has_classes, random_state)
        return HoldoutSplitter(validation["validation_size"], self.has_classes, random_state)

    def prepare(self, job: Any, log: Callable[[str, str], None]) -> PreparedRun:
        from ..data import choose_validation, split_test
        from ..featurize import plan_columns

        config = job.config
        train, valid, test = self.load_frames(job)
        target = config.target_column_name
        if valid is not None:
            self.validate_target(config, valid[target])
        train, test = split_test(train, config, test, stratify=self.has_classes)
        split_columns = list(config.cv_split_column_names or ())  # Azure custom CV splits: not features
        drop = [c for c in (target, config.weight_column_name) if c] + split_columns
        X = train.drop(columns=drop)
        y = train[target].to_numpy()
        n_train_only = len(X)
        if valid is not None:
            X = pd.concat([X, valid[X.columns]], ignore_index=True)
            y = np.concatenate([y, valid[target].to_numpy()])
        weights = None
        if config.weight_column_name:
            parts = [train[config.weight_column_name]] + ([valid[config.weight_column_name]] if valid is not None else [])
            weights = pd.concat(parts, ignore_index=True).to_numpy(float)
        y = self.target_array(y)
        classes = self.classes_of(y)
        validation = choose_validation(n_train_only, config, valid is not None)
        if validation["method"] == "cv" and validation["n_folds"] > n_train_only:
            raise ConfigError("n_cross_validations", f"{validation['n_folds']} folds but only {n_train_only} rows")
        if split_columns:
            from ..data import folds_from_split_columns

            splits = Splits.from_folds(folds_from_split_columns(train, split_columns), refit=True)
        else:
            splits = make_splits(self.splitter(validation, config.random_state, len(X) - n_train_only), X, y)
        onnx = config.training.enable_onnx_compatible_models
        plans = plan_columns(X, config.featurization, onnx_compatible=onnx)
        if all(p.dropped for p in plans):
            raise ConfigError("featurization", "every feature column was dropped: " +
                              "; ".join(f"{p.column}: {p.drop_reason}" for p in plans))
        guardrails = self.guardrails(config, X, y, plans, validation,
                                     test.drop(columns=drop, errors="ignore") if test is not None else None)
        meta = {
            "problem_type": self.name, "target": target, "classes": classes,
            "positive_label": self.positive_label(config, classes),
            "primary_metric": config.primary_metric, "validation": validation,
            "plan": [p.to_dict() for p in plans], "featurization_mode": config.featurization.mode,
            "onnx_compatible": onnx, "random_state": config.random_state,
        }
        prepared = PreparedRun(X=X, y=y, weights=weights, splits=splits, meta=meta, validation=validation,
                               plans=plans, guardrails=guardrails, test=test, drop=drop)
        prepared.flags = self.search_flags(config, prepared)
        return prepared

    def positive_label(self, config: Any, classes: list | None) -> Any:
        return None

    def search_flags(self, config: Any, prepared: PreparedRun) -> dict[str, Any]:
        """Hints for the search derived from the data (class imbalance, a log-scale target)."""
        return {"imbalanced": False, "log_target": False}
