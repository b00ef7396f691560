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
