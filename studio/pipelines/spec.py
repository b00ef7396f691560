"""Pipeline YAML in the shape of Azure ML CLI v2 pipeline jobs, parsed and checked before anything runs.

::

    type: pipeline
    settings: {default_compute: azureml:cpu-cluster}     # accepted; steps run on the studio's workers
    inputs:
      training_data: {type: mltable, path: azureml:bank_marketing@latest}
      threshold: 0.9
    jobs:
      prepare:
        type: prep
        inputs: {data: ${{parent.inputs.training_data}}}
        operations: [{drop_columns: [duration]}]
        outputs: {prepared_data: {name: bank_prepared}}
      train:
        type: automl
        task: classification
        training_data: ${{parent.jobs.prepare.outputs.prepared_data}}
        ...
      register:
        type: register
        inputs: {model: ${{parent.jobs.train.outputs.best_model}}}
        model_name: bank-marketing
        condition: {metric: AUC_weighted, threshold: ${{parent.inputs.threshold}}}

Every problem is reported with the path of the field (``jobs.train.training_data``) and what to write
instead. Bindings are whole values: ``${{parent.inputs.NAME}}`` or ``${{parent.jobs.STEP.outputs.NAME}}``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

STEP_TYPES = ("prep", "automl", "register", "deploy", "command")
BINDING = re.compile(r"^\$\{\{\s*parent\.(inputs\.(?P<input>[A-Za-z_][\w-]*)|jobs\.(?P<step>[A-Za-z_][\w-]*)"
                     r"\.outputs\.(?P<output>[A-Za-z_][\w-]*))\s*\}\}$")
ANY_BINDING = re.compile(r"\$\{\{.*?\}\}")
# Keys of the CLI v2 schema about Azure compute, naming or tracking: accepted, nothing to do here.
IGNORED_PIPELINE_KEYS = ("$schema", "display_name", "experiment_name", "description", "tags", "name", "compute",
                         "identity", "properties")
IGNORED_STEP_KEYS = ("$schema", "display_name", "description", "tags", "compute", "name", "resources",
                     "environment", "identity", "experiment_name", "log_verbosity")
AUTOML_KEYS = ("task", "primary_metric", "target_column_name", "training_data", "validation_data", "test_data",
               "n_cross_validations", "validation_data_size", "test_data_size", "weight_column_name",
               "positive_label", "limits", "training", "featurization", "forecasting", "inputs", "outputs")
AUTOML_TASKS = ("classification", "regression", "forecasting")
PREP_KEYS = ("inputs", "operations", "outputs")
REGISTER_KEYS = ("inputs", "model_name", "condition", "alias", "outputs")
DEPLOY_KEYS = ("inputs", "endpoint_name", "traffic_percent", "outputs")
COMMAND_KEYS = ("inputs", "script", "limits", "outputs")
COMMAND_LIMITS = ("cpu_seconds", "memory_mb", "wall_seconds")
STEP_OUTPUTS = {"prep": ("output_data",), "automl": ("best_model", "metrics"), "register": ("registered_model",),
                "deploy": ("endpoint",), "command": ()}


class PipelineSpecError(ValueError):
    """Invalid pipeline YAML: ``errors`` maps a field path (``jobs.train.limits``) to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class StepSpec:
    name: str
    type: str
    config: dict[str, Any]                      # the step's YAML without the ignored keys
    needs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class PipelineSpec:
    inputs: dict[str, Any]
    steps: list[StepSpec]                       # in an order where every step comes after the ones it needs
    experiment_name: str = ""
    display_name: str = ""
    notes: list[str] = field(default_factory=list)


def parse_pipeline(text: str, overrides: dict[str, Any] | None = None) -> PipelineSpec:
    """Parse and check pipeline YAML; ``overrides`` replace input values (PipelineParameter at submit)."""
    errors: dict[str, str] = {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineSpecError({"yaml": f"not valid YAML: {exc}"}) from None
    if not isinstance(data, dict):
        raise PipelineSpecError({"yaml": "a pipeline is a mapping with type: pipeline, inputs and jobs"})
    if data.get("type") != "pipeline":
        errors["type"] = f"must be 'pipeline' (got {data.get('type')!r}); an AutoML job alone is 'type: automl' " \
                         "and goes to /api/v1/experiments/"
    known = set(IGNORED_PIPELINE_KEYS) | {"type", "inputs", "outputs", "jobs", "settings"}
    for key in sorted(set(data) - known):
        errors[key] = f"unknown key; a pipeline has {sorted(known - set(IGNORED_PIPELINE_KEYS))}"
    notes = []
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        errors["settings"] = "must be a mapping (e.g. default_compute: azureml:cpu-cluster)"
    else:
        for key, value in settings.items():
            if key in ("default_compute", "default_datastore", "continue_on_step_failure", "force_rerun"):
                notes.append(f"settings.{key}={value!r} accepted and ignored: steps run on the studio's workers")
            else:
                errors[f"settings.{key}"] = "unknown setting; known: default_compute, default_datastore, " \
                                            "continue_on_step_failure, force_rerun"
    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict):
        errors["inputs"] = "must be a mapping of input name to value or {type, path}"
        inputs = {}
    inputs = dict(inputs)
    for name, value in (overrides or {}).items():
        if name not in inputs:
            errors[f"inputs.{name}"] = f"the pipeline has no input {name!r}; its inputs are {sorted(inputs)}"
        elif isinstance(inputs[name], dict) and not isinstance(value, dict):
            inputs[name] = {**inputs[name], "path": value}
        else:
            inputs[name] = value
    for name, value in inputs.items():
        if isinstance(value, dict):
            if "path" not in value and "default" not in value and "value" not in value:
                errors[f"inputs.{name}"] = "a data input needs path: (a dataset as azureml:name@latest or " \
                                           "azureml:name:version)"
            else:
                inputs[name] = value if "path" in value else value.get("default", value.get("value"))
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        errors["jobs"] = "a pipeline needs jobs: a mapping of step name to step"
        raise PipelineSpecError(errors)
    steps = []
    for name, job in jobs.items():
        where = f"jobs.{name}"
        if not re.fullmatch(r"[A-Za-z_][\w-]*", str(name)):
            errors[where] = "a step name is letters, digits, _ and -, starting with a letter"
            continue
        if not isinstance(job, dict):
            errors[where] = "a step is a mapping with a type"
            continue
        kind = job.get("type")
        if kind not in STEP_TYPES:
            hint = ""
            errors[f"{where}.type"] = f"{kind!r} is not a step type; use one of {list(STEP_TYPES)}{hint}"
            continue
        allowed = {"prep": PREP_KEYS, "automl": AUTOML_KEYS, "register": REGISTER_KEYS, "deploy": DEPLOY_KEYS,
                   "command": COMMAND_KEYS}[kind]
        config = {}
        for key, value in job.items():
            if key == "type" or key in IGNORED_STEP_KEYS:
                continue
            if key not in allowed:
                errors[f"{where}.{key}"] = f"unknown key for a {kind} step; known: {list(allowed)}"
                continue
            config[key] = value
        step = StepSpec(name=str(name), type=kind, config=config)
        declared = config.get("outputs") or {}
        if not isinstance(declared, dict):
            errors[f"{where}.outputs"] = "must be a mapping of output name to settings"
            declared = {}
        if kind == "command":
            step.outputs = list(declared)
        elif kind == "prep":
            split = any(isinstance(op, dict) and "split" in op for op in config.get("operations") or [])
            step.outputs = list(declared) or (["train_data", "test_data"] if split else ["output_data"])
            if split and len(step.outputs) != 2:
                errors[f"{where}.outputs"] = "a prep step with a split has two outputs (train, then test)"
        else:
            step.outputs = list(STEP_OUTPUTS[kind])
            for out in declared:
                if out not in STEP_OUTPUTS[kind]:
                    errors[f"{where}.outputs.{out}"] = f"a {kind} step's outputs are {list(STEP_OUTPUTS[kind])}"
        steps.append(step)
    by_name = {s.name: s for s in steps}
    for step in steps:
        for path, value in _walk(step.config, f"jobs.{step.name}"):
            if not isinstance(value, str) or "${{" not in value:
                continue
            match = BINDING.match(value.strip())
            if not match:
                errors[path] = f"{value!r} is not a binding; use ${{{{parent.inputs.NAME}}}} or " \
                               "${{parent.jobs.STEP.outputs.NAME}} as the whole value"
            elif match["input"]:
                if match["input"] not in inputs:
                    errors[path] = f"the pipeline has no input {match['input']!r}; its inputs are {sorted(inputs)}"
            else:
                other = by_name.get(match["step"])
                if other is None:
                    errors[path] = f"there is no step {match['step']!r}; steps are {sorted(by_name)}"
                elif match["output"] not in other.outputs:
                    errors[path] = f"step {other.name!r} has no output {match['output']!r}; its outputs are " \
                                   f"{other.outputs}"
                elif other.name == step.name:
                    errors[path] = "a step cannot use its own output"
                elif other.name not in step.needs:
                    step.needs.append(other.name)
    _check_step_fields(steps, errors)
    ordered = _topological(steps, errors)
    if errors:
        raise PipelineSpecError(errors)
    return PipelineSpec(inputs=inputs, steps=ordered, experiment_name=str(data.get("experiment_name") or ""),
                        display_name=str(data.get("display_name") or ""), notes=notes)


def _check_step_fields(steps: list[StepSpec], errors: dict[str, str]) -> None:
    from studio.pipelines.prep import PrepError, check_operations

    for step in steps:
        where = f"jobs.{step.name}"
        c = step.config
        if step.type == "prep":
            if not isinstance(c.get("inputs"), dict) or "data" not in c["inputs"]:
                errors[f"{where}.inputs.data"] = "a prep step reads one dataset: inputs: {data: ${{parent.inputs.X}}}"
            try:
                check_operations(c.get("operations"))
            except PrepError as exc:
                errors[f"{where}.operations{exc.where}"] = exc.message
        elif step.type == "automl":
            for key in ("task", "target_column_name", "training_data"):
                if c.get(key) in (None, ""):
                    errors[f"{where}.{key}"] = f"an automl step needs {key}"
            if c.get("task") not in (None, *AUTOML_TASKS):
                errors[f"{where}.task"] = f"{c['task']!r} is not a task; use one of {list(AUTOML_TASKS)}"
            _check_forecasting(c, where, errors)
        elif step.type == "command":
            if not isinstance(c.get("script"), str) or not c["script"].strip():
                errors[f"{where}.script"] = "the Python source to run (script: |, then the code indented)"
            else:
                try:
                    compile(c["script"], f"{step.name}.py", "exec")
                except SyntaxError as exc:
                    errors[f"{where}.script"] = f"line {exc.lineno}: {exc.msg}"
            if c.get("inputs") is not None and not isinstance(c["inputs"], dict):
                errors[f"{where}.inputs"] = "a mapping of input name to a dataset binding"
            limits = c.get("limits") or {}
            if not isinstance(limits, dict):
                errors[f"{where}.limits"] = f"a mapping with {list(COMMAND_LIMITS)}"
            else:
                for key, value in limits.items():
                    if key not in COMMAND_LIMITS:
                        errors[f"{where}.limits.{key}"] = f"unknown limit; use {list(COMMAND_LIMITS)}"
                    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        errors[f"{where}.limits.{key}"] = f"{value!r} is not a whole number of at least 1"
        elif step.type == "deploy":
            if not isinstance(c.get("inputs"), dict) or "model" not in c["inputs"]:
                errors[f"{where}.inputs.model"] = "a deploy step takes a register step's model: " \
                                                  "inputs: {model: ${{parent.jobs.register.outputs.registered_model}}}"
            if not c.get("endpoint_name"):
                errors[f"{where}.endpoint_name"] = "name the endpoint to create or update (e.g. endpoint_name: bank-ep)"
            share = c.get("traffic_percent", 100)
            if isinstance(share, bool) or not isinstance(share, int) or not 1 <= share <= 100:
                errors[f"{where}.traffic_percent"] = f"{share!r}: the new version's share of the traffic, a whole " \
                                                     "number from 1 to 100 (100: all of it; less: a challenger)"
        else:
            if not isinstance(c.get("inputs"), dict) or "model" not in c["inputs"]:
                errors[f"{where}.inputs.model"] = "a register step takes the automl step's best model: " \
                                                  "inputs: {model: ${{parent.jobs.train.outputs.best_model}}}"
            if not c.get("model_name"):
                errors[f"{where}.model_name"] = "name the registered model (e.g. model_name: bank-marketing)"
            condition = c.get("condition") or {}
            if not isinstance(condition, dict):
                errors[f"{where}.condition"] = "a mapping: {metric: AUC_weighted, threshold: 0.9, beat_alias: champion}"
            else:
                for key in sorted(set(condition) - {"metric", "threshold", "beat_alias"}):
                    errors[f"{where}.condition.{key}"] = "unknown; use metric, threshold and/or beat_alias"
                threshold = condition.get("threshold")
                if threshold is not None and not isinstance(threshold, (int, float)) and not (
                        isinstance(threshold, str) and BINDING.match(threshold.strip())):
                    errors[f"{where}.condition.threshold"] = f"{threshold!r} is not a number"


def _check_forecasting(config: dict, where: str, errors: dict[str, str]) -> None:
    """An automl step's ``forecasting:`` block (the SDK v2 ``set_forecast_settings`` names): a mapping of
    known settings, required for ``task: forecasting`` and refused for the other tasks. Its values are checked
    against the data when the step launches its run, with the same messages as the studio's wizard."""
    from studio.experiments.forecasting import setting_names

    block, task = config.get("forecasting"), config.get("task")
    if task != "forecasting":
        if block not in (None, {}):
            errors[f"{where}.forecasting"] = (f"forecast settings apply to task forecasting only; remove the block "
                                              f"or write task: forecasting (the step's task is {task!r})")
        return
    if not isinstance(block, dict) or not block.get("time_column_name"):
        errors[f"{where}.forecasting"] = ("a forecasting step needs forecasting: {time_column_name: ..., "
                                          "forecast_horizon: ...} (time_series_id_column_names for several "
                                          "series)")
        return
    known = setting_names()
    for key in block:
        if key not in known:
            errors[f"{where}.forecasting.{key}"] = f"{key!r} is not a forecast setting; use one of {known}"
    horizon = block.get("forecast_horizon")
    if horizon is not None and not ANY_BINDING.search(str(horizon)) and (
            not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1):
        errors[f"{where}.forecasting.forecast_horizon"] = (f"{horizon!r} is not a positive integer; give the number "
                                                           "of periods to forecast")
    if str(block["time_column_name"]).startswith("CHOOSE_"):
        errors[f"{where}.forecasting.time_column_name"] = "name the date/time column of the training data"


def _walk(value: Any, path: str):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def _topological(steps: list[StepSpec], errors: dict[str, str]) -> list[StepSpec]:
    done: list[StepSpec] = []
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if all(n in {d.name for d in done} for n in s.needs)]
        if not ready:
            names = sorted(s.name for s in remaining)
            errors["jobs"] = f"steps {names} depend on each other in a cycle; a pipeline is a DAG"
            return done + remaining
        done.extend(ready)
        remaining = [s for s in remaining if s not in ready]
    return done


def resolve(value: Any, inputs: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    """``value`` with every binding replaced: pipeline inputs from ``inputs``, step outputs from
    ``outputs[step][name]``."""
    if isinstance(value, dict):
        return {k: resolve(v, inputs, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, inputs, outputs) for v in value]
    if isinstance(value, str):
        match = BINDING.match(value.strip())
        if match and match["input"]:
            return inputs[match["input"]]
        if match:
            return outputs[match["step"]][match["output"]]
    return value
