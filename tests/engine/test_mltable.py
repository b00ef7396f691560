"""MLTable files are read as Azure reads them: paths (file, folder, pattern), each reader option, each
column transformation, and a clear error naming every unsupported transformation."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from automl_engine.config import ConfigError
from automl_engine.data import load_frame
from automl_engine.mltable import is_mltable, load_mltable

ROOT = Path(__file__).resolve().parents[2]


def _table(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLTable").write_text(text)
    return folder


def test_semicolon_delimited_file_with_types_inferred(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "data.csv").write_text("age;job;y;flag\n30;admin;no;true\n41;;yes;false\n")
    table = _table(tmp_path / "t", "paths:\n  - file: ./data.csv\ntransformations:\n"
                                   "  - read_delimited:\n      delimiter: ';'\n")
    df = load_mltable(table)
    assert list(df.columns) == ["age", "job", "y", "flag"]
    assert df["age"].tolist() == [30, 41] and pd.api.types.is_integer_dtype(df["age"])
    assert df["job"].iloc[0] == "admin" and pd.isna(df["job"].iloc[1])  # empty field -> null
    assert df["flag"].tolist() == [True, False]


def test_empty_as_string_keeps_empty_fields_and_na_text_is_never_null(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\nx,NA\n,y\n")
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited:\n"
                     "      empty_as_string: true\n")
    df = load_mltable(tmp_path)
    assert df["a"].tolist() == ["x", ""]
    assert df["b"].tolist() == ["NA", "y"]


def test_encoding_latin1(tmp_path):
    (tmp_path / "d.csv").write_bytes("city,n\nZürich,1\n".encode("latin-1"))
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited:\n      encoding: latin1\n")
    assert load_mltable(tmp_path)["city"].tolist() == ["Zürich"]
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited:\n      encoding: utf8\n")
    with pytest.raises(ConfigError, match="cannot read d.csv"):
        load_mltable(tmp_path)


def test_header_modes(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("3,4\n")
    _table(tmp_path, "paths:\n  - file: a.csv\n  - file: b.csv\ntransformations:\n"
                     "  - read_delimited:\n      header: from_first_file\n")
    assert load_mltable(tmp_path).to_dict("list") == {"x": [1, 3], "y": [2, 4]}
    _table(tmp_path, "paths:\n  - file: b.csv\ntransformations:\n  - read_delimited:\n      header: no_header\n")
    assert list(load_mltable(tmp_path).columns) == ["Column1", "Column2"]
    (tmp_path / "c.csv").write_text("y,z\n5,6\n")
    _table(tmp_path, "paths:\n  - file: a.csv\n  - file: c.csv\ntransformations:\n"
                     "  - read_delimited:\n      header: all_files_different_headers\n")
    df = load_mltable(tmp_path)
    assert list(df.columns) == ["x", "y", "z"] and df["y"].tolist() == [2, 5]
    _table(tmp_path, "paths:\n  - file: a.csv\n  - file: c.csv\ntransformations:\n  - read_delimited: {}\n")
    with pytest.raises(ConfigError, match="different column names"):
        load_mltable(tmp_path)


def test_folder_and_pattern_paths_and_paths_outside_the_table_folder(tmp_path):
    data = tmp_path / "data"
    (data / "2024").mkdir(parents=True)
    (data / "jan.csv").write_text("v\n1\n")
    (data / "2024" / "feb.csv").write_text("v\n2\n")
    (data / "notes.txt").write_text("v\n99\n")
    table = _table(tmp_path / "table", "paths:\n  - pattern: ../data/**/*.csv\ntransformations:\n"
                                       "  - read_delimited:\n      include_path_column: true\n")
    df = load_mltable(table)
    assert sorted(df["v"].tolist()) == [1, 2]
    assert all(p.endswith(".csv") for p in df["Path"])
    _table(tmp_path / "table", "paths:\n  - folder: ../data/2024\ntransformations:\n  - read_delimited: {}\n")
    assert load_mltable(tmp_path / "table")["v"].tolist() == [2]
    _table(tmp_path / "table", "paths:\n  - pattern: ../data/*.parquet\ntransformations:\n  - read_delimited: {}\n")
    with pytest.raises(ConfigError, match=r"pattern '../data/\*.parquet' matches no file"):
        load_mltable(tmp_path / "table")
    _table(tmp_path / "table", "paths:\n  - file: azureml://datastores/x/paths/y.csv\n"
                               "transformations:\n  - read_delimited: {}\n")
    with pytest.raises(ConfigError, match="cloud URI; only local paths"):
        load_mltable(tmp_path / "table")


def test_read_parquet_drop_keep_take_skip(tmp_path):
    pd.DataFrame({"a": [1, 2, 3, 4], "b": list("wxyz"), "c": [0.5] * 4}).to_parquet(tmp_path / "p.parquet")
    _table(tmp_path, "paths:\n  - file: p.parquet\ntransformations:\n  - read_parquet\n  - drop_columns: c\n"
                     "  - skip: 1\n  - take: 2\n")
    assert load_mltable(tmp_path).to_dict("list") == {"a": [2, 3], "b": ["x", "y"]}
    _table(tmp_path, "paths:\n  - file: p.parquet\ntransformations:\n  - read_parquet: {}\n"
                     "  - keep_columns: [c, a]\n")
    assert list(load_mltable(tmp_path).columns) == ["c", "a"]
    _table(tmp_path, "paths:\n  - file: p.parquet\ntransformations:\n  - read_parquet: {}\n"
                     "  - keep_columns: [nope]\n")
    with pytest.raises(ConfigError, match="keep_columns: column 'nope' is not in the table"):
        load_mltable(tmp_path)
    _table(tmp_path, "paths:\n  - file: p.parquet\ntransformations:\n  - read_parquet: {}\n  - take: -1\n")
    with pytest.raises(ConfigError, match="take: needs a whole number"):
        load_mltable(tmp_path)


def test_convert_column_types(tmp_path):
    (tmp_path / "d.csv").write_text("n,f,s,b,d,yn\n1,1.5,7,yes,2024-01-31,Y\n2,,8,no,2024-02-29,N\n")
    _table(tmp_path, """paths:
  - file: d.csv
transformations:
  - read_delimited:
      infer_column_types: false
  - convert_column_types:
      - columns: n
        column_type: int
      - columns: [f]
        column_type: float
      - columns: s
        column_type: string
      - columns: b
        column_type:
          boolean:
            true_values: ['yes']
            false_values: ['no']
      - columns: d
        column_type:
          datetime:
            formats: ['%Y-%m-%d']
      - columns: yn
        column_type:
          boolean:
            true_values: ['Y']
            false_values: []
            mismatch_as: 'false'
""")
    df = load_mltable(tmp_path)
    assert df["n"].dtype == "int64" and df["n"].tolist() == [1, 2]
    assert df["f"].iloc[0] == 1.5 and pd.isna(df["f"].iloc[1])
    assert df["s"].tolist() == ["7", "8"]
    assert df["b"].tolist() == [True, False]
    assert df["d"].tolist() == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29")]
    assert df["yn"].tolist() == [True, False]


def test_convert_column_types_refuses_values_that_do_not_convert(tmp_path):
    (tmp_path / "d.csv").write_text("n,b\n1,yes\n2.5,maybe\n")
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited: {}\n"
                     "  - convert_column_types:\n      - {columns: n, column_type: int}\n")
    with pytest.raises(ConfigError, match=r"\(n\): 1 value\(s\) do not convert to int, e.g. 2.5 in row 1"):
        load_mltable(tmp_path)
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited: {}\n"
                     "  - convert_column_types:\n      - {columns: b, column_type: {boolean: "
                     "{true_values: ['yes'], false_values: ['no']}}}\n")
    with pytest.raises(ConfigError, match="do not convert to boolean, e.g. 'maybe'"):
        load_mltable(tmp_path)
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - read_delimited: {}\n"
                     "  - convert_column_types:\n      - {columns: b, column_type: stream_info}\n")
    with pytest.raises(ConfigError, match="column_type 'stream_info' is not supported"):
        load_mltable(tmp_path)


@pytest.mark.parametrize("name", ["filter", "take_random_sample", "extract_columns_from_partition_format",
                                  "read_delta_lake"])
def test_each_unsupported_transformation_is_named(tmp_path, name):
    (tmp_path / "d.csv").write_text("a\n1\n")
    _table(tmp_path, f"paths:\n  - file: d.csv\ntransformations:\n  - read_delimited: {{}}\n  - {name}: x\n")
    with pytest.raises(ConfigError, match=f"transformation '{name}' is not supported here"):
        load_mltable(tmp_path)


def test_a_table_must_start_by_reading_the_files(tmp_path):
    (tmp_path / "d.csv").write_text("a\n1\n")
    _table(tmp_path, "paths:\n  - file: d.csv\ntransformations:\n  - take: 1\n")
    with pytest.raises(ConfigError, match="first transformation must read the files"):
        load_mltable(tmp_path)
    _table(tmp_path, "paths:\n  - file: d.csv\n")
    with pytest.raises(ConfigError, match="no 'transformations'"):
        load_mltable(tmp_path)


def test_load_frame_reads_an_mltable_folder_or_file(tmp_path):
    (tmp_path / "d.csv").write_text("a;b\n1;2\n")
    _table(tmp_path, "type: mltable\npaths:\n  - file: ./d.csv\ntransformations:\n"
                     "  - read_delimited: {delimiter: ';'}\n")
    assert is_mltable(tmp_path) and is_mltable(tmp_path / "MLTable") and not is_mltable(tmp_path / "d.csv")
    assert load_frame(str(tmp_path)).to_dict("list") == {"a": [1], "b": [2]}
    assert load_frame({"type": "mltable", "path": str(tmp_path / "MLTable")}).to_dict("list") == {"a": [1], "b": [2]}


def test_engine_cli_trains_on_an_mltable_with_a_semicolon_delimiter(tmp_path, hardware_df):
    data = tmp_path / "data"
    data.mkdir()
    hardware_df.to_csv(data / "machines.csv", sep=";", index=False)
    _table(tmp_path / "train", "paths:\n  - file: ../data/machines.csv\ntransformations:\n"
                               "  - read_delimited: {delimiter: ';'}\n  - drop_columns: [ERP]\n")
    (tmp_path / "job.yml").write_text("""
type: automl
task: regression
primary_metric: r2_score
target_column_name: PRP
training_data:
  path: ./train
  type: mltable
n_cross_validations: 2
limits: {timeout_minutes: 1, max_trials: 1}
training:
  allowed_training_algorithms: [ElasticNet]
  enable_vote_ensemble: false
  enable_stack_ensemble: false
  enable_model_explainability: false
""")
    out = subprocess.run([sys.executable, "-m", "automl_engine", "run", str(tmp_path / "job.yml"),
                          "--output", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = (tmp_path / "out" / "featurization_summary.json").read_text()
    assert '"MYCT"' in summary and '"ERP"' not in summary
