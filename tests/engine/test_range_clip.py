"""Regression models that get scaling (linear models, neighbours) see their inputs clipped to the range each
feature had in training (a row far outside it is predicted as a row at its edge) and their 0/1 indicators
unscaled, in the pandas path, the numpy path and ONNX alike. Trees and classifiers are unchanged."""
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from automl_engine.config import make_featurization
from automl_engine.featurize import IndicatorScaler, RangeClipper, plan_columns
from automl_engine.predict import call
from automl_engine.trial import build_pipeline, pipeline_name


def test_range_clipper_clips_each_feature_to_its_fitted_range():
    train = np.array([[1.0, -5.0, np.nan], [3.0, 5.0, np.nan], [2.0, np.nan, np.nan]])
    clipper = RangeClipper().fit(train)
    assert clipper.min_.tolist() == [1.0, -5.0, -np.inf]
    assert clipper.max_.tolist() == [3.0, 5.0, np.inf]
    out = clipper.transform(np.array([[0.0, 100.0, 7.0], [2.5, np.nan, -7.0], [9.0, -6.0, np.nan]]))
    np.testing.assert_array_equal(out, [[1.0, 5.0, 7.0], [2.5, np.nan, -7.0], [3.0, -5.0, np.nan]])
    assert clipper.get_feature_names_out(["a", "b", "c"]).tolist() == ["a", "b", "c"]


def test_range_clipper_refuses_a_different_number_of_features():
    clipper = RangeClipper().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="fitted on 2 features, got 3"):
        clipper.transform(np.zeros((1, 3)))


def test_indicator_scaler_standardises_all_but_0_1_columns():
    X = np.array([[0.0, 1.0, 5.0, 0.0], [1.0, 1.0, 7.0, 2.0], [0.0, 0.0, 9.0, 0.0], [0.0, 0.0, 7.0, 2.0]])
    scaler = IndicatorScaler().fit(X)
    assert scaler.indicator_.tolist() == [True, True, False, False]
    assert scaler.mean_.tolist() == [0.0, 0.0, 7.0, 1.0]
    assert scaler.scale_.tolist() == [1.0, 1.0, np.sqrt(2.0), 1.0]
    np.testing.assert_allclose(scaler.transform([[1.0, 0.0, 9.0, 4.0]]), [[1.0, 0.0, np.sqrt(2.0), 3.0]], rtol=1e-15)


def _meta(X, problem_type="regression", onnx=False):
    plans = plan_columns(X, make_featurization(), onnx_compatible=onnx)
    return {"problem_type": problem_type, "plan": [p.to_dict() for p in plans], "onnx_compatible": onnx}


@pytest.fixture
def linear_data():
    """y = 3 * size + 10 * (kind == "b") on sizes 0.5, 2.5, ..., 78.5: what a linear model learns exactly."""
    size = np.arange(40) * 2.0 + 0.5
    kind = np.where(np.arange(40) % 2 == 0, "a", "b")
    X = pd.DataFrame({"size": size, "kind": kind})
    return X, 3.0 * size + 10.0 * (kind == "b")


def test_only_regression_models_that_get_scaling_are_clipped(linear_data):
    X, _ = linear_data
    steps = lambda problem_type, algorithm: [name for name, _ in  # noqa: E731
                                             build_pipeline(_meta(X, problem_type), algorithm, {}).steps]
    assert steps("regression", "ElasticNet") == ["input", "featurize", "clip", "scale", "model"]
    assert steps("regression", "KNN") == ["input", "featurize", "clip", "scale", "model"]
    assert steps("regression", "LightGBM") == ["input", "featurize", "model"]
    assert steps("classification", "LogisticRegression") == ["input", "featurize", "scale", "model"]
    assert type(build_pipeline(_meta(X), "ElasticNet", {}).named_steps["scale"]) is IndicatorScaler
    assert type(build_pipeline(_meta(X, "classification"), "KNN", {}).named_steps["scale"]) is StandardScaler
    # The leaderboard names the steps the pipeline has.
    assert pipeline_name(_meta(X), "ElasticNet") == "RangeClipper, IndicatorScaler, ElasticNet"
    assert pipeline_name(_meta(X, "classification"), "KNN") == "StandardScaler, KNN"
    assert pipeline_name(_meta(X), "LightGBM", {"target_transform": "log1p"}) == "LightGBM, log1p target"


def test_a_row_beyond_the_training_range_is_predicted_at_its_edge(linear_data):
    X, y = linear_data
    model = build_pipeline(_meta(X), "LassoLars", {"alpha": 1e-6}).fit(X, y)
    rows = pd.DataFrame({"size": [78.5, 1000.0, -1000.0, 20.0], "kind": ["b", "b", "a", "a"]})
    pred = model.predict(rows)
    assert pred.round(3).tolist() == [245.5, 245.5, 1.5, 60.0]
    assert pred[1] == pred[0]
    assert model.named_steps["scale"].indicator_.tolist() == [False, True, True]  # size, kind_a, kind_b
    np.testing.assert_array_equal(call(model, rows, "predict"), pred)  # the numpy path clips the same


def test_onnx_export_clips_like_scikit_learn(linear_data, tmp_path):
    import onnxruntime as ort

    from automl_engine import export_onnx, onnx_inputs

    X, y = linear_data
    model = build_pipeline(_meta(X, onnx=True), "ElasticNet", {"alpha": 1e-3, "l1_ratio": 0.5}).fit(X, y)
    assert [name for name, _ in model.steps] == ["input", "featurize", "clip", "scale", "cast", "model"]
    rows = pd.DataFrame({"size": [78.5, 1000.0, -1000.0, 20.0, 3.0], "kind": ["b", "b", "a", "a", "zzz"]})
    path = export_onnx(model, rows, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_pred,) = session.run(None, onnx_inputs(model, rows))
    expected = model.predict(rows)
    assert expected[1] == expected[0]
    np.testing.assert_allclose(onnx_pred.ravel(), expected, atol=1e-5 * np.abs(expected).max())
