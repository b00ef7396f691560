"""Featurization that is learned over partitions: one pass of Dask reductions gives every statistic (numeric
means and standard deviations, category frequencies, row and missing counts), so the training data is never
collected into one process. The fitted steps are plain scikit-learn transformers on pandas frames: the same
code featurizes each training partition on the workers (``map_partitions``) and a request at serving time.

Numeric columns are imputed with their mean and standardised; categorical columns become pandas categoricals
with a fixed category list (LightGBM's native categorical support splits on them, no one-hot matrix);
datetime columns become year, month, day, day of week and hour. All-missing, constant and id-like columns
are dropped, as the in-memory featurization does.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..featurize import datetime_parts

# LightGBM splits a categorical feature over its categories; beyond a few hundred the rarer ones carry
# little and cost histogram bins, so only the most frequent are kept (the rest read as missing).
MAX_CATEGORIES = 255
# A text column with more distinct values than this share of its rows is an id, not a category.
ID_LIKE_RATIO = 0.9
# of automl_engine.featurize.datetime_parts (minutes are left out: timestamps of whole hours are the rule)
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour", "days")


def column_kinds(dtypes: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Numeric / Categorical / DateTime / Ignore for each column, from its dtype unless ``overrides`` (the
    job's ``featurization.column_name_and_types``) says otherwise. Text columns are treated as categorical:
    TF-IDF is not among the featurizers that run distributed."""
    kinds = {}
    for column, dtype in dtypes.items():
        if column in overrides:
            kind = overrides[column]
            kinds[column] = "Categorical" if kind == "Text" else kind
        elif pd.api.types.is_bool_dtype(dtype):
            kinds[column] = "Categorical"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[column] = "Numeric"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[column] = "DateTime"
        else:
            kinds[column] = "Categorical"
    return kinds


def _as_text(values: pd.Series) -> pd.Series:
    """Category values as strings (missing stays missing), so 1, "1" and True/"True" meet at serving time."""
    out = values.astype("string")
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values == np.floor(values.fillna(0)))
        out = out.where(~whole, values.where(whole).astype("Int64").astype("string"))
    return out.astype(object).where(values.notna(), None)


class InputColumns(BaseEstimator, TransformerMixin):
    """The raw columns a model needs (``columns_``) and their kinds (``kinds_``): the model's input schema in
    the artifact's manifest. A frame missing one is refused naming it; extra columns are ignored."""

    def __init__(self, columns: list[str] | None = None, kinds: dict[str, str] | None = None):
        self.columns = columns
        self.kinds = kinds

    def fit(self, X=None, y=None):
        self.columns_ = list(self.columns or [])
        self.kinds_ = dict(self.kinds or {})
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"missing input columns {missing}; the model needs {self.columns_}")
        return X[self.columns_]


class PartitionFeaturizer(BaseEstimator, TransformerMixin):
    """Imputation and scaling of numeric columns, fixed-category categoricals and datetime parts, with the
    statistics learned by :func:`fit_featurizer` over partitions. ``transform`` works on one pandas frame
    (a partition, a validation sample or a scoring request) and returns float columns plus categoricals."""

    def __init__(self, kinds: dict[str, str] | None = None, means: dict[str, float] | None = None,
                 scales: dict[str, float] | None = None, categories: dict[str, list[str]] | None = None):
        self.kinds = kinds
        self.means = means
        self.scales = scales
        self.categories = categories

    def fit(self, X=None, y=None):
        self.kinds_ = dict(self.kinds or {})
        self.means_ = dict(self.means or {})
        self.scales_ = dict(self.scales or {})
        self.categories_ = {c: list(v) for c, v in (self.categories or {}).items()}
        self.feature_names_out_ = self._names()
        return self

    def _names(self) -> list[str]:
        names = []
        for column, kind in self.kinds_.items():
            if kind == "DateTime":
                names.extend(f"{column}_{part}" for part in DATETIME_PARTS)
            else:
                names.append(column)
        return names

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.feature_names_out_, dtype=object)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, Any] = {}
        for column, kind in self.kinds_.items():
            values = X[column]
            if kind == "Numeric":
                numbers = pd.to_numeric(values, errors="coerce").astype("float64")
                # float32: LightGBM bins features in float32 anyway, and it halves a worker's training copy
                out[column] = ((numbers.fillna(self.means_[column]) - self.means_[column])
                               / self.scales_[column]).to_numpy(dtype="float32")
            elif kind == "Categorical":
                text = _as_text(values)
                known = self.categories_[column]
                # a category unseen in training reads as missing, as LightGBM treats it
                out[column] = pd.Categorical(text.where(text.isin(known), None), categories=known)
            else:
                parts = datetime_parts(pd.to_datetime(values, errors="coerce"))
                for part in DATETIME_PARTS:
                    # (float32 holds the days since 1970 to about 3 minutes, finer than a tree splits them)
                    out[f"{column}_{part}"] = parts[part].astype("float32").to_numpy()
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)

    def meta(self) -> pd.DataFrame:
        """An empty frame with the output dtypes (Dask's ``meta`` for ``map_partitions``)."""
        empty = {}
        for name in self.feature_names_out_:
            if self.kinds_.get(name) == "Categorical":
                empty[name] = pd.Categorical([], categories=self.categories_[name])
            else:
                empty[name] = pd.Series([], dtype="float32")
        return pd.DataFrame(empty, columns=self.feature_names_out_)

    def summary(self) -> list[dict[str, Any]]:
        """One row per raw column: what became of it (the run's featurization summary)."""
        rows = []
        for column, kind in self.kinds_.items():
            if kind == "Numeric":
                how = ["mean imputation", "standard scaling"]
            elif kind == "Categorical":
                how = [f"LightGBM native categorical ({len(self.categories_[column])} categories)"]
            else:
                how = ["datetime parts: " + ", ".join(DATETIME_PARTS)]
            rows.append({"column": column, "detected_type": kind, "dropped": False, "transformations": how})
        return rows


def fit_featurizer(ddf, kinds: dict[str, str], n_rows: int, compute) -> tuple[InputColumns, PartitionFeaturizer,
                                                                                list[dict[str, Any]]]:
    """Learn the featurization of the feature columns of Dask frame ``ddf`` in one pass over its partitions
    (``compute`` is ``dask.compute`` or a client's). Returns the input step, the featurizer and the
    dropped columns with the reason for each."""
    numeric = [c for c, k in kinds.items() if k == "Numeric"]
    categorical = [c for c, k in kinds.items() if k == "Categorical"]
    dated = [c for c, k in kinds.items() if k == "DateTime"]
    work = {}
    if numeric:
        frame = ddf[numeric].map_partitions(lambda p: p.apply(pd.to_numeric, errors="coerce").astype("float64"),
                                            meta=pd.DataFrame({c: pd.Series([], dtype="float64") for c in numeric}))
        work["mean"] = frame.mean()
        work["std"] = frame.std()
        work["count"] = frame.count()
    for column in categorical:
        # one output partition: a tree reduction of per-partition counts, not a shuffle of the rows between
        # workers (which needs memory on every worker and fails the pass when one of them is lost)
        work[f"cat:{column}"] = ddf[column].map_partitions(_as_text, meta=(column, object)).value_counts(split_out=1)
    for column in dated:
        work[f"date:{column}"] = ddf[column].map_partitions(
            lambda s: pd.to_datetime(s, errors="coerce"), meta=(column, "datetime64[ns]")).count()
    computed = dict(zip(work, compute(*work.values()))) if work else {}
    dropped: list[dict[str, Any]] = []
    means, scales, categories, kept = {}, {}, {}, {}
    for column in numeric:
        count, std = float(computed["count"][column]), computed["std"][column]
        if count == 0:
            dropped.append({"column": column, "detected_type": "Numeric", "dropped": True, "reason": "all values missing"})
            continue
        if not np.isfinite(std) or std == 0:
            dropped.append({"column": column, "detected_type": "Numeric", "dropped": True, "reason": "constant"})
            continue
        means[column], scales[column] = float(computed["mean"][column]), float(std)
        kept[column] = "Numeric"
    for column in categorical:
        counts = computed[f"cat:{column}"].sort_values(ascending=False, kind="stable")
        if len(counts) == 0:
            dropped.append({"column": column, "detected_type": "Categorical", "dropped": True,
                            "reason": "all values missing"})
            continue
        if len(counts) == 1:
            dropped.append({"column": column, "detected_type": "Categorical", "dropped": True, "reason": "constant"})
            continue
        if n_rows >= 100 and len(counts) > ID_LIKE_RATIO * n_rows:
            dropped.append({"column": column, "detected_type": "Categorical", "dropped": True,
                            "reason": f"id-like ({len(counts)} distinct values in {n_rows} rows)"})
            continue
        categories[column] = sorted(str(v) for v in counts.index[:MAX_CATEGORIES])
        kept[column] = "Categorical"
    for column in dated:
        if int(computed[f"date:{column}"]) == 0:
            dropped.append({"column": column, "detected_type": "DateTime", "dropped": True,
                            "reason": "no parseable dates"})
            continue
        kept[column] = "DateTime"
    # keep the data's column order
    kept = {c: kept[c] for c in kinds if c in kept}
    if not kept:
        raise ValueError("no usable feature column: every column is missing, constant or an id")
    input_step = InputColumns(list(kept), kept).fit()
    featurizer = PartitionFeaturizer(kept, means, scales, categories).fit()
    return input_step, featurizer, dropped
