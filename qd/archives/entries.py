"""What every archive receives: a batch of evaluated policies (`Entries`).

Novelty, grid and CVT archives alike store, per policy, its genome, its
descriptor (the space the archive works in, from the run's representation),
its ground-truth descriptor (for coverage metrics and plots, whatever the
representation), its reward and reward area, and its *features*: what the
representation needs to recompute the descriptor after a refit
(`representations.base`). With the ground-truth representation the features
are the ground-truth descriptor itself.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array


@struct.dataclass
class Entries:
    """A batch of B candidates for an archive; every leaf has leading axis B.

    Attributes:
        genome: [B, D] float32 flat genomes.
        descriptor: [B, k] float32 descriptors in the archive's space.
        gt_descriptor: [B, g] float32 ground-truth descriptors.
        reward: [B] float32 episode returns.
        reward_area: [B] int32 reward area reached, -1 for none.
        features: [B, *F] what the representation encodes into `descriptor`.
    """

    genome: Array
    descriptor: Array
    gt_descriptor: Array
    reward: Array
    reward_area: Array
    features: Array

    @property
    def batch_size(self) -> int:
        return self.reward.shape[0]


def make_entries(
    genome: Array,
    descriptor: Array,
    reward: Array,
    *,
    gt_descriptor: Optional[Array] = None,
    reward_area: Optional[Array] = None,
    features: Optional[Array] = None,
) -> Entries:
    """Builds validated ``Entries``.

    Args:
        genome: [B, D] genomes.
        descriptor: [B, k] descriptors.
        reward: [B] rewards.
        gt_descriptor: [B, g] ground-truth descriptors; defaults to ``descriptor``.
        reward_area: [B] int reward areas; defaults to -1 (none).
        features: [B, ...] representation features; defaults to ``descriptor``
            (the ground-truth representation's features).

    Returns:
        The entries, cast to float32 / int32.

    Raises:
        ValueError: when ranks or batch sizes do not match.
    """
    genome = jnp.asarray(genome, jnp.float32)
    descriptor = jnp.asarray(descriptor, jnp.float32)
    reward = jnp.asarray(reward, jnp.float32)
    gt = descriptor if gt_descriptor is None else jnp.asarray(gt_descriptor, jnp.float32)
    if reward.ndim != 1:
        raise ValueError(f"reward must be 1-d [B], got shape {reward.shape}")
    batch = reward.shape[0]
    area = jnp.full((batch,), -1, jnp.int32) if reward_area is None else jnp.asarray(reward_area, jnp.int32)
    features = descriptor if features is None else jnp.asarray(features)
    for name, value, rank in (
        ("genome", genome, 2),
        ("descriptor", descriptor, 2),
        ("gt_descriptor", gt, 2),
        ("reward_area", area, 1),
    ):
        if value.ndim != rank or value.shape[0] != batch:
            want = f"[{batch}, n]" if rank == 2 else f"[{batch}]"
            raise ValueError(f"{name} must have shape {want}, got {value.shape}")
    if features.ndim < 1 or features.shape[0] != batch:
        raise ValueError(f"features must have leading axis {batch}, got shape {features.shape}")
    return Entries(genome, descriptor, gt, reward, area, features)


def concat(a: Entries, b: Entries) -> Entries:
    """The rows of `a` then those of `b`."""
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)


def take(entries: Entries, index: Array) -> Entries:
    """The rows `index` of `entries`."""
    return jax.tree.map(lambda x: x[index], entries)


def check_entries(archive, entries: Entries) -> None:
    """Raises ValueError if the entries' sizes differ from what the archive stores.

    Args:
        archive: anything with ``genomes``, ``descriptors``, ``gt_descriptors``
            [n, size] and ``features`` [n, *F] leaves.
        entries: the batch to check.
    """
    for name, stored, given in (
        ("genome", archive.genomes, entries.genome),
        ("descriptor", archive.descriptors, entries.descriptor),
        ("gt_descriptor", archive.gt_descriptors, entries.gt_descriptor),
    ):
        if given.ndim != 2 or given.shape[1] != stored.shape[1]:
            raise ValueError(
                f"entries.{name} has shape {given.shape}, the archive stores {name}s of size {stored.shape[1]}"
            )
    if entries.features.shape[1:] != archive.features.shape[1:]:
        raise ValueError(
            f"entries.features has shape {entries.features.shape}, the archive stores features of shape "
            f"{archive.features.shape[1:]}"
        )


def finite_entries(entries: Entries) -> Array:
    """[B] bool: True where genome, descriptor, gt descriptor and reward are finite."""
    return (
        jnp.isfinite(entries.reward)
        & jnp.all(jnp.isfinite(entries.descriptor), axis=1)
        & jnp.all(jnp.isfinite(entries.gt_descriptor), axis=1)
        & jnp.all(jnp.isfinite(entries.genome), axis=1)
    )


def resolve_mask(mask: Optional[Array], batch: int, name: str = "mask") -> Array:
    """A [B] bool mask (all True when None); ValueError naming ``name`` on bad shape."""
    if mask is None:
        return jnp.ones((batch,), bool)
    mask = jnp.asarray(mask)
    if mask.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), got {mask.shape}")
    return mask.astype(bool)


def empty_rows(capacity: int, genome_size: int, descriptor_size: int, gt_size: int,
               feature_shape: Optional[tuple] = None, feature_dtype=jnp.float32) -> dict:
    """Zero-filled per-row storage shared by the archives' ``init``: genomes,
    descriptors, gt_descriptors and features of `capacity` rows."""
    feature_shape = (descriptor_size,) if feature_shape is None else tuple(feature_shape)
    return dict(
        genomes=jnp.zeros((capacity, genome_size), jnp.float32),
        descriptors=jnp.zeros((capacity, descriptor_size), jnp.float32),
        gt_descriptors=jnp.zeros((capacity, gt_size), jnp.float32),
        features=jnp.zeros((capacity, *feature_shape), feature_dtype),
    )
