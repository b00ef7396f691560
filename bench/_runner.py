"""Run one engine on one benchmark dataset in this process and print one JSON line with the test score.

Called by bench/engine.py in a fresh process per (engine, dataset, budget) so that peak memory and wall
time are measured in isolation."""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_split(manifest_dir: Path, entry: dict, seed: int = 0):
    """The manifest's 80/20 split (stratified for classification); ``seed`` 0 is the protocol's split, other
    seeds draw other test rows for the repeated-split runs of bench/engine.py."""
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(manifest_dir / entry["file"])
    df = df.drop(columns=entry.get("drop") or [])
    df = df.dropna(subset=[entry["target"]]).reset_index(drop=True)
    stratify = df[entry["target"]] if entry["task"] == "classification" else None
    train, test = train_test_split(df, test_size=0.2, random_state=seed, stratify=stratify)
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


def probability_loss(y_true, proba, classes) -> float:
    """Log loss of a probability matrix whose columns are ``classes`` (labels compared as strings)."""
    from sklearn.metrics import log_loss

    # log_loss takes the columns to be in sorted label order (its LabelBinarizer sorts them), whatever order
    # `labels` has; a model's classes_ need not be sorted as strings, so the columns are put in that order.
    labels = [str(c) for c in classes]
    order = np.argsort(labels, kind="stable")
    proba = np.clip(np.asarray(proba, dtype=float), 1e-15, 1.0)[:, order]
    return float(log_loss(np.asarray(y_true).astype(str), proba, labels=[labels[i] for i in order]))


def score_on_test(model, test, entry, metric, info: dict) -> float:
    """Score a fitted model (``predict_proba``/``predict`` and ``classes_``, as ours and FLAML's have) on the
    test rows; the prediction time and, for classification, the log loss go into ``info``."""
    target = entry["target"]
    X_test = test.drop(columns=[target])
    start = time.time()
    if entry["task"] != "classification":
        predictions = model.predict(X_test)
        info["predict_seconds"] = time.time() - start
        return score(metric, test[target], predictions)
    proba = model.predict_proba(X_test)
    info["predict_seconds"] = time.time() - start
    classes = list(model.classes_)
    info["log_loss"] = probability_loss(test[target], proba, classes)
    return score(metric, test[target], proba if metric == "roc_auc" else np.asarray(classes)[np.argmax(proba, 1)],
                 classes)


def run_ours(train, test, entry, metric, budget, n_jobs, early_termination=False):
    """Our engine. Early termination (the SDK's default) is off unless asked for: both anchors search until
    their budget is spent, and equal budgets are what the benchmark compares."""
    from automl_engine import classification, regression

    target = entry["target"]
    if entry["task"] == "regression":
        job = regression(training_data=train, target_column_name=target, primary_metric="r2_score")
    else:
        primary = "AUC_weighted" if metric == "roc_auc" else "accuracy"
        job = classification(training_data=train, target_column_name=target, primary_metric=primary)
    job.set_limits(timeout_minutes=budget / 60.0, max_concurrent_trials=n_jobs,
                   enable_early_termination=early_termination)
    # Explanations are a post-hoc artifact the anchor does not compute: not part of the timed fit.
    job.set_training(enable_model_explainability=False)
    start = time.time()
    result = job.run()
    wall = time.time() - start
    model = result.best_model
    completed = sum(1 for t in result.trials if t.status == "completed" and not t.is_ensemble)
    if model is None:  # no trial finished within the budget
        return float("nan"), wall, {"trials": completed, "best": None}
    info = {"trials": completed, "best": result.best_trial.pipeline_name}
    return score_on_test(model, test, entry, metric, info), wall, info


def run_flaml(train, test, entry, metric, budget, n_jobs):
    from flaml import AutoML

    target = entry["target"]
    X, y = train.drop(columns=[target]), train[target]
    automl = AutoML()
    start = time.time()
    automl.fit(X, y, task=entry["task"], metric=metric, time_budget=budget, n_jobs=n_jobs, seed=0, verbose=0)
    wall = time.time() - start
    info = {"best": automl.best_estimator}
    return score_on_test(automl, test, entry, metric, info), wall, info


def run_autogluon(train, test, entry, metric, budget, n_jobs):
    """AutoGluon-Tabular ``best_quality`` (bagging and multi-layer stacking) at the same time limit, in its own
    virtual environment (var/bench-autogluon-tabular)."""
    import tempfile

    from autogluon.tabular import TabularPredictor

    target = entry["target"]
    eval_metric = {"roc_auc": "roc_auc", "accuracy": "accuracy", "r2": "r2"}[metric]
    problem = "regression" if metric == "r2" else ("binary" if metric == "roc_auc" else "multiclass")
    with tempfile.TemporaryDirectory() as path:
        start = time.time()
        predictor = TabularPredictor(label=target, eval_metric=eval_metric, problem_type=problem, path=path,
                                     verbosity=0).fit(train, time_limit=budget, presets="best_quality",
                                                      num_cpus=n_jobs, num_gpus=0,
                                                      # DyStack's in-process sub-fit trains no model in a
                                                      # quarter of a short budget and AutoGluon 1.6.3 then
                                                      # fails ("Learner is already fit"); its log suggests
                                                      # exactly these settings (one stack level, the result
                                                      # DyStack reached).
                                                      dynamic_stacking=False, num_stack_levels=1)
        wall = time.time() - start
        X_test = test.drop(columns=[target])
        info = {"best": predictor.model_best}
        start = time.time()
        if entry["task"] == "classification":
            proba = predictor.predict_proba(X_test)
            info["predict_seconds"] = time.time() - start
            classes = list(proba.columns)
            proba = proba.to_numpy()
            info["log_loss"] = probability_loss(test[target], proba, classes)
            s = score(metric, test[target], proba if metric == "roc_auc" else np.asarray(classes)[np.argmax(proba, 1)],
                      classes)
        else:
            s = score(metric, test[target], predictor.predict(X_test).to_numpy())
            info["predict_seconds"] = time.time() - start
    return s, wall, info


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--engine", choices=["ours", "flaml", "autogluon"], required=True)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--early-termination", action="store_true", help="ours only: stop a stalled search early")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the 80/20 split (0: the protocol's)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    manifest_path = Path(args.manifest)
    entry = next(e for e in json.loads(manifest_path.read_text())["datasets"] if e["name"] == args.dataset)
    train, test = load_split(manifest_path.parent, entry, args.split_seed)
    metric = metric_for(entry, train[entry["target"]])
    runner = {"ours": run_ours, "flaml": run_flaml, "autogluon": run_autogluon}[args.engine]
    options = {"early_termination": args.early_termination} if args.engine == "ours" else {}
    s, wall, info = runner(train, test, entry, metric, args.budget, args.n_jobs, **options)
    print("RESULT " + json.dumps({"score": s, "wall": wall, "metric": metric, **info}), flush=True)


if __name__ == "__main__":
    main()
