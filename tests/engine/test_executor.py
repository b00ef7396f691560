"""The executor seam: JSON tasks, evaluate_trial in another process from the shared workdir, and a
custom executor object driving a whole run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from automl_engine import TrialOutcome, TrialTask, evaluate_trial, regression
from automl_engine.config import make_featurization
from automl_engine.data import make_folds
from automl_engine.featurize import plan_columns
from automl_engine.trial import write_prepared

ROOT = Path(__file__).resolve().parents[2]


def _workdir(tmp_path, hardware_df):
    X = hardware_df.drop(columns=["PRP", "ERP"])
    y = hardware_df["PRP"].to_numpy(float)
    folds = make_folds(y, {"method": "cv", "n_folds": 3, "source": "user"}, "regression", 0)
    meta = {"problem_type": "regression", "target": "PRP", "classes": None, "positive_label": None,
            "primary_metric": "r2_score", "validation": {"method": "cv", "n_folds": 3},
            "plan": [p.to_dict() for p in plan_columns(X, make_featurization())], "featurization_mode": "auto",
            "onnx_compatible": False, "random_state": 0}
    write_prepared(tmp_path, X, y, folds, None, meta)


def test_trial_task_round_trips_through_json():
    task = TrialTask(number=3, algorithm="LightGBM", hyperparameters={"n_estimators": 50}, workdir="/shared/run",
                     timeout_seconds=30.0, n_jobs=1, random_state=0)
    assert TrialTask.from_dict(json.loads(json.dumps(task.to_dict()))) == task


def test_evaluate_trial_in_another_process_reads_the_shared_workdir(tmp_path, hardware_df):
    _workdir(tmp_path, hardware_df)
    task = TrialTask(number=0, algorithm="ElasticNet", hyperparameters={"alpha": 0.01, "l1_ratio": 0.5},
                     workdir=str(tmp_path))
    code = ("import json, sys; from automl_engine import evaluate_trial; "
            "print(json.dumps(evaluate_trial(json.loads(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(task.to_dict())], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    outcome = TrialOutcome.from_dict(json.loads(out.stdout.strip().splitlines()[-1]))
    assert outcome.status == "completed"
    assert (tmp_path / "trials" / "0" / "model.pkl").exists()
    assert np.load(tmp_path / "trials" / "0" / "oof.npy").shape == (209,)
    same_here = evaluate_trial({**task.to_dict(), "number": 1})
    assert same_here["metrics"]["r2_score"] == outcome.metrics["r2_score"]


class RecordingExecutor:
    """What the studio's Celery executor does, in-process: run evaluate_trial on the task dict."""

    def __init__(self):
        self.submitted, self._done = [], []

    def submit(self, task):
        payload = json.loads(json.dumps(task.to_dict()))  # what crosses the broker
        self.submitted.append(payload)
        self._done.append((f"h{task.number}", evaluate_trial(payload)))
        return f"h{task.number}"

    def poll(self):
        done, self._done = self._done, []
        return done

    def cancel(self, handle):
        pass

    def shutdown(self):
        pass


def test_run_with_a_custom_executor(hardware_df, tmp_path):
    executor = RecordingExecutor()
    job = regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=3)
    job.set_limits(max_trials=3, timeout_minutes=2)
    job.set_training(allowed_training_algorithms=["ElasticNet", "DecisionTree", "LassoLars"],
                     enable_model_explainability=False)
    result = job.run(executor=executor, workdir=tmp_path)
    assert [p["number"] for p in executor.submitted] == [0, 1, 2]
    assert all(p["workdir"] == str(tmp_path) for p in executor.submitted)
    assert result.status == "completed"
    assert (tmp_path / "data" / "X.pkl").exists() and (tmp_path / "config.json").exists()
    assert sum(t.is_ensemble for t in result.trials) == 2
