"""Shared pieces of the REST API: workspace resolution and role checks for every API view."""
from django.http import Http404
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


def object_workspace_check(request, workspace: Workspace, role: str | None = None) -> None:
    """Raise 404 for outsiders and 403 for a role too low on an object's own workspace."""
    membership = Membership.objects.filter(workspace=workspace, user=request.user).first()
    if membership is None:
        raise Http404
    needed = role or role_for_method(request.method)
    if ROLE_RANK[membership.role] < ROLE_RANK[needed]:
        raise PermissionDenied(WorkspacePermission.message)


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
    return drf_handler(exc, context)
