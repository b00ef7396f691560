"""Benchmark the studio's scoring endpoints against `mlflow models serve` of the same pipeline.

Protocol: the engine trains on the bank-marketing sample (``--rows`` rows, ``--trials`` trials, ensembles on)
the way the studio does (the experiments app's recorder writes the trials); the best trial is registered and
deployed to an endpoint. The studio is served by gunicorn as in production (``--workers`` sync workers), and
the same pipeline, saved with ``mlflow.sklearn.save_model``, by ``mlflow models serve`` with the same number
of workers, on 127.0.0.1 of this machine in the same run. Both get the same rows:

- single-row latency: ``--single`` sequential requests, one row each, a new connection per request; p50/p99;
- batch throughput: 10,000-row requests, ``--workers`` concurrent clients each sending two requests per round,
  ``--batches`` rounds after a warm-up round that is not counted, the two servers in alternate rounds; rows per
  second over all counted rounds;
- load: ``--clients`` concurrent clients sending single rows to the studio for ``--duration`` seconds; the
  run passes only with zero errors.

    .venv/bin/python bench/serving.py [--mlflow-python ~/.cache/automl-studio/mlflow-3.17.2/bin/python] [--duration 60]

MLflow runs from its own virtualenv (``--mlflow-python``) because mlflow 3.17.2 pins gunicorn<27 and
pyarrow<26, older than the studio's pins; installing it into the studio's venv would downgrade them.
Results are printed and written to bench/results/serving.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANK = ROOT / "examples" / "data" / "bank_marketing_train_data.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, path: str, body: bytes, headers: dict, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(port: int, path: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_single(port, path, headers, bodies: list[bytes], n: int) -> dict:
    latencies, errors = [], 0
    for i in range(n):
        started = time.perf_counter()
        status, _ = post(port, path, bodies[i % len(bodies)], headers)
        latencies.append((time.perf_counter() - started) * 1000)
        errors += status != 200
    return {"requests": n, "errors": errors, "latencies": latencies}


def measure_batch(port, path, headers, body: bytes, rows: int, clients: int, per_client: int) -> dict:
    errors = []

    def client():
        for _ in range(per_client):
            try:
                status, content = post(port, path, body, headers, timeout=300)
            except OSError as exc:
                status, content = 0, repr(exc).encode()
            if status != 200:
                errors.append((status, content[:300]))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    total_rows = rows * clients * per_client
    return {"requests": clients * per_client, "rows_per_request": rows, "seconds": round(elapsed, 2),
            "rows_per_second": round(total_rows / elapsed), "errors": len(errors),
            "first_error": repr(errors[0]) if errors else None}


def load_run(port, path, headers, bodies: list[bytes], clients: int, duration: float) -> dict:
    counts = {"ok": 0, "errors": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    first_error: list = []
    deadline = time.monotonic() + duration

    def client(offset: int):
        i = offset
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                status, content = post(port, path, bodies[i % len(bodies)], headers, timeout=60)
            except OSError as exc:
                status, content = 0, repr(exc).encode()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if status == 200:
                    counts["ok"] += 1
                    latencies.append(elapsed)
                else:
                    counts["errors"] += 1
                    if not first_error:
                        first_error.append((status, content[:300]))
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": counts["ok"] + counts["errors"],
            "errors": counts["errors"], "requests_per_second": round((counts["ok"] + counts["errors"]) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
            "first_error": repr(first_error[0]) if first_error else None}


def in_process_predict(prep: dict, records: list[dict]) -> dict:
    """The pipeline alone (no HTTP, no Django): the floor under any server's single-row latency."""
    import automl_engine
    import pandas as pd

    pipeline = automl_engine.load_model(prep["model_path"], prep["sha256"])
    frames = [pd.DataFrame([r]) for r in records[:50]]
    for frame in frames[:5]:
        pipeline.predict_proba(frame)
    times = []
    for frame in frames:
        started = time.perf_counter()
        pipeline.predict_proba(frame)
        times.append((time.perf_counter() - started) * 1000)
    big = pd.DataFrame((records * (10_000 // len(records) + 1))[:10_000])
    started = time.perf_counter()
    pipeline.predict_proba(big)
    batch = time.perf_counter() - started
    return {"single_row_p50_ms": round(statistics.median(times), 2), "rows_per_second_10k": round(10_000 / batch)}


def prepare_studio(data_dir: Path, rows: int, trials: int, deploy: str):
    """Migrate a fresh studio, train and record a run as the studio does, register and deploy its best trial."""
    os.environ["STUDIO_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.core.files.storage import default_storage

    import automl_engine
    import pandas as pd
    from studio.accounts.services import create_user
    from studio.datasets.services import create_dataset_version
    from studio.experiments.models import Experiment, Run
    from studio.experiments.services import RunRecorder
    from studio.registry.services import register_version
    from studio.serving.services import create_endpoint

    call_command("migrate", verbosity=0)
    user = create_user(username="bench", password="bench-pass-123")
    workspace = user.current_workspace
    frame = pd.read_csv(BANK).head(rows)
    dataset_version = create_dataset_version(workspace=workspace, user=user, name="bank-marketing",
                                             uploaded=SimpleUploadedFile("bank.csv", frame.to_csv(index=False).encode()),
                                             file_name="bank.csv")
    job = automl_engine.classification(training_data=frame, target_column_name="y", n_cross_validations=3)
    job.set_limits(max_trials=trials, max_concurrent_trials=1)
    experiment = Experiment.objects.create(workspace=workspace, name="bank-bench", created_by=user)
    run = Run.objects.create(experiment=experiment, workspace=workspace, number=1, dataset_version=dataset_version,
                             config=job.to_config(), task="classification", primary_metric=job.config.primary_metric,
                             status=Run.Status.RUNNING, created_by=user)
    workdir = Path(default_storage.path(f"experiments/bench-{run.pk}"))
    recorder = RunRecorder(run)
    started = time.perf_counter()
    result = job.run(callbacks=automl_engine.Callbacks(on_trial=recorder.on_trial), workdir=workdir)
    train_seconds = time.perf_counter() - started
    Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPLETED)
    run.refresh_from_db()
    best = run.best_trial
    if deploy == "best-single":
        best = max(run.trials.filter(is_ensemble=False).exclude(model_file=""), key=lambda t: t.score or 0)
    version = register_version(trial=best, name="bank-marketing", user=user)
    endpoint, key = create_endpoint(workspace=workspace, user=user, name="bank-bench", model_version=version)
    sample = frame.drop(columns=["y"])
    names = [c["name"] for c in version.input_schema]
    records = json.loads(sample[names].to_json(orient="records"))
    return {"key": key, "endpoint": endpoint.name, "model_path": default_storage.path(version.file),
            "sha256": version.sha256, "records": records, "best": f"trial {best.number}: {best.pipeline_name}",
            "is_ensemble": best.is_ensemble, "train_seconds": round(train_seconds, 1), "status": result.status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3000, help="training rows of the bank-marketing sample")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="server workers, for both servers")
    parser.add_argument("--single", type=int, default=500, help="single-row requests for p50/p99")
    parser.add_argument("--batches", type=int, default=10, help="rounds of 10,000-row requests (two per client)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--mlflow-python", default=str(Path.home() / ".cache" / "automl-studio" / "mlflow-3.17.2" /
                                                         "bin" / "python"))
    parser.add_argument("--deploy", choices=["best", "best-single"], default="best",
                        help="deploy the best trial (often an ensemble) or the best single model")
    parser.add_argument("--keep", action="store_true", help="keep the temporary studio data directory")
    args = parser.parse_args()

    (ROOT / "var").mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-serving-", dir=ROOT / "var"))
    print(f"studio data: {data_dir}", flush=True)
    prep = prepare_studio(data_dir, args.rows, args.trials, args.deploy)
    print(f"trained in {prep['train_seconds']} s; deployed best {prep['best']} (ensemble: {prep['is_ensemble']})",
          flush=True)
    records = prep["records"]
    batch_rows = (records * (10_000 // len(records) + 1))[:10_000]
    single_bodies = [json.dumps({"data": [r]}).encode() for r in records[:200]]
    studio_batch = json.dumps({"data": batch_rows}).encode()
    mlflow_single = [json.dumps({"dataframe_records": [r]}).encode() for r in records[:200]]
    mlflow_batch = json.dumps({"dataframe_records": batch_rows}).encode()

    results: dict = {"in_process": in_process_predict(prep, records)}
    print("in-process predict_proba, no HTTP:", results["in_process"], flush=True)
    results.update({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu_count": os.cpu_count(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "workers": args.workers, "model": prep["best"], "training_rows": args.rows})
    env = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), "DEBUG": "false"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    port = free_port()
    log = data_dir / "gunicorn.log"
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "studio.wsgi:application", "--workers", str(args.workers),
         "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--backlog", "2048"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    path = f"/api/v1/endpoints/{prep['endpoint']}/score/"
    headers = {"Authorization": f"Bearer {prep['key']}"}
    mlflow = start_mlflow(args, prep, data_dir)
    results["mlflow"] = {k: v for k, v in mlflow.items() if k in ("version", "skipped")}
    try:
        wait_ready(port, "/healthz", gunicorn, log)
        for body in single_bodies[: 4 * args.workers]:  # every worker loads the model once
            status, content = post(port, path, body, headers)
            assert status == 200, content
        ml_port = mlflow.get("port")
        if ml_port:
            for body in mlflow_single[: 4 * args.workers]:
                status, content = post(ml_port, "/invocations", body, {})
                if status != 200:
                    results["mlflow"]["skipped"] = f"mlflow answered {status}: {content[:500]!r}"
                    ml_port = None
                    break
        # Interleaved in small rounds, so that both servers see the same load on this shared machine.
        rounds = 5
        studio_single, mlflow_single_r, studio_batch_r, mlflow_batch_r = [], [], [], []
        for _ in range(rounds):
            studio_single.append(measure_single(port, path, headers, single_bodies, args.single // rounds))
            if ml_port:
                mlflow_single_r.append(measure_single(ml_port, "/invocations", {}, mlflow_single, args.single // rounds))
        # A warm-up round first (not counted): the first large request of a worker allocates its buffers.
        for counted in [False] + [True] * args.batches:
            studio_round = measure_batch(port, path, headers, studio_batch, 10_000, args.workers, 2)
            if counted:
                studio_batch_r.append(studio_round)
            if ml_port:
                mlflow_round = measure_batch(ml_port, "/invocations", {}, mlflow_batch, 10_000, args.workers, 2)
                if counted:
                    mlflow_batch_r.append(mlflow_round)
        results["studio_single"] = merge_single(studio_single)
        results["studio_batch"] = merge_batch(studio_batch_r)
        print("studio single-row:", results["studio_single"], flush=True)
        print("studio 10,000-row batches:", results["studio_batch"], flush=True)
        if ml_port:
            results["mlflow"]["single"] = merge_single(mlflow_single_r)
            results["mlflow"]["batch"] = merge_batch(mlflow_batch_r)
            print("mlflow single-row:", results["mlflow"]["single"], flush=True)
            print("mlflow 10,000-row batches:", results["mlflow"]["batch"], flush=True)
        if mlflow.get("process"):
            stop(mlflow["process"])  # the load run is the studio's alone
        results["studio_load"] = load_run(port, path, headers, single_bodies, args.clients, args.duration)
        print(f"studio load ({args.clients} clients, {args.duration:.0f} s):", results["studio_load"], flush=True)
    finally:
        stop(gunicorn)
        if mlflow.get("process"):
            stop(mlflow["process"])

    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if "batch" in results["mlflow"]:
        results["throughput_ratio"] = round(results["studio_batch"]["rows_per_second"]
                                            / results["mlflow"]["batch"]["rows_per_second"], 2)
    results["targets"] = {
        "single_row_p50_under_10ms": results["studio_single"]["p50_ms"] < 10,
        "throughput_at_least_2x_mlflow": results.get("throughput_ratio", 0) >= 2,
        "load_zero_errors": results["studio_load"]["errors"] == 0,
    }
    print_table(results)
    out = ROOT / "bench" / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if results["targets"]["load_zero_errors"] else 1


MLFLOW_SAVE = """
import sys, joblib, hashlib, mlflow.sklearn
path, sha, out = sys.argv[1:4]
digest = hashlib.sha256(open(path, 'rb').read()).hexdigest()
assert digest == sha, 'model file changed'
mlflow.sklearn.save_model(joblib.load(path), out, serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE)
import mlflow
print('mlflow', mlflow.__version__)
"""


def start_mlflow(args, prep, data_dir: Path) -> dict:
    """Save the same pipeline with mlflow.sklearn and start `mlflow models serve` on it."""
    python = Path(args.mlflow_python)
    if not python.exists():
        return {"skipped": f"no MLflow interpreter at {python}; create it with `make mlflow-env` or `python3.11 -m venv <dir> && "
                           "<dir>/bin/pip install mlflow==3.17.2 numpy==2.4.6 pandas==3.1.1 "
                           "scikit-learn==1.9.1 lightgbm==4.7.0 xgboost==2.1.4 joblib==1.6.0 scipy==1.17.1`"}
    # mlflow starts `uvicorn` by name, so its virtualenv's bin/ goes first on PATH.
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": f"file://{data_dir / 'mlruns'}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    model_dir = data_dir / "mlflow-model"
    saved = subprocess.run([str(python), "-c", MLFLOW_SAVE, prep["model_path"], prep["sha256"], str(model_dir)],
                           env=env, capture_output=True, text=True)
    if saved.returncode != 0:
        return {"skipped": f"saving the pipeline with mlflow failed: {saved.stderr[-1500:]}"}
    version = saved.stdout.strip().splitlines()[-1]
    port = free_port()
    log = data_dir / "mlflow.log"
    server = subprocess.Popen(
        [str(python.with_name("mlflow")), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)],
        env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, "/ping", server, log, timeout=180)
    except RuntimeError as exc:
        stop(server)
        return {"version": version, "skipped": str(exc)[-1500:]}
    return {"version": version, "port": port, "process": server}


def merge_single(parts: list[dict]) -> dict:
    latencies = [x for p in parts for x in p["latencies"]]
    return {"requests": len(latencies), "errors": sum(p["errors"] for p in parts),
            "p50_ms": round(statistics.median(latencies), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
            "mean_ms": round(statistics.fmean(latencies), 2)}


def merge_batch(parts: list[dict]) -> dict:
    seconds = sum(p["seconds"] for p in parts)
    rows = sum(p["requests"] * p["rows_per_request"] for p in parts)
    errors = [p["first_error"] for p in parts if p["first_error"]]
    return {"requests": sum(p["requests"] for p in parts), "rows_per_request": 10_000, "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds), "errors": sum(p["errors"] for p in parts),
            "first_error": errors[0] if errors else None}


def print_table(r: dict) -> None:
    m = r["mlflow"]
    line = "{:<34}{:>16}{:>16}"
    print()
    print(f"engine alone, in process: single row p50 {r['in_process']['single_row_p50_ms']} ms, "
          f"10,000 rows at {r['in_process']['rows_per_second_10k']:,} rows/s")
    print(f"Serving benchmark, {r['date']}, {r['cpu_count']} cores, {r['workers']} workers each, model {r['model']}")
    print(f"load average (1, 5, 15 min) at start {r['load_average_at_start']}, at end {r['load_average_at_end']}")
    print(line.format("", "studio", f"mlflow {m.get('version', '').split()[-1] if m.get('version') else ''}"))
    get = lambda d, *keys: (lambda v: "—" if v is None else v)(  # noqa: E731
        __import__("functools").reduce(lambda a, k: (a or {}).get(k), keys, d))
    print(line.format("single row p50 (ms)", get(r, "studio_single", "p50_ms"), get(m, "single", "p50_ms")))
    print(line.format("single row p99 (ms)", get(r, "studio_single", "p99_ms"), get(m, "single", "p99_ms")))
    print(line.format("10,000-row batch (rows/s)", f"{r['studio_batch']['rows_per_second']:,}",
                      f"{m['batch']['rows_per_second']:,}" if "batch" in m else "—"))
    if "throughput_ratio" in r:
        print(f"throughput ratio studio/mlflow: {r['throughput_ratio']}x")
    if "skipped" in m:
        print(f"mlflow: {m['skipped']}")
    load = r["studio_load"]
    print(f"load: {load['clients']} clients for {load['seconds']} s: {load['requests']:,} requests, "
          f"{load['errors']} errors, {load['requests_per_second']} req/s, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms")
    print("targets:", ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in r["targets"].items()))


if __name__ == "__main__":
    sys.exit(main())
