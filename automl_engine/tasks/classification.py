"""Classification: labels, probability predictions over the sorted classes, the seed's classification
metrics, a LogisticRegression meta-learner for stacking."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .base import ScoringContext
from .tabular import TabularTask


class ClassificationTask(TabularTask):
    name = "classification"
    primary_metrics = {
        "accuracy": True,
        "AUC_weighted": True,
        "average_precision_score_weighted": True,
        "norm_macro_recall": True,
        "precision_score_weighted": True,
        # Beyond the seed's five: the standard score of multiclass benchmarks; lower is better.
        "log_loss": False,
    }
    default_primary_metric = "accuracy"
    has_classes = True
    meta_learner_name = "LogisticRegression"

    def compute_metrics(self, y_true, pred, context: ScoringContext) -> dict[str, float]:
        from ..metrics import classification_metrics

        return classification_metrics(y_true, pred, context.classes)

    def compute_charts(self, y_true, pred, context: ScoringContext) -> dict[str, Any]:
        from ..metrics import classification_charts

        return classification_charts(y_true, pred, context.classes, context.positive_label)

    def primary_scorer(self, metric: str, y_true, context: ScoringContext):
        from ..metrics import classification_scorer

        return classification_scorer(metric, y_true, context.classes)

    def selection_scorer(self, metric: str, y_true, context: ScoringContext):
        from ..metrics import selection_scorer

        return selection_scorer(metric, y_true, context.classes)

    def validate_target(self, config, y) -> None:
        import pandas as pd

        _no_missing(config, y)
        if pd.Series(y).nunique() < 2:
            raise ConfigError("target_column_name", f"target column {config.target_column_name!r} has a single "
                                                    "class; classification needs at least two")

    def target_array(self, y: np.ndarray) -> np.ndarray:
        """sklearn needs a native label dtype (bool/int/float) or strings: an object array of Python bools
        (what a yes/no column read as boolean gives) is "unknown" to its metrics, so it is rebuilt with a
        native dtype."""
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            y = np.asarray(y.tolist())
        if y.dtype.kind not in "biuf":
            y = y.astype(str).astype(object)
        return y

    def classes_of(self, y: np.ndarray) -> list:
        import pandas as pd

        return sorted(pd.unique(y).tolist())

    def positive_label(self, config, classes):
        positive = config.positive_label
        if positive is None and len(classes) == 2:
            positive = classes[1]
        return positive

    def search_flags(self, config, prepared) -> dict[str, Any]:
        imbalance = next((g for g in prepared.guardrails if g["name"] == "class_imbalance"), None)
        return {"imbalanced": bool(imbalance and imbalance["status"] == "alerted"), "log_target": False}

    def scaling_steps(self, algo) -> list[tuple[str, Any]]:
        """Classification keeps raw inputs and plain standardisation: its link function already bounds the
        output, clipping would tie the extreme rows that ranking metrics tell apart."""
        from sklearn.preprocessing import StandardScaler

        return [("scale", StandardScaler())] if algo.needs_scaling else []

    def predict_scores(self, model, X, classes: Sequence[Any] | None, cache=None) -> np.ndarray:
        """Probability matrix with columns in ``classes`` order (a model that saw fewer classes gets zeros)."""
        from ..predict import call

        proba = np.asarray(call(model, X, "predict_proba", cache), dtype=float)
        model_classes = list(model.classes_)
        classes = list(classes)
        if model_classes == classes:
            return proba
        out = np.zeros((len(X), len(classes)))
        for j, c in enumerate(model_classes):
            out[:, classes.index(c)] = proba[:, j]
        return out

    def calibrate(self, model, y_true, oof, context: ScoringContext, primary_metric: str, greater_is_better: bool,
                  random_state: int = 0):
        """Wrap the model's estimator in a :class:`~automl_engine.calibration.CalibratedModel` when a map
        fitted on its out-of-fold predictions lowers their cross-fitted log loss (see
        :mod:`automl_engine.calibration`) and does not lower the primary metric; the stored out-of-fold
        predictions are then the calibrated ones. ONNX-compatible runs are left as they are (the export
        knows no calibration map)."""
        from sklearn.pipeline import Pipeline

        from ..calibration import CalibratedModel

        if context.meta.get("onnx_compatible") or not isinstance(model, Pipeline):
            return model, oof, None
        estimator = model.steps[-1][1]
        if list(getattr(estimator, "classes_", [])) != list(context.classes):
            return model, oof, None  # a model that saw fewer classes (a small sample) keeps its own output
        chosen = self._calibration(y_true, oof, context, primary_metric, greater_is_better, random_state)
        if chosen is None:
            return model, oof, None
        calibrated, (method, params), calibration = chosen
        model.steps[-1] = (model.steps[-1][0], CalibratedModel(estimator, method, params))
        return model, calibrated, calibration

    def calibrate_ensemble(self, model, y_true, oof, context: ScoringContext, primary_metric: str,
                           greater_is_better: bool, random_state: int = 0):
        """The voting ensemble's own calibration map, chosen as a trial's is. Averaging sharp members with
        soft ones gives a blend less confident than its accuracy warrants (car_evaluation under load: a
        vote of gradient boosting and an SVM, cross-fitted log loss 0.0314 raw and 0.0286 at temperature
        0.77; 0.0076 and 0.0023 on the test rows). The map is set on the
        :class:`~automl_engine.ensemble.VotingEnsemble` itself, which stays the pipeline's only step."""
        if context.meta.get("onnx_compatible"):
            return model, oof, None
        chosen = self._calibration(y_true, oof, context, primary_metric, greater_is_better, random_state)
        if chosen is None:
            return model, oof, None
        calibrated, fitted_map, calibration = chosen
        model.steps[-1][1].calibration = fitted_map
        return model, calibrated, calibration

    def refitted_model(self, original, refitted):
        """The refitted pipeline with the trial's probability map, if it had one. The map was chosen on the
        holdout predictions of the same configuration fitted on the other nine tenths of the rows: the best
        estimate there is of the refitted model's, which has no rows left to choose one on."""
        from sklearn.pipeline import Pipeline

        from ..calibration import CalibratedModel

        step = original.steps[-1][1] if isinstance(original, Pipeline) else None
        if isinstance(step, CalibratedModel) and isinstance(refitted, Pipeline):
            name, estimator = refitted.steps[-1]
            refitted.steps[-1] = (name, CalibratedModel(estimator, step.method, step.params))
        return refitted

    @staticmethod
    def _calibration(y_true, oof, context: ScoringContext, primary_metric: str, greater_is_better: bool,
                     random_state: int):
        """``(calibrated predictions, (method, params), record)`` when a map chosen on ``oof`` lowers their
        cross-fitted log loss without lowering the primary metric, else None. The model gets the map's
        parameters as fitted, the record (the trial's ``calibration``) rounded."""
        from ..calibration import apply_map, choose_calibration
        from ..metrics import classification_scorer, is_better

        classes = list(context.classes)
        index = {c: i for i, c in enumerate(classes)}
        truth = np.array([index[v] for v in np.asarray(y_true).tolist()])
        chosen = choose_calibration(oof, truth, random_state)
        if chosen is None:
            return None
        method, params, raw_loss, crossed_loss = chosen
        calibrated = apply_map(oof, method, params)
        if primary_metric != "log_loss":
            scorer = classification_scorer(primary_metric, y_true, classes)
            if is_better(scorer(oof), scorer(calibrated), greater_is_better):
                return None
        return calibrated, (method, params), {"method": method, "params": [round(p, 6) for p in params],
                                              "log_loss_uncalibrated": raw_loss,
                                              "log_loss_cross_fitted": crossed_loss}

    def meta_features(self, predictions) -> np.ndarray:
        """Binary: only the positive column (the other is redundant) as a logit, so a linear meta-learner can
        weigh confident members. Many classes: raw probabilities keep the meta-problem well conditioned
        (logits of near-0/1 probabilities made lbfgs crawl: 77 s on letter)."""
        cols = []
        for p in predictions:
            if p.shape[1] == 2:
                p = np.clip(p[:, 1:], 1e-6, 1 - 1e-6)
                cols.append(np.log(p / (1 - p)))
            else:
                cols.append(p)
        return np.hstack(cols)

    def fit_stacker(self, oofs, y, context: ScoringContext, random_state: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

        from ..ensemble import stack_rows

        classes = context.classes
        Z = self.meta_features(oofs)
        y = np.asarray(y)
        keep = stack_rows(len(y), Z.shape[1], random_state)
        Z_fit, y_fit = Z[keep], y[keep]
        meta = LogisticRegression(C=1.0, max_iter=200, tol=1e-3)
        stratify = np.min(np.unique(y, return_counts=True)[1]) >= 5
        cv = StratifiedKFold(3, shuffle=True, random_state=random_state) if stratify else \
            KFold(3, shuffle=True, random_state=random_state)
        meta.fit(Z_fit, y_fit)
        # Honest estimate: every entry predicted by a meta-learner that did not see it (entries outside the
        # subsample never did; entries inside get cross-validated predictions).
        pred = meta.predict_proba(Z)
        pred[keep] = cross_val_predict(meta, Z_fit, y_fit, cv=cv, method="predict_proba")
        aligned = np.zeros((len(y), len(classes)))
        for j, c in enumerate(meta.classes_):
            aligned[:, list(classes).index(c)] = pred[:, j]
        return meta, aligned


def _no_missing(config, y) -> None:
    import pandas as pd

    n_missing = int(pd.isna(y).sum())
    if n_missing:
        raise ConfigError("target_column_name", f"target column {config.target_column_name!r} has {n_missing} "
                                                "missing values; drop or fill those rows")
