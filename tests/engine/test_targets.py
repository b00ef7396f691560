"""Targets in the shapes real datasets give them: a yes/no column read as Python booleans must train and be
scored on held-out test data exactly like a native label column."""
import numpy as np

import automl_engine
from automl_engine.data import split_test


def test_boolean_object_target_scores_the_test_split(bank_df, tmp_path):
    df = bank_df.copy()
    df["y"] = (df["y"] == "yes").astype(object)  # what a boolean-typed dataset column hands the engine
    job = automl_engine.classification(training_data=df, target_column_name="y", primary_metric="AUC_weighted",
                                       n_cross_validations=3, test_data_size=0.25, random_state=0)
    job.set_limits(timeout_minutes=5, max_trials=1)
    job.set_training(allowed_training_algorithms=["LogisticRegression"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run(workdir=tmp_path)

    assert result.status == "completed"
    from automl_engine.config import JobConfig

    _, test = split_test(df, JobConfig.from_dict(result.config), None)
    assert len(test) == 75
    y_test = np.asarray(test["y"].tolist())
    predicted = result.best_model.predict(test.drop(columns=["y"]))
    assert result.best_trial.test_metrics["accuracy"] == float(np.mean(predicted == y_test))
    matrix = result.best_trial.test_charts["confusion_matrix"]["matrix"]
    assert sum(map(sum, matrix)) == 75
