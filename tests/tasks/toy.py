"""A tiny pure-JAX task for testing the machinery around tasks without any
real task's cost: a point that moves by its action, one reward disc."""
import dataclasses

import jax.numpy as jnp

from tasks.base import SparseRewardTask
from tasks.spec import RewardArea, TaskSpec


class PointTask(SparseRewardTask):
    """A point starting at the origin moves by 0.1 * action each step; the
    episode ends early when it leaves [-1, 1]^2. With `nan_beyond` set, the
    physics returns NaN once x exceeds it (to exercise invalid rollouts)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        episode_length: int = 20
        policy_hidden: tuple = (3,)
        nan_beyond: float = float("inf")

    def __init__(self, config=None):
        self.config = config or self.Config()
        self.spec = TaskSpec(
            name="point",
            observation_size=2,
            action_size=2,
            episode_length=self.config.episode_length,
            descriptor_low=(-1.0, -1.0),
            descriptor_high=(1.0, 1.0),
            reward_areas=(RewardArea((0.5, 0.5), 0.3),),
            world_low=(-1.0, -1.0),
            world_high=(1.0, 1.0),
            trajectory_points=5,
        )

    def init_physics(self, rng):
        return jnp.zeros(2)

    def physics_step(self, physics, action):
        moved = physics + 0.1 * action
        return jnp.where(moved[0] > self.config.nan_beyond, jnp.nan, moved)

    def observe(self, physics):
        return physics

    def position(self, physics):
        return physics

    def terminated(self, physics):
        return jnp.any(jnp.abs(physics) > 1.0)

    def render(self, physics):
        return jnp.zeros((64, 64, 3)) + physics[0]


class DensePointTask(PointTask):
    """PointTask with a dense reward: each step pays the point's x (so the
    return of a constant action a is 0.1 * a * (1 + 2 + ... + steps)), and no
    reward areas."""

    def __init__(self, config=None):
        super().__init__(config)
        self.spec = dataclasses.replace(self.spec, name="dense_point", reward_areas=(), dense_reward=True)

    def step_reward(self, previous, physics, action):
        return physics[0]
