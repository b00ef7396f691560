"""Workflows of the model registry: registering a trial's model as a new version (a verified, atomically
written copy of the artifact), aliases, descriptions rendered safely, lineage and comparisons."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from pathlib import Path

import bleach
import markdown
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils.safestring import SafeString, mark_safe

from studio.registry.models import ALIAS_RE, NAME_RE, ModelAlias, ModelVersion, RegisteredModel

log = logging.getLogger(__name__)
MAX_TAGS = 20


class RegistryError(ValueError):
    """A registry request that cannot be carried out; the message names the problem and the fix, ``field``
    the offending input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ArtifactIntegrityError(RegistryError):
    """A stored artifact does not match the sha256 recorded for it."""


# --- Input checks -----------------------------------------------------------------------------------------------


def clean_model_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise RegistryError(f"{name!r} is not a valid model name: use 1-100 letters, digits, dots, dashes and "
                            "underscores, starting with a letter or digit (e.g. bank-marketing).", "name")
    return name


def clean_tags(tags) -> list[str]:
    """Tags as a list of short strings; a comma-separated string is accepted too."""
    if tags in (None, ""):
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise RegistryError('Tags must be a list of strings, e.g. ["churn", "q3"].', "tags")
    cleaned = []
    for tag in tags:
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > 40:
            raise RegistryError(f"The tag {tag[:40]!r}... is longer than 40 characters; shorten it.", "tags")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise RegistryError(f"{len(cleaned)} tags is more than the {MAX_TAGS} allowed.", "tags")
    return cleaned


def clean_alias(alias: str) -> str:
    alias = (alias or "").strip()
    if not ALIAS_RE.match(alias):
        raise RegistryError(f"{alias!r} is not a valid alias: 1-40 lowercase letters, digits, - and _, starting with "
                            "a letter (e.g. champion).", "alias")
    if alias.isdigit() or alias == "latest":
        raise RegistryError(f"{alias!r} is reserved; choose another alias.", "alias")
    return alias


# --- Markdown -----------------------------------------------------------------------------------------------------

_ALLOWED_TAGS = ["p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "code", "pre",
                 "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "del"]
_ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "th": ["align"], "td": ["align"]}


def render_markdown(text: str) -> SafeString:
    """Markdown to HTML with everything but a small set of formatting tags stripped (no scripts, no event
    handlers, no javascript: links); links get rel=nofollow."""
    html = markdown.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"])
    cleaned = bleach.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
                           protocols=["http", "https", "mailto"], strip=True)
    return mark_safe(bleach.linkify(cleaned, callbacks=[bleach.callbacks.nofollow], skip_tags=["pre", "code"]))


# --- Storage --------------------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(target: Path, chunks) -> str:
    """Write ``chunks`` (bytes) to ``target`` through a temporary file in the same folder, fsync it and rename
    it into place, so a reader sees either nothing or the whole file. Returns the sha256 of what was written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    digest = hashlib.sha256()
    try:
        with open(temporary, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
        _fsync_dir(target.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _file_chunks(path: Path):
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


def version_path(version: ModelVersion) -> Path:
    return Path(default_storage.path(version.file))


def verified_artifact(version: ModelVersion) -> Path:
    """The path of a version's ``model.pkl`` after checking it against the recorded sha256."""
    path = version_path(version)
    if not path.exists():
        raise ArtifactIntegrityError(f"The model file of {version} is missing from storage; register its trial again.")
    digest = hashlib.sha256()
    for chunk in _file_chunks(path):
        digest.update(chunk)
    if digest.hexdigest() != version.sha256:
        raise ArtifactIntegrityError(f"The model file of {version} has sha256 {digest.hexdigest()}, expected "
                                     f"{version.sha256}: it was modified or corrupted and will not be served or "
                                     "downloaded. Register its trial again to get an intact copy.")
    return path


# --- Registration ----------------------------------------------------------------------------------------------------


def _sample_input(trial, schema: list[dict], manifest: dict | None = None) -> dict:
    """One row of the run's training data restricted to the model's input columns (None for missing values);
    for a forecaster, its first future row (training rows lie before the forecast origin)."""
    future = ((manifest or {}).get("forecasting") or {}).get("example_rows")
    if future:
        return dict(future[0])
    run = trial.run
    if run.dataset_version_id is None or not schema:
        return {}
    try:
        from studio.datasets.services import load_frame

        frame = load_frame(run.dataset_version, columns=[c["name"] for c in schema], limit=1)
    except Exception as exc:  # noqa: BLE001 - a sample is a convenience; registration must not fail on it
        log.warning("no sample row for trial %s: %s", trial.pk, exc)
        return {}
    names = [c["name"] for c in schema if c["name"] in frame.columns]
    if frame.empty or len(names) != len(schema):
        return {}
    row = frame[names].iloc[0].to_dict()
    return {name: _plain(row[name], spec.get("type")) for name, spec in zip(names, schema)}


def _plain(value, kind: str | None):
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if kind == "Numeric":
        # The dataset may type a column differently (0/1 as boolean, codes as text); the model wants numbers.
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return None
            return int(number) if number.is_integer() else number
        return value if isinstance(value, (int, float)) else None
    if kind in ("DateTime", "Text"):
        return str(value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def register_version(*, trial, name: str, user, description: str = "", tags=None) -> ModelVersion:
    """Register ``trial``'s model under ``name`` as version 1 of a new model, or N+1 of an existing one.

    The artifact is copied into the registry's storage (temporary file, fsync, atomic rename) and its hash
    must equal the one recorded for the trial, so a changed trial file is never registered.
    """
    from studio.experiments.services import ArtifactUnavailable, trial_manifest, trial_model_path

    name = clean_model_name(name)
    tags = clean_tags(tags)
    workspace = trial.run.workspace
    if trial.status != "completed" or not trial.model_file:
        raise RegistryError(f"Trial {trial.number} has no model to register (it {trial.status}); pick a completed "
                            "trial.", "trial")
    try:
        source = trial_model_path(trial)
        manifest = dict(trial_manifest(trial))
    except ArtifactUnavailable as exc:
        raise RegistryError(str(exc), "trial") from None
    except ValueError as exc:  # automl_engine.ModelIntegrityError
        raise ArtifactIntegrityError(f"Trial {trial.number}'s model file failed its integrity check: {exc}",
                                     "trial") from None
    expected = trial.sha256 or manifest.get("sha256")
    folder = f"registry/{workspace.pk}/{uuid.uuid4().hex}"
    target = Path(default_storage.path(f"{folder}/model.pkl"))
    actual = write_atomically(target, _file_chunks(source))
    if actual != expected:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise ArtifactIntegrityError(f"Trial {trial.number}'s model file has sha256 {actual}, but {expected} was "
                                     "recorded when it was trained: it was modified or corrupted, so it was not "
                                     "registered. Re-run the experiment to get an intact model.", "trial")
    manifest["sha256"] = actual
    write_atomically(target.with_name("manifest.json"), [json.dumps(manifest, indent=2, default=str).encode()])
    run = trial.run
    fields = dict(
        trial=trial, description=(description or "").strip(), tags=tags, file=f"{folder}/model.pkl", sha256=actual,
        size_bytes=target.stat().st_size, manifest=manifest, problem_type=run.task,
        primary_metric=run.primary_metric, primary_score=trial.score, metrics=trial.metrics or {},
        pipeline_name=trial.pipeline_name, algorithm=trial.algorithm, is_ensemble=trial.is_ensemble,
        sample_input=_sample_input(trial, manifest.get("input_schema") or [], manifest), created_by=user)
    try:
        for attempt in range(3):
            try:
                with transaction.atomic():
                    model, created = RegisteredModel.objects.get_or_create(
                        workspace=workspace, name=name,
                        defaults={"description": fields["description"], "tags": tags, "created_by": user})
                    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
                    number = (model.versions.aggregate(n=Max("version"))["n"] or 0) + 1
                    version = ModelVersion.objects.create(model=model, version=number, **fields)
                    model.save(update_fields=["updated_at"])
                return version
            except IntegrityError:
                if attempt == 2:
                    raise
    except BaseException:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise


def update_model(model: RegisteredModel, *, description: str | None = None, tags=None) -> RegisteredModel:
    """Change a registered model's description (Markdown) and tags."""
    if description is not None:
        model.description = description.strip()
    if tags is not None:
        model.tags = clean_tags(tags)
    model.save()
    return model


def resolve_version(model: RegisteredModel, ref) -> ModelVersion:
    """A version by number (``3``, ``"3"``), alias (``"champion"``) or ``"latest"``."""
    if isinstance(ref, bool) or ref in (None, ""):
        raise RegistryError("Name a version: its number, an alias such as champion, or latest.", "version")
    text = str(ref).strip()
    if text == "latest":
        version = model.latest_version()
    elif text.isdigit():
        version = model.versions.filter(version=int(text)).first()
    else:
        alias = model.aliases.select_related("version").filter(name=text).first()
        version = alias.version if alias else None
    if version is None:
        known = ", ".join(str(v) for v in model.versions.order_by("version").values_list("version", flat=True))
        aliases = ", ".join(model.aliases.values_list("name", flat=True)) or "none"
        raise RegistryError(f"{model.name} has no version {text!r}; its versions are {known or 'none'} and its "
                            f"aliases {aliases}.", "version")
    return version


def set_alias(model: RegisteredModel, alias: str, version_ref, user) -> ModelAlias:
    """Point ``alias`` at a version of ``model``, moving it if it pointed elsewhere."""
    alias = clean_alias(alias)
    version = resolve_version(model, version_ref)
    with transaction.atomic():
        obj, _ = ModelAlias.objects.select_for_update().update_or_create(
            model=model, name=alias, defaults={"version": version, "updated_by": user})
    return obj


def delete_alias(model: RegisteredModel, alias: str) -> None:
    deleted, _ = ModelAlias.objects.filter(model=model, name=alias).delete()
    if not deleted:
        raise RegistryError(f"{model.name} has no alias {alias!r}.", "alias")


def delete_version(version: ModelVersion) -> None:
    """Delete a version and its stored artifact; refused while an endpoint serves it."""
    if version.deployments.exists():
        names = ", ".join(sorted({d.endpoint.name for d in version.deployments.select_related("endpoint")}))
        raise RegistryError(f"{version} is deployed to {names}; remove those deployments first.")
    folder = version_path(version).parent
    version.delete()
    shutil.rmtree(folder, ignore_errors=True)


# --- Reading -------------------------------------------------------------------------------------------------------


def search_models(workspace, query: str = "", tag: str = ""):
    """Registered models of a workspace, filtered by a text query over name/description and by tag."""
    models = RegisteredModel.objects.filter(workspace=workspace).prefetch_related("aliases__version", "versions")
    if query:
        models = models.filter(Q(name__icontains=query) | Q(description__icontains=query))
    result = list(models)
    if tag:
        result = [m for m in result if tag in (m.tags or [])]
    return result


def workspace_tags(workspace) -> list[str]:
    tags = set()
    for model_tags in RegisteredModel.objects.filter(workspace=workspace).values_list("tags", flat=True):
        tags.update(model_tags or [])
    return sorted(tags)


def set_decision_threshold(version: ModelVersion, value, cost_fp=None, cost_fn=None) -> ModelVersion:
    """Save (or with ``value=None`` clear) a binary classifier's decision threshold: its endpoints then predict
    the positive class when its probability is at least ``value``. The costs are kept to show how it was
    chosen. Raises :class:`RegistryError` naming the bad input."""
    if value is None:
        version.decision_threshold = None
        version.save(update_fields=["decision_threshold"])
        return version
    labels = version.class_labels or []
    if version.problem_type != "classification" or len(labels) != 2:
        raise RegistryError(f"{version} is not a binary classifier; a decision threshold needs exactly two classes.",
                            field="threshold")
    try:
        value = float(value)
        costs = [None if c in (None, "") else float(c) for c in (cost_fp, cost_fn)]
    except (TypeError, ValueError):
        raise RegistryError("The threshold and the costs must be numbers, e.g. 0.35.", field="threshold") from None
    if not 0.0 <= value <= 1.0:
        raise RegistryError(f"A threshold is a probability between 0 and 1; {value:g} is not.", field="threshold")
    if any(c is not None and not (0 <= c < float("inf")) for c in costs):
        raise RegistryError("Costs must be zero or positive numbers.", field="threshold")
    positive = _positive_class(version)
    version.decision_threshold = {"value": round(value, 4), "positive_class": positive,
                                  "cost_fp": costs[0], "cost_fn": costs[1]}
    version.save(update_fields=["decision_threshold"])
    return version


def _positive_class(version: ModelVersion):
    """The run's positive class when it named one, else the second class (the engine's own choice)."""
    labels = version.class_labels or []
    run = version.trial.run if version.trial_id and version.trial else None
    positive = (run.config or {}).get("positive_label") if run else None
    return positive if positive in labels else labels[1]


def lineage(version: ModelVersion) -> dict:
    """Where a version came from and where it went: dataset version -> run -> trial -> version -> endpoints."""
    trial = version.trial
    run = trial.run if trial else None
    dataset_version = run.dataset_version if run else None
    deployments = list(version.deployments.select_related("endpoint").order_by("endpoint__name", "name"))
    return {"dataset_version": dataset_version, "run": run, "trial": trial, "version": version,
            "deployments": deployments}


def trials_by_lineage(trial) -> list[ModelVersion]:
    """The versions registered from a trial (the other direction of the lineage)."""
    return list(ModelVersion.objects.filter(trial=trial).select_related("model").order_by("model__name", "version"))


def comparison(model: RegisteredModel, versions: list[ModelVersion]) -> dict:
    """Side-by-side metrics of ``versions`` and the primary metric across all versions for a chart."""
    names = sorted({name for v in versions for name, value in (v.metrics or {}).items()
                    if isinstance(value, (int, float))})
    primary = next((v.primary_metric for v in versions if v.primary_metric), "")
    if primary in names:
        names.remove(primary)
        names.insert(0, primary)
    rows = [{"metric": name, "values": [(v.metrics or {}).get(name) for v in versions]} for name in names]
    for row in rows:
        numbers = [x for x in row["values"] if isinstance(x, (int, float))]
        row["best"] = None
        if len(numbers) > 1 and len(set(numbers)) > 1:
            lower_better = any(word in row["metric"] for word in ("error", "loss", "mae", "mse", "rmse"))
            row["best"] = (min if lower_better else max)(numbers)
    every = list(model.versions.order_by("version"))
    chart = {"versions": [f"v{v.version}" for v in every], "scores": [v.primary_score for v in every],
             "primary_metric": primary or (every[0].primary_metric if every else "")}
    return {"rows": rows, "chart": chart}
