"""Random search: every generation samples fresh genomes from the initial
distribution. The baseline that says how much exploration comes for free from
the policy parameterisation alone. Like novelty search, it keeps a random
subset of what it evaluates in an archive, so archives compare fairly."""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
from flax import struct
from jax.sharding import NamedSharding

from emitters import variation
from qd import checks, novelty_archive, population, tracker
from qd.algorithm import Algorithm, register
from qd.novelty_search import archive as _novelty_archive_snapshot
from tasks.rollout import auto_sharding, evaluate


@dataclasses.dataclass(frozen=True)
class RandomSearchConfig:
    """Random search settings.

    Attributes:
        batch_size: genomes sampled and evaluated per generation (200, as
            novelty search's offspring).
        archive_per_generation: evaluated genomes kept per generation (5).
        archive_capacity: rows of the archive.
        genome_low, genome_high, init_std: genes are N(0, init_std) clipped.
        shard: split each batch over all devices when it divides evenly.
    """

    batch_size: int = 200
    archive_per_generation: int = 5
    archive_capacity: int = 15_000
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0
    shard: bool = True

    def __post_init__(self):
        checks.positive_int_fields(self, "batch_size", "archive_per_generation", "archive_capacity")
        if self.archive_per_generation > self.batch_size:
            raise ValueError(
                f"archive_per_generation ({self.archive_per_generation}) must be <= batch_size ({self.batch_size})"
            )
        if not self.init_std >= 0:
            raise ValueError(f"init_std must be >= 0, got {self.init_std!r}")
        if not self.genome_low < self.genome_high:
            raise ValueError(f"genome_low ({self.genome_low}) must be < genome_high ({self.genome_high})")


@struct.dataclass
class RandomSearchState:
    archive: novelty_archive.NoveltyArchive
    tracker: tracker.Tracker
    config: RandomSearchConfig = struct.field(pytree_node=False)
    task: Any = struct.field(pytree_node=False)
    sharding: Optional[NamedSharding] = struct.field(pytree_node=False, default=None)

    @property
    def evaluations(self) -> jax.Array:
        return self.tracker.evaluations


def init(config: RandomSearchConfig, task, key: jax.Array) -> RandomSearchState:
    """An empty archive; random search spends nothing before its first step."""
    del key
    policy = task.default_policy()
    spec = task.spec
    return RandomSearchState(
        archive=novelty_archive.init(
            config.archive_capacity, policy.genome_size, spec.descriptor_size, spec.descriptor_size
        ),
        tracker=tracker.init(spec),
        config=config,
        task=task,
        sharding=auto_sharding(config.batch_size) if config.shard else None,
    )


def step(state: RandomSearchState, key: jax.Array) -> tuple[RandomSearchState, dict]:
    """Evaluates `batch_size` fresh random genomes."""
    config, task = state.config, state.task
    policy = task.default_policy()
    k_init, k_eval, k_arch = jax.random.split(key, 3)
    genomes = variation.init_genomes(
        k_init, config.batch_size, policy.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    evaluation = evaluate(task, policy, genomes, k_eval, sharding=state.sharding)
    mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    counters, archive, metrics = tracker.record_generation(
        state.tracker, task.spec, evaluation, state.archive, population.entries_from(genomes, evaluation), mask
    )
    state = state.replace(archive=archive, tracker=counters)
    return state, metrics


ALGORITHM = register(
    Algorithm(
        name="random",
        config_cls=RandomSearchConfig,
        init=init,
        step=step,
        archive=_novelty_archive_snapshot,
        evaluations_per_step=lambda config: config.batch_size,
        description="random search: fresh N(0, 1) genomes every generation (baseline)",
    )
)
