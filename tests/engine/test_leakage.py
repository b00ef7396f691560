"""Featurization is fitted inside each fold: no statistic of a validation fold reaches its model."""
import numpy as np
import pandas as pd

from automl_engine import evaluate_trial
from automl_engine.config import make_featurization
from automl_engine.data import make_folds
from automl_engine.featurize import Featurizer, plan_columns
from automl_engine.trial import write_prepared


def _prepare(tmp_path, X, y, n_folds=5):
    folds = make_folds(y, {"method": "cv", "n_folds": n_folds, "source": "user"}, "regression", 0)
    plans = plan_columns(X, make_featurization())
    meta = {"problem_type": "regression", "target": "y", "classes": None, "positive_label": None,
            "primary_metric": "r2_score", "validation": {"method": "cv", "n_folds": n_folds},
            "plan": [p.to_dict() for p in plans], "featurization_mode": "auto", "onnx_compatible": False,
            "random_state": 0}
    write_prepared(tmp_path, X, y, folds, None, meta)
    return folds


def test_featurizer_never_sees_validation_rows(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"x": rng.normal(size=100), "c": rng.choice(list("abcdefgh"), size=100)})
    y = rng.normal(size=100)
    folds = _prepare(tmp_path, X, y)
    fitted_on = []
    original = Featurizer.fit

    def spy(self, frame, target=None):
        fitted_on.append(set(frame.index))
        return original(self, frame, target)

    monkeypatch.setattr(Featurizer, "fit", spy)
    out = evaluate_trial({"number": 0, "algorithm": "ElasticNet", "hyperparameters": {"alpha": 0.01, "l1_ratio": 0.5},
                          "workdir": str(tmp_path)})
    assert out["status"] == "completed"
    assert len(fitted_on) == 6  # five folds and the final refit on all rows
    for fold in range(5):
        assert fitted_on[fold] == set(np.flatnonzero(folds != fold))
    assert fitted_on[5] == set(range(100))


def test_count_encoding_fitted_on_all_rows_would_inflate_the_score(tmp_path):
    """The target is the size of a row's category. Counts learned on all rows reveal it exactly (a tree
    scores R² = 1); counts learned on the training folds only cannot, and that is what the engine reports."""
    from sklearn.tree import DecisionTreeRegressor

    categories = [f"g{i}" for i in range(50) for _ in range(2)] + [f"h{i}" for i in range(50) for _ in range(3)]
    X = pd.DataFrame({"group": categories})
    y = X["group"].map(X["group"].value_counts()).to_numpy(float)
    folds = _prepare(tmp_path, X, y)
    assert _prepare.__doc__ is None and plan_columns(X, make_featurization())[0].encoding == "count"
    out = evaluate_trial({"number": 2, "algorithm": "DecisionTree",
                          "hyperparameters": {"max_depth": 4, "min_samples_leaf": 1}, "workdir": str(tmp_path)})
    leaky = np.empty(len(y))
    full_counts = X["group"].map(X["group"].value_counts() / len(X)).to_numpy()[:, None]
    for fold in range(5):
        train, valid = folds != fold, folds == fold
        leaky[valid] = DecisionTreeRegressor(max_depth=4, random_state=0).fit(full_counts[train], y[train]).predict(
            full_counts[valid])
    leaky_r2 = 1 - np.sum((y - leaky) ** 2) / np.sum((y - y.mean()) ** 2)
    assert leaky_r2 == 1.0
    assert out["metrics"]["r2_score"] < 0.5
