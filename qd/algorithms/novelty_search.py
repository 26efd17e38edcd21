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
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from emitters import variation
from qd import checks, pareto, refit, tracker
from qd.algorithms.base import Algorithm, AlgorithmState, ArchiveSnapshot, register
from qd.archives import entries as entries_mod
from qd.archives import novelty as novelty_archive
from qd.archives.entries import Entries
from qd.novelty import knn_novelty_union
from qd.pipeline import Pipeline
from tasks.evaluation import Evaluation

ARCHIVE_INSERTIONS = ("random", "most_novel")
# How survivors are chosen: the reference "novelty"; TAXONS' "surprise"
# (TAXO-S), "novelty_or_surprise" (TAXONS: one or the other with probability
# 1/2 each generation) and "pareto" (STAX-Pareto: NSGA-II fronts of novelty and
# surprise, then crowding distance).
SELECTIONS = ("novelty", "surprise", "novelty_or_surprise", "pareto")
# Folded into the step's key for TAXONS' coin, leaving the other streams as they were.
_COIN_SALT = 0xC017


@dataclasses.dataclass(frozen=True)
class NoveltySearchConfig:
    """Novelty search settings; defaults are the reference values (docs/reference.md).

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
        selection: what the survivors are the best at: "novelty" (reference),
            or, with a representation that has a surprise (the autoencoder),
            "surprise" (TAXO-S), "novelty_or_surprise" (TAXONS: a coin flip
            each generation) or "pareto" (STAX-Pareto: NSGA-II fronts of
            (novelty, surprise), then crowding distance).
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
    selection: str = "novelty"

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
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")

    @property
    def offspring(self) -> int:
        return self.population_size * self.offspring_per_parent


@struct.dataclass
class NoveltySearchState(AlgorithmState):
    """Novelty search state: parents, archive and counters.

    Attributes:
        population: the current parents.
        population_valid: [P] bool, parents whose rollout was valid.
        archive: the novelty archive.
        (and `AlgorithmState`'s tracker, representation, config, pipeline)
    """

    population: Entries
    population_valid: jax.Array
    archive: novelty_archive.NoveltyArchive


def init(
    config: NoveltySearchConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None
) -> NoveltySearchState:
    """Samples and evaluates the initial population (population_size episodes)."""
    del budget
    if config.selection != "novelty" and not pipeline.representation.has_surprise:
        raise ValueError(
            f"selection {config.selection!r} needs a representation with a surprise (autoencoder); "
            f"{pipeline.representation.name!r} has none: use selection 'novelty'"
        )
    k_init, k_eval = jax.random.split(key)
    genomes = variation.init_genomes(
        k_init, config.population_size, pipeline.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    rep = pipeline.init_representation(key)
    evaluation, entries = pipeline.evaluate(genomes, k_eval, rep)
    spec = pipeline.spec
    return NoveltySearchState(
        population=entries,
        population_valid=evaluation.valid,
        archive=pipeline.novelty_archive(config.archive_capacity),
        tracker=tracker.observe(tracker.init(spec), spec, evaluation),
        representation=rep,
        config=config,
        pipeline=pipeline,
    )


def step(state: NoveltySearchState, key: jax.Array) -> tuple[NoveltySearchState, dict]:
    """One generation of novelty search (`config.offspring` episodes)."""
    state, generation = advance(state, key)
    state = refit.maybe_refit(state.pipeline, state, state.tracker.generation, key)
    metrics = tracker.archive_report(state.tracker, state.pipeline.spec, state.archive)
    metrics["mean_novelty"] = generation.mean_novelty
    if generation.mean_surprise is not None:
        metrics["mean_surprise"] = generation.mean_surprise
    metrics["representation_fits"] = state.representation.fits
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
        mean_surprise: mean surprise of the survivors (selections that use it).
    """

    evaluation: Evaluation
    offspring: Entries
    offspring_novelty: jax.Array
    parents: Entries
    mean_novelty: jax.Array
    mean_surprise: Optional[jax.Array] = None


def _survivors(config, pipeline, state, merged: Entries, valid, novelty, key):
    """Rows of parents + offspring that survive, by `config.selection`, and
    the surprise of every row (None when the selection does not use it)."""
    if config.selection == "novelty":
        return jax.lax.top_k(novelty, config.population_size)[1], None
    surprise = jnp.where(valid, pipeline.surprise(state.representation, merged.features), -jnp.inf)
    if config.selection == "pareto":
        objectives = jnp.stack([jnp.where(valid, novelty, 0.0), jnp.where(valid, surprise, 0.0)], axis=1)
        ranks = pareto.front_ranks(objectives, valid)
        crowding = pareto.crowding_distance(objectives, ranks, valid)
        return pareto.sort_order(ranks, crowding, valid)[: config.population_size], surprise
    score = surprise
    if config.selection == "novelty_or_surprise":
        by_novelty = jax.random.bernoulli(jax.random.fold_in(key, _COIN_SALT))
        score = jnp.where(by_novelty, novelty, surprise)
    return jax.lax.top_k(score, config.population_size)[1], surprise


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
    config, pipeline = state.config, state.pipeline
    k_mut, k_eval, k_arch = jax.random.split(key, 3)
    parents = jnp.repeat(state.population.genome, config.offspring_per_parent, axis=0)
    genomes = variation.gaussian_mutation(
        k_mut, parents, sigma=config.mutation_sigma, low=config.genome_low, high=config.genome_high
    )
    evaluation, offspring = pipeline.evaluate(genomes, k_eval, state.representation)

    # Parents and offspring compete together (mu + lambda).
    merged = entries_mod.concat(state.population, offspring)
    merged_valid = jnp.concatenate([state.population_valid, evaluation.valid])
    n_merged = merged_valid.shape[0]
    novelty = knn_novelty_union(
        merged.descriptor,
        [(merged.descriptor, merged_valid), (state.archive.descriptors, state.archive.mask), *extra_references],
        k=config.k,
        self_index=jnp.arange(n_merged),
    )
    # Invalid rollouts never survive (their descriptor is a placeholder).
    novelty = jnp.where(merged_valid, novelty, -jnp.inf)
    survivors, surprise = _survivors(config, pipeline, state, merged, merged_valid, novelty, key)

    offspring_novelty = novelty[config.population_size :]
    if config.archive_insertion == "random":
        mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    else:
        mask = novelty_archive.select_most_novel(
            offspring_novelty, config.archive_per_generation, evaluation.valid
        )
    counters, archive = tracker.close_generation(
        state.tracker, pipeline.spec, evaluation, state.archive, offspring, mask
    )
    generation = Generation(
        evaluation=evaluation,
        offspring=offspring,
        offspring_novelty=offspring_novelty,
        parents=state.population,
        mean_novelty=jnp.mean(jnp.where(merged_valid, novelty, 0.0)[survivors]),
        mean_surprise=None if surprise is None else jnp.mean(jnp.where(merged_valid, surprise, 0.0)[survivors]),
    )
    state = state.replace(
        population=entries_mod.take(merged, survivors),
        population_valid=merged_valid[survivors],
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
