"""Pages of the pipelines app: the job list, a new pipeline from a template, and the job page."""
import json

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from studio.accounts.access import require_role
from studio.accounts.models import Role
from studio.pipelines import services
from studio.pipelines.models import PipelineJob
from studio.pipelines.spec import PipelineSpecError
from studio.pipelines.templates import TEMPLATES, render_template


@login_required
def job_list(request):
    """The workspace's pipeline jobs, newest first."""
    jobs = PipelineJob.objects.filter(workspace=request.workspace).select_related("created_by")[:100]
    return render(request, "pipelines/list.html", {"jobs": jobs, "section": "pipelines"})


@login_required
def new(request):
    """Build a pipeline from a template (GET fills the YAML) and submit it (POST, editor role)."""
    from studio.datasets.models import Dataset

    require_role(request.user, request.workspace, Role.EDITOR)
    datasets = list(Dataset.objects.filter(workspace=request.workspace).order_by("name").values_list("name", flat=True))
    errors, text = {}, request.POST.get("yaml", "")
    choice = {k: request.GET.get(k, "") for k in ("template", "dataset", "target", "metric", "threshold", "model_name",
                                                     "drop_columns", "task", "time_column", "series_columns",
                                                     "horizon")}
    if request.method == "POST":
        try:
            job = services.submit_pipeline(request.workspace, request.user, text)
        except PipelineSpecError as exc:
            errors = exc.errors
        else:
            messages.success(request, f"Pipeline job {job.pk} submitted.")
            return redirect("pipelines:job", pk=job.pk)
    elif choice["template"] in TEMPLATES and choice["dataset"] and choice["target"]:
        try:
            threshold = float(choice["threshold"] or 0.9)
        except ValueError:
            threshold = 0.9
        task = choice["task"] if choice["task"] in ("classification", "regression", "forecasting") else "classification"
        metric = choice["metric"] or "AUC_weighted"
        if task != "classification" and metric == "AUC_weighted":  # the form's default is a classification metric
            metric = "normalized_root_mean_squared_error"
        forecasting = {"time_column_name": choice["time_column"].strip(),
                       "time_series_id_column_names": [c.strip() for c in choice["series_columns"].split(",")
                                                       if c.strip()],
                       "forecast_horizon": choice["horizon"].strip()}
        text = render_template(choice["template"], dataset=choice["dataset"], target=choice["target"],
                               task=task, metric=metric, forecasting=forecasting,
                               threshold=threshold, model_name=choice["model_name"] or f"{choice['dataset']}-model",
                               drop_columns=[c.strip() for c in choice["drop_columns"].split(",") if c.strip()])
    return render(request, "pipelines/new.html", {
        "templates": TEMPLATES, "datasets": datasets, "choice": choice, "yaml": text, "errors": errors,
        "tasks": ("classification", "regression", "forecasting"),
        "section": "pipelines"})


@login_required
def job_detail(request, pk):
    """The job's graph of steps with status, duration, log and outputs; refreshes while it runs."""
    job = get_object_or_404(PipelineJob.objects.select_related("created_by"), pk=pk, workspace=request.workspace)
    steps = list(job.steps.select_related("run"))
    depth = {}
    for step in steps:  # steps are stored in topological order
        depth[step.name] = 1 + max((depth[n] for n in step.needs), default=-1)
    columns = [[s for s in steps if depth[s.name] == d] for d in range(max(depth.values(), default=-1) + 1)]
    from studio.accounts.access import membership_in
    from studio.accounts.models import ROLE_RANK

    membership = membership_in(request.user, job.workspace)
    can_edit = membership is not None and ROLE_RANK[membership.role] >= ROLE_RANK[Role.EDITOR]
    return render(request, "pipelines/job.html", {"job": job, "steps": steps, "columns": columns,
                                                  "can_edit": can_edit, "section": "pipelines"})


@login_required
@require_POST
def job_cancel(request, pk):
    job = get_object_or_404(PipelineJob, pk=pk, workspace=request.workspace)
    require_role(request.user, job.workspace, Role.EDITOR)
    services.cancel_pipeline(job, request.user)
    return redirect("pipelines:job", pk=job.pk)


@login_required
@require_POST
def job_rerun(request, pk):
    job = get_object_or_404(PipelineJob, pk=pk, workspace=request.workspace)
    require_role(request.user, job.workspace, Role.EDITOR)
    try:
        new_job = services.rerun_pipeline(job, request.user)
    except (services.StepError, PipelineSpecError) as exc:
        messages.error(request, str(exc))
        return redirect("pipelines:job", pk=job.pk)
    return redirect("pipelines:job", pk=new_job.pk)


@login_required
def schedules(request):
    """The workspace's schedules (pause/resume) and a form to add one (editor role)."""
    from studio.pipelines import schedules as schedule_service
    from studio.pipelines.models import PipelineSchedule

    errors, form = {}, {"name": "", "cron": "", "every_minutes": "", "yaml": ""}
    if request.method == "POST":
        require_role(request.user, request.workspace, Role.EDITOR)
        form = {k: request.POST.get(k, "") for k in form}
        try:
            every = int(form["every_minutes"]) if form["every_minutes"].strip() else None
        except ValueError:
            errors["every_minutes"] = "a whole number of minutes"
            every = None
        if not errors:
            try:
                schedule = schedule_service.create_schedule(request.workspace, request.user, name=form["name"],
                                                            text=form["yaml"], cron=form["cron"], every_minutes=every)
            except schedule_service.ScheduleError as exc:
                errors = exc.errors
            else:
                messages.success(request, f"Schedule {schedule.name} created.")
                return redirect("pipelines:schedules")
    items = list(PipelineSchedule.objects.filter(workspace=request.workspace).select_related("last_job"))
    for item in items:
        item.when = schedule_service.describe(item)
        item.next_run = None if item.paused else schedule_service.next_due(item, item.last_fired_at or item.created_at)
    return render(request, "pipelines/schedules.html", {"schedules": items, "errors": errors, "form": form,
                                                        "section": "pipelines"})


@login_required
@require_POST
def schedule_pause(request, pk):
    from studio.pipelines import schedules as schedule_service
    from studio.pipelines.models import PipelineSchedule

    schedule = get_object_or_404(PipelineSchedule, pk=pk, workspace=request.workspace)
    require_role(request.user, schedule.workspace, Role.EDITOR)
    schedule_service.set_paused(schedule, request.POST.get("paused") == "1")
    return redirect("pipelines:schedules")


@login_required
@require_POST
def step_endpoint_key(request, pk, step):
    """Show the key of the endpoint a deploy step created, once: it moves into the session and the endpoint
    page shows it as after a one-click deploy (editor role)."""
    job = get_object_or_404(PipelineJob, pk=pk, workspace=request.workspace)
    require_role(request.user, job.workspace, Role.EDITOR)
    key, endpoint = services.take_endpoint_key(job, step)
    if key is None:
        messages.error(request, f"Step {step} has no endpoint key to show any more: it is shown once. Rotate the "
                                "key on the endpoint page to get a new one.")
        return redirect("pipelines:job", pk=job.pk)
    request.session[f"endpoint-key-{endpoint.pk}"] = key
    return redirect("serving:detail", pk=endpoint.pk)


@login_required
def step_output(request, pk, step, output):
    """One output of a step as a JSON download (e.g. an AutoML step's metrics)."""
    job = get_object_or_404(PipelineJob, pk=pk, workspace=request.workspace)
    found = job.steps.filter(name=step).first()
    if found is None or output not in (found.outputs or {}):
        raise Http404(f"Step {step!r} of job {job.pk} has no output {output!r}.")
    response = HttpResponse(json.dumps(found.outputs[output], indent=2, default=str), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="job{job.pk}-{step}-{output}.json"'
    return response
