"""Sparse goal-disc rewards shared by every task."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tasks.spec import RewardArea


def area_arrays(areas: tuple[RewardArea, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Returns the centres [A, 2] and radii [A] of reward areas as float32."""
    centers = np.asarray([a.center for a in areas], dtype=np.float32).reshape(-1, 2)
    radii = np.asarray([a.radius for a in areas], dtype=np.float32).reshape(-1)
    return centers, radii


def sparse_reward(
    position: jax.Array, centers: jax.Array, radii: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Reward of an episode ending at `position`.

    Inside a disc of radius r at distance d from its centre the reward is
    (r - d) / r; elsewhere 0. Where discs overlap the larger payment wins.

    Args:
        position: final position [2].
        centers: disc centres [A, 2].
        radii: disc radii [A].

    Returns:
        (reward, area): float32 scalar and int32 index of the paying disc, -1
        for none.
    """
    if centers.shape[0] == 0:
        return jnp.float32(0.0), jnp.int32(-1)
    dist = jnp.linalg.norm(position[None, :] - centers, axis=-1)
    pay = jnp.where(dist < radii, (radii - dist) / radii, 0.0)
    best = jnp.argmax(pay)
    inside = pay[best] > 0
    return jnp.where(inside, pay[best], 0.0), jnp.where(inside, best, -1).astype(jnp.int32)
