"""Pages for signing in, first-run setup, user management, workspaces and API tokens."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from studio.accounts import services, throttle
from studio.accounts.access import require_role
from studio.accounts.forms import MemberForm, NewUserForm, SetupForm, WorkspaceForm
from studio.accounts.models import Membership, Role, User, Workspace


def setup(request):
    """Create the first administrator; only reachable while no account exists."""
    if User.objects.exists():
        raise Http404("Setup is done.")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if User.objects.select_for_update().exists():
                raise Http404("Setup is done.")
            user = services.create_user(username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                                        password=form.cleaned_data["password1"], is_staff=True)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if form.cleaned_data["load_samples"]:
            from studio.datasets.services import load_samples

            samples = load_samples(user.current_workspace, user)
            messages.success(request, f"Welcome, {user.username}. {len(samples)} sample datasets are being profiled "
                                      "in your workspace: pick one and start an experiment.")
        else:
            messages.success(request, f"Welcome, {user.username}. Your workspace is ready: start by uploading a "
                                      "dataset.")
        return redirect("home")
    return render(request, "accounts/setup.html", {"form": form})


@staff_member_required(login_url="accounts:login")
def user_list(request):
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.create_user(username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                                    password=form.cleaned_data["password1"], is_staff=form.cleaned_data["is_staff"])
        messages.success(request, f"Created {user.username}, with a personal workspace.")
        return redirect("accounts:users")
    users = User.objects.order_by("username").prefetch_related("memberships")
    return render(request, "accounts/users.html", {"users": users, "form": form})


@staff_member_required(login_url="accounts:login")
@require_POST
def user_toggle_active(request, user_id):
    user = get_object_or_404(User, pk=user_id)
    if user == request.user:
        messages.error(request, "You cannot deactivate your own account.")
    else:
        user.is_active = not user.is_active
        user.save(update_fields=["is_active"])
        if not user.is_active:
            Token.objects.filter(user=user).delete()
        messages.success(request, f"{user.username} is now {'active' if user.is_active else 'deactivated'}.")
    return redirect("accounts:users")


@login_required
def workspace_list(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = services.create_workspace(name=form.cleaned_data["name"], owner=request.user,
                                              description=form.cleaned_data["description"])
        messages.success(request, f"Created workspace {workspace.name} and switched to it.")
        return redirect("home")
    memberships = Membership.objects.filter(user=request.user).select_related("workspace")
    return render(request, "accounts/workspaces.html", {"form": form, "my_memberships": memberships})


@login_required
@require_POST
def workspace_switch(request, workspace_id):
    workspace = get_object_or_404(Workspace, pk=workspace_id, memberships__user=request.user)
    services.switch_workspace(request.user, workspace)
    messages.info(request, f"Now working in {workspace.name}.")
    next_url = request.POST.get("next") or "/"
    return redirect(next_url if next_url.startswith("/") and not next_url.startswith("//") else "/")


@login_required
def workspace_members(request, workspace_id):
    workspace = get_object_or_404(Workspace, pk=workspace_id)
    membership = require_role(request.user, workspace, Role.VIEWER)
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        require_role(request.user, workspace, Role.OWNER)
        action = request.POST.get("action", "add")
        try:
            if action == "remove":
                target = get_object_or_404(User, pk=request.POST.get("user_id"))
                services.remove_member(workspace, target)
                messages.success(request, f"Removed {target.username} from {workspace.name}.")
                return redirect("accounts:members", workspace_id=workspace.id)
            if form.is_valid():
                services.set_member_role(workspace, form.cleaned_data["user"], form.cleaned_data["role"])
                messages.success(request, f"{form.cleaned_data['username']} is now {form.cleaned_data['role']} "
                                          f"in {workspace.name}.")
                return redirect("accounts:members", workspace_id=workspace.id)
        except services.LastOwnerError as error:
            messages.error(request, str(error))
            return redirect("accounts:members", workspace_id=workspace.id)
    members = workspace.memberships.select_related("user").order_by("user__username")
    return render(request, "accounts/members.html", {
        "workspace": workspace, "members": members, "form": form,
        "is_owner": membership.role == Role.OWNER, "roles": Role.choices,
    })


@login_required
def token_settings(request):
    """Users create, replace and revoke their own API token; the key is shown once, right after creation."""
    new_key = None
    if request.method == "POST":
        action = request.POST.get("action")
        Token.objects.filter(user=request.user).delete()
        if action == "create":
            new_key = Token.objects.create(user=request.user).key
            messages.success(request, "Created a new API token. Copy it now: it will not be shown again.")
        else:
            messages.success(request, "Revoked your API token; scripts using it are now refused.")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "accounts/tokens.html", {"token": token, "new_key": new_key})


class ThrottledLoginView(auth_views.LoginView):
    """Sign-in with failures counted per account and per client address: past
    ``STUDIO_LOGIN_FAILURES_PER_USER`` (or ``_PER_IP``) within the window every attempt is refused with a
    429, the right password included, so guessing a password gains nothing."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip().lower()
        address = throttle.client_address(request)
        if throttle.is_blocked("login-user", username, settings.STUDIO_LOGIN_FAILURES_PER_USER) or \
                throttle.is_blocked("login-ip", address, settings.STUDIO_LOGIN_FAILURES_PER_IP):
            form = self.get_form()
            response = self.render_to_response(self.get_context_data(form=form, throttled=True,
                                                                     retry_minutes=throttle.retry_after_minutes()))
            response.status_code = 429
            response["Retry-After"] = str(settings.STUDIO_THROTTLE_WINDOW_SECONDS)
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            throttle.reset("login-user", username)
        else:
            throttle.record_failure("login-user", username)
            throttle.record_failure("login-ip", address)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change your own password (the old one first); other sessions of the account are signed out."""

    template_name = "accounts/password_change.html"

    def get_success_url(self):
        return reverse("home")

    def form_valid(self, form):
        messages.success(self.request, "Your password is changed.")
        return super().form_valid(form)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        for field in form.fields.values():
            field.widget.attrs["class"] = "form-control"
        return form


@staff_member_required(login_url="accounts:login")
def user_set_password(request, user_id):
    """An administrator sets a new password for someone who forgot theirs (the studio sends no email)."""
    from django.contrib.auth.forms import SetPasswordForm

    target = get_object_or_404(User, pk=user_id)
    form = SetPasswordForm(target, request.POST or None)
    for field in form.fields.values():
        field.widget.attrs["class"] = "form-control"
    if request.method == "POST" and form.is_valid():
        form.save()
        throttle.reset("login-user", target.username.lower())
        messages.success(request, f"Set a new password for {target.username}; give it to them in person.")
        return redirect("accounts:users")
    return render(request, "accounts/user_password.html", {"form": form, "target": target})
