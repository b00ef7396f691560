"""Guardrails on constructed data: every status and its parameters."""
import numpy as np
import pandas as pd

from automl_engine.config import JobConfig
from automl_engine.featurize import plan_columns
from automl_engine.config import make_featurization
from automl_engine.guardrails import run_guardrails


def _run(X, y, test_X=None, task="classification"):
    config = JobConfig(task=task, target_column_name="y", primary_metric="accuracy" if task == "classification"
                       else "r2_score")
    plans = plan_columns(X, make_featurization())
    validation = {"method": "cv", "n_folds": 10, "reason": "100 rows < 1000: 10-fold cross-validation"}
    return {g["name"]: g for g in run_guardrails(config, X, np.asarray(y), plans, validation, test_X)}


def test_guardrails_alert_and_report_parameters():
    rng = np.random.RandomState(0)
    n = 200
    y = np.array(["a"] * 180 + ["b"] * 20, dtype=object)
    X = pd.DataFrame({
        "leak": np.where(y == "b", 1.0, 0.0) + rng.normal(scale=0.01, size=n),
        "gaps": np.where(np.arange(n) % 4 == 0, np.nan, rng.normal(size=n)),
        "city": [f"c{i % 80}" for i in range(n)],
        "flag": rng.choice(["x", "y"], size=n),
    })
    X.loc[199] = X.loc[198]
    y[199] = y[198]
    test_X = X.iloc[:5].copy()
    g = _run(X, y, test_X)
    assert g["missing_value_imputation"]["status"] == "done"
    assert g["missing_value_imputation"]["parameters"] == [{"column": "gaps", "missing": 50, "strategy": "mean"}]
    assert g["high_cardinality_features"]["status"] == "done"
    assert g["high_cardinality_features"]["parameters"] == [{"column": "city", "n_unique": 80, "encoding": "count"}]
    assert g["class_imbalance"]["status"] == "alerted"
    assert g["class_imbalance"]["parameters"]["ratio"] == round(21 / 179, 4) or \
        g["class_imbalance"]["parameters"]["ratio"] == round(20 / 180, 4)
    assert g["target_leakage"]["status"] == "alerted"
    assert [s["column"] for s in g["target_leakage"]["parameters"]] == ["leak"]
    assert g["duplicate_rows"]["status"] == "alerted"
    assert g["duplicate_rows"]["parameters"] == {"duplicate_rows": 1, "rows": 200}
    assert g["train_test_overlap"]["status"] == "alerted"
    assert g["train_test_overlap"]["parameters"] == {"overlapping_rows": 5, "test_rows": 5}
    assert g["validation_method"]["status"] == "done"


def test_guardrails_pass_on_clean_regression_data():
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150)})
    y = X["a"] + rng.normal(scale=1.0, size=150)
    g = _run(X, y, X.iloc[:0] + 1000, task="regression")
    assert {k: v["status"] for k, v in g.items()} == {
        "missing_value_imputation": "passed", "high_cardinality_features": "passed", "validation_method": "done",
        "target_leakage": "passed", "duplicate_rows": "passed", "train_test_overlap": "passed"}


def test_the_duplicate_rows_warning_names_the_validation_method_used():
    X = pd.DataFrame({"a": [1.0, 1.0, 2.0, 3.0], "b": ["x", "x", "y", "z"]})
    y = np.array([0, 0, 1, 1])
    config = JobConfig(task="classification", target_column_name="y", primary_metric="accuracy")
    plans = plan_columns(X, make_featurization())
    messages = {}
    for name, validation in {
            "cv": {"method": "cv", "source": "auto", "n_folds": 3, "reason": "3-fold"},
            "holdout": {"method": "holdout", "source": "user", "n_folds": 1, "reason": "validation_data_size given"},
            "data": {"method": "holdout", "source": "validation_data", "n_folds": 1, "reason": "validation_data given"},
    }.items():
        guard = {g["name"]: g for g in run_guardrails(config, X, y, plans, validation, None)}["duplicate_rows"]
        messages[name] = guard["description"]
    assert messages == {
        "cv": "1 duplicate training row(s) (features and target); with cross-validation a copy can land in both "
              "training and validation folds, making validation scores optimistic.",
        "holdout": "1 duplicate training row(s) (features and target); a copy can land in both the training rows "
                   "and the holdout validation rows, making validation scores optimistic.",
        "data": "1 duplicate training row(s) (features and target); a copy can be in both the training data and "
                "the validation data, making validation scores optimistic.",
    }
