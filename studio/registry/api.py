"""REST API of the registry: register trials as model versions, list models and versions, move aliases."""
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.api import WorkspaceScopedMixin
from studio.registry import services
from studio.registry.models import RegisteredModel


def version_data(request, version) -> dict:
    return {
        "name": version.model.name, "version": version.version, "description": version.description,
        "tags": version.tags, "aliases": sorted(a.name for a in version.aliases.all()),
        "trial": version.trial_id, "run": version.trial.run_id if version.trial_id else None,
        "problem_type": version.problem_type, "primary_metric": version.primary_metric,
        "primary_score": version.primary_score, "metrics": version.metrics, "pipeline_name": version.pipeline_name,
        "is_ensemble": version.is_ensemble, "sha256": version.sha256, "size_bytes": version.size_bytes,
        "input_schema": version.input_schema, "class_labels": version.class_labels,
        "created_by": version.created_by.username if version.created_by else None,
        "created_at": version.created_at.isoformat(),
        "url": request.build_absolute_uri(version.get_absolute_url()),
    }


def model_data(request, model) -> dict:
    versions = sorted(model.versions.all(), key=lambda v: v.version)
    latest = versions[-1] if versions else None
    return {
        "name": model.name, "description": model.description, "tags": model.tags,
        "latest_version": latest.version if latest else None, "versions": len(versions),
        "aliases": {a.name: a.version.version for a in model.aliases.all()},
        "created_at": model.created_at.isoformat(), "updated_at": model.updated_at.isoformat(),
        "url": request.build_absolute_uri(model.get_absolute_url()),
    }


def _error(exc: services.RegistryError) -> Response:
    return Response({exc.field or "detail": [str(exc)] if exc.field else str(exc)}, status=status.HTTP_400_BAD_REQUEST)


class RegisterSerializer(serializers.Serializer):
    trial = serializers.IntegerField(help_text="id of a completed trial (ensembles included)")
    name = serializers.CharField(max_length=100, help_text="a new model name, or an existing one for version N+1")
    description = serializers.CharField(required=False, allow_blank=True, default="", help_text="Markdown")
    tags = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list)


class ModelListView(WorkspaceScopedMixin, APIView):
    """``GET`` the workspace's registered models; ``POST`` registers a trial's model as a new version."""

    @extend_schema(responses=inline_serializer("ModelList", {"results": serializers.ListField()}), operation_id="model_list_get")
    def get(self, request):
        models = services.search_models(request.workspace, request.query_params.get("search", ""),
                                        request.query_params.get("tag", ""))
        return Response({"count": len(models), "results": [model_data(request, m) for m in models]})

    @extend_schema(request=RegisterSerializer, operation_id="model_list_post",
                   responses={201: inline_serializer("Registered", {"name": serializers.CharField(),
                                                                    "version": serializers.IntegerField()})})
    def post(self, request):
        from studio.experiments.models import Trial

        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trial = (Trial.objects.select_related("run__workspace", "run__dataset_version")
                 .filter(pk=data.validated_data["trial"], run__workspace=request.workspace).first())
        if trial is None:
            return Response({"trial": [f"No trial {data.validated_data['trial']} in this workspace; take the id from "
                                       "/api/v1/experiments/<id>/trials/."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            version = services.register_version(trial=trial, name=data.validated_data["name"], user=request.user,
                                                description=data.validated_data["description"],
                                                tags=data.validated_data["tags"])
        except services.RegistryError as exc:
            return _error(exc)
        return Response(version_data(request, version), status=status.HTTP_201_CREATED)


class ModelDetailView(WorkspaceScopedMixin, APIView):
    """One registered model by name."""

    @extend_schema(operation_id="model_detail_get", responses=OpenApiTypes.OBJECT)
    def get(self, request, name):
        model = get_object_or_404(self.scope(RegisteredModel.objects.all()), name=name)
        return Response(model_data(request, model))


class ModelVersionListView(WorkspaceScopedMixin, APIView):
    """All versions of a model, newest first."""

    @extend_schema(operation_id="model_version_list_get", responses=OpenApiTypes.OBJECT)
    def get(self, request, name):
        model = get_object_or_404(self.scope(RegisteredModel.objects.all()), name=name)
        versions = model.versions.select_related("model", "trial", "created_by").prefetch_related("aliases")
        return Response({"count": versions.count(), "results": [version_data(request, v) for v in versions]})


class ModelVersionDetailView(WorkspaceScopedMixin, APIView):
    """One version by number, alias or ``latest``."""

    @extend_schema(operation_id="model_version_detail_get", responses=OpenApiTypes.OBJECT)
    def get(self, request, name, ref):
        model = get_object_or_404(self.scope(RegisteredModel.objects.all()), name=name)
        try:
            version = services.resolve_version(model, ref)
        except services.RegistryError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        return Response(version_data(request, version))


class AliasSerializer(serializers.Serializer):
    alias = serializers.CharField(max_length=40, help_text="e.g. champion")
    version = serializers.CharField(max_length=40, help_text="a version number, another alias or latest")


class ModelAliasesView(WorkspaceScopedMixin, APIView):
    """``GET`` a model's aliases; ``POST {"alias", "version"}`` points an alias at a version (moving it)."""

    @extend_schema(operation_id="model_aliases_get", responses=OpenApiTypes.OBJECT)
    def get(self, request, name):
        model = get_object_or_404(self.scope(RegisteredModel.objects.all()), name=name)
        return Response({a.name: a.version.version for a in model.aliases.select_related("version")})

    @extend_schema(request=AliasSerializer, operation_id="model_aliases_post", responses=OpenApiTypes.OBJECT)
    def post(self, request, name):
        model = get_object_or_404(self.scope(RegisteredModel.objects.all()), name=name)
        data = AliasSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            alias = services.set_alias(model, data.validated_data["alias"], data.validated_data["version"],
                                       request.user)
        except services.RegistryError as exc:
            return _error(exc)
        return Response({"name": model.name, "alias": alias.name, "version": alias.version.version,
                         "aliases": {a.name: a.version.version for a in model.aliases.select_related("version")}})


class ModelAliasDetailView(WorkspaceScopedMixin, APIView):
    """``DELETE`` removes an alias."""

    @extend_schema(operation_id="model_alias_detail_delete", responses={204: None})
    def delete(self, request, name, alias):
        model = get_object_or_404(self.scope(RegisteredModel.objects.all()), name=name)
        try:
            services.delete_alias(model, alias)
        except services.RegistryError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
