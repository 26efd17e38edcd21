"""MAP-Elites (Mouret & Clune 2015, "Illuminating search spaces by mapping
elites", arXiv:1504.04909) on a grid, or on a centroidal Voronoi tessellation
(Vassiliades et al. 2018, "Using centroidal Voronoi tessellations to scale up
the multidimensional archive of phenotypic elites algorithm", IEEE TEVC).

One generation: `batch_size` parents drawn uniformly from the filled cells are
varied (Gaussian mutation, or the iso+line operator of Vassiliades & Mouret
2018), evaluated, and each offspring replaces the elite of its cell if its
reward is higher. The descriptor is the task's ground truth.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
from flax import struct
from jax.sharding import NamedSharding

from emitters import variation
from qd import checks, cvt_archive, grid_archive, metrics, population, tracker
from qd.algorithm import Algorithm, ArchiveSnapshot, register
from qd.repertoire import Repertoire
from tasks.rollout import auto_sharding, evaluate

ARCHIVES = ("grid", "cvt")
VARIATIONS = ("gaussian", "isoline")


@dataclasses.dataclass(frozen=True)
class MapElitesConfig:
    """MAP-Elites settings.

    Attributes:
        archive: "grid" or "cvt".
        cells_per_dim: grid cells per descriptor dimension (grid archive).
        n_centroids: number of cells of the CVT archive.
        batch_size: offspring evaluated per generation (and initial genomes).
        variation: "gaussian" (mutation of every gene) or "isoline".
        mutation_sigma: std of the Gaussian mutation.
        iso_sigma: isotropic noise of the iso+line operator.
        line_sigma: noise along the line between two elites.
        genome_low, genome_high, init_std: genes are N(0, init_std) clipped.
        cvt_samples: uniform samples clustered into the CVT centroids.
        shard: split each batch over all devices when it divides evenly.
    """

    archive: str = "grid"
    cells_per_dim: int = 50
    n_centroids: int = 1000
    batch_size: int = 200
    variation: str = "isoline"
    mutation_sigma: float = 0.05
    iso_sigma: float = 0.01
    line_sigma: float = 0.1
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0
    cvt_samples: int = 50_000
    shard: bool = True

    def __post_init__(self):
        if self.archive not in ARCHIVES:
            raise ValueError(f"archive must be one of {', '.join(ARCHIVES)}, got {self.archive!r}")
        if self.variation not in VARIATIONS:
            raise ValueError(f"variation must be one of {', '.join(VARIATIONS)}, got {self.variation!r}")
        checks.positive_int_fields(self, "cells_per_dim", "n_centroids", "batch_size", "cvt_samples")
        if self.archive == "cvt" and self.n_centroids > self.cvt_samples:
            raise ValueError(f"n_centroids ({self.n_centroids}) must be <= cvt_samples ({self.cvt_samples})")
        for name in ("mutation_sigma", "iso_sigma", "line_sigma", "init_std"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.genome_low < self.genome_high:
            raise ValueError(f"genome_low ({self.genome_low}) must be < genome_high ({self.genome_high})")


@struct.dataclass
class MapElitesState:
    repertoire: Repertoire
    tracker: tracker.Tracker
    config: MapElitesConfig = struct.field(pytree_node=False)
    task: Any = struct.field(pytree_node=False)
    grid: Optional[grid_archive.GridSpec] = struct.field(pytree_node=False, default=None)
    lookup: Optional[cvt_archive.CellLookup] = struct.field(pytree_node=False, default=None)
    sharding: Optional[NamedSharding] = struct.field(pytree_node=False, default=None)

    @property
    def evaluations(self) -> jax.Array:
        return self.tracker.evaluations


def _insert(state: MapElitesState, entries, valid):
    if state.grid is not None:
        return grid_archive.insert(state.grid, state.repertoire, entries, valid)
    return cvt_archive.insert(state.repertoire, entries, valid, lookup=state.lookup)


def _coverage_grid(spec) -> Optional[grid_archive.GridSpec]:
    try:
        return grid_archive.GridSpec(spec.descriptor_low, spec.descriptor_high, spec.grid_shape)
    except ValueError:
        return None


def _evaluate_and_insert(state: MapElitesState, genomes, key) -> tuple[MapElitesState, dict]:
    task = state.task
    evaluation = evaluate(task, task.default_policy(), genomes, key, sharding=state.sharding)
    repertoire, _ = _insert(state, population.entries_from(genomes, evaluation), evaluation.valid)
    counters = tracker.observe(state.tracker, task.spec, evaluation)
    state = state.replace(repertoire=repertoire, tracker=counters)
    r = repertoire
    counts = None
    if state.grid is not None and state.grid == _coverage_grid(task.spec):
        # Elites sit in the cells of their (ground-truth) descriptors, so on
        # the coverage grid itself the archive's histogram is its fill.
        counts = r.filled.astype(jnp.int32)
    out = tracker.report(counters, task.spec, r.gt_descriptors, r.filled, r.size, counts=counts)
    out["qd_score"] = metrics.qd_score(r.rewards, r.filled)
    out["max_reward"] = jnp.max(jnp.where(r.filled, r.rewards, 0.0))
    return state, out


def init(config: MapElitesConfig, task, key: jax.Array) -> MapElitesState:
    """Evaluates `batch_size` random genomes into an empty archive."""
    spec = task.spec
    policy = task.default_policy()
    grid = lookup = None
    if config.archive == "grid":
        grid = grid_archive.GridSpec(spec.descriptor_low, spec.descriptor_high, (config.cells_per_dim,) * spec.descriptor_size)
        repertoire = grid_archive.init(grid, policy.genome_size, spec.descriptor_size)
    else:
        centroids = cvt_archive.cvt_centroids(
            config.n_centroids, spec.descriptor_low, spec.descriptor_high, n_samples=config.cvt_samples
        )
        repertoire = cvt_archive.init(centroids, policy.genome_size, spec.descriptor_size)
        lookup = cvt_archive.cell_lookup(centroids, spec.descriptor_low, spec.descriptor_high)
    state = MapElitesState(
        repertoire=repertoire,
        tracker=tracker.init(spec),
        config=config,
        task=task,
        grid=grid,
        lookup=lookup,
        sharding=auto_sharding(config.batch_size) if config.shard else None,
    )
    k_init, k_eval = jax.random.split(key)
    genomes = variation.init_genomes(
        k_init, config.batch_size, policy.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    state, _ = _evaluate_and_insert(state, genomes, k_eval)
    return state


def uniform_filled_cells(key: jax.Array, filled: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Cell indices drawn uniformly (with replacement) among the filled cells.

    An empty archive (every initial rollout invalid) falls back to uniform over
    all cells. The filled cells are listed once (a cumulative sum and a
    scatter, O(cells)) and indexed by uniform ranks: a categorical draw over
    the cells (`jax.random.categorical`, what this replaced) costs
    O(draws x cells) Gumbel samples, 13 ms a generation for 2 x 100 parents
    among 2,500 cells on a 2-core CPU.
    """
    n_cells = filled.shape[0]
    size = jnp.sum(filled, dtype=jnp.int32)
    empty = size == 0
    pool = filled | empty
    n = jnp.where(empty, n_cells, size)
    position = jnp.cumsum(pool, dtype=jnp.int32) - 1  # of each pool cell in the list
    cells = jnp.arange(n_cells, dtype=jnp.int32)
    # Cells outside the pool go past the end (each to its own index, so the
    # indices stay unique) and are dropped.
    listed = jnp.zeros((n_cells,), jnp.int32).at[jnp.where(pool, position, n_cells + cells)].set(
        cells, mode="drop", unique_indices=True
    )
    # 32 random bits modulo n: uniform up to a bias of n / 2**32 (a float
    # uniform would only have 2**23 levels to spread over the cells).
    rank = jax.random.bits(key, shape, jnp.uint32) % n.astype(jnp.uint32)
    return listed[rank.astype(jnp.int32)]


def step(state: MapElitesState, key: jax.Array) -> tuple[MapElitesState, dict]:
    """One generation: select, vary, evaluate, insert (`batch_size` episodes)."""
    config = state.config
    k_sel, k_var, k_eval = jax.random.split(key, 3)
    r = state.repertoire
    parents = uniform_filled_cells(k_sel, r.filled, (2, config.batch_size))
    bounds = dict(low=config.genome_low, high=config.genome_high)
    if config.variation == "isoline":
        genomes = variation.isoline_variation(
            k_var, r.genomes[parents[0]], r.genomes[parents[1]],
            iso_sigma=config.iso_sigma, line_sigma=config.line_sigma, **bounds,
        )
    else:
        genomes = variation.gaussian_mutation(k_var, r.genomes[parents[0]], sigma=config.mutation_sigma, **bounds)
    state, out = _evaluate_and_insert(state, genomes, k_eval)
    state = state.replace(tracker=tracker.next_generation(state.tracker))
    out["generation"] = state.tracker.generation
    return state, out


def archive(state: MapElitesState) -> ArchiveSnapshot:
    r = state.repertoire
    return ArchiveSnapshot(
        genome=r.genomes,
        descriptor=r.descriptors,
        gt_descriptor=r.gt_descriptors,
        reward=jnp.where(r.filled, r.rewards, 0.0),
        reward_area=r.reward_areas,
        mask=r.filled,
    )


ALGORITHM = register(
    Algorithm(
        name="me",
        config_cls=MapElitesConfig,
        init=init,
        step=step,
        archive=archive,
        evaluations_per_step=lambda config: config.batch_size,
        description="MAP-Elites on a grid or CVT archive of the ground-truth descriptor",
    )
)
