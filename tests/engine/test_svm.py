"""The kernel SVM: probabilities from its decision values (no Platt fits inside libsvm), the same
probabilities from its ONNX export, and the kernel-work rule that decides when a run tries it."""
import dataclasses

import joblib
import numpy as np
import pytest

from automl_engine import Callbacks, classification, export_onnx, onnx_inputs
from automl_engine import algorithms
from automl_engine.driver import Driver
from automl_engine.executor import InlineExecutor
from automl_engine.svm import SoftmaxSVC

NUMERIC = ["age", "duration", "campaign", "pdays", "previous", "emp.var.rate", "cons.price.idx",
           "cons.conf.idx", "euribor3m", "nr.employed"]


def _scaled(bank_df):
    X = bank_df[NUMERIC].to_numpy(float)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def test_two_classes_get_a_sigmoid_of_twice_the_signed_distance(bank_df):
    X, y = _scaled(bank_df), bank_df["y"].to_numpy()
    model = SoftmaxSVC(C=1.0, random_state=0).fit(X, y)
    d = model.decision_function(X)
    proba = model.predict_proba(X)
    assert list(model.classes_) == ["no", "yes"]
    np.testing.assert_allclose(proba[:, 1], 1.0 / (1.0 + np.exp(-2.0 * d)), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert list(model.predict(X)) == list(np.where(d > 0, "yes", "no"))
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-12)


def test_more_classes_get_the_softmax_of_the_one_vs_rest_decision_values(bank_df):
    X, y = _scaled(bank_df), bank_df["marital"].to_numpy()
    model = SoftmaxSVC(C=10.0, random_state=0).fit(X, y)
    d = model.decision_function(X)
    assert d.shape == (300, 3) and list(model.classes_) == ["divorced", "married", "single"]
    expected = np.exp(d) / np.exp(d).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-12)
    assert list(model.predict(X)) == list(model.classes_[np.argmax(d, axis=1)])


@pytest.mark.parametrize("target", ["y", "marital"])
def test_the_onnx_export_gives_the_same_probabilities(bank_df, tmp_path, target):
    import onnxruntime as ort

    job = classification(training_data=bank_df, target_column_name=target, primary_metric="accuracy",
                         n_cross_validations=3)
    job.set_limits(max_trials=1, timeout_minutes=2, max_concurrent_trials=1)
    job.set_training(enable_onnx_compatible_models=True, enable_model_explainability=False,
                     allowed_training_algorithms=["SVM"], enable_vote_ensemble=False, enable_stack_ensemble=False)
    result = job.run(workdir=tmp_path / "run")
    trial = next(t for t in result.trials if t.status == "completed")
    assert trial.algorithm == "SVM"
    model = joblib.load(trial.model_path)
    assert isinstance(model.steps[-1][1], SoftmaxSVC)
    X = bank_df.drop(columns=[target])
    session = ort.InferenceSession(str(export_onnx(model, X, tmp_path / "svm.onnx")),
                                   providers=["CPUExecutionProvider"])
    label, proba = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)
    assert list(label) == list(model.predict(X))


def _candidates(bank_df, tmp_path, monkeypatch, limit, allowed=None):
    svm = algorithms.get_algorithm("classification", "SVM")
    monkeypatch.setitem(algorithms._REGISTRY["classification"], "SVM", dataclasses.replace(svm, max_kernel_work=limit))
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted")
    if allowed:
        job.set_training(allowed_training_algorithms=allowed)
    logs = []
    driver = Driver(job, Callbacks(on_log=lambda level, message: logs.append(message)), InlineExecutor(), tmp_path)
    driver.prepare()
    logs.clear()
    return [a.name for a in driver.candidate_algorithms()], logs


def test_the_svm_is_tried_while_rows_squared_times_columns_stay_within_its_kernel_work(bank_df, tmp_path,
                                                                                       monkeypatch):
    # 300 rows x 20 columns: 1.8 million kernel entries.
    names, logs = _candidates(bank_df, tmp_path, monkeypatch, 1.8e6)
    assert "SVM" in names and not any("SVM" in m for m in logs)
    names, logs = _candidates(bank_df, tmp_path, monkeypatch, 1.8e6 - 1)
    assert "SVM" not in names
    assert logs == ["skipping SVM: 300 rows² × 20 columns = 1.8e+06 kernel entries > 1.8e+06 "
                    "(allow it explicitly to use it)"]
    names, logs = _candidates(bank_df, tmp_path, monkeypatch, 1.8e6 - 1, allowed=["SVM", "LightGBM"])
    assert names == ["SVM", "LightGBM"] and logs == []


def test_letter_is_within_the_svms_kernel_work_and_adult_is_not():
    work = algorithms.get_algorithm("classification", "SVM").max_kernel_work
    assert 16_000 ** 2 * 16 <= work < 39_073 ** 2 * 14
