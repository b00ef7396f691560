"""Registry pages: models list, model page, version page, compare, register, aliases, download."""
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from studio.accounts.access import require_role
from studio.accounts.models import Role
from studio.experiments import thresholds
from studio.registry import services
from studio.registry.access import model_for, version_for
from studio.registry.forms import AliasForm, ModelEditForm, RegisterForm


def url_or_none(name: str, *args):
    """A link into another app's pages when that page exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@login_required
def model_list(request):
    query, tag = request.GET.get("q", "").strip(), request.GET.get("tag", "").strip()
    models = services.search_models(request.workspace, query, tag)
    rows = []
    for model in models:
        versions = sorted(model.versions.all(), key=lambda v: v.version)
        rows.append({"model": model, "latest": versions[-1] if versions else None, "count": len(versions),
                     "aliases": sorted(model.aliases.all(), key=lambda a: a.name)})
    sort = request.GET.get("sort") if request.GET.get("sort") in MODEL_SORTS else "name"
    _, key, newest_first = MODEL_SORTS[sort]
    rows.sort(key=key, reverse=newest_first)
    return render(request, "registry/list.html", {"rows": rows, "query": query, "tag": tag, "sort": sort,
                                                  "sorts": [(k, label) for k, (label, _, _) in MODEL_SORTS.items()],
                                                  "tags": services.workspace_tags(request.workspace)})


# Orders of the models list: (label, key of a row, newest first).
MODEL_SORTS = {"name": ("Name", lambda r: r["model"].name.lower(), False),
               "updated": ("Latest version first", lambda r: r["latest"].created_at if r["latest"] else r["model"].created_at, True)}


def _trial_choices(workspace, run_id=None):
    from studio.experiments.models import Trial

    trials = (Trial.objects.filter(run__workspace=workspace, status="completed").exclude(model_file="")
              .select_related("run__experiment").order_by("-run__created_at", "run_id", "number"))
    if run_id:
        trials = trials.filter(run_id=run_id)
    by_run: dict = {}
    for trial in trials:
        by_run.setdefault(trial.run, []).append(trial)
    choices = []
    for run, items in by_run.items():
        items.sort(key=lambda t: (t.score is None, -(t.score or 0) if run.greater_is_better else (t.score or 0)))
        for i, trial in enumerate(items):
            score = f"{trial.score:.4f}" if trial.score is not None else "n/a"
            best = " ★ best" if i == 0 else ""
            choices.append((trial, f"{run} · trial {trial.number} · {trial.pipeline_name} · "
                                   f"{run.primary_metric} {score}{best}"))
    return choices


@login_required
def register(request):
    """Register a trial's model; ``?trial=<id>`` preselects a trial, ``?run=<id>`` shows one run's trials."""
    require_role(request.user, request.workspace, Role.EDITOR)
    run_id = request.GET.get("run") if request.GET.get("run", "").isdigit() else None
    choices = _trial_choices(request.workspace, run_id)
    initial = {}
    if request.GET.get("trial", "").isdigit():
        initial["trial"] = int(request.GET["trial"])
        match = next((t for t, _ in choices if t.pk == initial["trial"]), None)
        if match:
            initial["name"] = match.run.experiment.name
    elif choices:
        initial["trial"] = choices[0][0].pk
        initial["name"] = choices[0][0].run.experiment.name
    form = RegisterForm(request.POST or None, trials=choices, initial=initial)
    if request.method == "POST" and form.is_valid():
        trial = next(t for t, _ in choices if t.pk == form.cleaned_data["trial"])
        try:
            version = services.register_version(trial=trial, name=form.cleaned_data["name"], user=request.user,
                                                description=form.cleaned_data["description"],
                                                tags=form.cleaned_data["tags"])
        except services.RegistryError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Registered {version.model.name} version {version.version}.")
            return redirect(version.get_absolute_url())
    names = list(request.workspace.registered_models.values_list("name", flat=True))
    return render(request, "registry/register.html", {"form": form, "has_trials": bool(choices), "names": names})


@login_required
def model_detail(request, pk):
    model = model_for(request.user, pk)
    versions = list(model.versions.select_related("created_by", "trial__run__experiment")
                    .prefetch_related("aliases", "deployments__endpoint"))
    edit_form = ModelEditForm(initial={"description": model.description, "tags": ", ".join(model.tags)})
    alias_form = AliasForm(versions=[v.version for v in versions])
    chart = services.comparison(model, versions)["chart"]
    return render(request, "registry/model.html", {
        "model": model, "versions": versions, "description_html": services.render_markdown(model.description),
        "edit_form": edit_form, "alias_form": alias_form, "aliases": model.aliases.select_related("version"),
        "chart": chart})


@login_required
@require_POST
def model_edit(request, pk):
    model = model_for(request.user, pk, Role.EDITOR)
    form = ModelEditForm(request.POST)
    if form.is_valid():
        try:
            services.update_model(model, description=form.cleaned_data["description"], tags=form.cleaned_data["tags"])
            messages.success(request, "Saved the description and tags.")
        except services.RegistryError as exc:
            messages.error(request, str(exc))
    return redirect(model.get_absolute_url())


@login_required
@require_POST
def alias_set(request, pk):
    model = model_for(request.user, pk, Role.EDITOR)
    form = AliasForm(request.POST, versions=list(model.versions.values_list("version", flat=True)))
    if form.is_valid():
        try:
            alias = services.set_alias(model, form.cleaned_data["alias"], form.cleaned_data["version"], request.user)
            messages.success(request, f"{alias.name} now points at version {alias.version.version}.")
        except services.RegistryError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Give an alias name and pick a version.")
    return redirect(model.get_absolute_url())


@login_required
@require_POST
def alias_delete(request, pk, alias):
    model = model_for(request.user, pk, Role.EDITOR)
    try:
        services.delete_alias(model, alias)
        messages.success(request, f"Removed the alias {alias}.")
    except services.RegistryError as exc:
        messages.error(request, str(exc))
    return redirect(model.get_absolute_url())


@login_required
def version_detail(request, pk, number):
    from studio.serving.forms import DeployForm

    version = version_for(request.user, pk, number)
    lineage = services.lineage(version)
    trial, run = lineage["trial"], lineage["run"]
    links = {
        "dataset": _dataset_link(lineage["dataset_version"]),
        "run": url_or_none("experiments:run", run.pk) if run else None,
        "trial": url_or_none("experiments:trial", trial.pk) if trial else None,
    }
    endpoints = request.workspace.endpoints.order_by("name") if request.workspace.pk == version.model.workspace_id else []
    deploy_form = DeployForm(endpoints=endpoints, initial={"name": _suggest_endpoint_name(version)})
    metrics = sorted((k, v) for k, v in (version.metrics or {}).items() if isinstance(v, (int, float)))
    return render(request, "registry/version.html", {
        "version": version, "model": version.model, "lineage": lineage, "links": links, "metrics": metrics,
        "charts": (trial.charts if trial else {}) or {}, "problem_type": version.problem_type,
        "description_html": services.render_markdown(version.description or version.model.description),
        "deploy_form": deploy_form,
        "schema_rows": [(c["name"], c.get("type"), (version.sample_input or {}).get(c["name"]))
                        for c in version.input_schema], "aliases": [a.name for a in version.aliases.all()],
        "other_versions": version.model.versions.exclude(pk=version.pk).values_list("version", flat=True),
        "threshold": thresholds.threshold_table(trial) if trial and version.problem_type == "classification" else None,
        "saved": version.decision_threshold,
        "save_url": reverse("registry:threshold", args=[version.model_id, version.version])})


@login_required
@require_POST
def version_threshold(request, pk, number):
    """Save or clear the version's decision threshold (editors)."""
    version = version_for(request.user, pk, number, Role.EDITOR)
    try:
        services.set_decision_threshold(version, None if request.POST.get("clear") else request.POST.get("threshold"),
                                        request.POST.get("cost_fp"), request.POST.get("cost_fn"))
    except services.RegistryError as exc:
        messages.error(request, str(exc))
    else:
        saved = version.decision_threshold
        messages.success(request, f"Endpoints serving {version} now predict {saved['positive_class']} from a "
                                  f"probability of {saved['value']:g}." if saved else
                                  f"Endpoints serving {version} predict the most probable class again.")
    return redirect(version.get_absolute_url())


def _dataset_link(dataset_version):
    if dataset_version is None:
        return None
    url = url_or_none("datasets:detail", dataset_version.dataset_id)
    return f"{url}?version={dataset_version.version}" if url else None


def _suggest_endpoint_name(version) -> str:
    import re

    base = re.sub(r"[^a-z0-9-]+", "-", version.model.name.lower()).strip("-")
    base = base if base[:1].isalpha() else f"m-{base}"
    return (base[:28].rstrip("-") or "model") + "-ep"


@login_required
def version_download(request, pk, number):
    version = version_for(request.user, pk, number)
    if request.GET.get("what") == "manifest":
        body = json.dumps(version.manifest, indent=2, default=str)
        response = FileResponse(iter([body.encode()]), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{version.model.name}-v{version.version}-manifest.json"'
        return response
    try:
        path = services.verified_artifact(version)
    except services.ArtifactIntegrityError as exc:
        messages.error(request, str(exc))
        return redirect(version.get_absolute_url())
    return FileResponse(open(path, "rb"), as_attachment=True,
                        filename=f"{version.model.name}-v{version.version}-model.pkl")


@login_required
def compare(request, pk):
    model = model_for(request.user, pk)
    wanted = [int(v) for v in request.GET.getlist("v") if v.isdigit()]
    versions = list(model.versions.filter(version__in=wanted).order_by("version")) if wanted else \
        list(model.versions.order_by("-version")[:3])[::-1]
    data = services.comparison(model, versions)
    return render(request, "registry/compare.html", {
        "model": model, "versions": versions, "rows": data["rows"], "chart": data["chart"],
        "all_versions": list(model.versions.order_by("version").values_list("version", flat=True)),
        "selected": [v.version for v in versions]})


@login_required
@require_POST
def version_delete(request, pk, number):
    version = version_for(request.user, pk, number, Role.EDITOR)
    model = version.model
    try:
        services.delete_version(version)
        messages.success(request, f"Deleted version {number} of {model.name}.")
    except services.RegistryError as exc:
        messages.error(request, str(exc))
        return redirect(version.get_absolute_url())
    return redirect(model.get_absolute_url())
