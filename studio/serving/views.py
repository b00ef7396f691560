"""Endpoint pages: list, deploy, endpoint page (overview, test, consume, monitoring, batch scoring)."""
import json
import pprint
import shlex

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from studio.accounts.models import Role
from studio.registry.access import version_for
from studio.serving import services
from studio.serving.access import batch_job_for, endpoint_for
from studio.serving.forecast_views import forecast_test_context
from studio.serving.forms import BatchForm, DeployForm
from studio.serving.models import Endpoint


@login_required
def endpoint_list(request):
    endpoints = (Endpoint.objects.filter(workspace=request.workspace)
                 .prefetch_related("deployments__model_version__model"))
    return render(request, "serving/list.html", {"endpoints": endpoints})


@login_required
@require_POST
def deploy(request, model_pk, number):
    """One click from a version page: a new endpoint, or a new deployment on an existing one."""
    version = version_for(request.user, model_pk, number, Role.EDITOR)
    endpoints = Endpoint.objects.filter(workspace=version.model.workspace)
    form = DeployForm(request.POST, endpoints=endpoints)
    if not form.is_valid():
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect(version.get_absolute_url())
    try:
        if form.cleaned_data["endpoint"]:
            endpoint = endpoints.get(pk=int(form.cleaned_data["endpoint"]))
            deployment = services.add_deployment(endpoint, version, user=request.user,
                                                 traffic_percent=form.cleaned_data["traffic_percent"] or 0)
            messages.success(request, f"Deployed {version} to {endpoint.name} as {deployment.name} with "
                                      f"{deployment.traffic_percent} % of the traffic.")
            return redirect(endpoint.get_absolute_url())
        endpoint, key = services.create_endpoint(workspace=version.model.workspace, user=request.user,
                                                 name=form.cleaned_data["name"], model_version=version,
                                                 description=form.cleaned_data["description"])
    except services.ServingError as exc:
        messages.error(request, str(exc))
        return redirect(version.get_absolute_url())
    request.session[f"endpoint-key-{endpoint.pk}"] = key
    messages.success(request, f"Deployed {version} to the new endpoint {endpoint.name}.")
    return redirect(endpoint.get_absolute_url())


def _example_payload(endpoint) -> dict:
    deployment = max(endpoint.deployments.all(), key=lambda d: (d.traffic_percent, d.name), default=None)
    if deployment is None:
        return {"data": []}
    version = deployment.model_version
    row = version.sample_input or {c["name"]: None for c in version.input_schema}
    return {"data": [row]}


@login_required
def endpoint_detail(request, pk):
    endpoint = endpoint_for(request.user, pk)
    deployments = list(endpoint.deployments.select_related("model_version__model").order_by("name"))
    new_key = request.session.pop(f"endpoint-key-{endpoint.pk}", None)
    main = max(deployments, key=lambda d: (d.traffic_percent, d.name), default=None)
    schema = main.model_version.input_schema if main else []
    sample = (main.model_version.sample_input if main else {}) or {}
    fields = [{"name": c["name"], "type": c.get("type", "Numeric"), "value": sample.get(c["name"])} for c in schema]
    scoring_url = request.build_absolute_uri(endpoint.scoring_path())
    example = _example_payload(endpoint)
    metrics = services.endpoint_metrics(endpoint)
    return render(request, "serving/detail.html", {
        "endpoint": endpoint, "deployments": deployments, "new_key": new_key, "scoring_url": scoring_url,
        "fields": fields, "example": example, "example_json": json.dumps(example, indent=2),
        "metrics": metrics, "errors": endpoint.errors.all()[:20],
        "health": services.endpoint_health(endpoint, deployments),
        "batch_form": BatchForm(deployments=deployments, initial={"deployment": main.name if main else ""}),
        "batch_jobs": endpoint.batch_jobs.select_related("model_version__model")[:10],
        "snippets": _snippets(scoring_url, example),
        "tab": request.GET.get("tab", "overview"), **forecast_test_context(main)})


def _snippets(url: str, example: dict) -> dict:
    """curl, Python and JavaScript that score ``example`` as pasted, with the key read from ``$ENDPOINT_KEY``.

    The curl header is in double quotes so the shell expands the key; the body is shell-quoted. Python gets
    the body as a Python literal (``None``, ``True``), JavaScript as JSON; tests run all three."""
    body = json.dumps(example)
    curl = (f"curl -X POST {shlex.quote(url)} \\\n  -H \"Authorization: Bearer $ENDPOINT_KEY\" \\\n"
            f"  -H 'Content-Type: application/json' \\\n  -d {shlex.quote(body)}")
    python = ("import json\nimport os\nimport urllib.request\n\n"
              f"body = {pprint.pformat(example, indent=4, sort_dicts=False)}\n"
              f"request = urllib.request.Request(\n    {url!r},\n    data=json.dumps(body).encode(),\n"
              "    headers={\"Authorization\": f\"Bearer {os.environ['ENDPOINT_KEY']}\",\n"
              "             \"Content-Type\": \"application/json\"},\n)\n"
              "with urllib.request.urlopen(request) as response:\n    print(json.load(response))\n")
    javascript = (f"// Node.js 18 or later (fetch is built in); the key comes from the environment.\n"
                  f"const body = {json.dumps(example, indent=2)};\n"
                  f"fetch({json.dumps(url)}, {{\n  method: \"POST\",\n"
                  "  headers: {\"Authorization\": `Bearer ${process.env.ENDPOINT_KEY}`,\n"
                  "            \"Content-Type\": \"application/json\"},\n"
                  "  body: JSON.stringify(body),\n})\n"
                  "  .then(async (response) => console.log(response.status, JSON.stringify(await response.json())));\n")
    return {"curl": curl, "python": python, "javascript": javascript}


@login_required
@require_POST
def test_score(request, pk):
    """The Test tab: score the posted ``{"data": [...]}`` as the signed-in user (no key needed)."""
    endpoint = endpoint_for(request.user, pk)
    try:
        payload = json.loads(request.body or b"null")
    except ValueError as exc:
        return JsonResponse({"detail": f"The JSON is not valid: {exc}"}, status=400)
    if not isinstance(payload, dict) or "data" not in payload:
        return JsonResponse({"detail": 'Send an object with "data": a list of rows.'}, status=422)
    outcome = services.score_rows(endpoint, payload["data"], deployment_name=payload.get("deployment") or "",
                                  history=payload.get("history"))
    response = JsonResponse(outcome.body, status=outcome.status)
    for header, value in outcome.headers.items():
        response[header] = value
    return response


@login_required
@require_POST
def traffic(request, pk):
    endpoint = endpoint_for(request.user, pk, Role.EDITOR)
    shares = {d.name: request.POST.get(f"traffic-{d.name}", "0") for d in endpoint.deployments.all()}
    try:
        services.set_traffic(endpoint, shares)
        messages.success(request, "Traffic updated: " + ", ".join(f"{k} {v} %" for k, v in
                                                                   services.traffic_of(endpoint).items()) + ".")
    except services.ServingError as exc:
        messages.error(request, str(exc))
    return redirect(endpoint.get_absolute_url())


@login_required
@require_POST
def deployment_delete(request, pk, name):
    endpoint = endpoint_for(request.user, pk, Role.EDITOR)
    deployment = endpoint.deployments.filter(name=name).first()
    if deployment is None:
        messages.error(request, f"No deployment named {name}.")
        return redirect(endpoint.get_absolute_url())
    try:
        services.delete_deployment(deployment)
        messages.success(request, f"Removed the deployment {name}.")
    except services.ServingError as exc:
        messages.error(request, str(exc))
    return redirect(endpoint.get_absolute_url())


@login_required
@require_POST
def rotate_key(request, pk):
    endpoint = endpoint_for(request.user, pk, Role.EDITOR)
    request.session[f"endpoint-key-{endpoint.pk}"] = services.rotate_key(endpoint)
    messages.success(request, "The key was rotated; the old key no longer works.")
    return redirect(endpoint.get_absolute_url())


@login_required
@require_POST
def endpoint_delete(request, pk):
    endpoint = endpoint_for(request.user, pk, Role.EDITOR)
    name = endpoint.name
    services.delete_endpoint(endpoint)
    messages.success(request, f"Deleted the endpoint {name}.")
    return redirect("serving:list")


@login_required
@require_POST
def batch_start(request, pk):
    endpoint = endpoint_for(request.user, pk, Role.EDITOR)
    form = BatchForm(request.POST, request.FILES, deployments=endpoint.deployments.select_related("model_version__model"))
    if not form.is_valid():
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect(f"{endpoint.get_absolute_url()}?tab=batch")
    try:
        job = services.start_batch_job(endpoint, form.cleaned_data["file"], user=request.user,
                                       deployment_name=form.cleaned_data["deployment"])
        messages.success(request, f"Scoring {job.input_name} in the background.")
    except services.ServingError as exc:
        messages.error(request, str(exc))
    return redirect(f"{endpoint.get_absolute_url()}?tab=batch")


@login_required
def batch_status(request, pk, job_pk):
    """htmx fragment: one batch job's row (polled while it runs)."""
    job = batch_job_for(request.user, pk, job_pk)
    return render(request, "serving/partials/batch_row.html", {"job": job, "endpoint": job.endpoint})


@login_required
def batch_download(request, pk, job_pk):
    job = batch_job_for(request.user, pk, job_pk)
    if not job.output_file:
        return HttpResponse("This job has no predictions to download yet.", status=404, content_type="text/plain")
    name = job.input_name.rsplit(".", 1)[0] + "-predictions.csv"
    return FileResponse(default_storage.open(job.output_file, "rb"), as_attachment=True, filename=name,
                        content_type="text/csv")
