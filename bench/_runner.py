"""Run one engine on one benchmark dataset in this process and print one JSON line with the test score.

Called by bench/engine.py in a fresh process per (engine, dataset, budget) so that peak memory and wall
time are measured in isolation."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_split(manifest_dir: Path, entry: dict):
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(manifest_dir / entry["file"])
    df = df.drop(columns=entry.get("drop") or [])
    df = df.dropna(subset=[entry["target"]]).reset_index(drop=True)
    stratify = df[entry["target"]] if entry["task"] == "classification" else None
    train, test = train_test_split(df, test_size=0.2, random_state=0, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def metric_for(entry: dict, y: pd.Series) -> str:
    """Benchmark metric: ROC AUC for binary classification, accuracy for multiclass, R² for regression."""
    if entry["task"] == "regression":
        return "r2"
    return "roc_auc" if y.nunique() == 2 else "accuracy"


def score(metric: str, y_true, proba_or_pred, classes=None) -> float:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if metric == "r2":
        return float(r2_score(y_true, proba_or_pred))
    if metric == "roc_auc":
        positive = classes[1]
        return float(roc_auc_score(np.asarray(y_true) == positive, proba_or_pred[:, 1]))
    return float(accuracy_score(np.asarray(y_true).astype(str), np.asarray(proba_or_pred).astype(str)))


def run_ours(train, test, entry, metric, budget, n_jobs):
    from automl_engine import classification, regression

    target = entry["target"]
    if entry["task"] == "regression":
        job = regression(training_data=train, target_column_name=target, primary_metric="r2_score")
    else:
        primary = "AUC_weighted" if metric == "roc_auc" else "accuracy"
        job = classification(training_data=train, target_column_name=target, primary_metric=primary)
    job.set_limits(timeout_minutes=budget / 60.0, max_concurrent_trials=n_jobs)
    # Explanations are a post-hoc artifact the anchor does not compute: not part of the timed fit.
    job.set_training(enable_model_explainability=False)
    start = time.time()
    result = job.run()
    wall = time.time() - start
    model = result.best_model
    if model is None:  # no trial finished within the budget
        return float("nan"), wall, {"trials": len(result.trials), "best": None}
    X_test = test.drop(columns=[target])
    if metric == "roc_auc":
        s = score(metric, test[target], model.predict_proba(X_test), list(model.classes_))
    else:
        s = score(metric, test[target], model.predict(X_test))
    return s, wall, {"trials": len(result.trials), "best": result.best_trial.pipeline_name}


def run_flaml(train, test, entry, metric, budget, n_jobs):
    from flaml import AutoML

    target = entry["target"]
    X, y = train.drop(columns=[target]), train[target]
    automl = AutoML()
    start = time.time()
    automl.fit(X, y, task=entry["task"], metric=metric, time_budget=budget, n_jobs=n_jobs, seed=0, verbose=0)
    wall = time.time() - start
    X_test = test.drop(columns=[target])
    if metric == "roc_auc":
        s = score(metric, test[target], automl.predict_proba(X_test), list(automl.classes_))
    else:
        s = score(metric, test[target], automl.predict(X_test))
    return s, wall, {"best": automl.best_estimator}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--engine", choices=["ours", "flaml"], required=True)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    manifest_path = Path(args.manifest)
    entry = next(e for e in json.loads(manifest_path.read_text())["datasets"] if e["name"] == args.dataset)
    train, test = load_split(manifest_path.parent, entry)
    metric = metric_for(entry, train[entry["target"]])
    runner = run_ours if args.engine == "ours" else run_flaml
    s, wall, info = runner(train, test, entry, metric, args.budget, args.n_jobs)
    print("RESULT " + json.dumps({"score": s, "wall": wall, "metric": metric, **info}), flush=True)


if __name__ == "__main__":
    main()
