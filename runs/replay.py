"""Replaying a finished run's archive: every archived genome is rolled out
again on the run's task, for what the run did not save (positions over the
whole episode, final views).

    result = replay_archive(config, archive["genome"], view_rows=[0, 5, 9])
    result.time_coverage          # [T] coverage of the grid at each recorded time
    result.views                  # [3, 64, 64, 3] uint8 final views of rows 0, 5, 9

Every task's start is deterministic (the rollout key only matters for tasks
that draw one), so a replay reproduces the run's episodes; `mismatched`
counts the policies whose replayed final descriptor differs from the
archived one, and inspect says so rather than plot a different archive.

Why replay rather than save more in archive.npz: positions at ~100 times
cost 800 B per policy and a final view 12 KiB (180 MB for a full
15,000-policy novelty archive), for numbers only inspect reads; a replay
costs a fraction of the run's evaluations (the archive is a small part of
what was evaluated) and nothing while the run runs. The views for the
reconstruction figure are rendered in the same pass (one compiled program)
and kept only for the few rows drawn.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

# Positions recorded per episode for the time coverage (TAXONS' ~100 time points).
TIME_POINTS = 100
BATCH = 256


@dataclasses.dataclass(frozen=True)
class Replay:
    """What replaying an archive gives.

    Attributes:
        steps: [T] the episode step of each recorded position (1-based).
        episode_length: steps of a full episode.
        time_coverage: [T] coverage of the task's coverage grid by the
            (valid) replayed positions at each recorded time
            (`qd.metrics.time_coverage`).
        valid: [N] replays without NaN/inf.
        mismatched: valid replays whose final descriptor differs from the
            archived ground-truth descriptor (beyond 1e-3 of the bounds).
        views: [len(view_rows), 64, 64, 3 * frames] uint8 views of the rows
            asked for (frame-major channels, the last three the final
            view), or None.
    """

    steps: np.ndarray
    episode_length: int
    time_coverage: np.ndarray
    valid: np.ndarray
    mismatched: int
    views: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class Policies:
    """What replaying a few policies gives, for showing them one by one
    (`replay_policies`).

    Attributes:
        trajectory: [N, T, 2] world positions at `steps`.
        steps: [T] the episode step of each position (1-based).
        views: [N, 64, 64, 3] uint8 final top-down views.
        reward: [N] episode rewards of the replays.
        descriptor: [N, g] final ground-truth descriptors of the replays.
        valid: [N] replays without NaN/inf.
    """

    trajectory: np.ndarray
    steps: np.ndarray
    views: np.ndarray
    reward: np.ndarray
    descriptor: np.ndarray
    valid: np.ndarray


def replay_task(run_config: Any, points: int = TIME_POINTS):
    """The run's task, recording `points` positions per episode when its
    config has a ``trajectory_points`` field (else the task's default).

    Raises:
        ConfigError: the task rejects its settings.
    """
    from runs.config import make_task

    task_config = run_config.task_config
    if any(f.name == "trajectory_points" for f in dataclasses.fields(task_config)):
        task_config = dataclasses.replace(task_config, trajectory_points=points)
    return make_task(run_config.task, task_config)


def replay_policies(run_config: Any, genomes: np.ndarray, *, points: int = TIME_POINTS,
                    batch: int = BATCH) -> Policies:
    """Rolls a few genomes out again with their trajectories and final views
    (for `divergent report`), in batches of `batch`, the last one padded: runs
    of one task share one compiled program whatever their number of policies.

    Args:
        run_config: the run's `RunConfig`.
        genomes: [N, D] genomes (N may be 0).
        points: positions recorded per episode (tasks with a
            ``trajectory_points`` field; others keep their own).
        batch: policies per rollout call.

    Returns:
        The `Policies`.
    """
    import jax

    from tasks.rollout import rollout

    task = replay_task(run_config, points)
    spec = task.spec
    genomes = np.asarray(genomes, np.float32)
    n = len(genomes)
    steps = np.asarray(spec.trajectory_steps)
    if n == 0:
        return Policies(np.zeros((0, len(steps), 2), np.float32), steps, np.zeros((0, 64, 64, 3), np.uint8),
                        np.zeros(0, np.float32), np.zeros((0, len(spec.descriptor_low)), np.float32),
                        np.zeros(0, bool))
    key = jax.random.PRNGKey(0)
    parts = []
    for start in range(0, n, batch):
        rows = genomes[start:start + batch]
        padded = np.concatenate([rows, np.repeat(rows[:1], batch - len(rows), axis=0)]) if len(rows) < batch else rows
        out = rollout(task, padded, key, with_observation=True)
        m = len(rows)
        parts.append(jax.tree.map(lambda x: np.asarray(x[:m]), (out.trajectory, out.observation, out.reward,
                                                                 out.descriptor, out.valid)))
    trajectory, views, reward, descriptor, valid = (np.concatenate(p) for p in zip(*parts))
    return Policies(
        trajectory=trajectory.astype(np.float32),
        steps=steps,
        views=np.round(np.clip(views, 0.0, 1.0) * 255.0).astype(np.uint8),
        reward=reward.astype(np.float32),
        descriptor=descriptor.astype(np.float32),
        valid=valid.astype(bool),
    )


def replay_archive(
    run_config: Any,
    genomes: np.ndarray,
    gt_descriptor: Optional[np.ndarray] = None,
    *,
    view_rows: Optional[Sequence[int]] = None,
    batch: int = BATCH,
    frames: int = 1,
) -> Replay:
    """Rolls the archive's genomes out again, in batches of `batch` (the last
    one padded, so one program is compiled), over every device JAX sees.

    Args:
        run_config: the run's `RunConfig`.
        genomes: [N, D] archive.npz's genomes (N >= 1).
        gt_descriptor: [N, g] archive.npz's, to count mismatched replays.
        view_rows: rows whose final view (uint8) to keep; None renders none.
        batch: policies per rollout call.
        frames: views per kept row at evenly spaced times
            (`TaskSpec.frame_steps`), stacked as channels as the autoencoder
            stores them: `Replay.views` is then [K, 64, 64, 3 * frames].

    Returns:
        The `Replay`.
    """
    import jax

    from qd import metrics
    from representations.autoencoder import stack_frames
    from tasks.rollout import rollout

    task = replay_task(run_config)
    spec = task.spec
    genomes = np.asarray(genomes, np.float32)
    n = len(genomes)
    batch = max(1, min(batch, n))
    devices = jax.devices()
    if len(devices) > 1 and batch % len(devices):
        batch += len(devices) - batch % len(devices)
    wanted = np.asarray(view_rows if view_rows is not None else (), int)
    with_views = view_rows is not None and len(wanted) > 0
    trajectories, valid, finals, views = [], [], [], {}
    key = jax.random.PRNGKey(0)
    for start in range(0, n, batch):
        rows = genomes[start:start + batch]
        padded = np.concatenate([rows, np.repeat(rows[:1], batch - len(rows), axis=0)]) if len(rows) < batch else rows
        out = rollout(task, padded, key, with_observation=with_views,
                      devices=devices if len(devices) > 1 else None, frames=frames if with_views else 1)
        m = len(rows)
        trajectories.append(np.asarray(out.trajectory[:m]))
        valid.append(np.asarray(out.valid[:m]))
        finals.append(np.asarray(out.descriptor[:m]))
        if with_views:
            here = wanted[(wanted >= start) & (wanted < start + m)]
            if len(here):
                picked = np.asarray(stack_frames(out.observation[here - start], frames))
                for row, view in zip(here, picked):
                    views[int(row)] = view
    trajectory = np.concatenate(trajectories)
    ok = np.concatenate(valid).astype(bool)
    coverage = np.asarray(metrics.time_coverage(trajectory, ok, spec))
    mismatched = 0
    if gt_descriptor is not None:
        gt = np.asarray(gt_descriptor, np.float64).reshape(n, -1)
        final = np.concatenate(finals).astype(np.float64).reshape(n, -1)
        span = np.asarray(spec.descriptor_high, np.float64) - np.asarray(spec.descriptor_low, np.float64)
        if gt.shape == final.shape:
            far = np.any(np.abs(final - gt) > 1e-3 * span, axis=1)
            mismatched = int(np.sum(far & ok))
    return Replay(
        steps=np.asarray(spec.trajectory_steps),
        episode_length=int(spec.episode_length),
        time_coverage=coverage,
        valid=ok,
        mismatched=mismatched,
        views=np.stack([views[int(r)] for r in wanted]) if with_views else None,
    )
