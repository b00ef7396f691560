"""Platform promises: the database CI runs on, health reporting, security defaults."""
import os

import pytest
from django.conf import settings
from django.db import connection


def test_database_is_the_configured_one_and_postgres_in_ci():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected
    if os.environ.get("CI") == "true":
        assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}


@pytest.mark.django_db
def test_healthz_503_when_broker_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    # No driver message: it would tell anyone the broker's host and port.
    assert response.json() == {"database": "ok", "broker": "unavailable", "status": "unavailable"}


@pytest.mark.django_db
def test_healthz_reports_the_dask_scheduler_when_one_is_configured(client, settings):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        settings.DASK_SCHEDULER_ADDRESS = cluster.scheduler_address
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"database": "ok", "broker": "ok", "dask_scheduler": "ok", "status": "ok"}
    settings.DASK_SCHEDULER_ADDRESS = "tcp://127.0.0.1:1"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "ok", "dask_scheduler": "unavailable",
                               "status": "unavailable"}


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_inline_script(client, team, settings):
    client.force_login(team.alice)
    response = client.get("/datasets/")
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS that would lock people out
    import re
    from pathlib import Path

    templates = Path(settings.BASE_DIR) / "templates"
    inline = [str(p) for p in templates.rglob("*.html")
              if re.search(r"<script(?![^>]*\b(src|type=\"application/json\")=?)[^>]*>", p.read_text())
              or re.search(r"\son(submit|click|change|load|input)=", p.read_text())]
    assert inline == []
    assert client.get("/api/v1/docs/").status_code == 200


@pytest.mark.django_db
def test_hsts_is_sent_behind_the_https_proxy(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_security_defaults():
    assert settings.DEBUG is False
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert settings.SECRET_KEY and settings.SECRET_KEY != "change-me"
    assert settings.STUDIO_MAX_UPLOAD_BYTES == int(os.environ.get("STUDIO_MAX_UPLOAD_BYTES", 2 * 1024**3))


def test_env_helpers_fail_loudly(monkeypatch):
    from studio.env import EnvError, env_bool, env_int

    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(EnvError, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(EnvError, match="X_NUM='ten' is not a whole number"):
        env_int("X_NUM", 1)


@pytest.mark.django_db
def test_embedded_sqlite_runs_in_wal_mode_with_busy_timeout():
    if connection.vendor != "sqlite":
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 30000


@pytest.mark.django_db
def test_nul_characters_and_unknown_api_urls_get_json_4xx_not_500(client, team):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=team.alice).key
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    r = client.get("/api/v1/endpoints/%00/", **auth)
    assert (r.status_code, r["Content-Type"]) == (400, "application/json")
    assert client.get("/api/v1/workspaces/", HTTP_COOKIE="sessionid=abc\x00def").status_code == 400
    r = client.get("/api/v1/trials/-1/onnx", **auth)
    assert (r.status_code, r.json()) == (404, {"detail": "No such URL in the API; see /api/v1/docs/ for the routes."})
