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
            "run": step.run_id, "log": step.log}


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
