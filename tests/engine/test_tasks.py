"""The task abstraction: the registry, the splitter contract (k-fold and holdout exactly as before, a
rolling-origin splitter through the same trial loop), portfolio order from the plugin declarations, and a
user's plugin evaluated in trial subprocesses."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl_engine import ConfigError, evaluate_trial, regression
from automl_engine import algorithms
from automl_engine.algorithms import Algorithm, portfolio_order, register
from automl_engine.config import JobConfig, make_featurization
from automl_engine.data import make_folds
from automl_engine.featurize import plan_columns
from automl_engine.tasks import KFoldSplitter, Splits, get_task, make_splits
from automl_engine.trial import TrialTask, load_prepared, write_prepared


def test_get_task_returns_the_task_objects_and_rejects_unknown_names():
    assert get_task("classification").has_classes and not get_task("regression").has_classes
    assert get_task("regression").default_primary_metric == "normalized_root_mean_squared_error"
    with pytest.raises(ConfigError) as err:
        get_task("clustering")
    assert err.value.setting == "task"
    assert "unknown task 'clustering'; use one of ['classification', 'regression', 'forecasting']" in str(err.value)
    with pytest.raises(ConfigError, match="unknown task None"):
        get_task(None)
    with pytest.raises(ConfigError, match="unknown task 'clustering'"):
        JobConfig.from_dict({"task": "clustering", "target_column_name": "y"})


def _old_make_folds(y, validation, problem_type, random_state, n_validation_rows=0):
    """make_folds as it was before splitters (engine of 2026-11-29), kept verbatim as the reference."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    n = len(y)
    if validation["source"] == "validation_data":
        folds = np.full(n, -1, dtype=np.int64)
        folds[n - n_validation_rows:] = 0
        return folds
    stratified = problem_type == "classification" and pd.Series(y).value_counts().min() >= validation["n_folds"]
    if validation["method"] == "cv":
        k = validation["n_folds"]
        splitter = (StratifiedKFold(k, shuffle=True, random_state=random_state) if stratified
                    else KFold(k, shuffle=True, random_state=random_state))
        folds = np.empty(n, dtype=np.int64)
        for fold, (_, valid) in enumerate(splitter.split(np.zeros(n), y if stratified else None)):
            folds[valid] = fold
        return folds
    can_stratify = problem_type == "classification" and pd.Series(y).value_counts().min() >= 2
    _, valid = train_test_split(np.arange(n), test_size=validation["validation_size"], random_state=random_state,
                                stratify=y if can_stratify else None)
    folds = np.full(n, -1, dtype=np.int64)
    folds[valid] = 0
    return folds


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
@pytest.mark.parametrize("validation", [
    {"method": "cv", "n_folds": 10, "source": "auto"},
    {"method": "cv", "n_folds": 3, "source": "user"},
    {"method": "holdout", "n_folds": 1, "validation_size": 0.1, "source": "auto"},
    {"method": "holdout", "n_folds": 1, "validation_size": None, "source": "validation_data"},
])
def test_kfold_and_holdout_splits_assign_exactly_the_folds_of_before(problem_type, validation):
    rng = np.random.RandomState(3)
    y = rng.choice(["a", "b", "c"], size=157, p=[0.6, 0.3, 0.1]).astype(object) if problem_type == "classification" \
        else rng.normal(size=157)
    task = get_task(problem_type)
    for seed in (0, 7):
        old = _old_make_folds(y, validation, problem_type, seed, n_validation_rows=20)
        splits = make_splits(task.splitter(validation, seed, 20), None, y)
        assert np.array_equal(make_folds(y, validation, problem_type, seed, 20), old)
        # Each pair is (rows outside the fold for CV / the train-only rows for a holdout, the fold's rows).
        for k, (train, valid) in enumerate(splits.pairs):
            assert np.array_equal(valid, np.flatnonzero(old == k))
            expected_train = np.flatnonzero(old != k) if validation["method"] == "cv" else np.flatnonzero(old == -1)
            assert np.array_equal(train, expected_train)
        assert splits.refit == (validation["method"] == "cv")
        rows, numbers = splits.scored()
        assert np.array_equal(rows, np.flatnonzero(old >= 0))  # ascending rows: the order of before
        assert np.array_equal(numbers, old[old >= 0])


class RollingOrigins:
    """Origins every ``step`` rows, each validated on the next ``horizon`` rows, trained on all rows before."""

    refit = True

    def __init__(self, first: int, step: int, horizon: int, n_origins: int):
        self.first, self.step, self.horizon, self.n_origins = first, step, horizon, n_origins

    def split(self, X, y):
        for k in range(self.n_origins):
            origin = self.first + k * self.step
            yield np.arange(origin), np.arange(origin, origin + self.horizon)


def test_rolling_origins_train_on_the_past_and_may_validate_a_row_twice(tmp_path):
    n = 60
    # A trend feature (not a row counter, which featurization drops as an id).
    x = np.arange(n) * 0.37 + np.random.RandomState(0).normal(scale=0.01, size=n)
    X = pd.DataFrame({"x": x})
    y = 2.0 * x + 1.0
    # Step 4 < horizon 6: consecutive windows overlap by two rows; rows 0..29 are never validated.
    splits = make_splits(RollingOrigins(first=30, step=4, horizon=6, n_origins=5), X, y)
    for train, valid in splits.pairs:
        assert train.max() < valid.min()
    rows, numbers = splits.scored()
    assert len(rows) == 30 and rows.min() == 30 and rows.max() == 51
    assert rows.tolist().count(34) == 2 and numbers[rows == 34].tolist() == [0, 1]
    meta = {"problem_type": "regression", "target": "y", "classes": None, "positive_label": None,
            "primary_metric": "r2_score", "validation": {"method": "rolling_origin"},
            "plan": [p.to_dict() for p in plan_columns(X, make_featurization())], "featurization_mode": "auto",
            "onnx_compatible": False, "random_state": 0}
    write_prepared(tmp_path, X, y, splits, None, meta)
    data = load_prepared(tmp_path)
    assert [(a.tolist(), b.tolist()) for a, b in data.splits.pairs] == \
        [(a.tolist(), b.tolist()) for a, b in splits.pairs]
    out = evaluate_trial(TrialTask(0, "ElasticNet", {"alpha": 1e-6, "l1_ratio": 0.5}, str(tmp_path)).to_dict())
    assert out["status"] == "completed", out["error"]
    oof = np.load(out["oof_path"])
    assert oof.shape == (30,)
    # Regression clips inputs to the training range, so a linear fit of the past predicts every future row
    # as the last row it trained on: the row just before its origin. A model that saw any validated row
    # (or anything after the origin) would predict higher.
    origins = 30 + 4 * numbers
    np.testing.assert_allclose(oof, y[origins - 1], rtol=1e-4)
    assert out["metrics"]["r2_score"] < 0.9


def test_a_splitter_that_trains_on_validated_rows_is_rejected():
    class Leaky:
        refit = True

        def split(self, X, y):
            yield np.arange(10), np.arange(5, 10)

    with pytest.raises(ValueError, match="split 0 trains on rows it validates"):
        make_splits(Leaky(), None, np.zeros(10))


def test_builtin_portfolio_order_comes_from_the_declarations():
    assert [(n, p.get("n_estimators")) for n, p in portfolio_order("regression")][:8] == [
        ("LightGBM", 40), ("ElasticNet", None), ("LightGBM", 100), ("XGBoostRegressor", 200), ("LightGBM", 400),
        ("ExtremeRandomTrees", 100), ("RandomForest", 100), ("GradientBoosting", None)]
    assert [n for n, _ in portfolio_order("classification")][-6:] == [
        "KNN", "LinearSVM", "SVM", "DecisionTree", "NaiveBayes", "SGD"]


def test_plugin_portfolio_ranks_order_configurations_and_unranked_ones_come_last():
    def build(params, problem_type, n_jobs, random_state):
        raise AssertionError("not built here")

    suggest = lambda trial, n_rows: {}  # noqa: E731
    try:
        register(Algorithm("Late", ("toy",), build, suggest, portfolio={"toy": [{"i": 1}, {"i": 2}]}))
        register(Algorithm("Ranked", ("toy",), build, suggest, portfolio={"toy": [{"i": 3}, {"i": 4}]},
                           portfolio_rank=(5, 1)))
        register(Algorithm("First", ("toy",), build, suggest, portfolio={"toy": [{"i": 5}]}, portfolio_rank=(0,),
                           log_target_twins={"toy": (0,)}))
        assert portfolio_order("toy") == [("First", {"i": 5}), ("Ranked", {"i": 4}), ("Ranked", {"i": 3}),
                                          ("Late", {"i": 1}), ("Late", {"i": 2})]
        assert portfolio_order("toy", log_target=True)[:2] == [("First", {"i": 5}),
                                                               ("First", {"i": 5, "target_transform": "log1p"})]
    finally:
        algorithms._REGISTRY.pop("toy", None)


@pytest.fixture
def user_plugin():
    import user_plugin as module  # tests/engine is on sys.path, as a notebook's folder is for the notebook

    yield module
    algorithms._REGISTRY["regression"].pop(module.NAME, None)
    sys.modules.pop("user_plugin", None)


def test_a_user_plugin_runs_in_the_trial_subprocesses(user_plugin, hardware_df, tmp_path):
    job = regression(hardware_df.drop(columns=["ERP"]), "PRP", primary_metric="r2_score", n_cross_validations=3)
    job.set_limits(max_trials=2, timeout_minutes=5)
    job.set_training(allowed_training_algorithms=["ElasticNet", user_plugin.NAME], enable_stack_ensemble=False,
                     enable_vote_ensemble=False, enable_model_explainability=False)
    result = job.run(workdir=tmp_path)  # the default LocalProcessExecutor: python -m automl_engine.worker
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["plugins"] == [{"module": "user_plugin", "path": str(Path(user_plugin.__file__).parent)}]
    plugin_trial = next(t for t in result.trials if t.algorithm == user_plugin.NAME)
    assert plugin_trial.status == "completed", plugin_trial.error
    # A median for every row: R² is at most 0 on held-out folds.
    assert plugin_trial.score < 0.0


def test_a_plugin_registered_in_main_gets_a_clear_error(hardware_df, tmp_path):
    suggest = lambda trial, n_rows: {}  # noqa: E731
    register(Algorithm("Scripted", ("regression",), lambda *a: None, suggest, portfolio={"regression": [{}]}),
             module="__main__")
    try:
        job = regression(hardware_df.drop(columns=["ERP"]), "PRP", n_cross_validations=3)
        job.set_training(allowed_training_algorithms=["Scripted"])
        with pytest.raises(ConfigError, match="registered in __main__.*importable module"):
            job.run(workdir=tmp_path)
    finally:
        algorithms._REGISTRY["regression"].pop("Scripted", None)


def test_a_task_with_its_own_settings_block_round_trips_and_tabular_configs_keep_their_shape():
    from automl_engine.tasks import RegressionTask, register_task, _TASKS

    class Horizon(RegressionTask):
        name = "toy_horizon"
        settings_key = "toy"

        def parse_settings(self, data):
            unknown = sorted(set(data or {}) - {"horizon"})
            if unknown:
                raise ConfigError(f"toy.{unknown[0]}", "unknown setting")
            return (("horizon", int((data or {}).get("horizon", 1))),)

        def settings_to_dict(self, settings):
            return dict(settings)

    register_task(Horizon())
    try:
        config = JobConfig.from_dict({"task": "toy_horizon", "target_column_name": "y", "toy": {"horizon": 3}})
        assert config.task_settings == (("horizon", 3),)
        assert config.to_dict()["toy"] == {"horizon": 3}
        assert JobConfig.from_dict(config.to_dict()) == config
        with pytest.raises(ConfigError, match="toy.lag: unknown setting"):
            JobConfig.from_dict({"task": "toy_horizon", "target_column_name": "y", "toy": {"lag": 3}})
        with pytest.raises(ConfigError, match="unknown setting 'toy'"):
            JobConfig.from_dict({"task": "regression", "target_column_name": "y", "toy": {"horizon": 3}})
    finally:
        _TASKS.pop("toy_horizon")
    plain = JobConfig.from_dict({"task": "classification", "target_column_name": "y"}).to_dict()
    assert list(plain) == ["type", "task", "target_column_name", "primary_metric", "training_data",
                           "validation_data", "test_data", "n_cross_validations", "validation_data_size",
                           "test_data_size", "weight_column_name", "positive_label", "random_state", "limits",
                           "training", "featurization"]
