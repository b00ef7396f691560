"""Celery tasks of the experiments app: each takes ids and makes one service call."""
from celery import shared_task

from studio.experiments import services, testing


@shared_task(name="experiments.execute_run", acks_late=True)
def execute_run_task(run_id: int) -> None:
    """Run one submitted AutoML job on this worker."""
    services.execute_run(run_id)


@shared_task(name="experiments.evaluate_trial", acks_late=True)
def evaluate_trial_task(job_id: int) -> None:
    """Evaluate one trial that a run's driver sent out to any worker."""
    services.evaluate_trial_job(job_id)


@shared_task(name="experiments.compute_feature_importance", acks_late=True)
def compute_feature_importance_task(job_id: int) -> None:
    """Compute feature importance for one trial."""
    services.compute_feature_importance(job_id)


@shared_task(name="experiments.test_model", acks_late=True)
def test_model_task(job_id: int) -> None:
    """Score one trial's model on a test dataset version."""
    testing.run_model_test(job_id)
