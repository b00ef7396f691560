"""Pipelines built in Python, in the shape of the Azure ML SDK v2 ``dsl`` (``@pipeline``), submitted to the
studio through its REST API. A decorated function's body creates steps; calling the function with inputs
gives a :class:`PipelineJob` whose YAML is exactly what ``studio job create --file`` would send::

    from studio_client import Input, MLClient, Output
    from studio_client.automl import classification
    from studio_client.dsl import pipeline
    from studio_client.steps import prep, register

    @pipeline(description="AutoML Classification Pipeline")
    def automl_classification(training_data, auc_threshold=0.9):
        prepare_node = prep(data=training_data, operations=[{"drop_columns": ["duration"]}])
        classification_node = classification(training_data=prepare_node.outputs.output_data,
                                             target_column_name="y", primary_metric="AUC_weighted",
                                             outputs={"best_model": Output(type="mlflow_model")})
        classification_node.set_limits(max_trials=4)
        register_node = register(model=classification_node.outputs.best_model, model_name="bank",
                                 condition={"metric": "AUC_weighted", "threshold": auc_threshold})

    pipeline_job = automl_classification(training_data=Input(type="mltable", path="./training-mltable-folder/"))
    pipeline_job.settings.default_compute = "cpu-cluster"          # accepted; the studio's workers run it
    returned = MLClient.from_config().jobs.create_or_update(pipeline_job, experiment_name="bank")

Steps are named after the local variables that hold them (``prepare_node``), as the Azure SDK names them;
a step held by no variable is named after its type. Local files and MLTable folders among the inputs are
uploaded as datasets on submission. Nothing here imports the studio or the engine: the studio checks the
YAML on submission and answers 400 naming the step and field of any problem.
"""
from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Input:
    """A pipeline or step input (Azure ``azure.ai.ml.Input``): ``type`` (``mltable``, ``uri_file``,
    ``uri_folder``, ``mlflow_model``, ...) and ``path``: ``azureml:NAME@latest``, ``azureml:NAME:VERSION``,
    or a local file or MLTable folder (uploaded on submission)."""

    type: str = "mltable"
    path: str | None = None
    mode: str | None = None  # Azure mount/download modes: nothing to choose here
    description: str | None = None

    def to_yaml(self) -> dict[str, Any]:
        return {"type": self.type, "path": self.path}


@dataclass
class Output:
    """A declared step output (Azure ``azure.ai.ml.Output``). Steps here always produce their outputs (an
    AutoML step's ``best_model`` is registered-model ready and downloadable as an MLflow folder), so it is
    accepted for the seed's ``outputs={"best_model": Output(type="mlflow_model")}`` and otherwise kept only
    for a prep or command step's dataset ``name``."""

    type: str = "uri_folder"
    path: str | None = None
    name: str | None = None
    mode: str | None = None


class Binding(str):
    """A reference to a pipeline input or a step output, written as the CLI v2 binding it stands for."""


class _Outputs:
    def __init__(self, node: "Node"):
        self._node = node

    def __getattr__(self, name: str) -> Binding:
        if name.startswith("_"):
            raise AttributeError(name)
        return Binding("${{parent.jobs.%s.outputs.%s}}" % (self._node.name_placeholder(), name))

    def __getitem__(self, name: str) -> Binding:
        return getattr(self, name)


class Node:
    """One step being built: its ``type`` and its YAML settings; ``outputs.NAME`` binds its outputs."""

    def __init__(self, type: str, config: dict[str, Any]):
        self.type, self.config, self.name = type, config, None
        self.outputs = _Outputs(self)
        _Builder.current().add(self)

    def name_placeholder(self) -> str:
        # The step's final name is known only when the pipeline function returns (its variable name), so a
        # binding refers to the node by identity until then.
        return self.name or f"__node_{id(self)}__"

    def to_yaml(self) -> dict[str, Any]:
        return {"type": self.type, **_plain(self.config)}


def _plain(value: Any) -> Any:
    """Settings as YAML values: Inputs become mappings, Outputs their declared name, bindings strings."""
    if isinstance(value, Input):
        return value.to_yaml()
    if isinstance(value, Output):
        return {"name": value.name} if value.name else {}
    if isinstance(value, Binding):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Builder:
    """The nodes created while one pipeline function runs (a stack: a pipeline may be built inside another's
    module import, never inside another pipeline function)."""

    stack: list["_Builder"] = []

    def __init__(self):
        self.nodes: list[Node] = []

    @classmethod
    def current(cls) -> "_Builder":
        if not cls.stack:
            raise RuntimeError("a step can only be created inside a function decorated with @pipeline")
        return cls.stack[-1]

    def add(self, node: Node) -> None:
        self.nodes.append(node)


@dataclass
class PipelineSettings:
    """``pipeline_job.settings``: ``default_compute`` is accepted (steps run on the studio's workers)."""

    default_compute: str | None = None
    continue_on_step_failure: bool | None = None
    default_datastore: str | None = None


@dataclass
class PipelineJob:
    """A pipeline built by a ``@pipeline`` function, ready to submit (``MLClient.jobs.create_or_update``)."""

    display_name: str
    description: str | None
    inputs: dict[str, Any]
    jobs: dict[str, Node]
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    experiment_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The CLI v2 pipeline YAML as a mapping."""
        data: dict[str, Any] = {"$schema": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
                                "type": "pipeline", "display_name": self.display_name}
        if self.description:
            data["description"] = self.description
        if self.experiment_name:
            data["experiment_name"] = self.experiment_name
        if self.settings.default_compute:
            data["settings"] = {"default_compute": self.settings.default_compute}
        data["inputs"] = _plain(self.inputs)
        data["jobs"] = {name: node.to_yaml() for name, node in self.jobs.items()}
        return data

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def pipeline(func: Callable | None = None, *, name: str | None = None, display_name: str | None = None,
             description: str | None = None, experiment_name: str | None = None, default_compute: str | None = None,
             tags: dict | None = None, **_azure_only: Any):
    """Decorate a function whose body creates steps; calling it returns a :class:`PipelineJob`. Its
    parameters are the pipeline's inputs (PipelineParameters): those given an :class:`Input` are data, the
    others scalars (their defaults too), all overridable at submission."""

    def decorate(function: Callable) -> Callable[..., PipelineJob]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def build(*args: Any, **kwargs: Any) -> PipelineJob:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            missing = [k for k, v in bound.arguments.items() if v is inspect.Parameter.empty]
            if missing:
                raise TypeError(f"{function.__name__}() needs a value for {missing}")
            inputs = dict(bound.arguments)
            placeholders = {k: Binding("${{parent.inputs.%s}}" % k) for k in inputs}
            builder = _Builder()
            _Builder.stack.append(builder)
            try:
                names = _call_naming_locals(function, placeholders)
            finally:
                _Builder.stack.pop()
            jobs = _name_nodes(builder.nodes, names)
            job = PipelineJob(display_name=display_name or name or function.__name__, description=description,
                              inputs=inputs, jobs=jobs, experiment_name=experiment_name, tags=dict(tags or {}))
            job.settings.default_compute = default_compute
            return job

        return build

    return decorate(func) if func is not None else decorate


def _call_naming_locals(function: Callable, kwargs: dict[str, Any]) -> dict[int, str]:
    """Run ``function`` and return ``id(node) -> local variable name`` from its frame as it returns (the
    Azure SDK names steps the same way)."""
    names: dict[int, str] = {}

    def profiler(frame, event, _arg):
        if event == "return" and frame.f_code is function.__code__:
            for variable, value in frame.f_locals.items():
                if isinstance(value, Node) and id(value) not in names:
                    names[id(value)] = variable

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        function(**kwargs)
    finally:
        sys.setprofile(previous)
    return names


def _name_nodes(nodes: list[Node], names: dict[int, str]) -> dict[str, Node]:
    jobs: dict[str, Node] = {}
    for node in nodes:
        base = names.get(id(node)) or node.type
        node.name = base if base not in jobs else next(f"{base}_{i}" for i in range(2, 1000) if f"{base}_{i}" not in jobs)
        jobs[node.name] = node
    placeholders = {f"__node_{id(node)}__": node.name for node in nodes}

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            for placeholder, real in placeholders.items():
                value = value.replace(placeholder, real)
            return Binding(value) if "${{" in value else value
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    for node in nodes:
        node.config = rename(node.config)
    return jobs
