"""Pipeline templates the "New pipeline" page fills in: YAML in CLI v2 shape that the user can edit."""
from __future__ import annotations

TEMPLATES = {
    "prepare-train-register": "prepare → train → register",
    "prepare-train-register-if-better": "prepare → train → register if better than champion",
    "prepare-train-register-if-better-deploy": "prepare → train → register if better → deploy",
}


def render_template(key: str, *, dataset: str, target: str, task: str = "classification",
                    metric: str = "AUC_weighted", threshold: float = 0.9, model_name: str = "my-model",
                    drop_columns: list[str] | None = None, max_trials: int = 4, timeout_minutes: float = 10,
                    forecasting: dict | None = None) -> str:
    """The YAML of template ``key`` for a dataset and target; a forecasting task gets a ``forecasting:``
    block from ``forecasting`` (time column, series id columns, horizon); a missing one is written as a
    ``CHOOSE_...`` placeholder that submission refuses by name."""
    if key not in TEMPLATES:
        raise KeyError(key)
    forecast = ""
    if task == "forecasting":
        settings = forecasting or {}
        forecast = f"    forecasting:\n      time_column_name: {settings.get('time_column_name') or 'CHOOSE_A_DATE_COLUMN'}\n"
        if settings.get("time_series_id_column_names"):
            forecast += f"      time_series_id_column_names: [{', '.join(settings['time_series_id_column_names'])}]\n"
        forecast += f"      forecast_horizon: {settings.get('forecast_horizon') or 'CHOOSE_A_HORIZON'}\n"
    drop = ", ".join(drop_columns or [])
    operations = (f"      - drop_columns: [{drop}]\n" if drop else "") + \
        f"      - filter: \"notnull({target})\"\n"
    condition = (f"      metric: {metric}\n      threshold: ${{{{parent.inputs.threshold}}}}\n"
                 if key == "prepare-train-register" else
                 f"      metric: {metric}\n      beat_alias: champion\n")
    deploy = (f"""  deploy:
    type: deploy
    inputs:
      model: ${{{{parent.jobs.register.outputs.registered_model}}}}
    endpoint_name: {model_name}-ep
    traffic_percent: 100
""" if key.endswith("-deploy") else "")
    return f"""$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: {model_name}-pipeline
settings:
  default_compute: azureml:cpu-cluster   # accepted; steps run on the studio's workers
inputs:
  training_data:
    type: mltable
    path: azureml:{dataset}@latest
  threshold: {threshold}
jobs:
  prepare:
    type: prep
    inputs:
      data: ${{{{parent.inputs.training_data}}}}
    operations:
{operations}    outputs:
      prepared_data:
        name: {dataset}-prepared
  train:
    type: automl
    task: {task}
    primary_metric: {metric}
    target_column_name: {target}
    training_data: ${{{{parent.jobs.prepare.outputs.prepared_data}}}}
{forecast}    limits:
      timeout_minutes: {timeout_minutes}
      max_trials: {max_trials}
    training:
      enable_model_explainability: false
  register:
    type: register
    inputs:
      model: ${{{{parent.jobs.train.outputs.best_model}}}}
    model_name: {model_name}
    condition:
{condition}    alias: champion
{deploy}"""
