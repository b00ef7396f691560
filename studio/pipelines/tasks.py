"""Celery tasks of the pipelines app: each takes an id and makes one service call."""
from celery import shared_task

from studio.pipelines import services


@shared_task(name="pipelines.advance")
def advance_pipeline_task(job_id: int) -> None:
    """Start the steps of a pipeline job whose inputs now exist; close the job when all are done."""
    services.advance_pipeline(job_id)


@shared_task(name="pipelines.run_step", ignore_result=True, acks_late=True)
def run_step_task(step_id: int) -> None:
    """Run one pipeline step through the job lifecycle (the step row holds status, heartbeat and error)."""
    services.run_step(step_id)


@shared_task(name="pipelines.advance_running", ignore_result=True, expires=60)
def advance_running_pipelines_task() -> None:
    """Advance every unfinished pipeline job (run by Celery beat on the control queue)."""
    services.advance_running_pipelines()


@shared_task(name="pipelines.fire_due_schedules", ignore_result=True, expires=60)
def fire_due_schedules_task() -> None:
    """Start the pipeline jobs of schedules that are due (run by Celery beat)."""
    from studio.pipelines.schedules import fire_due_schedules

    fire_due_schedules()
