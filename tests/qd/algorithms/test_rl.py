"""PPO and SAC (qd.algorithms.rl): the synchronised episodes, and that each
learns on a tiny dense task (its return rises), through the same
`train_episodes` the run algorithms and the parity benchmark use. The runs
themselves (run directories, exact resume) are in tests/runs."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State

from qd.algorithms.rl import episodes, ppo, sac

GOAL = jnp.array([0.5, -0.3])
LENGTH = 10


class Reach(Env):
    """A point starting at the origin moves by 0.2 * action; every step pays
    minus its distance to a goal (a dense toy: a good policy heads there)."""

    def reset(self, rng):
        pos = jnp.zeros(2)
        return State(pipeline_state=pos, obs=pos, reward=jnp.float32(0.0), done=jnp.float32(0.0))

    def step(self, state, action):
        pos = jnp.clip(state.pipeline_state + 0.2 * jnp.clip(action, -1, 1), -1.0, 1.0)
        reward = -jnp.linalg.norm(pos - GOAL)
        return state.replace(pipeline_state=pos, obs=pos, reward=reward.astype(jnp.float32))

    @property
    def observation_size(self):
        return 2

    @property
    def action_size(self):
        return 2

    @property
    def backend(self):
        return "jax"


class Ends(Reach):
    """Reach, but an episode ends (terminates) after its third step."""

    def reset(self, rng):
        return super().reset(rng).replace(info={"t": jnp.int32(0)})

    def step(self, state, action):
        t = state.info["t"] + 1
        out = super().step(state, action)
        return out.replace(done=(t >= 3).astype(jnp.float32), info={"t": t})


def test_an_ended_episode_is_frozen_and_its_dead_steps_carry_no_td_error():
    env = Ends()
    envs = episodes.reset(env, jax.random.PRNGKey(0), 2)
    actor = lambda obs, key: (jnp.ones_like(obs), {})
    envs, data, positions = episodes.unroll(env, envs, actor, jax.random.PRNGKey(1), 5, 5, record=lambda s: s.obs)
    truncation = np.asarray(data.extras["state_extras"]["truncation"][:, 0])
    np.testing.assert_array_equal(np.asarray(data.discount[:, 0]), [1, 1, 0, 0, 0])  # terminated at step 3
    np.testing.assert_array_equal(truncation, [0, 0, 0, 1, 1])  # the terminal step counts, dead ones do not
    np.testing.assert_array_equal(np.asarray(data.extras["live"][:, 0]), [1, 1, 1, 0, 0])
    assert float(data.reward[3:].sum()) == 0.0
    np.testing.assert_allclose(np.asarray(positions[2:, 0]), [[0.6, 0.6]] * 3, atol=1e-6)  # frozen
    np.testing.assert_allclose(float(envs.returns[0]), float(data.reward[:, 0].sum()))


def test_the_time_limit_of_an_env_without_one_is_a_truncation():
    env = Reach()
    envs = episodes.reset(env, jax.random.PRNGKey(0), 3)
    actor = lambda obs, key: (jnp.zeros_like(obs), {})
    envs, data, _ = episodes.unroll(env, envs, actor, jax.random.PRNGKey(1), 4, 4)
    np.testing.assert_array_equal(np.asarray(data.extras["state_extras"]["truncation"][:, 0]), [0, 0, 0, 1])
    np.testing.assert_array_equal(np.asarray(data.discount[:, 0]), [1, 1, 1, 1])  # bootstrapped
    assert bool(jnp.all(envs.state.done == 1))


def _returns(module, config, generations, seed=0):
    env = Reach()
    learner = module.init_learner(config, 2, 2, jax.random.PRNGKey(seed))
    train = jax.jit(functools.partial(module.train_episodes, config, env, LENGTH))
    out = []
    for g in range(generations):
        learner, envs, _, _ = train(learner, jax.random.PRNGKey(100 + g))
        out.append(float(jnp.mean(envs.returns)))
    return np.asarray(out)


def test_ppo_learns_to_reach_a_dense_goal():
    config = ppo.PPOConfig(
        num_envs=32, unroll_length=10, num_minibatches=4, num_updates_per_batch=4, learning_rate=1e-2,
        entropy_cost=1e-3, policy_hidden=(16,), value_hidden=(16,), archive_per_generation=1,
    )
    returns = _returns(ppo, config, 20)
    # The untrained policy earns about -6 per episode, heading to the goal about -2.2.
    assert returns[-3:].mean() > returns[:3].mean() + 1.5, returns


def test_sac_learns_to_reach_a_dense_goal():
    config = sac.SACConfig(
        num_envs=8, batch_size=64, grad_updates_per_step=4, learning_rate=3e-3, min_replay_size=64,
        max_replay_size=2000, hidden=(16,), archive_per_generation=1,
    )
    returns = _returns(sac, config, 15)
    assert returns[-3:].mean() > returns[:3].mean() + 1.0, returns
