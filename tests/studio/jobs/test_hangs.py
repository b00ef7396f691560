"""Work that really hangs, on real worker processes: a profile blocked on storage that never answers (a FIFO
nobody writes, as a dead network mount behaves) is stopped by its soft time limit, or by its hard one when its
process is frozen too; a run whose process freezes stops beating and is failed by the reaper, and its worker
takes the next job once the process moves again. Nothing stays "running"."""
import os
import signal
import time
from pathlib import Path

import pytest
from django.db.models import F

from studio.datasets import services as datasets
from studio.datasets.models import DatasetVersion, ProfileJob
from studio.experiments import services as experiments
from studio.experiments.models import Run, RunLog, Trial
from studio.jobs import lifecycle
from tests.conftest import wait_for
from tests.studio.experiments.conftest import small_job
from tests.studio.jobs.test_faults import _csv_upload, _status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

TIME_LIMIT = {"STUDIO_JOB_TIME_LIMIT_SECONDS": "10", "STUDIO_HEARTBEAT_SECONDS": "1"}


def _pool_children(worker) -> list[int]:
    """The prefork pool's processes of a worker (the ones that execute tasks)."""
    pids = []
    for task in Path(f"/proc/{worker.process.pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def _hung_profile(team, storage_dir, name: str) -> ProfileJob:
    """A profile job whose Parquet file is a FIFO: opening it blocks until a writer comes, which never does."""
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name=name,
                                              uploaded=_csv_upload(f"{name}.csv", 40), file_name=f"{name}.csv",
                                              enqueue=False)
    parquet = storage_dir / version.parquet_file.name
    parquet.unlink()
    os.mkfifo(parquet)
    job = ProfileJob.objects.get(version=version)
    assert lifecycle.send(ProfileJob, job.pk)
    return job


def test_a_hung_profile_is_stopped_by_its_time_limit_soft_or_hard_and_the_worker_goes_on(
        team, own_queue, storage_dir, settings):
    settings.STUDIO_JOB_TIME_LIMIT_SECONDS = 10  # what lifecycle.send puts on the message
    worker = own_queue(concurrency=1, extra_env=TIME_LIMIT)
    reason = ("The profile was stopped after its time limit of 10 s (STUDIO_JOB_TIME_LIMIT_SECONDS): it made no "
              "progress or took too long; an administrator can raise it.")

    # Blocked in open(): the soft limit's signal interrupts the system call and the job records why.
    soft = _hung_profile(team, storage_dir, "soft")
    wait_for(lambda: _status(ProfileJob, soft.pk) == "running", 30, interval=0.05, message="the claim")
    started = time.monotonic()
    wait_for(lambda: _status(ProfileJob, soft.pk) == "failed", 30, message="the soft time limit")
    assert 8 < time.monotonic() - started < 16
    soft.refresh_from_db()
    assert soft.error == reason
    assert soft.heartbeat_at == soft.started_at  # hung: not one beat of progress
    assert DatasetVersion.objects.values_list("status", "error").get(pk=soft.version_id) == ("failed", reason)

    # The same, with the process frozen as well: only the hard limit (12 s) can stop it, by killing the process;
    # the worker's main process then fails the job with the same reason.
    hard = _hung_profile(team, storage_dir, "hard")
    wait_for(lambda: _status(ProfileJob, hard.pk) == "running", 30, interval=0.05, message="the claim")
    (child,) = _pool_children(worker)
    os.kill(child, signal.SIGSTOP)
    started = time.monotonic()
    wait_for(lambda: _status(ProfileJob, hard.pk) == "failed", 40, message="the hard time limit")
    assert 10 < time.monotonic() - started < 25
    assert ProfileJob.objects.get(pk=hard.pk).error == reason
    assert "Hard time limit (12s) exceeded for datasets.profile_version" in worker.log()

    # The worker replaced its killed process and takes the next job.
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="after",
                                              uploaded=_csv_upload("after.csv", 40), file_name="after.csv")
    wait_for(lambda: _status(DatasetVersion, version.pk) == "ready", 60, message="the next profile")


def test_a_run_whose_process_hangs_is_failed_by_the_reaper_and_its_worker_moves_on(
        team, bank_small, own_queue, control_worker, fast_lifecycle):
    control_worker()
    worker = own_queue(concurrency=1, extra_env=fast_lifecycle)
    run = experiments.submit_run(team.workspace, team.bob, small_job(
        bank_small.dataset_id, limits={"max_trials": 500, "timeout_minutes": 5}))
    # Searching: the engine's loop has beaten the heartbeat since the claim.
    wait_for(lambda: Run.objects.filter(pk=run.pk, status="running", heartbeat_at__gt=F("started_at")).exists(), 90,
             message="the engine to poll")
    (child,) = _pool_children(worker)
    os.kill(child, signal.SIGSTOP)  # the driver freezes mid-search: alive, holding its slot, doing nothing
    frozen = time.monotonic()
    try:
        wait_for(lambda: _status(Run, run.pk) == "failed", 30, message="the reaper to fail the hung run")
        assert time.monotonic() - frozen < 6 + 2 + 5  # stale after 6 s, chores every 2 s
        run.refresh_from_db()
        assert run.error.startswith(f"The worker running this experiment ({run.worker}) stopped responding at ")
        assert "hangs" in run.error
    finally:
        os.kill(child, signal.SIGCONT)
    # Moving again, the driver finds its run closed, stops its search and keeps what it found.
    wait_for(lambda: RunLog.objects.filter(run_id=run.pk, message__contains="already closed").exists(), 30,
             message="the driver to notice")
    assert _status(Run, run.pk) == "failed"
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="after",
                                              uploaded=_csv_upload("after.csv", 40), file_name="after.csv")
    wait_for(lambda: _status(DatasetVersion, version.pk) == "ready", 60, message="the worker's next job")


@pytest.mark.django_db
def test_a_run_s_time_limit_follows_its_own_budget_under_the_backstop(team, bank_small, settings):
    settings.STUDIO_RUN_TIME_LIMIT_SECONDS = 7200
    limits = {}
    for minutes in (5, 60, 240):
        run = experiments.submit_run(team.workspace, team.bob, small_job(bank_small.dataset_id,
                                                                         limits={"timeout_minutes": minutes}))
        limits[minutes] = (Run.time_limit_for(run.pk), lifecycle.hard_time_limit(Run.time_limit_for(run.pk)))
    # budget + max(5 min, half the budget), at most the backstop; the hard limit a quarter later, at most 30 s.
    assert limits == {5: (600, 630), 60: (5400, 5430), 240: (7200, 7230)}
    assert lifecycle.hard_time_limit(10) == 12


@pytest.mark.django_db
def test_a_hard_time_limit_fails_only_the_attempt_its_process_held(team, settings):
    """The worker kills a process at its hard limit and fails its job; if the reaper had requeued the job
    meanwhile and another worker claimed it, that newer attempt is left alone."""
    from datetime import timedelta

    from django.utils import timezone

    settings.STUDIO_JOB_TIME_LIMIT_SECONDS = 10
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="limits",
                                              uploaded=_csv_upload("l.csv", 20), file_name="l.csv", enqueue=False)
    job = ProfileJob.objects.get(version=version)
    lifecycle.claim(ProfileJob, job.pk)  # a newer attempt, claimed 3 s ago
    ProfileJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=3))
    assert not lifecycle.on_time_limit("datasets.profile_version", job.pk)
    assert _status(ProfileJob, job.pk) == "running"
    ProfileJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=12))  # the killed one
    assert lifecycle.on_time_limit("datasets.profile_version", job.pk)
    assert ProfileJob.objects.values_list("status", "error").get(pk=job.pk) == (
        "failed", "The profile was stopped after its time limit of 10 s (STUDIO_JOB_TIME_LIMIT_SECONDS): it made no "
                  "progress or took too long; an administrator can raise it.")
    assert not lifecycle.on_time_limit("jobs.reap_stale", job.pk)  # not a job's task


def test_after_a_database_outage_the_reaper_waits_a_full_interval_from_when_the_database_is_back(
        monkeypatch, settings):
    """The reaper's grace after an outage starts when it reaches the database again, not at its last failure:
    workers have a full heartbeat interval with the database up before anyone is blamed."""
    from types import SimpleNamespace

    from django.db import OperationalError

    settings.STUDIO_STALE_AFTER_SECONDS = 6
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(lifecycle, "time", SimpleNamespace(monotonic=lambda: clock.now, sleep=lambda s: None))
    monkeypatch.setattr(lifecycle, "_database_unreachable_at", None)
    monkeypatch.setattr(lifecycle, "_database_back_at", None)
    reaped = []

    def reap(now=None):
        reaped.append(clock.now)
        if clock.now < 101:
            raise OperationalError("the database is restarting")
        return [("run", 7, "failed")]

    monkeypatch.setattr(lifecycle, "_reap_stale_jobs", reap)
    with pytest.raises(OperationalError):
        lifecycle.reap_stale_jobs()  # 100 s: down
    results = {}
    for clock.now in (102.0, 104.0, 107.9, 108.0):
        results[clock.now] = lifecycle.reap_stale_jobs()
    assert results == {102.0: [], 104.0: [], 107.9: [], 108.0: [("run", 7, "failed")]}
    assert reaped == [100.0, 108.0]
