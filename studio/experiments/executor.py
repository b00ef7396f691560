"""The engine's ``TrialExecutor`` for the studio: trials of a run go to any Celery worker on the same broker,
database and storage, and the driver's own process evaluates one at a time too.

Each trial is a :class:`TrialJob` row. Remote workers and the driver's local lane claim queued rows with the
same conditional UPDATE, so a trial runs exactly once even when the broker delivers it late, and a run on a
single one-process worker still makes progress (its driver works the queue itself).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from studio.experiments import services
from studio.experiments.models import JobStatus, Run, TrialJob
from studio.jobs import lifecycle

logger = logging.getLogger(__name__)

DB_POLL_SECONDS = 0.25


class CeleryTrialExecutor:
    """``submit`` / ``poll`` / ``cancel`` / ``shutdown`` over TrialJob rows and Celery tasks."""

    def __init__(self, run: Run, local_lane: bool = True, n_threads: int = 1):
        from automl_engine import LocalProcessExecutor

        self.run_id = run.pk
        self.local = LocalProcessExecutor(n_workers=1, n_threads=n_threads).start() if local_lane else None
        self.local_jobs: dict[str, int] = {}  # engine-local handle -> job id
        self.remote: set[int] = set()  # jobs not claimed by this driver and not reported yet
        self.queued_order: list[int] = []
        self.last_db_poll = 0.0
        self.worker = f"driver {services.worker_name()}"

    # -- protocol -------------------------------------------------------------------------------------
    def submit(self, task) -> str:
        data = task.to_dict()
        data["workdir"] = services.relative_to_storage(data["workdir"])
        if self.local is not None and not self.local_jobs:
            now = timezone.now()
            job = TrialJob.objects.create(run_id=self.run_id, number=task.number, task=data, status=JobStatus.RUNNING,
                                          worker=self.worker, started_at=now, heartbeat_at=now)
            self._run_locally(job.pk, data)
            return str(job.pk)
        job = TrialJob.objects.create(run_id=self.run_id, number=task.number, task=data)
        self.remote.add(job.pk)
        self.queued_order.append(job.pk)
        lifecycle.send(TrialJob, job.pk)  # a broker outage leaves it queued: the dispatcher or this driver runs it
        return str(job.pk)

    def poll(self) -> list[tuple[str, dict]]:
        done: list[tuple[str, dict]] = []
        if self.local is not None:
            for handle, outcome in self.local.poll():
                job_id = self.local_jobs.pop(handle, None)
                if job_id is None:
                    continue
                outcome = outcome if isinstance(outcome, dict) else outcome.to_dict()
                TrialJob.objects.filter(pk=job_id).update(status=JobStatus.COMPLETED, finished_at=timezone.now(),
                                                          outcome=services.portable_outcome(outcome))
                done.append((str(job_id), outcome))
        if time.monotonic() - self.last_db_poll >= DB_POLL_SECONDS and (self.remote or not self.local_jobs):
            self.last_db_poll = time.monotonic()
            done.extend(self._collect_remote())
            self._steal()
        return done

    def cancel(self, handle: str) -> None:
        job_id = int(handle)
        for local_handle, local_job in list(self.local_jobs.items()):
            if local_job == job_id:
                self.local.cancel(local_handle)
                del self.local_jobs[local_handle]
        self.remote.discard(job_id)
        now = timezone.now()
        TrialJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELED, cancel_requested=True, finished_at=now)
        TrialJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(cancel_requested=True)
        TrialJob.objects.filter(pk=job_id, worker=self.worker, status=JobStatus.RUNNING).update(
            status=JobStatus.CANCELED, finished_at=now)

    def shutdown(self) -> None:
        if self.local is not None:
            self.local.shutdown()
            self.local = None
        now = timezone.now()
        TrialJob.objects.filter(run_id=self.run_id, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELED, cancel_requested=True, finished_at=now)
        TrialJob.objects.filter(run_id=self.run_id, status=JobStatus.RUNNING).update(cancel_requested=True)
        TrialJob.objects.filter(run_id=self.run_id, status=JobStatus.RUNNING, worker=self.worker).update(
            status=JobStatus.CANCELED, finished_at=now)

    # -- helpers ---------------------------------------------------------------------------------------
    def _run_locally(self, job_id: int, data: dict) -> None:
        from automl_engine import TrialTask

        handle = self.local.submit(TrialTask.from_dict(services.localize_task(data)))
        self.local_jobs[handle] = job_id

    def _collect_remote(self) -> list[tuple[str, dict]]:
        if not self.remote:
            return []
        done = []
        stale_before = timezone.now() - timedelta(seconds=settings.STUDIO_STALE_AFTER_SECONDS)
        rows = TrialJob.objects.filter(pk__in=self.remote).exclude(status=JobStatus.QUEUED).values(
            "id", "number", "status", "outcome", "heartbeat_at", "worker", "task", "error")
        for row in rows:
            job_id = row["id"]
            if row["status"] == JobStatus.COMPLETED and row["outcome"]:
                done.append((str(job_id), services.local_outcome(row["outcome"])))
            elif row["status"] in (JobStatus.FAILED, JobStatus.CANCELED):
                done.append((str(job_id), self._failed(row, row["error"] or f"trial job {row['status']}")))
            elif row["status"] == JobStatus.RUNNING and row["heartbeat_at"] and row["heartbeat_at"] < stale_before:
                if not TrialJob.objects.filter(pk=job_id, status=JobStatus.RUNNING,
                                               heartbeat_at=row["heartbeat_at"]).update(
                        status=JobStatus.FAILED, finished_at=timezone.now(),
                        error=f"worker {row['worker']} stopped responding"):
                    continue
                done.append((str(job_id), self._failed(row, f"worker {row['worker']} stopped responding")))
            else:
                continue
            self.remote.discard(job_id)
        return done

    @staticmethod
    def _failed(row: dict, error: str) -> dict:
        task = row["task"]
        return {"number": row["number"], "status": "failed", "algorithm": task.get("algorithm", ""),
                "hyperparameters": task.get("hyperparameters", {}), "error": error}

    def _steal(self) -> None:
        """Work a queued trial of this run in the driver's own lane while it is idle."""
        if self.local is None or self.local_jobs:
            return
        now = timezone.now()
        for job_id in list(self.queued_order):
            if job_id not in self.remote:
                self.queued_order.remove(job_id)
                continue
            claimed = TrialJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
                status=JobStatus.RUNNING, worker=self.worker, started_at=now, heartbeat_at=now)
            self.queued_order.remove(job_id)
            if claimed:
                self.remote.discard(job_id)
                data = TrialJob.objects.values_list("task", flat=True).get(pk=job_id)
                self._run_locally(job_id, data)
                return
