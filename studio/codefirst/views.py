"""Pages and downloads of generated training code."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from studio.codefirst import services
from studio.experiments.access import run_for, trial_for
from studio.experiments.services import ArtifactUnavailable


@login_required
def trial_code(request, pk):
    """The generated training script of a trial, with how to run it."""
    trial = trial_for(request.user, pk)
    try:
        code = services.trial_training_code(trial)
    except ArtifactUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("experiments:trial", pk=trial.pk)
    run = trial.run
    data_files = [(role, services.data_filename(run, role)) for role, field in services.DATA_ROLES.items()
                  if getattr(run, f"{field}_id")]
    return render(request, "codefirst/trial_code.html", {
        "trial": trial, "run": run, "code": code, "command": services.script_command(trial),
        "script_name": services.script_filename(trial), "data_files": data_files})


@login_required
def trial_code_download(request, pk):
    """The generated script as a .py file."""
    trial = trial_for(request.user, pk)
    try:
        code = services.trial_training_code(trial)
    except ArtifactUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("experiments:trial", pk=trial.pk)
    response = HttpResponse(code, content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{services.script_filename(trial)}"'
    return response


@login_required
def run_data_download(request, pk, role):
    """The run's training/validation/test data as the CSV the script reads."""
    run = run_for(request.user, pk)
    try:
        data = services.run_data_csv(run, role)
    except ArtifactUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("experiments:run", pk=run.pk)
    response = HttpResponse(data, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{services.data_filename(run, role)}"'
    return response


def _zip_response(name: str, data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def trial_mlflow(request, pk):
    """The trial's model as an MLflow model folder (zip)."""
    trial = trial_for(request.user, pk)
    try:
        return _zip_response(*services.trial_mlflow_zip(trial))
    except ArtifactUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("experiments:trial", pk=trial.pk)


@login_required
def version_mlflow(request, pk, number):
    """A registered model version as an MLflow model folder (zip)."""
    from studio.registry.access import version_for
    from studio.registry.services import ArtifactIntegrityError

    version = version_for(request.user, pk, number)
    try:
        return _zip_response(*services.version_mlflow_zip(version))
    except ArtifactIntegrityError as exc:
        messages.error(request, str(exc))
        return redirect(version.get_absolute_url())
