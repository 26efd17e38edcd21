"""MAP-Elites (Mouret & Clune 2015, "Illuminating search spaces by mapping
elites", arXiv:1504.04909) on a grid, or on a centroidal Voronoi tessellation
(Vassiliades et al. 2018, "Using centroidal Voronoi tessellations to scale up
the multidimensional archive of phenotypic elites algorithm", IEEE TEVC).

One generation: `batch_size` parents drawn uniformly from the filled cells are
varied (Gaussian mutation, or the iso+line operator of Vassiliades & Mouret
2018), evaluated, and each offspring replaces the elite of its cell if its
reward is higher. The descriptor comes from the run's representation (the
task's ground truth by default). With fixed bounds the grid or the CVT
centroids span them; in a learned space (or one without bounds) the cells
follow the space as AURORA's do (`qd.archives.adaptive`): a box fitted to the
archive, refitted with the representation, every elite re-inserted.

The third archive, "unstructured", is AURORA's own container (Cully 2019;
Grillotti & Cully 2022, AURORA-CSC; `qd.archives.unstructured`): no cells,
up to `capacity` elites kept about a distance `threshold` apart, every elite
re-inserted after a refit, and the threshold steered towards `target_size`
elites by container size control every `csc_every` generations. It needs no
bounds, so it works in any space, learned or not.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Union

import jax
import jax.numpy as jnp
from flax import struct

from emitters import variation
from qd import checks, metrics, refit, tracker
from qd.algorithms.base import Algorithm, AlgorithmState, ArchiveSnapshot, register
from qd.archives import adaptive
from qd.archives import cvt as cvt_archive
from qd.archives import grid as grid_archive
from qd.archives import unstructured
from qd.archives.repertoire import Repertoire, insert_by_cell
from qd.pipeline import Pipeline

ARCHIVES = ("grid", "cvt", "unstructured")
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
        threshold: the unstructured archive's initial distance threshold `l`
            (0.2: QDax 0.5's AURORA test, `l_value_init`).
        capacity: the most elites the unstructured archive holds (4096, four
            times the target: a size above the target is what raises `l`).
        target_size: the size container size control steers towards (1024:
            QDax 0.5's AURORA example and test, `target_repertoire_size`).
        csc_every: generations between two container size controls, skipped
            in a generation that refits (10: QDax's loop controls every
            other block of `log_freq` = 5 generations); 0: never.
        csc_gain: the controller's gain K (1e-5: QDax's `prop_gain`).
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
    threshold: float = 0.2
    capacity: int = 4096
    target_size: int = 1024
    csc_every: int = 10
    csc_gain: float = unstructured.CSC_GAIN

    def __post_init__(self):
        if self.archive not in ARCHIVES:
            raise ValueError(f"archive must be one of {', '.join(ARCHIVES)}, got {self.archive!r}")
        if self.variation not in VARIATIONS:
            raise ValueError(f"variation must be one of {', '.join(VARIATIONS)}, got {self.variation!r}")
        checks.positive_int_fields(self, "cells_per_dim", "n_centroids", "batch_size", "cvt_samples", "target_size")
        if self.archive == "unstructured":
            self._check_unstructured()
        if self.archive == "cvt" and self.n_centroids > self.cvt_samples:
            raise ValueError(f"n_centroids ({self.n_centroids}) must be <= cvt_samples ({self.cvt_samples})")
        checks.bounded_fields(self, ">= 0", "mutation_sigma", "iso_sigma", "line_sigma", "init_std")
        if not self.genome_low < self.genome_high:
            raise ValueError(f"genome_low ({self.genome_low}) must be < genome_high ({self.genome_high})")

    def _check_unstructured(self):
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) or self.capacity < 2:
            raise ValueError(f"capacity must be an integer >= 2, got {self.capacity!r}")
        if self.target_size > self.capacity:
            raise ValueError(
                f"target_size ({self.target_size}) must be <= capacity ({self.capacity}); "
                f"raise capacity (about 4 x target_size leaves the controller room)"
            )
        if isinstance(self.csc_every, bool) or not isinstance(self.csc_every, int) or self.csc_every < 0:
            raise ValueError(f"csc_every must be an integer >= 0 (0: no container size control), got {self.csc_every!r}")
        for name in ("threshold", "csc_gain"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold!r}")
        if not self.csc_gain >= 0:
            raise ValueError(f"csc_gain must be >= 0, got {self.csc_gain!r}")


@struct.dataclass
class MapElitesState(AlgorithmState):
    """MAP-Elites state: the repertoire and its cells.

    Attributes:
        repertoire: one elite per cell (grid, CVT), or the unstructured archive.
        space_low, space_high: [k] the box of an adaptive space, fitted to
            the archive (unused with fixed bounds, where the grid or the
            centroids already span them).
        grid, lookup: static: the grid of a grid archive, the nearest-centroid
            lookup of a CVT one, both over the unit box in an adaptive space
            (and `AlgorithmState`'s tracker, representation, config, pipeline).
    """

    repertoire: Union[Repertoire, unstructured.UnstructuredArchive]
    space_low: jax.Array
    space_high: jax.Array
    grid: Optional[grid_archive.GridSpec] = struct.field(pytree_node=False, default=None)
    lookup: Optional[cvt_archive.CellLookup] = struct.field(pytree_node=False, default=None)


def adaptive_space(pipeline: Pipeline) -> bool:
    """Whether the cells must follow the space (learned, or without bounds)."""
    return pipeline.representation.learned or pipeline.representation.bounds() is None


def _cells(state: MapElitesState, descriptors: jax.Array) -> jax.Array:
    """Cells of descriptors in an adaptive space (normalised by the box)."""
    unit = adaptive.normalise(descriptors, state.space_low, state.space_high)
    if state.grid is not None:
        return grid_archive.index_of(state.grid, unit)
    return cvt_archive.nearest_centroid(unit, state.repertoire.centroids, lookup=state.lookup)


def _unstructured(state: MapElitesState) -> bool:
    return isinstance(state.repertoire, unstructured.UnstructuredArchive)


def _insert(state: MapElitesState, entries, valid):
    if _unstructured(state):
        return unstructured.insert(state.repertoire, entries, valid)
    if adaptive_space(state.pipeline):
        return insert_by_cell(state.repertoire, entries, _cells(state, entries.descriptor), valid)
    if state.grid is not None:
        return grid_archive.insert(state.grid, state.repertoire, entries, valid)
    return cvt_archive.insert(state.repertoire, entries, valid, lookup=state.lookup)


def _refit_space(state: MapElitesState) -> MapElitesState:
    """After a refit: the box fitted to the elites' new descriptors, every
    elite re-inserted in the cell of its new descriptor (the unstructured
    archive: every elite re-inserted, `unstructured.reinsert`)."""
    r = state.repertoire
    if _unstructured(state):
        return state.replace(repertoire=unstructured.reinsert(r))
    low, high = adaptive.fit_box(r.descriptors, r.filled)
    state = state.replace(space_low=low, space_high=high)
    return state.replace(repertoire=adaptive.reinsert(r, _cells(state, r.descriptors)))


def _coverage_grid(spec) -> Optional[grid_archive.GridSpec]:
    try:
        return grid_archive.GridSpec(spec.descriptor_low, spec.descriptor_high, spec.grid_shape)
    except ValueError:
        return None


def _evaluate_and_insert(state: MapElitesState, genomes, key, fit_space: bool = False) -> tuple[MapElitesState, dict]:
    evaluation, entries = state.pipeline.evaluate(genomes, key, state.representation)
    return insert_evaluated(state, evaluation, entries, fit_space)


def insert_evaluated(state: MapElitesState, evaluation, entries, fit_space: bool = False) -> tuple[MapElitesState, dict]:
    """Inserts evaluated genomes (`pipeline.evaluate`'s output), counts them,
    and reports the step's metrics (for algorithms built on MAP-Elites that
    evaluate themselves, e.g. PGA-ME, which also needs the transitions).

    Args:
        fit_space: fit the box of an adaptive space to this batch first.
    """
    pipeline = state.pipeline
    spec = pipeline.spec
    fit_space = fit_space and not _unstructured(state)
    if fit_space:  # the first batch sets the box of an adaptive space
        low, high = adaptive.fit_box(entries.descriptor, evaluation.valid)
        state = state.replace(space_low=low, space_high=high)
    repertoire, _ = _insert(state, entries, evaluation.valid)
    counters = tracker.observe(state.tracker, spec, evaluation)
    state = state.replace(repertoire=repertoire, tracker=counters)
    r = repertoire
    counts = None
    if pipeline.is_ground_truth and state.grid is not None and state.grid == _coverage_grid(spec):
        # Elites sit in the cells of their ground-truth descriptors, so on
        # the coverage grid itself the archive's histogram is its fill.
        counts = r.filled.astype(jnp.int32)
    out = tracker.report(counters, spec, r.gt_descriptors, r.filled, r.size, counts=counts)
    out["qd_score"] = metrics.qd_score(r.rewards, r.filled)
    out["max_reward"] = metrics.max_reward(r.rewards, r.filled)
    return state, out


def empty_repertoire(
    config: MapElitesConfig, pipeline: Pipeline
) -> tuple[Repertoire, Optional[grid_archive.GridSpec], Optional[cvt_archive.CellLookup]]:
    """The empty grid or CVT repertoire over the representation's bounds, with
    the grid (grid archive) or the nearest-centroid lookup (CVT archive); or
    the empty unstructured archive (neither).

    In an adaptive space (`adaptive_space`) the cells span the unit box.

    Raises:
        ValueError: a grid over an adaptive space of more than 3 dimensions
            (use the CVT archive).
    """
    rep = pipeline.representation
    features = dict(feature_shape=rep.feature_shape, feature_dtype=rep.feature_dtype)
    gt_size = pipeline.spec.descriptor_size
    if config.archive == "unstructured":
        archive = unstructured.init(
            config.capacity, pipeline.genome_size, pipeline.descriptor_size, gt_size, config.threshold, **features
        )
        return archive, None, None
    if adaptive_space(pipeline):
        k = pipeline.descriptor_size
        if config.archive == "grid" and k > 3:
            raise ValueError(
                f"a grid archive over the {k}-d space of representation {rep.name!r} would have "
                f"{config.cells_per_dim}^{k} cells; use archive 'cvt' (AURORA)"
            )
        low, high = (0.0,) * k, (1.0,) * k
    else:
        low, high = rep.bounds()
    if config.archive == "grid":
        grid = grid_archive.GridSpec(low, high, (config.cells_per_dim,) * len(low))
        return grid_archive.init(grid, pipeline.genome_size, gt_size, **features), grid, None
    centroids = cvt_archive.cvt_centroids(config.n_centroids, low, high, n_samples=config.cvt_samples)
    repertoire = cvt_archive.init(centroids, pipeline.genome_size, gt_size, **features)
    return repertoire, None, cvt_archive.cell_lookup(centroids, low, high)


def init(config: MapElitesConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> MapElitesState:
    """Evaluates `batch_size` random genomes into an empty archive."""
    del budget
    state = empty_state(config, pipeline, key)
    k_init, k_eval = jax.random.split(key)
    genomes = variation.init_genomes(
        k_init, config.batch_size, pipeline.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    state, _ = _evaluate_and_insert(state, genomes, k_eval, fit_space=adaptive_space(pipeline))
    if _unstructured(state):  # QDax's loop starts its controller at the first batch's error
        state = state.replace(repertoire=unstructured.start_control(state.repertoire, config.target_size))
    return state


def empty_state(config: MapElitesConfig, pipeline: Pipeline, key: jax.Array) -> MapElitesState:
    """The state before anything is evaluated (the representation's initial
    parameters drawn from `key`, as `init` does)."""
    repertoire, grid, lookup = empty_repertoire(config, pipeline)
    k = pipeline.descriptor_size
    return MapElitesState(
        repertoire=repertoire,
        tracker=tracker.init(pipeline.spec),
        representation=pipeline.init_representation(key),
        # The box of an adaptive space, fitted to the first batch evaluated.
        space_low=jnp.zeros((k,), jnp.float32),
        space_high=jnp.ones((k,), jnp.float32),
        config=config,
        pipeline=pipeline,
        grid=grid,
        lookup=lookup,
    )


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
    if _unstructured(state):
        state = _refit_and_control(state, key)
    else:
        state = refit.maybe_refit(state.pipeline, state, state.tracker.generation, key, after=_refit_space)
    out["generation"] = state.tracker.generation
    if state.pipeline.representation.learned:
        out["representation_fits"] = state.representation.fits
    return state, out


def _refit_and_control(state: MapElitesState, key: jax.Array) -> MapElitesState:
    """The unstructured archive after a generation: the representation's
    refit (when due) and every elite re-inserted, or else, every
    `csc_every` generations, container size control (QDax's AURORA loop)."""
    config = state.config
    fits = state.representation.fits
    state = refit.maybe_refit(state.pipeline, state, state.tracker.generation, key)
    control = jnp.bool_(False)
    if config.csc_every > 0:
        control = state.tracker.generation % config.csc_every == 0
    archive = unstructured.maintain(
        state.repertoire, refitted=state.representation.fits != fits, control=control,
        target_size=config.target_size, gain=config.csc_gain,
    )
    return state.replace(repertoire=archive)


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
        description="MAP-Elites on a grid, CVT or unstructured archive of the descriptor space (AURORA in a learned one)",
    )
)
