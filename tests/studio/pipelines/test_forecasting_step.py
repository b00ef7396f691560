"""An automl step may be a forecasting job: its `forecasting:` block is checked by name when the YAML is
read, against the data (with the wizard's messages) when the step launches its run, and the run it launches
is a forecasting run with those settings."""
import pytest

from studio.experiments.models import Run
from studio.pipelines import services
from studio.pipelines.models import PipelineStep
from studio.pipelines.spec import PipelineSpecError, parse_pipeline

pytestmark = pytest.mark.django_db

FORECAST = """
type: pipeline
inputs:
  sales: {type: mltable, path: "azureml:oj-sales@latest"}
jobs:
  train:
    type: automl
    task: forecasting
    primary_metric: normalized_root_mean_squared_error
    target_column_name: Quantity
    training_data: "${{parent.inputs.sales}}"
    forecasting: %s
    limits: {timeout_minutes: 2, max_trials: 2}
  register:
    type: register
    inputs: {model: "${{parent.jobs.train.outputs.best_model}}"}
    model_name: oj-forecaster
    condition: {metric: normalized_root_mean_squared_error, threshold: 0.5}
"""
GOOD = "{time_column_name: WeekStarting, time_series_id_column_names: [Store, Brand], forecast_horizon: 8}"


def test_the_forecasting_block_is_checked_when_the_yaml_is_read():
    assert parse_pipeline(FORECAST % GOOD).steps[0].config["forecasting"]["forecast_horizon"] == 8
    with pytest.raises(PipelineSpecError) as info:
        parse_pipeline(FORECAST % "{forecast_horizon: 8}")
    assert info.value.errors == {"jobs.train.forecasting": "a forecasting step needs forecasting: {time_column_name: "
                                                           "..., forecast_horizon: ...} (time_series_id_column_names "
                                                           "for several series)"}
    with pytest.raises(PipelineSpecError) as info:
        parse_pipeline(FORECAST % "{time_column_name: WeekStarting, horizon: 8}")
    assert list(info.value.errors) == ["jobs.train.forecasting.horizon"]
    assert info.value.errors["jobs.train.forecasting.horizon"].startswith("'horizon' is not a forecast setting; use "
                                                                          "one of ['time_column_name', ")
    classification = FORECAST.replace("task: forecasting", "task: classification") % GOOD
    with pytest.raises(PipelineSpecError) as info:
        parse_pipeline(classification)
    assert info.value.errors["jobs.train.forecasting"] == (
        "forecast settings apply to task forecasting only; remove the block or write task: forecasting (the step's "
        "task is 'classification')")


def _launch(team, text):
    job = services.submit_pipeline(team.workspace, team.bob, text)
    services.advance_pipeline(job.pk)
    step = job.steps.get(name="train")
    services.run_step(step.pk)
    step.refresh_from_db()
    return step


def test_a_forecasting_step_launches_a_forecasting_run_with_its_settings(team, make_version):
    make_version("dominicks_OJ_2_5_8_train.csv", name="oj-sales")
    step = _launch(team, FORECAST % GOOD)
    assert step.status == "running", step.error
    run = Run.objects.get(pk=step.run_id)
    assert run.task == "forecasting" and run.primary_metric == "normalized_root_mean_squared_error"
    settings = run.config["forecasting"]
    assert (settings["time_column_name"], settings["time_series_id_column_names"], settings["forecast_horizon"]) == (
        "WeekStarting", ["Store", "Brand"], 8)
    assert run.config["target_column_name"] == "Quantity"


def test_forecast_settings_the_data_refuses_fail_the_step_with_the_wizards_message(team, make_version):
    make_version("dominicks_OJ_2_5_8_train.csv", name="oj-sales")
    step = _launch(team, FORECAST % "{time_column_name: Price, forecast_horizon: 8}")
    assert step.status == "failed" and step.run_id is None
    assert step.error.startswith("forecasting.time_column_name: 'Price' is numeric, not a date/time column")
    assert PipelineStep.objects.get(job=step.job, name="register").status == "waiting"


def test_the_new_pipeline_page_fills_a_forecasting_template(team, make_version, client_for):
    import html
    import re

    import yaml

    make_version("dominicks_OJ_2_5_8_train.csv", name="oj-sales")
    bob = client_for(team.bob)
    page = bob.get("/pipelines/new/", {"template": "prepare-train-register", "dataset": "oj-sales",
                                        "target": "Quantity", "task": "forecasting", "time_column": "WeekStarting",
                                        "series_columns": "Store, Brand", "horizon": "8", "threshold": "0.5",
                                        "model_name": "oj"}).content.decode()
    text = html.unescape(re.search(r'<textarea[^>]*id="yaml"[^>]*>(.*?)</textarea>', page, re.S).group(1))
    train = yaml.safe_load(text)["jobs"]["train"]
    assert (train["task"], train["primary_metric"]) == ("forecasting", "normalized_root_mean_squared_error")
    assert train["forecasting"] == {"time_column_name": "WeekStarting", "time_series_id_column_names": ["Store", "Brand"],
                                    "forecast_horizon": 8}
    r = bob.post("/pipelines/new/", {"yaml": text})
    assert r.status_code == 302
    job = PipelineStep.objects.get(name="train", job__created_by=team.bob).job
    assert r["Location"] == f"/pipelines/jobs/{job.pk}/"
    empty = bob.get("/pipelines/new/", {"template": "prepare-train-register", "dataset": "oj-sales",
                                         "target": "Quantity", "task": "forecasting"}).content.decode()
    text = html.unescape(re.search(r'<textarea[^>]*id="yaml"[^>]*>(.*?)</textarea>', empty, re.S).group(1))
    refused = bob.post("/pipelines/new/", {"yaml": text}).content.decode()
    assert "<code>jobs.train.forecasting.forecast_horizon</code>: &#x27;CHOOSE_A_HORIZON&#x27; is not a positive " \
           "integer; give the number of periods to forecast" in refused
    assert "<code>jobs.train.forecasting.time_column_name</code>: name the date/time column of the training " \
           "data" in refused
