"""A pipeline job (one submitted pipeline YAML) and its steps; each step is one background job on the shared
lifecycle (:class:`~studio.jobs.models.BackgroundJob`) with its own log and outputs."""
from django.conf import settings
from django.db import models

from studio.jobs.models import BackgroundJob


class Status(models.TextChoices):
    """The lifecycle's status set plus ``waiting``: a step whose upstream steps have not finished yet. A step
    leaves ``waiting`` for ``queued`` (then the lifecycle takes it) or for failed/canceled with its
    upstream step's reason."""

    WAITING = "waiting", "Waiting"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELED)


class PipelineJob(models.Model):
    """One run of a pipeline: the YAML as submitted, the inputs it resolved, and the overall status."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="pipeline_jobs")
    name = models.CharField(max_length=200)
    yaml = models.TextField(help_text="the pipeline YAML as submitted")
    inputs = models.JSONField(default=dict, help_text="input values after overrides and dataset resolution")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=200, blank=True, help_text="who or what started it")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


class PipelineStep(BackgroundJob):
    """One step of a pipeline job. ``config`` is the step's YAML (bindings unresolved); ``needs`` the steps
    whose outputs it reads; ``outputs`` what it produced (dataset version, run, model version, metrics).

    A queued step runs through the shared lifecycle: claimed with a conditional UPDATE, beating while it
    works, finished or failed with a reason. A worker killed mid-step leaves a stale heartbeat, and the
    reaper fails the step with that reason (never retried blindly: a command step's script or a register
    step must not run twice), after which its pipeline fails its dependants. An AutoML step stays running
    while its run trains; the pipeline's advance (also a periodic chore on the control queue) beats it as
    long as the run is alive, and the run's own reaper ends a run whose worker died."""

    task_name = "pipelines.run_step"
    retry_on_death = False
    job_label = "pipeline step"

    job = models.ForeignKey(PipelineJob, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(help_text="topological order")
    type = models.CharField(max_length=20)
    config = models.JSONField(default=dict)
    needs = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING, db_index=True)
    # A waiting step has sent no message yet: the dispatcher only looks at queued ones.
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="when a message was last sent for it")
    log = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey("experiments.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    endpoint_key = models.CharField(max_length=200, blank=True, help_text=(
        "the scoring key of an endpoint a deploy step created, until its first viewer with the editor role "
        "has seen it (then erased: the studio keeps only its hash)"))

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="pipeline_step_name_unique")]

    def __str__(self) -> str:
        return f"{self.job} · {self.name}"

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish; None until it finished (the page shows "running" meanwhile)."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @classmethod
    def on_failed(cls, job_id: int, reason: str) -> None:
        """A failed step (by its runner or the reaper) fails its dependants: advance its pipeline now."""
        from studio.pipelines.services import advance_soon

        pipeline_id = cls.objects.filter(pk=job_id).values_list("job_id", flat=True).first()
        if pipeline_id is not None:
            advance_soon(pipeline_id)


class DatasetLineage(models.Model):
    """A dataset version a prep step derived from another, and how."""

    derived = models.OneToOneField("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="lineage")
    source = models.ForeignKey("datasets.DatasetVersion", null=True, on_delete=models.SET_NULL, related_name="+")
    step = models.ForeignKey(PipelineStep, null=True, on_delete=models.SET_NULL, related_name="+")
    operations = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)


class PipelineSchedule(models.Model):
    """A pipeline that runs on a cron expression or every N minutes. Its dataset inputs written as
    ``azureml:NAME@latest`` resolve to the newest ready version at each firing, so next month's upload is
    what next month's run trains on. Each firing is a :class:`PipelineJob` whose trigger names the schedule."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="pipeline_schedules")
    name = models.CharField(max_length=200)
    yaml = models.TextField()
    inputs = models.JSONField(default=dict, blank=True, help_text="input overrides for every firing")
    cron = models.CharField(max_length=100, blank=True, help_text="minute hour day-of-month month day-of-week (UTC)")
    every_minutes = models.PositiveIntegerField(null=True, blank=True)
    recurrence = models.JSONField(default=dict, blank=True, help_text=(
        "the Azure ML recurrence trigger as given (frequency, interval, schedule); cron or every_minutes hold "
        "what it means"))
    paused = models.BooleanField(default=False)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_job = models.ForeignKey(PipelineJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="pipeline_schedule_name_unique")]

    def __str__(self) -> str:
        return self.name
