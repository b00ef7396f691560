"""The seed's SDK snippets run as written (only ``from azure.ai.ml import automl, Input`` becomes
``from automl_engine import automl, Input``): SDK v2 keyword forms, v1/REST spellings, Azure transformer
and algorithm names, compute keywords accepted and ignored with a note."""
import datetime

import numpy as np
import pandas as pd
import pytest

from automl_engine import Callbacks, ConfigError, automl
from automl_engine.automl import ColumnTransformer, Input


@pytest.fixture
def bank_mltable(tmp_path, bank_df):
    folder = tmp_path / "training-mltable-folder"
    folder.mkdir()
    bank_df.head(200).to_csv(folder / "train.csv", index=False)
    (folder / "MLTable").write_text("paths:\n  - file: ./train.csv\ntransformations:\n"
                                    "  - read_delimited:\n      delimiter: ','\n      encoding: ascii\n")
    return folder


def test_classification_job_snippet_runs_as_written(bank_mltable, tmp_path):
    my_training_data_input = Input(type="mltable", path=str(bank_mltable))
    # --- the seed's "classification job", "limits" and "training properties" snippets, unchanged ---
    classification_job = automl.classification(
        compute="my-compute",
        experiment_name="my-experiment",
        training_data=my_training_data_input,
        target_column_name="y",
        primary_metric="accuracy",
        n_cross_validations=5,
        enable_model_explainability=True,
        tags={"my_custom_tag": "My custom value"},
    )
    classification_job.set_limits(
        timeout_minutes=600,
        trial_timeout_minutes=20,
        max_trials=5,
        enable_early_termination=True,
    )
    classification_job.set_training(
        blocked_training_algorithms=["logistic_regression"],
        enable_onnx_compatible_models=True,
    )
    # --- end of snippet ---
    config = classification_job.config
    assert config.n_cross_validations == 5 and config.training.enable_model_explainability is True
    assert config.limits.timeout_minutes == 600 and config.limits.trial_timeout_minutes == 20
    assert config.training.blocked_training_algorithms == ("LogisticRegression",)
    logs = []
    # Keeps the test fast (not part of the snippet): 2 trials, no ensembles, no explanation.
    classification_job.set_limits(max_trials=2)
    classification_job.set_training(enable_model_explainability=False, enable_vote_ensemble=False,
                                    enable_stack_ensemble=False)
    result = classification_job.run(callbacks=Callbacks(on_log=lambda level, m: logs.append(m)),
                                    workdir=tmp_path / "work")
    assert result.status == "completed"
    assert len(result.trials) == 2
    assert "LogisticRegression" not in {t.algorithm for t in result.trials}
    assert result.validation_method["n_folds"] == 5
    assert any(m.startswith("compute='my-compute' accepted and ignored") for m in logs)
    assert any(m.startswith("experiment_name='my-experiment' accepted and ignored") for m in logs)
    assert any(m.startswith("tags={'my_custom_tag': 'My custom value'} accepted and ignored") for m in logs)


def test_featurization_snippet_with_column_transformer_and_azure_transformer_names(hardware_df):
    regression_job = automl.regression(training_data=hardware_df, target_column_name="PRP",
                                       primary_metric="r2_score")
    # --- the seed's featurization snippet ---
    transformer_params = {
        "imputer": [
            ColumnTransformer(fields=["CACH"], parameters={"strategy": "most_frequent"}),
            ColumnTransformer(fields=["PRP"], parameters={"strategy": "most_frequent"}),
        ],
    }
    regression_job.set_featurization(
        mode="custom",
        transformer_params=transformer_params,
        blocked_transformers=["LabelEncoding"],
        column_name_and_types={"CHMIN": "Categorical"},
    )
    # --- end of snippet ---
    feat = regression_job.config.featurization
    assert feat.mode == "custom" and feat.column_types() == {"CHMIN": "Categorical"}
    assert feat.imputer_overrides() == {"CACH": {"strategy": "most_frequent"}, "PRP": {"strategy": "most_frequent"}}
    assert feat.blocked_transformers == ()  # we never label-encode features: nothing to block
    assert any("'LabelEncoding' accepted and ignored" in n for n in regression_job.notes)
    regression_job.set_featurization(blocked_transformers=["OneHotEncoder", "HashOneHotEncoder", "TfIdf"])
    assert regression_job.config.featurization.blocked_transformers == ("one_hot_encoder", "hashing_encoder", "tfidf")
    with pytest.raises(ConfigError, match="featurization.blocked_transformers: unknown transformer 'Bogus'"):
        regression_job.set_featurization(blocked_transformers=["Bogus"])


def test_limit_spellings_rest_durations_and_v1_names(hardware_df):
    job = automl.regression(training_data=hardware_df, target_column_name="PRP")
    job.set_limits(timeout="PT1H30M", trial_timeout=datetime.timedelta(minutes=2), max_cores_per_trial=2,
                   max_nodes=4)
    assert job.config.limits.timeout_minutes == 90 and job.config.limits.trial_timeout_minutes == 2
    assert job.config.limits.max_cores_per_trial == 2  # honoured: each trial's learner gets 2 threads
    assert job.config.limits.max_nodes == 4  # the Dask workers of a distributed run
    job.set_limits(timeout=15, trial_timeout="PT30S")
    assert job.config.limits.timeout_minutes == 15 and job.config.limits.trial_timeout_minutes == 0.5
    job.set_limits(experiment_timeout_hours=0.5, iteration_timeout_minutes=3, iterations=7,
                   max_concurrent_iterations=2, enable_early_stopping=False, experiment_exit_score=0.9)
    limits = job.config.limits
    assert (limits.timeout_minutes, limits.trial_timeout_minutes, limits.max_trials, limits.max_concurrent_trials,
            limits.enable_early_termination, limits.exit_score) == (30, 3, 7, 2, False, 0.9)
    with pytest.raises(ConfigError, match="limits.timeout: 'soon' is not a duration"):
        job.set_limits(timeout="soon")
    with pytest.raises(ConfigError, match=r"sets timeout_minutes twice with different values \(5 and 6\)"):
        job.set_limits(timeout=5, timeout_minutes=6)


def test_training_spellings(hardware_df):
    job = automl.regression(training_data=hardware_df, target_column_name="PRP")
    job.set_training(blocked_models=["knn", "light_gbm"], allowed_algorithms=["LightGBM", "random_forest",
                                                                              "xg_boost_regressor", "KNN"])
    training = job.config.training
    assert training.blocked_training_algorithms == ("KNN", "LightGBM")
    assert training.allowed_training_algorithms == ("LightGBM", "RandomForest", "XGBoostRegressor", "KNN")
    job.set_training(enable_dnn_training=True)
    assert any(n.startswith("training.enable_dnn_training=True accepted and ignored") for n in job.notes)
    with pytest.raises(ConfigError, match="unknown algorithm 'TensorFlowDNN'"):
        job.set_training(allowed_training_algorithms=["TensorFlowDNN"])


def test_auto_cross_validations_and_unknown_keywords(hardware_df):
    job = automl.regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations="auto")
    assert job.config.n_cross_validations is None
    with pytest.raises(ConfigError, match="iterations: unknown keyword for regression"):
        automl.regression(training_data=hardware_df, target_column_name="PRP", iterations=3)


def test_cv_split_column_names_are_the_folds(tmp_path, bank_df):
    df = bank_df.head(120).copy()
    df["split_a"] = 1
    df["split_b"] = 1
    df.loc[:39, "split_a"] = 0
    df.loc[40:79, "split_b"] = 0
    job = automl.classification(training_data=df, target_column_name="y", primary_metric="AUC_weighted",
                                cv_split_column_names=["split_a", "split_b"])
    job.set_limits(max_trials=1)
    job.set_training(allowed_training_algorithms=["LogisticRegression"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run(workdir=tmp_path / "work")
    assert result.validation_method["source"] == "cv_split_column_names"
    assert result.validation_method["n_folds"] == 2
    assert "split_a" not in {s["column"] for s in result.featurization_summary}
    from automl_engine.tasks.splits import folds_of
    from automl_engine.trial import load_prepared

    prepared = load_prepared(tmp_path / "work")  # what every trial trains and validates on
    folds = folds_of(prepared.splits, len(prepared.y))
    assert folds[:40].tolist() == [0] * 40 and folds[40:80].tolist() == [1] * 40 and set(folds[80:]) == {-1}
    bad = df.copy()
    bad.loc[0, "split_b"] = 0
    job = automl.classification(training_data=bad, target_column_name="y", cv_split_column_names=["split_a",
                                                                                                  "split_b"])
    with pytest.raises(ConfigError, match="rows validate in more than one split"):
        job.run(workdir=tmp_path / "bad")
    with pytest.raises(ConfigError, match="custom splits replace n_cross_validations"):
        automl.classification(training_data=df, target_column_name="y", n_cross_validations=3,
                              cv_split_column_names=["split_a"])
