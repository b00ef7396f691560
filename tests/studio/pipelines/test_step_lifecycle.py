"""Pipeline steps on the shared job lifecycle: a worker SIGKILLed mid-step leaves a step the reaper fails with
a reason (and its pipeline fails the dependants), an AutoML step stays alive exactly as long as its run, and
a queued step whose message was lost is sent again."""
from datetime import timedelta

import pytest
from django.utils import timezone

from studio.experiments.models import Run
from studio.jobs import lifecycle
from studio.pipelines import services
from studio.pipelines.models import PipelineJob, PipelineStep
from tests.conftest import wait_for
from tests.studio.jobs.conftest import fast_lifecycle, own_queue  # noqa: F401
from tests.studio.pipelines.test_services import COMMAND


def _step(job, name):
    return PipelineStep.objects.get(job=job, name=name)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_step_ends_the_step_failed_with_the_reason(team, bank_small, own_queue, fast_lifecycle):
    text = COMMAND % ("import time; time.sleep(120)", 300) + """
  register:
    type: register
    inputs: {model: "${{parent.jobs.features.outputs.featured}}"}
    model_name: never
"""
    doomed = own_queue(concurrency=1, extra_env=fast_lifecycle)
    job = services.submit_pipeline(team.workspace, team.bob, text)
    step = wait_for(lambda: PipelineStep.objects.filter(job=job, name="features", status="running").first(), 60,
                    message="the command step to run on the worker")
    assert step.attempts == 1 and step.worker and step.heartbeat_at is not None
    doomed.kill()
    killed_at = timezone.now()
    assert lifecycle.reap_stale_jobs(killed_at) == []  # still fresh: nothing to do yet
    reaped = lifecycle.reap_stale_jobs(killed_at + timedelta(seconds=30))
    assert ("pipeline step", step.pk, "failed") in reaped
    step.refresh_from_db()
    assert step.status == "failed" and step.finished_at is not None
    assert step.error.startswith(f"The worker running this pipeline step ({step.worker}) stopped responding at ")
    assert step.error.endswith("(no heartbeat for 6 s): it was probably killed, ran out of memory or hangs. "
                               "Run it again; if it keeps failing, give the worker more memory.")
    services.advance_pipeline(job.pk)  # what on_failed's advance message does on a live worker
    job.refresh_from_db()
    register = _step(job, "register")
    assert register.status == "failed" and register.error.startswith(
        "not run: step 'features' failed: The worker running this pipeline step")
    assert job.status == "failed" and job.error.startswith("step 'features' failed: The worker running this")
    rerun = services.rerun_pipeline(job, team.bob)
    assert {s.name: s.status for s in rerun.steps.all()} == {"features": "waiting", "register": "waiting"}


@pytest.mark.django_db
def test_an_automl_step_lives_as_long_as_its_run(team, bank_run):
    job = PipelineJob.objects.create(workspace=team.workspace, name="p", yaml="", created_by=team.bob,
                                     status="running")
    long_ago = timezone.now() - timedelta(minutes=30)
    train = PipelineStep.objects.create(job=job, name="train", position=0, type="automl", status="running",
                                        run=bank_run, started_at=long_ago, heartbeat_at=long_ago, attempts=1)
    register = PipelineStep.objects.create(job=job, name="register", position=1, type="register",
                                           needs=["train"], config={"model_name": "x"})
    Run.objects.filter(pk=bank_run.pk).update(status="running", best_trial=None)
    services.advance_pipeline(job.pk)  # also what the periodic advance on the control queue does
    train.refresh_from_db()
    assert train.status == "running" and train.heartbeat_at > timezone.now() - timedelta(seconds=5)
    assert lifecycle.reap_stale_jobs(timezone.now() + timedelta(seconds=30)) == []  # the run trains: alive
    Run.objects.filter(pk=bank_run.pk).update(status="failed", error="The worker running this run stopped "
                                                                     "responding")
    assert services.advance_running_pipelines() == [job.pk]
    train.refresh_from_db()
    register.refresh_from_db()
    assert train.status == "failed" and train.error == (f"AutoML run {bank_run.pk} failed: The worker running this "
                                                        "run stopped responding")
    assert register.status == "failed" and register.error.startswith("not run: step 'train' failed: AutoML run")
    assert PipelineJob.objects.get(pk=job.pk).status == "failed"
    assert services.advance_running_pipelines() == []  # finished jobs are left alone


@pytest.mark.django_db
def test_a_queued_step_whose_message_was_lost_is_sent_again(team, settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = "pipelines-lost-messages-test"  # nobody consumes it
    job = PipelineJob.objects.create(workspace=team.workspace, name="p", yaml="", created_by=team.bob,
                                     status="running")
    step = PipelineStep.objects.create(job=job, name="prepare", position=0, type="prep", status="queued",
                                       enqueued_at=timezone.now() - timedelta(minutes=10))
    waiting = PipelineStep.objects.create(job=job, name="train", position=1, type="automl", needs=["prepare"])
    sent = lifecycle.dispatch_queued_jobs()
    assert ("pipeline step", step.pk) in sent and ("pipeline step", waiting.pk) not in sent
    step.refresh_from_db()
    assert step.enqueued_at > timezone.now() - timedelta(seconds=5)
