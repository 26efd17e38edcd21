"""Registries by name, shared by tasks, representations and algorithms, and
the registry of tasks: `tasks.make("hardmaze", episode_length=500)`."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

from tasks.base import SparseRewardTask

V = TypeVar("V")


class Registry(Generic[V]):
    """Values by name; the built-in modules register themselves on import.

    Args:
        kind: what is registered, for messages ("task", "algorithm", ...).
        builtin: modules to import before the first look-up. A module that
            fails to import is an error (never silently skipped): a registry
            that lists fewer entries than it should misleads the user.
    """

    def __init__(self, kind: str, builtin: Iterable[str] = ()):
        self.kind = kind
        self._builtin = tuple(builtin)
        self._entries: dict[str, V] = {}
        self._loaded = False

    def add(self, name: str, value: V) -> V:
        """Registers `value` under `name` (a later registration replaces it)."""
        self._entries[name] = value
        return value

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> V:
        """The value registered under `name`.

        Raises:
            ValueError: unknown name; the message lists the valid ones.
        """
        self._load()
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}")
        return self._entries[name]

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._builtin:
                importlib.import_module(module)


TASKS: Registry[type] = Registry(
    "task", ("tasks.curling", "tasks.hardmaze", "tasks.redundant_arm", "tasks.antmaze", "tasks.locomotion",
             "tasks.adapters.kheperax")
)
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: registers a task class under `name`.

    The class must define a frozen dataclass `Config` of its settings and take
    one instance of it in `__init__`.
    """

    def wrap(cls: T) -> T:
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"task class {cls.__name__} needs a dataclass `Config`")
        return TASKS.add(name, cls)

    return wrap


def names() -> list[str]:
    """The registered task names, sorted."""
    return TASKS.names()


def task_class(name: str) -> type:
    """The class registered under `name`.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    return TASKS.get(name)


def config_with(config_cls: type, overrides: Mapping[str, Any], owner: str) -> Any:
    """`config_cls()` with `overrides` applied (tasks' and representations' `Config`s).

    Args:
        config_cls: a dataclass of settings.
        overrides: field -> value.
        owner: what the config belongs to, for messages ("task 'hardmaze'").

    Raises:
        ValueError: an unknown field (the message lists the valid ones) or a
            value the class refuses.
    """
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(map(repr, unknown))} for {owner}; "
            f"valid fields: {', '.join(sorted(fields)) or 'none'}"
        )
    return dataclasses.replace(config_cls(), **overrides)


def make_config(name: str, **overrides):
    """The task's default `Config` with `overrides` applied.

    Raises:
        ValueError: unknown task or unknown field; the message lists the valid ones.
    """
    return config_with(task_class(name).Config, overrides, f"task {name!r}")


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
