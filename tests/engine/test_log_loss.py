"""log_loss as a classification primary metric: accepted, minimised by the search and by ensemble selection."""
import numpy as np
from sklearn.metrics import log_loss

from automl_engine import classification
from automl_engine.config import PRIMARY_METRICS
from automl_engine.metrics import primary_scorer


def test_the_fast_log_loss_scorer_equals_sklearn():
    rng = np.random.RandomState(0)
    y = np.array(["a", "b", "c"])[rng.randint(0, 3, 200)]
    proba = rng.dirichlet([1, 1, 1], 200)
    scorer = primary_scorer("classification", "log_loss", y, ["a", "b", "c"])
    assert round(scorer(proba), 10) == round(log_loss(y, proba, labels=["a", "b", "c"]), 10)


def test_a_run_on_log_loss_picks_the_lowest_log_loss(bank_df):
    assert PRIMARY_METRICS["classification"]["log_loss"] is False
    job = classification(training_data=bank_df.head(600), target_column_name="y", primary_metric="log_loss",
                         n_cross_validations=3)
    job.set_limits(max_trials=3, timeout_minutes=1)
    job.set_training(allowed_training_algorithms=["LogisticRegression", "DecisionTree"],
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run()
    assert result.status == "completed" and result.greater_is_better is False
    scored = [t for t in result.trials if t.score is not None]
    assert result.best_trial.score == min(t.score for t in scored)
    assert all(t.score == t.metrics["log_loss"] for t in scored)
