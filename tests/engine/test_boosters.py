"""LightGBM models predict a block of trees at a time (automl_engine.boosters): the same predictions as
LightGBM's own row-by-row walk through every tree, in a few calls of BLOCK_TREES trees each."""
import joblib
import lightgbm as lgb
import numpy as np
import pytest

from automl_engine import boosters
from automl_engine.boosters import BlockwiseBooster, predict_blockwise


@pytest.fixture
def calls(monkeypatch):
    """The row counts of LightGBM's own Booster.predict calls."""
    seen = []
    plain = lgb.Booster.predict

    def counted(self, data, *args, **kwargs):
        seen.append((len(data), kwargs.get("start_iteration"), kwargs.get("num_iteration")))
        return plain(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", counted)
    return seen


def _features(df, target):
    X = df.drop(columns=[target]).select_dtypes("number")
    return X.to_numpy(float), df[target].to_numpy()


def _pair(model_class, X, y, **params):
    """Two copies of one fitted model: LightGBM's own, and the blockwise one."""
    plain = model_class(verbose=-1, n_jobs=1, random_state=0, **params).fit(X, y)
    fast = _copy(plain)
    predict_blockwise(fast)
    return plain, fast


def _copy(model):
    """The model saved and loaded again, as a run's trial models are."""
    import io

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def test_binary_probabilities_are_lightgbms_in_blocks_of_64_trees(bank_df, calls):
    X, y = _features(bank_df, "y")
    plain, fast = _pair(lgb.LGBMClassifier, X, y, n_estimators=300, num_leaves=8)
    assert type(fast.booster_) is BlockwiseBooster and type(plain.booster_) is lgb.Booster
    expected = plain.predict_proba(X)
    calls.clear()
    np.testing.assert_allclose(fast.predict_proba(X), expected, rtol=1e-12, atol=1e-15)
    # 300 rounds of one tree: blocks of 64 rounds starting at 0, 64, 128, 192 and 256 (the last of 44)
    assert calls == [(300, 0, 64), (300, 64, 64), (300, 128, 64), (300, 192, 64), (300, 256, 44)]
    assert list(fast.predict(X)) == list(plain.predict(X))


def test_multiclass_blocks_count_every_class_tree(bank_df, calls):
    X, y = _features(bank_df, "marital")
    assert sorted(set(y)) == ["divorced", "married", "single"]
    plain, fast = _pair(lgb.LGBMClassifier, X, y, n_estimators=100, num_leaves=8)
    expected = plain.predict_proba(X)
    calls.clear()
    np.testing.assert_allclose(fast.predict_proba(X), expected, rtol=1e-12, atol=1e-15)
    # three trees a round: blocks of 21 rounds (63 trees)
    assert [c[1:] for c in calls] == [(0, 21), (21, 21), (42, 21), (63, 21), (84, 16)]


def test_regression_predicts_the_rounds_asked_for(hardware_df, calls):
    X, y = _features(hardware_df, "PRP")
    y = y.astype(float)
    fit = dict(eval_set=[(X[150:], y[150:])], callbacks=[lgb.early_stopping(20, verbose=False)])
    plain = lgb.LGBMRegressor(verbose=-1, n_jobs=1, random_state=0, n_estimators=1000, learning_rate=0.02,
                              min_child_samples=5).fit(X[:150], y[:150], **fit)
    # early stopping kept 271 rounds, the best one last
    assert plain.best_iteration_ == plain.booster_.current_iteration() == 271
    fast = _copy(plain)
    predict_blockwise(fast)
    expected = plain.predict(X)
    calls.clear()
    np.testing.assert_allclose(fast.predict(X), expected, rtol=1e-12)
    assert [c[1:] for c in calls] == [(0, 64), (64, 64), (128, 64), (192, 64), (256, 15)]
    expected = plain.predict(X, start_iteration=30, num_iteration=150)
    calls.clear()
    np.testing.assert_allclose(fast.predict(X, start_iteration=30, num_iteration=150), expected, rtol=1e-12)
    assert [c[1:] for c in calls] == [(30, 64), (94, 64), (158, 22)]


def test_few_rows_contributions_and_leaves_are_predicted_the_usual_way(bank_df, calls):
    X, y = _features(bank_df, "y")
    plain, fast = _pair(lgb.LGBMClassifier, X, y, n_estimators=300, num_leaves=8)
    calls.clear()
    np.testing.assert_array_equal(fast.predict_proba(X[:boosters.MIN_ROWS - 1]),
                                  plain.predict_proba(X[:boosters.MIN_ROWS - 1]))
    np.testing.assert_array_equal(fast.predict(X, pred_contrib=True), plain.predict(X, pred_contrib=True))
    np.testing.assert_array_equal(fast.predict(X, pred_leaf=True), plain.predict(X, pred_leaf=True))
    assert [c[0] for c in calls] == [boosters.MIN_ROWS - 1] * 2 + [300] * 4


def test_an_objective_it_does_not_reproduce_keeps_lightgbms_booster(hardware_df):
    X, y = _features(hardware_df, "PRP")
    model = lgb.LGBMRegressor(objective="poisson", n_estimators=200, verbose=-1).fit(X, y.astype(float))
    predict_blockwise(model)
    assert type(model.booster_) is lgb.Booster


def test_a_runs_lightgbm_trials_predict_blockwise(bank_df, tmp_path):
    from automl_engine import classification

    job = classification(training_data=bank_df, target_column_name="y", n_cross_validations=3)
    job.set_limits(max_trials=1, timeout_minutes=1)
    job.set_training(allowed_training_algorithms=["LightGBM"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run(workdir=tmp_path)
    from automl_engine.target import inner_estimator

    model = joblib.load(result.trials[0].model_path)
    assert result.trials[0].algorithm == "LightGBM"
    assert type(inner_estimator(model.steps[-1][1]).booster_) is BlockwiseBooster
