"""The base class of every task: a Brax `Env` over a physics pytree.

A task subclass supplies its physics (`init_physics`, `physics_step`), what the
agent senses (`observe`), the point the reward is about (`position`: the robot,
the ball, the end effector) and a top-down view (`render`). This base turns
them into a Brax environment with the sparse end-of-episode reward of
docs/reference.md, so Brax's RL trainers, QDax wrappers and our QD loop can
all drive the same task. A task whose spec says `dense_reward` (the QD-RL
locomotion tasks) pays `step_reward` at every step instead, and its episode
return is the fitness; its reward areas may be empty.
"""
from __future__ import annotations

import abc
import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# mujoco.mjx (imported by brax) prints "Failed to import warp" when NVIDIA's
# optional warp package is absent; that is expected here and only noise.
with contextlib.redirect_stdout(io.StringIO()):
    from brax.envs.base import Env, State

from tasks.policies import ReferenceController
from tasks.rewards import area_arrays, sparse_reward
from tasks.spec import TaskSpec


class SparseRewardTask(Env, abc.ABC):
    """A Brax environment whose reward is sparse (default) or dense.

    The step counter lives in `state.info["steps"]`; `state.done` becomes 1 at
    `spec.episode_length` steps or when `terminated` says so. A sparse task
    pays `sparse_reward(position)` on the step that ends the episode and
    nothing before; `state.info["reward_area"]` holds the paying area (-1 for
    none). A dense task (`spec.dense_reward`) pays `step_reward` on every step
    and its reward area is always -1. Actions are clipped to [-1, 1].
    """

    spec: TaskSpec
    config: Any

    def default_policy(self) -> ReferenceController:
        """The reference controller: observations -> `config.policy_hidden`
        layers -> actions, 2*sigmoid-1 everywhere, one bias per layer."""
        return ReferenceController(
            (self.spec.observation_size, *self.config.policy_hidden, self.spec.action_size)
        )

    # -- what a subclass implements ------------------------------------------
    @abc.abstractmethod
    def init_physics(self, rng: jax.Array) -> Any:
        """The physical state at the start of an episode (a pytree)."""

    @abc.abstractmethod
    def physics_step(self, physics: Any, action: jax.Array) -> Any:
        """Advances the physics by one control step; action in [-1, 1]."""

    @abc.abstractmethod
    def observe(self, physics: Any) -> jax.Array:
        """The observation vector [observation_size]."""

    @abc.abstractmethod
    def position(self, physics: Any) -> jax.Array:
        """World (x, y) of the point the reward and descriptor are about."""

    def terminated(self, physics: Any) -> jax.Array:
        """Whether the episode ends early (default: never)."""
        del physics
        return jnp.bool_(False)

    def step_reward(self, previous: Any, physics: Any, action: jax.Array) -> jax.Array:
        """The reward of one step of a dense-reward task (`spec.dense_reward`).

        Args:
            previous: the physics before the step.
            physics: the physics after it.
            action: the clipped action that was applied.

        Raises:
            NotImplementedError: the task declares a dense reward but does
                not define it.
        """
        raise NotImplementedError(f"{type(self).__name__} declares dense_reward but defines no step_reward")

    def descriptor(self, physics: Any) -> jax.Array:
        """Ground-truth descriptor: `position` mapped to the descriptor bounds."""
        spec = self.spec
        lo_w, hi_w = jnp.asarray(spec.world_low), jnp.asarray(spec.world_high)
        lo_d = jnp.asarray(spec.descriptor_low[:2])
        hi_d = jnp.asarray(spec.descriptor_high[:2])
        return lo_d + (self.position(physics) - lo_w) / (hi_w - lo_w) * (hi_d - lo_d)

    @abc.abstractmethod
    def render(self, physics: Any) -> jax.Array:
        """Top-down view [64, 64, 3] in [0, 1] of the state."""

    # -- the Brax Env interface ---------------------------------------------
    @property
    def observation_size(self) -> int:
        return self.spec.observation_size

    @property
    def action_size(self) -> int:
        return self.spec.action_size

    @property
    def backend(self) -> str:
        return "jax"

    @property
    def episode_length(self) -> int:
        return self.spec.episode_length

    def reward_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return area_arrays(self.spec.reward_areas)

    def reset(self, rng: jax.Array) -> State:
        physics = self.init_physics(rng)
        return State(
            pipeline_state=physics,
            obs=self.observe(physics),
            reward=jnp.float32(0.0),
            done=jnp.float32(0.0),
            metrics={},
            info={"steps": jnp.int32(0), "reward_area": jnp.int32(-1)},
        )

    def step(self, state: State, action: jax.Array) -> State:
        action = jnp.clip(action, -1.0, 1.0)
        physics = self.physics_step(state.pipeline_state, action)
        steps = state.info["steps"] + 1
        done = (steps >= self.spec.episode_length) | self.terminated(physics)
        if self.spec.dense_reward:
            reward = self.step_reward(state.pipeline_state, physics, action)
            area = jnp.int32(-1)
        else:
            centers, radii = self.reward_arrays()
            reward, area = sparse_reward(self.position(physics), centers, radii)
            reward = jnp.where(done, reward, 0.0)
        info = dict(state.info)
        info.update(steps=steps, reward_area=jnp.where(done, area, -1))
        return state.replace(
            pipeline_state=physics,
            obs=self.observe(physics),
            reward=jnp.asarray(reward, jnp.float32),
            done=done.astype(jnp.float32),
            info=info,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r})"

    # Equal settings make equal tasks, so evaluators and algorithm states that
    # hold a task (as a static field) hit jit's cache across runs in one process.
    # The spec is compared too: a maze file edited between two runs gives the
    # same config but other walls.
    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.config == other.config and self.spec == other.spec

    def __hash__(self) -> int:
        try:
            return hash((type(self), self.config))
        except TypeError:  # a config holding a list: equal tasks then only miss the cache
            return id(self)
