"""Featurization plans, the per-column summary, custom settings, and predict-time input checks."""
import numpy as np
import pandas as pd
import pytest

from automl_engine.config import make_featurization
from automl_engine.featurize import Featurizer, InputSchema, featurization_summary, plan_columns


def _summary(df, **featurization):
    X = df.drop(columns=["label"])
    plans = plan_columns(X, make_featurization(**featurization))
    featurizer = Featurizer([p.to_dict() for p in plans]).fit(X)
    return {s["column"]: s for s in featurization_summary(plans, featurizer)}, featurizer


def test_auto_featurization_summary(mixed_df):
    summary, featurizer = _summary(mixed_df)
    assert summary["num"] == {"column": "num", "detected_type": "Numeric", "dropped": False, "drop_reason": None,
                              "transformations": ["impute (mean)", "missing-value indicator", "numeric"],
                              "n_engineered_features": 2, "n_missing": 12, "n_unique": 108}
    assert summary["cat"]["transformations"] == ["one-hot encoding"]
    assert summary["cat"]["n_engineered_features"] == 3
    assert summary["high"]["transformations"] == ["count encoding"]
    assert summary["high"]["n_engineered_features"] == 1
    assert (summary["const"]["dropped"], summary["const"]["drop_reason"]) == (True, "constant")
    assert (summary["empty"]["dropped"], summary["empty"]["drop_reason"]) == (True, "all values missing")
    assert summary["row_id"]["drop_reason"] == "id-like: a distinct value in every row"
    assert summary["when"]["detected_type"] == "DateTime"
    # month, day, dayofweek, dayofyear, hour, days (year is constant)
    assert summary["when"]["n_engineered_features"] == 6
    assert summary["note"]["detected_type"] == "Text"
    assert summary["note"]["transformations"] == ["TF-IDF"]
    assert featurizer.transform(mixed_df).shape == (120, 2 + 3 + 1 + 6 + summary["note"]["n_engineered_features"])


def test_custom_featurization_overrides(mixed_df):
    summary, _ = _summary(mixed_df, mode="custom",
                          column_name_and_types={"row_id": "Categorical", "cat": "Ignore"},
                          transformer_params={"imputer": [{"fields": ["num"],
                                                           "parameters": {"strategy": "median"}}]},
                          blocked_transformers=["tfidf", "missing_indicator"])
    assert summary["num"]["transformations"] == ["impute (median)", "numeric"]
    assert summary["cat"]["drop_reason"] == "ignored by column_name_and_types"
    assert summary["row_id"]["dropped"] is False and summary["row_id"]["transformations"] == ["count encoding"]
    assert summary["note"]["drop_reason"] == "tfidf transformer blocked"


def test_featurization_off_uses_numeric_columns_only(mixed_df):
    summary, _ = _summary(mixed_df, mode="off")
    kept = sorted(c for c, s in summary.items() if not s["dropped"])
    assert kept == ["num", "row_id"]
    assert summary["cat"]["drop_reason"] == "featurization off: only numeric columns are used"


def _schema(df):
    X = df.drop(columns=["label"])
    plans = [p for p in plan_columns(X, make_featurization()) if not p.dropped]
    return InputSchema([p.column for p in plans], {p.column: p.detected_type for p in plans}).fit(X), plans


def test_missing_column_is_a_clear_error(mixed_df):
    schema, _ = _schema(mixed_df)
    with pytest.raises(ValueError, match=r"input is missing required columns \['cat'\]"):
        schema.transform(mixed_df.drop(columns=["cat"]))


def test_numbers_given_as_strings_are_coerced(mixed_df):
    schema, _ = _schema(mixed_df)
    as_text = mixed_df.assign(num=mixed_df["num"].map(lambda v: "" if pd.isna(v) else repr(v)))
    out = schema.transform(as_text)
    assert out["num"].dtype == np.float64
    np.testing.assert_allclose(out["num"].to_numpy(), mixed_df["num"].to_numpy())


def test_unparseable_number_is_a_clear_error(mixed_df):
    schema, _ = _schema(mixed_df)
    bad = mixed_df.assign(num=mixed_df["num"].astype(object))
    bad.loc[3, "num"] = "twelve"
    with pytest.raises(ValueError, match=r"column 'num' expects numbers; got 'twelve' \(1 value\(s\)"):
        schema.transform(bad)


def test_unseen_category_becomes_all_zero_one_hot_and_zero_count(mixed_df):
    X = mixed_df.drop(columns=["label"])
    plans = plan_columns(X, make_featurization())
    featurizer = Featurizer([p.to_dict() for p in plans]).fit(X)
    names = list(featurizer.feature_names_out_)
    row = X.iloc[[0]].assign(cat="never-seen", high="never-seen")
    Z = featurizer.transform(row)[0]
    assert [Z[names.index(f"cat_{c}")] for c in ("a", "b", "c")] == [0.0, 0.0, 0.0]
    assert Z[names.index("high_count")] == 0.0


def test_a_date_gives_its_calendar_parts_day_of_the_year_and_days_since_1970():
    X = pd.DataFrame({"when": ["1/1/2011", "3/5/2012 13:30", "12/31/2012 06:00", None] * 3,
                      "x": np.arange(12.0)})
    plans = plan_columns(X, make_featurization())
    featurizer = Featurizer([p.to_dict() for p in plans]).fit(X)
    names = [n for n in featurizer.feature_names_out_ if n.startswith("when_")]
    assert names == ["when_year", "when_month", "when_day", "when_dayofweek", "when_dayofyear", "when_hour",
                     "when_minute", "when_days"]
    Z = featurizer.transform(X.head(3))
    columns = [list(featurizer.feature_names_out_).index(n) for n in names]
    assert Z[:, columns].tolist() == [[2011, 1, 1, 5, 1, 0, 0, 14975.0],
                                      [2012, 3, 5, 0, 65, 13, 30, 15404.5625],
                                      [2012, 12, 31, 0, 366, 6, 0, 15705.25]]
