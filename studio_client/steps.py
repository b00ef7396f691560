"""The studio's own step types for :mod:`studio_client.dsl` pipelines (the YAML step types of the same
names): ``prep`` (no-code data preparation), ``register`` (optionally only if better), ``deploy`` and
``command`` (a Python script run on a worker)."""
from __future__ import annotations

from typing import Any

from studio_client.dsl import Node, Output


def _outputs(outputs: dict[str, Any] | None) -> dict[str, Any] | None:
    if not outputs:
        return None
    return {name: ({"name": value.name} if isinstance(value, Output) and value.name else
                   value if isinstance(value, dict) else {}) for name, value in outputs.items()}


def prep(*, data: Any, operations: list[dict[str, Any]], outputs: dict[str, Any] | None = None) -> Node:
    """Prepare one dataset: ``operations`` as in the YAML (drop/keep/rename columns, filter, fill_missing,
    cast, derive, split); outputs ``output_data`` (or ``train_data``/``test_data`` after a split)."""
    return Node("prep", {"inputs": {"data": data}, "operations": list(operations), "outputs": _outputs(outputs)})


def register(*, model: Any, model_name: str, condition: dict[str, Any] | None = None,
             alias: str | None = None) -> Node:
    """Register an AutoML step's ``best_model`` as ``model_name``; ``condition`` may require a metric
    ``threshold`` or beating the version behind ``beat_alias``; ``alias`` moves to the new version."""
    return Node("register", {"inputs": {"model": model}, "model_name": model_name, "condition": condition,
                             "alias": alias})


def deploy(*, model: Any, endpoint_name: str, traffic_percent: int | None = None) -> Node:
    """Point endpoint ``endpoint_name`` at a register step's ``registered_model`` (creating it, or giving
    the new version ``traffic_percent`` of its traffic)."""
    return Node("deploy", {"inputs": {"model": model}, "endpoint_name": endpoint_name,
                           "traffic_percent": traffic_percent})


def command(*, script: str, inputs: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None,
            limits: dict[str, int] | None = None) -> Node:
    """Run a Python ``script`` on a worker: dataset inputs arrive as ``--NAME PATH`` (CSV), scalars as
    ``--NAME VALUE``, and each declared output is read back from ``outputs/NAME.csv``."""
    return Node("command", {"inputs": inputs, "script": script, "outputs": _outputs(outputs), "limits": limits})
