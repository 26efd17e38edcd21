"""Frozen dataclasses <-> plain YAML-able values, with type checks that name keys.

Configs are frozen dataclasses (docs/architecture.md). Users write them as YAML
or as ``--set key=value`` strings; this module turns such plain values
(dicts, lists, numbers, strings) into dataclass instances, checking each value
against the field's annotation (`typing.get_type_hints`), and back. Supported
annotations: int, float, bool, str, tuples (``tuple``, ``tuple[int, ...]``,
``tuple[int, float]``), Optional/Union, Literal and nested dataclasses;
anything else is passed through unchecked.

Numbers must be finite: NaN is never a setting, and infinity only where it
means "no bound" (fields named like ``genome_low``/``high``, see
`INFINITY_OK`). Values quoted in messages are cut short (`show`), so a huge
value (a YAML alias bomb) never floods the terminal.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
import types
import typing
from typing import Any, Mapping

from runs.errors import ConfigError

# Float fields whose name matches may be +-inf (an open bound, e.g.
# genome_low=-inf: no clipping); every other float must be finite.
INFINITY_OK = re.compile(r"(^|_)(low|high)$")
# At most this many characters of a value are quoted in a message.
MAX_SHOWN = 120


def to_plain(value: Any) -> Any:
    """A dataclass instance (or value) as dicts, lists and scalars, for YAML.

    Raises:
        ConfigError: a value YAML cannot hold (e.g. a function).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()  # a NumPy scalar
    raise ConfigError(f"cannot write a {type(value).__name__} value ({_show(value)}) to a config file")


def from_plain(cls: type, raw: Mapping[str, Any], path: str = "") -> Any:
    """Builds the dataclass `cls` from `raw`; missing fields keep their defaults.

    Args:
        cls: a dataclass type.
        raw: field name -> plain value.
        path: dotted key of `raw` in the whole config, for messages ("algo").

    Returns:
        The instance.

    Raises:
        ConfigError: unknown key, wrong type, or a value the class's own checks
            (``__post_init__``) reject; the message names the key.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path or 'config'} must be a mapping of keys to values, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in raw:
        if key not in fields:
            raise ConfigError(unknown_key_message(join(path, str(key)), fields))
    hints = _type_hints(cls)
    kwargs = {k: coerce(hints.get(k, Any), v, join(path, k)) for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        if isinstance(error, ConfigError):
            raise
        chosen = ", ".join(f"{join(path, k)}={_show(v)}" for k, v in raw.items())
        where = f"invalid {path} settings" if path else "invalid settings"
        raise ConfigError(f"{where} ({chosen or 'defaults'}): {error}") from None


def coerce(tp: Any, value: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp` and converts it (list ->
    tuple, 3 -> 3.0 for floats, "1e-3" -> 0.001).

    Raises:
        ConfigError: the value does not fit; the message names `key`.
    """
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        if len(arms) == 1:  # Optional[X]: X's own message says more ("a list of 2 items")
            return coerce(arms[0], value, key)
        for arm in arms:
            try:
                return coerce(arm, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key} must be {_describe(tp)}, got {_show(value)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{key} must be one of {', '.join(map(repr, args))}, got {_show(value)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {_show(value)}")
    if tp is int:
        return _to_int(value, key)
    if tp is float:
        return _to_float(value, key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string, got {_show(value)}")
    if tp is tuple or origin is tuple or tp is list or origin is list:
        return _to_sequence(tp, value, key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_plain(tp, value, key)
    return value  # an annotation we do not check (a callable, a custom class)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def unknown_key_message(key: str, valid: typing.Iterable[str]) -> str:
    """'unknown key ...; valid keys ...' with a did-you-mean hint."""
    valid = sorted(valid)
    key = show(key)[1:-1] if len(key) > MAX_SHOWN else key
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    section = key.rsplit(".", 1)[0] + "." if "." in key else ""
    return f"unknown key {key!r}{hint}; valid keys: {', '.join(section + v for v in valid)}"


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: check nothing rather than fail
        return {}


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {_show(value)}")
    if isinstance(value, int):
        return value
    number = value
    if isinstance(value, str):  # YAML reads "1e6" as a string
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, float) and math.isfinite(number) and number == int(number):
        return int(number)
    raise ConfigError(f"{key} must be an integer, got {_show(value)}")


def _to_float(value: Any, key: str) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float's range
            number = math.inf if value > 0 else -math.inf
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None:
        raise ConfigError(f"{key} must be a number, got {_show(value)}")
    if math.isnan(number) or (math.isinf(number) and not infinity_ok(key)):
        raise ConfigError(f"{key} must be a finite number, got {_show(value)}")
    return number


def infinity_ok(key: str) -> bool:
    """Whether the float at dotted `key` may be infinite (an open bound)."""
    leaf = re.sub(r"\[\d+\]$", "", key).rsplit(".", 1)[-1]
    return bool(INFINITY_OK.search(leaf))


def _to_sequence(tp: Any, value: Any, key: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a list like [1, 2], got {_show(value)}")
    args = typing.get_args(tp)
    if not args:
        items = list(value)
    elif len(args) == 2 and args[1] is Ellipsis:
        items = [coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    else:
        if len(args) != len(value):
            raise ConfigError(f"{key} must be a list of {len(args)} items, got {_show(value)}")
        items = [coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value))]
    wants_list = tp is list or typing.get_origin(tp) is list
    return items if wants_list else tuple(items)


def _describe(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    arms = [a for a in typing.get_args(tp) if a is not type(None)]
    text = " or ".join(names.get(a, getattr(a, "__name__", str(a))) for a in arms)
    return text + (" or null" if type(None) in typing.get_args(tp) else "")


def show(value: Any, limit: int = MAX_SHOWN) -> str:
    """A value as a message quotes it: YAML words for null/booleans, and at
    most about `limit` characters (nested values are abbreviated without
    being written out in full, so even a YAML alias bomb is cheap)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        text = _SHORT.repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        text = f"an integer of about {int(value.bit_length() * 0.30103):,} digits"
    if len(text) > limit:
        size = f"{len(value):,} characters" if isinstance(value, str) else type(value).__name__
        text = f"{text[: limit - 3]}... ({size})"
    return text


def shorten(text: str, limit: int = 4 * MAX_SHOWN) -> str:
    """`text` cut to about `limit` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text):,} characters)"


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 3, 6, 6, 6
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = MAX_SHOWN, MAX_SHOWN, 40
_show = show
