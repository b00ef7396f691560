"""Benchmarks of the studio around the engine (scripts that print figures, not timed tests).

    .venv/bin/python bench/studio.py page         # run page of a run with 1,000 trials: server time, queries
    .venv/bin/python bench/studio.py overhead     # trials/min: engine alone vs studio, 1 vs 2 worker processes
    .venv/bin/python bench/studio.py first-trial  # submit -> first finished trial, bank marketing (29,999 rows)
    .venv/bin/python bench/studio.py all

Each invocation works in a fresh data directory (SQLite + filesystem broker) unless DATABASE_URL and
CELERY_BROKER_URL point elsewhere; workers are real ``celery worker`` processes started by the script.
Data: examples/data (see its README): the bank marketing validation split (1,998 rows) for the throughput
comparison, the training split (29,999 rows) for the time to the first trial.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "examples" / "data"
os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
os.environ.setdefault("CELERY_QUEUE", f"bench-{uuid.uuid4().hex[:8]}")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402


def setup_data():
    call_command("migrate", verbosity=0)
    from studio.accounts import services as accounts
    from studio.accounts.models import User

    user = User.objects.filter(username="bench").first() or accounts.create_user(username="bench",
                                                                                password="bench-pass-123")
    return user, accounts.current_workspace_for(user)


def make_version(workspace, user, file_name: str, name: str):
    from studio.datasets import services as datasets
    from studio.datasets.models import Dataset

    existing = Dataset.objects.filter(workspace=workspace, name=name).first()
    if existing:
        return existing.versions.order_by("-version").first()
    path = SAMPLES / file_name
    version = datasets.create_dataset_version(workspace=workspace, user=user, name=name, file_name=file_name,
                                              uploaded=SimpleUploadedFile(file_name, path.read_bytes()))
    datasets.profile_now(version)
    version.refresh_from_db()
    return version


def job(dataset_id: int, name: str, **limits) -> dict:
    return {"name": name, "dataset": dataset_id, "task": "classification", "target_column": "y",
            "primary_metric": "AUC_weighted", "validation": {"n_cross_validations": 3},
            "training": {"allowed_training_algorithms": ["LightGBM", "LogisticRegression", "XGBoostClassifier",
                                                         "RandomForest", "ExtremeRandomTrees"],
                         "enable_vote_ensemble": False, "enable_stack_ensemble": False,
                         "enable_model_explainability": False},
            "limits": {"timeout_minutes": 15, "max_trials": 16, "max_concurrent_trials": 1,
                       "enable_early_termination": False, **limits}}


class Worker:
    """A real ``celery worker`` process on this benchmark's database, broker and queue."""

    def __init__(self, concurrency: int):
        from django.conf import settings

        self.log = Path(settings.DATA_DIR) / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {**os.environ, "DB_CONN_MAX_AGE": "0"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "--loglevel", "INFO", "--concurrency",
             str(concurrency), "--queues", os.environ["CELERY_QUEUE"], "--without-gossip", "--without-mingle",
             "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while b"ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.2)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------------


def bench_page(n_trials: int = 1000, repeats: int = 20) -> None:
    """Server time and query count of the run page and its live fragment, 10 vs 1,000 trials."""
    from django.test import Client

    sys.path.insert(0, str(ROOT))
    from tests.studio.experiments.factories import make_run

    setup_test_environment()
    user, workspace = setup_data()
    version = make_version(workspace, user, "bank_marketing_validation_data.csv", "bank-marketing-validation")
    client = Client()
    client.force_login(user)
    print(f"run page, {repeats} requests each after a warm-up (Django test client, in-process; SQLite unless "
          f"DATABASE_URL is set: {connection.vendor})")
    for n in (10, n_trials):
        run = make_run(workspace, user, version, job(version.dataset_id, f"page-{n}"), n_trials=n)
        for label, url in (("run page", f"/experiments/runs/{run.pk}/"),
                           ("live fragment", f"/experiments/runs/{run.pk}/live/"),
                           ("live, sorted by log_loss, page 3",
                            f"/experiments/runs/{run.pk}/live/?sort=log_loss&page=3")):
            client.get(url)
            times, queries = [], set()
            for _ in range(repeats):
                with CaptureQueriesContext(connection) as ctx:
                    start = time.perf_counter()
                    response = client.get(url)
                    times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.status_code
                queries.add(len(ctx.captured_queries))
            print(f"  {n:>5} trials  {label:<34} median {statistics.median(times):6.1f} ms   "
                  f"p95 {sorted(times)[int(0.95 * len(times)) - 1]:6.1f} ms   queries {sorted(queries)}")
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            client.get(f"/experiments/runs/{run.pk}/history/")
        print(f"  {n:>5} trials  {'search history tab (lazy)':<34} {(time.perf_counter() - start) * 1000:6.1f} ms"
              f"   queries {len(ctx.captured_queries)}")


def _studio_rate(user, workspace, version, concurrency: int, max_concurrent: int, max_trials: int):
    from studio.experiments import services
    from studio.experiments.models import Run

    worker = Worker(concurrency)
    try:
        run = services.submit_run(workspace, user, job(version.dataset_id, f"overhead-{concurrency}-{max_concurrent}",
                                                       max_trials=max_trials, max_concurrent_trials=max_concurrent))
        while Run.objects.get(pk=run.pk).status in ("queued", "running"):
            time.sleep(0.5)
        run = Run.objects.get(pk=run.pk)
        assert run.status == "completed", run.error
        trials = list(run.trials.filter(is_ensemble=False, status="completed").values_list("recorded_at", flat=True))
        span = (max(trials) - run.started_at).total_seconds()
        return len(trials), span, run.best_score
    finally:
        worker.stop()


def bench_overhead(max_trials: int = 16) -> None:
    """The same job on the same data: engine alone, studio with one worker process, studio with two."""
    import automl_engine

    from studio.datasets.services import load_frame
    from studio.experiments import services

    user, workspace = setup_data()
    version = make_version(workspace, user, "bank_marketing_validation_data.csv", "bank-marketing-validation")
    frame = load_frame(version)
    config = services.validate_submission(workspace, job(version.dataset_id, "engine", max_trials=max_trials)).config
    times = []
    engine_job = automl_engine.job_from_config(config, training_data=frame)
    start = time.time()
    result = engine_job.run(callbacks=automl_engine.Callbacks(on_trial=lambda t: times.append(time.time())),
                            workdir=tempfile.mkdtemp(prefix="engine-"))
    engine_n = sum(1 for t in result.trials if t.status == "completed" and not t.is_ensemble)
    engine_span = max(times) - start
    print(f"same job ({max_trials} trials, 3-fold CV, bank marketing validation split, 1,998 rows), "
          f"os.cpu_count()={os.cpu_count()}")
    rows = [("engine alone (1 trial at a time)", engine_n, engine_span, result.best_trial.score)]
    rows.append(("studio, 1 worker process", *_studio_rate(user, workspace, version, 1, 1, max_trials)))
    rows.append(("studio, 2 worker processes", *_studio_rate(user, workspace, version, 2, 2, max_trials)))
    base = rows[0][1] / rows[0][2] * 60
    one = rows[1][1] / rows[1][2] * 60
    for label, n, span, best in rows:
        rate = n / span * 60
        print(f"  {label:<34} {n:>3} trials in {span:6.1f} s = {rate:5.1f} trials/min   best AUC_weighted "
              f"{best:.4f}   vs engine {rate / base:5.2f}x   vs studio-1 {rate / one:5.2f}x")


def bench_first_trial(repeats: int = 3) -> None:
    """From submit to the first finished trial on the full bank marketing training split."""
    from studio.experiments import services
    from studio.experiments.models import Run, Trial

    user, workspace = setup_data()
    version = make_version(workspace, user, "bank_marketing_train_data.csv", "bank-marketing")
    worker = Worker(1)
    try:
        spec = {"name": "first-trial", "dataset": version.dataset_id, "task": "classification",
                "target_column": "y", "primary_metric": "AUC_weighted",
                "limits": {"timeout_minutes": 10, "max_trials": 2, "max_concurrent_trials": 1}}
        print(f"submit -> first finished trial, bank marketing training split ({version.n_rows:,} rows, auto "
              f"validation), one idle worker process, broker {os.environ.get('CELERY_BROKER_URL', 'filesystem')}")
        for i in range(repeats):
            start = time.perf_counter()
            run = services.submit_run(workspace, user, spec)
            while not Trial.objects.filter(run=run).exists():
                time.sleep(0.02)
            first = time.perf_counter() - start
            trial = Trial.objects.filter(run=run).order_by("recorded_at").first()
            started = Run.objects.get(pk=run.pk).started_at
            pickup = (started - run.created_at).total_seconds()
            print(f"  run {i + 1}: first trial after {first:5.2f} s (worker picked the run up after {pickup:4.2f} s; "
                  f"trial {trial.number} {trial.pipeline_name} took {trial.duration_seconds:.2f} s)")
            while Run.objects.get(pk=run.pk).status in ("queued", "running"):
                time.sleep(0.5)
    finally:
        worker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["page", "overhead", "first-trial", "all"], nargs="?", default="all")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--max-trials", type=int, default=16)
    args = parser.parse_args()
    print(f"data directory: {os.environ['STUDIO_DATA_DIR']}")
    if args.what in ("page", "all"):
        bench_page(args.trials)
    if args.what in ("first-trial", "all"):
        bench_first_trial()
    if args.what in ("overhead", "all"):
        bench_overhead(args.max_trials)
