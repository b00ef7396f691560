"""Penalised linear regressors (ElasticNet, LassoLars, SGD) are fitted on the standardised target, so their
alpha means the same whether the target is in dollars or in units; the fitted model is the plain linear
model with its coefficients in the target's units, which the fast predict path and ONNX export use as is.
Classifiers, neighbours and trees are unchanged."""
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import ElasticNet, LassoLars, SGDClassifier, SGDRegressor
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor

from automl_engine.config import make_featurization
from automl_engine.featurize import plan_columns
from automl_engine.predict import _threads, call
from automl_engine.target import LogTargetRegressor, StandardTargetRegressor, inner_estimator, wrap_target
from automl_engine.trial import build_pipeline

# x in {-1, 1}, y in {100, 300}: mean 200, std 100, so the standardised target is x itself and a lasso of
# strength alpha has slope 1 - alpha on it, 100 * (1 - alpha) dollars per unit of x.
X_PAIR = np.array([[-1.0], [-1.0], [1.0], [1.0]])
Y_PAIR = np.array([100.0, 100.0, 300.0, 300.0])


def test_alpha_is_weighed_against_the_standardised_target():
    model = StandardTargetRegressor(LassoLars(alpha=0.25)).fit(X_PAIR, Y_PAIR)
    assert (model.mean_, model.scale_) == (200.0, 100.0)
    assert model.regressor_.coef_.tolist() == [75.0]
    assert model.regressor_.intercept_ == 200.0
    assert model.predict(np.array([[-1.0], [0.0], [1.0]])).tolist() == [125.0, 200.0, 275.0]
    # On the raw dollar target the same alpha takes 0.25 dollars off a slope of 100: no shrinkage at all.
    assert LassoLars(alpha=0.25).fit(X_PAIR, Y_PAIR).coef_.tolist() == [99.75]


@pytest.mark.parametrize("estimator", [ElasticNet(alpha=0.1, l1_ratio=0.5), LassoLars(alpha=0.05),
                                       SGDRegressor(alpha=0.01, random_state=0)])
def test_predictions_follow_the_target_units(estimator):
    """Dollars or thousands of dollars shifted by any offset: the same fit in other units."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([2.0, -1.0, 0.0]) + rng.normal(scale=0.5, size=60)
    small = StandardTargetRegressor(estimator).fit(X, y)
    large = StandardTargetRegressor(estimator).fit(X, 1000.0 * y + 180000.0)
    np.testing.assert_allclose(large.predict(X), 1000.0 * small.predict(X) + 180000.0, rtol=1e-9)
    # The rescaled regressor_ is the model: the same class, predicting in the target's units by itself.
    assert type(large.regressor_) is type(estimator)
    np.testing.assert_array_equal(large.regressor_.predict(X), large.predict(X))


def test_a_constant_target_is_predicted_as_that_constant():
    model = StandardTargetRegressor(ElasticNet(alpha=0.1)).fit(X_PAIR, np.full(4, 7.0))
    assert model.scale_ == 1.0
    assert model.predict(X_PAIR).tolist() == [7.0, 7.0, 7.0, 7.0]


def test_sample_weights_reach_the_linear_model():
    y = np.array([100.0, 200.0, 300.0, 300.0])  # two answers for x = -1: the weights choose one
    at_minus_one = lambda weights: StandardTargetRegressor(ElasticNet(alpha=1e-9)).fit(  # noqa: E731
        X_PAIR, y, sample_weight=np.array(weights)).predict(X_PAIR[:1])[0]
    assert at_minus_one([1.0, 0.0, 1.0, 1.0]) == pytest.approx(100.0)
    assert at_minus_one([0.0, 1.0, 1.0, 1.0]) == pytest.approx(200.0)


def test_wrap_target_standardises_inside_the_log_transform():
    wrapped = wrap_target(LassoLars(alpha=1e-6), "log1p", standardize=True)
    assert isinstance(wrapped, LogTargetRegressor)
    assert isinstance(wrapped.regressor, StandardTargetRegressor)
    wrapped.fit(X_PAIR, Y_PAIR)
    assert type(inner_estimator(wrapped)) is LassoLars
    np.testing.assert_allclose(wrapped.predict(X_PAIR), Y_PAIR, rtol=1e-3)


@pytest.fixture
def price_data():
    """y = 1,000 dollars per unit of size + 20,000 for kind "b" + noise, 80 rows."""
    rng = np.random.RandomState(0)
    size = rng.uniform(50, 250, 80)
    kind = rng.choice(["a", "b"], 80)
    X = pd.DataFrame({"size": size, "kind": kind})
    return X, 1000.0 * size + 20000.0 * (kind == "b") + rng.normal(scale=5000.0, size=80)


def _meta(X, problem_type="regression", onnx=False):
    plans = plan_columns(X, make_featurization(), onnx_compatible=onnx)
    return {"problem_type": problem_type, "plan": [p.to_dict() for p in plans], "onnx_compatible": onnx}


def test_only_penalised_linear_regressors_standardise_the_target(price_data):
    X, _ = price_data
    model = lambda problem_type, algorithm: build_pipeline(_meta(X, problem_type), algorithm, {}).steps[-1][1]  # noqa: E731
    for algorithm, inner in (("ElasticNet", ElasticNet), ("LassoLars", LassoLars), ("SGD", SGDRegressor)):
        wrapped = model("regression", algorithm)
        assert type(wrapped) is StandardTargetRegressor and type(wrapped.regressor) is inner
    assert type(model("regression", "KNN")) is KNeighborsRegressor
    assert type(model("classification", "SGD")) is SGDClassifier
    assert type(model("regression", "LightGBM")).__name__ == "LGBMRegressor"


def test_strong_alpha_shrinks_a_dollar_target_as_much_as_a_unit_one(price_data):
    X, y = price_data
    slope = lambda target: build_pipeline(_meta(X), "LassoLars", {"alpha": 0.5}).fit(X, target)  # noqa: E731
    dollars, thousands = slope(y), slope(y / 1000.0)
    np.testing.assert_allclose(dollars.predict(X), 1000.0 * thousands.predict(X), rtol=1e-9)
    # Half the standardised target's correlation is taken off: the predictions spread half as far as the data.
    assert round(dollars.predict(X).std() / y.std(), 3) == 0.483


def test_fast_path_and_onnx_export_use_the_rescaled_linear_model(price_data, tmp_path):
    import onnxruntime as ort

    from automl_engine import export_onnx, onnx_inputs

    X, y = price_data
    model = build_pipeline(_meta(X, onnx=True), "SGD", {"alpha": 1e-3, "penalty": "l2"}).fit(X, y)
    estimator = model.named_steps["model"]
    assert type(estimator) is StandardTargetRegressor and _threads(estimator, 1) == {}
    pred = model.predict(X)
    np.testing.assert_array_equal(call(model, X, "predict"), pred)
    path = export_onnx(model, X, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_pred,) = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(onnx_pred.ravel(), pred, atol=1e-5 * np.abs(pred).max())
    assert round(r2_score(y, pred), 3) == 0.988
    # On the unit scale SGD converges in 20 epochs; on the dollar target it used all 1,000 without converging.
    assert estimator.regressor_.n_iter_ == 20
