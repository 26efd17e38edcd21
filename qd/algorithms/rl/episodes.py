"""Synchronised training episodes for the gradient RL algorithms (PPO, SAC).

A generation of an RL algorithm runs `num_envs` whole episodes side by side:
every environment is reset at the start of the step and stepped until the
episode ends, so one generation spends exactly `num_envs` evaluations (the
budget of a run is counted in episodes, as for the QD algorithms) and every
training episode is a complete one the tracker can count.

An environment whose episode has ended is frozen (its state stops changing,
as in `tasks.rollout`): the transitions it still produces while the others
finish are "dead" ones, with reward 0, and are marked truncated, which makes
brax's losses ignore their TD error (PPO's GAE and SAC's critic multiply by
`1 - truncation`). Our sparse tasks never end early, so this only matters
for the steps that pad the last PPO unroll and for tasks that terminate.

A task's own time limit (`done` at `episode_length`) is a termination (the
sparse reward is paid there, nothing follows); for an environment without
one (brax's halfcheetah), the step that reaches `episode_length` is a
truncation, bootstrapped by the losses, as brax's `EpisodeWrapper` does.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from brax.training import types as brax_types
from flax import struct

from tasks.evaluation import Evaluation

# An actor: (observations [N, obs], key) -> (actions [N, act], policy extras).
Actor = Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]]


@struct.dataclass
class Envs:
    """A batch of environments in the middle of synchronised episodes.

    Attributes:
        state: the batched brax `State` ([N, ...] leaves).
        t: int32 scalar, steps taken in the current episodes.
        returns: [N] float32, summed rewards of the episodes so far.
        finite: [N] bool, no NaN/inf action or observation so far.
    """

    state: Any
    t: jax.Array
    returns: jax.Array
    finite: jax.Array


def reset(env: Any, key: jax.Array, n: int) -> Envs:
    """Starts `n` episodes; environment i uses `fold_in(key, i)` (as the rollout)."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    state = jax.vmap(env.reset)(keys)
    return Envs(state=state, t=jnp.int32(0), returns=jnp.zeros((n,), jnp.float32), finite=jnp.ones((n,), bool))


def step(env: Any, envs: Envs, actions: jax.Array, episode_length: int) -> tuple[Envs, brax_types.Transition]:
    """Steps every environment once; ended ones stay frozen.

    Returns:
        The environments and the transitions [N] (brax `Transition`, with
        `extras["state_extras"]["truncation"]` and `["live"]`, whether the
        transition belongs to an episode that had not ended).
    """
    old = envs.state
    new = jax.vmap(env.step)(old, actions)
    ended = old.done > 0

    def keep(o, n):
        mask = ended.reshape(ended.shape + (1,) * (n.ndim - 1))
        return jnp.where(mask, o, n)

    state = jax.tree.map(keep, old, new)
    live = ~ended
    reward = jnp.where(live, new.reward, 0.0).astype(jnp.float32)
    terminal = new.done > 0
    time_up = envs.t + 1 >= episode_length
    truncation = jnp.where(live, time_up & ~terminal, True).astype(jnp.float32)
    discount = jnp.where(live & ~terminal, 1.0, 0.0).astype(jnp.float32)
    # The episode is over at the time limit even for an env without one.
    state = state.replace(done=jnp.where(live & time_up, 1.0, state.done).astype(state.done.dtype))
    finite = envs.finite & jnp.where(
        live, jnp.all(jnp.isfinite(actions), axis=-1) & jnp.all(jnp.isfinite(new.obs), axis=-1), True
    )
    transition = brax_types.Transition(
        observation=old.obs,
        action=actions,
        reward=reward,
        discount=discount,
        next_observation=state.obs,
        extras={"state_extras": {"truncation": truncation}, "live": live.astype(jnp.float32)},
    )
    envs = Envs(state=state, t=envs.t + 1, returns=envs.returns + reward, finite=finite)
    return envs, transition


def unroll(
    env: Any,
    envs: Envs,
    actor: Actor,
    key: jax.Array,
    length: int,
    episode_length: int,
    record: Optional[Callable[[Any], jax.Array]] = None,
) -> tuple[Envs, brax_types.Transition, Optional[jax.Array]]:
    """`length` steps of every environment under `actor`.

    Args:
        env: a brax `Env`.
        envs: where the episodes are.
        actor: observations, key -> actions, policy extras (stored in the
            transitions as `extras["policy_extras"]`).
        key: PRNG key (one split per step).
        length: steps.
        episode_length: steps of a whole episode.
        record: optional state -> [N, ...] value recorded after every step
            (e.g. the positions, for the trajectory).

    Returns:
        The environments, the transitions [length, N] and the records
        [length, N, ...] (None without `record`).
    """

    def body(envs, k):
        actions, extras = actor(envs.state.obs, k)
        envs, transition = step(env, envs, actions, episode_length)
        transition = transition._replace(extras={**transition.extras, "policy_extras": extras})
        return envs, (transition, None if record is None else record(envs.state))

    envs, (transitions, records) = jax.lax.scan(body, envs, jax.random.split(key, length))
    return envs, transitions, records


def evaluation(task: Any, envs: Envs, positions: jax.Array, with_observation: bool = False) -> Evaluation:
    """The `Evaluation` of ended episodes of a sparse-reward task, as the
    rollout reports it (so the tracker's metrics mean the same as for NS).

    Args:
        task: the `tasks.base.SparseRewardTask`.
        envs: the environments once every episode ended.
        positions: [T, N, 2] the position after every step (T >= the
            episode length; ended episodes are frozen).
        with_observation: also render the final views.
    """
    physics = envs.state.pipeline_state
    times = jnp.asarray(task.spec.trajectory_steps)
    trajectory = jnp.swapaxes(positions[times - 1], 0, 1)
    descriptor = jax.vmap(task.descriptor)(physics)
    valid = (
        envs.finite
        & jnp.all(jnp.isfinite(trajectory), axis=(1, 2))
        & jnp.all(jnp.isfinite(descriptor), axis=1)
        & jnp.isfinite(envs.returns)
    )
    low = jnp.asarray(task.spec.descriptor_low, jnp.float32)
    observation = None
    if with_observation:
        views = jax.vmap(task.render)(physics)
        observation = jnp.where(valid[:, None, None, None], views, 0.0)
    return Evaluation(
        reward=jnp.where(valid, envs.returns, 0.0),
        reward_area=jnp.where(valid, envs.state.info["reward_area"], -1),
        descriptor=jnp.where(valid[:, None], descriptor, low),
        trajectory=jnp.where(valid[:, None, None], trajectory, 0.0),
        valid=valid,
        observation=observation,
    )
