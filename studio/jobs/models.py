"""The abstract row every kind of background job inherits: one status set and one set of lifecycle columns."""
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class BackgroundJob(models.Model):
    """A unit of background work with its own row: the UI reads this row, never Celery's result backend.

    A worker claims the row with a conditional UPDATE (``lifecycle.claim``), beats ``heartbeat_at`` each time
    the work makes progress, and ends it with ``lifecycle.finish`` or ``lifecycle.fail``. ``attempts``
    counts claims; ``enqueued_at`` is when a message was last sent for it, so the dispatcher knows which
    queued jobs lost theirs.

    A concrete kind sets three class attributes:

    * ``task_name``: the Celery task that takes the row's id;
    * ``retry_on_death``: whether a job whose worker died is requeued (idempotent work such as a profile)
      or failed with a reason (a training run: never retried blindly);
    * ``job_label``: what people call it, for messages ("profile", "run").
    """

    Status = JobStatus

    task_name: str = ""
    retry_on_death: bool = True
    job_label: str = "job"
    time_limit_setting: str = "STUDIO_JOB_TIME_LIMIT_SECONDS"

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="how many times a worker claimed it")
    worker = models.CharField(max_length=200, blank=True, help_text="the worker that claimed it last")
    error = models.TextField(blank=True, help_text="why the job failed or stopped, in words for people")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(default=timezone.now, null=True, blank=True,
                                       help_text="when a message was last sent for it")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, or to now while running."""
        if self.started_at is None:
            return None
        return max(0.0, ((self.finished_at or timezone.now()) - self.started_at).total_seconds())

    @classmethod
    def time_limit_seconds(cls) -> int:
        """The Celery soft time limit of this kind's task, from the setting named by ``time_limit_setting``."""
        from django.conf import settings

        return int(getattr(settings, cls.time_limit_setting))

    @classmethod
    def time_limit_for(cls, job_id: int) -> int:
        """The soft time limit of one job's task; a kind whose jobs carry their own budget narrows it."""
        return cls.time_limit_seconds()

    @classmethod
    def stale_reason(cls, *, worker: str, heartbeat, attempts: int) -> str:
        """What the reaper writes when it fails a job of this kind whose worker stopped beating."""
        from django.conf import settings

        when = f"{heartbeat:%Y-%m-%d %H:%M:%S} UTC" if heartbeat else "its start"
        tries = f" after {attempts} attempts" if cls.retry_on_death else ""
        return (f"The worker running this {cls.job_label} ({worker or 'unknown'}) stopped responding at {when} "
                f"(no heartbeat for {settings.STUDIO_STALE_AFTER_SECONDS} s){tries}: it was probably killed, ran out of "
                "memory or hangs. Run it again; if it keeps failing, give the worker more memory.")

    # Hooks a kind may override; they run inside the reaper's or the runner's transaction-free code.
    @classmethod
    def on_failed(cls, job_id: int, reason: str) -> None:
        """Called after a job of this kind was failed by the runner or the reaper (e.g. mark a version failed)."""

    @classmethod
    def on_requeued(cls, job_id: int) -> None:
        """Called after the reaper put a job of this kind back in the queue."""
