"""The run directory (docs/architecture.md) and what is written into it.

    DIR/config.yaml     the full resolved RunConfig; enough to re-run
    DIR/metrics.csv     one row per logged generation
    DIR/checkpoints/    ckpt-<generation>.npz, the newest few (runs.checkpoint)
    DIR/archive.npz     the final archive: genome, descriptor, gt_descriptor,
                        reward, reward_area (one row per stored policy)
    DIR/extras.npz      what else the algorithm keeps (`Algorithm.extras`), only
                        for algorithms that have extras: arrays named
                        "<group>/<column>", e.g. SERENE's "reward_archive/reward"
                        and "emitters/outcome"
    DIR/representation.npz  the representation's final parameters, for runs
                        whose representation has any (projection, PCA,
                        autoencoder; not the ground truth): "fits" (refits
                        done), "name" (the representation) and one array
                        per parameter leaf, "params/<path>" with the pytree
                        path joined by "/", e.g.
                        "params/params/encoder_convs_0/kernel"
    DIR/plots/          figures (runs.plots)

Why representation.npz is its own file rather than columns of extras.npz:
extras.npz is the algorithm's (`Algorithm.extras`, written only for
algorithms that have extras, grouped by what the algorithm keeps), while the
representation is orthogonal to the algorithm: every algorithm in a learned
space has one, also those without extras. A separate file also keeps
extras.npz's groups one-row-per-item tables, and lets `divergent inspect`
read the weights (the autoencoder's are ~0.1-1 MB) without the rest. It is
written atomically before archive.npz (whose presence marks a stopped run),
like extras.npz, so a run with an archive has its representation.

A directory holding another run is never overwritten by accident: `create`
refuses unless asked to overwrite, and says `divergent resume DIR` when it
holds this very run.
"""
from __future__ import annotations

import csv
import dataclasses
import os
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
REPRESENTATION = "representation.npz"
PLOTS = "plots"
# What --overwrite removes: only what a run writes, never a user's other files.
OWNED = (CONFIG, METRICS, CHECKPOINTS, ARCHIVE, EXTRAS, REPRESENTATION, PLOTS)
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
    def representation_path(self) -> Path:
        return self.path / REPRESENTATION

    @property
    def plots(self) -> Path:
        return self.path / PLOTS

    def read_config(self) -> RunConfig:
        """The run's config.

        Raises:
            RunDirError: no config.yaml (not a run directory).
            ConfigError: config.yaml is invalid or not UTF-8 text.
        """
        if not self.config_path.is_file():
            raise RunDirError(f"{self.path} is not a run directory (no {CONFIG})")
        return from_yaml(read_text(self.config_path, ConfigError), str(self.config_path))

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
        text = self.metrics_text()
        if text is None:
            return None
        header = next(csv.reader(text.splitlines()), None)
        return header or None

    def metrics_text(self) -> str | None:
        """metrics.csv's text, None when there is none yet.

        Raises:
            RunDirError: the file is not UTF-8 text (or cannot be read).
        """
        if not self.metrics_path.is_file():
            return None
        return read_text(self.metrics_path, RunDirError)

    def truncate_metrics(self, generation: int) -> int:
        """Drops rows logged after `generation` (and any half-written line), so
        that a resumed run's file matches an uninterrupted one.

        Returns:
            How many rows were dropped.

        Raises:
            RunDirError: metrics.csv is not UTF-8 text.
        """
        text = self.metrics_text()
        if text is None:
            return 0
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
        return read_npz(self.extras_path)

    def write_representation(self, arrays: Mapping[str, np.ndarray]) -> Path:
        """Writes representation.npz atomically ("fits", "name",
        "params/<path>"; plain arrays, no pickles)."""
        plain = {k: np.asarray(v) for k, v in arrays.items()}
        return write_atomic(self.representation_path, lambda f: np.savez(f, **plain))

    def read_representation(self) -> dict[str, np.ndarray]:
        """representation.npz as a flat {name: array}; {} when the run has none
        (a representation without parameters, or a run that has not stopped).

        Raises:
            RunDirError: the file exists but cannot be read.
        """
        if not self.representation_path.is_file():
            return {}
        return read_npz(self.representation_path)

    def read_archive(self) -> dict[str, np.ndarray]:
        """archive.npz as {name: array}; {} while the run has not stopped yet.

        Raises:
            RunDirError: the file cannot be read, or its per-policy arrays
                disagree in length.
        """
        if not self.archive_path.is_file():
            return {}
        arrays = read_npz(self.archive_path)
        check_archive(arrays, self.archive_path)
        return arrays


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a run's .npz file (never unpickling anything).

    Raises:
        RunDirError: not an .npz archive (another file, truncated, corrupt) or
            one holding pickled objects, which a run never writes; the message
            names the file and says how to rewrite it.
    """
    where = f"{path.name} in {path.parent} cannot be read"
    fix = f"`divergent resume {path.parent}` rewrites it from the last checkpoint"
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != b"PK\x03\x04":  # every .npz is a zip file; anything else would be read as a pickle
            raise RunDirError(f"{where}: not a NumPy .npz archive (corrupt, or another file); {fix}")
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except RunDirError:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise RunDirError(f"{where}: it holds Python objects (pickles), which a run never writes, "
                              f"so it is not loaded; {fix}") from None
        raise RunDirError(f"{where} ({error}); {fix}") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise RunDirError(f"{where}: the file is truncated or corrupt ({type(error).__name__}: {error}); "
                          f"{fix}") from None


# Arrays of archive.npz with one row per policy: they must agree in length.
PER_POLICY = (*ARCHIVE_FIELDS, "generation")


def check_archive(arrays: Mapping[str, np.ndarray], path: Path) -> None:
    """Checks that archive.npz's per-policy arrays have one row per policy.

    Raises:
        RunDirError: arrays that disagree in length (or are scalars); the
            message lists each array's length.
    """
    lengths = {name: (len(arrays[name]) if np.ndim(arrays[name]) else None)
               for name in PER_POLICY if name in arrays}
    if len(set(lengths.values())) > 1 or None in lengths.values():
        listed = ", ".join(f"{k} {'scalar' if v is None else v}" for k, v in lengths.items())
        raise RunDirError(f"{path.name} in {path.parent}: its arrays should have one row per policy but "
                          f"disagree in length ({listed}); `divergent resume {path.parent}` rewrites it from "
                          "the last checkpoint")


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
        RunDirError: `path` or one of its parents is a file, cannot be
            created (permissions), holds this run already (use resume), holds
            another run, or holds other files; unless `overwrite`. Checked
            before anything is written or removed.
    """
    run = RunDir(Path(path))
    _check_creatable(run.path)
    if run.path.is_dir() and any(run.path.iterdir()) and not overwrite:
        raise RunDirError(_refusal(run, config))
    if overwrite and run.path.is_dir():
        for name in OWNED:
            target = run.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    try:
        run.path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # checked above; a race or an odd file system
        raise RunDirError(f"cannot create --out {run.path}: {error.strerror or error}") from None
    run.checkpoints.mkdir(exist_ok=True)
    run.plots.mkdir(exist_ok=True)
    run.write_config(config)
    return run


def read_text(path: Path, error: type) -> str:
    """A run file's UTF-8 text.

    Raises:
        `error` (a RunError class): the file cannot be read or is not UTF-8
            text (a binary file copied over it); the message names it.
    """
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{path}: not a UTF-8 text file (byte {problem.object[problem.start]:#04x} at offset "
                    f"{problem.start}); was it overwritten by another file?") from None
    except OSError as problem:
        raise error(f"{path}: cannot be read ({problem.strerror or problem})") from None


def _check_creatable(path: Path) -> None:
    """Refuses an --out that cannot become a directory, before any change.

    Raises:
        RunDirError: `path` is a file, a parent of it is a file, or the
            nearest existing parent is not writable.
    """
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} is a file, not a directory; choose another --out")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise RunDirError(f"--out {path}: no permission to write in it; choose another --out")
        return
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"--out {path}: {parent} is a file, not a directory; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"--out {path}: no permission to create it in {parent}; choose another --out")


def open_existing(path: str | Path) -> tuple[RunDir, RunConfig]:
    """The run directory and config of an existing run (for resume/load).

    Raises:
        RunDirError: no such directory, or not a run directory.
        ConfigError: its config.yaml is invalid.
    """
    run = RunDir(Path(path))
    if run.path.exists() and not run.path.is_dir():
        raise RunDirError(f"{run.path} is a file, not a run directory")
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
