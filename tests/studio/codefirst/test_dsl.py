"""The seed's `@pipeline` snippet (Azure ML SDK v2 `dsl`, "AutoML in a pipeline") written against the studio's
client: only the imports change (`azure.ai.ml` -> `studio_client`), and the studio's own prep and register
steps stand where the seed's command components prepare the data and register the model. It builds the YAML
`studio job create` sends, and runs as a script against a live studio and a real worker."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]

SNIPPET = '''
from studio_client import Input, MLClient, Output, dsl
from studio_client.automl import classification
from studio_client.dsl import pipeline
from studio_client.steps import prep, register

compute_name = "cpu-cluster"
experiment_name = "automl-in-pipeline"


# define the pipeline
@pipeline(description="AutoML Classification Pipeline")
def automl_classification(
    classification_train_data,
    auc_threshold=0.5,
):
    # prepare the data with the studio's no-code prep step
    prepare_node = prep(data=classification_train_data,
                        operations=[{"filter": "age >= 18"}, {"drop_columns": ["duration"]}])
    # define the automl classification task with automl function
    classification_node = classification(
        training_data=prepare_node.outputs.output_data,
        target_column_name="y",
        primary_metric="AUC_weighted",
        # currently need to specify outputs "mlflow_model" explictly to reference it in following nodes
        outputs={"best_model": Output(type="mlflow_model")},
    )
    # set limits and training
    classification_node.set_limits(max_trials=1, timeout_minutes=3, max_cores_per_trial=1)
    classification_node.set_training(
        allowed_training_algorithms=["LightGBM"],
        enable_stack_ensemble=False,
        enable_vote_ensemble=False,
        enable_model_explainability=False,
    )
    # register the best model if it is good enough
    register_node = register(model=classification_node.outputs.best_model, model_name="bank-dsl",
                             condition={"metric": "AUC_weighted", "threshold": auc_threshold}, alias="champion")


pipeline_job = automl_classification(
    classification_train_data=Input(path="./training-mltable-folder/", type="mltable"),
)

# set pipeline level compute
pipeline_job.settings.default_compute = compute_name
'''

SUBMIT = '''
ml_client = MLClient.from_config(credential=None)
# submit the pipeline job
returned_pipeline_job = ml_client.jobs.create_or_update(
    pipeline_job,
    experiment_name=experiment_name
)
returned_pipeline_job = ml_client.jobs.stream(returned_pipeline_job.name)
print("FINAL", returned_pipeline_job.name, returned_pipeline_job.status)
'''


def test_the_snippet_builds_the_pipeline_yaml():
    scope: dict = {}
    exec(SNIPPET, scope)
    data = scope["pipeline_job"].to_dict()
    assert data["settings"] == {"default_compute": "cpu-cluster"}
    assert data["inputs"] == {"classification_train_data": {"type": "mltable", "path": "./training-mltable-folder/"},
                              "auc_threshold": 0.5}
    assert data["jobs"] == {
        "prepare_node": {"type": "prep", "inputs": {"data": "${{parent.inputs.classification_train_data}}"},
                         "operations": [{"filter": "age >= 18"}, {"drop_columns": ["duration"]}]},
        "classification_node": {
            "type": "automl", "task": "classification",
            "training_data": "${{parent.jobs.prepare_node.outputs.output_data}}", "target_column_name": "y",
            "primary_metric": "AUC_weighted",
            "limits": {"max_trials": 1, "timeout_minutes": 3, "max_cores_per_trial": 1},
            "training": {"allowed_training_algorithms": ["LightGBM"], "enable_stack_ensemble": False,
                         "enable_vote_ensemble": False, "enable_model_explainability": False}},
        "register_node": {"type": "register",
                          "inputs": {"model": "${{parent.jobs.classification_node.outputs.best_model}}"},
                          "model_name": "bank-dsl",
                          "condition": {"metric": "AUC_weighted", "threshold": "${{parent.inputs.auc_threshold}}"},
                          "alias": "champion"}}
    from studio.pipelines.spec import parse_pipeline  # the studio reads it as it reads a YAML file

    spec = parse_pipeline(scope["pipeline_job"].to_yaml().replace("./training-mltable-folder/", "azureml:bank@latest"))
    assert [(s.name, s.needs) for s in spec.steps] == [
        ("prepare_node", []), ("classification_node", ["prepare_node"]), ("register_node", ["classification_node"])]


def test_steps_outside_a_pipeline_and_unknown_keywords_are_refused():
    from studio_client.automl import classification
    from studio_client.dsl import pipeline

    with pytest.raises(RuntimeError, match="a step can only be created inside a function decorated with @pipeline"):
        classification(target_column_name="y")

    @pipeline
    def broken(data):
        classification(training_data=data, target_column_name="y", n_cross_validation=3)

    with pytest.raises(TypeError, match="classification\\(\\) got an unexpected keyword argument 'n_cross_validation'"):
        broken(data="azureml:x@latest")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_snippet_runs_against_a_live_studio(team, celery_worker, live_server, tmp_path):
    from rest_framework.authtoken.models import Token

    from studio.registry.models import RegisteredModel

    table = tmp_path / "training-mltable-folder"
    table.mkdir()
    pd.read_csv(ROOT / "examples" / "data" / "bank_marketing_validation_data.csv").head(400).to_csv(
        table / "train.csv", index=False)
    (table / "MLTable").write_text("paths:\n  - file: ./train.csv\ntransformations:\n  - read_delimited: {}\n")
    token = Token.objects.create(user=team.bob)
    (tmp_path / "config.json").write_text(json.dumps({"url": live_server.url, "token": token.key}))
    (tmp_path / "snippet.py").write_text(SNIPPET + SUBMIT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STUDIO_CONFIG": str(tmp_path / "config.json")}
    out = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("dataset classification-train-data version 1: 400 rows, 21 columns")
    for step in ("prepare_node (prep)", "classification_node (automl)", "register_node (register)"):
        assert f"  step {step}: completed" in lines
    job_id = lines[-1].split()[1]
    assert lines[-1] == f"FINAL {job_id} completed"
    model = RegisteredModel.objects.get(workspace=team.workspace, name="bank-dsl")
    assert model.aliases.get(name="champion").version.version == 1
    from studio.pipelines.models import PipelineJob

    job = PipelineJob.objects.get(pk=int(job_id.split("/")[1]))
    assert yaml.safe_load(job.yaml)["experiment_name"] == "automl-in-pipeline"
    run = job.steps.get(name="classification_node").run
    assert run.config["limits"]["max_cores_per_trial"] == 1
    [trial] = run.trials.all()
    assert trial.algorithm == "LightGBM"
    import joblib

    from studio.experiments.services import trial_model_path

    # max_cores_per_trial=1 reached the learner (the engine's default on this machine is every core).
    learner = joblib.load(trial_model_path(trial)).steps[-1][1]
    learner = getattr(learner, "estimator", learner)  # a calibrated trial wraps its learner (calibration.py)
    assert learner.get_params()["n_jobs"] == 1
