"""Pipeline YAML is checked before anything runs; every error names the step and the field."""
from pathlib import Path

import pytest

from studio.pipelines.spec import PipelineSpecError, parse_pipeline, resolve

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = (ROOT / "examples" / "pipelines" / "bank_marketing.yml").read_text()


def _errors(text: str, **overrides) -> dict:
    with pytest.raises(PipelineSpecError) as info:
        parse_pipeline(text, overrides or None)
    return info.value.errors


def test_the_bank_marketing_example_parses_into_an_ordered_dag():
    spec = parse_pipeline(EXAMPLE)
    assert [(s.name, s.type, s.needs) for s in spec.steps] == [
        ("prepare", "prep", []), ("train", "automl", ["prepare"]), ("register", "register", ["train"])]
    assert spec.inputs["auc_threshold"] == 0.9
    assert spec.notes == ["settings.default_compute='azureml:cpu-cluster' accepted and ignored: steps run on the "
                          "studio's workers"]
    assert parse_pipeline(EXAMPLE, {"auc_threshold": 0.95}).inputs["auc_threshold"] == 0.95
    register = spec.steps[2].config
    assert resolve(register["condition"], {"auc_threshold": 0.8}, {}) == {"metric": "AUC_weighted", "threshold": 0.8}


def test_errors_name_the_step_and_the_field():
    assert _errors(EXAMPLE.replace("${{parent.jobs.prepare.outputs.prepared_data}}",
                                   "${{parent.jobs.prepare.outputs.cleaned}}")) == {
        "jobs.train.training_data": "step 'prepare' has no output 'cleaned'; its outputs are ['prepared_data']"}
    assert _errors(EXAMPLE.replace("${{parent.jobs.train.outputs.best_model}}", "${{parent.jobs.trian.outputs.x}}")
                   ) == {"jobs.register.inputs.model": "there is no step 'trian'; steps are ['prepare', 'register', "
                                                      "'train']"}
    assert "jobs.train.training_data" in _errors(EXAMPLE.replace("${{parent.jobs.prepare.outputs.prepared_data}}",
                                                                 "prepare.prepared_data ${{x}}"))
    errors = _errors(EXAMPLE.replace("type: automl", "type: automl\n    max_trials: 3"))
    assert errors == {"jobs.train.max_trials": "unknown key for a automl step; known: ['task', 'primary_metric', "
                                               "'target_column_name', 'training_data', 'validation_data', 'test_data',"
                                               " 'n_cross_validations', 'validation_data_size', 'test_data_size', "
                                               "'weight_column_name', 'positive_label', 'limits', 'training', "
                                               "'featurization', 'forecasting', 'inputs', 'outputs']"}
    assert _errors(EXAMPLE.replace("type: register", "type: script")) == {
        "jobs.register.type": "'script' is not a step type; use one of ['prep', 'automl', 'register', 'deploy', "
                              "'command']"}
    assert _errors(EXAMPLE.replace("filter: \"age >= 18 and notnull(y)\"", "filter: \"age.__class__\"")) == {
        "jobs.prepare.operations[0].filter": "Attribute is not allowed in an expression; use columns, numbers, "
                                             "strings, arithmetic, comparisons, and/or/not, in [...] and ['abs', "
                                             "'isnull', 'log', 'notnull', 'round', 'sqrt']"}
    assert _errors(EXAMPLE, threshold=1) == {"inputs.threshold": "the pipeline has no input 'threshold'; its inputs "
                                                                 "are ['auc_threshold', 'training_data']"}
    assert _errors("type: automl\njobs: {}") == {
        "type": "must be 'pipeline' (got 'automl'); an AutoML job alone is 'type: automl' and goes to "
                "/api/v1/experiments/",
        "jobs": "a pipeline needs jobs: a mapping of step name to step"}
    assert _errors("type: pipeline\njobs: [") == {"yaml": _errors("type: pipeline\njobs: [")["yaml"]}


def test_a_cycle_is_refused():
    text = """
type: pipeline
jobs:
  a: {type: register, inputs: {model: "${{parent.jobs.b.outputs.registered_model}}"}, model_name: m}
  b: {type: register, inputs: {model: "${{parent.jobs.a.outputs.registered_model}}"}, model_name: m}
"""
    assert _errors(text) == {"jobs": "steps ['a', 'b'] depend on each other in a cycle; a pipeline is a DAG"}


@pytest.mark.parametrize("key", ["prepare-train-register", "prepare-train-register-if-better",
                                 "prepare-train-register-if-better-deploy"])
def test_every_template_parses(key):
    from studio.pipelines.templates import render_template

    spec = parse_pipeline(render_template(key, dataset="bank", target="y", model_name="bank-marketing"))
    names = [s.name for s in spec.steps]
    assert names == ["prepare", "train", "register"] + (["deploy"] if key.endswith("deploy") else [])
    if key.endswith("deploy"):
        assert spec.steps[3].config["endpoint_name"] == "bank-marketing-ep" and spec.steps[3].needs == ["register"]


def test_deploy_step_fields_are_checked():
    text = EXAMPLE + """  deploy:
    type: deploy
    inputs: {model: "${{parent.jobs.register.outputs.registered_model}}"}
    traffic_percent: 150
"""
    assert _errors(text) == {
        "jobs.deploy.endpoint_name": "name the endpoint to create or update (e.g. endpoint_name: bank-ep)",
        "jobs.deploy.traffic_percent": "150: the new version's share of the traffic, a whole number from 1 to 100 "
                                       "(100: all of it; less: a challenger)"}


def test_command_step_fields_are_checked():
    text = """
type: pipeline
jobs:
  run:
    type: command
    script: |
      print(
    limits: {cpu_seconds: 0, gpus: 1}
"""
    assert _errors(text) == {"jobs.run.script": "line 1: '(' was never closed",
                             "jobs.run.limits.cpu_seconds": "0 is not a whole number of at least 1",
                             "jobs.run.limits.gpus": "unknown limit; use ['cpu_seconds', 'memory_mb', 'wall_seconds']"}
