"""Step scheduling, failure propagation, cancel and the register step's conditions, driven through the
services one call at a time (no worker: each call is what one Celery task does)."""
import pytest

from studio.pipelines import services
from studio.pipelines.models import DatasetLineage, PipelineJob, PipelineStep
from studio.pipelines.spec import PipelineSpecError

pytestmark = pytest.mark.django_db

PREP_ONLY = """
type: pipeline
inputs:
  data: {type: mltable, path: "azureml:bank-small@latest"}
jobs:
  prepare:
    type: prep
    inputs: {data: "${{parent.inputs.data}}"}
    operations:
      - filter: "%s"
      - derive: {older: "age + 1"}
  train:
    type: automl
    task: classification
    target_column_name: y
    training_data: "${{parent.jobs.prepare.outputs.output_data}}"
  register:
    type: register
    inputs: {model: "${{parent.jobs.train.outputs.best_model}}"}
    model_name: bank
"""


def _statuses(job):
    return {s.name: s.status for s in PipelineStep.objects.filter(job=job)}


def test_a_prep_step_writes_a_new_dataset_version_with_lineage(team, bank_small):
    job = services.submit_pipeline(team.workspace, team.bob, PREP_ONLY % "age >= 30")
    assert _statuses(job) == {"prepare": "waiting", "train": "waiting", "register": "waiting"}
    services.advance_pipeline(job.pk)
    assert _statuses(job)["prepare"] == "queued" and PipelineJob.objects.get(pk=job.pk).status == "running"
    prepare = job.steps.get(name="prepare")
    services.run_step(prepare.pk)
    prepare.refresh_from_db()
    assert prepare.status == "completed", prepare.error
    out = prepare.outputs["output_data"]
    assert out["dataset"] == "bank-small-prepare" and out["version"] == 1
    lineage = DatasetLineage.objects.get(derived_id=out["dataset_version"])
    assert lineage.source == bank_small and lineage.step == prepare
    from studio.datasets.services import load_frame

    derived = load_frame(lineage.derived)
    assert (derived["age"] >= 30).all() and (derived["older"] == derived["age"] + 1).all()
    assert "from bank-small v1" in prepare.log
    services.advance_pipeline(job.pk)
    assert _statuses(job) == {"prepare": "completed", "train": "queued", "register": "waiting"}


def test_a_failed_step_fails_its_dependants_with_the_reason(team, bank_small):
    job = services.submit_pipeline(team.workspace, team.bob, PREP_ONLY % "salary > 3")
    services.advance_pipeline(job.pk)
    services.run_step(job.steps.get(name="prepare").pk)
    services.advance_pipeline(job.pk)
    steps = {s.name: s for s in job.steps.all()}
    assert steps["prepare"].status == "failed"
    assert steps["prepare"].error.startswith("operations[0].filter: 'salary' is not a column")
    assert steps["train"].status == "failed" and steps["train"].error.startswith(
        "not run: step 'prepare' failed: operations[0].filter: 'salary' is not a column")
    assert steps["register"].error.startswith("not run: step 'train' failed: not run: step 'prepare' failed")
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("step 'prepare' failed: operations[0].filter")
    assert job.finished_at is not None


def test_rerun_from_the_failed_step_reuses_completed_outputs(team, bank_small):
    job = services.submit_pipeline(team.workspace, team.bob, PREP_ONLY % "age >= 30")
    services.advance_pipeline(job.pk)
    services.run_step(job.steps.get(name="prepare").pk)
    services.cancel_pipeline(job, team.bob)
    job.refresh_from_db()
    assert job.status == "canceled" and _statuses(job) == {"prepare": "completed", "train": "canceled",
                                                           "register": "canceled"}
    again = services.rerun_pipeline(job, team.bob)
    assert again.rerun_of == job and again.trigger == f"re-run of job {job.pk} by bob"
    assert _statuses(again) == {"prepare": "completed", "train": "waiting", "register": "waiting"}
    assert again.steps.get(name="prepare").outputs == job.steps.get(name="prepare").outputs
    services.advance_pipeline(again.pk)
    assert _statuses(again)["train"] == "queued"


def test_cancel_stops_queued_steps_and_a_finished_job_stays_as_it_is(team, bank_small):
    job = services.submit_pipeline(team.workspace, team.bob, PREP_ONLY % "age >= 30")
    services.advance_pipeline(job.pk)
    services.cancel_pipeline(job, team.bob)
    assert _statuses(job) == {"prepare": "canceled", "train": "canceled", "register": "canceled"}
    services.run_step(job.steps.get(name="prepare").pk)  # a worker that picks it up later does nothing
    assert _statuses(job)["prepare"] == "canceled"
    assert job.steps.get(name="prepare").error == "canceled by bob"


def test_dataset_inputs_must_exist(team):
    with pytest.raises(PipelineSpecError) as info:
        services.submit_pipeline(team.workspace, team.bob, PREP_ONLY % "age > 1")
    assert info.value.errors == {"inputs.data": "no dataset 'bank-small' in this workspace; datasets are []"}


def _register_step(team, trial, condition, alias="champion"):
    job = PipelineJob.objects.create(workspace=team.workspace, name="reg", yaml="", created_by=team.bob,
                                     status="running")
    config = {"inputs": {"model": "${{parent.jobs.train.outputs.best_model}}"}, "model_name": "bank",
              "condition": condition, "alias": alias}
    PipelineStep.objects.create(job=job, name="train", position=0, type="automl", status="completed", outputs={
        "best_model": {"type": "model", "trial": trial.pk, "run": trial.run_id}})
    step = PipelineStep.objects.create(job=job, name="register", position=1, type="register", config=config,
                                       needs=["train"], status="queued")
    services.run_step(step.pk)
    step.refresh_from_db()
    return step


def test_register_only_above_the_threshold_and_only_when_better_than_the_alias(team, bank_run):
    trials = sorted(bank_run.trials.filter(is_ensemble=False), key=lambda t: t.metrics["AUC_weighted"])
    worse, better = trials[0], trials[-1]
    auc = better.metrics["AUC_weighted"]
    step = _register_step(team, better, {"metric": "AUC_weighted", "threshold": auc + 0.01})
    assert step.status == "completed" and step.outputs == {"registered_model": None}
    assert "not registered: the threshold was not met" in step.log
    step = _register_step(team, worse, {"metric": "AUC_weighted", "threshold": 0.0})
    assert step.outputs["registered_model"]["version"] == 1 and "alias champion -> v1" in step.log
    step = _register_step(team, better, {"beat_alias": "champion"})
    assert step.outputs["registered_model"]["version"] == 2
    from studio.registry.models import RegisteredModel

    model = RegisteredModel.objects.get(name="bank")
    assert model.aliases.get(name="champion").version.version == 2
    step = _register_step(team, worse, {"beat_alias": "champion"})
    assert step.outputs == {"registered_model": None} and "not registered: champion is at least as good" in step.log
    step = _register_step(team, better, {"metric": "f2"})
    assert step.status == "failed" and step.error.startswith("condition.metric: 'f2' is not a metric of the model")


def _deploy_step(team, registered, share=100):
    job = PipelineJob.objects.create(workspace=team.workspace, name="dep", yaml="", created_by=team.bob,
                                     status="running")
    PipelineStep.objects.create(job=job, name="register", position=0, type="register", status="completed",
                                outputs={"registered_model": registered})
    step = PipelineStep.objects.create(job=job, name="deploy", position=1, type="deploy", needs=["register"],
                                       status="queued", config={
                                           "inputs": {"model": "${{parent.jobs.register.outputs.registered_model}}"},
                                           "endpoint_name": "bank-ep", "traffic_percent": share})
    services.run_step(step.pk)
    step.refresh_from_db()
    return step


def test_deploy_creates_the_endpoint_then_moves_traffic_to_each_new_version(team, bank_run):
    from studio.registry.services import register_version
    from studio.serving.models import Endpoint

    trials = list(bank_run.trials.filter(is_ensemble=False).order_by("number"))
    v1 = register_version(trial=trials[0], name="bank", user=team.bob)
    v2 = register_version(trial=trials[1], name="bank", user=team.bob)
    ref = {"type": "registered_model", "model": "bank", "model_id": v1.model_id}
    step = _deploy_step(team, {**ref, "version": 1})
    assert step.status == "completed", step.error
    assert step.outputs["endpoint"]["endpoint"] == "bank-ep" and "created endpoint bank-ep" in step.log
    step = _deploy_step(team, {**ref, "version": 2}, share=20)
    assert step.status == "completed", step.error
    endpoint = Endpoint.objects.get(name="bank-ep")
    shares = {d.model_version.version: d.traffic_percent for d in endpoint.deployments.select_related("model_version")}
    assert shares == {1: 80, 2: 20}
    step = _deploy_step(team, None)
    assert step.status == "completed" and step.outputs == {"endpoint": None}
    assert "nothing to deploy" in step.log
    assert v2.version == 2


COMMAND = """
type: pipeline
inputs:
  data: {type: mltable, path: "azureml:bank-small@latest"}
jobs:
  features:
    type: command
    inputs: {data: "${{parent.inputs.data}}", factor: 2}
    script: |
      import argparse, os, pandas as pd
      parser = argparse.ArgumentParser()
      parser.add_argument("--data"); parser.add_argument("--factor", type=int); parser.add_argument("--outputs")
      args = parser.parse_args()
      df = pd.read_csv(args.data)
      df["age_x"] = df["age"] * args.factor
      print("rows", len(df), "secret", os.environ.get("DATABASE_URL"))
      %s
      df.to_csv(os.path.join(args.outputs, "featured.csv"), index=False)
    limits: {cpu_seconds: 60, memory_mb: 1024, wall_seconds: %d}
    outputs:
      featured: {name: bank-featured}
"""


def _run_command(team, extra="pass", wall=60):
    job = services.submit_pipeline(team.workspace, team.bob, COMMAND % (extra, wall))
    services.advance_pipeline(job.pk)
    step = job.steps.get(name="features")
    services.run_step(step.pk)
    step.refresh_from_db()
    return step


def test_a_command_step_runs_the_script_with_its_inputs_and_reads_its_outputs(team, bank_small):
    step = _run_command(team)
    assert step.status == "completed", step.error + step.log
    out = step.outputs["featured"]
    assert out["dataset"] == "bank-featured"
    from studio.datasets.services import load_frame
    from studio.datasets.models import DatasetVersion

    frame = load_frame(DatasetVersion.objects.get(pk=out["dataset_version"]))
    assert (frame["age_x"] == frame["age"] * 2).all() and len(frame) == 400
    assert "rows 400 secret None" in step.log  # the studio's settings never reach the script
    assert "(limits: 60 CPU s, 1024 MB, 60 s wall)" in step.log


def test_a_failing_or_slow_script_fails_the_step_with_the_reason(team, bank_small):
    step = _run_command(team, extra="raise SystemExit('no good data')")
    assert step.status == "failed"
    assert step.error == "the script failed: it exited with status 1: no good data"
    assert "rows 400" in step.log
    step = _run_command(team, extra="import time; time.sleep(30)", wall=2)
    assert step.status == "failed"
    assert step.error == "the script ran longer than 2 s (wall_seconds) and was stopped"


@pytest.mark.django_db(transaction=True)
def test_canceling_the_pipeline_stops_a_running_script(team, bank_small):
    import threading
    import time

    from tests.conftest import wait_for

    job = services.submit_pipeline(team.workspace, team.bob, COMMAND % ("import time; time.sleep(60)", 120))
    services.advance_pipeline(job.pk)
    step = job.steps.get(name="features")
    worker = threading.Thread(target=services.run_step, args=(step.pk,))
    started = time.monotonic()
    worker.start()
    wait_for(lambda: PipelineStep.objects.get(pk=step.pk).status == "running", 30, message="the step to start")
    time.sleep(1)
    services.cancel_pipeline(job, team.bob)
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - started < 30
    step.refresh_from_db()
    assert step.status == "canceled" and step.error == "canceled by bob"
