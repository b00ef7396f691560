"""Request-wide account behaviour: first-run setup and the current workspace."""
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from studio.accounts.models import User
from studio.accounts.services import current_workspace_for

_OPEN_PREFIXES = ("/static/", "/healthz", "/api/", "/setup/")


class FirstRunMiddleware:
    """Until the first account exists, every page leads to the page that creates the first admin.

    Only anonymous requests ask the database: a signed-in user is proof enough that an account exists.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (not request.user.is_authenticated and not request.path.startswith(_OPEN_PREFIXES)
                and not User.objects.exists()):
            return redirect(reverse("accounts:setup"))
        return self.get_response(request)


class WorkspaceMiddleware:
    """Sets ``request.workspace`` (lazily) for signed-in browser requests."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            request.workspace = SimpleLazyObject(lambda: current_workspace_for(request.user))
        else:
            request.workspace = None
        return self.get_response(request)
