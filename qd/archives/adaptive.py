"""Grid and CVT cells over a descriptor box that follows a learned space, as
AURORA does (Cully 2019, "Autonomous skill discovery with quality-diversity
and unsupervised descriptors", GECCO, arXiv:1905.11874; Grillotti & Cully
2022, "Unsupervised behaviour discovery with quality-diversity optimisation",
IEEE TEVC).

A learned space has no fixed bounds, and it moves at every refit. The cells
are therefore laid over the unit box, and a descriptor is placed by
normalising it with the current box `[low, high]` of the space (clipped to
the box's edges). The box is fitted to the archive's descriptors with a
margin when the archive starts and after every refit; then every elite is
re-inserted into the cell of its new descriptor (the best reward per cell
wins, as in any insertion).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from qd.archives.entries import Entries
from qd.archives.repertoire import Repertoire, empty_repertoire, insert_by_cell

Array = jax.Array


def normalise(descriptors: Array, low: Array, high: Array) -> Array:
    """Descriptors mapped to the unit box by `[low, high]`, clipped to it."""
    return jnp.clip((descriptors - low) / jnp.maximum(high - low, 1e-6), 0.0, 1.0)


def fit_box(descriptors: Array, mask: Array, margin: float = 0.05) -> tuple[Array, Array]:
    """(low, high) of the masked descriptors [N, k], widened by `margin` of
    their range on each side (a unit box around 0 when nothing is masked)."""
    big = jnp.finfo(jnp.float32).max
    low = jnp.min(jnp.where(mask[:, None], descriptors, big), axis=0)
    high = jnp.max(jnp.where(mask[:, None], descriptors, -big), axis=0)
    empty = ~jnp.any(mask)
    low, high = jnp.where(empty, -0.5, low), jnp.where(empty, 0.5, high)
    pad = margin * jnp.maximum(high - low, 1e-3)
    return low - pad, high + pad


def elites(repertoire: Repertoire) -> Entries:
    """Every cell of a repertoire as entries (empty cells included; mask them
    with `repertoire.filled`)."""
    return Entries(
        genome=repertoire.genomes,
        descriptor=repertoire.descriptors,
        gt_descriptor=repertoire.gt_descriptors,
        reward=repertoire.rewards,
        reward_area=repertoire.reward_areas,
        features=repertoire.features,
    )


def reinsert(repertoire: Repertoire, cells: Array) -> Repertoire:
    """The repertoire's elites re-inserted into `cells` [C] (one per current
    cell, computed from their current descriptors) of an empty copy."""
    empty = empty_repertoire(
        repertoire.centroids, repertoire.genomes.shape[1], repertoire.gt_descriptors.shape[1],
        feature_shape=repertoire.features.shape[1:], feature_dtype=repertoire.features.dtype,
    )
    new, _ = insert_by_cell(empty, elites(repertoire), cells, repertoire.filled)
    return new
