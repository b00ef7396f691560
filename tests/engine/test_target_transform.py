"""Regression on log1p(target): who is eligible, the wrapper predicting on the original scale, the choice
being searched and recorded, and every consumer of a fitted pipeline (fast predict path, explanations,
ONNX export) handling it."""
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from automl_engine import Callbacks, explain, export_onnx, regression
from automl_engine.algorithms import portfolio_order
from automl_engine.driver import Driver
from automl_engine.predict import _threads, call, limit_threads
from automl_engine.target import LogTargetRegressor, log_target_eligible, wrap_target


def test_eligible_only_for_non_negative_right_skewed_targets():
    rng = np.random.RandomState(0)
    skewed = rng.lognormal(mean=10, sigma=0.8, size=500)
    assert log_target_eligible(skewed)
    assert not log_target_eligible(rng.normal(100, 10, size=500))      # symmetric
    assert not log_target_eligible(np.append(skewed, -1.0))            # a negative value
    assert not log_target_eligible(np.full(50, 3.0))                   # constant


def test_log_target_regressor_predicts_on_the_original_scale():
    X = np.arange(20, dtype=float).reshape(-1, 1)
    y = np.expm1(np.linspace(1, 12, 20))
    tree = LogTargetRegressor(DecisionTreeRegressor(random_state=0)).fit(X, y)
    np.testing.assert_allclose(tree.predict(X), y, rtol=1e-12)
    assert tree.regressor_.predict(X[-1:])[0] == pytest.approx(12.0)  # the inner model saw log1p(y)


def test_log_target_regressor_clips_extrapolation_to_the_training_range():
    X = np.arange(10, dtype=float).reshape(-1, 1)
    y = np.expm1(np.arange(10, dtype=float))
    linear = LogTargetRegressor(LinearRegression()).fit(X, y)
    assert linear.predict(np.array([[1000.0], [-1000.0]])).tolist() == pytest.approx([y.max(), 0.0])


def test_unknown_target_transform_is_refused():
    with pytest.raises(ValueError, match="unknown target_transform 'sqrt'"):
        wrap_target(LinearRegression(), "sqrt")


def test_portfolio_adds_log_twins_only_when_asked():
    plain = portfolio_order("regression")
    with_log = portfolio_order("regression", log_target=True)
    twins = [(name, params) for name, params in with_log if params.get("target_transform") == "log1p"]
    assert [name for name, _ in twins] == ["LightGBM", "LightGBM"]
    assert len(with_log) == len(plain) + 2
    assert with_log[with_log.index(twins[0]) - 1] == (twins[0][0], {k: v for k, v in twins[0][1].items()
                                                                    if k != "target_transform"})
    assert all("target_transform" not in params for _, params in portfolio_order("classification", True))


@pytest.fixture(scope="module")
def skewed_df():
    """400 rows whose target is a price-like lognormal function of two features."""
    rng = np.random.RandomState(1)
    n = 400
    size = rng.uniform(30, 300, n)
    kind = rng.choice(["flat", "house", "villa"], n)
    log_price = 8 + 0.01 * size + np.select([kind == "house", kind == "villa"], [0.4, 1.0], 0.0)
    return pd.DataFrame({"size": size, "kind": kind, "price": np.exp(log_price + rng.normal(0, 0.3, n))})


def _run(frame, tmp_path, **training):
    job = regression(training_data=frame, target_column_name="price", primary_metric="r2_score",
                     n_cross_validations=3, random_state=0)
    job.set_limits(max_trials=5, timeout_minutes=2)
    job.set_training(enable_stack_ensemble=False, enable_model_explainability=False, **training)
    return job.run(workdir=tmp_path)


@pytest.fixture(scope="module")
def skewed_run(skewed_df, tmp_path_factory):
    return _run(skewed_df, tmp_path_factory.mktemp("skewed"), allowed_training_algorithms=["LightGBM"])


def test_log_choice_is_a_recorded_trial_of_the_search(skewed_run):
    singles = [t for t in skewed_run.trials if not t.is_ensemble]
    assert [t.hyperparameters.get("target_transform") for t in singles[:4]] == [None, None, "log1p", None]
    log_trial = singles[2]
    assert log_trial.pipeline_name == "LightGBM, log1p target"
    assert log_trial.hyperparameters == {**singles[1].hyperparameters, "target_transform": "log1p"}
    board = skewed_run.leaderboard
    assert board.loc[board["number"] == log_trial.number, "pipeline_name"].tolist() == ["LightGBM, log1p target"]


def test_log_target_pipeline_predicts_on_the_original_scale(skewed_run, skewed_df):
    trial = next(t for t in skewed_run.trials if t.hyperparameters.get("target_transform") == "log1p")
    model = joblib.load(trial.model_path)
    assert isinstance(model.named_steps["model"], LogTargetRegressor)
    X = skewed_df.drop(columns=["price"])
    pred = model.predict(X)
    assert np.median(pred) == pytest.approx(np.median(skewed_df["price"]), rel=0.1)
    assert np.array_equal(call(model, X, "predict"), pred)   # the fast path gives exactly the same
    assert _threads(model.named_steps["model"], 1) == {"num_threads": 1}
    # Serving limits the threads of the LightGBM model inside the transform, which is the one that predicts.
    limit_threads(model, 3)
    assert model.named_steps["model"].regressor_.get_params()["n_jobs"] == 3
    # Out-of-fold metrics and charts are in price units too (on the log scale r2 would be far below 0).
    assert trial.metrics["r2_score"] > 0.5
    chart = trial.charts["predicted_vs_true"]
    assert np.median(chart["predicted_mean"]) == pytest.approx(np.median(chart["bin_true_mean"]), rel=0.2)


def test_same_seed_and_trial_limit_give_the_same_leaderboard_with_log_target(skewed_df, tmp_path):
    def board(path):
        return _run(skewed_df, path, allowed_training_algorithms=["LightGBM", "ElasticNet"]).leaderboard[
            ["number", "pipeline_name", "r2_score"]]

    pd.testing.assert_frame_equal(board(tmp_path / "a"), board(tmp_path / "b"))


def test_explanation_of_a_log_target_tree_uses_shap(skewed_run, skewed_df):
    trial = next(t for t in skewed_run.trials if t.hyperparameters.get("target_transform") == "log1p")
    result = explain(joblib.load(trial.model_path), skewed_df.drop(columns=["price"]), skewed_df["price"])
    assert result["method"] == "shap"
    assert set(result["raw"]) == {"size", "kind"}
    assert sum(result["raw"].values()) == pytest.approx(1.0)


def test_onnx_compatible_runs_never_search_the_log_target(skewed_df, tmp_path):
    job = regression(training_data=skewed_df, target_column_name="price", primary_metric="r2_score",
                     n_cross_validations=3)
    job.set_training(enable_onnx_compatible_models=True)
    driver = Driver(job, Callbacks(), None, tmp_path)
    driver.prepare()
    assert driver.log_target is False


def test_onnx_export_refuses_a_log_target_pipeline(skewed_run, skewed_df, tmp_path):
    trial = next(t for t in skewed_run.trials if t.hyperparameters.get("target_transform") == "log1p")
    with pytest.raises(ValueError, match="enable_onnx_compatible_models=True"):
        export_onnx(joblib.load(trial.model_path), skewed_df.head(5), tmp_path / "model.onnx")


def test_the_search_offers_the_log_target_to_trees_only(skewed_df, tmp_path):
    import optuna

    job = regression(training_data=skewed_df, target_column_name="price", primary_metric="r2_score",
                     n_cross_validations=3, random_state=0)
    driver = Driver(job, Callbacks(), None, tmp_path)
    driver.prepare()
    assert driver.log_target is True
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    offered = {}
    names = ["ElasticNet", "LassoLars", "LightGBM", "RandomForest"]
    for name in names:
        study.enqueue_trial({"algorithm": name})
        chosen, params = driver._suggest(study.ask(), names)
        offered[chosen] = "target_transform" in params
    assert offered == {"ElasticNet": False, "LassoLars": False, "LightGBM": True, "RandomForest": True}
