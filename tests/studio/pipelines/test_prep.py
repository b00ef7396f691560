"""The no-code prep operations and their safe expression language."""
import pandas as pd
import pytest

from studio.pipelines.prep import PrepError, apply_operations, evaluate


@pytest.fixture
def frame():
    return pd.DataFrame({"age": [17, 25, 40, None], "job": ["a", None, "b", "b"], "balance": [10.0, 20.0, 30.0, 40.0],
                         "flag": ["yes", "no", "yes", "no"], "y": [0, 1, 0, 1]})


def test_columns_rows_missing_values_casts_and_derived_columns(frame):
    [out] = apply_operations(frame, [
        {"fill_missing": {"columns": ["job"], "value": "unknown"}},
        {"fill_missing": {"columns": ["age"], "strategy": "median"}},
        {"filter": "age >= 18 and job in ['unknown', 'b']"},
        {"derive": {"per_year": "balance / (age - 17)", "rich": "balance > 25 or isnull(job)"}},
        {"cast": {"flag": "boolean", "age": "int"}},
        {"rename_columns": {"balance": "money"}},
        {"drop_columns": ["y"]},
    ])
    assert out.to_dict("list") == {"age": [25, 40, 25], "job": ["unknown", "b", "b"], "money": [20.0, 30.0, 40.0],
                                   "flag": [False, True, False], "per_year": [2.5, 30 / 23, 5.0],
                                   "rich": [False, True, True]}
    frame["visits"] = ["1", "2", None, "4"]  # a small-integer column the dataset types as categorical
    [derived] = apply_operations(frame, [{"derive": {"next": "visits + 1"}}])
    assert derived["next"].tolist()[:2] == [2, 3] and pd.isna(derived["next"].iloc[2])
    with pytest.raises(PrepError, match="'job' is not numeric \\(e.g. 'a'\\); arithmetic needs numbers"):
        apply_operations(frame, [{"derive": {"x": "job * 2"}}])
    [kept] = apply_operations(frame, [{"keep_columns": ["y", "age"]}])
    assert list(kept.columns) == ["y", "age"]


def test_split_gives_train_and_test(frame):
    big = pd.concat([frame] * 5, ignore_index=True)
    train, test = apply_operations(big, [{"split": {"test_size": 0.2, "random_state": 0, "stratify": "y"}}])
    assert (len(train), len(test)) == (16, 4) and test["y"].tolist().count(1) == 2


@pytest.mark.parametrize("expression, message", [
    ("__import__('os')", "only the functions"),
    ("age.real", "Attribute is not allowed"),
    ("[x for x in age]", "ListComp is not allowed"),
    ("salary > 3", "'salary' is not a column"),
    ("age >", "is not a valid expression"),
])
def test_unsafe_or_wrong_expressions_are_refused(frame, expression, message):
    with pytest.raises(PrepError, match=message):
        evaluate(expression, frame, "[0].filter")


def test_operation_errors_say_where_and_what(frame):
    with pytest.raises(PrepError) as info:
        apply_operations(frame, [{"drop_columns": ["nope"]}])
    assert (info.value.where, info.value.message) == ("[0].drop_columns", "column 'nope' is not in the data; columns "
                                                      "are ['age', 'job', 'balance', 'flag', 'y']")
    with pytest.raises(PrepError, match=r"^\[0\]\.cast\.job: 3 value\(s\) are not float, e\.g\. 'a'$"):
        apply_operations(frame, [{"cast": {"job": "float"}}])
    with pytest.raises(PrepError, match="no row satisfies"):
        apply_operations(frame, [{"filter": "age > 100"}])
    with pytest.raises(PrepError, match="split must be the last operation"):
        apply_operations(frame, [{"split": {"test_size": 0.5}}, {"drop_columns": ["y"]}])
    with pytest.raises(PrepError, match="not numeric; mean needs numbers"):
        apply_operations(frame, [{"fill_missing": {"columns": ["job"], "strategy": "mean"}}])
