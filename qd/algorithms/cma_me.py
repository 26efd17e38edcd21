"""CMA-ME with improvement emitters (Fontaine et al. 2020, "Covariance matrix
adaptation for the rapid illumination of behavior space", GECCO,
arXiv:1912.02400) on a MAP-Elites grid of the descriptor space (the task's
ground truth by default).

A fixed set of CMA-ES emitters (through `emitters.es`, stepped together with
`jax.vmap`) replaces MAP-Elites' mutation. One generation: every emitter asks
`emitter_batch_size` genomes; all are evaluated and inserted into the grid
(best reward per cell). Each emitter ranks its own offspring by improvement,
judged against the archive as it was before the generation: those that
reached an empty cell first (by reward), then those that beat their cell's
elite (by reward - elite reward), then the rest (by the same difference).
CMA-ES is told that ranking (as ordinal fitness), so the search moves towards
where the archive grows. An emitter that added nothing, or whose step size
collapsed, restarts at `sigma0` around a random elite of the archive.

The ranking is pyribs' two-stage improvement ranker ("2imp") and the restart
its "no_improvement" rule. The paper and pyribs' sphere example run 15
emitters of batch 36; the default here is 5 emitters of 40, so one generation
spends novelty search's 200 evaluations, with `sigma0 = 0.5` as in SERENE's
CMA-ME baseline. The recombination uses evosax's standard CMA-ES
weights over the whole ranking (pyribs' ``selection_rule="mu"``), not the
"filter" rule that keeps only the added offspring as parents.

The archive starts from `initial_batch` random genomes, as MAP-Elites does;
the emitters start around random elites of it.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from emitters import es
from qd import checks, metrics, tracker
from qd.algorithms import map_elites
from qd.algorithms.base import Algorithm, AlgorithmState, register
from qd.archives import grid as grid_archive
from qd.archives.entries import finite_entries
from qd.archives.repertoire import IMPROVED, NEW_CELL, NOT_ADDED, Repertoire
from qd.pipeline import Pipeline

# Emitters need a full covariance or a diagonal one; the gradient-based ESs
# of `emitters.es` have no step size to restart from in the same sense.
ES_ALGORITHMS = ("CMA_ES", "Sep_CMA_ES")
INVALID = -1  # improvement status of an invalid rollout: ranked below everything


@dataclasses.dataclass(frozen=True)
class CmaMeConfig:
    """CMA-ME settings.

    Attributes:
        n_emitters: CMA-ES improvement emitters, stepped together (5).
        emitter_batch_size: genomes each emitter asks per generation (40, so
            5 x 40 = 200 evaluations per generation as novelty search).
        sigma0: initial (and restart) step size of every emitter (0.5).
        es_algorithm: "CMA_ES" (full covariance) or "Sep_CMA_ES" (diagonal,
            for large genomes).
        restart_sigma: an emitter also restarts once its step size falls
            below this or stops being finite; 0 restarts only when nothing
            was added.
        cells_per_dim: grid cells per descriptor dimension (50).
        initial_batch: random genomes evaluated into the archive by `init`.
        genome_low, genome_high, init_std: initial genomes are N(0, init_std)
            clipped; asked genomes are clipped too.
    """

    n_emitters: int = 5
    emitter_batch_size: int = 40
    sigma0: float = 0.5
    es_algorithm: str = "CMA_ES"
    restart_sigma: float = 1e-6
    cells_per_dim: int = 50
    initial_batch: int = 200
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0

    def __post_init__(self):
        checks.positive_int_fields(self, "n_emitters", "cells_per_dim", "initial_batch")
        if isinstance(self.emitter_batch_size, bool) or not isinstance(self.emitter_batch_size, int) or (
            self.emitter_batch_size < 2
        ):
            raise ValueError(f"emitter_batch_size must be an integer >= 2, got {self.emitter_batch_size!r}")
        if self.es_algorithm not in ES_ALGORITHMS:
            raise ValueError(f"es_algorithm must be one of {', '.join(ES_ALGORITHMS)}, got {self.es_algorithm!r}")
        if not self.restart_sigma >= 0:
            raise ValueError(f"restart_sigma must be >= 0, got {self.restart_sigma!r}")
        if not self.init_std >= 0:
            raise ValueError(f"init_std must be >= 0, got {self.init_std!r}")
        self.es_config  # validates sigma0 and the genome bounds

    @property
    def es_config(self) -> es.ESConfig:
        return es.ESConfig(
            algorithm=self.es_algorithm,
            population_size=self.emitter_batch_size,
            sigma0=self.sigma0,
            low=self.genome_low,
            high=self.genome_high,
        )

    @property
    def batch_size(self) -> int:
        """Evaluations per generation."""
        return self.n_emitters * self.emitter_batch_size


@struct.dataclass
class CmaMeState(AlgorithmState):
    """CMA-ME state.

    Attributes:
        repertoire: the grid archive (one elite per cell).
        emitters: the CMA-ES states, stacked along a leading axis [n_emitters].
        restarts: [n_emitters] int32 restarts of each emitter so far.
        grid: the grid (static).
        (and `AlgorithmState`'s tracker, representation, config, pipeline)
    """

    repertoire: Repertoire
    emitters: es.ESState
    restarts: jax.Array
    grid: grid_archive.GridSpec = struct.field(pytree_node=False)


def init(config: CmaMeConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> CmaMeState:
    """Fills the grid with `initial_batch` random genomes (that many episodes)
    and centres every emitter on a random elite."""
    if map_elites.adaptive_space(pipeline):
        raise ValueError(
            f"CMA-ME needs a descriptor space with fixed bounds; representation "
            f"{pipeline.representation.name!r} has none (use ground_truth or projection, or 'me' with archive 'cvt')"
        )
    k_archive, k_emitters = jax.random.split(key)
    # MAP-Elites' own initialisation: same grid over the descriptor bounds,
    # same random genomes, same accounting.
    start = map_elites.init(
        map_elites.MapElitesConfig(
            archive="grid",
            cells_per_dim=config.cells_per_dim,
            batch_size=config.initial_batch,
            genome_low=config.genome_low,
            genome_high=config.genome_high,
            init_std=config.init_std,
        ),
        pipeline,
        k_archive,
        budget,
    )
    emitters = jax.jit(_fresh_emitters, static_argnums=0)(config, start.repertoire, k_emitters)
    return CmaMeState(
        repertoire=start.repertoire,
        emitters=emitters,
        restarts=jnp.zeros((config.n_emitters,), jnp.int32),
        tracker=start.tracker,
        representation=start.representation,
        config=config,
        pipeline=pipeline,
        grid=start.grid,
    )


def _fresh_emitters(config: CmaMeConfig, repertoire: Repertoire, key: jax.Array) -> es.ESState:
    """n_emitters new CMA-ES states at sigma0, each around a random elite."""
    k_elite, k_es = jax.random.split(key)
    # Uniform over filled cells; an empty archive (every rollout invalid so
    # far) falls back to all cells, i.e. zero genomes, rather than NaN weights.
    logits = jnp.where(repertoire.filled | (repertoire.size == 0), 0.0, -jnp.inf)
    elites = jax.random.categorical(k_elite, logits, shape=(config.n_emitters,))
    keys = jax.random.split(k_es, config.n_emitters)
    fresh = jax.vmap(lambda k, mean: es.init(config.es_config, k, mean))(keys, repertoire.genomes[elites])
    # evosax leaves some leaves weakly typed (e.g. best_fitness = inf); a state
    # that changes weak types between init and step would compile step twice.
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), fresh)


def improvement(repertoire: Repertoire, cells: jax.Array, reward: jax.Array, candidate: jax.Array):
    """What each offspring would do to the archive as it stands.

    Args:
        repertoire: the archive before this generation's insertion.
        cells: [...] cell of each offspring.
        reward: [...] its reward.
        candidate: [...] bool, valid offspring with finite values.

    Returns:
        (status, value): status is NEW_CELL (empty cell), IMPROVED (beats the
        elite), NOT_ADDED, or INVALID; value is the reward for a new cell and
        reward - elite reward otherwise (Fontaine et al. 2020, section 4.2).
    """
    occupied = repertoire.filled[cells]
    elite = jnp.where(occupied, repertoire.rewards[cells], 0.0)
    status = jnp.where(occupied, jnp.where(reward > elite, IMPROVED, NOT_ADDED), NEW_CELL)
    status = jnp.where(candidate, status, INVALID)
    value = jnp.where(occupied, reward - elite, reward)
    return status, jnp.where(candidate, value, 0.0)


def ranking_fitness(status: jax.Array, value: jax.Array) -> jax.Array:
    """Ordinal fitness (to maximise) of one emitter's offspring: new cells
    first, then improvements, then the rest, each group by `value`.

    Args:
        status: [B] int improvement status (see `improvement`).
        value: [B] float improvement value.

    Returns:
        [B] float32 in 0..B-1, B-1 for the best offspring; equal keys keep
        batch order (the later offspring ranks higher).
    """
    order = jnp.lexsort((value, status))  # worst first
    return jnp.argsort(order).astype(jnp.float32)


def step(state: CmaMeState, key: jax.Array) -> tuple[CmaMeState, dict]:
    """One generation: every emitter asks, all are evaluated and inserted,
    every emitter is told its improvement ranking (`batch_size` episodes).

    Besides `tracker.report`'s metrics: qd_score, max_reward (best elite),
    new_cells and improved_cells (this generation's insertions), restarts
    (emitters restarted) and mean_sigma (emitters' step size before restarts).
    """
    config, pipeline = state.config, state.pipeline
    n_emitters, batch = config.n_emitters, config.emitter_batch_size
    es_config = config.es_config
    k_ask, k_eval, k_restart = jax.random.split(key, 3)

    genomes, emitters = jax.vmap(functools.partial(es.ask, es_config))(
        state.emitters, jax.random.split(k_ask, n_emitters)
    )
    flat = genomes.reshape(n_emitters * batch, -1)
    evaluation, entries = pipeline.evaluate(flat, k_eval, state.representation)
    candidate = evaluation.valid & finite_entries(entries)

    cells = grid_archive.index_of(state.grid, entries.descriptor)
    status, value = improvement(state.repertoire, cells, entries.reward, candidate)
    status, value = status.reshape(n_emitters, batch), value.reshape(n_emitters, batch)
    fitness = jax.vmap(ranking_fitness)(status, value)
    emitters = jax.vmap(functools.partial(es.tell, es_config))(emitters, genomes, fitness)

    repertoire, inserted = grid_archive.insert(state.grid, state.repertoire, entries, candidate)

    # Restart (pyribs' "no_improvement" rule, plus CMA-ES's own stop on a
    # collapsed or diverged step size) around elites of the updated archive.
    sigma = jnp.max(emitters.sigma.reshape(n_emitters, -1), axis=1)
    collapsed = ~jnp.isfinite(sigma) | (sigma < config.restart_sigma)
    collapsed |= ~jnp.all(jnp.isfinite(emitters.mean), axis=1)
    restart = ~jnp.any(status > NOT_ADDED, axis=1) | collapsed
    fresh = _fresh_emitters(config, repertoire, k_restart)
    emitters = jax.tree.map(
        lambda new, old: jnp.where(restart.reshape((-1,) + (1,) * (old.ndim - 1)), new, old), fresh, emitters
    )

    counters = tracker.next_generation(tracker.observe(state.tracker, pipeline.spec, evaluation))
    state = state.replace(
        repertoire=repertoire,
        emitters=emitters,
        restarts=state.restarts + restart.astype(jnp.int32),
        tracker=counters,
    )
    r = repertoire
    out = tracker.report(counters, pipeline.spec, r.gt_descriptors, r.filled, r.size)
    out["qd_score"] = metrics.qd_score(r.rewards, r.filled)
    out["max_reward"] = metrics.max_reward(r.rewards, r.filled)
    out["new_cells"] = jnp.sum(inserted == NEW_CELL, dtype=jnp.int32)
    out["improved_cells"] = jnp.sum(inserted == IMPROVED, dtype=jnp.int32)
    out["restarts"] = jnp.sum(restart, dtype=jnp.int32)
    out["mean_sigma"] = jnp.mean(sigma)
    return state, out


ALGORITHM = register(
    Algorithm(
        name="cmame",
        config_cls=CmaMeConfig,
        init=init,
        step=step,
        archive=map_elites.archive,
        evaluations_per_step=lambda config: config.batch_size,
        description="CMA-ME: CMA-ES improvement emitters on a MAP-Elites grid of the descriptor space",
    )
)
