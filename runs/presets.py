"""Named run presets: YAML files shipped in `runs/presets/`.

A preset is a partial run config (see `runs.config`) that names at least its
algorithm and task; its first comment line is its one-line description. A
path to any YAML file (e.g. a run directory's config.yaml) works as a preset.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

from runs.errors import ConfigError

SUFFIX = ".yaml"


def directory():
    """The folder of the shipped presets (a `Traversable`)."""
    return importlib.resources.files("runs") / "presets"


def names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in directory().iterdir() if p.name.endswith(SUFFIX))


def read_text(name_or_path: str) -> tuple[str, str]:
    """The text of a preset and where it came from.

    Args:
        name_or_path: a shipped preset's name, or a path to a YAML file.

    Returns:
        (text, source) where source names the preset for messages.

    Raises:
        ConfigError: no such preset or file.
    """
    candidate = directory() / f"{name_or_path}{SUFFIX}"
    if "/" not in name_or_path and candidate.is_file():
        return candidate.read_text(encoding="utf-8"), f"preset {name_or_path!r}"
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8"), f"preset file {str(path)!r}"
    raise ConfigError(
        f"unknown preset {name_or_path!r}: not a shipped preset nor a YAML file; "
        f"shipped presets: {', '.join(names())}"
    )


def load(name_or_path: str) -> dict:
    """The plain mapping a preset holds (checked later, with the overrides).

    Raises:
        ConfigError: no such preset, or not a YAML mapping.
    """
    from runs.config import parse_yaml

    text, source = read_text(name_or_path)
    return parse_yaml(text, source)


def describe(name_or_path: str) -> str:
    """The preset's one-line description: its first comment line."""
    text, _ = read_text(name_or_path)
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""
