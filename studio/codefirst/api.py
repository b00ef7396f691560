"""Token-authenticated downloads for the command-line client: a registered version as model.pkl or an MLflow
folder, a trial as an MLflow folder."""
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.api import WorkspaceScopedMixin
from studio.codefirst import services
from studio.experiments.services import ArtifactUnavailable


def _zip(name: str, data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ModelVersionDownloadView(WorkspaceScopedMixin, APIView):
    """``?artifact=pkl`` (default): the version's model.pkl; ``?artifact=mlflow``: an MLflow model folder (zip).
    (Not ``format``: DRF reads that query parameter to choose a renderer.)"""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   parameters=[OpenApiParameter("artifact", str, enum=["pkl", "mlflow"])])
    def get(self, request, name, ref):
        from studio.registry.models import RegisteredModel
        from studio.registry.services import ArtifactIntegrityError, RegistryError, resolve_version, verified_artifact

        model = get_object_or_404(RegisteredModel.objects.filter(workspace=request.workspace), name=name)
        try:
            version = resolve_version(model, ref)
            if request.query_params.get("artifact", "pkl") == "mlflow":
                return _zip(*services.version_mlflow_zip(version))
            path = verified_artifact(version)
        except ArtifactIntegrityError as exc:  # a subclass of RegistryError: checked first
            return Response({"detail": str(exc)}, status=409)
        except RegistryError as exc:
            return Response({"detail": str(exc)}, status=404)
        return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{model.name}-v{version.version}-model.pkl")


class TrialMlflowView(WorkspaceScopedMixin, APIView):
    """A trial's model as an MLflow model folder (zip)."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        from studio.experiments.models import Trial

        trial = Trial.objects.filter(run__workspace=request.workspace, pk=pk).select_related("run").first()
        if trial is None:
            raise Http404(f"No trial {pk} in this workspace.")
        try:
            return _zip(*services.trial_mlflow_zip(trial))
        except ArtifactUnavailable as exc:
            return Response({"detail": str(exc)}, status=404)


class MLTableDatasetView(WorkspaceScopedMixin, APIView):
    """``POST`` multipart ``name`` and ``file`` (a zip of an MLTable folder): a new dataset version from the
    table the MLTable describes. Unsupported transformations are refused by name (400)."""

    @extend_schema(request={"multipart/form-data": OpenApiTypes.OBJECT}, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        from rest_framework.exceptions import ValidationError

        from studio.datasets.api import version_payload
        from studio.datasets.services import DataError

        upload, name = request.FILES.get("file"), str(request.data.get("name") or "").strip()
        if upload is None or not name:
            raise ValidationError({"file": ["Send name and file (a zip of the MLTable folder) as multipart fields."]})
        try:
            version = services.dataset_from_mltable_zip(request.workspace, request.user, name, upload.read())
        except services.MLTableError as exc:
            raise ValidationError({"file": [str(exc)]})
        except DataError as exc:
            raise ValidationError({getattr(exc, "field", None) or "file": [str(exc)]})
        return Response(version_payload(version, with_versions=True), status=201)
