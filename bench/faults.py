"""The fault matrix of the background-job lifecycle: inject each fault into a running studio (real worker
processes, a Redis of its own, the configured database) and print, per fault, how many jobs it hit, how many
were lost (not ended correctly within three minutes) and how long the studio took to recover.

    .venv/bin/python bench/faults.py            # DATABASE_URL should point at Postgres for the database rows

The studio's processes run with short lifecycle timings (printed first), so recovery takes seconds rather
than the minute the defaults allow. The script starts and stops everything it uses: a redis-server on a
free port (killed and restarted without persistence for the broker faults), a control worker with beat,
and the workers it kills.
"""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "examples" / "data"
FAST = {"STUDIO_STALE_AFTER_SECONDS": "8", "STUDIO_HEARTBEAT_SECONDS": "1", "STUDIO_CHORES_SECONDS": "2",
        "STUDIO_REDISPATCH_SECONDS": "4"}
DEADLINE = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, workdir: Path):
        self.port, self.workdir, self.process = _free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save",
                                         "", "--appendonly", "no", "--dir", str(self.workdir)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


WORKDIR = Path(tempfile.mkdtemp(prefix="studio-faults-"))
REDIS = Redis(WORKDIR)
REDIS.start()
QUEUE = f"faults-{uuid.uuid4().hex[:8]}"
os.environ.update(FAST, CELERY_BROKER_URL=REDIS.url, CELERY_QUEUE=QUEUE, CELERY_CONTROL_QUEUE=f"{QUEUE}-control",
                  STUDIO_STORAGE_DIR=str(WORKDIR / "storage"), DJANGO_SETTINGS_MODULE="studio.settings",
                  DB_CONN_MAX_AGE="0")
os.environ.setdefault("STUDIO_DATA_DIR", str(WORKDIR / "data"))
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from studio.datasets import services as datasets  # noqa: E402
from studio.datasets.models import DatasetVersion  # noqa: E402
from studio.experiments import services as experiments  # noqa: E402
from studio.experiments.models import Run, Trial  # noqa: E402


class Worker:
    def __init__(self, queue: str, *args: str):
        self.log = open(WORKDIR / f"worker-{uuid.uuid4().hex[:6]}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "--loglevel", "INFO", "--concurrency", "1",
             "--queues", queue, "--without-gossip", "--without-mingle", "-n", f"{uuid.uuid4().hex[:6]}@%h", *args],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while b"ready." not in Path(self.log.name).read_bytes():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(Path(self.log.name).read_text(errors="replace"))
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wait_until(predicate, timeout: float = DEADLINE) -> float | None:
    """Seconds until ``predicate()`` held, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.25)
    return None


def csv_upload(name: str, rows: int) -> SimpleUploadedFile:
    import pandas as pd

    frame = pd.read_csv(SAMPLES / "bank_marketing_train_data.csv").head(rows)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return SimpleUploadedFile(name, buffer.getvalue().encode())


def new_version(workspace, user, rows: int = 2000):
    name = f"v-{uuid.uuid4().hex[:6]}"
    return datasets.create_dataset_version(workspace=workspace, user=user, name=name,
                                           uploaded=csv_upload(f"{name}.csv", rows), file_name=f"{name}.csv")


def submit(workspace, user, dataset_id: int, max_trials: int, timeout_minutes: int = 5) -> Run:
    return experiments.submit_run(workspace, user, {
        "name": f"faults-{uuid.uuid4().hex[:6]}", "dataset": dataset_id, "task": "classification",
        "target_column": "y", "validation": {"n_cross_validations": 3},
        "training": {"allowed_training_algorithms": ["LightGBM", "LogisticRegression", "DecisionTree"],
                     "enable_stack_ensemble": False, "enable_vote_ensemble": False,
                     "enable_model_explainability": False},
        "limits": {"timeout_minutes": timeout_minutes, "max_trials": max_trials, "max_concurrent_trials": 1}})


def status(model, pk):
    return model.objects.values_list("status", flat=True).get(pk=pk)


def ready(version_pks) -> bool:
    return all(status(DatasetVersion, pk) == "ready" for pk in version_pks)


def done(run_pks, wanted=("completed",)) -> bool:
    return all(status(Run, pk) in wanted for pk in run_pks)


def lost_count(version_pks, run_pks, run_states=("completed",)) -> int:
    return sum(status(DatasetVersion, pk) != "ready" for pk in version_pks) + \
        sum(status(Run, pk) not in run_states for pk in run_pks)


def main() -> None:
    call_command("migrate", verbosity=0)
    from studio.accounts import services as accounts
    from studio.accounts.models import User

    user = User.objects.filter(username="faults").first() or accounts.create_user(username="faults",
                                                                                 password="faults-pass-123")
    workspace = accounts.current_workspace_for(user)
    base = new_version(workspace, user)
    datasets.profile_now(base)
    control = Worker(f"{QUEUE}-control", "--beat", "--schedule", str(WORKDIR / "beat-schedule"))
    rows = []
    print(f"lifecycle timings: {', '.join(f'{k}={v}' for k, v in FAST.items())}; database: {connection.vendor}")

    # 1. The worker running an experiment is SIGKILLed: the reaper fails the run with the reason.
    worker = Worker(QUEUE)
    run = submit(workspace, user, base.dataset_id, max_trials=500, timeout_minutes=10)
    wait_until(lambda: Trial.objects.filter(run_id=run.pk).exists())
    worker.kill()
    took = wait_until(lambda: status(Run, run.pk) == "failed")
    rows.append(("worker SIGKILL mid-run", 1, int("stopped responding" not in Run.objects.get(pk=run.pk).error), took))

    # 2. The worker is SIGKILLed as soon as it has taken a profile's message (claimed or about to be), with
    # two more profiles queued behind it; `make run` starts a new one at once.
    worker = Worker(QUEUE)
    versions = [new_version(workspace, user, rows=29_000).pk for _ in range(3)]
    wait_until(lambda: b"datasets.profile_version" in Path(worker.log.name).read_bytes(), 60)
    worker.kill()
    worker = Worker(QUEUE)
    took = wait_until(lambda: ready(versions))
    rows.append(("worker SIGKILL on taking a profile (3 queued)", 3, lost_count(versions, []), took))

    # 3. The broker restarts without persistence while profiles and a run wait in its queue.
    worker.kill()
    versions = [new_version(workspace, user).pk for _ in range(3)]
    runs = [submit(workspace, user, base.dataset_id, max_trials=2).pk]
    REDIS.kill()
    REDIS.start()
    worker = Worker(QUEUE)
    took = wait_until(lambda: ready(versions) and done(runs))
    rows.append(("broker restart without persistence (queued work)", 4, lost_count(versions, runs), took))

    # 4. The broker is down while datasets and an experiment are submitted; they are accepted as queued.
    REDIS.kill()
    versions = [new_version(workspace, user).pk for _ in range(2)]
    runs = [submit(workspace, user, base.dataset_id, max_trials=2).pk]
    REDIS.start()
    took = wait_until(lambda: ready(versions) and done(runs))
    rows.append(("broker down during submission", 3, lost_count(versions, runs), took))

    # 5. Every database session of the workers is cut mid-run (what a Postgres restart does to them).
    if connection.vendor == "postgresql":
        run = submit(workspace, user, base.dataset_id, max_trials=3)
        wait_until(lambda: Trial.objects.filter(run_id=run.pk).exists())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid()")
        took = wait_until(lambda: status(Run, run.pk) in ("completed", "failed"))
        ended = Run.objects.get(pk=run.pk)
        right = ended.status == "completed" or "connection to the database" in ended.error
        rows.append(("database sessions cut mid-run", 1, int(not right), took))

    # 6. Postgres refuses every connection for 8 s and cuts the sessions, as a server restart does (done to
    # this database only: the server may be shared). The run must end failed with the database as the reason.
    if connection.vendor == "postgresql":
        import psycopg2

        run = submit(workspace, user, base.dataset_id, max_trials=500, timeout_minutes=10)
        wait_until(lambda: Trial.objects.filter(run_id=run.pk).exists())
        db = connection.settings_dict
        admin = psycopg2.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                                 password=db["PASSWORD"] or None, dbname="postgres")
        admin.autocommit = True
        cursor = admin.cursor()
        try:
            cursor.execute(f'ALTER DATABASE "{db["NAME"]}" ALLOW_CONNECTIONS false')
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [db["NAME"]])
            time.sleep(8)
        finally:
            cursor.execute(f'ALTER DATABASE "{db["NAME"]}" ALLOW_CONNECTIONS true')
            admin.close()
        connection.close()
        took = wait_until(lambda: status(Run, run.pk) in ("completed", "failed"))
        ended = Run.objects.get(pk=run.pk)
        rows.append(("database refusing connections for 8 s mid-run", 1,
                     int("connection to the database" not in ended.error), took))

    # 7. A profile hangs opening its file (a FIFO nobody writes, as a dead network mount behaves) on a worker
    # whose jobs have a 10 s time limit; then the same with the worker's process frozen (the hard limit).
    from django.conf import settings as conf

    from studio.datasets.models import ProfileJob
    from studio.jobs import lifecycle

    # The time limit must come before the reaper's stale limit here (as the defaults have it the other way
    # round, a hung job is first requeued, up to STUDIO_JOB_MAX_ATTEMPTS times, then failed as not responding).
    worker.kill()
    control.kill()
    os.environ["STUDIO_JOB_TIME_LIMIT_SECONDS"] = "10"  # the worker's, for the reason it writes
    os.environ["STUDIO_STALE_AFTER_SECONDS"] = "30"
    control = Worker(f"{QUEUE}-control", "--beat", "--schedule", str(WORKDIR / "beat-schedule"))
    worker = Worker(QUEUE)
    conf.STUDIO_JOB_TIME_LIMIT_SECONDS = 10  # this process's, for the limit on the message
    for label, freeze in (("soft", False), ("hard", True)):
        version = datasets.create_dataset_version(workspace=workspace, user=user, name=f"hung-{label}",
                                                  uploaded=csv_upload("hung.csv", 40), file_name="hung.csv",
                                                  enqueue=False)
        parquet = Path(conf.MEDIA_ROOT) / version.parquet_file.name
        parquet.unlink()
        os.mkfifo(parquet)
        job = ProfileJob.objects.get(version=version)
        lifecycle.send(ProfileJob, job.pk)
        wait_until(lambda: status(ProfileJob, job.pk) == "running", 60)
        if freeze:
            children = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children").read_text().split()
            for child in children:
                os.kill(int(child), signal.SIGSTOP)
        took = wait_until(lambda: status(ProfileJob, job.pk) == "failed", 60)
        right = "time limit of 10 s" in ProfileJob.objects.get(pk=job.pk).error
        rows.append((f"profile hung on storage ({label} time limit, 10 s)", 1, int(not right), took))

    worker.kill()
    control.kill()
    REDIS.kill()
    print()
    print("| fault | jobs affected | jobs lost | time to recover |")
    print("| --- | ---: | ---: | ---: |")
    for fault, affected, lost, took in rows:
        print(f"| {fault} | {affected} | {lost} | {'not within %d s' % DEADLINE if took is None else f'{took:.1f} s'} |")


if __name__ == "__main__":
    try:
        main()
    finally:
        REDIS.kill()
