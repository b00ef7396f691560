"""The no-code prep step: column and row operations on a DataFrame, and a safe expression language for
filters and derived columns.

Operations (a list, applied in order)::

    - drop_columns: [duration]
    - keep_columns: [age, job, y]
    - rename_columns: {emp.var.rate: emp_var_rate}
    - filter: "age >= 18 and job != 'unknown'"
    - fill_missing: {columns: [job], value: unknown}        # or strategy: mean | median | most_frequent
    - cast: {age: int, pdays: float, y: string}             # int, float, string, boolean, datetime
    - derive: {balance_per_year: "balance / (age - 17)"}
    - split: {test_size: 0.2, random_state: 0, stratify: y}  # last; two outputs: train, then test

Expressions are parsed with :mod:`ast` and only numbers, strings, column names, arithmetic
(``+ - * / // % **``), comparisons, ``and``/``or``/``not``, ``in [...]`` and the functions ``isnull``,
``notnull``, ``abs``, ``log``, ``sqrt``, ``round`` are allowed: no attribute access, no calls to anything
else, so a pipeline author cannot run code on the worker.
"""
from __future__ import annotations

import ast
import operator
from typing import Any

import numpy as np
import pandas as pd

OPERATIONS = ("drop_columns", "keep_columns", "rename_columns", "filter", "fill_missing", "cast", "derive", "split")
CAST_TYPES = ("int", "float", "string", "boolean", "datetime")
FILL_STRATEGIES = ("mean", "median", "most_frequent")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_FUNCTIONS = {"isnull": lambda s: pd.isna(s), "notnull": lambda s: pd.notna(s), "abs": np.abs, "log": np.log,
              "sqrt": np.sqrt, "round": np.round}


class PrepError(ValueError):
    """A bad operation: ``where`` is its position (``[2].filter``), ``message`` what is wrong and the fix."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def check_operations(operations: Any) -> None:
    """Check the shape of the operations without data (at submit time)."""
    if operations is None:
        raise PrepError("", "list the operations, e.g. [{drop_columns: [duration]}]")
    if not isinstance(operations, list):
        raise PrepError("", "must be a list of one-key mappings like {drop_columns: [a, b]}")
    for i, op in enumerate(operations):
        where = f"[{i}]"
        if not isinstance(op, dict) or len(op) != 1:
            raise PrepError(where, f"each operation is one mapping like {{filter: 'age > 18'}}; got {op!r}")
        name, arg = next(iter(op.items()))
        if name not in OPERATIONS:
            raise PrepError(f"{where}.{name}", f"unknown operation; use one of {list(OPERATIONS)}")
        where = f"{where}.{name}"
        if name == "split" and i != len(operations) - 1:
            raise PrepError(where, "split must be the last operation")
        if name in ("drop_columns", "keep_columns") and not (isinstance(arg, list) and arg or isinstance(arg, str)):
            raise PrepError(where, "name one or more columns")
        if name in ("rename_columns", "cast", "derive") and not (isinstance(arg, dict) and arg):
            raise PrepError(where, "a mapping of column name to " + {"rename_columns": "new name", "cast": "type",
                                                                      "derive": "expression"}[name])
        if name == "cast":
            for column, kind in arg.items():
                if kind not in CAST_TYPES:
                    raise PrepError(f"{where}.{column}", f"{kind!r} is not a type; use one of {list(CAST_TYPES)}")
        if name in ("filter", "derive"):
            for key, expression in ({"": arg} if name == "filter" else arg).items():
                _parse(expression, f"{where}.{key}" if key else where)
        if name == "fill_missing":
            if not isinstance(arg, dict) or ("value" in arg) == ("strategy" in arg):
                raise PrepError(where, "give either value: X or strategy: mean|median|most_frequent (and optionally "
                                       "columns: [...])")
            if "strategy" in arg and arg["strategy"] not in FILL_STRATEGIES:
                raise PrepError(f"{where}.strategy", f"use one of {list(FILL_STRATEGIES)}")
        if name == "split":
            size = (arg or {}).get("test_size") if isinstance(arg, dict) else None
            if not isinstance(size, (int, float)) or not 0 < size < 1:
                raise PrepError(f"{where}.test_size", "a fraction strictly between 0 and 1, e.g. 0.2")


def apply_operations(frame: pd.DataFrame, operations: list[dict]) -> list[pd.DataFrame]:
    """The result of the operations: one frame, or two (train, test) when the last one is a split."""
    check_operations(operations)
    df = frame.copy()
    for i, op in enumerate(operations):
        name, arg = next(iter(op.items()))
        where = f"[{i}].{name}"
        if name == "drop_columns":
            df = df.drop(columns=_columns(df, arg, where))
        elif name == "keep_columns":
            df = df[_columns(df, arg, where)]
        elif name == "rename_columns":
            _columns(df, list(arg), where)
            df = df.rename(columns={str(k): str(v) for k, v in arg.items()})
        elif name == "filter":
            mask = evaluate(arg, df, where)
            if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask):
                raise PrepError(where, "the condition must be true or false for each row (a comparison)")
            df = df[mask.fillna(False)].reset_index(drop=True)
            if df.empty:
                raise PrepError(where, f"no row satisfies {arg!r}; the output would be empty")
        elif name == "fill_missing":
            columns = _columns(df, arg.get("columns") or list(df.columns), where)
            for column in columns:
                if "value" in arg:
                    df[column] = df[column].fillna(arg["value"])
                elif arg["strategy"] == "most_frequent":
                    mode = df[column].mode(dropna=True)
                    if len(mode):
                        df[column] = df[column].fillna(mode.iloc[0])
                else:
                    if not pd.api.types.is_numeric_dtype(df[column]):
                        raise PrepError(where, f"column {column!r} is not numeric; {arg['strategy']} needs numbers "
                                               "(use most_frequent or a value)")
                    df[column] = df[column].fillna(getattr(df[column], arg["strategy"])())
        elif name == "cast":
            for column, kind in arg.items():
                _columns(df, [column], where)
                df[column] = _cast(df[column], kind, f"{where}.{column}")
        elif name == "derive":
            for column, expression in arg.items():
                value = evaluate(expression, df, f"{where}.{column}")
                df[str(column)] = value if isinstance(value, pd.Series) else pd.Series([value] * len(df))
        elif name == "split":
            from sklearn.model_selection import train_test_split

            stratify = arg.get("stratify")
            if stratify is not None:
                _columns(df, [stratify], f"{where}.stratify")
            train, test = train_test_split(df, test_size=arg["test_size"], random_state=arg.get("random_state", 0),
                                           stratify=df[stratify] if stratify else None)
            return [train.reset_index(drop=True), test.reset_index(drop=True)]
    return [df.reset_index(drop=True)]


def _columns(df: pd.DataFrame, names: Any, where: str) -> list[str]:
    names = [names] if isinstance(names, str) else [str(n) for n in names]
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise PrepError(where, f"column {missing[0]!r} is not in the data; columns are {list(df.columns)}")
    return names


def _cast(series: pd.Series, kind: str, where: str) -> pd.Series:
    present = series.notna()
    if kind == "string":
        return series.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    if kind in ("int", "float"):
        numbers = pd.to_numeric(series, errors="coerce")
        bad = present & numbers.isna()
        if kind == "int":
            bad |= present & numbers.notna() & (numbers % 1 != 0)
        if bad.any():
            raise PrepError(where, f"{int(bad.sum())} value(s) are not {kind}, e.g. {series[bad].iloc[0]!r}")
        return numbers.astype("Int64") if kind == "int" and numbers.isna().any() else numbers.astype(
            "int64" if kind == "int" else float)
    if kind == "boolean":
        text = series.map(lambda v: v if pd.isna(v) else str(v).strip().lower())
        mapping = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        bad = present & ~text.isin(list(mapping))
        if bad.any():
            raise PrepError(where, f"{series[bad].iloc[0]!r} is not a boolean (true/false, yes/no, 1/0)")
        return text.map(mapping).astype("boolean")
    converted = pd.to_datetime(series, errors="coerce")
    bad = present & converted.isna()
    if bad.any():
        raise PrepError(where, f"{series[bad].iloc[0]!r} is not a date")
    return converted


def _parse(expression: Any, where: str) -> ast.Expression:
    if not isinstance(expression, str) or not expression.strip():
        raise PrepError(where, "an expression is a non-empty string like \"age >= 18\"")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise PrepError(where, f"{expression!r} is not a valid expression: {exc.msg}") from None
    for node in ast.walk(tree):
        allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
                   ast.BinOp, ast.Compare, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.In, ast.NotIn,
                   ast.Call, *_BINARY, *_COMPARE)
        if not isinstance(node, allowed):
            raise PrepError(where, f"{type(node).__name__} is not allowed in an expression; use columns, numbers, "
                                   "strings, arithmetic, comparisons, and/or/not, in [...] and "
                                   f"{sorted(_FUNCTIONS)}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                                               and not node.keywords and len(node.args) == 1):
            raise PrepError(where, f"only the functions {sorted(_FUNCTIONS)} with one argument may be called")
    return tree


def _numeric(value: Any, node: ast.AST, where: str) -> Any:
    """Numbers for arithmetic: a text column holding numbers (a small-integer column the dataset types as
    categorical) is converted; one holding anything else is an error naming it."""
    if isinstance(value, pd.Series) and not pd.api.types.is_numeric_dtype(value):
        numbers = pd.to_numeric(value, errors="coerce")
        bad = value.notna() & numbers.isna()
        if bad.any():
            raise PrepError(where, f"{ast.unparse(node)!r} is not numeric (e.g. {value[bad].iloc[0]!r}); arithmetic "
                                   "needs numbers")
        return numbers
    return value


def evaluate(expression: str, df: pd.DataFrame, where: str = "") -> Any:
    """The value of a safe expression over ``df``'s columns (a Series, or a scalar for a constant)."""
    tree = _parse(expression, where)
    columns = {str(c): df[c] for c in df.columns}

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in columns:
                return columns[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            raise PrepError(where, f"{node.id!r} is not a column; columns are {list(columns)} (quote text: "
                                   f"'{node.id}')")
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            if isinstance(node.op, ast.Not):
                return ~value if isinstance(value, pd.Series) else not value
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if not (isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str)):
                left, right = _numeric(left, node.left, where), _numeric(right, node.right, where)
            try:
                return _BINARY[type(node.op)](left, right)
            except TypeError as exc:
                raise PrepError(where, f"cannot compute {ast.unparse(node)!r}: {exc}") from None
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            result = values[0]
            for v in values[1:]:
                result = (result & v) if isinstance(node.op, ast.And) else (result | v)
            return result
        if isinstance(node, ast.Compare):
            left, result = ev(node.left), None
            for op, comparator in zip(node.ops, node.comparators):
                right = ev(comparator)
                if isinstance(op, (ast.In, ast.NotIn)):
                    part = left.isin(right) if isinstance(left, pd.Series) else left in right
                    part = ~part if isinstance(op, ast.NotIn) else part
                else:
                    try:
                        part = _COMPARE[type(op)](left, right)
                    except TypeError as exc:
                        raise PrepError(where, f"cannot compare in {ast.unparse(node)!r}: {exc}") from None
                result = part if result is None else (result & part)
                left = right
            return result
        if isinstance(node, ast.Call):
            return _FUNCTIONS[node.func.id](ev(node.args[0]))
        raise PrepError(where, f"{type(node).__name__} is not allowed")

    return ev(tree)
