"""The periodic chores of the job lifecycle; Celery beat sends them to the control queue
(``CELERY_CONTROL_QUEUE``), which a small worker of its own serves, so a long run never delays them."""
from celery import shared_task

from studio.jobs import lifecycle


@shared_task(name="jobs.dispatch_queued", ignore_result=True, expires=60)
def dispatch_queued_jobs_task() -> None:
    """Re-send queued jobs whose message was lost or never sent."""
    lifecycle.dispatch_queued_jobs()


@shared_task(name="jobs.reap_stale", ignore_result=True, expires=60)
def reap_stale_jobs_task() -> None:
    """Requeue or fail running jobs whose worker stopped beating."""
    lifecycle.reap_stale_jobs()
