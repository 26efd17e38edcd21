"""Random search: every generation samples fresh genomes from the initial
distribution. The baseline that says how much exploration comes for free from
the policy parameterisation alone. Like novelty search, it keeps a random
subset of what it evaluates in an archive, so archives compare fairly."""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
from flax import struct

from emitters import variation
from qd import checks, refit, tracker
from qd.algorithms.base import Algorithm, AlgorithmState, register
from qd.algorithms.novelty_search import archive as _novelty_archive_snapshot
from qd.archives import novelty as novelty_archive
from qd.pipeline import Pipeline


@dataclasses.dataclass(frozen=True)
class RandomSearchConfig:
    """Random search settings.

    Attributes:
        batch_size: genomes sampled and evaluated per generation (200, as
            novelty search's offspring).
        archive_per_generation: evaluated genomes kept per generation (5).
        archive_capacity: rows of the archive.
        genome_low, genome_high, init_std: genes are N(0, init_std) clipped.
    """

    batch_size: int = 200
    archive_per_generation: int = 5
    archive_capacity: int = 15_000
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0

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
class RandomSearchState(AlgorithmState):
    """Random search state: its archive (and `AlgorithmState`'s fields)."""

    archive: novelty_archive.NoveltyArchive


def init(config: RandomSearchConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> RandomSearchState:
    """An empty archive; random search spends nothing before its first step."""
    del budget
    return RandomSearchState(
        archive=pipeline.novelty_archive(config.archive_capacity),
        tracker=tracker.init(pipeline.spec),
        representation=pipeline.init_representation(key),
        config=config,
        pipeline=pipeline,
    )


def step(state: RandomSearchState, key: jax.Array) -> tuple[RandomSearchState, dict]:
    """Evaluates `batch_size` fresh random genomes."""
    config, pipeline = state.config, state.pipeline
    k_init, k_eval, k_arch = jax.random.split(key, 3)
    genomes = variation.init_genomes(
        k_init, config.batch_size, pipeline.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    evaluation, entries = pipeline.evaluate(genomes, k_eval, state.representation)
    mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    counters, archive = tracker.close_generation(state.tracker, pipeline.spec, evaluation, state.archive, entries, mask)
    state = refit.maybe_refit(pipeline, state.replace(archive=archive, tracker=counters), counters.generation, key)
    return state, tracker.archive_report(state.tracker, pipeline.spec, state.archive)


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
