"""The `studio` command-line client against a live studio and a real worker: token login, data create from
an MLTable folder, job create --stream (a pipeline and an AutoML job with a local file), job download,
model list/download, endpoint invoke."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import pandas as pd
import pytest

from tests.studio.pipelines.test_api import small_example

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def studio(tmp_path, live_server):
    """Runs `python -m studio_client ARGS` with its own config file; returns (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STUDIO_CONFIG": str(tmp_path / "config.json")}
    for key in ("STUDIO_URL", "STUDIO_TOKEN", "STUDIO_WORKSPACE"):
        env.pop(key, None)

    def call(*args, ok=True):
        out = subprocess.run([sys.executable, "-m", "studio_client", *map(str, args)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=400)
        if ok:
            assert out.returncode == 0, out.stdout + out.stderr
        return out

    return call


def test_client_session(team, celery_worker, live_server, studio, tmp_path):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=team.bob)
    assert "error: Not logged in" in studio("job", "list", ok=False).stderr
    out = studio("login", "--url", live_server.url, "--token", token.key)
    assert out.stdout.startswith(f"logged in to {live_server.url} as bob")
    assert oct((tmp_path / "config.json").stat().st_mode)[-3:] == "600"

    table = tmp_path / "bank-table"
    table.mkdir()
    frame = pd.read_csv(ROOT / "examples" / "data" / "bank_marketing_validation_data.csv").head(400)
    frame.to_csv(table / "part.csv", sep=";", index=False)
    (table / "MLTable").write_text("paths:\n  - file: ./part.csv\ntransformations:\n"
                                   "  - read_delimited: {delimiter: ';'}\n")
    out = studio("data", "create", "--file", table, "--name", "bank_marketing_train_data")
    assert out.stdout.startswith("dataset bank_marketing_train_data version 1: 400 rows, 21 columns")

    (tmp_path / "pipeline.yml").write_text(small_example())
    out = studio("job", "create", "--file", "pipeline.yml", "--stream", "--set", "auc_threshold=0.5")
    lines = out.stdout.splitlines()
    assert lines[0].startswith("created pipeline/") and lines[0].split()[2] == "queued"
    job_id = lines[0].split()[1].rstrip(":")
    for step in ("prepare (prep)", "train (automl)", "register (register)"):
        assert f"  step {step}: completed" in lines
    assert lines[-1] == f"{job_id}: completed"

    out = studio("job", "download", job_id, "--output", "dl")
    assert (tmp_path / "dl" / "job.json").exists()
    model = joblib.load(tmp_path / "dl" / "train" / "model.pkl")
    import yaml

    from studio.pipelines.prep import apply_operations

    [prepared] = apply_operations(frame.head(5), yaml.safe_load(small_example())["jobs"]["prepare"]["operations"])
    assert len(model.predict(prepared.drop(columns=["y"]))) == 5
    metrics = json.loads((tmp_path / "dl" / "train" / "metrics.json").read_text())
    assert metrics["primary_metric"] == "AUC_weighted"

    assert "bank-marketing" in studio("model", "list").stdout
    studio("model", "download", "bank-marketing", "--version", "champion", "--format", "mlflow", "--output", "m.zip")
    assert "bank-marketing-v1-mlflow/MLmodel" in zipfile.ZipFile(tmp_path / "m.zip").namelist()

    pd.read_csv(ROOT / "examples" / "data" / "machine_full_209rows.csv").to_csv(tmp_path / "machines.csv", index=False)
    (tmp_path / "automl.yml").write_text("""
type: automl
experiment_name: hardware-cli
compute: azureml:cpu-cluster
task: regression
primary_metric: r2_score
target_column_name: PRP
training_data: {path: ./machines.csv, type: uri_file}
n_cross_validations: 3
limits: {timeout_minutes: 3, max_trials: 2}
training:
  allowed_training_algorithms: [LightGBM, ElasticNet]
  enable_vote_ensemble: false
  enable_stack_ensemble: false
  enable_model_explainability: false
""")
    out = studio("job", "create", "--file", "automl.yml", "--stream")
    lines = out.stdout.splitlines()
    assert lines[0].startswith("dataset hardware-cli-training version 1: 209 rows")
    automl_id = lines[1].split()[1].rstrip(":")
    assert automl_id.startswith("automl/")
    assert sum(1 for line in lines if line.startswith("  trial ")) == 2 and lines[-1] == f"{automl_id}: completed"
    listed = studio("job", "list").stdout
    assert automl_id in listed and job_id in listed
    assert json.loads(studio("job", "show", automl_id).stdout)["status"] == "completed"
    assert studio("job", "cancel", job_id).stdout.strip() == f"{job_id}: completed"
    bad = studio("job", "create", "--file", "automl.yml", "--set", "x=1", ok=False)
    assert bad.returncode == 2 and "an AutoML job has none" in bad.stderr

    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    created = api.post("/api/v1/endpoints/", {"name": "bank-ep", "model": "bank-marketing", "version": "1"},
                       format="json")
    assert created.status_code == 201, created.content
    from studio.registry.models import ModelVersion

    sample = ModelVersion.objects.get(model__name="bank-marketing", version=1).sample_input  # the prepared columns
    rows = [sample, {**sample, "duration": 900}]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    answer = json.loads(studio("endpoint", "invoke", "bank-ep", "--key", created.json()["key"], "--file",
                               "rows.json").stdout)
    assert len(answer["predictions"]) == 2


def test_client_schedules_and_the_deploy_key(team, live_server, studio, tmp_path, make_version, bank_run):
    """`studio schedule create/list/disable/enable/show/delete` from an Azure ML schedule file whose
    create_job is a local pipeline file, and `studio job endpoint-key` giving a deploy step's key once."""
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from studio.pipelines.models import PipelineJob
    from studio.pipelines.schedules import fire_due_schedules

    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    studio("login", "--url", live_server.url, "--token", Token.objects.create(user=team.bob).key)
    (tmp_path / "pipeline.yml").write_text(small_example())
    (tmp_path / "schedule.yml").write_text("""
$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: weekly_retrain
trigger:
  type: recurrence
  frequency: week
  interval: 1
  schedule: {week_days: [monday], hours: [6], minutes: [30]}
create_job: ./pipeline.yml
""")
    out = studio("schedule", "create", "--file", "schedule.yml").stdout
    assert out.startswith("schedule ") and "weekly_retrain: every 1 week at 30 6 * * 1 (cron, UTC), next run " in out
    listed = studio("schedule", "list").stdout
    assert "weekly_retrain" in listed and "enabled" in listed
    assert studio("schedule", "disable", "weekly_retrain").stdout.strip().endswith("weekly_retrain: disabled")
    assert fire_due_schedules(timezone.now() + timedelta(days=8)) == []
    assert studio("schedule", "enable", "weekly_retrain").stdout.strip().endswith("weekly_retrain: enabled")
    [fired] = fire_due_schedules(timezone.now() + timedelta(days=8))
    shown = json.loads(studio("schedule", "show", "weekly_retrain").stdout)
    assert shown["last_job"] == fired and shown["jobs"] == [fired]
    assert PipelineJob.objects.get(pk=fired).trigger.startswith("schedule 'weekly_retrain' at ")
    assert "deleted" in studio("schedule", "delete", "weekly_retrain").stdout
    bad = studio("schedule", "disable", "weekly_retrain", ok=False)
    assert bad.returncode == 2 and "no schedule 'weekly_retrain' in the workspace" in bad.stderr

    from tests.studio.pipelines.test_services import _deploy_step
    from studio.registry.services import register_version

    version = register_version(trial=bank_run.trials.filter(is_ensemble=False).first(), name="bank", user=team.bob)
    step = _deploy_step(team, {"type": "registered_model", "model": "bank", "model_id": version.model_id,
                               "version": 1})
    key = step.endpoint_key
    out = studio("job", "endpoint-key", f"pipeline/{step.job_id}", "deploy").stdout
    assert out.splitlines() == [f"endpoint bank-ep: key {key} (shown once: copy it now)",
                                f"scoring URL {live_server.url}/api/v1/endpoints/bank-ep/score/"]
    again = studio("job", "endpoint-key", f"pipeline/{step.job_id}", "deploy", ok=False)
    assert again.returncode == 2 and "it is shown once" in again.stderr
