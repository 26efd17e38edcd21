"""Type checks of a task's `Config`, so the Python API names the bad field.

``tasks.make("hardmaze", episode_length="abc")`` must say that
``episode_length`` wants an integer, not fail deep inside a rollout, and
``episode_length=2.5`` must not be truncated silently. `normalise` checks every
field of a task config against its annotation and converts what is
unambiguous (a list to a tuple, 3.0 to 3, a NumPy integer to int, a path to
str). The run machinery checks YAML values itself (`runs.typed`) before a
config gets here; this is the same rule for people calling `tasks` directly.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from typing import Any

# Float fields whose name ends like this may be +-inf (an open bound); every
# other float must be finite.
_OPEN_BOUND = ("low", "high")


def normalise(config: Any) -> None:
    """Checks and converts every field of a frozen config dataclass in place.

    Call it first thing in the config's ``__post_init__``.

    Raises:
        TypeError: a value of the wrong kind (a string for a number...).
        ValueError: a non-integral number for an integer, a non-finite
            number, or a list of the wrong length; messages name the field
            (``episode_length must be an integer, got 2.5``).
    """
    try:
        hints = typing.get_type_hints(type(config))
    except Exception:  # an annotation that does not resolve: nothing to check against
        return
    for field in dataclasses.fields(config):
        if field.name in hints:
            value = _convert(hints[field.name], getattr(config, field.name), field.name)
            object.__setattr__(config, field.name, value)


def check_common(config: Any) -> None:
    """Value checks of the fields every task config has (when it has them).

    Raises:
        ValueError: episode_length < 1, a policy layer narrower than 1, or
            trajectory_points < 1.
    """
    for name in ("episode_length", "trajectory_points"):
        value = getattr(config, name, None)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    hidden = getattr(config, "policy_hidden", None)
    if hidden is not None and any(h < 1 for h in hidden):
        raise ValueError(f"policy_hidden must list layer widths >= 1 (or be empty), got {list(hidden)}")


def _convert(tp: Any, value: Any, name: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        errors = []
        for arm in arms:
            try:
                return _convert(arm, value, name)
            except (TypeError, ValueError) as error:
                errors.append(error)
        raise errors[0]
    if tp is bool:
        if isinstance(value, (bool, _np_bool())):
            return bool(value)
        raise TypeError(f"{name} must be True or False, got {_show(value)}")
    if tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if math.isfinite(value) and float(value).is_integer():
                return int(value)
            raise ValueError(f"{name} must be an integer, got {_show(value)}")
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    if tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            number = float(value)
            bound = name.split("[")[0].endswith(_OPEN_BOUND)
            if math.isnan(number) or (math.isinf(number) and not bound):
                raise ValueError(f"{name} must be a finite number, got {_show(value)}")
            return number
        raise TypeError(f"{name} must be a number, got {_show(value)}")
    if tp is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        raise TypeError(f"{name} must be a string, got {_show(value)}")
    if tp is tuple or origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, typing.Iterable):
            raise TypeError(f"{name} must be a tuple like (1, 2), got {_show(value)}")
        items = tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{name}[{i}]") for i, v in enumerate(items))
        if args:
            if len(items) != len(args):
                raise ValueError(f"{name} must have {len(args)} items, got {_show(value)}")
            return tuple(_convert(a, v, f"{name}[{i}]") for i, (a, v) in enumerate(zip(args, items)))
        return items
    return value  # an annotation not checked here


def _np_bool() -> type:
    import numpy as np

    return np.bool_


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, (list, tuple, dict)) or len(value) < 20 else (
        f"a {type(value).__name__} of {len(value)} items")
    return text if len(text) <= limit else text[: limit - 3] + "..."
