"""MLflow model format: a trial or a registered version downloads as an MLflow ``python_function`` folder,
and ``mlflow models serve`` (mlflow 3.17.2, the serving benchmark's environment) answers with the same
predictions as the studio's endpoint."""
import io
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import joblib
import pytest
import yaml

from studio.registry import services as registry
from tests.studio.registry.factories import sample_rows

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]
# The Makefile's MLFLOW_VENV: one environment per machine, outside the checkout.
MLFLOW_VENV = Path(os.environ.get("MLFLOW_VENV") or Path.home() / ".cache" / "automl-studio" / "mlflow-3.17.2")


def _unzip(content: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(into)
        top = {name.split("/")[0] for name in archive.namelist()}
    assert len(top) == 1
    return into / top.pop()


def test_trial_downloads_as_an_mlflow_python_function_folder(team, client_for, bank_run, tmp_path):
    trial = bank_run.trials.filter(is_ensemble=False).order_by("number").first()
    page = client_for(team.carol).get(f"/experiments/trials/{trial.pk}/").content.decode()
    assert f'href="/code/trials/{trial.pk}/mlflow.zip"' in page
    response = client_for(team.carol).get(f"/code/trials/{trial.pk}/mlflow.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    folder = _unzip(response.content, tmp_path)
    assert folder.name == f"run{bank_run.pk}-trial{trial.number}-mlflow"
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "automl_engine.mlflow_flavor" and flavor["data"] == "model.pkl"
    assert flavor["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert mlmodel["metadata"]["trial"] == trial.number
    requirements = (folder / "requirements.txt").read_text().split()
    assert "mlflow==3.17.2" in requirements
    assert all("==" in r for r in requirements) and any(r.startswith("scikit-learn==") for r in requirements)
    assert (folder / "code" / "automl_engine" / "featurize.py").exists()
    from automl_engine.mlflow_flavor import _load_pyfunc

    model = _load_pyfunc(str(folder / "model.pkl"))
    rows = sample_rows_frame(bank_run, 20)
    pipeline = joblib.load(folder / "model.pkl")
    assert list(model.predict(rows)) == list(pipeline.predict(rows))
    assert client_for(team.dave).get(f"/code/trials/{trial.pk}/mlflow.zip").status_code == 404


def sample_rows_frame(run, n):
    import pandas as pd

    from studio.datasets.services import load_frame

    frame = load_frame(run.dataset_version)
    return pd.DataFrame(frame.drop(columns=[run.config["target_column_name"]]).head(n))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_bin():
    """The serving benchmark's MLflow environment; created with `make mlflow-env` when missing (about
    3-6 minutes on a 2-core machine: mlflow, xgboost and their dependencies are downloaded once)."""
    mlflow = MLFLOW_VENV / "bin" / "mlflow"
    if not mlflow.exists():
        subprocess.run(["make", "mlflow-env", f"MLFLOW_VENV={MLFLOW_VENV}"], cwd=ROOT, check=True, timeout=1800)
    return mlflow


@pytest.mark.parametrize("which", ["bank", "hardware"])
def test_mlflow_models_serve_predicts_what_the_endpoint_predicts(which, team, api_for, client, client_for, request,
                                                                 mlflow_bin, tmp_path):
    run = request.getfixturevalue(f"{which}_run")
    trial = run.trials.filter(is_ensemble=False).order_by("number").first()
    version = registry.register_version(trial=trial, name=which, user=team.alice)
    created = api_for(team.bob).post("/api/v1/endpoints/", {"name": f"{which}-ep", "model": which, "version": "1"},
                                     format="json")
    assert created.status_code == 201, created.content
    trained = request.getfixturevalue(f"{which}_models")
    columns = [c["name"] for c in version.manifest["input_schema"]]  # the endpoint refuses other columns
    rows = [{k: v for k, v in row.items() if k in columns} for row in sample_rows(trained, 25)]
    scored = client.post(f"/api/v1/endpoints/{which}-ep/score/", data=json.dumps({"data": rows}),
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {created.json()['key']}")
    assert scored.status_code == 200, scored.content
    ours = scored.json()["predictions"]

    download = client_for(team.carol).get(f"/code/models/{version.model_id}/versions/1/mlflow.zip")
    assert download.status_code == 200
    folder = _unzip(download.content, tmp_path)
    port = _free_port()
    env = {**os.environ, "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_TRACKING_URI": f"file://{tmp_path / 'mlruns'}", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true"}
    env.pop("PYTHONPATH", None)  # the folder's own code/ must be enough
    log = tmp_path / "mlflow.log"
    server = subprocess.Popen([str(mlflow_bin), "models", "serve", "-m", str(folder), "--env-manager", "local",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], env=env,
                              stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        body = json.dumps({"dataframe_records": rows}).encode()
        answer = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}),
            timeout=60)
        theirs = json.loads(answer.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert len(theirs) == len(ours) == 25
    if which == "bank":
        assert theirs == ours
    else:
        assert theirs == pytest.approx(ours, rel=1e-9)
