"""Scoring endpoints served by the studio itself: endpoints with their keys, deployments of model versions
with a traffic split, per-minute request metrics, recent errors and batch scoring jobs."""
import hashlib
import re

from django.conf import settings
from django.db import models
from django.urls import reverse

from studio.jobs.models import BackgroundJob

# Endpoint names are unique across the whole studio (as Azure's are within a region), because the scoring
# URL /api/v1/endpoints/<name>/score/ is called with only a key, without a workspace.
ENDPOINT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
DEPLOYMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Upper edges (ms) of the latency histogram kept per minute; the last bucket is everything slower.
LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def hash_key(key: str) -> str:
    """Keys are 256-bit random tokens, so one sha256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


class Endpoint(models.Model):
    """A REST scoring endpoint: a globally unique name, a key (stored hashed) and one or more deployments."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=32, unique=True)
    description = models.TextField(blank=True)
    key_hash = models.CharField(max_length=64)
    key_prefix = models.CharField(max_length=12)
    key_rotated_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("serving:detail", args=[self.pk])

    def scoring_path(self) -> str:
        return reverse("api-endpoint-score", args=[self.name])

    def key_matches(self, key: str) -> bool:
        import hmac

        return bool(key) and hmac.compare_digest(hash_key(key), self.key_hash)


class Deployment(models.Model):
    """One model version served behind an endpoint, with its share of the traffic (0-100 %)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=32)
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="deployments")
    traffic_percent = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["endpoint", "-traffic_percent", "name"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "name"], name="deployment_name_unique"),
            models.CheckConstraint(condition=models.Q(traffic_percent__lte=100), name="deployment_traffic_max_100"),
        ]

    def __str__(self):
        return f"{self.endpoint.name}/{self.name}"


class EndpointMinute(models.Model):
    """Request counters of one deployment for one minute (written in batches by each serving process)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="minutes")
    deployment_name = models.CharField(max_length=32, blank=True)
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    rows = models.PositiveBigIntegerField(default=0)
    client_errors = models.PositiveIntegerField(default=0)
    server_errors = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    latency_max_ms = models.FloatField(default=0)
    latency_buckets = models.JSONField(default=list)

    class Meta:
        ordering = ["endpoint", "minute"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "deployment_name", "minute"],
                                               name="endpoint_minute_unique")]


class ScoringError(models.Model):
    """One failed scoring request, kept so that the endpoint page can show the most recent ones."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="errors")
    deployment_name = models.CharField(max_length=32, blank=True)
    status_code = models.PositiveSmallIntegerField()
    message = models.TextField()
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]


class BatchJob(BackgroundJob):
    """A CSV scored in the background against one deployment; the output is a formula-safe CSV."""

    task_name = "serving.run_batch_job"
    job_label = "batch scoring job"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="batch_jobs")
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    deployment_name = models.CharField(max_length=32)
    input_file = models.CharField(max_length=500)
    input_name = models.CharField(max_length=255)
    output_file = models.CharField(max_length=500, blank=True)
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"batch {self.pk} on {self.endpoint.name}"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_total))
