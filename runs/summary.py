"""What a finished run amounts to, read from its plain files: the `Summary`
that `runs.inspect.inspect_run` returns, and the helpers that extract it
(per-area results, the task's geometry from config.yaml, grid-archive cells).

Metrics columns are matched by name and every one is optional (the loop may
log more or fewer): ``evaluations``, ``generation``, ``wall_time``,
``coverage``, and per reward area i ``area{i}_found``, ``area{i}_first_found``
(evaluations when first found, -1 before), ``area{i}_max_reward`` (rows not
flagged found are ignored, as are +-inf and empty cells) and
``area{i}_evaluations`` (as `qd.tracker.report` logs them).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np
import pandas as pd

from runs import plots
from runs.typed import shorten, show

if TYPE_CHECKING:
    from runs.extras import EmitterAreaSummary, PayoffRow


@dataclasses.dataclass(frozen=True)
class AreaSummary:
    """How a run did on one reward area.

    Attributes:
        index: the area's index in the task's `reward_areas`.
        found: some evaluation ended in the area (metrics or archive say so).
        first_found: evaluations spent when it was first found (the logged
            resolution), None if not found or not logged.
        max_reward: best reward reached in the area, None if never.
        evaluations: the last ``area{i}_evaluations`` logged (evaluations
            that ended in the area), None if not logged.
        in_archive: final archive policies that end in the area.
        center: world (x, y) of the disc, when the task is known.
        radius: radius of the disc, when the task is known.
    """

    index: int
    found: bool
    first_found: Optional[int]
    max_reward: Optional[float]
    evaluations: Optional[int]
    in_archive: int
    center: Optional[tuple[float, float]] = None
    radius: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Summary:
    """A run at a glance (`runs.inspect.format_summary` prints it).

    Attributes:
        run_dir: the run directory.
        algorithm: algorithm name from config.yaml.
        task: task name from config.yaml.
        seed: the run's seed (None if absent).
        budget: evaluation budget (None if absent).
        evaluations: evaluations spent (last logged).
        generations: generations run (last logged ``generation``, else the
            number of metrics rows).
        wall_time: seconds (last logged), None if not logged.
        coverage: fraction of the task's coverage grid hit by the archive
            (last logged ``coverage``, else computed from archive.npz).
        explored_coverage: the same for every evaluated policy (last logged
            ``explored_coverage``), None if not logged.
        archive_size: policies in the final archive.
        areas: one `AreaSummary` per reward area.
        plots: paths of the plots written.
        notes: things the reader should know (e.g. the task could not be built).
        emitters: the emitters per reward area, then their total
            (`runs.extras.emitter_summaries`); () when the run saved no
            emitter history.
        emitter_counters: run-wide emitter counters, last logged
            (`runs.extras.emitter_counters`: emitters_created,
            emitter_candidates, emitter_overflow, explore_evaluations,
            exploit_evaluations, reward_archive_size; those logged).
        reward_archive_size: agents in the saved reward archive, None when
            the run saved none.
        representation: config.yaml's representation ("ground_truth" by
            default).
        representation_fits: refits of a learned representation (last
            logged ``representation_fits``), None if not logged.
        time_coverage: coverage of the grid by the replayed archive's
            positions at the last recorded time (`qd.metrics.time_coverage`),
            None when the archive was not replayed.
        time_coverage_mean: its mean over the recorded times, None likewise.
        time_points: the recorded times, None likewise.
        payoff: SERENE's exploitation budget against reward per area over
            the run (`runs.extras.payoff_rows`), () when not logged.
    """

    run_dir: Path
    algorithm: str
    task: str
    seed: Optional[int]
    budget: Optional[int]
    evaluations: int
    generations: int
    wall_time: Optional[float]
    coverage: float
    explored_coverage: Optional[float]
    archive_size: int
    areas: tuple[AreaSummary, ...]
    plots: tuple[Path, ...]
    notes: tuple[str, ...] = ()
    emitters: tuple["EmitterAreaSummary", ...] = ()
    emitter_counters: Mapping[str, int] = dataclasses.field(default_factory=dict)
    reward_archive_size: Optional[int] = None
    representation: str = "ground_truth"
    representation_fits: Optional[int] = None
    time_coverage: Optional[float] = None
    time_coverage_mean: Optional[float] = None
    time_points: Optional[int] = None
    payoff: tuple["PayoffRow", ...] = ()

    @property
    def areas_found(self) -> int:
        """Number of reward areas found."""
        return sum(a.found for a in self.areas)


def last_value(metrics: pd.DataFrame, column: str) -> Optional[float]:
    """The last finite value of `column`, None if absent or never finite."""
    if column not in metrics:
        return None
    values = pd.to_numeric(metrics[column], errors="coerce").to_numpy(np.float64)
    values = values[np.isfinite(values)]
    return float(values[-1]) if len(values) else None


def truthy(column: pd.Series) -> np.ndarray:
    """A found-flag column as bool: accepts True/False, 1/0 and "true"/"false"."""
    if column.dtype == object:
        return column.astype(str).str.strip().str.lower().isin(("true", "1", "1.0", "yes")).to_numpy()
    return pd.to_numeric(column, errors="coerce").fillna(0).to_numpy() > 0


def area_summaries(spec: Any, metrics: pd.DataFrame, archive: Mapping[str, np.ndarray],
                   x: Optional[str]) -> tuple[AreaSummary, ...]:
    """Per-area results from the metrics (over all evaluations) and the archive.

    Args:
        spec: the task's spec (its `reward_areas` are counted and described).
        metrics: the metrics table.
        archive: the archive arrays (``reward``, optional ``reward_area``).
        x: the column that counts progress ("evaluations"), None if none.

    Returns:
        One `AreaSummary` per area known to the spec, the metrics or the archive.
    """
    reward = archive["reward"].astype(np.float64)
    area = archive.get("reward_area", np.full(len(reward), -1)).astype(int)
    logged = [int(c[4:].split("_")[0]) for c in metrics.columns
              if c.startswith("area") and c[4:].split("_")[0].isdigit()]
    areas = tuple(getattr(spec, "reward_areas", ()))
    n = max([len(areas), max(logged, default=-1) + 1, int(area.max(initial=-1)) + 1])
    out = []
    for i in range(n):
        first = _first_found(metrics, i, x)
        best = [found_max(metrics, i)]
        if np.any(area == i):
            best.append(float(reward[area == i].max()))
        best = [b for b in best if b is not None]
        found_flag = f"area{i}_found" in metrics and bool(truthy(metrics[f"area{i}_found"]).any())
        spent = last_value(metrics, f"area{i}_evaluations")
        disc = areas[i] if i < len(areas) else None
        out.append(AreaSummary(
            index=i,
            found=found_flag or first is not None or bool(np.any(area == i)),
            first_found=first,
            max_reward=max(best) if best else None,
            evaluations=int(spent) if spent is not None else None,
            in_archive=int(np.sum(area == i)),
            center=tuple(float(v) for v in disc.center) if disc is not None else None,
            radius=float(disc.radius) if disc is not None else None,
        ))
    return tuple(out)


def found_max(metrics: pd.DataFrame, i: int) -> Optional[float]:
    """Largest finite ``area{i}_max_reward`` (a running or per-generation max),
    counting only rows that flag the area found when ``area{i}_found`` is
    logged (qd.tracker logs 0 before the first find)."""
    column = f"area{i}_max_reward"
    if column not in metrics:
        return None
    values = pd.to_numeric(metrics[column], errors="coerce").to_numpy(np.float64)
    if f"area{i}_found" in metrics:
        values = values[truthy(metrics[f"area{i}_found"])]
    values = values[np.isfinite(values)]
    return float(values.max()) if len(values) else None


def _first_found(metrics: pd.DataFrame, i: int, x: Optional[str]) -> Optional[int]:
    """Evaluations when area i was first found: the logged ``area{i}_first_found``,
    else the x of the first row that flags it found or has a finite max reward."""
    logged = last_value(metrics, f"area{i}_first_found")
    if logged is not None and logged >= 0:
        return int(logged)
    if x is None:
        return None
    hit = np.zeros(len(metrics), bool)
    if f"area{i}_found" in metrics:
        hit |= truthy(metrics[f"area{i}_found"])
    elif f"area{i}_max_reward" in metrics:
        hit |= np.isfinite(pd.to_numeric(metrics[f"area{i}_max_reward"], errors="coerce").to_numpy(np.float64))
    rows = np.flatnonzero(hit)
    return int(metrics[x].iloc[rows[0]]) if len(rows) else None


def spec_from_config(config: Mapping[str, Any]):
    """Builds the run's task from its config to get its geometry.

    Accepts ``task: name`` with ``task_config``/``task_overrides``, or
    ``task: {name: ..., **overrides}``.

    Returns:
        (spec, start (x, y) or None, problem): problem is None on success,
        else why the task could not be built (spec is then None).
    """
    task = config.get("task")
    overrides = config.get("task_config", config.get("task_overrides")) or {}
    if isinstance(task, Mapping):
        overrides = {k: v for k, v in task.items() if k not in ("name", "type")} | dict(overrides)
        task = task.get("name", task.get("type"))
    if not task:
        return None, None, "config.yaml names no task"
    if not isinstance(task, str):
        return None, None, f"config.yaml's task must be a name, got {show(task)}"
    try:
        import tasks  # deferred: pulls in brax, only needed when no spec is given

        env = tasks.make(str(task), **{k: _tuples(v) for k, v in dict(overrides).items()})
    except Exception as error:  # any failure still leaves the data worth plotting
        return None, None, f"cannot build task {show(task)} ({type(error).__name__}: {shorten(str(error))})"
    return env.spec, _start(env), None


def _start(env) -> Optional[tuple[float, float]]:
    """World (x, y) of the tracked point at reset (robot, ball, end effector)."""
    try:
        import jax

        position = np.asarray(env.position(env.init_physics(jax.random.key(0))), np.float64)
        return float(position[0]), float(position[1])
    except Exception:  # a task without a deterministic start: just no star on the map
        return None


def _tuples(value: Any, memo: Optional[dict] = None) -> Any:
    """YAML lists -> tuples, as the tasks' frozen configs hold them.

    A list YAML shares through an alias stays shared (`memo`), so a
    hand-edited config.yaml holding an alias bomb is not expanded.
    """
    if not isinstance(value, (list, tuple)):
        return value
    memo = {} if memo is None else memo
    if id(value) not in memo:
        memo[id(value)] = tuple(_tuples(v, memo) for v in value)
    return memo[id(value)]


def fallback_spec(gt: np.ndarray):
    """A bare spec (no walls, no areas) spanning the data, to plot a run whose
    task cannot be built."""
    from tasks.spec import TaskSpec

    gt = plots.as_points(gt)[:, :2] if np.size(gt) else np.zeros((0, 2))
    finite = gt[np.all(np.isfinite(gt), axis=1)]
    low = finite.min(0) if len(finite) else np.zeros(2)
    high = finite.max(0) if len(finite) else np.ones(2)
    high = np.where(high > low, high, low + 1.0)
    margin = 0.05 * (high - low)  # keep edge points whole
    low, high = low - margin, high + margin
    low, high = tuple(map(float, low)), tuple(map(float, high))
    # No name: plots label the axes in descriptor units (runs.plots.UNITS).
    return TaskSpec(name="", observation_size=0, action_size=0, episode_length=0, descriptor_low=low,
                    descriptor_high=high, reward_areas=(), world_low=low, world_high=high)


def grid_shape_of(config: Mapping[str, Any], archive: Mapping[str, np.ndarray], spec: Any):
    """The cells per dimension of a grid archive, None for other archives.

    From archive.npz's ``grid_shape``, else from a MAP-Elites-style config
    (``algo: {archive: grid, cells_per_dim: n}``: n cells along each
    descriptor dimension).
    """
    if "grid_shape" in archive:
        return tuple(int(n) for n in np.asarray(archive["grid_shape"]).reshape(-1))
    algo = config.get("algo")
    if isinstance(algo, Mapping) and algo.get("archive") == "grid" and algo.get("cells_per_dim"):
        desc = archive.get("descriptor", archive["gt_descriptor"])
        dims = desc.shape[1] if desc.ndim == 2 else len(getattr(spec, "descriptor_low", (0, 0)))
        return (int(algo["cells_per_dim"]),) * dims
    return None


def grid_values(spec: Any, archive: Mapping[str, np.ndarray], shape: tuple[int, ...]):
    """Best reward per cell of a grid archive.

    Cells come from the archive's ``cell_index`` when saved, else from the
    descriptors. Bounds come from the archive (``grid_low``/``grid_high`` or
    ``descriptor_low``/``descriptor_high``), else from the task when the
    archive's descriptor is the ground truth, else from the data.

    Args:
        spec: the task's spec.
        archive: the archive arrays.
        shape: cells per dimension (`grid_shape_of`).

    Returns:
        (values of shape `shape` with NaN for empty cells, (low, high),
        whether the grid's descriptor is the ground-truth one).
    """
    desc = archive.get("descriptor", archive["gt_descriptor"])
    desc = plots.as_points(desc) if np.size(desc) else np.zeros((0, len(shape)))
    gt = archive["gt_descriptor"]
    same_as_gt = desc.shape == np.shape(gt) and np.allclose(desc, gt, equal_nan=True)
    for lo_key, hi_key in (("grid_low", "grid_high"), ("descriptor_low", "descriptor_high")):
        if lo_key in archive and hi_key in archive:
            low, high = archive[lo_key].astype(np.float64), archive[hi_key].astype(np.float64)
            break
    else:
        if same_as_gt or desc.shape[1] == len(getattr(spec, "descriptor_low", ())) == len(shape):
            low, high = np.asarray(spec.descriptor_low, np.float64), np.asarray(spec.descriptor_high, np.float64)
        else:
            low, high = (desc.min(0), desc.max(0)) if len(desc) else (np.zeros(len(shape)), np.ones(len(shape)))
    if "cell_index" in archive:
        index = archive["cell_index"].astype(int).reshape(-1)
    else:
        counts_shape = np.asarray(shape, np.float64)
        scaled = (counts_shape * (desc - low) + 1e-6) / np.where(high > low, high - low, 1.0)
        coords = np.floor(np.clip(scaled, 0, counts_shape - 1)).astype(int)
        index = np.ravel_multi_index(tuple(coords.T), shape) if len(coords) else np.zeros(0, int)
    best = np.full(int(np.prod(shape)), -np.inf)
    np.maximum.at(best, index, archive["reward"].astype(np.float64))
    best[~np.isfinite(best)] = np.nan
    return best.reshape(shape), (low, high), bool(same_as_gt)
