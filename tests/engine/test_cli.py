"""The command line runs a CLI v2 style YAML job end to end and writes the output folder."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_cli_runs_a_yaml_job(tmp_path, hardware_df):
    hardware_df.to_csv(tmp_path / "machines.csv", index=False)
    (tmp_path / "job.yml").write_text("""
type: automl
experiment_name: tiny
task: regression
primary_metric: r2_score
target_column_name: PRP
training_data:
  path: machines.csv
  type: uri_file
test_data_size: 0.2
n_cross_validations: 3
limits:
  timeout_minutes: 1
  max_trials: 3
training:
  allowed_training_algorithms: [ElasticNet, LightGBM]
featurization:
  mode: custom
  column_name_and_types:
    ERP: Ignore
""")
    out = subprocess.run([sys.executable, "-m", "automl_engine", "run", str(tmp_path / "job.yml"),
                          "--output", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"model.pkl", "manifest.json", "leaderboard.csv", "metrics.json", "featurization_summary.json",
            "guardrails.json", "trials.json", "run.log"} <= names
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert len(board) == 5  # 3 trials + voting + stacking
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["validation_method"]["n_folds"] == 3
    assert metrics["test_metrics"]["r2_score"] is not None
    summary = json.loads((tmp_path / "out" / "featurization_summary.json").read_text())
    assert next(s for s in summary if s["column"] == "ERP")["drop_reason"] == "ignored by column_name_and_types"
    assert "outputs written to" in out.stdout


def test_cli_reports_an_invalid_job(tmp_path):
    (tmp_path / "job.yml").write_text("type: automl\ntask: regression\ntarget_column_name: y\n"
                                      "primary_metric: accuracy\ntraining_data: {path: x.csv}\n")
    out = subprocess.run([sys.executable, "-m", "automl_engine", "run", str(tmp_path / "job.yml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "primary_metric" in out.stdout and "not a primary metric for regression" in out.stdout
