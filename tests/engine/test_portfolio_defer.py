"""A portfolio configuration expected to take more than a third of the search time left waits until the
cheaper configurations after it have been tried, then runs if it still fits (automl_engine.driver
DEFER_SHARE); one expected to take more than all of it is skipped."""
from __future__ import annotations

import time

from automl_engine import Callbacks, classification
from automl_engine.driver import Driver
from automl_engine.executor import InlineExecutor


def test_a_dear_portfolio_configuration_waits_for_the_cheaper_ones(bank_df, tmp_path, monkeypatch):
    # The expected seconds are set as shares of the search time left when the driver asks: the 400-round
    # LightGBM default takes 40% (waits, then fits), the 300- and 800-round ones twice what is left (skipped).
    def estimate(self, name, params, sample_size=None):
        left = self.search_deadline - time.time()
        rounds = params.get("n_estimators", 0)
        return {400: 0.4 * left, 300: 2.0 * left, 800: 2.0 * left}.get(rounds, 0.01) if name == "LightGBM" else 0.01

    monkeypatch.setattr(Driver, "_estimate", estimate)
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3)
    job.set_limits(max_trials=5, timeout_minutes=2.0, max_concurrent_trials=1, enable_early_termination=False)
    job.set_training(allowed_training_algorithms=["LightGBM", "LogisticRegression", "DecisionTree"],
                     enable_model_explainability=False, enable_vote_ensemble=False, enable_stack_ensemble=False)
    logs: list[str] = []
    result = Driver(job, Callbacks(on_log=lambda level, message: logs.append(message)), InlineExecutor(),
                    tmp_path).run()

    started = [(t.algorithm, t.hyperparameters.get("n_estimators")) for t in result.trials]
    assert started == [("LightGBM", 40), ("LogisticRegression", None), ("LightGBM", 100), ("DecisionTree", None),
                       ("LightGBM", 400)]
    assert [t.status for t in result.trials] == ["completed"] * 5
    portfolio = [m.split(" {")[0] + " ..." + m.split("}")[1].split(":")[0] for m in logs
                 if m.startswith("portfolio configuration")]
    assert portfolio == ["portfolio configuration LightGBM ... waits for the cheaper ones",
                         "portfolio configuration LightGBM ... skipped",
                         "portfolio configuration LightGBM ... skipped"]
    waits = next(m for m in logs if "waits for the cheaper ones" in m)
    assert "'n_estimators': 400" in waits and "over 33% of the" in waits
