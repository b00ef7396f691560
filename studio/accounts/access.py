"""Who may see and change what.

Lists show the request's current workspace. A single object is found among the workspaces the user belongs
to, so an outsider gets 404 (the object's existence is not revealed) and a member whose role is too low for
the action gets 403. Each app builds its one helper per object type on ``get_for_member``.
"""
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from studio.accounts.models import ROLE_RANK, Membership, Role, Workspace

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def role_for_method(method: str) -> str:
    """Reading needs a viewer; anything that changes state needs an editor."""
    return Role.VIEWER if method in SAFE_METHODS else Role.EDITOR


def membership_in(user, workspace: Workspace) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(workspace=workspace, user=user).first()


def require_role(user, workspace: Workspace, role: str) -> Membership:
    """The user's membership of ``workspace`` if it allows ``role``: 404 for outsiders, 403 if too low."""
    membership = membership_in(user, workspace)
    if membership is None:
        raise Http404("No such workspace.")
    if ROLE_RANK[membership.role] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {role} role in {workspace.name}; you are a {membership.role}.")
    return membership


def get_for_member(user, queryset: QuerySet | type[Model], role: str = Role.VIEWER,
                   workspace_field: str = "workspace", **lookup):
    """One object from a workspace the user belongs to, with at least ``role`` there.

    ``workspace_field`` is the lookup path from the object to its workspace (e.g. ``"run__workspace"``).
    """
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    if not user.is_authenticated:
        raise Http404
    obj = queryset.filter(**{f"{workspace_field}__memberships__user": user}, **lookup).first()
    if obj is None:
        raise Http404("Not found.")
    workspace = obj
    for part in workspace_field.split("__"):
        workspace = getattr(workspace, part)
    require_role(user, workspace, role)
    return obj
