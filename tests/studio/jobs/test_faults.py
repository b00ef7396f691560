"""Faults on the real stack: workers SIGKILLed mid-job, a broker that goes away and loses its messages, a
database connection cut mid-run. Every job must end completed or failed with a reason people can read,
within two minutes, while a long run keeps another worker busy."""
import io
import os
import time

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from studio.datasets import services as datasets
from studio.datasets.models import DatasetVersion, ProfileJob
from studio.experiments import services as experiments
from studio.experiments.models import ImportanceJob, Run, Trial
from studio.jobs import lifecycle
from studio.registry import services as registry
from studio.serving import services as serving
from studio.serving.models import BatchJob
from tests.conftest import SAMPLES, wait_for
from tests.studio.experiments.conftest import small_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _csv_upload(name: str, rows: int = 300) -> SimpleUploadedFile:
    frame = pd.read_csv(SAMPLES / "bank_marketing_validation_data.csv").head(rows)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return SimpleUploadedFile(name, buffer.getvalue().encode())


def _status(model, pk):
    return model.objects.values_list("status", flat=True).get(pk=pk)


def _block(path) -> bytes:
    """Replace a stored file by a FIFO nobody writes to: a job opening it blocks there, mid-way through its
    work, until the test puts the file back. Returns the file's bytes."""
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    return data


def test_jobs_of_a_killed_worker_end_within_two_minutes_while_a_long_run_occupies_another(
        team, bank_small, bank_run, own_queue, control_worker, fast_lifecycle, storage_dir):
    control_worker()
    busy = own_queue(concurrency=1, extra_env=fast_lifecycle)
    long_run = experiments.submit_run(team.workspace, team.bob, small_job(
        bank_small.dataset_id, name="long", limits={"max_trials": 500, "timeout_minutes": 10}))
    wait_for(lambda: _status(Run, long_run.pk) == "running", 60, message="the long run to start")

    # A run, a profile, a feature-importance job and a batch job on one worker that is SIGKILLed while it works
    # on all four. Each of the three jobs reads a stored file that blocks until the test puts it back (its
    # message is sent only once the file blocks), so the kill finds it half-way through, never finished.
    doomed = own_queue(concurrency=4, extra_env=fast_lifecycle)
    run = experiments.submit_run(team.workspace, team.bob, small_job(
        bank_small.dataset_id, limits={"max_trials": 500, "timeout_minutes": 10}))
    trial = bank_run.trials.filter(is_ensemble=False).first()
    model_version = registry.register_version(trial=trial, name="bank", user=team.alice)
    endpoint, _key = serving.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-batch",
                                             model_version=model_version)
    frame = datasets.load_frame(bank_run.dataset_version).drop(columns=["y"]).head(50)
    wait_for(lambda: Trial.objects.filter(run_id=run.pk).exists(), 90, message="a first trial of the doomed run")
    blocked = {}
    with transaction.atomic():  # the messages go out on commit, after the files block
        version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="orphaned",
                                                  uploaded=_csv_upload("orphaned.csv"), file_name="orphaned.csv")
        batch = serving.start_batch_job(endpoint, SimpleUploadedFile("in.csv", frame.to_csv(index=False).encode()),
                                        user=team.alice)
        for path in (version.parquet_file.name, batch.input_file, bank_run.dataset_version.parquet_file.name):
            blocked[storage_dir / path] = _block(storage_dir / path)
        importance = experiments.request_feature_importance(trial, team.alice)
    profile = ProfileJob.objects.get(version=version)
    jobs = [(Run, run.pk), (ProfileJob, profile.pk), (ImportanceJob, importance.pk), (BatchJob, batch.pk)]
    try:
        wait_for(lambda: all(_status(m, pk) == "running" for m, pk in jobs), 30, interval=0.05,
                 message="the doomed worker's claims")
        time.sleep(0.5)
        assert [(m.objects.get(pk=pk).status, m.objects.get(pk=pk).attempts) for m, pk in jobs] == [("running", 1)] * 4
        doomed.kill()
        killed_at = time.monotonic()
    finally:
        for path, data in blocked.items():
            path.unlink()
            path.write_bytes(data)

    own_queue(concurrency=1, extra_env=fast_lifecycle)  # the worker that picks up what was requeued
    wait_for(lambda: all(_status(m, pk) in ("completed", "failed") for m, pk in jobs), 120,
             message="every job of the dead worker to end")
    assert time.monotonic() - killed_at < 120

    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed"
    assert run.error.startswith(f"The worker running this experiment ({run.worker}) stopped responding at ")
    assert "Finished trials are kept" in run.error and run.trials.filter(status="completed").exists()
    for model, pk in jobs[1:]:
        job = model.objects.get(pk=pk)
        assert (job.status, job.attempts) == ("completed", 2), (model.__name__, job.status, job.error)
    assert DatasetVersion.objects.get(pk=version.pk).status == "ready"
    assert Trial.objects.get(pk=trial.pk).feature_importance
    assert BatchJob.objects.get(pk=batch.pk).rows_done == 50
    # The reaper did all that on its own queue while the long run kept its worker busy.
    assert _status(Run, long_run.pk) == "running" and busy.process.poll() is None
    experiments.cancel_run(Run.objects.get(pk=long_run.pk), team.bob)
    wait_for(lambda: _status(Run, long_run.pk) == "canceled", 60, message="the long run to stop")


def test_a_profile_redelivered_after_its_worker_died_is_run_not_refused(team, fast_lifecycle, settings):
    """Late acks redeliver the message of a job whose worker died; the claim takes it once it is stale."""
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="redelivered",
                                              uploaded=_csv_upload("r.csv", 50), file_name="r.csv", enqueue=False)
    job = ProfileJob.objects.get(version=version)
    assert lifecycle.claim(ProfileJob, job.pk) is not None
    datasets.run_profile(job.pk)  # a duplicate while the first claim is alive: refused
    assert _status(ProfileJob, job.pk) == "running"
    ProfileJob.objects.filter(pk=job.pk).update(heartbeat_at=job.created_at.replace(year=2000))
    datasets.run_profile(job.pk)  # the same message after the worker died: run
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("completed", 2)
    assert DatasetVersion.objects.get(pk=version.pk).status == "ready"


def _cut_sessions(cursor) -> None:
    cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid()")
    assert cursor.fetchall(), "the worker had no session to cut"


def test_a_run_survives_cut_sessions_and_fails_through_a_database_outage_saying_so(
        team, bank_small, own_queue, control_worker, fast_lifecycle):
    """Postgres faults mid-run, with the reaper running. First the worker's sessions are terminated (as an
    administrator or a failover does): the run goes on over new connections. Then Postgres refuses every
    connection for 8 s and cuts the sessions again, as a restart of the server does (the cluster is shared,
    so the test closes its own database instead of restarting it): the run fails once the database is back,
    with the database as the reason, and the reaper, which could not reach it either, blames no worker."""
    if connection.vendor != "postgresql":
        pytest.skip("needs Postgres: pg_terminate_backend, ALTER DATABASE ... ALLOW_CONNECTIONS")
    control_worker()
    own_queue(concurrency=1, extra_env=fast_lifecycle)
    run = experiments.submit_run(team.workspace, team.bob, small_job(
        bank_small.dataset_id, limits={"max_trials": 500, "timeout_minutes": 5}))
    wait_for(lambda: Trial.objects.filter(run_id=run.pk).exists(), 90, message="a first trial")
    with connection.cursor() as cursor:
        _cut_sessions(cursor)
    trials = Trial.objects.filter(run_id=run.pk).count()
    wait_for(lambda: Trial.objects.filter(run_id=run.pk).count() > trials or _status(Run, run.pk) != "running", 60,
             message="a trial after the cut")
    assert Run.objects.values_list("status", "error").get(pk=run.pk) == ("running", "")

    import psycopg2

    db = connection.settings_dict
    admin = psycopg2.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                             password=db["PASSWORD"] or None, dbname="postgres")
    admin.autocommit = True
    cursor = admin.cursor()
    try:
        cursor.execute(f'ALTER DATABASE "{db["NAME"]}" ALLOW_CONNECTIONS false')
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [db["NAME"]])
        assert cursor.fetchall(), "the worker had no session to cut"
        time.sleep(8)
    finally:
        cursor.execute(f'ALTER DATABASE "{db["NAME"]}" ALLOW_CONNECTIONS true')
        admin.close()
    connection.close()  # this process's session was cut too
    wait_for(lambda: _status(Run, run.pk) in ("completed", "failed"), 60, message="the run to end")
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.error) == ("failed", "The experiment run lost its connection to the database "
                                                 "(OperationalError); the database was restarted or unreachable. "
                                                 "Nothing is wrong with the input: run it again.")
    assert run.trials.filter(status="completed").count() >= 2


def test_a_broker_outage_delays_submissions_and_loses_nothing(team, bank_small, api_for, private_broker,
                                                              own_queue, control_worker, fast_lifecycle,
                                                              storage_dir):
    env = {**fast_lifecycle, "CELERY_BROKER_URL": private_broker.url}
    control_worker(env)
    # Work queued while the broker is up but no worker listens; then the broker dies and its messages with it.
    queued_version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="queued",
                                                     uploaded=_csv_upload("queued.csv", 80), file_name="queued.csv")
    queued_run = experiments.submit_run(team.workspace, team.bob, small_job(
        bank_small.dataset_id, name="queued", limits={"max_trials": 1}))
    private_broker.kill()

    # Submissions during the outage are accepted as queued, quickly, with their files in place.
    api = api_for(team.bob)
    started = time.monotonic()
    response = api.post("/api/v1/datasets/", {"name": "during-outage", "file": _csv_upload("outage.csv", 80)},
                        format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "profiling"
    version = DatasetVersion.objects.get(pk=response.json()["version_id"])
    assert (storage_dir / version.raw_file.name).is_file() and (storage_dir / version.parquet_file.name).is_file()
    response = api.post("/api/v1/experiments/", small_job(bank_small.dataset_id, name="outage",
                                                          limits={"max_trials": 1}), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    outage_run = response.json()["id"]
    assert time.monotonic() - started < 15

    private_broker.start()  # empty: nothing it held survived
    back = time.monotonic()
    own_queue(concurrency=1, extra_env=env)
    versions = [queued_version.pk, version.pk]
    runs = [queued_run.pk, outage_run]
    wait_for(lambda: all(_status(DatasetVersion, pk) == "ready" for pk in versions)
             and all(_status(Run, pk) == "completed" for pk in runs), 120,
             message="the lost and the unsent work to run once the broker is back")
    assert time.monotonic() - back < 120
    assert (storage_dir / version.raw_file.name).is_file()


def test_an_attempt_that_wakes_up_after_its_job_was_requeued_cannot_touch_the_next_one(team, fast_lifecycle,
                                                                                        monkeypatch):
    """A process that hung past the stale limit and comes back must not beat, finish or fail the attempt that
    replaced it (the reaper requeued its job and another worker claimed it). This test plays the other worker:
    the requeue's message is kept from the session's live worker, which would otherwise claim and run it."""
    sent = []
    monkeypatch.setattr(lifecycle, "send", lambda model, job_id: sent.append((model, job_id)) or True)
    version = datasets.create_dataset_version(workspace=team.workspace, user=team.alice, name="woken",
                                              uploaded=_csv_upload("w.csv", 20), file_name="w.csv", enqueue=False)
    job = ProfileJob.objects.get(version=version)
    assert lifecycle.claim(ProfileJob, job.pk).attempts == 1
    ProfileJob.objects.filter(pk=job.pk).update(heartbeat_at=job.created_at.replace(year=2000))
    assert lifecycle.reap_stale_jobs() == [("profile", job.pk, "requeued")]
    assert sent == [(ProfileJob, job.pk)]
    assert lifecycle.claim(ProfileJob, job.pk).attempts == 2
    assert not lifecycle.beat(ProfileJob, job.pk, attempt=1)
    assert not lifecycle.finish(ProfileJob, job.pk, attempt=1, profile={"stale": True})
    assert not lifecycle.fail(ProfileJob, job.pk, "the first attempt's time limit", attempt=1)
    assert lifecycle.finish(ProfileJob, job.pk, attempt=2, profile={"columns": []})
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error, job.profile) == ("completed", 2, "", {"columns": []})
