"""A run ends with a model even when its first configuration cannot finish: after half the search time
without a finished trial, the first portfolio configuration is fitted on a 2,000-row sample beside it."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from automl_engine import Callbacks, algorithms, classification

BANK = Path(__file__).resolve().parents[2] / "examples" / "data" / "bank_marketing_train_data.csv"


@pytest.fixture
def slow_plugin():
    import slow_plugin as module  # tests/engine is on sys.path, as a notebook's folder is for the notebook

    yield module
    algorithms._REGISTRY["classification"].pop(module.NAME, None)
    sys.modules.pop("slow_plugin", None)


def test_a_run_whose_first_trial_cannot_finish_ends_with_a_sampled_model(slow_plugin, tmp_path):
    frame = pd.read_csv(BANK).sample(5000, random_state=0)
    job = classification(training_data=frame, target_column_name="y", validation_data_size=0.2)
    job.set_limits(max_trials=3, timeout_minutes=0.3)
    job.set_training(allowed_training_algorithms=[slow_plugin.NAME], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    logs = []
    result = job.run(Callbacks(on_log=lambda level, message: logs.append(message)), workdir=tmp_path)
    by_number = {t.number: t for t in result.trials}
    assert by_number[0].status == "cut_by_budget" and by_number[0].sample_size is None
    assert by_number[1].status == "completed" and by_number[1].sample_size == 2000
    assert result.best_trial.number == 1
    assert result.best_model.predict(frame.drop(columns=["y"]).head(3)).shape == (3,)
    assert any(m.startswith("no trial has finished in half the search time: trial 1 fits SlowUnlessSmall on a "
                            "2,000-row sample") for m in logs)
