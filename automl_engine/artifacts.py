"""Model artifacts: one joblib ``model.pkl`` holding the whole pipeline plus ``manifest.json``, hash-checked
loading, and ONNX export of ONNX-compatible pipelines."""
from __future__ import annotations

import hashlib
import json
import platform
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
LIBRARIES = ("automl-engine", "scikit-learn", "numpy", "pandas", "lightgbm", "xgboost", "joblib", "onnx",
             "skl2onnx", "onnxmltools", "onnxruntime", "statsforecast", "prophet", "holidays")


class ModelIntegrityError(ValueError):
    """The model file does not match the hash it was saved with: it was changed or corrupted."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def input_schema(pipeline) -> list[dict[str, str]]:
    """The raw input columns a pipeline needs and their kinds (from its ``input`` step, or the model's own
    ``input_schema()``: a forecaster's time, series id and known covariate columns)."""
    if callable(getattr(pipeline, "input_schema", None)):
        return pipeline.input_schema()
    step = _input_step(pipeline)
    if step is None:
        return []
    return [{"name": c, "type": step.kinds_.get(c, "Numeric")} for c in step.columns_]


def _input_step(pipeline):
    from .ensemble import StackEnsemble, VotingEnsemble

    steps = getattr(pipeline, "named_steps", {})
    if "input" in steps:
        return steps["input"]
    model = steps.get("ensemble", pipeline)
    if isinstance(model, (VotingEnsemble, StackEnsemble)):
        return _input_step(model.estimators[0])
    return None


def save_model(pipeline, path: str | Path, manifest_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``path/model.pkl`` and ``path/manifest.json`` (input schema, class labels, library versions,
    the extra fields such as metrics, and the model file's sha256). Returns the manifest."""
    import joblib

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / MODEL_FILE
    joblib.dump(pipeline, model_path)
    try:
        classes = pipeline.classes_
    except AttributeError:
        classes = None
    manifest = {
        "format": "automl_engine.model/1",
        "model_file": MODEL_FILE,
        "sha256": sha256_file(model_path),
        "input_schema": input_schema(pipeline),
        "class_labels": [c.item() if isinstance(c, np.generic) else c for c in classes] if classes is not None else None,
        "library_versions": library_versions(),
        # a forecaster records its settings, frequency, season and the series it knows with their last times
        **({"forecasting": pipeline.manifest()} if callable(getattr(pipeline, "manifest", None)) else {}),
        **(manifest_extra or {}),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
    return manifest


def load_model(path: str | Path, expected_sha256: str | None = None):
    """Load a saved pipeline after checking its sha256 against ``expected_sha256`` or, if not given, the
    manifest next to it. Raises :class:`ModelIntegrityError` on mismatch, before unpickling anything."""
    import joblib

    path = Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if expected_sha256 is None:
        manifest_path = model_path.parent / MANIFEST_FILE
        if manifest_path.exists():
            expected_sha256 = json.loads(manifest_path.read_text()).get("sha256")
    if expected_sha256 is None:
        raise ModelIntegrityError(f"no sha256 to verify {model_path} against: pass expected_sha256 or keep "
                                  f"{MANIFEST_FILE} beside it")
    actual = sha256_file(model_path)
    if actual != expected_sha256:
        raise ModelIntegrityError(f"{model_path} has sha256 {actual}, expected {expected_sha256}: the file was "
                                  "modified or corrupted; refusing to load it")
    return joblib.load(model_path)


def _register_converters() -> None:
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.operator_converters.scaler_op import convert_sklearn_scaler
    from skl2onnx.shape_calculators.scaler import calculate_sklearn_scaler_output_shapes
    from skl2onnx.common.shape_calculator import (calculate_linear_classifier_output_shapes,
                                                  calculate_linear_regressor_output_shapes)
    from lightgbm import LGBMClassifier, LGBMRegressor
    from xgboost import XGBRegressor

    from .featurize import Featurizer, IndicatorScaler, RangeClipper
    from .svm import SoftmaxSVC

    update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                convert_lightgbm, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
    update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                convert_lightgbm)
    update_registered_converter(XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes,
                                convert_xgboost)
    update_registered_converter(Featurizer, "AutomlEngineFeaturizer", _featurizer_shape, _convert_featurizer,
                                parser=_parse_featurizer)
    update_registered_converter(RangeClipper, "AutomlEngineRangeClipper", _range_clipper_shape, _convert_range_clipper)
    update_registered_converter(SoftmaxSVC, "AutomlEngineSoftmaxSVC", calculate_linear_classifier_output_shapes,
                                _convert_softmax_svc, options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
    # A StandardScaler with other fitted offsets and scales: skl2onnx's own scaler converter reads those.
    update_registered_converter(IndicatorScaler, "AutomlEngineIndicatorScaler", calculate_sklearn_scaler_output_shapes,
                                convert_sklearn_scaler, options={"div": ["std", "div", "div_cast"]})


def _range_clipper_shape(operator) -> None:
    """A :class:`RangeClipper` keeps its input's type and shape."""
    x = operator.inputs[0].type
    operator.outputs[0].type = x.__class__([x.shape[0] if x.shape else None, operator.raw_operator.n_features_in_])


def _convert_range_clipper(scope, operator, container) -> None:
    """``np.clip(X, min_, max_)`` as ``Min(Max(X, min_), max_)`` (ONNX ``Clip`` takes scalar bounds only)."""
    from skl2onnx.algebra.onnx_ops import OnnxMax, OnnxMin
    from skl2onnx.common.data_types import guess_numpy_type

    clipper = operator.raw_operator
    dtype = guess_numpy_type(operator.inputs[0].type)
    opv = container.target_opset
    low = OnnxMax(operator.inputs[0], clipper.min_.astype(dtype)[None, :], op_version=opv)
    clipped = OnnxMin(low, clipper.max_.astype(dtype)[None, :], op_version=opv, output_names=operator.outputs[:1])
    clipped.add_to(scope, container)


def _convert_softmax_svc(scope, operator, container) -> None:
    """skl2onnx's SVC graph, whose second output is the one-vs-rest decision values (negated for two classes,
    below), then a softmax over them: :class:`~automl_engine.svm.SoftmaxSVC`'s probabilities."""
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxIdentity, OnnxNeg, OnnxSoftmax
    from sklearn.svm import SVC

    model = operator.raw_operator
    plain = SVC.__new__(SVC)  # the same fitted machine as the class skl2onnx's own converter knows
    plain.__dict__.update(model.__dict__)
    opv = container.target_opset
    svm = OnnxSubEstimator(plain, operator.inputs[0], op_version=opv, options={"zipmap": False})
    # For two classes the graph's scores are [d, -d] (scikit-learn negates libsvm's decision value, the
    # graph does not): negated, they are SoftmaxSVC's [-d, d].
    scores = OnnxNeg(svm[1], op_version=opv) if len(model.classes_) == 2 else svm[1]
    OnnxIdentity(svm[0], op_version=opv, output_names=operator.outputs[:1]).add_to(scope, container)
    OnnxSoftmax(scores, axis=1, op_version=opv, output_names=operator.outputs[1:2]).add_to(scope, container)


def onnx_mode_changes(problem_type: str) -> list[str]:
    """What ``enable_onnx_compatible_models`` changes for ``problem_type``, in words for people: the only
    differences from a normal run (the featurizer is the same one, exported node for node)."""
    from .algorithms import algorithm_names, get_algorithm
    from .featurize import DATETIME, ONNX_DROPS, TEXT

    names = algorithm_names(problem_type)
    left_out = sorted(name for name in names if not get_algorithm(problem_type, name).onnx_convertible)
    if names and len(left_out) == len(names):
        return [f"No {problem_type} algorithm converts to ONNX, so a run with this setting is refused: leave it off."]
    changes = [f"Date columns are dropped ({ONNX_DROPS[DATETIME].split(': ', 1)[1]}).",
               f"Free-text columns are dropped ({ONNX_DROPS[TEXT].split(': ', 1)[1]}).",
               "Categories are never hashing-encoded (one-hot and count encoding are exported).",
               "Features reach the model as 32-bit floats, as ONNX runtimes compute them."]
    if left_out:
        changes.insert(0, "Algorithms without an ONNX converter are not tried: " + ", ".join(left_out) + ".")
    return changes


def _parse_featurizer(scope, model, inputs, custom_parsers=None):
    """The :class:`Featurizer` takes every raw column as its own graph input and gives one float matrix."""
    from skl2onnx.common.data_types import FloatTensorType

    operator = scope.declare_local_operator("AutomlEngineFeaturizer", model)
    operator.inputs = list(inputs)
    operator.outputs.append(scope.declare_local_variable("features", FloatTensorType()))
    return list(operator.outputs)


def _featurizer_shape(operator) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n_rows = operator.inputs[0].type.shape[0] if operator.inputs else None
    operator.outputs[0].type = FloatTensorType([n_rows, len(operator.raw_operator.feature_names_out_)])


# The version of each operator's definition that the Featurizer's graph uses (all within opset 17, ml 3).
_OP_VERSIONS = {"Imputer": 1, "LabelEncoder": 2, "IsNaN": 13, "Cast": 13, "Gather": 13, "Reshape": 14, "Concat": 13}


def _convert_featurizer(scope, operator, container) -> None:
    """The fitted :class:`Featurizer`'s steps as ONNX nodes, block by block in its column order.

    Numeric: ``Imputer`` with the learned fill (and ``IsNaN`` for the missing indicator). One-hot and count:
    a ``LabelEncoder`` from each category's text to a row of a table of encodings, then ``Gather``; the
    feed's missing marker (:data:`~automl_engine.featurize.MISSING_CATEGORY`) takes the learned fill's row and
    an unseen category the last, all-zero row, as :meth:`Featurizer.transform` does. Datetime parts, TF-IDF
    and hashing are left out of ONNX-compatible plans, so a featurizer using them is refused here."""
    from .featurize import MISSING_CATEGORY

    featurizer = operator.raw_operator
    inputs = {variable.raw_name: variable.full_name for variable in operator.inputs}
    blocks = []

    def name(hint: str) -> str:
        return scope.get_unique_variable_name(hint)

    def node(op_type: str, node_inputs: list[str], hint: str, domain: str = "", **attrs) -> str:
        out = name(hint)
        container.add_node(op_type, node_inputs, [out], op_domain=domain, name=scope.get_unique_operator_name(op_type),
                           op_version=_OP_VERSIONS[op_type], **attrs)
        return out

    def constant(value: np.ndarray, hint: str) -> str:
        out = name(hint)
        container.add_initializer(out, _onnx_type(value), list(value.shape), value.flatten().tolist())
        return out

    for step in featurizer.steps_:
        column, encoding = step["column"], step["encoding"]
        source = inputs[column]
        if encoding == "passthrough":
            blocks.append(node("Imputer", [source], "imputed", "ai.onnx.ml", imputed_value_floats=[float(step["fill"])],
                               replaced_value_float=float("nan")))
            if step["indicator"]:
                blocks.append(node("Cast", [node("IsNaN", [source], "isnan")], "indicator", to=1))
            continue
        if encoding == "one_hot":
            positions = featurizer._lookup(step, featurizer._category_positions)
            width = len(step["categories"])
            keys = list(positions)
            rows = np.zeros((len(keys) + 2, width), dtype=np.float32)
            for k, key in enumerate(keys):
                rows[k, list(positions[key])] = 1.0
            fill = keys.index(str(step["fill"])) if str(step["fill"]) in positions else len(keys) + 1
        elif encoding == "count":
            counts = featurizer._lookup(step, featurizer._string_counts)
            width = 1
            keys = list(counts)
            rows = np.zeros((len(keys) + 2, 1), dtype=np.float32)
            rows[:len(keys), 0] = [counts[k] for k in keys]
            fill = keys.index(str(step["fill"])) if str(step["fill"]) in counts else len(keys) + 1
        else:
            raise ValueError(f"column {column!r} uses {encoding} featurization, which has no ONNX form; train with "
                             "enable_onnx_compatible_models=True so that the plan leaves it out")
        # Row len(keys) is the missing marker's (a copy of the fill's row), the last one the zeros of unseen values.
        rows[len(keys)] = rows[fill] if fill < len(keys) else 0.0
        codes = node("LabelEncoder", [source], "codes", "ai.onnx.ml", keys_strings=[*keys, MISSING_CATEGORY],
                     values_int64s=list(range(len(keys) + 1)), default_int64=len(keys) + 1)
        gathered = node("Gather", [constant(rows, "encodings"), codes], "gathered", axis=0)
        blocks.append(node("Reshape", [gathered, constant(np.asarray([-1, width], dtype=np.int64), "shape")],
                           "encoded"))
        if step["indicator"]:
            blocks.append(node("LabelEncoder", [source], "indicator", "ai.onnx.ml", keys_strings=[MISSING_CATEGORY],
                               values_floats=[1.0], default_float=0.0))
    if not blocks:
        raise ValueError("the featurizer keeps no column, so there is nothing to export")
    container.add_node("Concat", blocks, [operator.outputs[0].full_name], axis=1,
                       name=scope.get_unique_operator_name("Concat"), op_domain="", op_version=_OP_VERSIONS["Concat"])


def _onnx_type(value: np.ndarray) -> int:
    from onnx import TensorProto

    return TensorProto.INT64 if value.dtype == np.int64 else TensorProto.FLOAT


def export_onnx(pipeline, sample_X: pd.DataFrame, path: str | Path) -> Path:
    """Convert an ONNX-compatible pipeline (trained with ``enable_onnx_compatible_models``) to ONNX.

    The graph takes one input per raw column (float for numeric, string for categorical, each shaped
    [N, 1]); :func:`onnx_inputs` builds that feed from a DataFrame. Outputs ``label`` and, for classifiers,
    ``probabilities`` (a [N, k] tensor in class-label order)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.pipeline import Pipeline

    schema = pipeline.named_steps.get("input") if hasattr(pipeline, "named_steps") else None
    if schema is None or not (getattr(pipeline, "automl_onnx_compatible", False) or schema.categorical_missing):
        raise ValueError("this pipeline was not trained with enable_onnx_compatible_models=True; "
                         "only those pipelines can be exported to ONNX")
    _register_converters()
    from .target import StandardTargetRegressor

    steps = list(pipeline.steps[1:])
    name, model = steps[-1]
    if isinstance(model, StandardTargetRegressor):
        # Its regressor_ already predicts on the original scale: it is the model, a plain linear one.
        steps[-1] = (name, model.regressor_)
    inner = Pipeline(steps)
    # Original names: the Featurizer's converter (or, in models trained before it, skl2onnx's
    # ColumnTransformer) matches them to columns; skl2onnx sanitises them itself.
    initial_types = [(c, StringTensorType([None, 1]) if schema.kinds_.get(c) != "Numeric"
                      else FloatTensorType([None, 1])) for c in schema.columns_]
    options = None
    if hasattr(pipeline, "predict_proba"):
        options = {id(inner.steps[-1][1]): {"zipmap": False}}
    with warnings.catch_warnings():
        # skl2onnx's SVC converter reads probA_ and probB_, deprecated with SVC(probability=True); the SVM
        # plugin never sets it (automl_engine.svm), so they are empty.
        warnings.filterwarnings("ignore", message="Attribute `prob[AB]_` was deprecated", category=FutureWarning)
        onx = convert_sklearn(inner, initial_types=initial_types, options=options,
                              target_opset={"": 17, "ai.onnx.ml": 3})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    return path


def onnx_input_name(column: str) -> str:
    """ONNX input names are identifiers: other characters become underscores (``emp.var.rate``)."""
    return re.sub(r"\W", "_", str(column))


def onnx_inputs(pipeline, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The onnxruntime feed for raw rows, after the pipeline's own input checks and coercions."""
    from .featurize import MISSING_CATEGORY

    schema = pipeline.named_steps["input"]
    clean = schema.transform(X)
    feed = {}
    for c in schema.columns_:
        if schema.kinds_.get(c) == "Numeric":
            feed[onnx_input_name(c)] = clean[c].to_numpy(np.float32).reshape(-1, 1)
        else:
            # A missing category is fed as the marker that the exported Featurizer maps to its learned fill.
            values = clean[c].where(clean[c].notna(), MISSING_CATEGORY).astype(str)
            feed[onnx_input_name(c)] = values.to_numpy(dtype=object).reshape(-1, 1)
    return feed
