"""Loading a finished (or running) run in one line:

    run = runs.load("runs_out/ns-hardmaze-seed0")
    run.config            # RunConfig
    run.metrics           # pandas DataFrame, one row per logged generation
    run.archive["genome"] # NumPy arrays of archive.npz
    run.extras["reward_archive"]["reward"]   # extras.npz by group, then column
    run.representation["fits"]               # representation.npz: "fits", "name", "params/<path>"
    run.representation_params()              # its parameter pytree, as `encode` takes it
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from runs import rundir
from runs.config import RunConfig
from runs.errors import RunDirError
from runs.typed import shorten

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory's contents.

    Attributes:
        path: the run directory.
        config: its config.
        metrics: metrics.csv (empty DataFrame when nothing was logged yet).
        archive: archive.npz as name -> array (genome, descriptor,
            gt_descriptor, reward, reward_area); empty while the run has not
            stopped yet.
        extras: extras.npz (what the algorithm keeps besides its archive,
            `qd.algorithms.Algorithm.extras`) as group -> column -> array:
            the file's "reward_archive/reward" is
            ``run.extras["reward_archive"]["reward"]`` (names without "/" are
            in group ""). Empty for algorithms without extras and while the
            run has not stopped yet. SERENE's groups: "reward_archive"
            (genome, descriptor, gt_descriptor, reward, reward_area,
            generation: one row per rewarded agent) and "emitters" (ident,
            area, created, ended, evaluations, steps, improvement,
            best_reward, outcome, ancestor_x, ancestor_y: one row per
            emitter; outcome codes in `qd.emitter_history`).
        representation: representation.npz as name -> array: "fits"
            (refits done), "name" and the parameter leaves
            "params/<path>" (`runs.rundir`); empty for the ground truth
            and while the run has not stopped yet.
    """

    path: Path
    config: RunConfig
    metrics: "pd.DataFrame"
    archive: dict
    extras: dict = dataclasses.field(default_factory=dict)
    representation: dict = dataclasses.field(default_factory=dict)

    def representation_params(self):
        """The representation's final parameters as the pytree its `encode`
        takes (`runs.learned.restore_params`), None when the run saved none.

        Raises:
            RunDirError: representation.npz does not match the run's
                representation.
        """
        if not self.representation:
            return None
        from runs import learned

        return learned.restore_params(self.config.make_pipeline().representation, self.representation)

    @property
    def complete(self) -> bool:
        """Whether the budget was spent (the last logged row reached it)."""
        if self.metrics.empty or "evaluations" not in self.metrics:
            return False
        return bool(self.metrics["evaluations"].iloc[-1] >= self.config.budget)

    @property
    def checkpoints(self) -> list[Path]:
        """The checkpoint files, oldest first."""
        from runs import checkpoint  # imports jax; only when asked

        return checkpoint.list_checkpoints(self.path / rundir.CHECKPOINTS)


def load(path: str | Path) -> Run:
    """Loads a run directory.

    Args:
        path: the directory `divergent run` wrote.

    Returns:
        A `Run` with `.config`, `.metrics`, `.archive`, `.extras` and
        `.representation`.

    Raises:
        RunDirError: not a run directory, or an unreadable metrics.csv,
            archive.npz, extras.npz or representation.npz (corrupt, not what a run writes, arrays
            that disagree in length).
        ConfigError: its config.yaml is invalid.
    """
    run_dir, config = rundir.open_existing(path)
    metrics = read_metrics(run_dir.metrics_path)
    archive = run_dir.read_archive()
    extras = rundir.group_extras(run_dir.read_extras())
    return Run(path=run_dir.path, config=config, metrics=metrics, archive=archive, extras=extras,
               representation=run_dir.read_representation())


def read_metrics(path: Path) -> "pd.DataFrame":
    """metrics.csv as a DataFrame (no rows when absent or empty).

    A run killed mid-write can leave a partial last line; it is skipped.

    Raises:
        RunDirError: the file is not UTF-8 text, not CSV, or a table without
            the `evaluations` column every logged row has.
    """
    import io

    import pandas as pd  # slow to import; `import runs` stays light for the CLI

    text = rundir.read_text(path, RunDirError) if path.is_file() else ""
    if not text.strip():
        return pd.DataFrame()
    try:
        table = pd.read_csv(io.StringIO(text), on_bad_lines="skip")
    except (pd.errors.ParserError, ValueError) as error:
        raise RunDirError(f"{path}: not a metrics table ({shorten(str(error))})") from None
    if "evaluations" not in table.columns:  # every row the loop logs has it
        raise RunDirError(
            f"{path}: not a metrics table (no 'evaluations' column; its columns: "
            f"{shorten(', '.join(map(str, table.columns)))})"
        )
    return table
