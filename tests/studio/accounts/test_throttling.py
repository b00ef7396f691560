"""Throttling of failed secrets: sign-in per account and per address, API tokens and scoring keys per
address. Past the limit even the right secret is refused until the window ends."""
import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_sign_in_is_throttled_per_account_even_for_the_right_password(team, client, settings):
    settings.STUDIO_LOGIN_FAILURES_PER_USER = 5
    settings.STUDIO_THROTTLE_WINDOW_SECONDS = 600
    for _ in range(5):
        assert _login(client, "alice", "wrong").status_code == 200
    r = _login(client, "alice", "alice-pass-123")
    assert r.status_code == 429 and r["Retry-After"] == "600"
    assert _login(client, "ALICE", "wrong").status_code == 429  # the same account, however it is spelt
    assert "Too many failed sign-ins for this account or from your address" in r.content.decode()
    assert "_auth_user_id" not in client.session
    assert _login(client, "bob", "bob-pass-123").status_code == 302  # other accounts are not locked out
    client.post("/accounts/logout/")
    cache.clear()  # the window ended
    assert _login(client, "alice", "alice-pass-123").status_code == 302


def test_sign_in_is_throttled_per_address_across_accounts(team, client, settings):
    settings.STUDIO_LOGIN_FAILURES_PER_IP = 3
    for name in ("alice", "bob", "carol"):
        assert _login(client, name, "wrong").status_code == 200
    assert _login(client, "dave", "dave-pass-123").status_code == 429
    other = type(client)(REMOTE_ADDR="10.0.0.9")
    assert _login(other, "dave", "dave-pass-123").status_code == 302


def test_invalid_api_tokens_are_throttled_per_address(team, client, settings):
    settings.STUDIO_AUTH_FAILURES_PER_IP = 3
    good = Token.objects.create(user=team.alice).key
    for i in range(3):
        r = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token wrong{i}")
        assert r.status_code == 401
    r = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {good}")
    assert r.status_code == 429
    assert r.json()["detail"].startswith("Too many requests with invalid tokens from your address")
    other = type(client)(REMOTE_ADDR="10.0.0.9")
    assert other.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {good}").status_code == 200


def test_invalid_scoring_keys_are_throttled_per_address(client, settings, db):
    settings.STUDIO_AUTH_FAILURES_PER_IP = 3
    for name in ("nope-a", "nope-b", "nope-c"):
        r = client.post(f"/api/v1/endpoints/{name}/score/", data="{}", content_type="application/json",
                        HTTP_AUTHORIZATION="Bearer guess")
        assert r.status_code == 401
    r = client.post("/api/v1/endpoints/nope-a/score/", data="{}", content_type="application/json",
                    HTTP_AUTHORIZATION="Bearer guess")
    assert r.status_code == 429 and r["Retry-After"] == "900"
    assert r.json()["detail"].startswith("Too many requests with a missing or invalid endpoint key")


def test_change_your_own_password(team, client_for):
    client = client_for(team.bob)
    r = client.post("/accounts/password/", {"old_password": "wrong", "new_password1": "n3w-Secret-pass",
                                             "new_password2": "n3w-Secret-pass"})
    assert r.status_code == 200 and "Your old password was entered incorrectly" in r.content.decode()
    r = client.post("/accounts/password/", {"old_password": "bob-pass-123", "new_password1": "n3w-Secret-pass",
                                             "new_password2": "n3w-Secret-pass"})
    assert r.status_code == 302 and r["Location"] == "/"
    team.bob.refresh_from_db()
    assert team.bob.check_password("n3w-Secret-pass")


def test_an_administrator_sets_a_new_password_and_lifts_the_lockout(team, client, client_for, settings):
    from studio.accounts.models import User

    settings.STUDIO_LOGIN_FAILURES_PER_USER = 2
    for _ in range(2):
        _login(client, "bob", "forgot")
    assert _login(client, "bob", "bob-pass-123").status_code == 429
    assert client_for(team.carol).get(f"/accounts/users/{team.bob.pk}/password/").status_code == 302  # not staff
    admin = User.objects.create_user(username="root", password="root-pass-123", is_staff=True)
    r = client_for(admin).post(f"/accounts/users/{team.bob.pk}/password/",
                               {"new_password1": "fresh-Pass-987", "new_password2": "fresh-Pass-987"})
    assert r.status_code == 302 and r["Location"] == "/accounts/users/"
    assert _login(client, "bob", "fresh-Pass-987").status_code == 302
