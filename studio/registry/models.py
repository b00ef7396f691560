"""The model registry: named models, their immutable numbered versions (each a hash-checked copy of a trial's
artifact) and movable aliases such as ``champion``."""
import re

from django.conf import settings
from django.db import models
from django.urls import reverse

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class RegisteredModel(models.Model):
    """A named model in a workspace; its artifacts live in numbered versions (1, 2, ...)."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="registered_models")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text="Markdown")
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="registered_model_name_unique")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("registry:model", args=[self.pk])

    def latest_version(self) -> "ModelVersion | None":
        """The highest-numbered version."""
        return self.versions.order_by("-version").first()


class ModelVersion(models.Model):
    """One immutable version of a registered model: a copy of a trial's pipeline in the registry's storage.

    ``file`` is the storage-relative path of ``model.pkl``; ``sha256`` is checked every time the file is
    loaded or downloaded. ``manifest`` is the engine's manifest (input schema, class labels, library
    versions); ``sample_input`` one row of the training data without the target, used to prefill forms.
    """

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    trial = models.ForeignKey("experiments.Trial", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="model_versions")
    description = models.TextField(blank=True, help_text="Markdown")
    tags = models.JSONField(default=list, blank=True)
    file = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    manifest = models.JSONField(default=dict)
    problem_type = models.CharField(max_length=20, blank=True)
    primary_metric = models.CharField(max_length=60, blank=True)
    primary_score = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    pipeline_name = models.CharField(max_length=300, blank=True)
    algorithm = models.CharField(max_length=100, blank=True)
    is_ensemble = models.BooleanField(default=False)
    sample_input = models.JSONField(default=dict, blank=True)
    # A binary classifier's decision threshold chosen from costs: {"value", "positive_class", "cost_fp",
    # "cost_fn"}; None means the most probable class is predicted. Its endpoints apply it.
    decision_threshold = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-version"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")]

    def __str__(self):
        return f"{self.model.name}:{self.version}"

    def get_absolute_url(self):
        return reverse("registry:version", args=[self.model_id, self.version])

    @property
    def workspace(self):
        return self.model.workspace

    @property
    def input_schema(self) -> list[dict]:
        """``[{"name", "type"}]`` for each raw input column, in training order."""
        return list(self.manifest.get("input_schema") or [])

    @property
    def class_labels(self) -> list | None:
        return self.manifest.get("class_labels")


class ModelAlias(models.Model):
    """A movable name (``champion``, ``challenger``) that points at one version of a model."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=40)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="model_alias_unique")]

    def __str__(self):
        return f"{self.model.name}@{self.name}"
