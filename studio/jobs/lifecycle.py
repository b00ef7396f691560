"""The one path every background job takes: enqueue, claim, beat, finish or fail; plus the dispatcher that
re-sends queued jobs whose message was lost and the reaper that requeues or fails jobs whose worker died.

Every function takes the job's model class and id, so a task body stays one service call and a new kind of
job (a subclass of :class:`~studio.jobs.models.BackgroundJob`) gets all of it by declaring ``task_name``.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection, \
    transaction
from django.db.models import F, Q
from django.utils import timezone

from studio.jobs.models import BackgroundJob, JobStatus

log = logging.getLogger(__name__)

# When this process last failed to reach the database while reaping, and when it first reached it again
# (time.monotonic()). Workers cannot beat while the database is down either, so for a full stale interval
# after the database is back the reaper blames no one: the jobs' own failure paths (which retry for
# STUDIO_DB_RETRY_SECONDS) record what really happened. Counted from the last failure instead, that interval
# had already partly passed when the database came back.
_database_unreachable_at: float | None = None
_database_back_at: float | None = None


class JobFailed(Exception):
    """Raised by a job's body to fail it with ``message`` as the reason people read (no traceback logged)."""


def worker_name() -> str:
    """``host:pid`` of this process, stored on the jobs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def job_models() -> list[type[BackgroundJob]]:
    """Every concrete kind of background job installed."""
    return [m for m in apps.get_models() if issubclass(m, BackgroundJob) and m.task_name]


def readable_error(exc: BaseException) -> str:
    """``Type: message`` with the server's own paths (storage, data and code folders) taken out."""
    text = f"{type(exc).__name__}: {exc}"
    for root, label in ((str(settings.MEDIA_ROOT), "<storage>"), (str(settings.DATA_DIR), "<data>"),
                        (str(settings.BASE_DIR), "<studio>")):
        if root and root != "/":
            text = text.replace(root.rstrip("/"), label)
    return re.sub(r"(?<![\w>.])(/[\w.-]+){3,}", "<path>", text)


# --- Enqueue --------------------------------------------------------------------------------------------


def send(model: type[BackgroundJob], job_id: int) -> bool:
    """Send the job's message now; a broker that does not answer is logged and leaves the job queued for the
    dispatcher (the row is the truth, the message only a wake-up call). Returns whether the broker took it."""
    from studio.celery import app

    limit = model.time_limit_for(job_id)
    try:
        app.send_task(model.task_name, args=[job_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE,
                      soft_time_limit=limit, time_limit=hard_time_limit(limit),
                      retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY)
    except Exception as exc:  # kombu raises OperationalError, ConnectionError, TimeoutError... by transport
        log.warning("could not send %s %s to the broker (%s); the dispatcher will send it again",
                    model.job_label, job_id, readable_error(exc))
        return False
    return True


def hard_time_limit(soft: int) -> int:
    """Celery's hard limit for a soft one: the soft limit raises in the task so it can record why it stopped;
    the hard one kills a process too stuck to notice (a blocked system call in C code, a stopped process),
    a quarter of the soft limit later and at most 30 s. The worker then fails the job (``on_time_limit``)."""
    return soft + max(2, min(30, soft // 4))


def enqueue(job: BackgroundJob) -> None:
    """Send a freshly created job once the transaction that created it commits (never before: the worker
    must find the row). A broker outage does not undo the commit: the job stays queued and is re-sent."""
    model, job_id = type(job), job.pk
    transaction.on_commit(lambda: send(model, job_id))


# --- Claim, beat, finish, fail ---------------------------------------------------------------------------


def _stale_cutoff(now=None):
    return (now or timezone.now()) - timedelta(seconds=settings.STUDIO_STALE_AFTER_SECONDS)


def claim(model: type[BackgroundJob], job_id: int):
    """Take the job with one conditional UPDATE and return its row, or None when it is not ours to run.

    A queued job is claimed. So is a running one whose heartbeat went stale when its kind may be retried:
    that is a message redelivered after its worker died (late acks), and refusing it would strand the job.
    """
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED)
    if model.retry_on_death:
        claimable |= Q(status=JobStatus.RUNNING, heartbeat_at__lt=_stale_cutoff(now))
    if not model.objects.filter(claimable, pk=job_id).update(
            status=JobStatus.RUNNING, attempts=F("attempts") + 1, worker=worker_name()[:200], started_at=now,
            heartbeat_at=now, finished_at=None, error=""):
        log.info("%s %s is not queued any more (claimed elsewhere, finished or canceled): skipping",
                 model.job_label, job_id)
        return None
    return model.objects.get(pk=job_id)


def _running(model: type[BackgroundJob], job_id: int, attempt: int | None):
    """The job while it runs; with ``attempt``, only while that claim holds it. A process that hung past the
    stale limit and woke up after the reaper requeued its job must not beat, finish or fail the next attempt."""
    rows = model.objects.filter(pk=job_id, status=JobStatus.RUNNING)
    return rows if attempt is None else rows.filter(attempts=attempt)


def beat(model: type[BackgroundJob], job_id: int, attempt: int | None = None) -> bool:
    """Record progress now; False when the job is no longer running (the reaper or a cancel closed it)."""
    return bool(_running(model, job_id, attempt).update(heartbeat_at=timezone.now()))


class Progress:
    """The heartbeat a job's work calls each time it gets somewhere (a column profiled, a chunk scored, a
    trial polled): at most one UPDATE per ``STUDIO_HEARTBEAT_SECONDS``. A hung job stops calling it and
    goes stale, which a thread beating on its own would hide. ``lost`` turns true once the job was closed
    from outside."""

    def __init__(self, model: type[BackgroundJob], job_id: int, every: float | None = None,
                 attempt: int | None = None):
        self.model, self.job_id, self.attempt = model, job_id, attempt
        self.every = settings.STUDIO_HEARTBEAT_SECONDS if every is None else every
        self.last = time.monotonic()
        self.lost = False

    def __call__(self, *_args, **_kwargs) -> bool:
        """Beat if one is due; returns False once the job is no longer running."""
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.lost = not retry_db(lambda: beat(self.model, self.job_id, self.attempt))
        return not self.lost


def retry_db(query: Callable):
    """Run a small read or write once more on a fresh connection when the first attempt found it closed
    (the database restarted, or an administrator ended the session). Not for use inside a transaction."""
    try:
        return query()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        _drop_connection()
        return query()


@contextmanager
def beating(progress: Progress):
    """Beat from a thread while a library call without progress callbacks runs (the engine's ``explain``).

    Only for bounded calls: the kind's Celery time limit still stops one that hangs.
    """
    done = threading.Event()

    def loop():
        try:
            while not done.wait(min(1.0, progress.every)):
                try:
                    progress()
                except DatabaseError:
                    _drop_connection()
        finally:
            connection.close()

    thread = threading.Thread(target=loop, name=f"{progress.model.job_label}-{progress.job_id}-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


def finish(model: type[BackgroundJob], job_id: int, attempt: int | None = None, **fields) -> bool:
    """Complete a running job, writing ``fields`` with it; False when it was closed (or claimed again) meanwhile."""
    now = timezone.now()
    return bool(_running(model, job_id, attempt).update(
        status=JobStatus.COMPLETED, finished_at=now, heartbeat_at=now, **fields))


def fail(model: type[BackgroundJob], job_id: int, reason: str, status: str = JobStatus.FAILED,
         attempt: int | None = None, **fields) -> bool:
    """Fail (or cancel) a running job with a reason people can read, then run the kind's ``on_failed`` hook.

    It never raises: it is what runs when something already went wrong, often the database itself. A lost
    connection is reopened and the write retried for up to ``STUDIO_DB_RETRY_SECONDS`` (a Postgres restart
    takes seconds); after that the reaper fails the job later, and the log says why.
    """
    deadline = time.monotonic() + settings.STUDIO_DB_RETRY_SECONDS
    while True:
        try:
            if not connection.in_atomic_block:
                close_old_connections()  # drops a connection the error left unusable
            updated = _running(model, job_id, attempt).update(
                status=status, error=reason[:4000], finished_at=timezone.now(), **fields)
            if updated and status == JobStatus.FAILED:
                model.on_failed(job_id, reason)
            return bool(updated)
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() > deadline:
                log.error("could not record the failure of %s %s (%s): %s", model.job_label, job_id,
                          readable_error(exc), reason)
                return False
            _drop_connection()
            time.sleep(1.0)
        except Exception:
            log.exception("could not record the failure of %s %s: %s", model.job_label, job_id, reason)
            return False


def _drop_connection() -> None:
    try:
        connection.close()
    except Exception:  # a connection that died mid-query may fail to close: it is gone either way
        pass


def time_limit_reason(model: type[BackgroundJob], job_id: int) -> str:
    """What a job stopped by its Celery time limit (soft or hard) says."""
    return (f"The {model.job_label} was stopped after its time limit of {model.time_limit_for(job_id)} s "
            f"({model.time_limit_setting}): it made no progress or took too long; an administrator can raise it.")


def on_time_limit(task_name: str, job_id) -> bool:
    """Fail the job of a task whose process the worker killed at its hard time limit (Celery's
    ``task_failure`` signal, in the worker's main process): its own handler never ran, and without this the
    reaper would requeue it or blame a dead worker. Returns whether a job was failed."""
    model = next((m for m in job_models() if m.task_name == task_name), None)
    if model is None or not isinstance(job_id, int):
        return False
    log.error("%s %s hit its hard time limit; its process was killed", model.job_label, job_id)
    # Only the attempt the killed process held: one claimed at least the soft limit ago. A newer attempt (the
    # reaper requeued the job while this one hung) was claimed later and is left to run.
    soft = model.time_limit_for(job_id)
    attempt = model.objects.filter(pk=job_id, status=JobStatus.RUNNING,
                                   started_at__lte=timezone.now() - timedelta(seconds=soft)).values_list(
        "attempts", flat=True).first()
    if attempt is None:
        return False
    return fail(model, job_id, time_limit_reason(model, job_id), attempt=attempt)


def describe_failure(model: type[BackgroundJob], exc: BaseException, job_id: int) -> str:
    """The reason written when the body of job ``job_id`` raised ``exc``."""
    from celery.exceptions import SoftTimeLimitExceeded

    label = model.job_label
    if isinstance(exc, JobFailed):
        return str(exc)
    if isinstance(exc, SoftTimeLimitExceeded):
        return time_limit_reason(model, job_id)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return (f"The {label} lost its connection to the database ({type(exc).__name__}); the database was "
                "restarted or unreachable. Nothing is wrong with the input: run it again.")
    return f"The {label} failed: {readable_error(exc)}"


def run_job(model: type[BackgroundJob], job_id: int, body: Callable[[BackgroundJob, Progress], dict | None]) -> None:
    """Claim the job, run ``body(job, progress)`` and close the job: completed with the fields ``body``
    returns, or failed with a readable reason when it raises. A body that closes the job itself returns None."""
    job = claim(model, job_id)
    if job is None:
        return
    progress = Progress(model, job_id, attempt=job.attempts)
    try:
        fields = body(job, progress)
    except BaseException as exc:
        if not isinstance(exc, (JobFailed, DatabaseError)):
            log.exception("%s %s failed", model.job_label, job_id)
        if isinstance(exc, DatabaseError):
            _drop_connection()
        fail(model, job_id, describe_failure(model, exc, job_id), attempt=job.attempts)
        if not isinstance(exc, Exception):
            raise
        return
    if fields is not None and not finish(model, job_id, attempt=job.attempts, **fields):
        log.warning("%s %s was closed or claimed again while it worked (stale heartbeat or cancel); its result "
                    "is dropped",
                    model.job_label, job_id)


# --- The periodic chores ------------------------------------------------------------------------------


def dispatch_queued_jobs(now=None) -> list[tuple[str, int]]:
    """Re-send queued jobs whose last message is older than ``STUDIO_REDISPATCH_SECONDS``: the broker lost
    it (restarted without persistence) or never took it (down at submission). Claims are conditional, so a
    job whose first message was merely slow runs once all the same. Returns ``(label, id)`` of those sent."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.STUDIO_REDISPATCH_SECONDS)
    sent = []
    for model in job_models():
        due = model.objects.filter(Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True), status=JobStatus.QUEUED)
        for job_id in due.values_list("pk", flat=True)[:500]:
            if send(model, job_id):
                model.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(enqueued_at=now)
                sent.append((model.job_label, job_id))
            else:
                return sent  # the broker is down: try everything again on the next tick
    if sent:
        log.info("re-sent %d queued job(s) whose message was lost or late: %s", len(sent), sent)
    return sent


def reap_stale_jobs(now=None) -> list[tuple[str, int, str]]:
    """Requeue or fail running jobs whose heartbeat is older than ``STUDIO_STALE_AFTER_SECONDS`` (their
    worker died or hangs). Kinds that may be retried go back to the queue until they were claimed
    ``STUDIO_JOB_MAX_ATTEMPTS`` times; the others fail with the kind's ``stale_reason``. Returns
    ``(label, id, "requeued" | "failed")`` for each job handled."""
    global _database_unreachable_at, _database_back_at
    try:
        if _database_unreachable_at is not None:
            with connection.cursor() as cursor:  # back yet?
                cursor.execute("SELECT 1")
            if _database_back_at is None:
                _database_back_at = time.monotonic()
            since = time.monotonic() - _database_back_at
            if since < settings.STUDIO_STALE_AFTER_SECONDS:
                log.info("the database is reachable again since %.0f s: no job is reaped until every worker has had "
                         "a full heartbeat interval to report", since)
                return []
            _database_unreachable_at = _database_back_at = None
        return _reap_stale_jobs(now)
    except (OperationalError, InterfaceError):
        _database_unreachable_at, _database_back_at = time.monotonic(), None
        _drop_connection()
        raise


def _reap_stale_jobs(now=None) -> list[tuple[str, int, str]]:
    now = now or timezone.now()
    cutoff = _stale_cutoff(now)
    handled = []
    for model in job_models():
        stale = model.objects.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff),
                                     status=JobStatus.RUNNING)
        for job_id, heartbeat, worker, attempts in stale.values_list("pk", "heartbeat_at", "worker", "attempts"):
            same = model.objects.filter(pk=job_id, status=JobStatus.RUNNING, heartbeat_at=heartbeat)
            if model.retry_on_death and attempts < settings.STUDIO_JOB_MAX_ATTEMPTS:
                note = (f"attempt {attempts} stopped: its worker ({worker or 'unknown'}) stopped responding; "
                        "queued again")
                if same.update(status=JobStatus.QUEUED, worker="", enqueued_at=now, error=note):
                    model.on_requeued(job_id)
                    send(model, job_id)
                    handled.append((model.job_label, job_id, "requeued"))
            else:
                reason = model.stale_reason(worker=worker, heartbeat=heartbeat, attempts=attempts)
                if same.update(status=JobStatus.FAILED, error=reason, finished_at=now):
                    model.on_failed(job_id, reason)
                    handled.append((model.job_label, job_id, "failed"))
    if handled:
        log.warning("reaped stale jobs: %s", handled)
    return handled
