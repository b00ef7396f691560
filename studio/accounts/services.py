"""Workflows over users, workspaces and memberships."""
from django.db import transaction

from studio.accounts.models import Membership, Role, User, Workspace


@transaction.atomic
def create_user(*, username: str, password: str, email: str = "", is_staff: bool = False) -> User:
    """Create a user together with their personal workspace, which becomes their current one."""
    user = User.objects.create_user(username=username, password=password, email=email)
    user.is_staff = is_staff
    user.is_superuser = is_staff
    user.save(update_fields=["is_staff", "is_superuser"])
    ensure_personal_workspace(user)
    return user


def ensure_personal_workspace(user: User) -> Workspace:
    """Give a user who belongs to no workspace a personal one (users made by ``createsuperuser`` too)."""
    membership = user.memberships.select_related("workspace").order_by("id").first()
    if membership:
        return membership.workspace
    with transaction.atomic():
        workspace = Workspace.objects.create(name=f"{user.username}'s workspace", is_personal=True, created_by=user)
        Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
        user.current_workspace = workspace
        user.save(update_fields=["current_workspace"])
    return workspace


def current_workspace_for(user: User) -> Workspace:
    """The workspace the user works in: their chosen one if they are still a member, else their first."""
    workspace = user.current_workspace
    if workspace is not None and Membership.objects.filter(workspace=workspace, user=user).exists():
        return workspace
    workspace = ensure_personal_workspace(user)
    if user.current_workspace_id != workspace.id:
        user.current_workspace = workspace
        user.save(update_fields=["current_workspace"])
    return workspace


@transaction.atomic
def create_workspace(*, name: str, owner: User, description: str = "") -> Workspace:
    """Create a shared workspace owned by ``owner`` and switch them to it."""
    workspace = Workspace.objects.create(name=name, description=description, created_by=owner)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    switch_workspace(owner, workspace)
    return workspace


def switch_workspace(user: User, workspace: Workspace) -> None:
    """Make ``workspace`` the user's current one; the caller has checked membership."""
    user.current_workspace = workspace
    user.save(update_fields=["current_workspace"])


class LastOwnerError(ValueError):
    """The change would leave a workspace without an owner."""


@transaction.atomic
def set_member_role(workspace: Workspace, user: User, role: str) -> Membership:
    """Add ``user`` to ``workspace`` with ``role``, or change their role; a workspace keeps one owner."""
    membership, created = Membership.objects.select_for_update().get_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        _refuse_losing_last_owner(workspace, membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(workspace: Workspace, user: User) -> None:
    """Take ``user`` out of ``workspace``; the last owner cannot be removed."""
    membership = Membership.objects.select_for_update().get(workspace=workspace, user=user)
    _refuse_losing_last_owner(workspace, membership)
    membership.delete()


def _refuse_losing_last_owner(workspace: Workspace, membership: Membership) -> None:
    if membership.role != Role.OWNER:
        return
    owners = Membership.objects.filter(workspace=workspace, role=Role.OWNER).count()
    if owners <= 1:
        raise LastOwnerError(
            f"{membership.user.username} is the only owner of {workspace.name}; make someone else an owner first."
        )
