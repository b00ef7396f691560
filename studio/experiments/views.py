"""Pages of the experiments app: list, creation wizard, run page with live fragments, trial page, compare."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from studio.accounts.access import require_role
from studio.accounts.models import Role
from studio.experiments import forms, reports, services, testing, thresholds
from studio.experiments.access import run_for, trial_for
from studio.experiments.models import RunStatus
from studio.registry.services import trials_by_lineage


def _int(value, default=1):
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


@login_required
def experiment_list(request):
    """The workspace's runs with filters and pagination."""
    filters = {k: request.GET.get(k, "").strip() for k in ("q", "status", "task", "dataset", "experiment", "tag",
                                                           "sort")}
    page = reports.list_runs(request.workspace, filters, _int(request.GET.get("page")))
    from studio.datasets.models import Dataset

    datasets = Dataset.objects.filter(workspace=request.workspace).order_by("name").values_list("id", "name")
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "experiments/list.html", {
        "page": page, "filters": filters, "statuses": RunStatus.choices, "datasets": datasets, "query": query,
        "sorts": [(k, label) for k, (label, _) in reports.RUN_SORTS.items()],
        "tags": sorted({f"{k}={v}" if v else k for tags in request.workspace.experiments.values_list("tags", flat=True)
                        for k, v in (tags or {}).items()}),
        "tasks": [("classification", "Classification"), ("regression", "Regression"),
                  ("forecasting", "Forecasting")]})


# --- Wizard ----------------------------------------------------------------------------------------------


@login_required
def wizard_start(request):
    """Start a new job (``?dataset=`` preselects the data) and open the first step."""
    require_role(request.user, request.workspace, Role.EDITOR)
    spec = {}
    if request.GET.get("dataset"):
        spec = {**forms.default_spec(), "dataset": _int(request.GET["dataset"], None)}
    state = forms.WizardState.start(request.session, spec or None)
    state.reached = "basics"
    state.save()
    return redirect("experiments:wizard", step="basics")


@login_required
def run_resubmit(request, pk):
    """"Edit and resubmit": the wizard prefilled with an earlier run's job, opened on the review."""
    run = run_for(request.user, pk, Role.VIEWER)
    require_role(request.user, run.workspace, Role.EDITOR)
    if run.workspace_id != request.workspace.pk:
        messages.info(request, f"Switch to {run.workspace.name} to resubmit this run there.")
        return redirect("experiments:run", pk=run.pk)
    forms.WizardState.start(request.session, services.submission_spec_for(run), source_run=run.pk)
    return redirect("experiments:wizard", step="review")


@login_required
def wizard(request, step):
    """One step of the wizard: show it prefilled from the session, or check it and go on."""
    require_role(request.user, request.workspace, Role.EDITOR)
    if step not in forms.STEP_NAMES:
        raise Http404("No such step.")
    state = forms.WizardState(request.session)
    if step == "review":
        return _review(request, state)
    if step not in dict(forms.steps_for(state.spec)):  # a step of another task (forecast settings)
        return redirect("experiments:wizard", step=forms.next_step(step, state.spec))
    form_class = forms.FORMS[step]
    if request.method == "POST":
        form = form_class(request.POST, spec=state.spec, workspace=request.workspace)
        if form.is_valid():
            state.spec = form.merged
            next_step = forms.next_step(step, state.spec)
            state.reach(next_step)
            state.save()
            return redirect("experiments:wizard", step=next_step)
    else:
        form = form_class(initial=form_class.initial_from(state.spec), spec=state.spec, workspace=request.workspace)
    return render(request, f"experiments/wizard_{step}.html", _wizard_context(state, step, form=form))


def _wizard_context(state, step, **extra):
    index = forms.STEP_NAMES.index(step)
    task_steps = forms.steps_for(state.spec)
    steps = [{"name": n, "title": t, "state": "active" if n == step else
              "done" if forms.STEP_NAMES.index(n) < index or forms.STEP_NAMES.index(n) <= forms.STEP_NAMES.index(
                  state.reached) else "todo"} for n, t in task_steps]
    names = [n for n, _ in task_steps]
    previous = names[names.index(step) - 1] if step in names and names.index(step) else None
    if step == "limits":
        extra.update(distributed_off=forms.DISTRIBUTED_SWITCHED_OFF, dask_scheduler=settings.DASK_SCHEDULER_ADDRESS,
                     dask_memory=settings.DASK_WORKER_MEMORY_LIMIT)
    return {"steps": steps, "step": step, "previous": previous, "spec": state.spec,
            "source_run": state.source_run, **extra}


def _review(request, state):
    try:
        submission = services.validate_submission(request.workspace, state.spec)
    except services.SubmissionError as exc:
        problems = [{"step": forms.field_for(f)[0], "title": dict(forms.STEPS)[forms.field_for(f)[0]], "field": f,
                     "message": m} for f, m in exc.errors.items()]
        return render(request, "experiments/wizard_review.html", _wizard_context(state, "review", problems=problems))
    if request.method == "POST":
        run = services.submit_run(request.workspace, request.user, state.spec)
        state.clear()
        messages.success(request, f"Submitted {run}. A worker picks it up in a moment; trials appear below as "
                                  "they finish.")
        return redirect("experiments:run", pk=run.pk)
    return render(request, "experiments/wizard_review.html", _wizard_context(
        state, "review", submission=submission, yaml=services.config_yaml(submission)))


@login_required
def wizard_columns(request):
    """htmx: the target column select for the dataset picked in the data step."""
    require_role(request.user, request.workspace, Role.EDITOR)
    state = forms.WizardState(request.session)
    form = forms.DataForm(initial={**forms.DataForm.initial_from(state.spec), "dataset": request.GET.get("dataset", ""),
                                   "dataset_version": request.GET.get("dataset_version", ""),
                                   "target_column": request.GET.get("target_column", ""), "positive_label": ""},
                          spec=state.spec,
                          workspace=request.workspace)
    return render(request, "experiments/partials/target_field.html", {"form": form})


# --- Run pages ---------------------------------------------------------------------------------------------


def _run_context(request, run):
    summary = reports.run_summary(run)
    board = reports.leaderboard(run, request.GET.get("sort"), request.GET.get("order"), _int(request.GET.get("page")),
                                rows=summary["rows"])
    return {"run": run, "board": board, "figure": summary["figure"], "failed": summary["failed"], "stopped": summary["stopped"],
            "sort_query": f"sort={board['sort']}&order={board['order']}",
            "live_url": reverse("experiments:run_live", args=[run.pk])}


@login_required
def run_detail(request, pk):
    """The run page: progress, best score over time, leaderboard and the tabs."""
    run = run_for(request.user, pk)
    context = _run_context(request, run)
    context["yaml"] = services.config_yaml(run)
    context["can_change"] = _can(request.user, run, Role.EDITOR)
    return render(request, "experiments/run_detail.html", context)


def _can(user, run, role) -> bool:
    try:
        require_role(user, run.workspace, role)
        return True
    except (PermissionDenied, Http404):
        return False


@login_required
def run_live(request, pk):
    """htmx: the part of the run page that changes while it runs (polls itself until the run ends)."""
    run = run_for(request.user, pk)
    if request.GET.get("live") == "1" and run.is_finished:
        # The run just ended while the page polled: reload it once so every tab shows the final results.
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    context = _run_context(request, run)
    context["can_change"] = _can(request.user, run, Role.EDITOR)
    context["live"] = request.GET.get("live") == "1"  # the polled fragment also refreshes the guardrails tab
    return render(request, "experiments/partials/run_live.html", context)


@login_required
def run_logs(request, pk):
    """htmx: the run's log."""
    run = run_for(request.user, pk)
    return render(request, "experiments/partials/run_logs.html", {"run": run, "lines": run.log_lines.all()})


@login_required
def run_history(request, pk):
    """htmx: the search history (score per trial, parameter importance, parallel coordinates)."""
    run = run_for(request.user, pk)
    return render(request, "experiments/partials/run_history.html", {"run": run, **reports.search_history(run)})


@login_required
def run_config(request, pk):
    """The run's job as a YAML download."""
    run = run_for(request.user, pk)
    response = HttpResponse(services.config_yaml(run), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.experiment.name}-run{run.number}.yml"'
    return response


@login_required
@require_POST
def run_cancel(request, pk):
    """Stop a run; finished trials are kept."""
    run = run_for(request.user, pk, Role.EDITOR)
    run = services.cancel_run(run, request.user)
    if run.status == RunStatus.CANCELED:
        messages.info(request, f"{run} is canceled.")
    elif run.cancel_requested and not run.is_finished:
        messages.info(request, f"Stopping {run}: the worker stops within seconds and keeps finished trials.")
    else:
        messages.info(request, f"{run} had already finished ({run.status}).")
    return redirect("experiments:run", pk=run.pk)


@login_required
@require_POST
def run_retry(request, pk):
    """Submit a failed or canceled run again, unchanged, and show the new run."""
    run = run_for(request.user, pk, Role.EDITOR)
    try:
        new = services.retry_run(run, request.user)
    except services.SubmissionError as exc:
        messages.error(request, " ".join(exc.errors.values()))
        return redirect("experiments:run", pk=run.pk)
    messages.success(request, f"Submitted {new} again as run {new.number}.")
    return redirect("experiments:run", pk=new.pk)


@login_required
def run_compare(request, pk):
    """Two or more trials of a run side by side, optionally only what differs."""
    run = run_for(request.user, pk)
    ids = [i for i in request.GET.getlist("trial") if i.isdigit()]
    trials = list(run.trials.filter(pk__in=ids).order_by("number"))
    only = request.GET.get("only_differences") == "1"
    rows = reports.compare(trials, only) if len(trials) >= 2 else []
    all_trials = run.trials.values("id", "number", "pipeline_name", "score").order_by("number")
    return render(request, "experiments/compare.html", {
        "run": run, "trials": trials, "rows": rows, "only": only, "all_trials": all_trials,
        "selected": {t.pk for t in trials}})


# --- Trial pages -------------------------------------------------------------------------------------------


@login_required
def trial_detail(request, pk):
    """Every metric, the per-task charts, hyperparameters, feature importance and downloads of one trial."""
    trial = trial_for(request.user, pk)
    run = trial.run
    return render(request, "experiments/trial_detail.html", {
        "trial": trial, "run": run, "figures": reports.trial_figures(run.task, trial.charts),
        "test_figures": reports.trial_figures(run.task, trial.test_charts, prefix="test"),
        "importance_raw": reports.importance_figure(trial.feature_importance, "raw"),
        "importance_engineered": reports.importance_figure(trial.feature_importance, "engineered"),
        "importance_job": trial.importance_jobs.first(), "onnx": services.onnx_available(trial),
        "registered_versions": trials_by_lineage(trial),
        "can_change": _can(request.user, run, Role.EDITOR), "primary": run.primary_metric,
        "metrics": sorted((trial.metrics or {}).items()), "threshold": thresholds.threshold_table(trial),
        "members": reports.ensemble_members(trial),
        # The engine names a trial in its log lines as "trial <n> ": those are this trial's log.
        "log_lines": run.log_lines.filter(message__startswith=f"trial {trial.number} ")[:200],
        **_model_test_context(request, trial),
        "test_metrics": sorted((trial.test_metrics or {}).items()) if trial.test_metrics else None,
        **_forecast_context(run, trial)})


def _forecast_context(run, trial) -> dict:
    """The forecast chart and per-series table of a forecasting trial (nothing for other tasks)."""
    if run.task != "forecasting":
        return {}
    from studio.experiments import forecast_reports

    return {"forecast_panel": forecast_reports.forecast_panel(trial.charts, trial.test_charts),
            "series_table": forecast_reports.series_table(trial.charts),
            "series_metrics": forecast_reports.SERIES_METRICS}


def _model_test_context(request, trial, error: str = "") -> dict:
    run = trial.run
    job = trial.test_jobs.select_related("dataset_version__dataset").first()
    can_change = _can(request.user, run, Role.EDITOR)
    # The charts that say most about a test; the validation charts above have the rest.
    shown = {"confusion", "roc", "precision_recall", "predicted_vs_true", "residuals"}
    return {"trial": trial, "test_job": job, "can_change": can_change, "primary": run.primary_metric, "error": error,
            "test_candidates": testing.test_candidates(trial) if can_change else [],
            "test_metrics": sorted((job.metrics or {}).items()) if job else [],
            "test_job_figures": [f for f in reports.trial_figures(run.task, job.charts, prefix="modeltest")
                                 if f["key"] in shown] if job else []}


@login_required
def trial_test(request, pk):
    """POST: test the trial's model on a chosen dataset version (editors). GET (htmx): the card, polling while
    the test runs."""
    error = ""
    if request.method == "POST":
        trial = trial_for(request.user, pk, Role.EDITOR)
        from studio.datasets.models import DatasetVersion

        version = DatasetVersion.objects.filter(pk=_int(request.POST.get("dataset_version"), 0)).first()
        try:
            testing.request_model_test(trial, version, request.user)
        except testing.ModelTestError as exc:
            error = str(exc)
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect(reverse("experiments:trial", args=[trial.pk]) + "#model-test-card")
    trial = trial_for(request.user, pk)
    return render(request, "experiments/partials/model_test.html", _model_test_context(request, trial, error))


@login_required
def trial_importance(request, pk):
    """POST: queue feature importance for the trial. GET (htmx): the importance card, polling while it works."""
    if request.method == "POST":
        trial = trial_for(request.user, pk, Role.EDITOR)
        try:
            services.request_feature_importance(trial, request.user)
        except services.ArtifactUnavailable as exc:
            messages.error(request, str(exc))
        if not request.htmx:
            return redirect("experiments:trial", pk=trial.pk)
    trial = trial_for(request.user, pk)
    return render(request, "experiments/partials/importance.html", {
        "trial": trial, "importance_job": trial.importance_jobs.first(),
        "importance_raw": reports.importance_figure(trial.feature_importance, "raw"),
        "importance_engineered": reports.importance_figure(trial.feature_importance, "engineered"),
        "can_change": _can(request.user, trial.run, Role.EDITOR)})


@login_required
def trial_download(request, pk, fmt):
    """The trial's model as ``.pkl`` or ``.onnx``."""
    trial = trial_for(request.user, pk)
    from studio.experiments.api import model_filename

    try:
        path = services.trial_model_path(trial) if fmt == "pkl" else services.trial_onnx_path(trial)
    except services.ArtifactUnavailable as exc:
        messages.error(request, str(exc))
        return redirect(reverse("experiments:trial", args=[trial.pk]))
    return FileResponse(open(path, "rb"), as_attachment=True, filename=model_filename(trial, fmt))
