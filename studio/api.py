"""Shared pieces of the REST API: workspace resolution and role checks for every API view."""
from rest_framework import permissions
from rest_framework.exceptions import NotFound, PermissionDenied

from studio.accounts.access import role_for_method
from studio.accounts.models import ROLE_RANK, Membership, Workspace
from studio.accounts.services import current_workspace_for


def resolve_workspace(request) -> tuple[Workspace, Membership]:
    """The workspace an API request acts in: ``?workspace=<id>`` if given, else the user's current one.

    A workspace the user does not belong to is reported as not found, never as forbidden.
    """
    raw = request.query_params.get("workspace")
    if raw in (None, ""):
        workspace = current_workspace_for(request.user)
    else:
        try:
            workspace_id = int(raw)
        except ValueError:
            raise NotFound(f"workspace={raw!r} is not a workspace id; use the numeric id from /api/v1/workspaces/.")
        workspace = Workspace.objects.filter(pk=workspace_id, memberships__user=request.user).first()
        if workspace is None:
            raise NotFound(f"No workspace {workspace_id} among yours; list yours at /api/v1/workspaces/.")
    membership = Membership.objects.get(workspace=workspace, user=request.user)
    return workspace, membership


class WorkspacePermission(permissions.BasePermission):
    """Signed in, a member of the request's workspace, and allowed the method's role there.

    Views set ``request.workspace``; object-level checks use the object's own workspace, so an object from
    another workspace is a 404 and a viewer who tries to change something gets a 403.
    """

    message = "Your role in this workspace does not allow this change; ask an owner for the editor role."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        workspace, membership = resolve_workspace(request)
        request.workspace = workspace
        request.membership = membership
        needed = getattr(view, "required_role", None) or role_for_method(request.method)
        if ROLE_RANK[membership.role] < ROLE_RANK[needed]:
            raise PermissionDenied(self.message)
        return True


class WorkspaceScopedMixin:
    """For DRF views over one model with a ``workspace`` foreign key (or ``workspace_field`` path)."""

    permission_classes = [WorkspacePermission]
    workspace_field = "workspace"

    def scope(self, queryset):
        return queryset.filter(**{self.workspace_field: self.request.workspace})


def exception_handler(exc, context):
    """DRF's handler, plus a JSON 503 for a database that does not answer (a restart, a full connection
    pool): an API client gets something it can retry, never Django's HTML 500 page."""
    from django.db import InterfaceError, OperationalError
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as drf_handler

    if isinstance(exc, (OperationalError, InterfaceError)):
        import logging

        logging.getLogger(__name__).error("database unavailable during %s: %s", context["request"].path, exc)
        return Response({"detail": "The database is not answering right now; nothing was saved. Try again in a "
                                   "minute."}, status=503, headers={"Retry-After": "30"})
    if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):  # psycopg refuses text holding \u0000
        return Response({"detail": "A value contains the NUL character (\\u0000), which text here may not hold; "
                                   "remove it."}, status=400)
    return drf_handler(exc, context)


# --- Error responses in the OpenAPI schema -------------------------------------------------------------------

_DETAIL = {"type": "object", "required": ["detail"], "additionalProperties": True,
           "properties": {"detail": {"type": "string", "description": "What went wrong and how to fix it."}}}
_INVALID = {"type": "object", "additionalProperties": True,
            "description": "Either `detail`, or the invalid fields, each with its message(s); `errors` maps field "
                           "paths (`limits.max_trials`) to messages."}
ERROR_RESPONSES = {
    "400": ("The request is invalid: the body names each problem and its fix.", "ValidationError"),
    "401": ("No valid credentials: send a session cookie or `Authorization: Token <key>`.", "Error"),
    "403": ("Your role in the workspace does not allow this.", "Error"),
    "404": ("No such object in your workspaces (objects of other workspaces are not found either).", "Error"),
    "429": ("Too many failed secrets from your address or for your account; see `Retry-After`.", "Error"),
    "503": ("The database or the broker is not answering; try again in a minute.", "Error"),
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every API operation documents the error answers any view can give
    (400, 401, 403, 404, 429, 503) with their bodies, so clients and schemathesis know what to expect."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", _DETAIL)
    schemas.setdefault("ValidationError", _INVALID)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            if operation.get("security") == [{"endpointKey": []}]:
                continue  # the scoring route documents its own errors (studio/serving/openapi.py)
            for code, (description, schema) in ERROR_RESPONSES.items():
                responses.setdefault(code, {"description": description, "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}})
    return result
