"""Artifacts: model.pkl + manifest with sha256, integrity check on load, ONNX parity, on-demand explain."""
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from automl_engine import (ModelIntegrityError, classification, explain, export_onnx, load_model, onnx_inputs,
                           save_model)


@pytest.fixture(scope="module")
def onnx_run(bank_df, tmp_path_factory):
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3)
    job.set_limits(max_trials=3, timeout_minutes=2, max_concurrent_trials=2)
    job.set_training(enable_onnx_compatible_models=True, enable_model_explainability=False,
                     allowed_training_algorithms=["LightGBM", "LogisticRegression", "XGBoostClassifier"])
    return job.run(workdir=tmp_path_factory.mktemp("onnx"))


def _first_completed(result, ensemble=False):
    return next(t for t in result.trials if t.status == "completed" and t.is_ensemble == ensemble)


def test_save_writes_manifest_and_load_verifies_sha256(onnx_run, bank_df, tmp_path):
    model = joblib.load(_first_completed(onnx_run).model_path)
    manifest = save_model(model, tmp_path, {"metrics": {"AUC_weighted": 0.9}})
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert on_disk["class_labels"] == ["no", "yes"]
    assert {"name": "age", "type": "Numeric"} in on_disk["input_schema"]
    assert {"name": "job", "type": "Categorical"} in on_disk["input_schema"]
    assert {"scikit-learn", "lightgbm", "numpy", "pandas"} <= set(on_disk["library_versions"])
    assert len(on_disk["sha256"]) == 64
    loaded = load_model(tmp_path)
    X = bank_df.drop(columns=["y"]).head(20)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    with open(tmp_path / "model.pkl", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match="refusing to load it"):
        load_model(tmp_path)
    with pytest.raises(ModelIntegrityError):
        load_model(tmp_path / "model.pkl", expected_sha256="0" * 64)


def test_onnx_mode_restricts_algorithms(onnx_run):
    assert {t.algorithm for t in onnx_run.trials if not t.is_ensemble} <= {"LightGBM", "LogisticRegression"}


@pytest.mark.parametrize("algorithm", ["LightGBM", "LogisticRegression"])
def test_onnx_export_matches_within_1e5(onnx_run, bank_df, tmp_path, algorithm):
    import onnxruntime as ort

    trial = next(t for t in onnx_run.trials if t.algorithm == algorithm and t.status == "completed")
    model = joblib.load(trial.model_path)
    X = bank_df.drop(columns=["y"]).sample(200, random_state=1)
    X.loc[X.index[0], "job"] = "astronaut"  # unseen category: all-zero one-hot in both runtimes
    path = export_onnx(model, X, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)
    assert list(label) == list(model.predict(X))


def test_export_refuses_a_non_onnx_pipeline(bank_df, tmp_path):
    job = classification(training_data=bank_df, target_column_name="y", n_cross_validations=3)
    job.set_limits(max_trials=1, timeout_minutes=1)
    job.set_training(allowed_training_algorithms=["LogisticRegression"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    model = job.run().best_model
    with pytest.raises(ValueError, match="enable_onnx_compatible_models=True"):
        export_onnx(model, bank_df, tmp_path / "m.onnx")


def test_explain_any_trial_on_demand_including_ensembles(onnx_run, bank_df):
    X, y = bank_df.drop(columns=["y"]), bank_df["y"]
    for ensemble in (False, True):
        model = joblib.load(_first_completed(onnx_run, ensemble).model_path)
        result = explain(model, X, y, max_rows=100)
        assert set(result["raw"]) <= set(X.columns)
        assert abs(sum(result["raw"].values()) - 1.0) < 1e-9 or sum(result["raw"].values()) == 0
        assert result["engineered"]


def test_a_shap_failure_is_logged_not_hidden(bank_df, caplog, monkeypatch):
    import shap

    job = classification(training_data=bank_df.head(400), target_column_name="y", n_cross_validations=3)
    job.set_limits(max_trials=1, timeout_minutes=1)
    job.set_training(allowed_training_algorithms=["LightGBM"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    model = job.run().best_model

    def broken(*args, **kwargs):
        raise RuntimeError("no tree structure")

    # Stands in for a model SHAP cannot read (a real case: an unsupported booster version).
    monkeypatch.setattr(shap, "TreeExplainer", broken)
    with caplog.at_level("WARNING", logger="automl_engine.explain"):
        result = explain(model, bank_df.drop(columns=["y"]), bank_df["y"], max_rows=100)
    assert result["method"] == "permutation"
    assert "SHAP failed on LGBMClassifier (RuntimeError: no tree structure); using permutation importance" \
        in caplog.text
