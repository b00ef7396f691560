"""Reading Azure ML ``MLTable`` files into a DataFrame, without any Azure package.

An MLTable is a folder holding a YAML file named ``MLTable`` (CLI v2 schema ``type: mltable``)::

    paths:
      - file: ./train.csv            # one file
      - folder: ./more               # every file under a folder (recursively)
      - pattern: ./parts/*.csv       # a glob (``*``, ``?``, ``[a-z]``, ``**``)
    transformations:
      - read_delimited: {delimiter: ';', header: all_files_same_headers, encoding: utf8, empty_as_string: false}
      - drop_columns: [id]
      - convert_column_types:
          - {columns: [age], column_type: int}
      - take: 1000

Paths are relative to the MLTable file's folder (they may point outside it, ``../data/x.csv``); only local
paths are read. The first transformation reads the files (``read_delimited``, ``read_parquet`` or
``read_json_lines``); then ``drop_columns``, ``keep_columns``, ``convert_column_types``, ``skip`` and
``take`` apply in order. Every other transformation (``filter``, ``take_random_sample``,
``extract_columns_from_partition_format``, ``read_delta_lake``, ...) is refused with a :class:`ConfigError`
naming it, so a table never loads silently different from what Azure would load.
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import yaml

from .config import ConfigError

MLTABLE_FILE = "MLTable"

# MLTable encoding names -> Python codec names.
ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "iso88591": "iso-8859-1", "latin1": "latin-1", "ascii": "ascii",
             "utf16": "utf-16", "utf32": "utf-32", "utf8bom": "utf-8-sig", "windows1252": "cp1252"}
HEADERS = ("no_header", "from_first_file", "all_files_same_headers", "all_files_different_headers")
READERS = ("read_delimited", "read_parquet", "read_json_lines")
COLUMN_TRANSFORMS = ("drop_columns", "keep_columns", "convert_column_types", "skip", "take")
SIMPLE_TYPES = ("int", "float", "string", "boolean", "datetime")
READ_DELIMITED_KEYS = ("delimiter", "header", "encoding", "empty_as_string", "include_path_column",
                       "infer_column_types", "support_multi_line")
_REMOTE_PREFIXES = ("azureml:", "azureml://", "http://", "https://", "wasbs://", "wasb://", "abfss://", "abfs://",
                    "adl://", "s3://", "gs://")


def is_mltable(path: str | Path) -> bool:
    """True when ``path`` is an MLTable file or a folder holding one."""
    p = Path(path)
    return (p.is_dir() and (p / MLTABLE_FILE).is_file()) or (p.is_file() and p.name == MLTABLE_FILE)


def load_mltable(path: str | Path, setting: str = "training_data") -> pd.DataFrame:
    """The DataFrame an MLTable (its folder or the ``MLTable`` file itself) describes.

    Raises :class:`ConfigError` (``setting`` names the job setting that pointed here) for a malformed file,
    a missing data file or an unsupported transformation, saying what to change.
    """
    p = Path(path)
    file = p / MLTABLE_FILE if p.is_dir() else p
    if not file.is_file():
        raise ConfigError(setting, f"{p} holds no MLTable file; an MLTable folder needs a YAML file named "
                                   f"'{MLTABLE_FILE}' describing its paths and transformations")
    try:
        spec = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(setting, f"{file} is not valid YAML: {exc}") from None
    if not isinstance(spec, Mapping):
        raise ConfigError(setting, f"{file} must be a mapping with 'paths' and 'transformations'")
    if spec.get("type", "mltable") != "mltable":
        raise ConfigError(setting, f"{file}: type must be 'mltable', got {spec.get('type')!r}")
    files = resolve_paths(spec.get("paths"), file.parent, f"{setting} ({file})")
    steps = _steps(spec.get("transformations"), f"{setting} ({file})")
    return apply_transformations(files, steps, f"{setting} ({file})")


def resolve_paths(paths: Any, base: Path, where: str) -> list[Path]:
    """The data files ``paths`` names, in order, each once."""
    if not paths:
        raise ConfigError(where, "'paths' is required: a list of {file: ...}, {folder: ...} or {pattern: ...}")
    if not isinstance(paths, Sequence) or isinstance(paths, str):
        raise ConfigError(where, "'paths' must be a list of {file: ...}, {folder: ...} or {pattern: ...}")
    found: list[Path] = []
    for entry in paths:
        if not isinstance(entry, Mapping) or len(set(entry) & {"file", "folder", "pattern"}) != 1:
            raise ConfigError(where, f"each entry of 'paths' needs exactly one of file, folder or pattern; "
                                     f"got {entry!r}")
        kind = next(k for k in ("file", "folder", "pattern") if k in entry)
        value = str(entry[kind])
        if value.startswith(_REMOTE_PREFIXES):
            raise ConfigError(where, f"{kind} {value!r} is a cloud URI; only local paths are read here. Download "
                                     "the data next to the MLTable file and use a relative path")
        value = value[len("file://"):] if value.startswith("file://") else value
        target = Path(value) if Path(value).is_absolute() else base / value
        if kind == "file":
            if not target.is_file():
                raise ConfigError(where, f"file {value!r} does not exist (looked for {target})")
            matches = [target]
        elif kind == "folder":
            if not target.is_dir():
                raise ConfigError(where, f"folder {value!r} does not exist (looked for {target})")
            matches = sorted(f for f in target.rglob("*") if f.is_file() and f.name != MLTABLE_FILE
                             and not f.name.startswith("."))
        else:
            matches = sorted(Path(f) for f in glob.glob(str(target), recursive=True) if Path(f).is_file())
        if not matches:
            raise ConfigError(where, f"{kind} {value!r} matches no file")
        found.extend(m for m in matches if m not in found)
    return found


def _steps(transformations: Any, where: str) -> list[tuple[str, Any]]:
    if transformations is None:
        raise ConfigError(where, "no 'transformations': add a read_delimited, read_parquet or read_json_lines "
                                 "transformation to say how to read the files")
    if not isinstance(transformations, Sequence) or isinstance(transformations, str):
        raise ConfigError(where, "'transformations' must be a list")
    steps = []
    for item in transformations:
        if isinstance(item, str):
            steps.append((item, None))
        elif isinstance(item, Mapping) and len(item) == 1:
            steps.append(next(iter(item.items())))
        else:
            raise ConfigError(where, f"each transformation is one mapping like {{take: 10}}; got {item!r}")
    for name, _ in steps:
        if name not in READERS + COLUMN_TRANSFORMS:
            raise ConfigError(where, f"transformation {name!r} is not supported here; supported: "
                                     f"{list(READERS + COLUMN_TRANSFORMS)}. Apply it before creating the "
                                     "MLTable, or use a prep step")
    if not steps or steps[0][0] not in READERS:
        raise ConfigError(where, f"the first transformation must read the files: one of {list(READERS)}")
    for name, _ in steps[1:]:
        if name in READERS:
            raise ConfigError(where, f"{name!r} may only be the first transformation")
    return steps


def apply_transformations(files: list[Path], steps: list[tuple[str, Any]], where: str) -> pd.DataFrame:
    """Read ``files`` with the first step, then apply the others in order."""
    reader, options = steps[0]
    if reader == "read_delimited":
        df = read_delimited(files, options or {}, where)
    elif reader == "read_parquet":
        df = _read_each(files, options or {}, where, reader,
                        lambda f: pd.read_parquet(f))
    else:
        df = _read_each(files, options or {}, where, reader,
                        lambda f: pd.read_json(f, lines=True))
    for name, arg in steps[1:]:
        step_where = f"{where}: {name}"
        if name == "drop_columns":
            columns = _columns(arg, df, step_where)
            df = df.drop(columns=columns)
        elif name == "keep_columns":
            columns = _columns(arg, df, step_where)
            df = df[columns]
        elif name == "convert_column_types":
            df = convert_column_types(df, arg, step_where)
        elif name in ("take", "skip"):
            if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
                raise ConfigError(step_where, f"needs a whole number of rows (>= 0), got {arg!r}")
            df = df.head(arg) if name == "take" else df.iloc[arg:]
    return df.reset_index(drop=True)


def read_delimited(files: list[Path], options: Mapping[str, Any], where: str) -> pd.DataFrame:
    """``read_delimited``: delimiter, header, encoding, empty_as_string, include_path_column,
    infer_column_types, support_multi_line (quoted line breaks are always honoured)."""
    where = f"{where}: read_delimited"
    if not isinstance(options, Mapping):
        raise ConfigError(where, f"options must be a mapping, got {options!r}")
    unknown = sorted(set(options) - set(READ_DELIMITED_KEYS))
    if unknown:
        raise ConfigError(where, f"unknown option {unknown[0]!r}; known: {list(READ_DELIMITED_KEYS)}")
    delimiter = str(options.get("delimiter", ","))
    if not delimiter:
        raise ConfigError(where, "delimiter must not be empty")
    encoding_name = str(options.get("encoding", "utf8")).lower()
    if encoding_name not in ENCODINGS:
        raise ConfigError(where, f"unknown encoding {encoding_name!r}; use one of {sorted(ENCODINGS)}")
    header = options.get("header", "all_files_same_headers")
    if header not in HEADERS:
        raise ConfigError(where, f"unknown header {header!r}; use one of {list(HEADERS)}")
    # MLTable reads an empty field as null, and nothing else ("NA", "null" stay text) unless asked otherwise.
    empty_as_string = bool(options.get("empty_as_string", False))
    infer = bool(options.get("infer_column_types", True))
    frames = []
    first_columns: list[str] = []
    for i, f in enumerate(files):
        has_header = header in ("all_files_same_headers", "all_files_different_headers") or (
            header == "from_first_file" and i == 0)
        try:
            part = pd.read_csv(f, sep=delimiter, encoding=ENCODINGS[encoding_name],
                               header=0 if has_header else None, dtype=str, keep_default_na=False,
                               na_values=[] if empty_as_string else [""], engine="python" if len(delimiter) > 1
                               else "c")
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ConfigError(where, f"cannot read {f.name}: {exc}") from None
        if not has_header:
            if frames and header == "from_first_file":
                if part.shape[1] != len(first_columns):
                    raise ConfigError(where, f"{f.name} has {part.shape[1]} columns but the first file has "
                                             f"{len(first_columns)}")
                part.columns = first_columns
            else:
                part.columns = [f"Column{j + 1}" for j in range(part.shape[1])]
        elif header == "all_files_same_headers" and frames and list(part.columns) != first_columns:
            raise ConfigError(where, f"{f.name} has different column names than {files[0].name}; use "
                                     "header: all_files_different_headers")
        if not frames:
            first_columns = list(part.columns)
        if options.get("include_path_column"):
            part["Path"] = str(f)
        frames.append(part)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if empty_as_string:
        df = df.fillna("")
    if infer:
        df = _infer_types(df)
    return df


def _infer_types(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers become numbers and true/false become booleans, as MLTable's type inference does; other
    columns stay text."""
    out = {}
    for name in df.columns:
        col = df[name]
        present = col.dropna()
        converted = pd.to_numeric(present, errors="coerce")
        if len(present) and converted.notna().all() and (present != "").all():
            out[name] = pd.to_numeric(col)
            continue
        lowered = present.str.lower()
        if len(present) and lowered.isin(["true", "false"]).all():
            out[name] = col.str.lower().map({"true": True, "false": False})
            continue
        out[name] = col
    return pd.DataFrame(out, columns=df.columns)


def _read_each(files: list[Path], options: Any, where: str, name: str, read) -> pd.DataFrame:
    if options and not isinstance(options, Mapping):
        raise ConfigError(f"{where}: {name}", f"options must be a mapping, got {options!r}")
    unknown = sorted(set(options or {}) - {"include_path_column", "path_column", "invalid_lines", "encoding"})
    if unknown:
        raise ConfigError(f"{where}: {name}", f"unknown option {unknown[0]!r}")
    frames = []
    for f in files:
        try:
            part = read(f)
        except Exception as exc:  # pyarrow/json raise many types; each means "this file is not readable"
            raise ConfigError(f"{where}: {name}", f"cannot read {f.name}: {exc}") from None
        if (options or {}).get("include_path_column"):
            part["Path"] = str(f)
        frames.append(part)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _columns(arg: Any, df: pd.DataFrame, where: str) -> list[str]:
    columns = [arg] if isinstance(arg, str) else list(arg or [])
    if not columns:
        raise ConfigError(where, "name at least one column")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(where, f"column {missing[0]!r} is not in the table; columns are {list(df.columns)}")
    return columns


def convert_column_types(df: pd.DataFrame, conversions: Any, where: str) -> pd.DataFrame:
    """``convert_column_types``: a list of ``{columns: name or [names], column_type: T}`` where T is ``int``,
    ``float``, ``string``, ``boolean``, ``datetime``, ``{boolean: {true_values, false_values, mismatch_as}}``
    or ``{datetime: {formats: [...]}}``. A value that does not convert is an error naming the column."""
    if not isinstance(conversions, Sequence) or isinstance(conversions, str):
        raise ConfigError(where, "expects a list of {columns: ..., column_type: ...}")
    df = df.copy()
    for conversion in conversions:
        if not isinstance(conversion, Mapping) or "columns" not in conversion or "column_type" not in conversion:
            raise ConfigError(where, f"each entry needs 'columns' and 'column_type'; got {conversion!r}")
        kind = conversion["column_type"]
        params: Mapping[str, Any] = {}
        if isinstance(kind, Mapping):
            if len(kind) != 1:
                raise ConfigError(where, f"column_type must name one type; got {kind!r}")
            kind, params = next(iter(kind.items()))
            params = params or {}
        if kind not in SIMPLE_TYPES:
            raise ConfigError(where, f"column_type {kind!r} is not supported; use one of {list(SIMPLE_TYPES)}")
        for column in _columns(conversion["columns"], df, where):
            df[column] = _convert(df[column], kind, params, f"{where} ({column})")
    return df


def _convert(col: pd.Series, kind: str, params: Mapping[str, Any], where: str) -> pd.Series:
    present = col.notna()
    if kind == "string":
        return col.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    if kind in ("int", "float"):
        numbers = pd.to_numeric(col, errors="coerce")
        bad = present & numbers.isna()
        if kind == "int":
            bad |= present & numbers.notna() & (numbers % 1 != 0)
        _raise_bad(col, bad, kind, where)
        if kind == "float":
            return numbers.astype(float)
        return numbers.astype("int64") if not numbers.isna().any() else numbers.astype("Int64")
    if kind == "boolean":
        true_values = [str(v) for v in params.get("true_values", ["true", "True", "TRUE", "1"])]
        false_values = [str(v) for v in params.get("false_values", ["false", "False", "FALSE", "0"])]
        mismatch = params.get("mismatch_as", "error")
        if mismatch not in ("true", "false", "error", True, False):
            raise ConfigError(where, f"mismatch_as must be true, false or error; got {mismatch!r}")
        text = col.map(lambda v: v if pd.isna(v) else (str(v).lower() if isinstance(v, bool) else str(v)))
        result = pd.Series(pd.NA, index=col.index, dtype="boolean")
        result[text.isin(true_values)] = True
        result[text.isin(false_values)] = False
        unmatched = present & result.isna()
        if unmatched.any():
            if mismatch == "error":
                _raise_bad(col, unmatched, "boolean", where)
            result[unmatched] = mismatch in ("true", True)
        return result
    formats = params.get("formats") or [None]
    formats = [formats] if isinstance(formats, str) else list(formats)
    result = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = present & result.isna()
        if not todo.any():
            break
        result[todo] = pd.to_datetime(col[todo].astype(str), format=fmt, errors="coerce")
    _raise_bad(col, present & result.isna(), f"datetime (formats {formats})", where)
    return result


def _raise_bad(col: pd.Series, bad: pd.Series, kind: str, where: str) -> None:
    if bad.any():
        sample = col[bad].iloc[0]
        sample = sample.item() if hasattr(sample, "item") else sample  # numpy scalar -> plain repr
        raise ConfigError(where, f"{int(bad.sum())} value(s) do not convert to {kind}, e.g. {sample!r} in row "
                                 f"{int(bad.idxmax())}")
