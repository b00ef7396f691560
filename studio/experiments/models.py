"""Experiments: named groups of runs; a run is one AutoML job over a dataset version, and its trials.

The API calls a run an "experiment" (``POST /api/v1/experiments/`` submits one), as the seed does for a
job; in the code ``Experiment`` is the named group and ``Run`` the job so that reruns stay together.
"""
from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.jobs.models import FINISHED_STATUSES, BackgroundJob, JobStatus


class Experiment(models.Model):
    """A named group of runs in a workspace, created by the first run submitted under its name."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="experiment_name_per_workspace")]

    def __str__(self):
        return self.name


# Every kind of background job shares one status set (studio.jobs); the old names stay for readers.
RunStatus = JobStatus
FINISHED_RUN_STATUSES = FINISHED_STATUSES


class Run(BackgroundJob):
    """One AutoML job: the engine configuration stored verbatim, its lifecycle and what it found.

    A worker claims a queued run with a conditional UPDATE, beats ``heartbeat_at`` from the engine's
    callbacks while it works and reads ``cancel_requested`` to stop; the reaper fails runs whose heartbeat
    went stale (a training run is never retried blindly).
    """

    Status = RunStatus
    task_name = "experiments.execute_run"
    retry_on_death = False
    job_label = "experiment run"
    time_limit_setting = "STUDIO_RUN_TIME_LIMIT_SECONDS"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField(help_text="1, 2, ... within the experiment")
    dataset_version = models.ForeignKey("datasets.DatasetVersion", null=True, on_delete=models.SET_NULL,
                                        related_name="runs")
    validation_version = models.ForeignKey("datasets.DatasetVersion", null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="+")
    test_version = models.ForeignKey("datasets.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    config = models.JSONField(help_text="the engine's job configuration, verbatim")
    task = models.CharField(max_length=30)
    primary_metric = models.CharField(max_length=60)
    greater_is_better = models.BooleanField(default=True)
    cancel_requested = models.BooleanField(default=False)
    stop_reason = models.CharField(max_length=200, blank=True)
    trials_done = models.PositiveIntegerField(default=0)
    best_score = models.FloatField(null=True, blank=True)
    best_trial = models.ForeignKey("experiments.Trial", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    guardrails = models.JSONField(default=list, blank=True)
    featurization_summary = models.JSONField(default=list, blank=True)
    validation_method = models.JSONField(default=dict, blank=True)
    # distributed runs: the Dask cluster (workers, memory) and the current trial's boosting rounds
    cluster = models.JSONField(default=dict, blank=True)
    workdir = models.CharField(max_length=300, blank=True, help_text="storage path of the engine's workdir")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["experiment", "number"], name="run_number_per_experiment")]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self):
        return f"{self.experiment.name} #{self.number}"

    @classmethod
    def time_limit_for(cls, job_id: int) -> int:
        """The run's own budget plus half of it (at least 5 minutes) for the data, ensembles and explanations,
        capped by ``STUDIO_RUN_TIME_LIMIT_SECONDS``: a run whose engine hangs frees its worker soon after its
        budget, not a day later."""
        backstop = cls.time_limit_seconds()
        config = cls.objects.filter(pk=job_id).values_list("config", flat=True).first() or {}
        minutes = (config.get("limits") or {}).get("timeout_minutes")
        if not isinstance(minutes, (int, float)) or minutes <= 0:
            return backstop
        budget = int(minutes * 60)
        return min(backstop, budget + max(300, budget // 2))

    @classmethod
    def stale_reason(cls, *, worker: str, heartbeat, attempts: int) -> str:
        from django.conf import settings as conf

        when = f"{heartbeat:%Y-%m-%d %H:%M:%S} UTC" if heartbeat else "its start"
        return (f"The worker running this experiment ({worker or 'unknown'}) stopped responding at {when} (no "
                f"heartbeat for {conf.STUDIO_STALE_AFTER_SECONDS} s): it was probably killed, ran out of memory, "
                "hangs or lost its machine. Finished trials are kept; resubmit to run again.")

    @classmethod
    def on_failed(cls, job_id: int, reason: str) -> None:
        """A dead run's trials that were still waiting or running elsewhere are canceled, and its log says why."""
        now = timezone.now()
        TrialJob.objects.filter(run_id=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            status=JobStatus.CANCELED, cancel_requested=True, finished_at=now, error="the run stopped")
        RunLog.objects.create(run_id=job_id, level="error", message=reason[:5000])

    @property
    def limits(self) -> dict:
        return self.config.get("limits") or {}

    @property
    def max_trials(self) -> int:
        return int(self.limits.get("max_trials") or 0)

    @property
    def max_concurrent_trials(self) -> int:
        return int(self.limits.get("max_concurrent_trials") or 1)

    @property
    def is_distributed(self) -> bool:
        """Trained by LightGBM on a Dask cluster (``training.training_mode = "distributed"``)."""
        return (self.config.get("training") or {}).get("training_mode") == "distributed"

    @property
    def timeout_seconds(self) -> float:
        return float(self.limits.get("timeout_minutes") or 0) * 60

    @property
    def progress_percent(self) -> int:
        """The larger of trials done of the maximum and time used of the timeout, for one progress bar."""
        if self.status == RunStatus.COMPLETED:
            return 100
        parts = []
        if self.max_trials:
            parts.append(self.trials_done / self.max_trials)
        if self.timeout_seconds and self.duration_seconds is not None:
            parts.append(self.duration_seconds / self.timeout_seconds)
        return int(min(1.0, max(parts or [0.0])) * 100)


class TrialStatus(models.TextChoices):
    """How a trial ended. Only ``failed`` is a failure of the trial itself; ``timed_out`` means it outlived its
    own ``trial_timeout_minutes``, and the last two that the run stopped it while it was running."""

    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CUT_BY_BUDGET = "cut_by_budget", "Cut by budget"
    CANCELED = "canceled", "Canceled"


class Trial(models.Model):
    """One finished trial of a run, ensembles included: what was trained, how it scored, where the model is.

    ``model_file`` is a storage path (under MEDIA_ROOT) of the pickled pipeline; ``sha256`` is its hash and
    ``manifest`` what ``trial_manifest`` builds for the registry.
    """

    Status = TrialStatus

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField()
    algorithm = models.CharField(max_length=80)
    pipeline_name = models.CharField(max_length=200)
    featurization = models.CharField(max_length=300, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    score = models.FloatField(null=True, blank=True)
    charts = models.JSONField(default=dict, blank=True)
    test_metrics = models.JSONField(null=True, blank=True)
    test_charts = models.JSONField(null=True, blank=True)
    feature_importance = models.JSONField(null=True, blank=True)
    duration_seconds = models.FloatField(default=0.0)
    status = models.CharField(max_length=16, choices=TrialStatus.choices)
    error = models.TextField(blank=True)
    is_ensemble = models.BooleanField(default=False)
    model_file = models.CharField(max_length=300, blank=True)
    onnx_file = models.CharField(max_length=300, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now, help_text="when the studio received the trial")

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="trial_number_per_run")]

    def __str__(self):
        return f"trial {self.number} of {self.run_id}: {self.pipeline_name}"

    @property
    def has_model(self) -> bool:
        return bool(self.model_file) and self.status == TrialStatus.COMPLETED


class RunLog(models.Model):
    """One line of a run's log, as the engine and the studio wrote it."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_lines")
    created_at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=10, default="info")
    message = models.TextField()

    class Meta:
        ordering = ["id"]


class TrialJob(BackgroundJob):
    """One trial sent to any Celery worker by a run with ``max_concurrent_trials`` > 1.

    The run's driver creates it (``task`` is the engine's JSON ``TrialTask``); whoever claims it first with
    a conditional UPDATE evaluates it, beats ``heartbeat_at`` and writes ``outcome``; the driver reads it back.
    ``cancel_requested`` makes the evaluating worker kill the trial's process.
    """

    task_name = "experiments.evaluate_trial"
    retry_on_death = False  # the run's driver records the failed trial and goes on with the next one
    job_label = "trial"
    time_limit_setting = "STUDIO_RUN_TIME_LIMIT_SECONDS"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="trial_jobs")
    number = models.PositiveIntegerField()
    task = models.JSONField()
    cancel_requested = models.BooleanField(default=False)
    outcome = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class ImportanceJob(BackgroundJob):
    """A request to compute feature importance for a trial that has none, done by a worker."""

    task_name = "experiments.compute_feature_importance"
    job_label = "feature importance job"

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="importance_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["-id"]


class ModelTestJob(BackgroundJob):
    """A request to score a trial's model on a dataset version holding the target ("Test model"), done by a
    worker: the test metrics and charts are kept on the row. Scoring is idempotent, so a test whose worker
    died is queued again."""

    task_name = "experiments.test_model"
    job_label = "model test"

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="test_jobs")
    dataset_version = models.ForeignKey("datasets.DatasetVersion", null=True, on_delete=models.SET_NULL,
                                        related_name="+")
    metrics = models.JSONField(null=True, blank=True)
    charts = models.JSONField(null=True, blank=True)
    n_rows = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
