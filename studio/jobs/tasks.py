"""The periodic chores of the job lifecycle; Celery beat sends them to the control queue
(``CELERY_CONTROL_QUEUE``), which a small worker of its own serves, so a long run never delays them."""
from celery import shared_task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure

from studio.jobs import lifecycle


@shared_task(name="jobs.dispatch_queued", ignore_result=True, expires=60)
def dispatch_queued_jobs_task() -> None:
    """Re-send queued jobs whose message was lost or never sent."""
    lifecycle.dispatch_queued_jobs()


@shared_task(name="jobs.reap_stale", ignore_result=True, expires=60)
def reap_stale_jobs_task() -> None:
    """Requeue or fail running jobs whose worker stopped beating."""
    lifecycle.reap_stale_jobs()


@task_failure.connect
def fail_job_killed_at_its_time_limit(sender=None, exception=None, args=None, **_kwargs) -> None:
    """A job task killed at its hard time limit never ran its own failure path: fail its row here."""
    if isinstance(exception, TimeLimitExceeded) and sender is not None and args:
        lifecycle.on_time_limit(sender.name, args[0])
