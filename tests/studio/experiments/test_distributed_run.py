"""A distributed run through the studio: submitted like any run, executed by a real Celery worker on a Dask
LocalCluster it starts, shown with its cluster, and its model registered and served from an endpoint."""
import io
import json
from pathlib import Path

import automl_engine
import numpy as np
import pandas as pd
import pytest

from studio.experiments import services
from studio.experiments.models import Run
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.registry import services as registry
from studio.serving import services as serving
from studio.serving.models import BatchJob, Endpoint
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

DATA = Path(__file__).resolve().parents[2] / "data"  # samples of ../shared/data/bench (tests/data/README.md)
TARGET = "income >50K"


@pytest.fixture
def adult(make_version):
    """3,000 rows of UCI Adult as a dataset version (its Parquet file is what the Dask workers read)."""
    frame = pd.read_csv(DATA / "adult_6000.csv").sample(3000, random_state=1).reset_index(drop=True)
    return frame, make_version("adult.csv", name="adult", frame=frame)


def distributed_job(dataset_id: int, **limits) -> dict:
    return {"name": "adult-dask", "dataset": dataset_id, "task": "classification", "target_column": TARGET,
            "primary_metric": "AUC_weighted", "training": {"training_mode": "distributed"},
            "limits": {"timeout_minutes": 5, "max_trials": 2, "max_nodes": 2, **limits}}


def test_a_distributed_run_completes_on_a_local_cluster_and_its_model_is_served(
        team, adult, celery_worker, api_for, client, storage_dir):
    frame, version = adult
    run = services.submit_run(team.workspace, team.bob, distributed_job(version.dataset_id))
    assert run.config["training"]["training_mode"] == "distributed"
    assert run.config["training"]["enable_vote_ensemble"] is False and run.config["limits"]["max_nodes"] == 2
    wait_for(lambda: Run.objects.get(pk=run.pk).status in ("completed", "failed"), 240,
             message="the distributed run to finish")
    run = Run.objects.get(pk=run.pk)
    assert run.status == "completed", run.error + "\n" + celery_worker.log()[-3000:]
    trials = list(run.trials.order_by("number"))
    assert [(t.number, t.status, t.algorithm) for t in trials] == [(0, "completed", "LightGBM"),
                                                                  (1, "completed", "LightGBM")]
    assert run.best_score > 0.85  # Adult income: LightGBM scores about 0.9 AUC on 2,700 rows
    assert run.validation_method["method"] == "holdout"
    assert run.cluster["n_workers"] == 2 and run.cluster["local"] is True and run.cluster["trial"] is None
    messages = list(run.log_lines.values_list("message", flat=True))
    assert any(m.startswith("distributed training on a local Dask cluster on this worker, up to 2 nodes")
               for m in messages)
    # the run page shows the cluster
    page = client_for_owner(client, team).get(f"/experiments/runs/{run.pk}/").content.decode()
    assert 'data-testid="run-cluster"' in page and page.count('data-testid="cluster-worker"') == 2
    # registered and served like any model
    model = registry.register_version(trial=run.best_trial, name="adult", user=team.alice)
    r = api_for(team.alice).post("/api/v1/endpoints/", {"name": "adult-ep", "model": "adult", "version": "1"},
                                 format="json")
    assert r.status_code == 201, r.content
    rows = json.loads(frame.drop(columns=[TARGET]).head(4).to_json(orient="records"))
    scored = client.post("/api/v1/endpoints/adult-ep/score/", data=json.dumps({"data": rows}),
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {r.json()['key']}")
    assert scored.status_code == 200, scored.content
    body = scored.json()
    pipeline = automl_engine.load_model(storage_dir / model.file, model.sha256)
    assert body["predictions"] == pipeline.predict(pd.DataFrame(rows)).tolist()
    assert np.allclose([[p["0"], p["1"]] for p in body["probabilities"]], pipeline.predict_proba(pd.DataFrame(rows)), atol=1e-6)  # served to 6 places
    # batch scoring of a Parquet file runs on the cluster (the model was trained there), through the worker
    buffer = io.BytesIO()
    frame.drop(columns=[TARGET]).head(500).to_parquet(buffer, index=False)
    endpoint = Endpoint.objects.get(name="adult-ep")
    job = serving.start_batch_job(endpoint, SimpleUploadedFile("rows.parquet", buffer.getvalue()), user=team.alice)
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).status in ("completed", "failed"), 120,
             message="the batch job to finish")
    job = BatchJob.objects.get(pk=job.pk)
    assert job.status == "completed", job.error + celery_worker.log()[-3000:]
    assert (job.rows_done, job.rows_total) == (500, 500)
    output = pd.read_csv(storage_dir / job.output_file)
    assert list(output.columns[-3:]) == ["prediction", "probability_0", "probability_1"]
    assert np.allclose(output["probability_1"], pipeline.predict_proba(frame.head(500))[:, 1], atol=1e-6)


def client_for_owner(client, team):
    client.force_login(team.bob)
    return client


def test_distributed_mode_refuses_cross_validation_and_other_algorithms_by_field(team, adult):
    _, version = adult
    job = distributed_job(version.dataset_id)
    with pytest.raises(services.SubmissionError) as error:
        services.submit_run(team.workspace, team.bob, {**job, "validation": {"n_cross_validations": 3}})
    assert list(error.value.errors) == ["validation.n_cross_validations"]
    job["training"]["allowed_training_algorithms"] = ["LightGBM", "RandomForest"]
    with pytest.raises(services.SubmissionError) as error:
        services.submit_run(team.workspace, team.bob, job)
    assert error.value.errors == {"training.allowed_training_algorithms": (
        "Distributed training uses LightGBM only; ['RandomForest'] cannot be trained on Dask partitions.")}
