"""Payload validation against an input schema, without a model: every kind of column and problem."""
import gc
import json
import math

import numpy as np
import pytest

from studio.serving.runtime import (LoadedModel, MalformedBody, PayloadError, RecordsDecoder, choose_by_traffic,
                                    collector_paused, columns_from_body, columns_from_records, traffic_bucket)

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


def test_missing_columns_and_wrong_values_are_reported_in_one_answer():
    rows = [{"n": "ten", "c": "a", "d": None}, {"c": [1], "d": "2024-01-01", "t": "ok", "extra": 1}]
    with pytest.raises(PayloadError) as info:
        columns_from_records(rows, SCHEMA, 10)
    assert info.value.errors == [
        {"row": 0, "column": "n", "message": "expects a number (or null), got string 'ten'"},
        {"row": 0, "column": "t", "message": "missing column; send null if the value is unknown"},
        {"row": 1, "column": "n", "message": "missing column; send null if the value is unknown"},
        {"row": 1, "column": "c", "message": "expects a string, number or boolean (or null), got array [1]"},
        {"row": 1, "column": "extra", "message": "unknown column; the model's input columns are listed in its schema"},
    ]
    assert info.value.total == 5 and str(info.value).startswith(
        "The input does not match the model's schema: 5 problems with a column or value.")


def test_row_limit_and_error_list_cap():
    with pytest.raises(PayloadError, match="3 rows is more than the 2 allowed"):
        columns_from_records([{}] * 3, SCHEMA, 2)
    with pytest.raises(PayloadError) as info:
        columns_from_records([{}] * 50, SCHEMA, 100)
    assert len(info.value.errors) == 100 and info.value.total == 200
    assert info.value.as_dict()["errors_total"] == 200


def _values(array) -> list:
    return ["nan" if isinstance(v, float) and math.isnan(v) else v for v in array.tolist()]


def test_typed_decoding_gives_the_columns_that_parsing_and_checking_give():
    rows = [{"n": 1, "c": "a", "d": "2024-05-31", "t": "héllo"},
            {"t": None, "d": None, "c": 7, "n": 2.5},
            {"n": None, "c": True, "d": "2024-06-01T10:00:00", "t": ""},
            {"n": -3e-5, "c": 1.5, "d": None, "t": "x"},
            {"n": 12345678901234567890, "c": None, "d": None, "t": "y"}]
    body = json.dumps({"data": rows, "ignored": 1}).encode()
    fast = RecordsDecoder(SCHEMA).columns(body, 10)
    slow = columns_from_records(rows, SCHEMA, 10)
    assert fast is not None and fast.columns == slow.columns == ["n", "c", "d", "t"] and len(fast) == len(slow) == 5
    for name in SCHEMA:
        assert fast[name["name"]].dtype == slow[name["name"]].dtype
        assert _values(fast[name["name"]]) == _values(slow[name["name"]])
    assert _values(fast["n"]) == [1.0, 2.5, "nan", -3e-5, 1.2345678901234567e19]
    assert [type(v).__name__ for v in fast["c"]] == ["str", "int", "bool", "float", "NoneType"]


@pytest.mark.parametrize("body", [
    b'{"data": [{"n": 1, "c": "a", "d": null}]}',                           # missing column
    b'{"data": [{"n": 1, "c": "a", "d": null, "t": null, "u": 2}]}',       # unknown column
    b'{"data": [{"n": true, "c": "a", "d": null, "t": null}]}',            # boolean for a number
    b'{"data": [{"n": 1, "c": [1], "d": null, "t": null}]}',               # array for a category
    b'{"data": [{"n": 1, "c": "a", "d": 5, "t": null}]}',                  # number for a date
    b'{"data": [{"n": NaN, "c": "a", "d": null, "t": null}]}',             # not JSON, but Python's json reads it
    b'{"data": [7]}', b'{"data": {"n": 1}}', b'{"data": []}', b'{"rows": []}', b'[]', b'{not json', b'',
    b'{"data": [{"n": 1, "c": "a", "d": null, "t": null}, {"n": 1, "c": "a", "d": null, "t": null}, '
    b'{"n": 1, "c": "a", "d": null, "t": null}]}',                          # more rows than allowed
])
def test_what_the_decoder_refuses_is_read_and_reported_as_before(body):
    model = LoadedModel(1, "0" * 64, None, SCHEMA, None)
    assert model.decoder.columns(body, 2) is None

    try:
        payload = json.loads(body or b"null")  # an empty body reads as null: no "data"
    except ValueError:
        with pytest.raises(MalformedBody, match="The body is not valid JSON"):
            columns_from_body(body, model, 2)
        return
    if not isinstance(payload, dict) or "data" not in payload:
        with pytest.raises(PayloadError) as info:
            columns_from_body(body, model, 2)
        assert info.value.errors == [{"row": None, "column": None, "message": 'missing "data"'}]
        return
    try:
        expected = columns_from_records(payload["data"], SCHEMA, 2)
    except PayloadError as exc:
        with pytest.raises(PayloadError) as info:
            columns_from_body(body, model, 2)
        assert (str(info.value), info.value.errors) == (str(exc), exc.errors)
        return
    got = columns_from_body(body, model, 2)
    assert _values(got["n"]) == _values(expected["n"]) == ["nan"]


def test_a_well_typed_body_with_a_bad_date_is_reported_by_row_and_column():
    body = b'{"data": [{"n": 1, "c": "a", "d": "2024-05-31", "t": null}, {"n": 2, "c": "b", "d": "soon", "t": null}]}'
    with pytest.raises(PayloadError) as info:
        RecordsDecoder(SCHEMA).columns(body, 10)
    assert info.value.errors == [{"row": 1, "column": "d", "message": "expects a date such as 2024-05-31, got 'soon'"}]


def test_column_names_need_not_be_identifiers():
    schema = [{"name": "emp.var.rate", "type": "Numeric"}, {"name": "day of week", "type": "Categorical"}]
    columns = RecordsDecoder(schema).columns(b'{"data": [{"day of week": "mon", "emp.var.rate": 1.1}]}', 5)
    assert columns.columns == ["emp.var.rate", "day of week"]
    assert columns["emp.var.rate"].tolist() == [1.1] and columns["day of week"].tolist() == ["mon"]


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
