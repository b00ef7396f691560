"""Algorithms as registered plugins.

Each plugin declares its search space (an Optuna ``suggest`` function), a small portfolio of proven
default configurations, its cost hints and what it needs from featurization (scaling). The search loop
only ever talks to the registry, never to a particular algorithm.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import CLASSIFICATION, REGRESSION
from .target import LOG1P

Params = dict[str, Any]


@dataclass(frozen=True)
class Algorithm:
    """A registered learner.

    ``suggest(trial, n_rows)`` samples hyperparameters with an Optuna trial (names are prefixed with the
    algorithm's name so spaces of different algorithms never clash); ``build(params, problem_type, n_jobs,
    random_state)`` returns an unfitted estimator. ``cost`` is a relative training-cost hint per 1,000
    rows used to order the portfolio and skip trials that cannot finish in the remaining time;
    ``max_rows`` is the size above which the algorithm is skipped unless explicitly allowed;
    ``max_kernel_work`` the same for a kernel method, whose fit computes a kernel entry for each pair of rows
    over all columns: it is skipped when rows² × columns is above it.
    ``standardize_target``: a penalised linear regressor whose penalty is weighed against the squared error,
    fitted on the standardised target so that its alpha means the same on every target
    (:class:`automl_engine.target.StandardTargetRegressor`). ``cost_per_class``: the algorithm's cost
    grows with the number of classes of a multiclass problem: boosting grows a tree per class in each
    round, one-vs-rest and multinomial linear models fit a weight vector per class; a forest (one tree
    for all classes) or a naive Bayes model does not.

    ``portfolio_rank[i]`` places portfolio configuration ``i`` (of any task) in the run-wide order in which
    portfolio configurations are tried, lowest first; configurations without a rank (a plugin that gives
    none) follow every ranked one, in registration order. ``log_target_twins[task]`` lists the indices of
    portfolio configurations also tried on log1p(target) right after their raw-scale twin when the task
    flags a log-scale target. ``is_tree``: explanations use SHAP's TreeExplainer on the fitted estimator.
    ``param_prefix``: the prefix of its Optuna parameter names when several plugins share one search space
    (the XGBoost classifier and regressor); the name by default.
    """

    name: str
    problem_types: tuple[str, ...]
    build: Callable[[Params, str, int, int], Any]
    suggest: Callable[[Any, int], Params]
    portfolio: dict[str, list[Params]] = field(default_factory=dict)
    cost: float = 1.0
    needs_scaling: bool = False
    onnx_convertible: bool = True
    max_rows: int | None = None
    max_kernel_work: float | None = None
    supports_class_weight: bool = False
    supports_sample_weight: bool = True
    is_tree: bool = False
    standardize_target: bool = False
    cost_per_class: bool = False
    portfolio_rank: tuple[int, ...] = ()
    log_target_twins: dict[str, tuple[int, ...]] = field(default_factory=dict)
    param_prefix: str = ""
    # Configurations added to the portfolio on large data (when the search fits samples of the rows, see
    # automl_engine.driver.sample_sizes): noise dominates there and smoother models are the better start.
    large_data_portfolio: dict[str, list[Params]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.param_prefix or self.name


_REGISTRY: dict[str, dict[str, Algorithm]] = {}
# Where each registered algorithm was registered from: trial workers (other processes, other machines)
# import that module before evaluating, so a plugin registered from user code exists there too.
_ORIGINS: dict[tuple[str, str], str] = {}


def register(algorithm: Algorithm, name: str | None = None, module: str | None = None) -> Algorithm:
    """Add an algorithm to the registry (optionally under a per-task display name).

    ``module`` is the importable module whose import registers it (by default the caller's module); a trial
    worker imports it before evaluating a trial. Register plugins at the top level of an importable module,
    not in a script run as ``__main__`` or a notebook cell: workers cannot import those."""
    if module is None:
        module = sys._getframe(1).f_globals.get("__name__", "__main__")
    for problem_type in algorithm.problem_types:
        _REGISTRY.setdefault(problem_type, {})[name or algorithm.name] = algorithm
        _ORIGINS[(problem_type, name or algorithm.name)] = module
    return algorithm


def algorithm_names(problem_type: str) -> list[str]:
    return list(_REGISTRY.get(problem_type, {}))


def get_algorithm(problem_type: str, name: str) -> Algorithm:
    try:
        return _REGISTRY[problem_type][name]
    except KeyError:
        raise KeyError(f"unknown algorithm {name!r} for {problem_type}") from None


def plugin_origin(problem_type: str, name: str) -> dict[str, str] | None:
    """``{"module", "path"}`` to import in a worker for a plugin registered outside the engine (None for a
    built-in one); ``path`` is the folder the module was imported from, added to the worker's sys.path."""
    module = _ORIGINS.get((problem_type, name), "automl_engine")
    if module == "automl_engine" or module.startswith("automl_engine."):
        return None
    return module_origin(module)


def module_origin(module: str) -> dict[str, str]:
    """``{"module", "path"}`` of an imported module (path: the sys.path entry it was found under, "" if none)."""
    loaded = sys.modules.get(module)
    file = getattr(loaded, "__file__", None)
    path = ""
    if file:
        root = Path(file).resolve().parent
        if Path(file).name == "__init__.py":
            root = root.parent
        for _ in module.split(".")[1:]:
            root = root.parent
        path = str(root)
    return {"module": module, "path": path}


def import_plugins(origins: list[dict[str, str]]) -> None:
    """Import the modules that register a run's plugins (see :func:`plugin_origin`), in a trial worker."""
    import importlib

    for origin in origins:
        module = origin["module"]
        if module in sys.modules:
            continue
        if origin.get("path") and origin["path"] not in sys.path:
            sys.path.append(origin["path"])
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"the plugin module {module!r} registered for this run cannot be imported in the "
                              f"trial worker ({exc}); install it or put its folder on the workers' PYTHONPATH"
                              ) from exc


def _p(name: str, key: str) -> str:
    return f"{name}.{key}"


def _strip(name: str, params: Params) -> Params:
    prefix = name + "."
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in params.items()}


# --------------------------------------------------------------------------------------------------
# LightGBM


def _build_lightgbm(params: Params, problem_type: str, n_jobs: int, random_state: int):
    import lightgbm as lgb

    p = dict(params)
    common = dict(random_state=random_state, n_jobs=n_jobs, verbose=-1, subsample_freq=1 if p.get(
        "subsample", 1.0) < 1.0 else 0)
    if problem_type == CLASSIFICATION:
        return lgb.LGBMClassifier(**common, **p)
    p.pop("class_weight", None)
    return lgb.LGBMRegressor(**common, **p)


def _suggest_lightgbm(trial, n_rows: int) -> Params:
    n = "LightGBM"
    return {
        "n_estimators": trial.suggest_int(_p(n, "n_estimators"), 50, 1000, log=True),
        # above ~0.2 multiclass boosting can diverge (letter: 30% accuracy at 0.25)
        "learning_rate": trial.suggest_float(_p(n, "learning_rate"), 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int(_p(n, "num_leaves"), 4, 256, log=True),
        "min_child_samples": trial.suggest_int(_p(n, "min_child_samples"), 2, 100, log=True),
        "colsample_bytree": trial.suggest_float(_p(n, "colsample_bytree"), 0.3, 1.0),
        "subsample": trial.suggest_float(_p(n, "subsample"), 0.5, 1.0),
        "reg_lambda": trial.suggest_float(_p(n, "reg_lambda"), 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float(_p(n, "reg_alpha"), 1e-3, 1.0, log=True),
    }


_LGB_DEFAULTS = [
    # A cheap probe first: on big or many-class data it finishes in a fraction of the budget and calibrates
    # the cost estimates that decide which larger configurations still fit.
    {"n_estimators": 40, "learning_rate": 0.12, "num_leaves": 15, "min_child_samples": 10,
     "colsample_bytree": 0.8, "subsample": 1.0, "reg_lambda": 1e-3, "reg_alpha": 1e-3},
    {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20,
     "colsample_bytree": 1.0, "subsample": 1.0, "reg_lambda": 1e-3, "reg_alpha": 1e-3},
    {"n_estimators": 400, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 10,
     "colsample_bytree": 0.6, "subsample": 0.8, "reg_lambda": 1.0, "reg_alpha": 1e-3},
    {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 63, "min_child_samples": 20,
     "colsample_bytree": 0.5, "subsample": 0.9, "reg_lambda": 0.1, "reg_alpha": 1e-3},
    {"n_estimators": 800, "learning_rate": 0.02, "num_leaves": 31, "min_child_samples": 5,
     "colsample_bytree": 0.4, "subsample": 0.7, "reg_lambda": 3.0, "reg_alpha": 0.01},
]

# Regression also gets a long, fast-learning run (n_estimators x learning_rate = 50, about three times the
# defaults above): on targets with sharp interactions (hourly bike counts, census blocks) it beat every
# default in 3-fold CV. It comes last, so the time estimate skips it where it cannot finish.
# Large data: many small, well-supported leaves, learning slowly; early stopping ends it where it stops helping.
_LGB_LARGE = {"n_estimators": 1000, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 100,
              "colsample_bytree": 0.8, "subsample": 0.8, "reg_lambda": 3.0, "reg_alpha": 1e-3}

_LGB_LONG = {"n_estimators": 1000, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
             "colsample_bytree": 0.7, "subsample": 0.9, "reg_lambda": 1.0, "reg_alpha": 1e-3}

register(Algorithm(
    name="LightGBM", problem_types=(CLASSIFICATION, REGRESSION), build=_build_lightgbm,
    suggest=_suggest_lightgbm, portfolio={CLASSIFICATION: _LGB_DEFAULTS, REGRESSION: _LGB_DEFAULTS + [_LGB_LONG]},
    cost=1.0, supports_class_weight=True, is_tree=True, cost_per_class=True,
    portfolio_rank=(0, 3, 6, 10, 13, 14), log_target_twins={REGRESSION: (1, 3)},
    large_data_portfolio={pt: [_LGB_LARGE] for pt in (CLASSIFICATION, REGRESSION)}))


# --------------------------------------------------------------------------------------------------
# XGBoost


def _build_xgboost(params: Params, problem_type: str, n_jobs: int, random_state: int):
    import xgboost as xgb

    common = dict(random_state=random_state, n_jobs=n_jobs, tree_method="hist", verbosity=0)
    if problem_type == CLASSIFICATION:
        return __getattr__("XGBLabelClassifier")(**common, **params)
    return xgb.XGBRegressor(**common, **params)


def _make_xgb_label_classifier():
    import numpy as np
    import xgboost as xgb

    class XGBLabelClassifier(xgb.XGBClassifier):
        """XGBClassifier accepting any labels: encodes them in ``fit`` and decodes in ``predict``."""

        def fit(self, X, y, **kwargs):
            labels, codes = np.unique(np.asarray(y), return_inverse=True)
            self.labels_ = labels
            if kwargs.get("eval_set"):  # early stopping's validation rows, in the same codes
                kwargs["eval_set"] = [(Xv, np.searchsorted(labels, np.asarray(yv))) for Xv, yv in kwargs["eval_set"]]
            self._fitting = True  # xgboost checks classes_ against 0..k-1 inside fit
            try:
                super().fit(X, codes, **kwargs)
            finally:
                self._fitting = False
            return self

        def predict(self, X, **kwargs):
            return self.labels_[np.asarray(super().predict(X, **kwargs), dtype=int)]

        @property
        def classes_(self):
            if getattr(self, "_fitting", False) or not hasattr(self, "labels_"):
                encoded = self.__dict__.get("_encoded_classes")  # xgboost 3 assigns it, 2.x derives it
                return encoded if encoded is not None else np.arange(self.n_classes_)
            return self.labels_

        @classes_.setter
        def classes_(self, value):  # xgboost assigns the encoded classes in fit; report the raw labels
            self.__dict__["_encoded_classes"] = value

    XGBLabelClassifier.__module__ = __name__
    XGBLabelClassifier.__qualname__ = "XGBLabelClassifier"
    return XGBLabelClassifier


def __getattr__(name: str):
    # Built on first use so that importing automl_engine does not import xgboost.
    if name == "XGBLabelClassifier":
        if name in globals():
            return globals()[name]
        cls = _make_xgb_label_classifier()
        globals()["XGBLabelClassifier"] = cls
        return cls
    raise AttributeError(name)


def _suggest_xgboost(trial, n_rows: int) -> Params:
    n = "XGBoost"
    return {
        "n_estimators": trial.suggest_int(_p(n, "n_estimators"), 50, 1000, log=True),
        "learning_rate": trial.suggest_float(_p(n, "learning_rate"), 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int(_p(n, "max_depth"), 2, 10),
        "min_child_weight": trial.suggest_float(_p(n, "min_child_weight"), 0.5, 20.0, log=True),
        "colsample_bytree": trial.suggest_float(_p(n, "colsample_bytree"), 0.3, 1.0),
        "subsample": trial.suggest_float(_p(n, "subsample"), 0.5, 1.0),
        "reg_lambda": trial.suggest_float(_p(n, "reg_lambda"), 1e-3, 10.0, log=True),
    }


_XGB_DEFAULTS = [
    {"n_estimators": 200, "learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1.0,
     "colsample_bytree": 0.8, "subsample": 0.9, "reg_lambda": 1.0},
    {"n_estimators": 500, "learning_rate": 0.03, "max_depth": 8, "min_child_weight": 2.0,
     "colsample_bytree": 0.6, "subsample": 0.8, "reg_lambda": 3.0},
]

# The XGBoost counterpart of _LGB_LONG (see there).
_XGB_LONG = {"n_estimators": 1500, "learning_rate": 0.05, "max_depth": 7, "min_child_weight": 1.0,
             "colsample_bytree": 0.8, "subsample": 0.9, "reg_lambda": 1.0}

for _name, _pt in (("XGBoostClassifier", CLASSIFICATION), ("XGBoostRegressor", REGRESSION)):
    register(Algorithm(
        name=_name, problem_types=(_pt,), build=_build_xgboost, suggest=_suggest_xgboost,
        portfolio={_pt: _XGB_DEFAULTS + ([_XGB_LONG] if _pt == REGRESSION else [])}, cost=1.5, is_tree=True,
        cost_per_class=True,
        # onnxmltools converts XGBClassifier only with integer labels; our label-encoding subclass is not
        # registered with it, so ONNX mode keeps XGBoost for regression only.
        onnx_convertible=_pt == REGRESSION,
        portfolio_rank=(5, 12, 15) if _pt == REGRESSION else (4, 11), param_prefix="XGBoost"))


# --------------------------------------------------------------------------------------------------
# scikit-learn ensembles and trees


def _build_forest(kind: str):
    def build(params: Params, problem_type: str, n_jobs: int, random_state: int):
        from sklearn import ensemble

        cls = {("rf", CLASSIFICATION): ensemble.RandomForestClassifier,
               ("rf", REGRESSION): ensemble.RandomForestRegressor,
               ("et", CLASSIFICATION): ensemble.ExtraTreesClassifier,
               ("et", REGRESSION): ensemble.ExtraTreesRegressor}[(kind, problem_type)]
        p = dict(params)
        if problem_type == REGRESSION:
            p.pop("class_weight", None)
        return cls(n_jobs=n_jobs, random_state=random_state, **p)
    return build


def _suggest_forest(name: str):
    def suggest(trial, n_rows: int) -> Params:
        return {
            # Fewer trees only add variance to a bagged forest; time is saved by skipping it, not by thinning it
            # (TPE spent letter's last seconds on extra-trees of 51 and 78 trees).
            "n_estimators": trial.suggest_int(_p(name, "n_estimators"), 100, 500, log=True),
            "max_features": trial.suggest_float(_p(name, "max_features"), 0.1, 1.0),
            "min_samples_leaf": trial.suggest_int(_p(name, "min_samples_leaf"), 1, 20, log=True),
        }
    return suggest


_FOREST_DEFAULTS = [{"n_estimators": 100, "max_features": 0.5, "min_samples_leaf": 1}]
# Fully grown trees on exact splits: one thread fits 100 of them 4.5 times slower than LightGBM's 100-tree
# default on 1,200 rows, 11-18 times on 14,000-16,500 rows and 23 times on 43,000. With the cost of 3 they
# had before, short runs on mid-sized data started both forests with seconds left and lost them to the
# deadline (diamonds at 10 s: both workers busy for the last 5 s, nothing finished).
for _name, _kind in (("RandomForest", "rf"), ("ExtremeRandomTrees", "et")):
    register(Algorithm(
        name=_name, problem_types=(CLASSIFICATION, REGRESSION), build=_build_forest(_kind),
        suggest=_suggest_forest(_name),
        portfolio={CLASSIFICATION: _FOREST_DEFAULTS, REGRESSION: _FOREST_DEFAULTS},
        cost=15.0, supports_class_weight=True, is_tree=True, portfolio_rank=(8,) if _kind == "rf" else (7,),
        # Fully grown trees memorise the noise of 100,000s of rows (fertility: AUC 0.569 with leaves of one
        # row, 0.618 with leaves of 30 on the same 40,000-row sample).
        large_data_portfolio={pt: [{"n_estimators": 100, "max_features": 0.5, "min_samples_leaf": 30}]
                              for pt in (CLASSIFICATION, REGRESSION)}))


def _build_hgb(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    p = dict(params)
    if problem_type == CLASSIFICATION:
        return HistGradientBoostingClassifier(random_state=random_state, early_stopping=False, **p)
    p.pop("class_weight", None)
    return HistGradientBoostingRegressor(random_state=random_state, early_stopping=False, **p)


def _suggest_hgb(trial, n_rows: int) -> Params:
    n = "GradientBoosting"
    return {
        "max_iter": trial.suggest_int(_p(n, "max_iter"), 50, 800, log=True),
        "learning_rate": trial.suggest_float(_p(n, "learning_rate"), 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int(_p(n, "max_leaf_nodes"), 4, 128, log=True),
        "min_samples_leaf": trial.suggest_int(_p(n, "min_samples_leaf"), 2, 100, log=True),
        "l2_regularization": trial.suggest_float(_p(n, "l2_regularization"), 1e-4, 10.0, log=True),
    }


register(Algorithm(
    name="GradientBoosting", problem_types=(CLASSIFICATION, REGRESSION), build=_build_hgb,
    suggest=_suggest_hgb,
    portfolio={pt: [{"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                     "l2_regularization": 1e-4}] for pt in (CLASSIFICATION, REGRESSION)},
    cost=1.5, supports_class_weight=True, is_tree=True, cost_per_class=True, portfolio_rank=(9,)))


def _build_tree(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    p = dict(params)
    if problem_type == CLASSIFICATION:
        return DecisionTreeClassifier(random_state=random_state, **p)
    p.pop("class_weight", None)
    return DecisionTreeRegressor(random_state=random_state, **p)


def _suggest_tree(trial, n_rows: int) -> Params:
    n = "DecisionTree"
    return {"max_depth": trial.suggest_int(_p(n, "max_depth"), 2, 20),
            "min_samples_leaf": trial.suggest_int(_p(n, "min_samples_leaf"), 1, 50, log=True)}


register(Algorithm(
    name="DecisionTree", problem_types=(CLASSIFICATION, REGRESSION), build=_build_tree, suggest=_suggest_tree,
    portfolio={pt: [{"max_depth": 8, "min_samples_leaf": 5}] for pt in (CLASSIFICATION, REGRESSION)},
    cost=0.2, supports_class_weight=True, is_tree=True, portfolio_rank=(19,)))


# --------------------------------------------------------------------------------------------------
# Linear models, neighbours, kernels, naive Bayes


def _build_logreg(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500, random_state=random_state, **params)


def _suggest_logreg(trial, n_rows: int) -> Params:
    return {"C": trial.suggest_float("LogisticRegression.C", 1e-3, 100.0, log=True)}


register(Algorithm(
    name="LogisticRegression", problem_types=(CLASSIFICATION,), build=_build_logreg, suggest=_suggest_logreg,
    portfolio={CLASSIFICATION: [{"C": 1.0}]}, cost=0.3, needs_scaling=True, supports_class_weight=True,
    cost_per_class=True, portfolio_rank=(1,)))


def _build_sgd(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.linear_model import SGDClassifier, SGDRegressor

    p = dict(params)
    if problem_type == CLASSIFICATION:
        return SGDClassifier(loss="log_loss", random_state=random_state, max_iter=1000, tol=1e-3, **p)
    p.pop("class_weight", None)
    return SGDRegressor(random_state=random_state, max_iter=1000, tol=1e-3, **p)


def _suggest_sgd(trial, n_rows: int) -> Params:
    return {"alpha": trial.suggest_float("SGD.alpha", 1e-6, 1e-1, log=True),
            "penalty": trial.suggest_categorical("SGD.penalty", ["l2", "l1", "elasticnet"])}


register(Algorithm(
    name="SGD", problem_types=(CLASSIFICATION, REGRESSION), build=_build_sgd, suggest=_suggest_sgd,
    portfolio={pt: [{"alpha": 1e-4, "penalty": "l2"}] for pt in (CLASSIFICATION, REGRESSION)},
    cost=0.2, needs_scaling=True, supports_class_weight=True, standardize_target=True, cost_per_class=True,
    portfolio_rank=(21,)))


def _build_knn(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if problem_type == CLASSIFICATION else KNeighborsRegressor
    return cls(n_jobs=n_jobs, **params)


def _suggest_knn(trial, n_rows: int) -> Params:
    return {"n_neighbors": trial.suggest_int("KNN.n_neighbors", 1, 50, log=True),
            "weights": trial.suggest_categorical("KNN.weights", ["uniform", "distance"])}


register(Algorithm(
    name="KNN", problem_types=(CLASSIFICATION, REGRESSION), build=_build_knn, suggest=_suggest_knn,
    portfolio={pt: [{"n_neighbors": 10, "weights": "distance"}] for pt in (CLASSIFICATION, REGRESSION)},
    cost=0.5, needs_scaling=True, max_rows=5000, supports_sample_weight=False, portfolio_rank=(16,)))


def _build_linear_svm(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    p = dict(params)
    class_weight = p.pop("class_weight", None)
    return CalibratedClassifierCV(LinearSVC(random_state=random_state, class_weight=class_weight, **p), cv=3)


def _suggest_linear_svm(trial, n_rows: int) -> Params:
    return {"C": trial.suggest_float("LinearSVM.C", 1e-3, 10.0, log=True)}


register(Algorithm(
    name="LinearSVM", problem_types=(CLASSIFICATION,), build=_build_linear_svm, suggest=_suggest_linear_svm,
    portfolio={CLASSIFICATION: [{"C": 0.1}]}, cost=0.5, needs_scaling=True, supports_class_weight=True,
    cost_per_class=True, portfolio_rank=(17,)))


def _build_svm(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from .svm import SoftmaxSVC

    return SoftmaxSVC(random_state=random_state, **params)


def _suggest_svm(trial, n_rows: int) -> Params:
    return {"C": trial.suggest_float("SVM.C", 1e-2, 100.0, log=True),
            "gamma": trial.suggest_categorical("SVM.gamma", ["scale", "auto"])}


register(Algorithm(
    name="SVM", problem_types=(CLASSIFICATION,), build=_build_svm, suggest=_suggest_svm,
    # C=10 rather than scikit-learn's 1: 3-fold CV on the benchmark's training splits, C=1 against C=10,
    # letter accuracy 0.928 / 0.962, car_evaluation 0.954 / 0.985, phoneme AUC 0.904 / 0.917; kc1 0.657 / 0.652
    # and credit_g 0.775 / 0.745 lost less where an SVM is far from the best model anyway.
    portfolio={CLASSIFICATION: [{"C": 10.0, "gamma": "scale"}]}, cost=4.0, needs_scaling=True,
    # letter's 16,000 rows of 16 columns (4.1e9) fit in 1.1 s of processor time; adult's 39,000 rows (2.1e10
    # with its 14 columns before one-hot encoding) would take minutes.
    max_kernel_work=5e9, supports_class_weight=True, portfolio_rank=(18,)))


def _build_nb(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(**params)


def _suggest_nb(trial, n_rows: int) -> Params:
    return {"var_smoothing": trial.suggest_float("NaiveBayes.var_smoothing", 1e-11, 1e-3, log=True)}


register(Algorithm(
    name="NaiveBayes", problem_types=(CLASSIFICATION,), build=_build_nb, suggest=_suggest_nb,
    portfolio={CLASSIFICATION: [{"var_smoothing": 1e-9}]}, cost=0.05, portfolio_rank=(20,)))


def _build_elasticnet(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.linear_model import ElasticNet

    return ElasticNet(random_state=random_state, max_iter=5000, **params)


# Regression alphas apply to the standardised target (Algorithm.standardize_target), where the lasso zeroes
# every coefficient from alpha = max |corr(feature, target)| <= 1 on. 1e-4 .. 1 spans nearly least squares
# (1e-4 is far below the correlation noise of 1 / sqrt(rows) up to a million rows; the LARS path often
# ends above it anyway, on 1,168 house prices at 9e-4) to the mean for ElasticNet and LassoLars alike;
# above 1 only a near-ridge l1_ratio would fit anything. SGD keeps 1e-6 .. 0.1, a space it shares with
# classification: on the unit scale that already reaches a strong penalty (0.1 with l1 leaves few
# coefficients).
def _suggest_elasticnet(trial, n_rows: int) -> Params:
    return {"alpha": trial.suggest_float("ElasticNet.alpha", 1e-4, 1.0, log=True),
            "l1_ratio": trial.suggest_float("ElasticNet.l1_ratio", 0.0, 1.0)}


register(Algorithm(
    name="ElasticNet", problem_types=(REGRESSION,), build=_build_elasticnet, suggest=_suggest_elasticnet,
    portfolio={REGRESSION: [{"alpha": 1e-3, "l1_ratio": 0.5}]}, cost=0.3, needs_scaling=True,
    standardize_target=True, portfolio_rank=(2,)))


def _build_lassolars(params: Params, problem_type: str, n_jobs: int, random_state: int):
    from sklearn.linear_model import LassoLars

    return LassoLars(random_state=random_state, **params)


def _suggest_lassolars(trial, n_rows: int) -> Params:
    return {"alpha": trial.suggest_float("LassoLars.alpha", 1e-4, 1.0, log=True)}


register(Algorithm(
    name="LassoLars", problem_types=(REGRESSION,), build=_build_lassolars, suggest=_suggest_lassolars,
    portfolio={REGRESSION: [{"alpha": 1e-3}]}, cost=0.2, needs_scaling=True, standardize_target=True,
    supports_sample_weight=False,  # LassoLars.fit takes no sample_weight
    portfolio_rank=(22,)))




def portfolio_order(problem_type: str, log_target: bool = False) -> list[tuple[str, Params]]:
    """The order in which portfolio configurations are tried, from the declarations: by
    ``Algorithm.portfolio_rank`` (cheap strong defaults first), unranked configurations after, in
    registration order; with ``log_target`` each configuration listed in ``log_target_twins`` for this task
    is followed by its log1p(target) twin."""
    entries = []
    for position, (name, algo) in enumerate(_REGISTRY.get(problem_type, {}).items()):
        for index, params in enumerate(algo.portfolio.get(problem_type, [])):
            rank = algo.portfolio_rank[index] if index < len(algo.portfolio_rank) else None
            key = (0, rank, 0, 0) if rank is not None else (1, 0, position, index)
            entries.append((key, name, index, params, algo))
    entries.sort(key=lambda e: e[0])
    out = []
    for _, name, index, params, algo in entries:
        out.append((name, dict(params)))
        if log_target and index in algo.log_target_twins.get(problem_type, ()):
            out.append((name, {**params, "target_transform": LOG1P}))
    return out


# The forecasting task's plugins (the statistical models, Prophet, and the learners above as global models on
# lag features) live with the rest of forecasting; importing them here keeps this registry the one place that
# knows every algorithm, in the driver's process and in every trial worker alike.
from .forecasting import plugins as _forecasting_plugins  # noqa: E402,F401
