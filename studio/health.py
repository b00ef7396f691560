"""Liveness of the studio's dependencies, for load balancers and the compose healthcheck."""
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from studio.celery import app as celery_app


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as error:  # any driver error means unreachable
        return f"error: {error.__class__.__name__}: {error}"


def _broker() -> str:
    try:
        # A fresh connection to the configured URL, not the pool, so a dead broker is seen at once.
        with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as error:
        return f"error: {error.__class__.__name__}: {error}"


@never_cache
def healthz(request):
    """200 with ``{"database": "ok", "broker": "ok"}`` when both answer, 503 naming what failed otherwise."""
    report = {"database": _database(), "broker": _broker()}
    report["status"] = "ok" if all(v == "ok" for v in report.values()) else "unavailable"
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
