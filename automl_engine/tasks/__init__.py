"""The task registry: :func:`get_task` maps ``config.task`` to its :class:`Task` object.

Adding a task means adding one module with a :class:`Task` subclass, registering an instance here (or with
:func:`register_task` from user code) and registering its algorithm plugins for ``Task.name``."""
from __future__ import annotations

from ..errors import ConfigError
from .base import PreparedRun, ScoringContext, Task
from .classification import ClassificationTask
from .forecasting import ForecastingTask
from .regression import RegressionTask
from .splits import HoldoutSplitter, KFoldSplitter, PredefinedHoldout, Splits, make_splits

_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make ``task`` available as ``config.task == task.name``. A task defined outside the engine is
    imported by trial workers from the module its class is defined in (see docs/tasks.md)."""
    if not task.name or not task.primary_metrics or task.default_primary_metric not in task.primary_metrics:
        raise ValueError(f"{type(task).__name__}: a task needs a name, primary_metrics and a "
                         "default_primary_metric among them")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task called ``name``; a :class:`ConfigError` on ``task`` naming the known ones otherwise."""
    task = _TASKS.get(name) if isinstance(name, str) else None
    if task is None:
        raise ConfigError("task", f"unknown task {name!r}; use one of {task_names()}")
    return task


def task_names() -> list[str]:
    return list(_TASKS)


register_task(ClassificationTask())
register_task(RegressionTask())
register_task(ForecastingTask())

__all__ = ["ClassificationTask", "ForecastingTask", "HoldoutSplitter", "KFoldSplitter", "PredefinedHoldout", "PreparedRun",
           "RegressionTask", "ScoringContext", "Splits", "Task", "get_task", "make_splits", "register_task",
           "task_names"]
