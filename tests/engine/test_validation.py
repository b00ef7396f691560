"""The seed's validation rules, user overrides, and test data held out before anything else."""
import numpy as np
import pandas as pd
import pytest

from automl_engine import classification
from automl_engine.config import JobConfig
from automl_engine.data import choose_validation, make_folds, split_test


def _config(**kwargs) -> JobConfig:
    return JobConfig(task="classification", target_column_name="y", primary_metric="accuracy", **kwargs)


@pytest.mark.parametrize("n_rows, method, n_folds, size", [
    (999, "cv", 10, None),
    (1000, "cv", 3, None),
    (20000, "cv", 3, None),
    (20001, "holdout", 1, 0.1),
])
def test_default_rules_by_row_count(n_rows, method, n_folds, size):
    v = choose_validation(n_rows, _config(), has_validation_data=False)
    assert (v["method"], v["n_folds"], v["validation_size"], v["source"]) == (method, n_folds, size, "auto")


def test_user_settings_override_the_rules():
    assert choose_validation(50_000, _config(n_cross_validations=5), False)["n_folds"] == 5
    v = choose_validation(500, _config(validation_data_size=0.25), False)
    assert (v["method"], v["validation_size"]) == ("holdout", 0.25)
    assert choose_validation(500, _config(), True)["source"] == "validation_data"


def test_folds_partition_rows_and_are_stratified():
    y = np.array(["a"] * 90 + ["b"] * 30, dtype=object)
    folds = make_folds(y, {"method": "cv", "n_folds": 3, "source": "auto"}, "classification", 0)
    assert sorted(np.bincount(folds).tolist()) == [40, 40, 40]
    assert [int((y[folds == f] == "b").sum()) for f in range(3)] == [10, 10, 10]


def test_holdout_marks_ten_percent_as_validation():
    y = np.arange(30_000, dtype=float)
    folds = make_folds(y, {"method": "holdout", "n_folds": 1, "validation_size": 0.1, "source": "auto"},
                       "regression", 0)
    assert int((folds == 0).sum()) == 3000
    assert int((folds == -1).sum()) == 27000


def test_test_fraction_is_held_out_first(bank_df):
    train, test = split_test(bank_df, _config(test_data_size=0.2), None)
    assert (len(train), len(test)) == (240, 60)
    together = pd.concat([train, test]).sort_values(list(bank_df.columns)).reset_index(drop=True)
    assert together.equals(bank_df.sort_values(list(bank_df.columns)).reset_index(drop=True))
    assert test["y"].value_counts().to_dict() == {"no": 55, "yes": 5}  # stratified: 24 of 300 are "yes"


def test_run_uses_test_data_only_for_final_scores(bank_df):
    seen_rows = []
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="accuracy",
                         test_data_size=0.2)
    job.set_limits(max_trials=2, timeout_minutes=2)
    job.set_training(allowed_training_algorithms=["LightGBM", "LogisticRegression"], enable_model_explainability=False)
    from automl_engine import Callbacks

    result = job.run(callbacks=Callbacks(on_log=lambda level, msg: seen_rows.append(msg)))
    assert "prepared 240 training rows" in seen_rows[0]
    assert "test rows: 60" in seen_rows[0]
    assert result.validation_method["n_folds"] == 10  # 240 rows < 1000
    assert result.test_metrics is not None and set(result.test_metrics) >= {"accuracy", "AUC_weighted"}
    searched = [t for t in result.trials if not t.is_ensemble and t.number != result.best_trial.number]
    assert all(t.test_metrics is None for t in searched)
