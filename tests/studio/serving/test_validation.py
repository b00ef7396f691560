"""Payload validation against an input schema, without a model: every kind of column and problem."""
import gc
import math

import pytest

from studio.serving.runtime import (PayloadError, choose_by_traffic, collector_paused, columns_from_records,
                                    traffic_bucket)

SCHEMA = [{"name": "n", "type": "Numeric"}, {"name": "c", "type": "Categorical"},
          {"name": "d", "type": "DateTime"}, {"name": "t", "type": "Text"}]


def test_valid_rows_become_typed_columns():
    frame = columns_from_records([{"n": 1, "c": "a", "d": "2024-05-31", "t": "hello"},
                                  {"n": None, "c": True, "d": None, "t": None}], SCHEMA, 10).frame()
    assert list(frame.columns) == ["n", "c", "d", "t"]
    assert frame["n"].dtype == "float64" and frame["n"][0] == 1.0 and math.isnan(frame["n"][1])
    assert list(frame["c"]) == ["a", True]


def test_rows_are_read_alike_whatever_the_order_of_their_columns():
    same_order = [{"n": 1, "c": "a", "d": "2024-05-31", "t": "x"}, {"n": 2.5, "c": None, "d": None, "t": "y"}]
    mixed_order = [same_order[0], {"t": "y", "d": None, "c": None, "n": 2.5}]
    reordered = [dict(reversed(list(row.items()))) for row in same_order]
    frames = [columns_from_records(rows, SCHEMA, 10).frame() for rows in (same_order, mixed_order, reordered)]
    for frame in frames:
        assert list(frame.columns) == ["n", "c", "d", "t"]
        assert frame["n"].tolist() == [1.0, 2.5] and frame["t"].tolist() == ["x", "y"]
        assert frame["c"][0] == "a" and frame["c"].isna()[1] and frame["d"][0] == "2024-05-31"


def test_every_wrong_value_is_reported_with_row_and_column():
    rows = [{"n": True, "c": [1], "d": "not a date", "t": 5},
            {"n": float("inf"), "c": "x", "d": "2024-01-01", "t": "ok"}]
    with pytest.raises(PayloadError) as info:
        columns_from_records(rows, SCHEMA, 10)
    assert info.value.errors == [
        {"row": 0, "column": "n", "message": "expects a number (or null), got boolean True"},
        {"row": 0, "column": "c", "message": "expects a string, number or boolean (or null), got array [1]"},
        {"row": 0, "column": "d", "message": "expects a date such as 2024-05-31, got 'not a date'"},
        {"row": 0, "column": "t", "message": "expects a string (or null), got number 5"},
    ]
    rows[0] = {"n": 1, "c": "a", "d": None, "t": None}
    with pytest.raises(PayloadError) as info:
        columns_from_records(rows, SCHEMA, 10)
    assert info.value.errors == [{"row": 1, "column": "n", "message": "infinite number; send a finite number or null"}]


def test_row_limit_and_error_list_cap():
    with pytest.raises(PayloadError, match="3 rows is more than the 2 allowed"):
        columns_from_records([{}] * 3, SCHEMA, 2)
    with pytest.raises(PayloadError) as info:
        columns_from_records([{}] * 50, SCHEMA, 100)
    assert len(info.value.errors) == 100 and info.value.total == 200
    assert info.value.as_dict()["errors_total"] == 200


def test_traffic_choice_is_deterministic_and_follows_weights():
    class D:
        def __init__(self, name, traffic_percent):
            self.name, self.traffic_percent = name, traffic_percent

    deployments = [D("blue", 90), D("green", 10)]
    picks = [choose_by_traffic(deployments, f"r{i}").name for i in range(2000)]
    assert picks == [choose_by_traffic(deployments, f"r{i}").name for i in range(2000)]
    assert picks.count("green") == sum(1 for i in range(2000) if traffic_bucket(f"r{i}") >= 90)
    assert 150 <= picks.count("green") <= 250
    assert choose_by_traffic([D("blue", 0)], "x") is None


def test_the_collector_is_paused_and_resumed_only_if_it_was_running():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        with collector_paused():
            1 / 0
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
