"""A classification plugin whose fit takes a minute on more than 2,000 rows and a moment on fewer: the slow
first configuration of a run on a busy machine, made repeatable."""
import time

from sklearn.linear_model import LogisticRegression

from automl_engine import Algorithm, register

NAME = "SlowUnlessSmall"


class SlowUnlessSmall(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        if len(X) > 2000:
            time.sleep(60)
        return super().fit(X, y, sample_weight=sample_weight)


def _build(params, problem_type, n_jobs, random_state):
    return SlowUnlessSmall(max_iter=200)


def _suggest(trial, n_rows):
    return {}


PLUGIN = register(Algorithm(name=NAME, problem_types=("classification",), build=_build, suggest=_suggest,
                            portfolio={"classification": [{}]}, cost=0.01))
