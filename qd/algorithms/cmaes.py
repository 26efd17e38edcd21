"""CMA-ES on the episode reward (Hansen 2016, "The CMA evolution strategy: a
tutorial", arXiv:1604.00772), through evosax: the objective-driven baseline.

On a sparse-reward task the reward is 0 almost everywhere, so CMA-ES mostly
drifts and its step size collapses; that is the point of the baseline. A
collapsed (or non-finite) search restarts from a fresh random mean, the usual
CMA-ES termination criterion on step size (Hansen 2016, appendix B.3). Like novelty search it keeps a
random subset of what it evaluates in an archive, for plots and coverage.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from emitters import es, variation
from qd import checks, refit, tracker
from qd.algorithms.base import Algorithm, AlgorithmState, register
from qd.algorithms.novelty_search import archive as _novelty_archive_snapshot
from qd.archives import novelty as novelty_archive
from qd.pipeline import Pipeline


@dataclasses.dataclass(frozen=True)
class CmaesConfig:
    """CMA-ES baseline settings.

    Attributes:
        es_algorithm: evosax strategy name (CMA_ES, Sep_CMA_ES, ...).
        population_size: genomes per generation (200, as novelty search).
        sigma0: initial step size.
        archive_per_generation: evaluated genomes kept per generation (5).
        archive_capacity: rows of the archive.
        genome_low, genome_high, init_std: the initial mean is one N(0,
            init_std) genome clipped; asked genomes are clipped too.
        restart_sigma: restart from a new random mean once the step size falls
            below this (or stops being finite); 0 disables restarts.
    """

    es_algorithm: str = "CMA_ES"
    population_size: int = 200
    sigma0: float = 0.5
    archive_per_generation: int = 5
    archive_capacity: int = 15_000
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0
    restart_sigma: float = 1e-6

    def __post_init__(self):
        checks.positive_int_fields(self, "archive_per_generation", "archive_capacity")
        if self.archive_per_generation > self.population_size:
            raise ValueError(
                f"archive_per_generation ({self.archive_per_generation}) must be <= population_size "
                f"({self.population_size})"
            )
        if not self.restart_sigma >= 0:
            raise ValueError(f"restart_sigma must be >= 0, got {self.restart_sigma!r}")
        if not self.init_std >= 0:
            raise ValueError(f"init_std must be >= 0, got {self.init_std!r}")
        self.es_config  # validates the ES settings

    @property
    def es_config(self) -> es.ESConfig:
        return es.ESConfig(
            algorithm=self.es_algorithm,
            population_size=self.population_size,
            sigma0=self.sigma0,
            low=self.genome_low,
            high=self.genome_high,
        )


@struct.dataclass
class CmaesState(AlgorithmState):
    """CMA-ES state: the evolution strategy's state and the archive of a
    random subset of its evaluations (and `AlgorithmState`'s fields)."""

    es_state: es.ESState
    archive: novelty_archive.NoveltyArchive


def init(config: CmaesConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> CmaesState:
    """Centres the search on one random genome; spends no evaluation."""
    del budget
    return CmaesState(
        es_state=_fresh_search(config, pipeline.genome_size, key),
        archive=pipeline.novelty_archive(config.archive_capacity),
        tracker=tracker.init(pipeline.spec),
        representation=pipeline.init_representation(key),
        config=config,
        pipeline=pipeline,
    )


def _fresh_search(config: CmaesConfig, genome_size: int, key: jax.Array) -> es.ESState:
    k_mean, k_es = jax.random.split(key)
    mean = variation.init_genomes(
        k_mean, 1, genome_size, std=config.init_std, low=config.genome_low, high=config.genome_high
    )[0]
    return es.init(config.es_config, k_es, mean, config.sigma0)


def step(state: CmaesState, key: jax.Array) -> tuple[CmaesState, dict]:
    """Ask, evaluate, tell (maximising the reward)."""
    config, pipeline = state.config, state.pipeline
    k_ask, k_eval, k_arch, k_restart = jax.random.split(key, 4)
    genomes, es_state = es.ask(config.es_config, state.es_state, k_ask)
    evaluation, entries = pipeline.evaluate(genomes, k_eval, state.representation)
    # Invalid rollouts rank below every valid one.
    fitness = jnp.where(evaluation.valid, evaluation.reward, -1e9)
    es_state = es.tell(config.es_config, es_state, genomes, fitness)
    sigma = jnp.max(es_state.sigma)
    collapsed = ~jnp.isfinite(sigma) | (sigma < config.restart_sigma)
    fresh = _fresh_search(config, genomes.shape[-1], k_restart)
    es_state = jax.tree.map(lambda new, old: jnp.where(collapsed, new, old), fresh, es_state)
    mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    counters, archive = tracker.close_generation(state.tracker, pipeline.spec, evaluation, state.archive, entries, mask)
    state = state.replace(es_state=es_state, archive=archive, tracker=counters)
    state = refit.maybe_refit(pipeline, state, counters.generation, key)
    metrics = tracker.archive_report(state.tracker, pipeline.spec, state.archive)
    metrics["restarted"] = collapsed.astype(jnp.float32)
    return state, metrics


ALGORITHM = register(
    Algorithm(
        name="cmaes",
        config_cls=CmaesConfig,
        init=init,
        step=step,
        archive=_novelty_archive_snapshot,
        evaluations_per_step=lambda config: config.population_size,
        description="CMA-ES on reward through evosax (objective-only baseline)",
    )
)
