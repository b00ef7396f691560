"""Ingest benchmark: a ~1 GB CSV through the real upload path, to a ready profile.

    .venv/bin/python bench/ingest.py [--rows 10000000] [--keep]

1. Generates (once, then reuses) ``var/bench/ingest/data.csv``: 10M rows, 12 mixed columns (integer id,
   floats with missing values, small integers, categories, a datetime, a boolean, short free text).
2. Starts the studio as it runs in production, in a private data directory under ``var/bench/ingest/``:
   gunicorn (one sync worker) for the web process and one Celery worker (concurrency 1) on the filesystem
   broker, with SQLite in WAL mode.
3. Streams the file to ``POST /api/v1/datasets/`` over HTTP (multipart, with a token), exactly as a script
   would, then polls ``GET /api/v1/datasets/{id}/`` until the profile is ready.
4. Prints the throughput (file MB per second of wall time, upload to ready profile, and per phase) and the
   peak resident memory (VmHWM) of each process: this client, the web worker, the Celery worker.

Targets on a 2-core machine: at least 50 MB/s from upload to ready profile, and every process under 1.5 GB.
Nothing is written outside ``var/`` (git-ignored); ``--keep`` leaves the studio's data directory for a look.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "ingest"
PY = sys.executable
MB = 1024 * 1024


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write the benchmark CSV in chunks (bounded memory), deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    categories = np.array(["electronics", "grocery", "clothing", "garden", "toys", "books", "sports", "beauty"])
    countries = np.array([f"{a}{b}" for a in "ABCDEFGHIJ" for b in "XYZ"])
    segments = np.array(["A", "B", "C", "D", "E"])
    words = np.array("quick brown fox jumps over lazy dog fast delivery great price would buy again poor quality "
                     "late broken box nice colour small large fits well returned refund happy sad okay".split())
    tmp = path.with_suffix(".tmp")
    chunk = 500_000
    start = np.datetime64("2020-01-01T00:00:00")
    # A pool of review phrases (4-8 words, ~35 characters): free text to the type detector, cheap to draw from.
    lengths = rng.integers(4, 9, 200_000)
    phrases = np.array([" ".join(words[rng.integers(0, len(words), k)]) for k in lengths], dtype=object)
    with pacsv.CSVWriter(tmp, pa.schema([
        ("order_id", pa.int64()), ("amount", pa.float64()), ("score", pa.float64()), ("temperature", pa.float64()),
        ("quantity", pa.int64()), ("age", pa.int64()), ("category", pa.string()), ("country", pa.string()),
        ("segment", pa.string()), ("ordered_at", pa.timestamp("s")), ("returned", pa.string()), ("review", pa.string()),
    ])) as writer:
        for offset in range(0, rows, chunk):
            n = min(chunk, rows - offset)
            temperature = np.round(rng.normal(18, 7, n), 1)
            temperature[rng.random(n) < 0.05] = np.nan
            amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
            amount[rng.random(n) < 0.02] = np.nan
            seconds = rng.integers(0, 4 * 365 * 86400, n)
            stamps = start + seconds.astype("timedelta64[s]")
            review = phrases[rng.integers(0, len(phrases), n)]
            review[rng.random(n) < 0.1] = None
            table = pa.table({
                "order_id": pa.array(np.arange(offset, offset + n) + 1_000_000),
                "amount": pa.array(amount, from_pandas=True),
                "score": pa.array(np.round(rng.random(n), 6)),
                "temperature": pa.array(temperature, from_pandas=True),
                "quantity": pa.array(rng.integers(1, 12, n)),
                "age": pa.array(rng.integers(18, 90, n)),
                "category": pa.array(categories[rng.integers(0, len(categories), n)]),
                "country": pa.array(countries[rng.integers(0, len(countries), n)]),
                "segment": pa.array(segments[rng.integers(0, len(segments), n)]),
                "ordered_at": pa.array(stamps, type=pa.timestamp("s")),
                "returned": pa.array(np.where(rng.random(n) < 0.08, "true", "false")),
                "review": pa.array(review, type=pa.string()),
            })
            writer.write_table(table)
    tmp.rename(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss(pid: int) -> int:
    """The kernel's high-water mark of resident memory (VmHWM) of a process, in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_peaks(proc: subprocess.Popen) -> dict[int, tuple[str, int, float]]:
    """Per process of the tree: (command, peak resident bytes, CPU seconds used, all threads)."""
    out = {}
    try:
        parent = psutil.Process(proc.pid)
        for p in [parent, *parent.children(recursive=True)]:
            times = p.cpu_times()
            out[p.pid] = (" ".join(p.cmdline()[:3])[-60:], peak_rss(p.pid), times.user + times.system)
    except psutil.NoSuchProcess:
        pass
    return out


class MultipartFile:
    """A file-like body: the multipart preamble, the file streamed from disk, the closing boundary."""

    def __init__(self, path: Path, fields: dict, boundary: str):
        head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                        for k, v in fields.items())
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                 "Content-Type: text/csv\r\n\r\n").encode()
        self.parts = [head, path, f"\r\n--{boundary}--\r\n".encode()]
        self.length = len(head) + path.stat().st_size + len(self.parts[2])
        self.sent = 0

    def __iter__(self):
        yield self.parts[0]
        with open(self.parts[1], "rb") as f:
            while chunk := f.read(4 * MB):
                self.sent += len(chunk)
                yield chunk
        yield self.parts[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the studio data directory afterwards")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    csv_path = WORK / f"data-{args.rows}.csv"
    if not csv_path.exists():
        t = time.monotonic()
        generate(csv_path, args.rows)
        print(f"generated {csv_path.relative_to(ROOT)} in {time.monotonic() - t:.0f} s")
    size = csv_path.stat().st_size
    print(f"file: {csv_path.relative_to(ROOT)}, {size / MB:,.0f} MB, {args.rows:,} rows, 12 columns")

    data_dir = WORK / "studio"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "studio.settings",
           "CELERY_QUEUE": "bench-ingest", "STUDIO_MAX_UPLOAD_BYTES": str(4 * 1024**3), "LOG_LEVEL": "WARNING"}
    for var in ("DATABASE_URL", "CELERY_BROKER_URL", "STUDIO_STORAGE_DIR"):
        env.pop(var, None)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    token = subprocess.run([PY, "manage.py", "shell", "-c",
                            "from studio.accounts.services import create_user\n"
                            "from rest_framework.authtoken.models import Token\n"
                            "u = create_user(username='bench', password='bench-pass-123', is_staff=True)\n"
                            "print(Token.objects.create(user=u).key)"],
                           cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]

    port = free_port()
    logs = data_dir / "logs"
    logs.mkdir()
    web = subprocess.Popen([PY, "-m", "gunicorn", "studio.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
                            "--timeout", "1800"], cwd=ROOT, env=env, stdout=open(logs / "web.log", "wb"),
                           stderr=subprocess.STDOUT, start_new_session=True)
    worker = subprocess.Popen([PY, "-m", "celery", "-A", "studio", "worker", "--pool", "prefork", "--concurrency",
                               "1", "--queues", "bench-ingest", "--without-gossip", "--without-mingle",
                               "--loglevel", "INFO"], cwd=ROOT, env=env, stdout=open(logs / "worker.log", "wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                if b"ready." in (logs / "worker.log").read_bytes():
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise SystemExit("the web process or the worker did not start; see " + str(logs))

        boundary = "bench-boundary-7d1c"
        body = MultipartFile(csv_path, {"name": "bench-orders", "description": "ingest benchmark"}, boundary)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        headers = {"Authorization": f"Token {token}", "Content-Length": str(body.length),
                   "Content-Type": f"multipart/form-data; boundary={boundary}"}
        t0 = time.monotonic()
        conn.request("POST", "/api/v1/datasets/", body=iter(body), headers=headers)
        t_sent = time.monotonic()
        response = conn.getresponse()
        payload = json.loads(response.read())
        t_created = time.monotonic()
        if response.status != 201:
            raise SystemExit(f"upload failed: HTTP {response.status} {payload}")
        dataset_id = payload["id"]
        while True:
            conn.request("GET", f"/api/v1/datasets/{dataset_id}/", headers={"Authorization": f"Token {token}"})
            status = json.loads(conn.getresponse().read())["status"]
            if status != "profiling":
                break
            time.sleep(0.2)
        t_ready = time.monotonic()
        if status != "ready":
            raise SystemExit(f"profile {status}; see {logs / 'worker.log'}")
        conn.request("GET", f"/api/v1/datasets/{dataset_id}/profile/", headers={"Authorization": f"Token {token}"})
        profile = json.loads(conn.getresponse().read())["profile"]

        total = t_ready - t0
        print(f"rows {payload['n_rows']:,}, columns {payload['n_columns']}, "
              f"types {', '.join(c['name'] + '=' + c['type'] for c in payload['columns'])}")
        print(f"duplicate rows {profile['duplicate_rows']:,}, in-memory size {profile['memory_bytes'] / MB:,.0f} MB")
        print(f"upload (client sent the body)    {t_sent - t0:7.1f} s")
        print(f"upload + parse + Parquet (201)   {t_created - t0:7.1f} s   {size / MB / (t_created - t0):6.1f} MB/s")
        print(f"profile on the worker            {t_ready - t_created:7.1f} s")
        print(f"upload to ready profile          {total:7.1f} s   {size / MB / total:6.1f} MB/s  (target >= 50)")
        client_cpu = sum(os.times()[:2])
        print("peak RSS (VmHWM, target < 1.5 GB) and CPU seconds per process:")
        print(f"  bench client                     {peak_rss(os.getpid()) / MB:7.0f} MB  {client_cpu:6.1f} s CPU")
        for label, proc in (("web (gunicorn)", web), ("worker (celery)", worker)):
            for pid, (cmd, rss, cpu) in sorted(tree_peaks(proc).items()):
                print(f"  {label:16s} pid {pid:<7d} {rss / MB:7.0f} MB  {cpu:6.1f} s CPU   {cmd}")
        with open("/proc/loadavg") as f:
            print(f"load average (1, 5, 15 min) at the end: {' '.join(f.read().split()[:3])} on {os.cpu_count()} cores")
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
