"""Argument checks shared by the algorithms' configs and archives, so that
every one of them words its errors the same way."""
from __future__ import annotations

from typing import Any


def positive_ints(**values: Any) -> None:
    """Checks that every value is an int >= 1 (bools are not sizes).

    Raises:
        ValueError: "<name> must be a positive integer, got <value>", for the
            first value (in argument order) that is not.
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def positive_int_fields(config: Any, *names: str) -> None:
    """`positive_ints` of the fields `names` of a config dataclass."""
    positive_ints(**{name: getattr(config, name) for name in names})


# Written as `not (value <op> bound)` so that NaN fails every check.
_BOUNDS = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "in [0, 1]": lambda v: 0 <= v <= 1,
}


def bounded_fields(config: Any, bound: str, *names: str) -> None:
    """Checks the number fields `names` of a config dataclass against `bound`,
    one of "> 0", ">= 0", "in [0, 1]" (NaN fails all of them).

    Raises:
        ValueError: "<name> must be <bound>, got <value>", for the first
            field (in argument order) that is not.
    """
    ok = _BOUNDS[bound]
    for name in names:
        value = getattr(config, name)
        if not ok(value):
            raise ValueError(f"{name} must be {bound}, got {value!r}")
