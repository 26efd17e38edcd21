"""Tasks by name: `tasks.make("hardmaze", episode_length=500)`."""
from __future__ import annotations

import dataclasses
from typing import Callable, TypeVar

from tasks.base import SparseRewardTask

_TASKS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: registers a task class under `name`.

    The class must define a frozen dataclass `Config` of its settings and take
    one instance of it in `__init__`.
    """

    def wrap(cls: T) -> T:
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"task class {cls.__name__} needs a dataclass `Config`")
        _TASKS[name] = cls
        return cls

    return wrap


def names() -> list[str]:
    """The registered task names, sorted."""
    _import_builtin()
    return sorted(_TASKS)


def task_class(name: str) -> type:
    """The class registered under `name`.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    _import_builtin()
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def make_config(name: str, **overrides):
    """The task's default `Config` with `overrides` applied.

    Raises:
        ValueError: unknown task or unknown field; the message lists the valid ones.
    """
    cls = task_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(map(repr, unknown))} for task {name!r}; "
            f"valid fields: {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(cls.Config(), **overrides)


def make(name: str, **overrides) -> SparseRewardTask:
    """Builds the task `name` with its default settings and `overrides`.

    Args:
        name: a registered task name (see `names()`).
        **overrides: fields of the task's `Config` to change.

    Returns:
        The task, a Brax `Env`.

    Raises:
        ValueError: unknown task, unknown field, or an invalid value.
    """
    return task_class(name)(make_config(name, **overrides))


def _import_builtin() -> None:
    # Importing the modules runs their @register decorators.
    from tasks import curling, hardmaze, redundant_arm  # noqa: F401
