"""Liveness of the studio's dependencies, for load balancers and the compose healthcheck.

The answer says only "ok" or "unavailable" per dependency: it is public, and a driver's error names hosts,
ports and users. The details go to the log.
"""
import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from studio.celery import app as celery_app

log = logging.getLogger(__name__)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as error:  # any driver error means unreachable
        log.error("healthz: database unavailable: %s: %s", error.__class__.__name__, error)
        return "unavailable"


def _broker() -> str:
    try:
        # A fresh connection to the configured URL, not the pool, so a dead broker is seen at once.
        with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as error:
        log.error("healthz: broker unavailable: %s: %s", error.__class__.__name__, error)
        return "unavailable"


def _dask_scheduler() -> str:
    from automl_engine.distributed import check_scheduler

    try:
        check_scheduler(settings.DASK_SCHEDULER_ADDRESS, timeout=2)
        return "ok"
    except Exception as error:
        log.error("healthz: Dask scheduler unavailable: %s: %s", error.__class__.__name__, error)
        return "unavailable"


@never_cache
def healthz(request):
    """200 with ``{"database": "ok", "broker": "ok"}`` (and ``"dask_scheduler"`` when DASK_SCHEDULER_ADDRESS
    is set) when all answer, 503 naming what is unavailable otherwise."""
    report = {"database": _database(), "broker": _broker()}
    if settings.DASK_SCHEDULER_ADDRESS:
        report["dask_scheduler"] = _dask_scheduler()
    report["status"] = "ok" if all(v == "ok" for v in report.values()) else "unavailable"
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
