"""Configuration: one JSON-serialisable object, and clear errors that name the offending setting."""
import json

import numpy as np
import pandas as pd
import pytest

from automl_engine import ConfigError, classification, job_from_config, regression, validate_config


def _error(fn) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn()
    return info.value


def test_to_config_is_json_and_round_trips(bank_df):
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3, random_state=7)
    job.set_limits(timeout_minutes=5, max_trials=12, max_concurrent_trials=2)
    job.set_training(blocked_training_algorithms=["KNN"], enable_stack_ensemble=False)
    job.set_featurization(mode="custom", column_name_and_types={"day_of_week": "Categorical"},
                          transformer_params={"imputer": [{"fields": ["age"], "parameters": {"strategy": "median"}}]},
                          blocked_transformers=["tfidf"])
    config = job.to_config()
    assert json.loads(json.dumps(config)) == config
    assert config["limits"]["max_trials"] == 12
    assert config["training"]["blocked_training_algorithms"] == ["KNN"]
    assert config["featurization"]["transformer_params"] == {
        "imputer": [{"fields": ["age"], "parameters": {"strategy": "median"}}]}
    again = job_from_config(config, training_data=bank_df)
    assert again.to_config() == config


def test_unknown_primary_metric_for_task(bank_df):
    err = _error(lambda: classification(training_data=bank_df, target_column_name="y", primary_metric="r2_score"))
    assert err.setting == "primary_metric"
    assert "not a primary metric for classification" in str(err)


def test_timeout_must_be_positive(bank_df):
    job = classification(training_data=bank_df, target_column_name="y")
    err = _error(lambda: job.set_limits(timeout_minutes=0))
    assert err.setting == "limits.timeout_minutes"


def test_unknown_algorithm_name(bank_df):
    job = regression(training_data=bank_df, target_column_name="age")
    err = _error(lambda: job.set_training(allowed_training_algorithms=["LogisticRegression"]))
    assert err.setting == "training.allowed_training_algorithms"
    assert "unknown algorithm 'LogisticRegression' for regression" in str(err)


def test_folds_more_than_rows():
    config = classification(training_data=None, target_column_name="y", n_cross_validations=50).config
    err = _error(lambda: validate_config(config, columns=["a", "y"], n_rows=20))
    assert err.setting == "n_cross_validations"
    assert "50 folds but only 20 training rows" in str(err)


def test_target_column_missing(bank_df):
    job = classification(training_data=bank_df, target_column_name="nope")
    err = _error(job.run)
    assert err.setting == "target_column_name"
    assert "'nope' is not in the training data" in str(err)


def test_single_class_target(bank_df):
    df = bank_df.assign(y="no")
    err = _error(classification(training_data=df, target_column_name="y").run)
    assert err.setting == "target_column_name"
    assert "single class" in str(err)


def test_target_with_missing_values(bank_df):
    df = bank_df.copy()
    df.loc[:4, "y"] = np.nan
    err = _error(classification(training_data=df, target_column_name="y").run)
    assert err.setting == "target_column_name"
    assert "has 5 missing values" in str(err)


def test_non_numeric_regression_target(bank_df):
    err = _error(regression(training_data=bank_df, target_column_name="job").run)
    assert err.setting == "target_column_name"
    assert "not numeric" in str(err)


def test_unknown_setting_in_config_dict():
    err = _error(lambda: validate_config({"task": "classification", "target_column_name": "y", "colour": 1}))
    assert err.setting == "colour"


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
