"""Pages of the datasets app: the list, the creation wizard, and a dataset's page with its live profile."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from studio.accounts.access import require_role
from studio.accounts.models import Role
from studio.datasets import charts, parsing, services, timeseries
from studio.datasets.access import dataset_for, staged_upload_for
from studio.datasets.forms import TYPE_CHOICES, BasicInfoForm, ParseSettingsForm, schema_from_post
from studio.datasets.models import Dataset, DatasetVersion
from studio.datasets.parsing import DataError, ParseSettings, human_bytes

PREVIEW_ROWS = 50


# Orders of the dataset list: (label, key of a (dataset, latest version) row, newest/largest first).
DATASET_SORTS = {"name": ("Name", lambda r: r[0].name.lower(), False),
                 "created": ("Newest first", lambda r: r[0].created_at, True),
                 "rows": ("Most rows", lambda r: r[1].n_rows if r[1] else -1, True)}


@login_required
def dataset_list(request):
    """The workspace's datasets with their latest version; ``q`` searches name and description, ``tag``
    keeps datasets with that tag (``key`` or ``key=value``), ``sort`` orders them."""
    query, tag = request.GET.get("q", "").strip(), request.GET.get("tag", "").strip()
    sort = request.GET.get("sort") if request.GET.get("sort") in DATASET_SORTS else "name"
    datasets = Dataset.objects.filter(workspace=request.workspace).select_related("created_by")
    all_tags = sorted({f"{k}={v}" if v else k for tags in datasets.values_list("tags", flat=True)
                       for k, v in (tags or {}).items()})
    if query:
        datasets = datasets.filter(Q(name__icontains=query) | Q(description__icontains=query))
    datasets = list(datasets)
    if tag:
        key, _, value = tag.partition("=")
        datasets = [d for d in datasets if key in (d.tags or {}) and (not value or str(d.tags[key]) == value)]
    latest = {}
    for v in DatasetVersion.objects.filter(dataset__in=datasets).order_by("dataset_id", "version"):
        latest[v.dataset_id] = v
    _, key, newest_first = DATASET_SORTS[sort]
    rows = sorted(((d, latest.get(d.pk)) for d in datasets), key=key, reverse=newest_first)
    return render(request, "datasets/list.html", {
        "rows": rows, "query": query, "tag": tag, "sort": sort, "all_tags": all_tags,
        "sorts": [(k, label) for k, (label, _, _) in DATASET_SORTS.items()],
        "filtered": bool(query or tag), "has_any": bool(rows or query or tag)})


@login_required
@require_POST
def load_sample_datasets(request):
    require_role(request.user, request.workspace, Role.EDITOR)
    versions = services.load_samples(request.workspace, request.user)
    if versions:
        messages.success(request, f"Added {len(versions)} sample datasets; their profiles appear as a worker finishes them.")
    else:
        messages.info(request, "The sample datasets are already in this workspace.")
    return redirect("datasets:list")


# --- The wizard ------------------------------------------------------------------------------------------


@login_required
def wizard(request):
    require_role(request.user, request.workspace, Role.EDITOR)
    return render(request, "datasets/wizard.html", {
        "info_form": BasicInfoForm(initial={"name": request.GET.get("name", "")}),
        "settings_form": ParseSettingsForm(initial=ParseSettingsForm.initial_from(ParseSettings())),
        "max_upload": human_bytes(settings.STUDIO_MAX_UPLOAD_BYTES),
        "max_upload_bytes": settings.STUDIO_MAX_UPLOAD_BYTES,
    })


@login_required
@require_POST
def upload(request):
    """The wizard's upload: the request body is the file itself (sent by XHR with a progress bar)."""
    require_role(request.user, request.workspace, Role.EDITOR)
    from urllib.parse import unquote

    file_name = unquote(request.headers.get("X-File-Name", ""))
    declared = int(request.headers.get("Content-Length") or 0)
    limit = settings.STUDIO_MAX_UPLOAD_BYTES
    try:
        if declared > limit:
            raise DataError(services.too_large_message(declared, limit), field="file")
        staged = services.stage_upload(workspace=request.workspace, user=request.user, file_name=file_name,
                                       chunks=iter(lambda: request.read(1 << 20), b""))
    except DataError as exc:
        return JsonResponse({"error": exc.message, "field": exc.field}, status=400)
    detected = ParseSettings.from_dict(staged.detected_settings)
    return JsonResponse({"id": str(staged.pk), "name": staged.original_name, "size": human_bytes(staged.size),
                         "format": detected.describe(), "settings": ParseSettingsForm.initial_from(detected),
                         "parquet": detected.file_format == "parquet",
                         "preview_url": reverse("datasets:upload-preview", args=[staged.pk])})


@login_required
@require_POST
def upload_preview(request, upload_id):
    """htmx: the preview table for the current settings, and (out of band) the schema step's table."""
    staged = staged_upload_for(request.user, upload_id)
    base = ParseSettings.from_dict(staged.detected_settings)
    form = ParseSettingsForm(request.POST)
    context = {"upload": staged}
    if base.file_format != "parquet" and not form.is_valid():
        context["error"] = " ".join(e for errors in form.errors.values() for e in errors)
        return render(request, "datasets/partials/preview.html", context)
    parse_settings = base if base.file_format == "parquet" else form.to_settings(base)
    try:
        preview = services.preview_upload(staged, parse_settings)
    except DataError as exc:
        context["error"] = exc.message
        return render(request, "datasets/partials/preview.html", context)
    examples = []
    for i in range(len(preview.columns)):
        seen = list(dict.fromkeys(r[i] for r in preview.rows if r[i] is not None))[:3]
        examples.append(", ".join(v[:30] for v in seen))
    context.update({"preview": preview, "columns": list(zip(preview.columns, preview.column_types, examples)),
                    "type_choices": TYPE_CHOICES, "settings_text": parse_settings.describe(),
                    **_scan_context(staged, services.scan_upload(staged, parse_settings))})
    return render(request, "datasets/partials/preview.html", context)


def _scan_context(staged, scan) -> dict:
    types = {c["name"]: c["type"] for c in scan.columns or []}
    return {"scan": scan, "scan_types": types, "sample_rows": f"{parsing.TYPE_SAMPLE_ROWS:,}",
            "scan_percent": round(100 * scan.fraction),
            "scan_url": reverse("datasets:upload-scan", args=[staged.pk, scan.pk])}


@login_required
@require_GET
def upload_scan(request, upload_id, scan_id):
    """htmx: how far the whole-file type check got; polled by the schema step until it ends."""
    staged = staged_upload_for(request.user, upload_id)
    scan = staged.scans.filter(pk=scan_id).first()
    if scan is None:
        raise Http404("No such type check.")
    return render(request, "datasets/partials/type_scan.html", _scan_context(staged, scan))


@login_required
@require_POST
def upload_discard(request, upload_id):
    services.discard_upload(staged_upload_for(request.user, upload_id))
    return HttpResponse(status=204)


@login_required
@require_POST
def create(request):
    """htmx: create the dataset from the wizard's upload; redirects to its page, or shows what to fix."""
    require_role(request.user, request.workspace, Role.EDITOR)
    info = BasicInfoForm(request.POST)
    try:
        staged = staged_upload_for(request.user, request.POST.get("upload_id") or "00000000-0000-0000-0000-000000000000")
    except (Http404, ValueError):
        return render(request, "datasets/partials/create_error.html",
                      {"error": "Upload a file first (step 2); the earlier upload is gone or belongs to someone else."})
    base = ParseSettings.from_dict(staged.detected_settings)
    settings_form = ParseSettingsForm(request.POST)
    if not info.is_valid() or (base.file_format != "parquet" and not settings_form.is_valid()):
        errors = [e for form in (info, settings_form) for errs in form.errors.values() for e in errs]
        return render(request, "datasets/partials/create_error.html", {"error": " ".join(errors)})
    schema = schema_from_post(request.POST)
    schema.pop("included")
    try:
        version = services.create_from_upload(
            staged, name=info.cleaned_data["name"], description=info.cleaned_data["description"],
            tags=info.cleaned_data["tags"], parse_settings=base if base.file_format == "parquet"
            else settings_form.to_settings(base), schema=schema, user=request.user)
    except DataError as exc:
        return render(request, "datasets/partials/create_error.html", {"error": exc.message})
    messages.success(request, f"Created {version.dataset.name} version {version.version} "
                              f"({version.n_rows:,} rows, {version.n_columns} columns); profiling it now.")
    response = HttpResponse(status=204)
    response["HX-Redirect"] = reverse("datasets:detail", args=[version.dataset_id]) + f"?version={version.version}"
    return response


# --- A dataset's page ------------------------------------------------------------------------------------


def _version_of(dataset: Dataset, raw) -> DatasetVersion:
    versions = dataset.versions.select_related("created_by")
    if raw in (None, ""):
        version = versions.order_by("-version").first()
    else:
        try:
            version = versions.filter(version=int(raw)).first()
        except ValueError:
            version = None
    if version is None:
        raise Http404("No such version.")
    return version


@login_required
@require_GET
def detail(request, pk):
    dataset = dataset_for(request.user, pk, Role.VIEWER)
    version = _version_of(dataset, request.GET.get("version"))
    versions = list(dataset.versions.select_related("created_by").order_by("-version"))
    usage = services.runs_using(versions)
    names, rows = services.preview_rows(version, PREVIEW_ROWS)
    return render(request, "datasets/detail.html", {
        "dataset": dataset, "version": version, "versions": [(v, usage.get(v.pk, [])) for v in versions],
        "preview_columns": names, "preview_rows": rows, "type_choices": TYPE_CHOICES,
        "parse_settings": ParseSettings.from_dict(version.parse_settings).describe(),
        "can_change": dataset.workspace.role_of(request.user) in (Role.EDITOR, Role.OWNER),
        "schema_locked": bool(usage.get(version.pk)), "raw_size": human_bytes(version.raw_size),
        "has_time_column": bool(timeseries.column_roles(version)["time"]),
        **_profile_context(version),
    })


def _profile_context(version: DatasetVersion) -> dict:
    job = version.latest_profile_job()
    profile = services.profile_of(version)
    figures = []
    if profile:
        for i, column in enumerate(profile["columns"]):
            figures.append((column, f"col-fig-{i}", charts.column_figure(column)))
    return {"job": job, "profile": profile, "column_figures": figures,
            "correlation_figure": charts.correlation_figure(
                profile["correlation"], {c["name"] for c in version.included_columns() if c["type"] == "numeric"})
            if profile else None,
            "profile_memory": human_bytes(profile["memory_bytes"]) if profile else None,
            "excluded_count": sum(1 for c in version.columns if c.get("excluded"))}


@login_required
@require_GET
def profile_fragment(request, pk):
    """htmx: the profile section; while the job runs, the fragment asks to be fetched again."""
    dataset = dataset_for(request.user, pk, Role.VIEWER)
    version = _version_of(dataset, request.GET.get("version"))
    return render(request, "datasets/partials/profile.html", {
        "dataset": dataset, "version": version, **_profile_context(version),
        "can_change": dataset.workspace.role_of(request.user) in (Role.EDITOR, Role.OWNER)})


@login_required
@require_POST
def profile_again(request, pk):
    """"Profile again" on a version whose profile failed (a worker died, the database went away)."""
    dataset = dataset_for(request.user, pk, Role.EDITOR)
    version = _version_of(dataset, request.GET.get("version"))
    try:
        services.profile_again(version)
        messages.success(request, f"Profiling version {version.version} again.")
    except DataError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("datasets:detail", args=[dataset.pk]) + f"?version={version.version}")


@login_required
@require_POST
def schema(request, pk):
    dataset = dataset_for(request.user, pk, Role.EDITOR)
    version = _version_of(dataset, request.GET.get("version"))
    try:
        saved = services.update_schema(version, schema_from_post(request.POST))
    except DataError as exc:
        messages.error(request, exc.message)
        saved = version
    else:
        messages.success(request, f"Saved the schema of version {version.version}." if saved.pk == version.pk else
                         f"Version {version.version} was used by experiments, so it keeps its schema: the new schema "
                         f"is version {saved.version}, which shares its file.")
    return redirect(reverse("datasets:detail", args=[dataset.pk]) + f"?version={saved.version}#schema")


@login_required
@require_GET
def preview_csv(request, pk):
    dataset = dataset_for(request.user, pk, Role.VIEWER)
    version = _version_of(dataset, request.GET.get("version"))
    response = HttpResponse(services.export_preview_csv(version, PREVIEW_ROWS), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="dataset-{dataset.pk}-v{version.version}-preview.csv"'
    return response


@login_required
@require_POST
def delete(request, pk):
    dataset = dataset_for(request.user, pk, Role.EDITOR)
    try:
        services.delete_dataset(dataset)
    except DataError as exc:
        messages.error(request, exc.message)
        return redirect("datasets:detail", pk=dataset.pk)
    messages.success(request, f"Deleted {dataset.name} and all its versions.")
    return redirect("datasets:list")


# --- Time-series view ------------------------------------------------------------------------------------


def _series_columns(request, version) -> "timeseries.SeriesColumns":
    """The roles chosen in the query string (``time``, ``ids`` repeated, ``target``), with defaults: the first
    date/time column and the first numeric column that is not a series id."""
    roles = timeseries.column_roles(version)
    ids = tuple(c for c in request.GET.getlist("ids") if c)
    time = request.GET.get("time") or (roles["time"][0] if roles["time"] else "")
    target = request.GET.get("target") or next((c for c in roles["target"] if c not in ids), None)
    return timeseries.SeriesColumns(time_column=time, id_columns=ids, target=target)


@login_required
@require_GET
def timeseries_view(request, pk):
    """A version read as time series: its frequency, series, gaps and duplicates, and a chart of chosen series."""
    dataset = dataset_for(request.user, pk, Role.VIEWER)
    version = _version_of(dataset, request.GET.get("version"))
    roles = timeseries.column_roles(version)
    context = {"dataset": dataset, "version": version, "roles": roles, "summary": None, "error": None}
    chosen = _series_columns(request, version)
    context["chosen"] = chosen
    try:
        context["summary"] = timeseries.summarize(version, chosen)
    except timeseries.TimeSeriesError as exc:
        context["error"] = exc
    context["points_url"] = reverse("datasets:timeseries-points", args=[dataset.pk])
    return render(request, "datasets/timeseries.html", context)


@login_required
@require_GET
def timeseries_points(request, pk):
    """JSON: the target over time of the series named by ``series`` (repeated), for the chart."""
    dataset = dataset_for(request.user, pk, Role.VIEWER)
    version = _version_of(dataset, request.GET.get("version"))
    chosen = _series_columns(request, version)
    try:
        series = timeseries.series_points(version, chosen, request.GET.getlist("series"))
    except timeseries.TimeSeriesError as exc:
        return JsonResponse({"error": exc.message, "field": exc.field}, status=400)
    return JsonResponse({"series": series, "target": chosen.target, "time_column": chosen.time_column})
