"""PCA of the trajectory, refitted during the run: the simplest learned
behaviour space (AURORA-PCA: Cully 2019, "Autonomous skill discovery with
quality-diversity and unsupervised descriptors", GECCO, arXiv:1905.11874).

Written with `jnp.linalg.svd` rather than scikit-learn's PCA: the refit runs
inside the algorithm's jitted step, on device, where a host library cannot.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from representations import register
from representations.base import Representation, check_size, normalised_trajectory, trajectory_feature_size
from tasks.evaluation import Evaluation


@register
@dataclasses.dataclass(frozen=True)
class Pca(Representation):
    """Descriptor = the first `size` principal components of the normalised
    trajectory, each divided by its standard deviation in the fitted data.
    Before the first refit the components are the first coordinates (the
    early positions), so the space is defined from generation 0."""

    name = "pca"
    learned = True
    needs_trajectory = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        """PCA settings.

        Attributes:
            size: components kept = descriptor dimensions (2).
            refit_every: generations between two refits (10).
        """

        size: int = 2
        refit_every: int = 10

        def __post_init__(self):
            check_size("size", self.size, "descriptor dimensions")
            check_size("refit_every", self.refit_every, "generations")

    def __post_init__(self):
        if self.config.size > self.feature_shape[0]:
            raise ValueError(
                f"size ({self.config.size}) must be <= the trajectory's {self.feature_shape[0]} coordinates"
            )

    @property
    def descriptor_size(self) -> int:
        return self.config.size

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (trajectory_feature_size(self.spec),)

    def init(self, key: jax.Array) -> dict:
        del key
        n, k = self.feature_shape[0], self.config.size
        return {
            "mean": jnp.zeros((n,), jnp.float32),
            "components": jnp.eye(n, k, dtype=jnp.float32),
            "scale": jnp.ones((k,), jnp.float32),
        }

    def features(self, evaluation: Evaluation) -> jax.Array:
        return normalised_trajectory(self.spec, evaluation.trajectory)

    def encode(self, params: dict, features: jax.Array) -> jax.Array:
        return (features - params["mean"]) @ params["components"] / params["scale"]

    def fit(self, params: dict, features: jax.Array, mask: jax.Array, key: jax.Array) -> dict:
        del key
        weight = mask.astype(jnp.float32)[:, None]
        n = jnp.maximum(jnp.sum(weight), 1.0)
        mean = jnp.sum(features * weight, axis=0) / n
        centred = (features - mean) * weight
        _, singular, vt = jnp.linalg.svd(centred, full_matrices=False)
        k = self.config.size
        components = vt[:k].T
        # A component's sign is arbitrary; fix it so refits do not flip the space.
        sign = jnp.where(jnp.sum(components, axis=0) < 0, -1.0, 1.0)
        scale = singular[:k] / jnp.sqrt(n)
        fitted = {"mean": mean, "components": components * sign, "scale": jnp.where(scale > 1e-6, scale, 1.0)}
        # Too few rows to fit: keep what we had.
        return jax.tree.map(lambda new, old: jnp.where(n > k, new, old), fitted, params)
