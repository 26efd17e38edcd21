"""Conversion of grid/CVT archives to and from the peers: QDax and pyribs.

QDax 0.5 ``MapElitesRepertoire`` and pyribs 0.12 ``GridArchive`` /
``CVTArchive`` are optional dependencies (the ``peers`` extra), imported
inside the functions. The ground-truth descriptor and reward area travel as
QDax extra scores / pyribs extra fields named ``gt_descriptor`` and
``reward_area``; when a peer archive lacks them, the descriptor and -1 are
used.

Cell numbering agrees between the three libraries: CVT cells are centroid
indices; grid cells are in C order, as pyribs' ``grid_to_int_index``.
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from qd.archives.grid import GridSpec, cell_centres
from qd.archives.repertoire import Repertoire

GT_FIELD = "gt_descriptor"
AREA_FIELD = "reward_area"


def to_qdax(repertoire: Repertoire) -> Any:
    """A QDax ``MapElitesRepertoire`` holding the same elites.

    Empty cells get fitness -inf (QDax's convention); fitnesses have shape
    [C, 1] as in QDax 0.5.

    Args:
        repertoire: our grid or CVT repertoire.

    Returns:
        ``qdax.core.containers.mapelites_repertoire.MapElitesRepertoire``.
    """
    from qdax.core.containers.mapelites_repertoire import MapElitesRepertoire

    fitness = jnp.where(repertoire.filled, repertoire.rewards, -jnp.inf)[:, None]
    return MapElitesRepertoire(
        genotypes=repertoire.genomes,
        fitnesses=fitness,
        descriptors=repertoire.descriptors,
        centroids=repertoire.centroids,
        extra_scores={GT_FIELD: repertoire.gt_descriptors, AREA_FIELD: repertoire.reward_areas},
        keys_extra_scores=(GT_FIELD, AREA_FIELD),
    )


def from_qdax(qdax_repertoire: Any) -> Repertoire:
    """Our ``Repertoire`` from a QDax ``MapElitesRepertoire``.

    Cells with fitness -inf are empty. Pytree genotypes are flattened per cell
    (``jax.flatten_util.ravel_pytree``) into flat genomes.

    Args:
        qdax_repertoire: a ``MapElitesRepertoire`` (or anything with
            ``genotypes``, ``fitnesses``, ``descriptors``, ``centroids``).

    Returns:
        The repertoire.

    Raises:
        ValueError: if fitnesses are not one value per cell.
    """
    from jax.flatten_util import ravel_pytree

    fitness = jnp.asarray(qdax_repertoire.fitnesses, jnp.float32)
    n_cells = qdax_repertoire.centroids.shape[0]
    if fitness.size != n_cells:
        raise ValueError(
            f"expected one fitness per cell ({n_cells}), got shape {fitness.shape}"
        )
    fitness = fitness.reshape(n_cells)
    genomes = jax.vmap(lambda g: ravel_pytree(g)[0])(qdax_repertoire.genotypes)
    filled = fitness > -jnp.inf
    descriptors = jnp.asarray(qdax_repertoire.descriptors, jnp.float32)
    extra = getattr(qdax_repertoire, "extra_scores", None) or {}
    gt = jnp.asarray(extra.get(GT_FIELD, descriptors), jnp.float32)
    area = jnp.asarray(extra.get(AREA_FIELD, jnp.full((n_cells,), -1)), jnp.int32)
    return Repertoire(
        genomes=genomes.astype(jnp.float32),
        descriptors=descriptors,
        gt_descriptors=gt.reshape(n_cells, -1),
        rewards=jnp.where(filled, fitness, -jnp.inf),
        reward_areas=jnp.where(filled, area.reshape(n_cells), -1),
        filled=filled,
        centroids=jnp.asarray(qdax_repertoire.centroids, jnp.float32),
        features=descriptors,  # what a ground-truth representation would store
    )


def to_pyribs_grid(repertoire: Repertoire, spec: GridSpec, **kwargs) -> Any:
    """A pyribs ``GridArchive`` (float32) holding the same elites.

    Args:
        repertoire: our grid repertoire.
        spec: its grid.
        **kwargs: passed on to ``GridArchive`` (e.g. ``qd_score_offset``).

    Returns:
        ``ribs.archives.GridArchive``.

    Raises:
        ValueError: if the spec does not match, or pyribs places two elites in
            one cell (a descriptor within float error of a cell boundary).
    """
    from ribs.archives import GridArchive

    if repertoire.n_cells != spec.n_cells:
        raise ValueError(f"repertoire has {repertoire.n_cells} cells, spec has {spec.n_cells}")
    archive = GridArchive(
        solution_dim=repertoire.genomes.shape[1],
        dims=spec.cells,
        ranges=list(zip(spec.low, spec.high)),
        dtype=np.float32,
        extra_fields=_ribs_fields(repertoire),
        **kwargs,
    )
    return _fill_ribs(archive, repertoire)


def to_pyribs_cvt(
    repertoire: Repertoire, low: Sequence[float], high: Sequence[float], **kwargs
) -> Any:
    """A pyribs ``CVTArchive`` (float32) over our centroids, with the same elites.

    Args:
        repertoire: our CVT repertoire.
        low: lower descriptor bounds (pyribs needs ``ranges``).
        high: upper descriptor bounds.
        **kwargs: passed on to ``CVTArchive``.

    Returns:
        ``ribs.archives.CVTArchive``.

    Raises:
        ValueError: on mismatched bounds or if pyribs places two elites in one cell.
    """
    from ribs.archives import CVTArchive

    if len(low) != len(high) or len(low) != repertoire.centroids.shape[1]:
        raise ValueError(
            f"low and high need {repertoire.centroids.shape[1]} values, "
            f"got {len(low)} and {len(high)}"
        )
    archive = CVTArchive(
        solution_dim=repertoire.genomes.shape[1],
        centroids=np.asarray(repertoire.centroids),
        ranges=list(zip(low, high)),
        dtype=np.float32,
        extra_fields=_ribs_fields(repertoire),
        **kwargs,
    )
    return _fill_ribs(archive, repertoire)


def from_pyribs_grid(archive: Any) -> Tuple[GridSpec, Repertoire]:
    """Our grid (spec, repertoire) from a pyribs ``GridArchive``.

    Args:
        archive: ``ribs.archives.GridArchive``.

    Returns:
        (the grid spec, the repertoire).
    """
    spec = GridSpec(
        tuple(archive.lower_bounds),
        tuple(archive.upper_bounds),
        tuple(int(d) for d in archive.dims),
    )
    return spec, _from_ribs(archive, np.asarray(cell_centres(spec)))


def from_pyribs_cvt(archive: Any) -> Repertoire:
    """Our CVT repertoire from a pyribs ``CVTArchive`` (same centroids)."""
    return _from_ribs(archive, np.asarray(archive.centroids))


def _ribs_fields(repertoire: Repertoire) -> dict:
    return {
        GT_FIELD: ((repertoire.gt_descriptors.shape[1],), np.float32),
        AREA_FIELD: ((), np.int32),
    }


def _fill_ribs(archive: Any, repertoire: Repertoire) -> Any:
    filled = np.asarray(repertoire.filled)
    if filled.any():
        archive.add(
            solution=np.asarray(repertoire.genomes)[filled],
            objective=np.asarray(repertoire.rewards)[filled],
            measures=np.asarray(repertoire.descriptors)[filled],
            **{
                GT_FIELD: np.asarray(repertoire.gt_descriptors)[filled],
                AREA_FIELD: np.asarray(repertoire.reward_areas)[filled],
            },
        )
    if len(archive) != int(filled.sum()):
        raise ValueError(
            f"pyribs kept {len(archive)} of {int(filled.sum())} elites: some descriptors "
            "map to a shared pyribs cell (float error at a cell boundary)"
        )
    return archive


def _from_ribs(archive: Any, centroids: np.ndarray) -> Repertoire:
    n_cells = centroids.shape[0]
    data = archive.data()
    index = np.asarray(data["index"], np.int64)
    solution = _rows(data["solution"], np.float32)
    measures = _rows(data["measures"], np.float32)
    genome_size = int(np.prod(archive.solution_dim))
    gt = _rows(data.get(GT_FIELD, measures), np.float32)
    area = np.asarray(data.get(AREA_FIELD, np.full(len(index), -1)), np.int32)

    genomes = np.zeros((n_cells, genome_size), np.float32)
    descriptors = np.zeros((n_cells, centroids.shape[1]), np.float32)
    gts = np.zeros((n_cells, gt.shape[1]), np.float32)
    rewards = np.full((n_cells,), -np.inf, np.float32)
    areas = np.full((n_cells,), -1, np.int32)
    filled = np.zeros((n_cells,), bool)
    genomes[index] = solution
    descriptors[index] = measures
    gts[index] = gt
    rewards[index] = np.asarray(data["objective"], np.float32)
    areas[index] = area
    filled[index] = True
    return Repertoire(
        genomes=jnp.asarray(genomes),
        descriptors=jnp.asarray(descriptors),
        gt_descriptors=jnp.asarray(gts),
        rewards=jnp.asarray(rewards),
        reward_areas=jnp.asarray(areas),
        filled=jnp.asarray(filled),
        centroids=jnp.asarray(centroids, jnp.float32),
        features=jnp.asarray(descriptors),  # what a ground-truth representation would store
    )


def _rows(values, dtype) -> np.ndarray:
    """[n, size] view of per-elite values (flattening multi-dimensional fields)."""
    values = np.asarray(values, dtype)
    return values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
