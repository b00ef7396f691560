"""Many-models forecasting through the studio's Celery executor: every partition's trials are TrialJob rows
that a real worker process claims and evaluates, and the partitions' forecasters come back to the caller."""
import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from studio.experiments import services
from studio.experiments.executor import CeleryTrialExecutor
from studio.experiments.models import Experiment, JobStatus, Run, RunStatus, TrialJob

from .conftest import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)


def test_partitions_trials_are_spread_over_the_celery_workers(team, celery_worker):
    from automl_engine import forecasting
    from automl_engine.forecasting import ManyModelsForecaster

    oj = pd.read_csv(SAMPLES / "oj_sales_data.csv").drop(columns=["Revenue"])
    oj = oj[oj["Store"].isin(sorted(oj["Store"].unique())[:2])]
    last = oj["WeekStarting"] > sorted(oj["WeekStarting"].unique())[-7]
    train, test = oj[~last], oj[last]
    job = forecasting(training_data=train, target_column_name="Quantity", n_cross_validations=2)
    job.set_forecast_settings(time_column_name="WeekStarting", forecast_horizon=6,
                              time_series_id_column_names=["Store", "Brand"])
    job.set_limits(timeout_minutes=5, max_trials=2)  # max_trials ends it; the budget only on a busy machine
    job.set_training(allowed_training_algorithms=["SeasonalNaive", "LightGBM"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    experiment = Experiment.objects.create(workspace=team.workspace, name="oj-many", created_by=team.alice)
    now = timezone.now()
    run = Run.objects.create(experiment=experiment, workspace=team.workspace, number=1, config=job.to_config(),
                             task="forecasting", primary_metric="normalized_root_mean_squared_error",
                             greater_is_better=False, status=RunStatus.RUNNING, created_by=team.alice,
                             started_at=now, heartbeat_at=now, workdir="experiments/runs/oj-many")
    executor = CeleryTrialExecutor(run, local_lane=False)  # every trial to the worker process
    try:
        many = ManyModelsForecaster(job, ["Store"]).fit(executor=executor, max_concurrent_partitions=2,
                                                        workdir=services.storage_path(run.workdir))
    finally:
        executor.shutdown()
    stores = [str(s) for s in sorted(train["Store"].unique())]
    assert sorted(many.models_) == stores and [s["n_trials"] for s in many.summary_] == [2, 2]
    jobs = list(TrialJob.objects.filter(run=run).order_by("id"))
    assert len(jobs) == 4 and [j.status for j in jobs] == [JobStatus.COMPLETED] * 4, celery_worker.log()[-3000:]
    assert all(j.worker and not j.worker.startswith("driver ") for j in jobs)  # the worker, not a driver lane
    # each partition's trials ran in its own folder of the storage
    assert sorted({j.task["workdir"].rsplit("/", 1)[-1] for j in jobs}) == ["partition-0", "partition-1"]
    pred = many.predict(test.drop(columns=["Quantity"]))
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
