"""REST API for pipeline jobs: submit YAML, follow the steps, cancel, re-run from the failed step."""
from django.http import Http404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.api import WorkspaceScopedMixin
from studio.pipelines import services
from studio.pipelines.models import PipelineJob
from studio.pipelines.spec import PipelineSpecError


def step_data(step) -> dict:
    return {"name": step.name, "type": step.type, "status": step.status, "needs": step.needs,
            "started_at": step.started_at, "finished_at": step.finished_at,
            "duration_seconds": step.duration_seconds, "error": step.error, "outputs": step.outputs,
            "run": step.run_id, "log": step.log, "attempts": step.attempts, "worker": step.worker or None,
            "endpoint_key_waiting": bool(step.endpoint_key)}


def job_data(job: PipelineJob, request) -> dict:
    """The JSON form of a pipeline job, as ``GET /api/v1/pipeline-jobs/{id}/`` returns it."""
    return {"id": job.pk, "name": job.name, "status": job.status, "error": job.error, "trigger": job.trigger,
            "inputs": job.inputs, "rerun_of": job.rerun_of_id, "created_at": job.created_at,
            "started_at": job.started_at, "finished_at": job.finished_at,
            "created_by": job.created_by.username if job.created_by else None,
            "url": request.build_absolute_uri(f"/pipelines/jobs/{job.pk}/"),
            "steps": [step_data(s) for s in job.steps.all()]}


def _job(request, pk) -> PipelineJob:
    job = PipelineJob.objects.filter(workspace=request.workspace, pk=pk).select_related("created_by").first()
    if job is None:
        raise Http404(f"No pipeline job {pk} in this workspace.")
    return job


def _bad_spec(exc: PipelineSpecError) -> ValidationError:
    return ValidationError({field: [message] for field, message in exc.errors.items()})


class PipelineJobListView(WorkspaceScopedMixin, APIView):
    """List the workspace's pipeline jobs, newest first, or submit one: ``{"yaml": "...", "inputs": {...}}``
    as JSON, or the YAML as a multipart ``file`` upload."""

    @extend_schema(operation_id="pipeline_jobs_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        jobs = PipelineJob.objects.filter(workspace=request.workspace).select_related("created_by")
        if request.query_params.get("status"):
            jobs = jobs.filter(status=request.query_params["status"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response([job_data(j, request) for j in page])

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is not None:
            text = upload.read().decode("utf-8", errors="replace")
        elif isinstance(request.data, dict):
            text = request.data.get("yaml")
        else:
            text = None
        if not isinstance(text, str) or not text.strip():
            raise ValidationError({"yaml": ["Send the pipeline YAML as {\"yaml\": \"...\"} or upload it as file."]})
        inputs = request.data.get("inputs") if isinstance(request.data, dict) else None
        if inputs is not None and not isinstance(inputs, dict):
            raise ValidationError({"inputs": ["A mapping of pipeline input name to value."]})
        try:
            job = services.submit_pipeline(request.workspace, request.user, text, inputs or {})
        except PipelineSpecError as exc:
            raise _bad_spec(exc)
        return Response({"id": job.pk, "status": job.status, "url": request.build_absolute_uri(
            f"/pipelines/jobs/{job.pk}/")}, status=status.HTTP_201_CREATED)


class PipelineJobDetailView(WorkspaceScopedMixin, APIView):
    """One pipeline job and each step's status, times, error and outputs."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(job_data(_job(request, pk), request))


class PipelineJobCancelView(WorkspaceScopedMixin, APIView):
    """Cancel a pipeline job: unfinished steps are canceled and a running AutoML run stops."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        job = services.cancel_pipeline(_job(request, pk), request.user)
        return Response(job_data(job, request))


class PipelineJobRerunView(WorkspaceScopedMixin, APIView):
    """Re-run a failed job from its failed step: completed steps' outputs are reused."""

    @extend_schema(request=None, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        try:
            job = services.rerun_pipeline(_job(request, pk), request.user)
        except services.StepError as exc:
            raise ValidationError({"status": [str(exc)]})
        except PipelineSpecError as exc:
            raise _bad_spec(exc)
        return Response({"id": job.pk, "status": job.status}, status=status.HTTP_201_CREATED)


# --- Schedules ---------------------------------------------------------------------------------------------


def schedule_data(schedule, request) -> dict:
    """The JSON form of a pipeline schedule."""
    from studio.pipelines.schedules import describe, next_due

    due = None if schedule.paused else next_due(schedule, schedule.last_fired_at or schedule.created_at)
    return {"id": schedule.pk, "name": schedule.name, "cron": schedule.cron or None,
            "every_minutes": schedule.every_minutes, "recurrence": schedule.recurrence or None,
            "when": describe(schedule), "enabled": not schedule.paused, "inputs": schedule.inputs,
            "next_run_at": due, "last_fired_at": schedule.last_fired_at, "last_job": schedule.last_job_id,
            "last_error": schedule.last_error, "yaml": schedule.yaml, "created_at": schedule.created_at,
            "created_by": schedule.created_by.username if schedule.created_by else None,
            "jobs": list(PipelineJob.objects.filter(workspace=schedule.workspace,
                                                    trigger__startswith=f"schedule {schedule.name!r} at ")
                         .values_list("pk", flat=True)[:20])}


def _schedule(request, pk):
    from studio.pipelines.models import PipelineSchedule

    schedule = PipelineSchedule.objects.filter(workspace=request.workspace, pk=pk).select_related("created_by").first()
    if schedule is None:
        raise Http404(f"No pipeline schedule {pk} in this workspace.")
    return schedule


class PipelineScheduleListView(WorkspaceScopedMixin, APIView):
    """List the workspace's pipeline schedules, or create one (editor role). The body is either
    ``{"name", "yaml" (the pipeline), "cron" | "every_minutes" | "recurrence", "inputs"}`` or
    ``{"schedule_yaml": "<Azure ML schedule YAML>", "job_yaml": "<pipeline YAML>"}`` (``job_yaml`` when
    the schedule's ``create_job`` names a file)."""

    @extend_schema(operation_id="pipeline_schedules_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from studio.pipelines.models import PipelineSchedule

        items = PipelineSchedule.objects.filter(workspace=request.workspace).select_related("created_by")
        return Response({"count": items.count(), "results": [schedule_data(s, request) for s in items]})

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        from studio.pipelines import schedules

        data = request.data if isinstance(request.data, dict) else {}
        body = {k: (v[0] if isinstance(v, list) and len(v) == 1 and hasattr(request.data, "getlist") else v)
                for k, v in data.items()}
        try:
            if body.get("schedule_yaml") is not None:
                if not isinstance(body["schedule_yaml"], str):
                    raise schedules.ScheduleError({"schedule_yaml": "the schedule YAML as a string"})
                job_yaml = body.get("job_yaml")
                if job_yaml is not None and not isinstance(job_yaml, str):
                    raise schedules.ScheduleError({"job_yaml": "the pipeline YAML as a string"})
                schedule = schedules.schedule_from_yaml(request.workspace, request.user, body["schedule_yaml"],
                                                        job_yaml)
            else:
                errors = {}
                for key, kind in (("name", str), ("yaml", str), ("cron", str), ("inputs", dict), ("recurrence", dict)):
                    if body.get(key) is not None and not isinstance(body[key], kind):
                        errors[key] = f"must be {'a string' if kind is str else 'an object'}"
                every = body.get("every_minutes")
                if isinstance(every, str) and every.strip().isdigit():
                    every = int(every)
                if every is not None and (not isinstance(every, int) or isinstance(every, bool)):
                    errors["every_minutes"] = "a whole number of minutes, at least 1"
                if not body.get("yaml"):
                    errors.setdefault("yaml", "the pipeline YAML to run (or send schedule_yaml, an Azure ML "
                                              "schedule file)")
                if errors:
                    raise schedules.ScheduleError(errors)
                schedule = schedules.create_schedule(
                    request.workspace, request.user, name=body.get("name") or "", text=body["yaml"],
                    cron=body.get("cron") or "", every_minutes=every, inputs=body.get("inputs"),
                    recurrence=body.get("recurrence"))
        except schedules.ScheduleError as exc:
            raise ValidationError({field: [message] for field, message in exc.errors.items()})
        return Response(schedule_data(schedule, request), status=status.HTTP_201_CREATED)


class PipelineScheduleDetailView(WorkspaceScopedMixin, APIView):
    """One schedule with its next firing and the jobs it started; DELETE removes it (its jobs stay)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(schedule_data(_schedule(request, pk), request))

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        _schedule(request, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PipelineScheduleEnableView(WorkspaceScopedMixin, APIView):
    """Enable (``enable/``) or disable (``disable/``) a schedule, as ``az ml schedule enable|disable`` does;
    an enabled schedule counts from now and does not catch up on firings missed while it was disabled."""

    enable = True

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        from studio.pipelines.schedules import set_paused

        return Response(schedule_data(set_paused(_schedule(request, pk), not self.enable), request))


class PipelineStepEndpointKeyView(WorkspaceScopedMixin, APIView):
    """The scoring key of the endpoint a deploy step created, answered once (editor role; it is POST because
    reading it erases it). Afterwards only rotating the key on the endpoint gives a new one."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk, step):
        key, endpoint = services.take_endpoint_key(_job(request, pk), step)
        if key is None:
            raise ValidationError({"step": [f"step {step!r} of job {pk} has no endpoint key to show: only a deploy "
                                            "step that created an endpoint has one, and it is shown once; rotate "
                                            "the key on the endpoint page for a new one"]})
        return Response({"endpoint": endpoint.name, "endpoint_id": endpoint.pk, "key": key,
                         "scoring_url": request.build_absolute_uri(f"/api/v1/endpoints/{endpoint.name}/score/")})
