"""Template context for the navigation: the workspace switcher and the user's role."""
from studio.accounts.models import Membership


def workspaces(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "workspace", None) is None:
        return {}
    memberships = list(Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name"))
    current = request.workspace
    role = next((m.role for m in memberships if m.workspace_id == current.pk), None)
    return {"memberships": memberships, "current_workspace": current, "current_role": role,
            "can_edit": role in ("editor", "owner")}
