"""The home page: where a new user learns what to do first and a returning one sees what is recent."""
from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

# Each step of the workflow: (app label, model, list url name, title, what to do first).
_STEPS = [
    ("datasets", "Dataset", "datasets:list", "Datasets", "Upload a CSV or Parquet file to create your first dataset."),
    ("experiments", "Experiment", "experiments:list", "Experiments",
     "Pick a dataset, a task and a target column; workers train and compare models for you."),
    ("registry", "RegisteredModel", "registry:list", "Models", "Register the best model of a finished experiment."),
    ("serving", "Endpoint", "serving:list", "Endpoints", "Deploy a registered model to a REST endpoint in one click."),
]


@login_required
def home(request):
    steps = []
    for label, model_name, url_name, title, hint in _STEPS:
        try:
            model = apps.get_model(label, model_name)
            count = model.objects.filter(workspace=request.workspace).count()
        except LookupError:
            count = 0
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            url = None
        steps.append({"title": title, "count": count, "hint": hint, "url": url})
    return render(request, "home.html", {"steps": steps, **_recent(request.workspace)})


def _recent(workspace, n: int = 5) -> dict:
    """The workspace's latest runs (with their status), model versions and endpoints for the home page."""
    recent = {"recent_runs": [], "recent_versions": [], "recent_endpoints": []}
    for key, label, model_name, related, where in (
            ("recent_runs", "experiments", "Run", ("experiment", "best_trial"), {"workspace": workspace}),
            ("recent_versions", "registry", "ModelVersion", ("model",), {"model__workspace": workspace}),
            ("recent_endpoints", "serving", "Endpoint", (), {"workspace": workspace})):
        try:
            model = apps.get_model(label, model_name)
        except LookupError:
            continue
        recent[key] = list(model.objects.filter(**where).select_related(*related).order_by("-created_at")[:n])
    return recent


def page_not_found(request, exception=None):
    """404: JSON under /api/ (a client parses it like every other API error), the site's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found as html_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "No such URL in the API; see /api/v1/docs/ for the routes."}, status=404)
    return html_not_found(request, exception)


def server_error(request):
    """500: JSON under /api/, the site's page elsewhere; the details go to the log, never to the client."""
    from django.http import JsonResponse
    from django.views.defaults import server_error as html_server_error

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "The studio failed to answer; the error is logged. Try again, and tell an "
                                       "administrator if it persists."}, status=500)
    return html_server_error(request)
