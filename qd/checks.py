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
