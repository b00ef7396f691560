"""Datasets, their immutable versions, the uploads of the creation wizard with their type checks, and profile jobs."""
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from studio.jobs.models import BackgroundJob


class ColumnType(models.TextChoices):
    """How the studio and the engine treat a column; detection proposes one, the user may override it."""

    NUMERIC = "numeric", "Numeric"
    CATEGORICAL = "categorical", "Categorical"
    BOOLEAN = "boolean", "Boolean"
    DATETIME = "datetime", "Date/time"
    TEXT = "text", "Text"
    ID = "id", "ID-like"


class Dataset(models.Model):
    """A named table in a workspace; its data lives in numbered, immutable versions."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="dataset_name_unique_in_workspace")]

    def __str__(self):
        return self.name

    def latest_version(self) -> "DatasetVersion | None":
        """The highest-numbered version, or None while the first one is being created."""
        return self.versions.order_by("-version").first()


class DatasetVersion(models.Model):
    """One upload of a dataset: the raw file, its canonical Parquet copy, the schema and the profile status.

    The data never changes once created; uploading again under the same name makes version N+1. ``columns``
    is a list of ``{"name", "type", "missing", "distinct", "excluded", "detected_type", "flags"}``.
    """

    class Status(models.TextChoices):
        PROFILING = "profiling", "Profiling"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROFILING)
    raw_file = models.FileField(max_length=500)
    parquet_file = models.FileField(max_length=500)
    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=20)
    raw_size = models.BigIntegerField(default=0)
    n_rows = models.BigIntegerField(default=0)
    n_columns = models.PositiveIntegerField(default=0)
    columns = models.JSONField(default=list)
    parse_settings = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["dataset", "-version"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_unique")]

    def __str__(self):
        return f"{self.dataset.name} v{self.version}"

    @property
    def workspace(self):
        return self.dataset.workspace

    def included_columns(self) -> list[dict]:
        """The columns an experiment sees: everything not excluded, with the effective type."""
        return [c for c in self.columns if not c.get("excluded")]

    def latest_profile_job(self) -> "ProfileJob | None":
        return self.profile_jobs.order_by("-created_at", "-id").first()


class ProfileJob(BackgroundJob):
    """One background profiling of a dataset version; the page and the API read this row, never Celery."""

    task_name = "datasets.profile_version"
    job_label = "profile"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="profile_jobs")
    profile = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"profile of {self.version} ({self.status})"

    @classmethod
    def on_failed(cls, job_id: int, reason: str) -> None:
        """The version cannot be used without its profile: it shows the reason and offers "Profile again"."""
        version_id = cls.objects.filter(pk=job_id).values_list("version_id", flat=True).first()
        DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.PROFILING).update(
            status=DatasetVersion.Status.FAILED, error=reason)


class StagedUpload(models.Model):
    """A file uploaded in the creation wizard, waiting for its parse settings and the final "Create".

    It is not a dataset: creating the dataset moves the file into the version's folder and deletes this row.
    Uploads left behind by abandoned wizards are purged after ``STAGED_UPLOAD_TTL``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(max_length=500)
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    file_format = models.CharField(max_length=20)
    detected_settings = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"staged {self.original_name}"


class TypeScanJob(BackgroundJob):
    """The wizard's check of a staged upload with one set of parse settings: the same conversion that creating
    the dataset runs, done in the background while the user looks at the preview, so that the schema step
    shows the types decided on the whole file instead of a guess from its first rows. Creating the dataset with
    the same settings takes over its Parquet copy instead of converting the file again."""

    task_name = "datasets.scan_upload"
    job_label = "type check"

    upload = models.ForeignKey(StagedUpload, on_delete=models.CASCADE, related_name="scans")
    parse_settings = models.JSONField(default=dict)
    fraction = models.FloatField(default=0.0, help_text="share of the file read so far, 0 to 1")
    columns = models.JSONField(null=True, blank=True, help_text="the columns and types the whole file gave")
    n_rows = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"type check of {self.upload} ({self.status})"
