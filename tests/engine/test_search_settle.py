"""The model-based search lets go of an algorithm whose trials stopped improving it (automl_engine.driver
SETTLE_TRIALS): the next best algorithm takes its place instead of TPE refining a flat parameter."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import automl_engine
from automl_engine import regression

DATA = Path(__file__).resolve().parents[1] / "data"


def test_an_algorithm_that_stopped_improving_leaves_the_model_based_search(tmp_path):
    df = pd.read_csv(DATA / "diamonds_5000.csv").head(1000)
    job = regression(training_data=df, target_column_name="price", primary_metric="r2_score")
    job.set_limits(max_trials=45, max_concurrent_trials=1, timeout_minutes=5, enable_early_termination=False)
    job.set_training(allowed_training_algorithms=["LassoLars", "ElasticNet", "SGD", "KNN", "DecisionTree"],
                     enable_model_explainability=False, enable_vote_ensemble=False, enable_stack_ensemble=False)
    logs: list[str] = []
    result = job.run(callbacks=automl_engine.Callbacks(on_log=lambda level, m: logs.append(m)), workdir=tmp_path)

    searched = [m for m in logs if m.startswith("model-based search") or " leaves the model-based search" in m]
    assert searched == [
        "model-based search (TPE) over ['ElasticNet', 'LassoLars', 'KNN']",
        "ElasticNet leaves the model-based search: its last 10 trials did not improve its best (0.911897) by 0.1%",
        "model-based search (TPE) over ['LassoLars', 'KNN', 'SGD']",
        "LassoLars leaves the model-based search: its last 10 trials did not improve its best (0.911886) by 0.1%",
        "model-based search (TPE) over ['KNN', 'SGD', 'DecisionTree']",
    ]
    algorithms = [t.algorithm for t in result.trials if not t.is_ensemble]
    assert len(algorithms) == 45
    # ElasticNet's last trial is the tenth without an improvement (trial 19); LassoLars' is trial 34
    assert max(i for i, a in enumerate(algorithms) if a == "ElasticNet") == 19
    assert max(i for i, a in enumerate(algorithms) if a == "LassoLars") == 34
    assert result.best_trial.algorithm == "ElasticNet" and round(result.best_trial.score, 6) == 0.911897
