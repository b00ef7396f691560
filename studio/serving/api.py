"""REST API of the serving app: create endpoints from registered versions, manage traffic and keys, and the
scoring route itself, which authenticates with the endpoint's own Bearer key instead of a user."""
import json

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.accounts import throttle
from studio.api import WorkspaceScopedMixin
from studio.registry.models import RegisteredModel
from studio.registry.services import RegistryError, resolve_version
from studio.serving import runtime, services
from studio.serving.models import Endpoint


def endpoint_data(request, endpoint: Endpoint, key: str | None = None) -> dict:
    data = {
        "name": endpoint.name, "description": endpoint.description,
        "scoring_url": request.build_absolute_uri(endpoint.scoring_path()),
        "key_prefix": endpoint.key_prefix, "key_rotated_at": endpoint.key_rotated_at.isoformat(),
        "deployments": [{"name": d.name, "model": d.model_version.model.name, "version": d.model_version.version,
                         "traffic_percent": d.traffic_percent}
                        for d in endpoint.deployments.select_related("model_version__model").order_by("name")],
        "created_at": endpoint.created_at.isoformat(),
        "url": request.build_absolute_uri(endpoint.get_absolute_url()),
    }
    if key is not None:
        data["key"] = key
    return data


def _error(exc) -> Response:
    field = getattr(exc, "field", None)
    return Response({field: [str(exc)]} if field else {"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


def _version(request, model_name: str, ref):
    model = RegisteredModel.objects.filter(workspace=request.workspace, name=model_name).first()
    if model is None:
        raise RegistryError(f"No registered model named {model_name!r} in this workspace; see /api/v1/models/.",
                            "model")
    return resolve_version(model, ref)


class CreateEndpointSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="3-32 lowercase letters, digits, hyphens; unique in the studio")
    model = serializers.CharField(max_length=100, help_text="registered model name")
    version = serializers.CharField(max_length=40, help_text="version number, alias or latest")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class EndpointListView(WorkspaceScopedMixin, APIView):
    """``GET`` the workspace's endpoints; ``POST`` deploys a model version to a new endpoint and returns its
    scoring URL and key (shown only this once)."""

    @extend_schema(operation_id="endpoint_list_get", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        endpoints = self.scope(Endpoint.objects.all())
        return Response({"count": endpoints.count(), "results": [endpoint_data(request, e) for e in endpoints]})

    @extend_schema(request=CreateEndpointSerializer, operation_id="endpoint_list_post", responses=OpenApiTypes.OBJECT)
    def post(self, request):
        data = CreateEndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = _version(request, data.validated_data["model"], data.validated_data["version"])
            endpoint, key = services.create_endpoint(workspace=request.workspace, user=request.user,
                                                     name=data.validated_data["name"], model_version=version,
                                                     description=data.validated_data["description"])
        except (RegistryError, services.ServingError) as exc:
            return _error(exc)
        return Response(endpoint_data(request, endpoint, key), status=status.HTTP_201_CREATED)


class EndpointDetailView(WorkspaceScopedMixin, APIView):
    """``GET`` one endpoint of the workspace by name; ``DELETE`` removes it."""

    @extend_schema(operation_id="endpoint_detail_get", responses=OpenApiTypes.OBJECT)
    def get(self, request, name):
        return Response(endpoint_data(request, get_object_or_404(self.scope(Endpoint.objects.all()), name=name)))

    @extend_schema(operation_id="endpoint_detail_delete", responses={204: None})
    def delete(self, request, name):
        services.delete_endpoint(get_object_or_404(self.scope(Endpoint.objects.all()), name=name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrafficSerializer(serializers.Serializer):
    traffic = serializers.DictField(child=serializers.JSONField(), help_text='{"deployment": percent}, summing to 100')


class EndpointTrafficView(WorkspaceScopedMixin, APIView):
    """``POST {"traffic": {"a": 90, "b": 10}}`` sets the split (whole percentages summing to 100) at once."""

    @extend_schema(request=TrafficSerializer, operation_id="endpoint_traffic_post", responses=OpenApiTypes.OBJECT)
    def post(self, request, name):
        endpoint = get_object_or_404(self.scope(Endpoint.objects.all()), name=name)
        data = TrafficSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            traffic = services.set_traffic(endpoint, data.validated_data["traffic"])
        except services.ServingError as exc:
            return _error(exc)
        return Response({"name": endpoint.name, "traffic": traffic})


class AddDeploymentSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    traffic_percent = serializers.IntegerField(required=False, default=0, min_value=0, max_value=100)


class EndpointDeploymentsView(WorkspaceScopedMixin, APIView):
    """``POST`` adds a deployment of another version (0 % traffic unless ``traffic_percent`` is given)."""

    @extend_schema(request=AddDeploymentSerializer, operation_id="endpoint_deployments_post", responses=OpenApiTypes.OBJECT)
    def post(self, request, name):
        endpoint = get_object_or_404(self.scope(Endpoint.objects.all()), name=name)
        data = AddDeploymentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            version = _version(request, data.validated_data["model"], data.validated_data["version"])
            services.add_deployment(endpoint, version, user=request.user, name=data.validated_data["name"],
                                    traffic_percent=data.validated_data["traffic_percent"])
        except (RegistryError, services.ServingError) as exc:
            return _error(exc)
        return Response(endpoint_data(request, endpoint), status=status.HTTP_201_CREATED)


class EndpointKeyView(WorkspaceScopedMixin, APIView):
    """``POST`` rotates the endpoint's key: the old key stops working and the new one is returned once."""

    @extend_schema(operation_id="endpoint_key_post", responses=OpenApiTypes.OBJECT, request=None)
    def post(self, request, name):
        endpoint = get_object_or_404(self.scope(Endpoint.objects.all()), name=name)
        key = services.rotate_key(endpoint)
        return Response(endpoint_data(request, endpoint, key))


@csrf_exempt
def score(request, name):
    """``POST /api/v1/endpoints/<name>/score/`` with ``Authorization: Bearer <key>`` and
    ``{"data": [{"column": value}, ...]}``. Optional headers: ``X-Request-ID`` (routes the request
    deterministically in a traffic split) and ``X-Deployment`` (ask for one deployment by name)."""
    if request.method != "POST":
        response = HttpResponse(json.dumps({"detail": "Send a POST with a JSON body {\"data\": [...]}."}),
                                status=405, content_type="application/json")
        response["Allow"] = "POST"
        return response
    # Read the stream directly: DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) is meant for forms, and a 10,000-row
    # request is larger; scoring has its own limit.
    limit = services.max_body_bytes()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return HttpResponse(json.dumps({"detail": f"The body is {length:,} bytes, above the {limit:,}-byte limit; split "
                                                  "the rows into several requests or use batch scoring."}),
                            status=413, content_type="application/json")
    address = throttle.client_address(request)
    if throttle.is_blocked("scoring-key", address, settings.STUDIO_AUTH_FAILURES_PER_IP):
        return HttpResponse(json.dumps({"detail": "Too many requests with a missing or invalid endpoint key from your "
                                                  f"address; try again in {throttle.retry_after_minutes()} minutes."}),
                            status=429, content_type="application/json",
                            headers={"Retry-After": str(settings.STUDIO_THROTTLE_WINDOW_SECONDS)})
    body = request.read(limit + 1)
    with runtime.collector_paused():  # from the parsed rows to the rendered predictions
        outcome = services.score_with_key(name, request.headers.get("Authorization", ""), body,
                                          request_id=request.headers.get("X-Request-ID", "")[:64],
                                          deployment_name=request.headers.get("X-Deployment", ""))
        content = orjson.dumps(outcome.body)
    if outcome.status == 401:
        throttle.record_failure("scoring-key", address)
    response = HttpResponse(content, status=outcome.status, content_type="application/json")
    for header, value in outcome.headers.items():
        response[header] = value
    return response
