"""TD3 pieces for PGA-ME: a twin critic trained on every evaluation's
transitions, a greedy actor, and the policy-gradient variation of genomes.

Fujimoto, van Hoof, Meger 2018, "Addressing Function Approximation Error in
Actor-Critic Methods" (TD3), ICML; used as an emitter by Nilsson & Cully 2021,
"Policy Gradient Assisted MAP-Elites", GECCO. Same losses, update schedule and
reference settings as QDax 0.5's `QualityPGEmitter` (`TD3Config`), written as
pure functions over a `TD3State` pytree so it checkpoints and resumes with the
algorithm state, and over OUR genomes: the actor and every varied policy are
flat genomes that `policy.apply(genome, obs)` reads (the task's controller),
so the gradient flows straight into the genome.

The critic is a flax MLP pair (ReLU, LeCun-uniform kernels, as QDax's
`QModule`); optimisers are optax's Adam.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from emitters import replay
from tasks.evaluation import Transitions


@dataclasses.dataclass(frozen=True)
class TD3Config:
    """TD3 settings; defaults are QDax 0.5's PGA-ME reference values.

    Attributes:
        num_critic_training_steps: critic steps after each generation (300).
        num_pg_training_steps: Adam steps of each policy-gradient offspring (100).
        replay_buffer_size: transitions kept (1,000,000).
        critic_hidden_layer_size: hidden widths of each critic (256, 256).
        critic_learning_rate: Adam step of the critic (3e-4).
        greedy_learning_rate: Adam step of the greedy actor (3e-4).
        policy_learning_rate: Adam step of the varied policies (1e-3).
        noise_clip: clip of the target policy smoothing noise (0.5).
        policy_noise: std of the target policy smoothing noise (0.2).
        discount: discount factor (0.99).
        reward_scaling: factor on rewards in the critic's target (1).
        batch_size: transitions per gradient step (256).
        soft_tau_update: Polyak step of the target networks (0.005).
        policy_delay: critic steps per actor step (2).
    """

    num_critic_training_steps: int = 300
    num_pg_training_steps: int = 100
    replay_buffer_size: int = 1_000_000
    critic_hidden_layer_size: tuple[int, ...] = (256, 256)
    critic_learning_rate: float = 3e-4
    greedy_learning_rate: float = 3e-4
    policy_learning_rate: float = 1e-3
    noise_clip: float = 0.5
    policy_noise: float = 0.2
    discount: float = 0.99
    reward_scaling: float = 1.0
    batch_size: int = 256
    soft_tau_update: float = 0.005
    policy_delay: int = 2

    def __post_init__(self):
        for name in ("num_critic_training_steps", "num_pg_training_steps", "replay_buffer_size", "batch_size",
                     "policy_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        object.__setattr__(self, "critic_hidden_layer_size", tuple(self.critic_hidden_layer_size))
        if not self.critic_hidden_layer_size or min(self.critic_hidden_layer_size) < 1:
            raise ValueError(
                f"critic_hidden_layer_size must list positive widths, got {self.critic_hidden_layer_size!r}"
            )
        for name in ("critic_learning_rate", "greedy_learning_rate", "policy_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("noise_clip", "policy_noise", "reward_scaling"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.discount <= 1 or not 0 < self.soft_tau_update <= 1:
            raise ValueError(
                f"discount must be in [0, 1] and soft_tau_update in (0, 1], got {self.discount!r}, "
                f"{self.soft_tau_update!r}"
            )
        if self.num_critic_training_steps < self.policy_delay:
            raise ValueError(
                f"num_critic_training_steps ({self.num_critic_training_steps}) must be >= policy_delay "
                f"({self.policy_delay})"
            )


class Critic(nn.Module):
    """Twin Q-networks: (obs, action) -> [..., 2]."""

    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, obs: jax.Array, actions: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, actions], axis=-1)
        heads = []
        for _ in range(2):
            h = x
            for width in self.hidden:
                h = nn.relu(nn.Dense(width, kernel_init=nn.initializers.lecun_uniform())(h))
            heads.append(nn.Dense(1, kernel_init=nn.initializers.lecun_uniform())(h))
        return jnp.concatenate(heads, axis=-1)


@struct.dataclass
class TD3State:
    """Critic, greedy actor, their targets and optimisers, and the replay buffer.

    Attributes:
        critic, target_critic: critic parameters.
        critic_opt: the critic's Adam state.
        actor, target_actor: [D] the greedy actor genome.
        actor_opt: its Adam state.
        buffer: the transitions seen (`emitters.replay`).
    """

    critic: Any
    target_critic: Any
    critic_opt: Any
    actor: jax.Array
    target_actor: jax.Array
    actor_opt: Any
    buffer: replay.ReplayBuffer


def init(config: TD3Config, key: jax.Array, actor: jax.Array, observation_size: int, action_size: int) -> TD3State:
    """A fresh critic (drawn from `key`), the actor = `actor` [D], an empty buffer."""
    critic = Critic(config.critic_hidden_layer_size).init(
        key, jnp.zeros((observation_size,)), jnp.zeros((action_size,))
    )
    actor = jnp.asarray(actor, jnp.float32)
    return TD3State(
        critic=critic,
        target_critic=critic,
        critic_opt=optax.adam(config.critic_learning_rate).init(critic),
        actor=actor,
        target_actor=actor,
        actor_opt=optax.adam(config.greedy_learning_rate).init(actor),
        buffer=replay.init(config.replay_buffer_size, observation_size, action_size),
    )


def _act(policy, genome: jax.Array, obs: jax.Array) -> jax.Array:
    """Actions [N, A] of one genome on observations [N, O]."""
    return jax.vmap(lambda o: policy.apply(genome, o))(obs)


def critic_loss(
    config: TD3Config, policy, critic, target_actor, target_critic, batch: Transitions, key: jax.Array
) -> jax.Array:
    """TD3's clipped double-Q loss: sum over both critics of the mean squared
    error to r + discount * (1 - done) * min_i Q_i'(s', pi'(s') + clipped noise)."""
    noise = jnp.clip(
        config.policy_noise * jax.random.normal(key, batch.actions.shape), -config.noise_clip, config.noise_clip
    )
    next_action = jnp.clip(_act(policy, target_actor, batch.next_obs) + noise, -1.0, 1.0)
    next_q = Critic(config.critic_hidden_layer_size).apply(target_critic, batch.next_obs, next_action)
    target = jax.lax.stop_gradient(
        batch.rewards * config.reward_scaling + (1.0 - batch.dones) * config.discount * jnp.min(next_q, axis=-1)
    )
    q = Critic(config.critic_hidden_layer_size).apply(critic, batch.obs, batch.actions)
    return jnp.sum(jnp.mean(jnp.square(q - target[:, None]), axis=0))


def actor_loss(config: TD3Config, policy, genome: jax.Array, critic, obs: jax.Array) -> jax.Array:
    """-mean Q_1(s, pi_genome(s)): what the actor and the varied policies descend."""
    q = Critic(config.critic_hidden_layer_size).apply(critic, obs, _act(policy, genome, obs))
    return -jnp.mean(q[:, 0])


def _polyak(tau: float, target, online):
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def train(config: TD3Config, policy, state: TD3State, key: jax.Array) -> tuple[TD3State, jax.Array]:
    """`num_critic_training_steps` critic steps, one actor step after every
    `policy_delay` of them, targets following by Polyak averaging (QDax's
    schedule: each round samples (policy_delay + 1) x batch_size transitions,
    the last batch for the actor).

    Returns:
        The state and the mean critic loss over the steps.
    """
    critic_opt = optax.adam(config.critic_learning_rate)
    actor_opt = optax.adam(config.greedy_learning_rate)
    tau, delay, n = config.soft_tau_update, config.policy_delay, config.batch_size

    def critic_step(carry, batch_key):
        state, = carry
        batch, k = batch_key
        loss, grads = jax.value_and_grad(
            lambda c: critic_loss(config, policy, c, state.target_actor, state.target_critic, batch, k)
        )(state.critic)
        updates, opt = critic_opt.update(grads, state.critic_opt)
        critic = optax.apply_updates(state.critic, updates)
        state = state.replace(critic=critic, critic_opt=opt, target_critic=_polyak(tau, state.target_critic, critic))
        return (state,), loss

    def round_(state, k):
        k_sample, k_noise = jax.random.split(k)
        batches = replay.sample(state.buffer, k_sample, n * (delay + 1))
        batches = jax.tree.map(lambda x: x.reshape((delay + 1, n, *x.shape[1:])), batches)
        critic_batches = jax.tree.map(lambda x: x[:-1], batches)
        (state,), losses = jax.lax.scan(critic_step, (state,), (critic_batches, jax.random.split(k_noise, delay)))
        obs = batches.obs[-1]
        grads = jax.grad(lambda g: actor_loss(config, policy, g, state.critic, obs))(state.actor)
        updates, opt = actor_opt.update(grads, state.actor_opt)
        actor = optax.apply_updates(state.actor, updates)
        state = state.replace(actor=actor, actor_opt=opt, target_actor=_polyak(tau, state.target_actor, actor))
        return state, jnp.mean(losses)

    rounds = config.num_critic_training_steps // delay
    state, losses = jax.lax.scan(round_, state, jax.random.split(key, rounds))
    return state, jnp.mean(losses)


def pg_variation(
    config: TD3Config, policy, critic, buffer: replay.ReplayBuffer, parents: jax.Array, key: jax.Array,
) -> jax.Array:
    """PGA-ME's policy-gradient variation: `num_pg_training_steps` Adam steps
    (`policy_learning_rate`) of each parent genome [N, D] up the critic's Q,
    every parent on the same mini-batch at each step (as QDax does).

    Returns:
        The offspring genomes [N, D].
    """
    opt = optax.adam(config.policy_learning_rate)
    grad = jax.vmap(jax.grad(lambda g, obs: actor_loss(config, policy, g, critic, obs)), in_axes=(0, None))

    def one(carry, k):
        genomes, opt_states = carry
        obs = replay.sample(buffer, k, config.batch_size).obs
        grads = grad(genomes, obs)
        updates, opt_states = jax.vmap(opt.update)(grads, opt_states)
        return (optax.apply_updates(genomes, updates), opt_states), None

    (genomes, _), _ = jax.lax.scan(
        one, (parents, jax.vmap(opt.init)(parents)), jax.random.split(key, config.num_pg_training_steps)
    )
    return genomes
