"""Novelty search (Lehman & Stanley 2011, "Abandoning objectives: evolution
through the search for novelty alone", Evolutionary Computation 19(2)), as in
the reference code of SERENE (Paolo et al. 2021) and TAXONS (Paolo et al. 2020).

One generation: every parent makes `offspring_per_parent` Gaussian mutants;
the offspring are evaluated; the novelty of parents and offspring is the mean
distance to their k nearest neighbours among parents + offspring + archive
(themselves excluded); the `population_size` most novel survive (mu + lambda);
`archive_per_generation` offspring join the archive (uniformly at random in
the reference, or the most novel).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
from flax import struct
from jax.sharding import NamedSharding

from emitters import variation
from qd import checks, novelty_archive, population, tracker
from qd.algorithm import Algorithm, ArchiveSnapshot, register
from qd.novelty import knn_novelty_union
from qd.repertoire import Entries
from tasks.evaluation import Evaluation
from tasks.rollout import auto_sharding, evaluate

ARCHIVE_INSERTIONS = ("random", "most_novel")


@dataclasses.dataclass(frozen=True)
class NoveltySearchConfig:
    """Novelty search settings; defaults are the reference values (DESIGN.md 6).

    Attributes:
        population_size: parents kept each generation (100).
        offspring_per_parent: mutants per parent (2, i.e. 200 evaluations).
        k: neighbours in the novelty estimate (15).
        archive_insertion: "random" (reference) or "most_novel" offspring.
        archive_per_generation: offspring added to the archive per generation (5).
        archive_capacity: rows of the archive (a full archive is reported).
        mutation_sigma: std of the Gaussian mutation of every gene (0.05).
        genome_low: lower clip bound of genes (-5).
        genome_high: upper clip bound of genes (5).
        init_std: std of the initial N(0, std) genes (1).
        shard: split each batch over all devices JAX sees when it divides evenly.
    """

    population_size: int = 100
    offspring_per_parent: int = 2
    k: int = 15
    archive_insertion: str = "random"
    archive_per_generation: int = 5
    archive_capacity: int = 15_000
    mutation_sigma: float = 0.05
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0
    shard: bool = True

    def __post_init__(self):
        checks.positive_int_fields(
            self, "population_size", "offspring_per_parent", "k", "archive_per_generation", "archive_capacity"
        )
        if self.archive_insertion not in ARCHIVE_INSERTIONS:
            raise ValueError(
                f"archive_insertion must be one of {', '.join(ARCHIVE_INSERTIONS)}, got {self.archive_insertion!r}"
            )
        if self.archive_per_generation > self.offspring:
            raise ValueError(
                f"archive_per_generation ({self.archive_per_generation}) must be <= the offspring "
                f"per generation ({self.offspring})"
            )
        if self.k >= self.population_size + self.offspring:
            raise ValueError(
                f"k ({self.k}) must be smaller than parents + offspring ({self.population_size + self.offspring})"
            )
        if not self.mutation_sigma >= 0:
            raise ValueError(f"mutation_sigma must be >= 0, got {self.mutation_sigma!r}")
        if not self.init_std >= 0:
            raise ValueError(f"init_std must be >= 0, got {self.init_std!r}")
        if not self.genome_low < self.genome_high:
            raise ValueError(f"genome_low ({self.genome_low}) must be < genome_high ({self.genome_high})")

    @property
    def offspring(self) -> int:
        return self.population_size * self.offspring_per_parent


@struct.dataclass
class NoveltySearchState:
    """Novelty search state: parents, archive and counters.

    Attributes:
        population: the current parents.
        population_valid: [P] bool, parents whose rollout was valid.
        archive: the novelty archive.
        tracker: budget and metrics counters.
        config, task, sharding: static (not pytree leaves).
    """

    population: Entries
    population_valid: jax.Array
    archive: novelty_archive.NoveltyArchive
    tracker: tracker.Tracker
    config: NoveltySearchConfig = struct.field(pytree_node=False)
    task: Any = struct.field(pytree_node=False)
    sharding: Optional[NamedSharding] = struct.field(pytree_node=False, default=None)

    @property
    def evaluations(self) -> jax.Array:
        return self.tracker.evaluations


def init(config: NoveltySearchConfig, task, key: jax.Array) -> NoveltySearchState:
    """Samples and evaluates the initial population (population_size episodes)."""
    policy = task.default_policy()
    k_init, k_eval = jax.random.split(key)
    genomes = variation.init_genomes(
        k_init, config.population_size, policy.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    sharding = auto_sharding(config.offspring) if config.shard else None
    init_sharding = auto_sharding(config.population_size) if config.shard else None
    evaluation = evaluate(task, policy, genomes, k_eval, sharding=init_sharding)
    entries = population.entries_from(genomes, evaluation)
    spec = task.spec
    return NoveltySearchState(
        population=entries,
        population_valid=evaluation.valid,
        archive=novelty_archive.init(
            config.archive_capacity, policy.genome_size, entries.descriptor.shape[1], spec.descriptor_size
        ),
        tracker=tracker.observe(tracker.init(spec), spec, evaluation),
        config=config,
        task=task,
        sharding=sharding,
    )


def step(state: NoveltySearchState, key: jax.Array) -> tuple[NoveltySearchState, dict]:
    """One generation of novelty search (`config.offspring` episodes)."""
    state, generation = advance(state, key)
    metrics = tracker.archive_report(state.tracker, state.task.spec, state.archive)
    metrics["mean_novelty"] = generation.mean_novelty
    return state, metrics


@struct.dataclass
class Generation:
    """What one generation evaluated (for algorithms built on novelty search).

    Attributes:
        evaluation: the offspring's evaluation.
        offspring: their archive entries.
        offspring_novelty: [offspring] novelty of each offspring (-inf if invalid).
        parents: the parents that made them (before selection).
        mean_novelty: mean novelty of the survivors.
    """

    evaluation: Evaluation
    offspring: Entries
    offspring_novelty: jax.Array
    parents: Entries
    mean_novelty: jax.Array


def advance(
    state: NoveltySearchState, key: jax.Array, extra_references: Sequence[tuple[jax.Array, jax.Array]] = ()
) -> tuple[NoveltySearchState, Generation]:
    """One generation without the metrics report.

    Args:
        state: the novelty search state.
        key: PRNG key.
        extra_references: more (descriptors [N, k], mask [N]) sets the novelty
            is measured against, e.g. SERENE's reward archive.

    Returns:
        The next state and what the generation evaluated.
    """
    config, task = state.config, state.task
    k_mut, k_eval, k_arch = jax.random.split(key, 3)
    parents = jnp.repeat(state.population.genome, config.offspring_per_parent, axis=0)
    genomes = variation.gaussian_mutation(
        k_mut, parents, sigma=config.mutation_sigma, low=config.genome_low, high=config.genome_high
    )
    evaluation = evaluate(task, task.default_policy(), genomes, k_eval, sharding=state.sharding)
    offspring = population.entries_from(genomes, evaluation)

    pool = population.concat(state.population, offspring)
    pool_valid = jnp.concatenate([state.population_valid, evaluation.valid])
    n_pool = pool_valid.shape[0]
    novelty = knn_novelty_union(
        pool.descriptor,
        [(pool.descriptor, pool_valid), (state.archive.descriptors, state.archive.mask), *extra_references],
        k=config.k,
        self_index=jnp.arange(n_pool),
    )
    # Invalid rollouts never survive (their descriptor is a placeholder).
    novelty = jnp.where(pool_valid, novelty, -jnp.inf)
    _, survivors = jax.lax.top_k(novelty, config.population_size)

    offspring_novelty = novelty[config.population_size :]
    if config.archive_insertion == "random":
        mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    else:
        mask = novelty_archive.select_most_novel(
            offspring_novelty, config.archive_per_generation, evaluation.valid
        )
    counters, archive = tracker.close_generation(
        state.tracker, task.spec, evaluation, state.archive, offspring, mask
    )
    generation = Generation(
        evaluation=evaluation,
        offspring=offspring,
        offspring_novelty=offspring_novelty,
        parents=state.population,
        mean_novelty=jnp.mean(jnp.where(pool_valid, novelty, 0.0)[survivors]),
    )
    state = state.replace(
        population=population.take(pool, survivors),
        population_valid=pool_valid[survivors],
        archive=archive,
        tracker=counters,
    )
    return state, generation


def archive(state: NoveltySearchState) -> ArchiveSnapshot:
    a = state.archive
    return ArchiveSnapshot(
        genome=a.genomes,
        descriptor=a.descriptors,
        gt_descriptor=a.gt_descriptors,
        reward=a.rewards,
        reward_area=a.reward_areas,
        mask=a.mask,
        generation=a.generations,
    )


ALGORITHM = register(
    Algorithm(
        name="ns",
        config_cls=NoveltySearchConfig,
        init=init,
        step=step,
        archive=archive,
        evaluations_per_step=lambda config: config.offspring,
        description="novelty search: mu+lambda on kNN novelty, archive of random offspring",
    )
)
