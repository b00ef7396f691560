"""Accounts and workspaces: first-run setup, sign-in, switching, members and roles, tokens."""
import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from studio.accounts.models import Membership, Role, User, Workspace
from studio.datasets.models import Dataset

pytestmark = pytest.mark.django_db


def test_first_visit_leads_to_setup_and_creates_admin_with_workspace(client):
    assert client.get("/").url == "/setup/"
    response = client.post("/setup/", {"username": "ada", "email": "ada@example.org",
                                       "password1": "correct-horse-9", "password2": "correct-horse-9"})
    assert response.status_code == 302 and response.url == "/"
    ada = User.objects.get(username="ada")
    assert (ada.is_staff, ada.is_superuser) == (True, True)
    assert ada.current_workspace.name == "ada's workspace"
    assert list(Membership.objects.filter(user=ada).values_list("role", flat=True)) == ["owner"]
    assert Dataset.objects.filter(workspace=ada.current_workspace).count() == 0  # samples were not asked for
    # Setup is closed once an account exists.
    assert client.get("/setup/").status_code == 404


def test_setup_can_start_the_workspace_with_the_sample_datasets(client):
    response = client.post("/setup/", {"username": "ada", "password1": "correct-horse-9",
                                       "password2": "correct-horse-9", "load_samples": "on"}, follow=True)
    ada = User.objects.get(username="ada")
    names = sorted(Dataset.objects.filter(workspace=ada.current_workspace).values_list("name", flat=True))
    assert names == ["bank-marketing-test", "bank-marketing-train", "bank-marketing-validation",
                     "hardware-performance", "nyc-energy-test", "nyc-energy-train", "oj-sales-test", "oj-sales-train",
                     "titanic"]
    assert "9 sample datasets are being profiled" in response.content.decode()


def test_the_setup_offer_names_every_sample_dataset_it_loads(client):
    label = client.get("/setup/").context["form"].fields["load_samples"].label
    assert label == ("Add the 9 sample datasets (bank-marketing-train, bank-marketing-validation, bank-marketing-test, "
                     "hardware-performance, titanic, nyc-energy-train, nyc-energy-test, oj-sales-train, oj-sales-test) "
                     "to my workspace")


def test_setup_rejects_mismatched_passwords(client):
    response = client.post("/setup/", {"username": "ada", "password1": "correct-horse-9", "password2": "other-9"})
    assert response.status_code == 200
    assert "The two passwords differ" in response.content.decode()
    assert User.objects.count() == 0


def test_login_page_signs_in_and_home_shows_empty_states(client, team):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "Upload a CSV or Parquet file to create your first dataset." in page
    assert "Team" in page


def test_wrong_password_is_refused_with_a_message(client, team):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "did not match an active account" in response.content.decode()


def test_pages_need_sign_in(client, team):
    for url in ["/", "/workspaces/", "/accounts/tokens/"]:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url


def test_switch_workspace_only_to_own(client_for, team):
    dave = client_for(team.dave)
    assert dave.post(f"/workspaces/{team.workspace.id}/switch/").status_code == 404
    bob = client_for(team.bob)
    personal = Workspace.objects.get(memberships__user=team.bob, is_personal=True)
    assert bob.post(f"/workspaces/{personal.id}/switch/", {"next": "/workspaces/"}).url == "/workspaces/"
    team.bob.refresh_from_db()
    assert team.bob.current_workspace == personal


def test_switch_ignores_offsite_next(client_for, team):
    response = client_for(team.bob).post(f"/workspaces/{team.workspace.id}/switch/", {"next": "//evil.example"})
    assert response.url == "/"


@pytest.mark.parametrize("role,status", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_members_page_by_role(client_for, team, role, status):
    assert client_for(team.by_role(role)).get(f"/workspaces/{team.workspace.id}/members/").status_code == status


@pytest.mark.parametrize("role,status", [("owner", 302), ("editor", 403), ("viewer", 403), ("outsider", 404)])
def test_only_owner_adds_members(client_for, team, role, status):
    from studio.accounts import services

    services.create_user(username="erin", password="erin-pass-123")
    response = client_for(team.by_role(role)).post(f"/workspaces/{team.workspace.id}/members/",
                                                   {"username": "erin", "role": "editor"})
    assert response.status_code == status
    expected = ["editor"] if role == "owner" else []
    assert list(Membership.objects.filter(workspace=team.workspace, user__username="erin")
                .values_list("role", flat=True)) == expected


def test_last_owner_cannot_be_removed(client_for, team):
    c = client_for(team.alice)
    response = c.post(f"/workspaces/{team.workspace.id}/members/", {"action": "remove", "user_id": team.alice.id},
                      follow=True)
    assert "is the only owner of Team" in response.content.decode()
    assert Membership.objects.filter(workspace=team.workspace, user=team.alice, role=Role.OWNER).exists()


def test_creating_a_workspace_makes_creator_owner_and_switches(client_for, team):
    c = client_for(team.carol)
    assert c.post("/workspaces/", {"name": "Research"}).status_code == 302
    team.carol.refresh_from_db()
    assert team.carol.current_workspace.name == "Research"
    assert team.carol.current_workspace.role_of(team.carol) == "owner"


def test_user_management_is_for_admins(client_for, team):
    from studio.accounts.services import create_user

    admin = create_user(username="root", password="root-pass-123", is_staff=True)
    assert client_for(team.alice).get("/accounts/users/").status_code == 302
    c = client_for(admin)
    response = c.post("/accounts/users/", {"username": "frank", "password1": "frank-pass-123",
                                           "password2": "frank-pass-123"})
    assert response.status_code == 302
    frank = User.objects.get(username="frank")
    assert Workspace.objects.filter(memberships__user=frank, is_personal=True).count() == 1
    c.post(f"/accounts/users/{frank.id}/toggle/")
    frank.refresh_from_db()
    assert frank.is_active is False


def test_token_page_creates_shows_once_and_revokes(client_for, api_for, team):
    c = client_for(team.bob)
    page = c.post("/accounts/tokens/", {"action": "create"}).content.decode()
    key = Token.objects.get(user=team.bob).key
    assert key in page
    assert key not in c.get("/accounts/tokens/").content.decode()
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").json() == {
        "username": "bob", "is_staff": False, "current_workspace": team.workspace.id,
        "workspace": {"id": team.workspace.id, "name": "Team", "role": "editor"}}
    c.post("/accounts/tokens/", {"action": "revoke"})
    assert api.get("/api/v1/me/").status_code == 401


def test_drf_create_token_command(team):
    from django.core.management import call_command

    call_command("drf_create_token", "carol")
    assert Token.objects.filter(user=team.carol).count() == 1


def test_api_lists_own_workspaces_with_roles(api_for, team):
    data = api_for(team.carol).get("/api/v1/workspaces/").json()
    assert [(w["name"], w["role"]) for w in data] == [("Team", "viewer"), ("carol's workspace", "owner")]


def test_api_requires_authentication(client, team):
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert client.get("/api/v1/workspaces/").status_code in (401, 403)


def test_openapi_schema_is_valid_and_generated_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "operationId: endpoint_score" in (tmp_path / "schema.yml").read_text()


def test_openapi_schema_and_docs(client_for, team):
    c = client_for(team.alice)
    schema = c.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/v1/workspaces/" in schema.json()["paths"]
    scoring = schema.json()["paths"]["/api/v1/endpoints/{name}/score/"]["post"]
    assert scoring["security"] == [{"endpointKey": []}]
    assert sorted(scoring["responses"]) == ["200", "400", "401", "404", "413", "422", "429", "503"]
    experiments = schema.json()["paths"]["/api/v1/experiments/"]["post"]
    assert {"400", "401", "403", "404", "429", "503"} <= set(experiments["responses"])
    assert schema.json()["components"]["securitySchemes"]["endpointKey"]["scheme"] == "bearer"
    docs = c.get("/api/v1/docs/").content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs


def test_api_workspace_parameter_selects_a_workspace_the_user_belongs_to(api_for, team):
    personal = Workspace.objects.get(memberships__user=team.carol, is_personal=True)
    api = api_for(team.carol)
    assert api.get(f"/api/v1/me/?workspace={personal.id}").json()["workspace"] == {
        "id": personal.id, "name": "carol's workspace", "role": "owner"}
    dave_ws = Workspace.objects.get(memberships__user=team.dave)
    response = api.get(f"/api/v1/me/?workspace={dave_ws.id}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"No workspace {dave_ws.id} among yours; list yours at /api/v1/workspaces/."}
    assert api.get("/api/v1/me/?workspace=abc").status_code == 404
