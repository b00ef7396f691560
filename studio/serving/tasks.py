"""Background work of the serving app."""
from celery import shared_task

from studio.serving import services


@shared_task(name="serving.run_batch_job")
def run_batch_job_task(job_id: int) -> None:
    """Score one batch job's CSV (the job row holds status, progress and error)."""
    services.run_batch_job(job_id)
