"""NSGA-II on (novelty, reward) (Deb et al. 2002, "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE TEC 6(2)): the multi-objective
baseline of SERENE (Paolo et al. 2021, "Sparse reward exploration via
novelty search and emitters", GECCO).

One generation: `population_size` parents are picked by binary tournament on
NSGA-II's crowded comparison (lower front, then larger crowding distance),
each makes `offspring_per_parent` Gaussian mutants, and the offspring are
evaluated. Parents + offspring get two objectives, both maximised: novelty
exactly as in novelty search (mean distance to the k nearest neighbours among
parents + offspring + archive) and the episode reward. The `population_size`
best by (front, crowding distance) survive (mu + lambda), and
`archive_per_generation` offspring join the novelty archive as in novelty
search. SERENE's reference code mutates every parent instead of holding
tournaments; `parent_selection="all"` does that.

Because the highest reward is always on the first front and at its boundary
(infinite crowding distance), the best policy found is never lost: unlike
novelty search, NSGA-II keeps what it learned about the reward while it
explores.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from emitters import variation
from qd import pareto, refit, tracker
from qd.algorithms import novelty_search
from qd.algorithms.base import Algorithm, AlgorithmState, register
from qd.algorithms.novelty_search import NoveltySearchConfig
from qd.archives import entries as entries_mod
from qd.archives import novelty as novelty_archive
from qd.archives.entries import Entries
from qd.novelty import knn_novelty_union
from qd.pipeline import Pipeline

PARENT_SELECTIONS = ("tournament", "all")


@dataclasses.dataclass(frozen=True)
class Nsga2Config(NoveltySearchConfig):
    """NSGA-II settings: novelty search's (population 100, 2 offspring per
    parent, k = 15, 5 random offspring archived per generation, mutation
    N(0, 0.05) clipped to [-5, 5]; see `NoveltySearchConfig`) plus how
    parents are picked.

    Attributes:
        parent_selection: "tournament" (NSGA-II: each of the
            `population_size` parents is the winner of a binary tournament on
            (front, crowding distance), drawn with replacement) or "all"
            (every survivor is a parent, as in SERENE's reference code).
    """

    parent_selection: str = "tournament"

    def __post_init__(self):
        super().__post_init__()
        if self.selection != "novelty":
            raise ValueError(
                f"selection must be 'novelty' for NSGA-II (its survivors are ranked on (novelty, reward)), "
                f"got {self.selection!r}"
            )
        if self.parent_selection not in PARENT_SELECTIONS:
            raise ValueError(
                f"parent_selection must be one of {', '.join(PARENT_SELECTIONS)}, got {self.parent_selection!r}"
            )


@struct.dataclass
class Nsga2State(AlgorithmState):
    """NSGA-II state: the population with its objectives, the archive, counters.

    Attributes:
        population: the current parents.
        population_valid: [P] bool, parents whose rollout was valid.
        novelty: [P] novelty of each parent when it was selected (0 if invalid).
        rank: [P] int32 front of each parent among the parents + offspring it survived (0 = best).
        crowding: [P] its crowding distance in that front.
        archive: the novelty archive.
        (and `AlgorithmState`'s tracker, representation, config, pipeline)
    """

    population: Entries
    population_valid: jax.Array
    novelty: jax.Array
    rank: jax.Array
    crowding: jax.Array
    archive: novelty_archive.NoveltyArchive


@struct.dataclass
class Ranking:
    """NSGA-II's view of parents + offspring.

    Attributes:
        novelty: [N] novelty (0 where invalid).
        rank: [N] int32 front (N where invalid).
        crowding: [N] crowding distance within the front.
        order: [N] int32 rows best first by (front, crowding, row).
    """

    novelty: jax.Array
    rank: jax.Array
    crowding: jax.Array
    order: jax.Array


def rank_merged(
    config: Nsga2Config, merged: Entries, valid: jax.Array, archive: novelty_archive.NoveltyArchive
) -> Ranking:
    """Novelty, fronts and crowding of parents + offspring, against themselves
    and the archive.

    Args:
        config: the settings (k).
        merged: N entries (parents then offspring).
        valid: [N] bool; invalid rows (NaN rollouts) are ranked last.
        archive: the novelty archive.

    Returns:
        Their ranking.
    """
    n = valid.shape[0]
    novelty = knn_novelty_union(
        merged.descriptor,
        [(merged.descriptor, valid), (archive.descriptors, archive.mask)],
        k=config.k,
        self_index=jnp.arange(n),
    )
    novelty = jnp.where(valid, novelty, 0.0)
    objectives = jnp.stack([novelty, jnp.where(valid, merged.reward, 0.0)], axis=1)
    rank = pareto.front_ranks(objectives, valid)
    crowding = pareto.crowding_distance(objectives, rank, valid)
    return Ranking(novelty=novelty, rank=rank, crowding=crowding, order=pareto.sort_order(rank, crowding, valid))


def init(config: Nsga2Config, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> Nsga2State:
    """Samples and evaluates the initial population (population_size episodes)
    and ranks it, as novelty search does."""
    ns = novelty_search.init(config, pipeline, key, budget)
    # Jitted: eagerly, the kNN and the sorts would dispatch (and compile) op by op.
    ranking = jax.jit(rank_merged, static_argnums=0)(config, ns.population, ns.population_valid, ns.archive)
    return Nsga2State(
        population=ns.population,
        population_valid=ns.population_valid,
        novelty=ranking.novelty,
        rank=ranking.rank,
        crowding=ranking.crowding,
        archive=ns.archive,
        tracker=ns.tracker,
        representation=ns.representation,
        config=config,
        pipeline=pipeline,
    )


def select_parents(state: Nsga2State, key: jax.Array) -> jax.Array:
    """[population_size] int32 indices of the parents of the next offspring.

    Binary tournament on the crowded comparison (Deb et al. 2002, III-C):
    the lower front wins, then the larger crowding distance, then the first
    contender. Invalid parents carry the worst front, so they only win
    against each other.
    """
    n = state.config.population_size
    if state.config.parent_selection == "all":
        return jnp.arange(n, dtype=jnp.int32)
    a, b = jax.random.randint(key, (2, n), 0, n, dtype=jnp.int32)
    rank = jnp.where(state.population_valid, state.rank, jnp.iinfo(jnp.int32).max)
    b_wins = (rank[b] < rank[a]) | ((rank[b] == rank[a]) & (state.crowding[b] > state.crowding[a]))
    return jnp.where(b_wins, b, a)


def breed(state: Nsga2State, key: jax.Array) -> jax.Array:
    """[offspring, D] mutants: `offspring_per_parent` per selected parent."""
    config = state.config
    k_sel, k_mut = jax.random.split(key)
    parents = state.population.genome[select_parents(state, k_sel)]
    parents = jnp.repeat(parents, config.offspring_per_parent, axis=0)
    return variation.gaussian_mutation(
        k_mut, parents, sigma=config.mutation_sigma, low=config.genome_low, high=config.genome_high
    )


def step(state: Nsga2State, key: jax.Array) -> tuple[Nsga2State, dict]:
    """One generation of NSGA-II (`config.offspring` episodes).

    Besides novelty search's metrics (`tracker.archive_report`):
    mean_novelty of the survivors, first_front_size of parents + offspring,
    and population_max_reward.
    """
    config, pipeline = state.config, state.pipeline
    k_breed, k_eval, k_arch = jax.random.split(key, 3)
    genomes = breed(state, k_breed)
    evaluation, offspring = pipeline.evaluate(genomes, k_eval, state.representation)

    # Parents and offspring compete together (mu + lambda).
    merged = entries_mod.concat(state.population, offspring)
    merged_valid = jnp.concatenate([state.population_valid, evaluation.valid])
    ranking = rank_merged(config, merged, merged_valid, state.archive)
    survivors = ranking.order[: config.population_size]

    offspring_novelty = ranking.novelty[config.population_size :]
    if config.archive_insertion == "random":
        mask = novelty_archive.select_random(k_arch, evaluation.valid, config.archive_per_generation)
    else:
        mask = novelty_archive.select_most_novel(offspring_novelty, config.archive_per_generation, evaluation.valid)
    counters, archive = tracker.close_generation(state.tracker, pipeline.spec, evaluation, state.archive, offspring, mask)
    survivors_valid = merged_valid[survivors]
    state = state.replace(
        population=entries_mod.take(merged, survivors),
        population_valid=survivors_valid,
        novelty=ranking.novelty[survivors],
        rank=ranking.rank[survivors],
        crowding=ranking.crowding[survivors],
        archive=archive,
        tracker=counters,
    )
    state = refit.maybe_refit(pipeline, state, counters.generation, key)
    metrics = tracker.archive_report(state.tracker, pipeline.spec, state.archive)
    n_valid = jnp.maximum(jnp.sum(survivors_valid), 1)
    metrics["mean_novelty"] = jnp.sum(jnp.where(survivors_valid, state.novelty, 0.0)) / n_valid
    metrics["first_front_size"] = jnp.sum((ranking.rank == 0) & merged_valid, dtype=jnp.int32)
    best = jnp.max(jnp.where(survivors_valid, state.population.reward, -jnp.inf))
    metrics["population_max_reward"] = jnp.where(jnp.any(survivors_valid), best, 0.0)
    return state, metrics


ALGORITHM = register(
    Algorithm(
        name="nsga2",
        config_cls=Nsga2Config,
        init=init,
        step=step,
        archive=novelty_search.archive,
        evaluations_per_step=lambda config: config.offspring,
        description="NSGA-II on (novelty, reward): mu+lambda by Pareto front and crowding distance",
    )
)
