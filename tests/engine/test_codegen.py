"""Generated training code reproduces each trial's validation score within 1e-6 when run on the same CSV."""
import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from automl_engine import classification, regression
from automl_engine.algorithms import get_algorithm
from automl_engine.codegen import generate_training_code, render_value

ROOT = Path(__file__).resolve().parents[2]


def _reproduce(tmp_path, result, trial, csv: Path) -> dict:
    code = generate_training_code(result.config, joblib.load(trial.model_path), title=f"trial {trial.number}",
                                  supports_sample_weight=get_algorithm(result.config["task"],
                                                                       trial.algorithm).supports_sample_weight)
    script = tmp_path / f"train_trial_{trial.number}.py"
    script.write_text(code)
    compile(code, str(script), "exec")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(script), "--train", str(csv), "--json", "--output",
                          str(tmp_path / f"model_{trial.number}.pkl")], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bank_run(tmp_path, bank_df, primary_metric: str, algorithms: list[str]):
    """A run over the bank sample saved as a CSV, one trial per algorithm, no ensembles; and the CSV."""
    csv = tmp_path / "bank.csv"
    bank_df.to_csv(csv, index=False)
    job = classification(training_data=str(csv), target_column_name="y", primary_metric=primary_metric,
                         n_cross_validations=3)
    job.set_limits(max_trials=len(algorithms), timeout_minutes=5)
    job.set_training(allowed_training_algorithms=algorithms, enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    return job.run(workdir=tmp_path / "work"), csv


def test_classification_trials_reproduce_their_validation_score(tmp_path, bank_df):
    result, csv = _bank_run(tmp_path, bank_df, "AUC_weighted", ["LightGBM", "LogisticRegression"])
    trials = [t for t in result.trials if t.score is not None]
    assert {t.algorithm for t in trials} == {"LightGBM", "LogisticRegression"}
    for trial in trials:
        printed = _reproduce(tmp_path, result, trial, csv)
        assert printed["primary_metric"] == "AUC_weighted"
        assert printed["validation"]["AUC_weighted"] == pytest.approx(trial.score, abs=1e-6), trial.algorithm
        assert printed["validation"]["accuracy"] == pytest.approx(trial.metrics["accuracy"], abs=1e-6)


def test_the_svm_trial_reproduces_its_validation_score(tmp_path, bank_df):
    result, csv = _bank_run(tmp_path, bank_df, "accuracy", ["SVM"])
    trial = next(t for t in result.trials if t.score is not None)
    assert trial.algorithm == "SVM"
    code = generate_training_code(result.config, joblib.load(trial.model_path))
    assert "SoftmaxSVC(C=10.0" in code and "from automl_engine.svm import SoftmaxSVC" in code
    printed = _reproduce(tmp_path, result, trial, csv)
    assert printed["validation"]["accuracy"] == pytest.approx(trial.score, abs=1e-6)
    assert printed["validation"]["log_loss"] == pytest.approx(trial.metrics["log_loss"], abs=1e-6)


def test_regression_with_a_test_split_and_scaling_steps_reproduces(tmp_path, hardware_df):
    csv = tmp_path / "machines.csv"
    hardware_df.to_csv(csv, index=False)
    job = regression(training_data=str(csv), target_column_name="PRP", primary_metric="r2_score",
                     test_data_size=0.2, validation_data_size=0.25)
    job.set_limits(max_trials=2, timeout_minutes=5)
    job.set_training(allowed_training_algorithms=["ElasticNet", "RandomForest"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run(workdir=tmp_path / "work")
    trials = [t for t in result.trials if t.score is not None]
    assert {t.algorithm for t in trials} == {"ElasticNet", "RandomForest"}
    elastic = next(t for t in trials if t.algorithm == "ElasticNet")
    source = generate_training_code(result.config, joblib.load(elastic.model_path))
    assert "RangeClipper(" in source and "ElasticNet(" in source and "from sklearn.linear_model import" in source
    # The best trial's model was refitted on all rows after the holdout search; the other's was not.
    assert {t.algorithm: Path(t.model_path).name for t in trials} == {
        result.best_trial.algorithm: "refit.pkl",
        ({"ElasticNet", "RandomForest"} - {result.best_trial.algorithm}).pop(): "model.pkl"}
    X = hardware_df.drop(columns=["PRP"])
    for trial in trials:
        printed = _reproduce(tmp_path, result, trial, csv)
        assert printed["validation"]["r2_score"] == pytest.approx(trial.score, abs=1e-6), trial.algorithm
        # The script's model is the trial's saved one, refitted on all rows or not as the run did.
        written = joblib.load(tmp_path / f"model_{trial.number}.pkl")
        np.testing.assert_allclose(written.predict(X), joblib.load(trial.model_path).predict(X), rtol=1e-12)


def test_render_value_writes_python_source():
    from sklearn.linear_model import LogisticRegression

    imports: set[str] = set()
    source = render_value({"a": [1.5, float("nan"), (2,)], "m": LogisticRegression(C=0.5)}, imports)
    assert source.startswith("{'a': [1.5, float('nan'), (2,)], 'm': LogisticRegression(C=0.5, ")
    assert imports == {"from sklearn.linear_model import LogisticRegression"}
    assert eval(source, {"LogisticRegression": LogisticRegression})["m"].C == 0.5
