"""The numpy prediction path (automl_engine.predict) gives exactly what the pandas path gave, on real rows
with a missing value, an unseen category and a numeric column sent as strings, for single models and
both ensembles; and ensemble members share one validation and featurization of a request."""
import pickle

import numpy as np
import pandas as pd
import pytest

from automl_engine import classification
from automl_engine.ensemble import StackEnsemble, VotingEnsemble, meta_features
from automl_engine.featurize import Featurizer, InputSchema
from automl_engine.predict import Columns, FeatureCache, call, limit_threads


@pytest.fixture(scope="module")
def models(bank_df, tmp_path_factory):
    job = classification(training_data=bank_df, target_column_name="y", primary_metric="AUC_weighted",
                         n_cross_validations=3)
    job.set_limits(max_trials=3, timeout_minutes=2)
    job.set_training(allowed_training_algorithms=["LightGBM", "LogisticRegression"], enable_model_explainability=False)
    result = job.run(workdir=tmp_path_factory.mktemp("fast"))
    import joblib

    trained = {t.algorithm: joblib.load(t.model_path) for t in result.trials if t.model_path}
    return trained, list(trained["LightGBM"].classes_)


@pytest.fixture(scope="module")
def rows(bank_df):
    X = bank_df.drop(columns=["y"]).head(25).reset_index(drop=True)
    X = X.astype({"age": "float64", "duration": object, "marital": object})
    X.loc[0, "age"] = np.nan                 # a missing number
    X.loc[1, "job"] = "astronaut"            # a category never seen in training
    X.loc[2, "marital"] = None               # a missing category
    X["duration"] = X["duration"].map(str)   # a numeric column sent as strings
    X.loc[3, "duration"] = ""                # ... with an empty string, which means missing
    return X


def previous_front(pipeline, X):
    """The pandas path as it was: per-column coercion into a frame, then per-step pandas featurization."""
    schema, featurizer = pipeline.steps[0][1], pipeline.steps[1][1]
    clean = pd.DataFrame({c: schema._coerce(c, X[c], schema.kinds_.get(c, "Numeric")) for c in schema.columns_},
                         index=X.index)
    Z = np.hstack([b for step in featurizer.steps_ for b in featurizer._blocks(step, clean[step["column"]])])
    for _, step in pipeline.steps[2:-1]:
        Z = step.transform(Z)
    return Z


def previous_scores(model, X, classes):
    ensemble = model.named_steps.get("ensemble") if hasattr(model, "named_steps") else None
    if isinstance(ensemble, VotingEnsemble):
        total = sum(ensemble.weights)
        return sum(w / total * previous_scores(m, X, classes) for m, w in zip(ensemble.estimators, ensemble.weights))
    if isinstance(ensemble, StackEnsemble):
        Z = meta_features([previous_scores(m, X, classes) for m in ensemble.estimators], "classification")
        return previous_scores(ensemble.meta_learner, Z, classes)
    if isinstance(X, pd.DataFrame):
        proba = model.steps[-1][1].predict_proba(previous_front(model, X))
        order = list(model.classes_)
    else:
        proba, order = model.predict_proba(X), list(model.classes_)
    return proba[:, [order.index(c) for c in classes]]


def test_models_cover_single_pipelines_and_both_ensembles(models):
    trained, _ = models
    assert set(trained) == {"LightGBM", "LogisticRegression", "VotingEnsemble", "StackEnsemble"}
    for name in ("LightGBM", "LogisticRegression"):
        assert type(trained[name].steps[0][1]) is InputSchema and type(trained[name].steps[1][1]) is Featurizer


@pytest.mark.parametrize("name", ["LightGBM", "LogisticRegression", "VotingEnsemble", "StackEnsemble"])
def test_fast_path_equals_previous_path_on_real_rows(models, rows, name):
    trained, classes = models
    model = trained[name]
    expected = previous_scores(model, rows, list(classes))
    assert np.isfinite(expected).all() and expected.shape == (25, 2)
    proba = np.asarray(call(model, rows, "predict_proba"))[:, [list(model.classes_).index(c) for c in classes]]
    np.testing.assert_array_equal(proba, expected)
    np.testing.assert_array_equal(model.predict_proba(rows)[:, [list(model.classes_).index(c) for c in classes]],
                                  expected)
    np.testing.assert_array_equal(call(model, rows, "predict"), model.predict(rows))
    for i in range(4):  # one row at a time, as the scoring API sends it (compared with one row, since BLAS
        single = rows.iloc[[i]]  # may round a 1-row product differently from a 25-row one in the last bit)
        np.testing.assert_array_equal(
            np.asarray(call(model, single, "predict_proba"))[:, [list(model.classes_).index(c) for c in classes]],
            previous_scores(model, single, list(classes)))
        np.testing.assert_allclose(previous_scores(model, single, list(classes)), expected[[i]], rtol=1e-12)


def test_fast_input_checks_give_the_same_clean_columns_as_pandas(models, rows):
    schema = models[0]["LightGBM"].steps[0][1]
    fast = schema.clean_columns(rows)
    for c in schema.columns_:
        previous = schema._coerce(c, rows[c], schema.kinds_[c]).to_numpy()
        assert fast[c].dtype == previous.dtype, c
        assert [None if pd.isna(v) else v for v in fast[c].tolist()] == \
            [None if pd.isna(v) else v for v in previous.tolist()], c
    assert np.isnan(fast["age"][0]) and np.isnan(fast["duration"][3]) and fast["duration"][4] == float(rows["duration"][4])
    assert fast["job"][1] == "astronaut" and fast["marital"][2] is np.nan


def test_bad_values_raise_the_same_errors(models, rows):
    model = models[0]["LightGBM"]
    bad = rows.head(1).copy()
    bad["duration"] = "ten"
    with pytest.raises(ValueError, match=r"column 'duration' expects numbers; got 'ten' \(1 value\(s\) cannot"):
        call(model, bad, "predict_proba")
    with pytest.raises(ValueError, match=r"input is missing required columns \['age'\]"):
        call(model, rows.drop(columns=["age"]), "predict_proba")


def test_ensemble_members_share_one_featurization(models, rows):
    ensemble = models[0]["StackEnsemble"].named_steps["ensemble"]
    assert len(ensemble.estimators) >= 2
    cache = FeatureCache(rows)
    fronts = [(m.steps[0][1], m.steps[1][1]) for m in ensemble.estimators]
    matrices = [cache.features(s, f) for s, f in fronts]
    assert len(cache._clean) == 1
    assert len(cache._features) == len({id(Z) for Z in matrices}) == 1


def _thread_counts(model) -> list:
    """``n_jobs`` of every estimator inside ``model`` that has one, pipelines and ensembles walked."""
    if hasattr(model, "steps"):
        return [n for _, step in model.steps for n in _thread_counts(step)]
    if isinstance(model, (VotingEnsemble, StackEnsemble)):
        inner = [n for member in model.estimators for n in _thread_counts(member)]
        return inner + (_thread_counts(model.meta_learner) if isinstance(model, StackEnsemble) else [])
    from automl_engine.target import inner_estimator

    model = inner_estimator(model)  # the estimator inside a target transform or a probability calibration
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    return [params["n_jobs"]] if "n_jobs" in params else []


@pytest.mark.parametrize("name", ["LightGBM", "VotingEnsemble", "StackEnsemble"])
def test_limit_threads_reaches_every_estimator_and_keeps_predictions(models, rows, name):
    import copy

    model = copy.deepcopy(models[0][name])
    assert limit_threads(model, 2) is model
    counts = _thread_counts(model)
    assert counts and set(counts) == {2}
    expected = np.asarray(call(model, rows, "predict_proba"))
    limit_threads(model, 1)
    assert set(_thread_counts(model)) == {1}
    np.testing.assert_array_equal(np.asarray(call(model, rows, "predict_proba")), expected)


def _columns(frame: pd.DataFrame) -> Columns:
    """The rows as the scoring API holds them: float64 arrays for float columns, object arrays otherwise."""
    return Columns({c: frame[c].to_numpy(dtype="float64" if frame[c].dtype.kind == "f" else object)
                    for c in frame.columns}, len(frame))


@pytest.mark.parametrize("name", ["LightGBM", "LogisticRegression", "VotingEnsemble", "StackEnsemble"])
def test_columns_input_equals_the_frame_it_stands_for(models, rows, name):
    model = models[0][name]
    columns = _columns(rows)
    assert columns["duration"].dtype == object and columns["age"].dtype == np.float64
    proba = np.asarray(call(model, columns, "predict_proba"))
    np.testing.assert_array_equal(proba, model.predict_proba(rows))
    np.testing.assert_array_equal(proba, np.asarray(call(model, columns.frame(), "predict_proba")))
    np.testing.assert_array_equal(call(model, columns, "predict"), model.predict(rows))


def test_categories_of_several_types_keep_their_own_text():
    # 1, True and 1.0 are equal (and hash alike), so finding distinct values by hashing would merge them.
    schema = InputSchema(columns=["c"], kinds={"c": "Categorical"}).fit(pd.DataFrame({"c": ["a"]}))
    values = np.empty(7, dtype=object)
    values[:] = ["a", 1, True, 1.0, None, "1", "a"]
    cleaned = schema.clean_columns(Columns({"c": values}, 7))["c"]
    assert cleaned[:4].tolist() == ["a", "1", "True", "1.0"] and cleaned[4] is np.nan
    assert cleaned[5:].tolist() == ["1", "a"]
    strings = np.empty(6, dtype=object)
    strings[:] = ["b", None, "a", np.nan, pd.NA, "b"]
    cleaned = schema.clean_columns(Columns({"c": strings}, 6))["c"]
    assert [v if isinstance(v, str) else "missing" if v is np.nan else v for v in cleaned] == \
        ["b", "missing", "a", "missing", "missing", "b"]


def test_featurizers_are_shared_only_with_the_same_fitted_state(models, rows):
    lightgbm = models[0]["LightGBM"]
    schema, featurizer = lightgbm.steps[0][1], lightgbm.steps[1][1]
    twin = pickle.loads(pickle.dumps(featurizer))
    cache = FeatureCache(rows)
    assert cache.features(schema, twin) is cache.features(schema, featurizer)
    # Categories 1 and 1.0 compare equal but are encoded by their text, "1" against "1.0".
    plan = [{"column": "k", "dropped": False, "encoding": "one_hot", "missing_indicator": False,
             "imputer": "most_frequent"}]
    ints = Featurizer(plan).fit(pd.DataFrame({"k": pd.Series(["x", 1, "x"], dtype=object)}))
    floats = Featurizer(plan).fit(pd.DataFrame({"k": pd.Series(["x", 1.0, "x"], dtype=object)}))
    assert ints.steps_ == floats.steps_ and ints.fitted_state() != floats.fitted_state()
    k_schema = InputSchema(columns=["k"], kinds={"k": "Categorical"}).fit(pd.DataFrame({"k": ["x"]}))
    cache = FeatureCache(pd.DataFrame({"k": ["1", "1.0"]}))
    np.testing.assert_array_equal(cache.features(k_schema, ints), [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(cache.features(k_schema, floats), [[0.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("categorical_missing", [None, "__missing__"])
def test_distinct_values_found_in_the_input_checks_encode_as_found_afresh(categorical_missing):
    train = pd.DataFrame({"a": ["x", "y", None, "x", "__missing__"], "b": ["p", "q", "q", None, "p"]})
    plan = [{"column": "a", "dropped": False, "encoding": "one_hot", "missing_indicator": True,
             "imputer": "most_frequent"},
            {"column": "b", "dropped": False, "encoding": "count", "missing_indicator": True,
             "imputer": "most_frequent"}]
    schema = InputSchema(columns=["a", "b"], kinds={"a": "Categorical", "b": "Categorical"},
                         categorical_missing=categorical_missing).fit(train)
    featurizer = Featurizer(plan).fit(schema.transform(train))
    rows = pd.DataFrame({"a": ["y", None, "unseen", "__missing__", "x"], "b": [None, "q", "p", "r", None]})
    shared = FeatureCache(_columns(rows)).features(schema, featurizer)
    np.testing.assert_array_equal(shared, featurizer.transform(schema.transform(rows)))
    np.testing.assert_array_equal(shared, featurizer.transform_columns(schema.clean_columns(rows), len(rows)))
    indicator_a = shared[:, len(featurizer.steps_[0]["categories"])]
    assert indicator_a.tolist() == ([0.0, 1.0, 0.0, 0.0, 0.0] if categorical_missing is None else [0.0] * 5)
