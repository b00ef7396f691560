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
