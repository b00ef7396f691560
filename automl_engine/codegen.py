"""Generated training code (Azure's "view generated code"): a Python script that retrains one trial's
pipeline on a CSV and prints its validation score.

The script spells out everything that decides the score: the test split, the validation folds, the
estimator with every hyperparameter (scikit-learn, LightGBM or XGBoost constructors), the fit on each fold
and the scoring. It imports ``automl_engine`` as a library for three things only: the featurization steps
(``InputSchema``, ``Featurizer`` and, where the pipeline has them, the scaling and target wrappers),
``compute_metrics``, so that the number it prints is computed exactly as the trial's was, and the SVM's
``SoftmaxSVC`` (scikit-learn's ``SVC`` with probabilities from its decision values). Given the same
data it reproduces the trial's validation score (``tests/engine/test_codegen.py`` holds it to 1e-6).
"""
from __future__ import annotations

import datetime as _dt
import importlib
import math
from typing import Any

import numpy as np

from .config import JobConfig


def render_value(value: Any, imports: set[str]) -> str:
    """Python source that rebuilds ``value``: estimators as constructor calls with every parameter,
    containers recursively, classes and functions as imported names. ``imports`` collects the import
    lines the source needs."""
    if value is None or isinstance(value, (bool, str, int)) and not isinstance(value, np.generic):
        return repr(value)
    if isinstance(value, np.generic):
        return render_value(value.item(), imports)
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "float('-inf')"
        return repr(value)
    if isinstance(value, np.ndarray):
        imports.add("import numpy as np")
        return f"np.array({render_value(value.tolist(), imports)}, dtype={value.dtype.str!r})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render_value(k, imports)}: {render_value(v, imports)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render_value(v, imports) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(render_value(v, imports) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(render_value(v, imports) for v in sorted(value, key=repr)) + "}" if value else "set()"
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__") and not hasattr(value,
                                                                                                       "get_params"):
        return _import_name(value, imports)
    if hasattr(value, "get_params"):
        name = _import_name(type(value), imports)
        params = value.get_params(deep=False)
        args = ", ".join(f"{k}={render_value(v, imports)}" for k, v in params.items())
        return f"{name}({args})"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as Python source")


def _import_name(obj: Any, imports: set[str]) -> str:
    """The name to use for a class or function, importing it from its shortest public module."""
    module, name = obj.__module__, obj.__qualname__
    if module == "builtins":
        return name
    if module.startswith("numpy"):
        imports.add("import numpy as np")
        if getattr(np, name, None) is obj:
            return f"np.{name}"
    parts = module.split(".")
    public = [p for p in parts if not p.startswith("_")]
    for end in range(1, len(public) + 1):  # shortest public module that exposes the very same object
        candidate = ".".join(public[:end])
        try:
            if getattr(importlib.import_module(candidate), name, None) is obj:
                module = candidate
                break
        except ImportError:
            continue
    imports.add(f"from {module} import {name}")
    return name


def generate_training_code(config: JobConfig | dict[str, Any], model, *, title: str = "",
                           supports_sample_weight: bool = True, sample_size: int | None = None) -> str:
    """The script retraining ``model``'s pipeline (a fitted or unfitted trial pipeline) under ``config``'s
    data settings. ``title`` names the trial in the docstring (e.g. "trial 3 of run 12"). A calibrated
    trial's script fits the same calibration map on its validation predictions; a boosting trial on a
    holdout stops early on it as the trial did; ``sample_size`` fits on the same sample of the rows; a model
    refitted on all rows after a holdout search (:func:`automl_engine.trial.refit_on_all_rows`) is refitted
    so by the script too."""
    from sklearn.base import clone

    from . import __name__ as engine_name
    from .calibration import CalibratedModel
    from .config import CLASSIFICATION

    config = config if isinstance(config, JobConfig) else JobConfig.from_dict(config)
    imports: set[str] = set()
    calibration = None
    refit = bool(getattr(model, "automl_refitted", False))
    if hasattr(model, "steps") and isinstance(model.steps[-1][1], CalibratedModel):
        calibration = model.steps[-1][1].method
        model = clone(model)
        model.steps[-1] = (model.steps[-1][0], model.steps[-1][1].estimator)
    unfitted = clone(model)
    if hasattr(unfitted, "steps"):  # a fitted XGBoost trial kept early_stopping_rounds; the script sets it again
        last = unfitted.steps[-1][1]
        if "early_stopping_rounds" in getattr(last, "get_params", lambda deep=False: {})(deep=False):
            last.set_params(early_stopping_rounds=None)
    if hasattr(unfitted, "steps"):  # one step per line: the steps are what a reader looks for
        steps = ",\n        ".join(render_value(step, imports) for step in unfitted.steps)
        pipeline_source = f"{_import_name(type(unfitted), imports)}(steps=[\n        {steps},\n    ])"
    else:
        pipeline_source = render_value(unfitted, imports)
    engine_imports = sorted(i for i in imports if i.startswith(f"from {engine_name}"))
    other_imports = sorted(i for i in imports if i not in engine_imports and i != "import numpy as np")
    settings = {
        "TASK": config.task, "TARGET": config.target_column_name, "WEIGHT": config.weight_column_name,
        "PRIMARY_METRIC": config.primary_metric, "RANDOM_STATE": config.random_state,
        "TEST_DATA_SIZE": config.test_data_size, "N_CROSS_VALIDATIONS": config.n_cross_validations,
        "VALIDATION_DATA_SIZE": config.validation_data_size,
        "CV_SPLIT_COLUMNS": list(config.cv_split_column_names) if config.cv_split_column_names else None,
        "SUPPORTS_SAMPLE_WEIGHT": bool(supports_sample_weight),
        "CALIBRATION": calibration, "SAMPLE_SIZE": sample_size, "REFIT_ON_ALL_ROWS": refit,
    }
    setting_lines = "\n".join(f"{k} = {render_value(v, set())}" for k, v in settings.items())
    header = (f'"""Retrain {title or "an AutoML trial"} and print its validation {config.primary_metric}.\n\n'
              f"Generated by automl_engine on {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC. The model is "
              "plain scikit-learn / LightGBM / XGBoost with\nevery hyperparameter written out; the featurization "
              "steps and compute_metrics come from the automl_engine\nlibrary (put it on PYTHONPATH or install the "
              "studio's package), so the score is computed exactly as the\ntrial's was.\n\n"
              "Usage: python this_file.py --train train.csv [--validation valid.csv] [--test test.csv] "
              '[--output model.pkl]\n"""')
    is_classification = config.task == CLASSIFICATION
    return f'''{header}
import argparse
import json

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
{chr(10).join(other_imports)}

{chr(10).join(engine_imports)}
from automl_engine.calibration import CalibratedModel, apply_map, fit_map
from automl_engine.metrics import compute_metrics
from automl_engine.trial import _fit_early_stopping, sample_rows

{setting_lines}


def make_pipeline():
    """The trial's whole model: input checks, featurization, scaling, estimator."""
    return {pipeline_source}


def target_array(y):
    """Labels as sklearn's metrics need them (bools/ints/floats native, anything else as str)."""
    if TASK != "classification":
        return y.astype(float)
    if y.dtype.kind not in "biuf":
        y = np.asarray(y.tolist())
    if y.dtype.kind not in "biuf":
        y = y.astype(str).astype(object)
    return y


def validation_folds(train, y, n_validation_rows):
    """Fold of each row (-1: only trained on), by the engine's rules: separate validation data, custom
    split columns, n folds, a holdout fraction, or by size (<1,000 rows 10-fold, <=20,000 3-fold, else 10%)."""
    n = len(y)
    n_train = n - n_validation_rows
    folds = np.full(n, -1, dtype=np.int64)
    if n_validation_rows:
        folds[n_train:] = 0
        return folds, False
    if CV_SPLIT_COLUMNS:
        for fold, column in enumerate(CV_SPLIT_COLUMNS):
            folds[(pd.to_numeric(train[column]) == 0).to_numpy()] = fold
        return folds, True
    if N_CROSS_VALIDATIONS:
        k, cv = N_CROSS_VALIDATIONS, True
    elif VALIDATION_DATA_SIZE:
        k, cv, size = 1, False, VALIDATION_DATA_SIZE
    elif n_train < 1000:
        k, cv = 10, True
    elif n_train <= 20000:
        k, cv = 3, True
    else:
        k, cv, size = 1, False, 0.1
    counts = pd.Series(y).value_counts().min()
    if cv:
        stratified = TASK == "classification" and counts >= k
        splitter = (StratifiedKFold(k, shuffle=True, random_state=RANDOM_STATE) if stratified
                    else KFold(k, shuffle=True, random_state=RANDOM_STATE))
        for fold, (_, valid) in enumerate(splitter.split(np.zeros(n), y if stratified else None)):
            folds[valid] = fold
        return folds, True
    stratify = y if TASK == "classification" and counts >= 2 else None
    _, valid = train_test_split(np.arange(n), test_size=size, random_state=RANDOM_STATE, stratify=stratify)
    folds[valid] = 0
    return folds, False


def predict_scores(model, X, classes):
    if TASK != "classification":
        return np.asarray(model.predict(X), dtype=float)
    proba = np.asarray(model.predict_proba(X), dtype=float)
    out = np.zeros((len(X), len(classes)))
    for j, c in enumerate(model.classes_):
        out[:, list(classes).index(c)] = proba[:, j]
    return out


def fit(model, X, y, weights):
    if weights is not None and SUPPORTS_SAMPLE_WEIGHT:
        return model.fit(X, y, model__sample_weight=weights)
    return model.fit(X, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="training data CSV (the run's training dataset)")
    parser.add_argument("--validation", help="validation data CSV, if the run had one")
    parser.add_argument("--test", help="test data CSV, if the run had one")
    parser.add_argument("--output", help="write the model refitted on all training rows here (joblib)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args()

    train = pd.read_csv(args.train)
    valid = pd.read_csv(args.validation) if args.validation else None
    test = pd.read_csv(args.test) if args.test else None
    if test is None and TEST_DATA_SIZE:  # test rows are held out first and never seen here
        labels = train[TARGET]
        stratify = labels if TASK == "classification" and labels.value_counts().min() >= 2 else None
        train, test = train_test_split(train, test_size=TEST_DATA_SIZE, random_state=RANDOM_STATE, stratify=stratify)
        train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    drop = [c for c in [TARGET, WEIGHT] + (CV_SPLIT_COLUMNS or []) if c]
    X = train.drop(columns=drop)
    y = train[TARGET].to_numpy()
    weights = train[WEIGHT].to_numpy(float) if WEIGHT else None
    if valid is not None:
        X = pd.concat([X, valid[X.columns]], ignore_index=True)
        y = np.concatenate([y, valid[TARGET].to_numpy()])
        if WEIGHT:
            weights = np.concatenate([weights, valid[WEIGHT].to_numpy(float)])
    y = target_array(y)
    classes = sorted(pd.unique(y).tolist()) if TASK == "classification" else None
    folds, is_cv = validation_folds(train, y, 0 if valid is None else len(valid))

    oof = np.full((len(y), len(classes)) if {is_classification!r} else len(y), np.nan)
    for fold in sorted(int(f) for f in np.unique(folds) if f >= 0):
        in_valid = np.flatnonzero(folds == fold)
        in_train = sample_rows(np.flatnonzero(folds != fold) if is_cv else np.flatnonzero(folds == -1),
                               SAMPLE_SIZE, RANDOM_STATE)
        w = None if weights is None else weights[in_train]
        model = make_pipeline()
        if is_cv:
            fit(model, X.iloc[in_train], y[in_train], w)
        else:  # a holdout: boosting stops early on it, as in the trial
            _fit_early_stopping(model, X.iloc[in_train], y[in_train], w, SUPPORTS_SAMPLE_WEIGHT,
                                X.iloc[in_valid], y[in_valid])
        oof[in_valid] = predict_scores(model, X.iloc[in_valid], classes)
    scored = folds >= 0
    calibration = None
    if CALIBRATION:  # the probability map the trial fitted on its validation predictions
        index = {{c: i for i, c in enumerate(classes)}}
        calibration = fit_map(oof[scored], np.array([index[v] for v in y[scored].tolist()]))
        oof[scored] = apply_map(oof[scored], *calibration)
    metrics = compute_metrics(TASK, y[scored], oof[scored], classes)
    if args.json:
        print(json.dumps({{"primary_metric": PRIMARY_METRIC, "validation": metrics}}))
    else:
        print(f"validation {{PRIMARY_METRIC}}: {{metrics[PRIMARY_METRIC]!r}}")
    # Cross-validation's model, and a holdout's when the run refitted it, is fitted again on every row (a
    # booster that stopped early with the rounds it kept, already in make_pipeline).
    final = fit(make_pipeline(), X.iloc[sample_rows(np.arange(len(y)), SAMPLE_SIZE, RANDOM_STATE)],
                y[sample_rows(np.arange(len(y)), SAMPLE_SIZE, RANDOM_STATE)],
                None if weights is None else weights[sample_rows(np.arange(len(y)), SAMPLE_SIZE, RANDOM_STATE)]) \
        if is_cv or REFIT_ON_ALL_ROWS else model
    if calibration is not None:
        final.steps[-1] = (final.steps[-1][0], CalibratedModel(final.steps[-1][1], *calibration))
    if test is not None and TARGET in test.columns:
        test_y = target_array(test[TARGET].to_numpy())
        test_metrics = compute_metrics(TASK, test_y, predict_scores(final, test.drop(columns=drop, errors="ignore"),
                                                                    classes), classes)
        if not args.json:
            print(f"test {{PRIMARY_METRIC}}: {{test_metrics[PRIMARY_METRIC]!r}}")
    if args.output:
        joblib.dump(final, args.output)


if __name__ == "__main__":
    main()
'''


def trial_code_title(number: int, pipeline_name: str, run: str | int | None = None) -> str:
    """"trial 3 (LightGBM) of run 12": how a script names its trial."""
    return f"trial {number} ({pipeline_name})" + (f" of run {run}" if run is not None else "")


