"""A user's algorithm plugin in an importable module, as a notebook or script would import it: a quantile
of the training target for every row. Registered for regression at import."""
from automl_engine import Algorithm, register

NAME = "QuantileBaseline"


def _build(params, problem_type, n_jobs, random_state):
    from sklearn.dummy import DummyRegressor

    return DummyRegressor(strategy="quantile", quantile=params["quantile"])


def _suggest(trial, n_rows):
    return {"quantile": trial.suggest_float(f"{NAME}.quantile", 0.3, 0.7)}


PLUGIN = register(Algorithm(name=NAME, problem_types=("regression",), build=_build, suggest=_suggest,
                            portfolio={"regression": [{"quantile": 0.5}]}, cost=0.01))
