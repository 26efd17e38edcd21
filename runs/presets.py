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
        ConfigError: no such preset or file, a directory, or a file that is
            not UTF-8 text.
    """
    candidate = directory() / f"{name_or_path}{SUFFIX}"
    if "/" not in name_or_path and candidate.is_file():
        return candidate.read_text(encoding="utf-8"), f"preset {name_or_path!r}"
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return _read(path), f"preset file {str(path)!r}"
    if path.is_dir():
        hint = f"; did you mean {path / 'config.yaml'} (a run's config)?" if (path / "config.yaml").is_file() else ""
        raise ConfigError(f"preset {str(path)!r} is a directory, not a YAML file{hint}")
    raise ConfigError(
        f"unknown preset {name_or_path!r}: not a shipped preset nor a YAML file; "
        f"shipped presets: {', '.join(names())}"
    )


def _read(path: Path) -> str:
    """A preset file's text; ConfigError naming it when it is not UTF-8 text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"preset file {str(path)!r} is not a YAML text file (byte "
                          f"{error.object[error.start]:#04x} at offset {error.start} is not UTF-8)") from None
    except OSError as error:
        raise ConfigError(f"preset file {str(path)!r} cannot be read ({error.strerror or error})") from None
    if "\x00" in text:
        raise ConfigError(f"preset file {str(path)!r} is not a YAML text file (it holds NUL bytes)")
    return text


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
