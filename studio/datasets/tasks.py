"""Background work of the datasets app."""
from celery import shared_task

from studio.datasets import services


@shared_task(name="datasets.profile_version", ignore_result=True, acks_late=True)
def profile_version(job_id: int) -> None:
    """Profile one dataset version: the job row ``job_id`` holds status, timestamps, error and result."""
    services.run_profile(job_id)


@shared_task(name="datasets.sweep_orphans", ignore_result=True, expires=600)
def sweep_orphans_task() -> None:
    """Delete files that killed uploads left behind (run periodically by Celery beat on the control queue)."""
    services.sweep_orphan_files()


@shared_task(name="datasets.scan_upload", ignore_result=True, acks_late=True)
def scan_upload(job_id: int) -> None:
    """Check a wizard upload's column types on the whole file: the job row ``job_id`` holds the outcome."""
    services.run_upload_scan(job_id)
