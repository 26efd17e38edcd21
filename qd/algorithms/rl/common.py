"""What PPO and SAC share as run algorithms: the episode archive, closing a
generation through the tracker, and the network sizes of their configs.

The archive of an RL run is a novelty-style archive of its *training
episodes*: each generation, `archive_per_generation` of the episodes just
run are stored uniformly at random (the reference novelty search's rule), with
their descriptors in the run's representation, ground-truth descriptors and
rewards, so archive coverage, the maps and the comparisons read it like an NS
archive. Its genome column has width 0: the episodes come from a stochastic
policy that kept changing, so there is no genome that would replay them (the
policy's parameters are in the checkpoints). Every training episode, archived
or not, is counted by the tracker (budget, explored coverage, areas found,
first find, max reward per area).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from qd import refit, tracker
from qd.algorithms import novelty_search
from qd.algorithms.base import ArchiveSnapshot
from qd.algorithms.rl import episodes
from qd.archives import novelty as novelty_archive
from qd.archives.entries import Entries
from tasks.evaluation import Evaluation


def check_hidden(name: str, sizes: Any) -> tuple[int, ...]:
    """Hidden layer widths as a tuple of positive ints.

    Raises:
        ValueError: naming the field and the bad value.
    """
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ValueError(f"{name} must be a list of positive layer widths, got {sizes!r}") from None
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"{name} must be a non-empty list of positive layer widths, got {sizes!r}")
    return sizes


def task_of(pipeline: Any, algorithm: str) -> Any:
    """The task whose environment an RL algorithm steps.

    Raises:
        ValueError: the pipeline's evaluator has no `task`.
    """
    task = getattr(pipeline.evaluator, "task", None)
    if task is None:
        raise ValueError(f"{algorithm} steps a task's environment: the pipeline's evaluator must have a `task`")
    return task


def init_state(state_cls: type, config: Any, pipeline: Any, learner: Any, key: jax.Array) -> Any:
    """A fresh RL run state: `learner`, an empty episode archive, fresh
    counters and the representation's initial parameters."""
    return state_cls(
        learner=learner,
        archive=empty_archive(pipeline, config.archive_capacity),
        tracker=tracker.init(pipeline.spec),
        representation=pipeline.init_representation(key),
        config=config,
        pipeline=pipeline,
    )


def training_generation(state: Any, key: jax.Array, train_episodes: Callable, algorithm: str) -> tuple[Any, dict, dict]:
    """One generation of an RL learner: `train_episodes(config, task,
    episode_length, learner, key, record=...)` runs `num_envs` whole training
    episodes (recording the agent's position), which are then counted and
    archived (`close_generation`).

    Returns:
        The new state, the tracker's metrics and the learner's losses.
    """
    config, pipeline = state.config, state.pipeline
    task = task_of(pipeline, algorithm)
    k_train, k_close = jax.random.split(key)
    learner, envs, positions, losses = train_episodes(
        config, task, task.spec.episode_length, state.learner, k_train,
        record=lambda s: jax.vmap(task.position)(s.pipeline_state),
    )
    evaluation = episodes.evaluation(task, envs, positions, pipeline.evaluator.with_observation)
    state, metrics = close_generation(state.replace(learner=learner), evaluation, k_close)
    return state, metrics, losses


def empty_archive(pipeline: Any, capacity: int) -> novelty_archive.NoveltyArchive:
    """An episode archive: the pipeline's entries with a genome of width 0."""
    template = pipeline.template()
    return novelty_archive.init_like(capacity, template.replace(genome=jnp.zeros((1, 0), jnp.float32)))


def episode_entries(pipeline: Any, evaluation: Evaluation, rep: Any) -> Entries:
    """Archive entries of training episodes (no genome)."""
    return pipeline.entries(jnp.zeros((evaluation.batch_size, 0), jnp.float32), evaluation, rep)


def close_generation(state: Any, evaluation: Evaluation, key: jax.Array) -> tuple[Any, dict]:
    """Counts the generation's episodes, archives `archive_per_generation` of
    them at random, refits a learned representation on schedule, and returns
    the state and the tracker's metrics."""
    config, pipeline = state.config, state.pipeline
    k_arch, k_refit = jax.random.split(key)
    entries = episode_entries(pipeline, evaluation, state.representation)
    mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    counters, archive = tracker.close_generation(state.tracker, pipeline.spec, evaluation, state.archive, entries, mask)
    state = state.replace(tracker=counters, archive=archive)
    state = refit.maybe_refit(pipeline, state, counters.generation, k_refit)
    metrics = tracker.archive_report(state.tracker, pipeline.spec, state.archive)
    metrics["mean_return"] = jnp.mean(jnp.where(evaluation.valid, evaluation.reward, 0.0))
    metrics["representation_fits"] = state.representation.fits
    return state, metrics


def archive(state: Any) -> ArchiveSnapshot:
    """The episode archive, as novelty search's (the same novelty archive type)."""
    return novelty_search.archive(state)


def rollout_chunks(episode_length: int, unroll_length: int) -> int:
    """Unrolls of `unroll_length` steps that cover a whole episode."""
    return -(-episode_length // unroll_length)
