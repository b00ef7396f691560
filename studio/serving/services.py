"""Workflows of the serving app: endpoints and their keys, deployments and the traffic split, scoring (with
metrics), and batch scoring of CSV files."""
from __future__ import annotations

import csv
import logging
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from studio.jobs import lifecycle
from studio.serving import runtime
from studio.serving.models import (DEPLOYMENT_NAME_RE, ENDPOINT_NAME_RE, LATENCY_BUCKETS_MS, BatchJob, Deployment,
                                   Endpoint, EndpointMinute, ScoringError, hash_key)

log = logging.getLogger(__name__)
KEY_PREFIX_LENGTH = 8
RECENT_ERRORS_KEPT = 200


class ServingError(ValueError):
    """A request to change an endpoint that cannot be carried out; the message names the problem and the fix.
    ``field`` names the offending input when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def max_rows() -> int:
    return getattr(settings, "STUDIO_SERVING_MAX_ROWS", 100_000)


def max_body_bytes() -> int:
    return getattr(settings, "STUDIO_SERVING_MAX_BODY_BYTES", 64 * 1024 * 1024)


# --- Endpoints, keys and deployments ---------------------------------------------------------------------------


def new_key() -> str:
    """A fresh endpoint key: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def check_endpoint_name(name: str) -> str:
    """Validate a new endpoint's name: 3-32 lowercase letters, digits and hyphens, unique in the studio."""
    name = (name or "").strip()
    if not ENDPOINT_NAME_RE.match(name):
        raise ServingError(f"{name!r} is not a valid endpoint name: use 3-32 lowercase letters, digits and hyphens, "
                           "starting with a letter and not ending with a hyphen (e.g. bank-churn).", "name")
    if Endpoint.objects.filter(name=name).exists():
        raise ServingError(f"The endpoint name {name!r} is taken. Endpoint names are unique across the studio "
                           "because the scoring URL contains only the name; choose another one.", "name")
    return name


def default_deployment_name(model_version, taken: set[str] = frozenset()) -> str:
    """``<model>-v<N>`` in lowercase, shortened to fit, unique among ``taken``."""
    base = re.sub(r"[^a-z0-9-]+", "-", model_version.model.name.lower()).strip("-") or "model"
    suffix = f"-v{model_version.version}"
    name = (base[: 32 - len(suffix)].rstrip("-") + suffix)
    if not name[0].isalpha():
        name = ("m" + name)[:32]
    n = 2
    candidate = name
    while candidate in taken:
        candidate = f"{name[: 32 - len(str(n)) - 1]}-{n}"
        n += 1
    return candidate


@dataclass
class Health:
    """An endpoint's state as its page shows it: ``state`` (ready / failed, the badge's colour), a short
    ``label`` and a ``message`` saying what clients get and what to do."""

    state: str
    label: str
    message: str = ""


def endpoint_health(endpoint: Endpoint, deployments: list[Deployment]) -> Health:
    """Whether ``endpoint`` can answer now: it has a deployment, one takes traffic, and the model of every
    deployment taking traffic loads in this process (present, intact: the same check a request makes, and
    the model stays cached for the requests that follow)."""
    if not deployments:
        return Health("failed", "no deployment", "Requests get 503: deploy a model version to this endpoint.")
    serving = [d for d in deployments if d.traffic_percent > 0]
    if not serving:
        return Health("failed", "no traffic", "Requests get 503: give a deployment a traffic share.")
    for deployment in serving:
        try:
            load_version(deployment.model_version)
        except runtime.ModelUnavailable as exc:
            return Health("failed", "failing", f"Requests routed to {deployment.name} get 503: {exc}")
    return Health("ready", "ready")


def verify_servable(model_version) -> runtime.LoadedModel:
    """Load (hash-checked) and score the version's sample row once, so that a deployment that could not
    serve is refused at deploy time rather than on the first request."""
    try:
        model = load_version(model_version)
        if model.is_forecaster:  # its own next period: a training row lies before the forecast origin
            from studio.serving.forecasting import example_rows

            runtime.predict(model, runtime.records_for(model, example_rows(model.pipeline), 1))
        elif model_version.sample_input:
            runtime.predict(model, runtime.records_for(model, [model_version.sample_input], 1))
    except runtime.ModelUnavailable as exc:
        raise ServingError(f"{model_version} cannot be deployed: {exc}") from None
    except (runtime.PayloadError, ValueError) as exc:
        raise ServingError(f"{model_version} cannot be deployed: scoring its sample row failed ({exc}).") from None
    return model


def create_endpoint(*, workspace, user, name: str, model_version, description: str = "") -> tuple[Endpoint, str]:
    """Deploy ``model_version`` to a new endpoint taking 100 % of the traffic. Returns the endpoint and its
    key, which is shown to the caller this once and stored only as a hash."""
    name = check_endpoint_name(name)
    if model_version.model.workspace_id != workspace.id:
        raise ServingError("That model version belongs to another workspace.", "version")
    verify_servable(model_version)
    key = new_key()
    try:
        with transaction.atomic():
            endpoint = Endpoint.objects.create(workspace=workspace, name=name, description=description.strip(),
                                               key_hash=hash_key(key), key_prefix=key[:KEY_PREFIX_LENGTH],
                                               key_rotated_at=timezone.now(), created_by=user)
            Deployment.objects.create(endpoint=endpoint, name=default_deployment_name(model_version),
                                      model_version=model_version, traffic_percent=100, created_by=user)
    except IntegrityError:
        raise ServingError(f"The endpoint name {name!r} was just taken; choose another one.", "name") from None
    return endpoint, key


def add_deployment(endpoint: Endpoint, model_version, *, user, name: str = "", traffic_percent: int = 0) -> Deployment:
    """Add a deployment of ``model_version`` to ``endpoint``. With a traffic share, the other deployments'
    shares are scaled down so that the total stays 100 %; with 0 % it only warms up until traffic is moved."""
    if model_version.model.workspace_id != endpoint.workspace_id:
        raise ServingError("That model version belongs to another workspace.", "version")
    taken = set(endpoint.deployments.values_list("name", flat=True))
    name = (name or "").strip() or default_deployment_name(model_version, taken)
    if not DEPLOYMENT_NAME_RE.match(name):
        raise ServingError(f"{name!r} is not a valid deployment name: 1-32 lowercase letters, digits and hyphens, "
                           "starting with a letter.", "name")
    if name in taken:
        raise ServingError(f"This endpoint already has a deployment named {name!r}; choose another name.", "name")
    traffic_percent = _percent(traffic_percent, "traffic_percent")
    verify_servable(model_version)
    with transaction.atomic():
        deployments = list(Deployment.objects.select_for_update().filter(endpoint=endpoint))
        deployment = Deployment.objects.create(endpoint=endpoint, name=name, model_version=model_version,
                                               traffic_percent=0, created_by=user)
        if traffic_percent:
            shares = _rescale({d.name: d.traffic_percent for d in deployments}, 100 - traffic_percent)
            shares[name] = traffic_percent
            _apply_traffic(endpoint, shares)
            deployment.refresh_from_db()
    return deployment


def _percent(value, field_name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServingError(f"{value!r} is not a whole percentage; use a number from 0 to 100.", field_name) from None
    if str(value).strip() not in (str(number), f"{number}.0") and not isinstance(value, int):
        raise ServingError(f"{value!r} is not a whole percentage; use a number from 0 to 100.", field_name)
    if not 0 <= number <= 100:
        raise ServingError(f"{number} % is outside 0-100.", field_name)
    return number


def _rescale(shares: dict[str, int], total: int) -> dict[str, int]:
    """Scale integer shares to sum to ``total`` (largest remainders get the leftover points)."""
    current = sum(shares.values())
    if current == 0:
        return {name: 0 for name in shares}
    exact = {name: share * total / current for name, share in shares.items()}
    result = {name: int(value) for name, value in exact.items()}
    left = total - sum(result.values())
    for name in sorted(exact, key=lambda n: (result[n] - exact[n], n))[:left]:
        result[name] += 1
    return result


def set_traffic(endpoint: Endpoint, shares: dict) -> dict[str, int]:
    """Set every deployment's share of the traffic at once (deployments not named get 0 %). The shares must
    be whole percentages summing to 100. One transaction, so requests see either the old or the new split."""
    if not isinstance(shares, dict) or not shares:
        raise ServingError('Give the traffic as {"deployment name": percent, ...} summing to 100.', "traffic")
    names = set(endpoint.deployments.values_list("name", flat=True))
    unknown = sorted(set(shares) - names)
    if unknown:
        raise ServingError(f"No deployment named {', '.join(map(repr, unknown))} on {endpoint.name}; "
                           f"its deployments are {', '.join(sorted(names))}.", "traffic")
    clean = {name: _percent(value, "traffic") for name, value in shares.items()}
    total = sum(clean.values())
    if total != 100:
        raise ServingError(f"The traffic shares add up to {total} %; they must add up to exactly 100 %.", "traffic")
    with transaction.atomic():
        list(Deployment.objects.select_for_update().filter(endpoint=endpoint))
        _apply_traffic(endpoint, clean)
    return traffic_of(endpoint)


def _apply_traffic(endpoint: Endpoint, shares: dict[str, int]) -> None:
    for deployment in Deployment.objects.filter(endpoint=endpoint):
        value = shares.get(deployment.name, 0)
        if deployment.traffic_percent != value:
            Deployment.objects.filter(pk=deployment.pk).update(traffic_percent=value)
    Endpoint.objects.filter(pk=endpoint.pk).update(updated_at=timezone.now())


def traffic_of(endpoint: Endpoint) -> dict[str, int]:
    return dict(endpoint.deployments.order_by("name").values_list("name", "traffic_percent"))


def delete_deployment(deployment: Deployment) -> None:
    """Remove a deployment that takes no traffic (move its traffic elsewhere first)."""
    if deployment.traffic_percent:
        raise ServingError(f"{deployment.name} still takes {deployment.traffic_percent} % of the traffic; move its "
                           "traffic to another deployment first.")
    deployment.delete()


def rotate_key(endpoint: Endpoint) -> str:
    """Replace the endpoint's key; the old one stops working at once. Returns the new key (shown once)."""
    key = new_key()
    Endpoint.objects.filter(pk=endpoint.pk).update(key_hash=hash_key(key), key_prefix=key[:KEY_PREFIX_LENGTH],
                                                   key_rotated_at=timezone.now(), updated_at=timezone.now())
    endpoint.refresh_from_db()
    return key


def delete_endpoint(endpoint: Endpoint) -> None:
    """Delete an endpoint with its deployments, metrics and batch jobs' files."""
    for job in endpoint.batch_jobs.all():
        for name in (job.input_file, job.output_file):
            if name:
                default_storage.delete(name)
    endpoint.delete()


# --- Scoring ---------------------------------------------------------------------------------------------------


@dataclass
class ScoreOutcome:
    """What a scoring call answers: HTTP status, JSON body and response headers."""

    status: int
    body: dict
    headers: dict = field(default_factory=dict)


def load_version(model_version) -> runtime.LoadedModel:
    """The version's verified pipeline from this process's cache (loaded on first use)."""

    def describe():
        from studio.registry.models import ModelVersion

        manifest, file = ModelVersion.objects.values_list("manifest", "file").get(pk=model_version.pk)
        return default_storage.path(file), manifest.get("input_schema") or [], manifest.get("class_labels")

    return runtime.model_cache().get(model_version.pk, model_version.sha256, describe)


_SCORING_FIELDS = ("name", "traffic_percent", "model_version__id", "model_version__sha256",
                   "model_version__version", "model_version__model_id", "model_version__decision_threshold")
_ENDPOINT_FIELDS = ("id", "name", "key_hash", "workspace_id")


def _deployments_for_scoring(endpoint_id: int) -> list[Deployment]:
    return list(Deployment.objects.filter(endpoint_id=endpoint_id).select_related("model_version")
                .only(*_SCORING_FIELDS))


def _endpoint_for_scoring(name: str) -> tuple[Endpoint | None, list[Deployment]]:
    """The endpoint named ``name`` (``None`` if there is none) and its deployments, read in one query, the
    endpoint joined to each deployment; a second query only for an endpoint without deployments. Nothing
    is cached, so a key rotation, traffic change or deletion applies to the very next request."""
    deployments = list(Deployment.objects.filter(endpoint__name=name).select_related("endpoint", "model_version")
                       .only(*_SCORING_FIELDS, *(f"endpoint__{f}" for f in _ENDPOINT_FIELDS)).order_by("name"))
    if deployments:
        return deployments[0].endpoint, deployments
    return Endpoint.objects.only(*_ENDPOINT_FIELDS).filter(name=name).first(), []


def score_with_key(name: str, authorization: str, body: bytes, *, request_id: str = "",
                   deployment_name: str = "") -> ScoreOutcome:
    """Score a request to ``/api/v1/endpoints/<name>/score/``: check the Bearer key, then route, read the
    JSON body's rows for the chosen model and predict (see :func:`_score`)."""
    endpoint, deployments = _endpoint_for_scoring(name)
    scheme, _, key = (authorization or "").partition(" ")
    # An unknown name gets the answer of a wrong key, so that names cannot be found by trying them.
    if endpoint is None or scheme.lower() != "bearer" or not endpoint.key_matches(key.strip()):
        detail = ("Missing endpoint key: send the header 'Authorization: Bearer <key>'." if not authorization else
                  "The endpoint key is not valid (keys stop working when rotated); use the current key.")
        if endpoint is not None:
            runtime.metrics_buffer().record(endpoint.id, "", 401, 0.0, 0, detail, request_id)
        return ScoreOutcome(401, {"detail": detail}, {"WWW-Authenticate": 'Bearer realm="scoring"'})
    return _score(endpoint, lambda model: runtime.columns_from_body(body, model, max_rows()), request_id=request_id,
                  deployment_name=deployment_name, deployments=deployments)


def score_rows(endpoint: Endpoint, data, *, request_id: str = "", deployment_name: str = "",
               history=None) -> ScoreOutcome:
    """Score ``data``, already parsed rows (``[{column: value}, ...]``), as :func:`score_with_key` scores a
    request's body; ``history``: a forecaster's newer actuals."""
    return _score(endpoint, lambda model: runtime.records_for(model, data, max_rows(), history),
                  request_id=request_id, deployment_name=deployment_name)


def _score(endpoint: Endpoint, read_columns, *, request_id: str = "", deployment_name: str = "",
           deployments: list[Deployment] | None = None) -> ScoreOutcome:
    """Route the request to a deployment by the traffic split (deterministic per request id; a named
    deployment may be asked for directly), read the input columns for its model (``read_columns(model)``
    validates them against the model's schema) and predict.

    400 for a body that is not JSON, 422 with per-row/column errors for bad payloads, 503 when the model
    cannot be loaded (missing file or failed integrity check). Every request is counted in the endpoint's
    metrics. ``deployments`` are the endpoint's, when the caller has just read them.
    """
    started = time.perf_counter()
    request_id = request_id or uuid.uuid4().hex
    if deployments is None:
        deployments = _deployments_for_scoring(endpoint.id)
    if deployment_name:
        chosen = next((d for d in deployments if d.name == deployment_name), None)
        if chosen is None:
            names = ", ".join(sorted(d.name for d in deployments))
            return _finish(endpoint, "", started, ScoreOutcome(404, {
                "detail": f"No deployment named {deployment_name!r} on {endpoint.name}; its deployments are {names}."}),
                request_id)
    else:
        chosen = runtime.choose_by_traffic(deployments, request_id)
        if chosen is None:
            return _finish(endpoint, "", started, ScoreOutcome(503, {
                "detail": f"{endpoint.name} has no deployment taking traffic; give one a traffic share."}), request_id)
    version = chosen.model_version
    headers = {"X-Deployment": chosen.name, "X-Model-Version": str(version.version), "X-Request-ID": request_id}
    try:
        model = load_version(version)
        columns = read_columns(model)
        result = runtime.predict(model, columns, version.decision_threshold)
    except runtime.MalformedBody as exc:
        outcome = ScoreOutcome(400, {"detail": str(exc)}, headers)
    except runtime.PayloadError as exc:
        outcome = ScoreOutcome(422, exc.as_dict(), headers)
    except runtime.ModelUnavailable as exc:
        log.error("endpoint %s deployment %s: %s", endpoint.name, chosen.name, exc)
        outcome = ScoreOutcome(503, {"detail": f"Deployment {chosen.name} cannot serve: {exc}"}, headers)
    except ValueError as exc:
        # The pipeline's own input checks (e.g. a category it cannot encode) speak in ValueError.
        outcome = ScoreOutcome(422, {"detail": f"The model could not score these rows: {exc}", "errors": []}, headers)
    except Exception as exc:  # noqa: BLE001 - logged with traceback and answered as a 500 with the request id
        log.exception("scoring failed on %s/%s (request %s)", endpoint.name, chosen.name, request_id)
        outcome = ScoreOutcome(500, {"detail": f"Scoring failed ({type(exc).__name__}); quote request id "
                                               f"{request_id} when reporting it."}, headers)
    else:
        outcome = ScoreOutcome(200, result, headers)
        return _finish(endpoint, chosen.name, started, outcome, request_id, rows=len(columns))
    return _finish(endpoint, chosen.name, started, outcome, request_id)


def _finish(endpoint, deployment_name: str, started: float, outcome: ScoreOutcome, request_id: str,
            rows: int = 0) -> ScoreOutcome:
    latency_ms = (time.perf_counter() - started) * 1000
    error = None
    if outcome.status >= 400:
        error = outcome.body.get("detail", "")
        first = (outcome.body.get("errors") or [None])[0]
        if first:
            error += f" First: row {first.get('row')}, column {first.get('column')}: {first.get('message')}"
    runtime.metrics_buffer().record(endpoint.id, deployment_name, outcome.status, latency_ms, rows, error, request_id)
    outcome.headers.setdefault("X-Request-ID", request_id)
    return outcome


# --- Metrics ----------------------------------------------------------------------------------------------------


def write_metrics(counts: dict, errors: list) -> None:
    """Add buffered per-minute counters and errors to the database (one short transaction per row)."""
    endpoint_ids = {key[0] for key in counts} | {e["endpoint_id"] for e in errors}
    alive = set(Endpoint.objects.filter(id__in=endpoint_ids).values_list("id", flat=True))
    for (endpoint_id, deployment_name, minute), entry in counts.items():
        if endpoint_id not in alive:
            continue
        for attempt in range(2):
            try:
                with transaction.atomic():
                    row = (EndpointMinute.objects.select_for_update()
                           .filter(endpoint_id=endpoint_id, deployment_name=deployment_name, minute=minute).first())
                    if row is None:
                        EndpointMinute.objects.create(endpoint_id=endpoint_id, deployment_name=deployment_name,
                                                      minute=minute, **entry)
                    else:
                        for name in ("requests", "rows", "client_errors", "server_errors", "latency_sum_ms"):
                            setattr(row, name, getattr(row, name) + entry[name])
                        row.latency_max_ms = max(row.latency_max_ms, entry["latency_max_ms"])
                        old = row.latency_buckets or [0] * len(entry["latency_buckets"])
                        row.latency_buckets = [a + b for a, b in zip(old, entry["latency_buckets"])]
                        row.save()
                break
            except IntegrityError:
                if attempt:
                    raise
    kept = [ScoringError(**e) for e in errors if e["endpoint_id"] in alive]
    if kept:
        ScoringError.objects.bulk_create(kept)
        for endpoint_id in {e.endpoint_id for e in kept}:
            cutoff = (ScoringError.objects.filter(endpoint_id=endpoint_id).order_by("-created_at", "-id")
                      .values_list("id", flat=True)[RECENT_ERRORS_KEPT:RECENT_ERRORS_KEPT + 1])
            if cutoff:
                ScoringError.objects.filter(endpoint_id=endpoint_id, id__lte=cutoff[0]).delete()


def _percentile_from_buckets(buckets: list[int], q: float) -> float | None:
    total = sum(buckets)
    if not total:
        return None
    target = q * total
    seen = 0
    for i, count in enumerate(buckets):
        seen += count
        if seen >= target:
            return float(LATENCY_BUCKETS_MS[i]) if i < len(LATENCY_BUCKETS_MS) else float(LATENCY_BUCKETS_MS[-1] * 2)
    return None


def endpoint_metrics(endpoint: Endpoint, minutes: int = 60) -> dict:
    """Per-minute series of the last ``minutes`` for the endpoint page's charts, and the totals."""
    since = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    rows = list(EndpointMinute.objects.filter(endpoint=endpoint, minute__gte=since).order_by("minute"))
    by_minute: dict = {}
    for row in rows:
        slot = by_minute.setdefault(row.minute, {"requests": 0, "client_errors": 0, "server_errors": 0,
                                                 "latency_sum_ms": 0.0, "latency_max_ms": 0.0,
                                                 "buckets": [0] * (len(LATENCY_BUCKETS_MS) + 1)})
        slot["requests"] += row.requests
        slot["client_errors"] += row.client_errors
        slot["server_errors"] += row.server_errors
        slot["latency_sum_ms"] += row.latency_sum_ms
        slot["latency_max_ms"] = max(slot["latency_max_ms"], row.latency_max_ms)
        slot["buckets"] = [a + b for a, b in zip(slot["buckets"], row.latency_buckets or [])]
    series = {"minute": [], "requests": [], "client_errors": [], "server_errors": [], "latency_avg_ms": [],
              "latency_p95_ms": [], "latency_max_ms": []}
    empty = {"requests": 0, "client_errors": 0, "server_errors": 0, "latency_sum_ms": 0.0, "latency_max_ms": None,
             "buckets": []}
    # Every minute of the window, so that quiet minutes show as zero instead of being skipped.
    for i in range(minutes):
        minute = since + timedelta(minutes=i)
        slot = by_minute.get(minute, empty)
        series["minute"].append(minute.isoformat())
        series["requests"].append(slot["requests"])
        series["client_errors"].append(slot["client_errors"])
        series["server_errors"].append(slot["server_errors"])
        series["latency_avg_ms"].append(round(slot["latency_sum_ms"] / slot["requests"], 2) if slot["requests"] else None)
        series["latency_p95_ms"].append(_percentile_from_buckets(slot["buckets"], 0.95))
        series["latency_max_ms"].append(round(slot["latency_max_ms"], 2) if slot["latency_max_ms"] is not None else None)
    series["has_requests"] = bool(by_minute)
    totals = EndpointMinute.objects.filter(endpoint=endpoint).aggregate(
        requests=Sum("requests"), rows=Sum("rows"), client_errors=Sum("client_errors"),
        server_errors=Sum("server_errors"), latency_sum_ms=Sum("latency_sum_ms"))
    totals = {k: v or 0 for k, v in totals.items()}
    totals["latency_avg_ms"] = round(totals["latency_sum_ms"] / totals["requests"], 2) if totals["requests"] else None
    return {"series": series, "totals": totals}


# --- Batch scoring ----------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value):
    """A spreadsheet would run a text cell starting with = + - @ (or tab/CR) as a formula; prefix those with a
    quote. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def start_batch_job(endpoint: Endpoint, upload, *, user, deployment_name: str = "") -> BatchJob:
    """Store an uploaded CSV and enqueue its scoring on the chosen deployment (default: the one with the
    largest traffic share)."""
    deployments = list(endpoint.deployments.select_related("model_version"))
    if deployment_name:
        deployment = next((d for d in deployments if d.name == deployment_name), None)
        if deployment is None:
            raise ServingError(f"No deployment named {deployment_name!r} on {endpoint.name}.", "deployment")
    else:
        deployment = max(deployments, key=lambda d: (d.traffic_percent, d.name), default=None)
        if deployment is None:
            raise ServingError(f"{endpoint.name} has no deployment to score with.", "deployment")
    suffix = ".parquet" if upload.name.lower().endswith(".parquet") else ".csv"
    if not upload.name.lower().endswith((".csv", ".parquet")):
        raise ServingError(f"{upload.name} is neither a .csv nor a .parquet file; batch scoring reads CSV files "
                           "with a header row, or Parquet.", "file")
    limit = getattr(settings, "STUDIO_MAX_UPLOAD_BYTES", 2 * 1024**3)
    if upload.size > limit:
        raise ServingError(f"{upload.name} is {upload.size:,} bytes, above the {limit:,}-byte limit.", "file")
    stored = default_storage.save(f"serving/batch/{endpoint.id}/{uuid.uuid4().hex}/input{suffix}", upload)
    with transaction.atomic():
        job = BatchJob.objects.create(workspace_id=endpoint.workspace_id, endpoint=endpoint,
                                      model_version=deployment.model_version, deployment_name=deployment.name,
                                      input_file=stored, input_name=os.path.basename(upload.name)[:255],
                                      created_by=user)
        lifecycle.enqueue(job)
    return job


def _count_rows(path: str) -> int:
    """Data lines of a CSV (for the progress bar; quoted newlines may overcount, the final count is exact)."""
    size = os.path.getsize(path)
    if not size:
        return 0
    with open(path, "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            lines += 1
    return max(0, lines - 1)


def run_batch_job(job_id: int) -> None:
    """Score a batch job's CSV in chunks, updating its progress, and write the formula-safe output CSV (the
    input columns, then ``prediction`` and, for classifiers, ``probability_<class>``)."""
    import pandas as pd

    def body(job: BatchJob, progress) -> dict:
        source = default_storage.path(job.input_file)
        output_name = str(Path(job.input_file).with_name("predictions.csv"))
        target = Path(default_storage.path(output_name))
        partial = target.with_suffix(".csv.part")
        chunk_rows = getattr(settings, "STUDIO_BATCH_CHUNK_ROWS", 5000)
        try:
            partial.unlink(missing_ok=True)  # left by an attempt whose worker died
            parquet = source.lower().endswith(".parquet")
            total = _parquet_rows(source) if parquet else _count_rows(source)
            BatchJob.objects.filter(pk=job_id).update(rows_total=total)
            model = load_version(job.model_version)
            names = [c["name"] for c in model.schema]
            if _on_cluster(job, source, model):
                done = _score_on_cluster(job, source, partial, model, progress)
                os.replace(partial, target)
                return {"output_file": output_name, "rows_done": done, "rows_total": done}
            done = 0
            with open(partial, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                reader = _parquet_chunks(source, chunk_rows) if parquet else pd.read_csv(
                    source, chunksize=chunk_rows, dtype=_csv_dtypes(model.schema), keep_default_na=True,
                    encoding_errors="replace")
                header_written = False
                for chunk in reader:
                    missing = [n for n in names if n not in chunk.columns]
                    if missing:
                        raise ServingError(f"The CSV lacks the model's input column(s) {', '.join(missing)}; "
                                           f"its header must name all of: {', '.join(names)}.")
                    frame = _coerce_csv_chunk(chunk, model.schema, done)
                    if model.is_forecaster:  # future rows: checked against the series' origins, with intervals
                        from studio.serving.forecasting import batch_request

                        frame = batch_request(frame, model.pipeline, done)
                    result = runtime.predict(model, frame, job.model_version.decision_threshold)
                    extra_headers = ["prediction"]
                    if "probabilities" in result:
                        extra_headers += [f"probability_{c}" for c in result["classes"]]
                    quantiles = list(result.get("quantiles") or {})
                    extra_headers += [f"quantile_{q}" for q in quantiles]
                    if not header_written:
                        writer.writerow([formula_safe(str(c)) for c in chunk.columns] + extra_headers)
                        header_written = True
                    keys = [str(c) for c in result.get("classes", [])]
                    for i, row in enumerate(chunk.itertuples(index=False, name=None)):
                        cells = [formula_safe(_cell(v)) for v in row]
                        cells.append(formula_safe(result["predictions"][i]))
                        if keys:
                            probs = result["probabilities"][i]
                            cells.extend(probs[k] for k in keys)
                        cells.extend(result["quantiles"][q][i] for q in quantiles)
                        writer.writerow(cells)
                    done += len(chunk)
                    BatchJob.objects.filter(pk=job_id).update(rows_done=done)
                    progress()
                if not header_written:
                    raise ServingError("The CSV has a header but no rows to score.")
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
            return {"output_file": output_name, "rows_done": done, "rows_total": done}
        except (ServingError, ValueError, runtime.ModelUnavailable) as exc:  # a bad file is the common cause
            partial.unlink(missing_ok=True)
            raise lifecycle.JobFailed(str(exc)) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    lifecycle.run_job(BatchJob, job_id, body)


def _parquet_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _parquet_chunks(path: str, rows: int):
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield batch.to_pandas()


def _on_cluster(job: BatchJob, source: str, model) -> bool:
    """Score on the Dask cluster: a model trained there, or a file of at least STUDIO_BATCH_CLUSTER_BYTES
    (forecasters score on the worker: their requests are checked against the series as one frame)."""
    if model.is_forecaster:
        return False
    distributed = (job.model_version.manifest or {}).get("training_mode") == "distributed"
    return distributed or os.path.getsize(source) >= settings.STUDIO_BATCH_CLUSTER_BYTES


def _score_on_cluster(job: BatchJob, source: str, partial: Path, model, progress) -> int:
    """Score ``source`` partition by partition on the Dask cluster (DASK_SCHEDULER_ADDRESS, else a local one
    of DASK_BATCH_WORKERS workers), streaming each scored partition to ``partial`` in file order."""
    import numpy as np

    from automl_engine.distributed.cluster import Cluster, ClusterConfig
    from automl_engine.distributed.scoring import score_partitions

    config = ClusterConfig(scheduler_address=settings.DASK_SCHEDULER_ADDRESS or None,
                           worker_memory_limit=settings.DASK_WORKER_MEMORY_LIMIT)
    threshold = job.model_version.decision_threshold
    done = 0
    with Cluster(config, n_workers=settings.DASK_BATCH_WORKERS) as cluster, \
            open(partial, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        dtype = None if source.lower().endswith(".parquet") else _csv_dtypes(model.schema)
        for scored in score_partitions(source, model.pipeline, cluster.client, dtype=dtype):
            if threshold and f"probability_{threshold.get('positive_class')}" in scored.columns:
                labels = [c[len("probability_"):] for c in scored.columns if c.startswith("probability_")]
                if len(labels) == 2:  # the registered decision threshold, as the scoring API applies it
                    positive = str(threshold["positive_class"])
                    negative = next(label for label in labels if label != positive)
                    chosen = scored[f"probability_{positive}"] >= float(threshold["value"])
                    scored["prediction"] = np.where(chosen, positive, negative)
            if done == 0:
                writer.writerow([formula_safe(str(c)) for c in scored.columns])
            for row in scored.itertuples(index=False, name=None):
                writer.writerow([formula_safe(_cell(v)) for v in row])
            done += len(scored)
            BatchJob.objects.filter(pk=job.pk).update(rows_done=done)
            progress()
        if done == 0:
            raise ServingError("The file has no rows to score.")
        out.flush()
        os.fsync(out.fileno())
    return done


def _csv_dtypes(schema: list[dict]) -> dict:
    # Categorical and text columns stay text, so that "007" is not read as the number 7.
    return {c["name"]: str for c in schema if c.get("type") in (runtime.CATEGORICAL, runtime.TEXT, runtime.DATETIME)}


def _coerce_csv_chunk(chunk, schema: list[dict], offset: int):
    """The chunk's model columns with numeric columns parsed; an unparseable number names its row (1-based
    line of the data, header excluded) and column."""
    import pandas as pd

    columns = {}
    for spec in schema:
        name = spec["name"]
        series = chunk[name]
        if spec.get("type") == runtime.NUMERIC and not pd.api.types.is_numeric_dtype(series):
            parsed = pd.to_numeric(series, errors="coerce")
            bad = parsed.isna() & series.notna()
            if bad.any():
                row = offset + int(bad.to_numpy().nonzero()[0][0]) + 1
                raise ServingError(f"Row {row:,}, column {name}: {series[bad].iloc[0]!r} is not a number.")
            series = parsed
        columns[name] = series.to_numpy()
    return pd.DataFrame(columns)


def _cell(value):
    if isinstance(value, float) and value != value:
        return ""
    return value
