from django.contrib.auth import views as auth_views
from django.urls import path

from studio.accounts import views

app_name = "accounts"

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("accounts/login/", views.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/users/", views.user_list, name="users"),
    path("accounts/users/<int:user_id>/toggle/", views.user_toggle_active, name="user_toggle"),
    path("accounts/users/<int:user_id>/password/", views.user_set_password, name="user_password"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/tokens/", views.token_settings, name="tokens"),
    path("workspaces/", views.workspace_list, name="workspaces"),
    path("workspaces/<int:workspace_id>/switch/", views.workspace_switch, name="switch"),
    path("workspaces/<int:workspace_id>/members/", views.workspace_members, name="members"),
]
