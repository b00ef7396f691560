"""REST API for experiments: submit a job, follow it, cancel it, read its trials and download models.

The API's "experiment" is a run (one submitted job); ``name`` groups runs under an experiment.
"""
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from studio.accounts.models import Role
from studio.api import WorkspaceScopedMixin
from studio.experiments import services
from studio.experiments.models import Run, Trial
from studio.experiments.schema import ExperimentSubmissionSerializer


def run_data(run: Run, request) -> dict:
    """The JSON form of a run, as ``GET /api/v1/experiments/{id}/`` returns it."""
    best = run.best_trial
    version = run.dataset_version
    return {
        "id": run.pk, "name": run.experiment.name, "experiment": {"id": run.experiment_id, "name": run.experiment.name},
        "number": run.number, "status": run.status, "task": run.task, "primary_metric": run.primary_metric,
        "target_column": run.config.get("target_column_name"),
        "dataset": ({"id": version.dataset_id, "name": version.dataset.name, "version": version.version}
                    if version else None),
        "progress": {"trials_done": run.trials_done, "max_trials": run.max_trials,
                     "elapsed_seconds": round(run.duration_seconds, 1) if run.duration_seconds is not None else None,
                     "timeout_seconds": run.timeout_seconds, "percent": run.progress_percent},
        "best_trial": ({"id": best.pk, "number": best.number, "algorithm": best.algorithm,
                        "pipeline_name": best.pipeline_name, "score": best.score} if best else None),
        "guardrails": run.guardrails, "featurization_summary": run.featurization_summary,
        "validation_method": run.validation_method, "error": run.error, "stop_reason": run.stop_reason,
        "cancel_requested": run.cancel_requested, "config": run.config,
        "created_by": run.created_by.username if run.created_by else None, "created_at": run.created_at,
        "started_at": run.started_at, "finished_at": run.finished_at,
        "url": request.build_absolute_uri(f"/experiments/runs/{run.pk}/"),
    }


def trial_data(trial: Trial, request, detail: bool = False) -> dict:
    """The JSON form of a trial; ``detail`` adds chart data and feature importance."""
    data = {
        "id": trial.pk, "experiment": trial.run_id, "number": trial.number, "algorithm": trial.algorithm,
        "pipeline_name": trial.pipeline_name, "featurization": trial.featurization, "status": trial.status,
        "score": trial.score, "metrics": trial.metrics, "test_metrics": trial.test_metrics,
        "hyperparameters": trial.hyperparameters, "duration_seconds": trial.duration_seconds,
        "is_ensemble": trial.is_ensemble, "error": trial.error, "sha256": trial.sha256 or None,
        "started_at": trial.started_at, "finished_at": trial.finished_at,
        "model_url": request.build_absolute_uri(f"/api/v1/trials/{trial.pk}/model") if trial.has_model else None,
    }
    if detail:
        data.update(charts=trial.charts, test_charts=trial.test_charts, feature_importance=trial.feature_importance,
                    onnx_url=request.build_absolute_uri(f"/api/v1/trials/{trial.pk}/onnx")
                    if services.onnx_available(trial) else None)
    return data


def _runs(request):
    return Run.objects.filter(workspace=request.workspace).select_related(
        "experiment", "dataset_version__dataset", "best_trial", "created_by")


def _run(request, pk) -> Run:
    run = _runs(request).filter(pk=pk).first()
    if run is None:
        raise Http404(f"No experiment {pk} in this workspace.")
    return run


def _trial(request, pk) -> Trial:
    trial = Trial.objects.filter(run__workspace=request.workspace, pk=pk).select_related(
        "run__experiment", "run__dataset_version").first()
    if trial is None:
        raise Http404(f"No trial {pk} in this workspace.")
    return trial


class ExperimentListView(WorkspaceScopedMixin, APIView):
    """List the workspace's experiments (runs), newest first, or submit a new one."""

    @extend_schema(operation_id="experiments_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        runs = _runs(request)
        for key in ("status", "task"):
            if request.query_params.get(key):
                runs = runs.filter(**{key: request.query_params[key]})
        if request.query_params.get("name"):
            runs = runs.filter(experiment__name=request.query_params["name"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response([run_data(r, request) for r in page])

    @extend_schema(request=ExperimentSubmissionSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object with name, dataset, task, target_column."]})
        try:
            # A form-encoded body is a QueryDict: .dict() gives its single values, as a JSON body has them.
            data = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
            run = services.submit_run(request.workspace, request.user, data)
        except services.SubmissionError as exc:
            raise ValidationError({field: [message] for field, message in exc.errors.items()})
        run = _run(request, run.pk)
        return Response(run_data(run, request), status=status.HTTP_201_CREATED)


class ExperimentDetailView(WorkspaceScopedMixin, APIView):
    """One experiment (run): status, progress, best trial, guardrails and featurization summary."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(run_data(_run(request, pk), request))


class ExperimentTrialsView(WorkspaceScopedMixin, APIView):
    """The trials of one experiment in the order they were numbered."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        run = _run(request, pk)
        trials = run.trials.defer("charts", "test_charts", "feature_importance").select_related("run")
        return Response([trial_data(t, request) for t in trials])


class ExperimentCancelView(WorkspaceScopedMixin, APIView):
    """Stop an experiment; finished trials are kept. Returns the experiment."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        run = services.cancel_run(_run(request, pk), request.user)
        return Response(run_data(_run(request, run.pk), request))


class ExperimentRetryView(WorkspaceScopedMixin, APIView):
    """Submit a failed or canceled experiment again, unchanged; returns the new experiment run (201)."""

    @extend_schema(request=None, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        try:
            run = services.retry_run(_run(request, pk), request.user)
        except services.SubmissionError as exc:
            return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(run_data(run, request), status=status.HTTP_201_CREATED)


class ExperimentLogView(WorkspaceScopedMixin, APIView):
    """The experiment's log lines."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        run = _run(request, pk)
        return Response([{"time": line.created_at, "level": line.level, "message": line.message}
                         for line in run.log_lines.all()])


class TrialDetailView(WorkspaceScopedMixin, APIView):
    """One trial with every metric, chart data and feature importance."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(trial_data(_trial(request, pk), request, detail=True))


class TrialModelView(WorkspaceScopedMixin, APIView):
    """Download the trial's fitted pipeline as a joblib ``.pkl``."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        trial = _trial(request, pk)
        try:
            path = services.trial_model_path(trial)
        except services.ArtifactUnavailable as exc:
            raise Http404(str(exc))
        return FileResponse(open(path, "rb"), as_attachment=True, filename=model_filename(trial, "pkl"))


class TrialOnnxView(WorkspaceScopedMixin, APIView):
    """Download the trial's model as ONNX (runs trained with ONNX-compatible models)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        trial = _trial(request, pk)
        try:
            path = services.trial_onnx_path(trial)
        except services.ArtifactUnavailable as exc:
            raise Http404(str(exc))
        return FileResponse(open(path, "rb"), as_attachment=True, filename=model_filename(trial, "onnx"))


class TrialImportanceView(WorkspaceScopedMixin, APIView):
    """Queue the computation of feature importance for a trial; returns the job."""

    required_role = Role.EDITOR

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        trial = _trial(request, pk)
        try:
            job = services.request_feature_importance(trial, request.user)
        except services.ArtifactUnavailable as exc:
            raise ValidationError({"trial": [str(exc)]})
        return Response({"id": job.pk, "status": job.status, "trial": trial.pk}, status=status.HTTP_202_ACCEPTED)


def model_filename(trial: Trial, extension: str) -> str:
    """A download name people can tell apart: experiment, run and trial number."""
    from django.utils.text import slugify

    return f"{slugify(trial.run.experiment.name) or 'experiment'}-run{trial.run.number}-trial{trial.number}.{extension}"
