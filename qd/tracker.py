"""Bookkeeping every algorithm shares: the evaluation budget, invalid
evaluations, the cells explored by every evaluated policy, per-area reward
statistics, and the metrics dict a step reports."""
from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from qd import metrics
from qd.archives import novelty as novelty_archive
from qd.archives.entries import Entries
from tasks.evaluation import Evaluation
from tasks.spec import TaskSpec


@struct.dataclass
class Tracker:
    """Running counters of a run (all device scalars/arrays).

    Attributes:
        evaluations: episodes spent so far (exact budget accounting).
        generation: steps taken so far.
        invalid: evaluations whose rollout produced NaN/inf (never archived).
        explored: [cells] bool, coverage cells hit by any valid evaluated policy.
        areas: per-reward-area statistics (found, first find, max reward, count).
    """

    evaluations: jax.Array
    generation: jax.Array
    invalid: jax.Array
    explored: jax.Array
    areas: metrics.AreaStats


def init(spec: TaskSpec) -> Tracker:
    cells = math.prod(spec.grid_shape)  # k-d grids too (feet-contact descriptors)
    zero = jnp.zeros((), jnp.int32)
    return Tracker(
        evaluations=zero,
        generation=zero,
        invalid=zero,
        explored=jnp.zeros((cells,), bool),
        areas=metrics.init_area_stats(max(len(spec.reward_areas), 1)),
    )


def observe(
    tracker: Tracker,
    spec: TaskSpec,
    evaluation: Evaluation,
    counted: Optional[jax.Array] = None,
    exploration: bool | jax.Array = True,
) -> Tracker:
    """Accounts for one batch of evaluations.

    Args:
        tracker: the counters.
        spec: the task's description (coverage grid, reward areas).
        evaluation: the batch.
        counted: [B] bool, rows that are real evaluations (default all); rows
            rolled out only to keep a fixed batch shape are not budget.
        exploration: whether these are exploration policies; only those count
            towards `explored` (SERENE's emitter evaluations do not).
    """
    if counted is None:
        counted = jnp.ones((evaluation.batch_size,), bool)
    valid = evaluation.valid & counted
    evaluations = tracker.evaluations + jnp.sum(counted, dtype=jnp.int32)
    return tracker.replace(
        evaluations=evaluations,
        invalid=tracker.invalid + jnp.sum(counted & ~evaluation.valid, dtype=jnp.int32),
        explored=metrics.mark_cells(
            tracker.explored,
            evaluation.descriptor,
            spec.descriptor_low,
            spec.descriptor_high,
            spec.grid_shape,
            mask=valid & exploration,
        ),
        areas=metrics.update_area_stats(
            tracker.areas, evaluation.reward, evaluation.reward_area, valid, evaluations
        ),
    )


def next_generation(tracker: Tracker) -> Tracker:
    return tracker.replace(generation=tracker.generation + 1)


def report(
    tracker: Tracker,
    spec: TaskSpec,
    archive_gt: jax.Array,
    archive_mask: jax.Array,
    archive_size: jax.Array,
    counts: Optional[jax.Array] = None,
) -> dict[str, jax.Array]:
    """The metrics of a step: budget, archive coverage and uniformity, the
    coverage of all evaluated policies, and per reward area whether it was
    found, after how many evaluations, its best reward and evaluations spent.

    `counts`, when given, is the archive's cell histogram over the task's
    coverage grid (what `metrics.cell_histogram` of `archive_gt` gives), for
    an archive that already knows it (a grid archive on that very grid)."""
    if counts is None:
        counts = metrics.cell_histogram(
            archive_gt, spec.descriptor_low, spec.descriptor_high, spec.grid_shape, mask=archive_mask
        )
    out = {
        "evaluations": tracker.evaluations,
        "generation": tracker.generation,
        "archive_size": archive_size,
        "coverage": jnp.mean(counts > 0, dtype=jnp.float32),
        "uniformity": metrics.uniformity(counts),
        "explored_coverage": jnp.mean(tracker.explored, dtype=jnp.float32),
        "invalid": tracker.invalid,
        "areas_found": jnp.sum(tracker.areas.found[: len(spec.reward_areas)], dtype=jnp.int32),
    }
    for i in range(len(spec.reward_areas)):
        out[f"area{i}_found"] = tracker.areas.found[i]
        out[f"area{i}_first_found"] = tracker.areas.first_found[i]
        out[f"area{i}_max_reward"] = jnp.where(tracker.areas.found[i], tracker.areas.max_reward[i], 0.0)
        out[f"area{i}_evaluations"] = tracker.areas.count[i]
    return out


def close_generation(
    counters: Tracker,
    spec: TaskSpec,
    evaluation: Evaluation,
    archive: novelty_archive.NoveltyArchive,
    entries: Entries,
    insert_mask: jax.Array,
) -> tuple[Tracker, novelty_archive.NoveltyArchive]:
    """Counts the batch and inserts the selected entries stamped with the new
    generation; `archive_report` then gives the step's metrics."""
    counters = next_generation(observe(counters, spec, evaluation))
    archive, _ = novelty_archive.insert(archive, entries, insert_mask, generation=counters.generation)
    return counters, archive


def archive_report(
    counters: Tracker, spec: TaskSpec, archive: novelty_archive.NoveltyArchive
) -> dict[str, jax.Array]:
    """`report` on a novelty archive, with its overflow count."""
    out = report(counters, spec, archive.gt_descriptors, archive.mask, archive.size)
    out["archive_overflow"] = archive.overflow
    return out
