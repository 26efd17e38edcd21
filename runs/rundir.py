"""The run directory (DESIGN.md section 7) and what is written into it.

    DIR/config.yaml     the full resolved RunConfig; enough to re-run
    DIR/metrics.csv     one row per logged generation
    DIR/checkpoints/    ckpt-<generation>.npz, the newest few (runs.checkpoint)
    DIR/archive.npz     the final archive: genome, descriptor, gt_descriptor,
                        reward, reward_area (one row per stored policy)
    DIR/extras.npz      what else the algorithm keeps (`Algorithm.extras`), only
                        for algorithms that have extras: arrays named
                        "<group>/<column>", e.g. SERENE's "reward_archive/reward"
                        and "emitters/outcome"
    DIR/plots/          figures (runs.plots)

A directory holding another run is never overwritten by accident: `create`
refuses unless asked to overwrite, and says `divergent resume DIR` when it
holds this very run.
"""
from __future__ import annotations

import csv
import dataclasses
import shutil
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from runs.atomic import write_atomic, write_text_atomic
from runs.config import RunConfig, differences, from_yaml, to_yaml
from runs.errors import ConfigError, RunDirError

CONFIG = "config.yaml"
METRICS = "metrics.csv"
CHECKPOINTS = "checkpoints"
ARCHIVE = "archive.npz"
EXTRAS = "extras.npz"
PLOTS = "plots"
# What --overwrite removes: only what a run writes, never a user's other files.
OWNED = (CONFIG, METRICS, CHECKPOINTS, ARCHIVE, EXTRAS, PLOTS)
ARCHIVE_FIELDS = ("genome", "descriptor", "gt_descriptor", "reward", "reward_area")


@dataclasses.dataclass(frozen=True)
class RunDir:
    """Paths of a run directory and its small writers.

    Attributes:
        path: the directory.
    """

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def archive_path(self) -> Path:
        return self.path / ARCHIVE

    @property
    def extras_path(self) -> Path:
        return self.path / EXTRAS

    @property
    def plots(self) -> Path:
        return self.path / PLOTS

    def read_config(self) -> RunConfig:
        """The run's config.

        Raises:
            RunDirError: no config.yaml (not a run directory).
            ConfigError: config.yaml is invalid.
        """
        if not self.config_path.is_file():
            raise RunDirError(f"{self.path} is not a run directory (no {CONFIG})")
        return from_yaml(self.config_path.read_text(encoding="utf-8"), str(self.config_path))

    def write_config(self, config: RunConfig) -> None:
        write_text_atomic(self.config_path, to_yaml(config))

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """Appends one row to metrics.csv, writing the header first if new.

        Raises:
            RunDirError: the row's columns differ from the file's header.
        """
        columns = self.metrics_columns()
        if columns is None:
            columns = list(row)
            with self.metrics_path.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(columns)
        elif list(row) != columns:
            raise RunDirError(
                f"{self.metrics_path}: its columns ({', '.join(columns)}) differ from this run's "
                f"metrics ({', '.join(row)}); it was written by another run"
            )
        with self.metrics_path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow([_cell(row[c]) for c in columns])

    def metrics_columns(self) -> list[str] | None:
        """The header of metrics.csv, or None when there is none yet."""
        if not self.metrics_path.is_file():
            return None
        with self.metrics_path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
        return header or None

    def truncate_metrics(self, generation: int) -> int:
        """Drops rows logged after `generation` (and any half-written line), so
        that a resumed run's file matches an uninterrupted one.

        Returns:
            How many rows were dropped.
        """
        if not self.metrics_path.is_file():
            return 0
        text = self.metrics_path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        if not lines:
            return 0
        header, rows = lines[0], lines[1:]
        width = len(next(csv.reader([header])))
        kept = [line for line in rows if _row_generation(line, width) is not None
                and _row_generation(line, width) <= generation]
        if len(kept) != len(rows):
            write_text_atomic(self.metrics_path, header + "".join(kept))
        return len(rows) - len(kept)

    def write_archive(self, arrays: Mapping[str, np.ndarray]) -> Path:
        """Writes archive.npz atomically (plain arrays, no pickles)."""
        plain = {k: np.asarray(v) for k, v in arrays.items()}
        return write_atomic(self.archive_path, lambda f: np.savez(f, **plain))

    def write_extras(self, arrays: Mapping[str, np.ndarray]) -> Path:
        """Writes extras.npz atomically (plain arrays named "<group>/<column>")."""
        plain = {k: np.asarray(v) for k, v in arrays.items()}
        return write_atomic(self.extras_path, lambda f: np.savez(f, **plain))

    def read_extras(self) -> dict[str, np.ndarray]:
        """extras.npz as a flat {"<group>/<column>": array}; {} when the run has
        none (an algorithm without extras, or a run that has not stopped yet).

        Raises:
            RunDirError: the file exists but cannot be read.
        """
        if not self.extras_path.is_file():
            return {}
        try:
            with np.load(self.extras_path, allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise RunDirError(
                f"{EXTRAS} in {self.path} cannot be read ({error}); `divergent resume {self.path}` "
                "rewrites it from the last checkpoint"
            ) from None


def group_extras(flat: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """{"<group>/<column>": array} -> {group: {column: array}}, in file order.

    A name without "/" lands in group "" (column = the whole name); a name with
    several "/" splits at the first one.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in flat.items():
        group, sep, column = name.partition("/")
        if not sep:
            group, column = "", name
        out.setdefault(group, {})[column] = value
    return out


def create(path: str | Path, config: RunConfig, *, overwrite: bool = False) -> RunDir:
    """Makes (or claims) the run directory of a new run and writes config.yaml.

    Args:
        path: the directory; created with its parents if missing.
        config: the run's config.
        overwrite: remove a previous run's files (only those a run writes).

    Returns:
        The run directory.

    Raises:
        RunDirError: `path` is a file, holds this run already (use resume),
            holds another run, or holds other files; unless `overwrite`.
    """
    run = RunDir(Path(path))
    if run.path.exists() and not run.path.is_dir():
        raise RunDirError(f"--out {run.path} is a file, not a directory")
    if run.path.is_dir() and any(run.path.iterdir()) and not overwrite:
        raise RunDirError(_refusal(run, config))
    if overwrite and run.path.is_dir():
        for name in OWNED:
            target = run.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    run.path.mkdir(parents=True, exist_ok=True)
    run.checkpoints.mkdir(exist_ok=True)
    run.plots.mkdir(exist_ok=True)
    run.write_config(config)
    return run


def open_existing(path: str | Path) -> tuple[RunDir, RunConfig]:
    """The run directory and config of an existing run (for resume/load).

    Raises:
        RunDirError: no such directory, or not a run directory.
        ConfigError: its config.yaml is invalid.
    """
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise RunDirError(f"{run.path}: no such run directory")
    return run, run.read_config()


def _refusal(run: RunDir, config: RunConfig) -> str:
    if not run.config_path.is_file():
        return (
            f"--out {run.path} is not empty and is not a run directory (no {CONFIG}); "
            "choose another --out, or pass --overwrite to write the run into it anyway"
        )
    try:
        existing = run.read_config()
    except ConfigError as error:
        return f"--out {run.path} holds a run whose config cannot be read ({error}); pass --overwrite to replace it"
    changed = differences(existing.identity(), config.identity())
    if not changed:
        extend = "" if existing.budget == config.budget else f" --budget {config.budget}"
        return (
            f"{run.path} already holds this run; use `divergent resume {run.path}{extend}` "
            "to continue it, or pass --overwrite to start it again"
        )
    return (
        f"{run.path} holds a different run (differs in: {', '.join(changed)}); "
        "choose another --out, or pass --overwrite to replace it"
    )


def _row_generation(line: str, width: int) -> int | None:
    """The generation of a complete CSV row, None for a partial or bad line."""
    if not line.endswith("\n"):
        return None
    cells = next(csv.reader([line]), [])
    if len(cells) != width:
        return None
    try:
        return int(cells[0])
    except ValueError:
        return None


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)  # shortest exact text: a resumed run writes the same bytes
    return value
