"""One featurization: the Featurizer's numpy fast path (used to predict) and its ONNX export compute exactly
what ``Featurizer.transform`` computes, on every column kind, on a real dataset (Titanic, with a date column
from the NYC energy sample)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline

from automl_engine import classification, export_onnx, onnx_inputs
from automl_engine.artifacts import _register_converters, onnx_mode_changes
from automl_engine.config import Featurization
from automl_engine.featurize import Featurizer, InputSchema, plan_columns
from automl_engine.predict import FeatureCache

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"



@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    frame = pd.read_csv(EXAMPLES / "titanic.csv")
    dates = pd.read_csv(EXAMPLES / "nyc_energy_training_clean.csv", nrows=len(frame))
    return frame.drop(columns=["PassengerId"]).assign(Booked=dates["timeStamp"].to_numpy())


def _fitted(X: pd.DataFrame, featurization: Featurization, onnx: bool) -> tuple[InputSchema, Featurizer, list]:
    plan = [p.to_dict() for p in plan_columns(X, featurization, onnx_compatible=onnx)]
    kept = [p for p in plan if not p["dropped"]]
    schema = InputSchema([p["column"] for p in kept], {p["column"]: p["detected_type"] for p in kept}).fit(X)
    return schema, Featurizer(plan).fit(schema.transform(X.iloc[:600])), plan


def _new_rows(X: pd.DataFrame) -> pd.DataFrame:
    rows = X.iloc[600:].copy()
    rows.iloc[0, rows.columns.get_loc("Embarked")] = "Atlantis"  # unseen: all-zero one-hot
    rows.iloc[1, rows.columns.get_loc("Ticket")] = "no such ticket"  # unseen: count 0
    rows.iloc[2, rows.columns.get_loc("Age")] = np.nan
    return rows


@pytest.mark.parametrize("blocked, encodings", [
    ([], ["count", "datetime_parts", "one_hot", "passthrough", "tfidf"]),
    (["count_encoder"], ["datetime_parts", "hashing", "one_hot", "passthrough", "tfidf"]),
])
def test_fast_path_equals_transform_on_every_column_kind(titanic, blocked, encodings):
    X = titanic.drop(columns=["Survived"])
    schema, featurizer, _ = _fitted(X, Featurization(blocked_transformers=blocked), onnx=False)
    assert sorted({s["encoding"] for s in featurizer.steps_}) == encodings
    rows = _new_rows(X)
    expected = featurizer.transform(schema.transform(rows))
    fast = FeatureCache(rows).features(schema, featurizer)
    assert fast.shape == expected.shape == (291, len(featurizer.feature_names_out_))
    np.testing.assert_array_equal(fast, expected)


def test_onnx_export_of_the_featurizer_equals_transform(titanic):
    X = titanic.drop(columns=["Survived"])
    schema, featurizer, plan = _fitted(X, Featurization(), onnx=True)
    assert {p["column"]: p["drop_reason"] for p in plan if p["dropped"]} == {
        "Name": "not ONNX-convertible: TF-IDF of free text is not exported",
        "Booked": "not ONNX-convertible: ONNX cannot parse dates, so datetime parts are not computed"}
    assert [(s["column"], s["encoding"], s["indicator"]) for s in featurizer.steps_] == [
        ("Pclass", "passthrough", False), ("Sex", "one_hot", False), ("Age", "passthrough", True),
        ("SibSp", "passthrough", False), ("Parch", "passthrough", False), ("Ticket", "count", False),
        ("Fare", "passthrough", False), ("Cabin", "count", True), ("Embarked", "one_hot", True)]
    _register_converters()
    types = [(c, FloatTensorType([None, 1]) if schema.kinds_[c] == "Numeric" else StringTensorType([None, 1]))
             for c in schema.columns_]
    graph = convert_sklearn(Pipeline([("featurize", featurizer)]), initial_types=types,
                            target_opset={"": 17, "ai.onnx.ml": 3})
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = _new_rows(X)
    pipeline = Pipeline([("input", schema), ("featurize", featurizer)])
    (onnx_features,) = session.run(None, onnx_inputs(pipeline, rows))
    expected = featurizer.transform(schema.transform(rows)).astype(np.float32)
    assert onnx_features.shape == (291, 15)
    np.testing.assert_array_equal(onnx_features, expected)


def test_onnx_compatible_run_exports_count_encoding_and_indicators(titanic, tmp_path):
    job = classification(training_data=titanic, target_column_name="Survived", n_cross_validations=3)
    job.set_limits(max_trials=1, timeout_minutes=2)
    job.set_training(allowed_training_algorithms=["LogisticRegression"], enable_onnx_compatible_models=True,
                     enable_vote_ensemble=False, enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run()
    summary = {entry["column"]: entry for entry in result.featurization_summary}
    assert summary["Booked"]["dropped"] and summary["Booked"]["drop_reason"].startswith("not ONNX-convertible")
    assert summary["Cabin"]["transformations"] == ["impute (most_frequent)", "missing-value indicator",
                                                   "count encoding"]
    model = result.best_model
    rows = _new_rows(titanic.drop(columns=["Survived"]))
    session = ort.InferenceSession(str(export_onnx(model, rows, tmp_path / "model.onnx")),
                                   providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, onnx_inputs(model, rows))
    np.testing.assert_allclose(probabilities, model.predict_proba(rows), atol=1e-5)
    assert list(label) == list(model.predict(rows))


def test_onnx_mode_changes_say_what_is_left_out():
    assert onnx_mode_changes("classification")[0] == \
        "Algorithms without an ONNX converter are not tried: XGBoostClassifier."
    assert onnx_mode_changes("regression")[0].startswith("Date columns are dropped")
    assert onnx_mode_changes("forecasting") == [
        "No forecasting algorithm converts to ONNX, so a run with this setting is refused: leave it off."]
