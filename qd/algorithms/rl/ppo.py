"""PPO as a run algorithm (Schulman et al. 2017, "Proximal policy optimization
algorithms", arXiv:1707.06347).

Networks, the loss (clipped surrogate, GAE, value and entropy terms), the
tanh-Gaussian action distribution and the observation normaliser are
`brax.training`'s (`agents.ppo.networks`, `agents.ppo.losses`,
`acme.running_statistics`), with brax's hyperparameter names. The training
loop is ours, in the style of PureJaxRL (Lu et al. 2022): brax's
`agents.ppo.train` owns its whole loop (environment wrappers, auto-reset,
evaluation, pmap) and returns only at the end, so it cannot be stepped,
checkpointed and resumed by `runs.loop`, nor can it report every training
episode to the tracker.

One generation runs `num_envs` whole episodes side by side
(`qd.algorithms.rl.episodes`) with the stochastic policy; every
`unroll_length` steps it updates on the unroll just collected as brax's
`training_step` does: the normaliser first, then `num_updates_per_batch`
passes over `num_minibatches` minibatches of environments. The budget is the
episodes (`num_envs` per generation); `env_steps` is reported too. The
archive holds training episodes (`qd.algorithms.rl.common`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics
from brax.training.agents.ppo import losses as ppo_losses
from brax.training.agents.ppo import networks as ppo_networks
from flax import struct

from qd import checks
from qd.algorithms.base import Algorithm, AlgorithmState, register
from qd.algorithms.rl import common, episodes
from qd.archives import novelty as novelty_archive
from qd.pipeline import Pipeline


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO settings (brax's names; small networks for CPU runs).

    Attributes:
        num_envs: episodes run side by side, i.e. evaluations per generation (32).
        unroll_length: environment steps between updates; must divide the
            task's episode length (20).
        num_minibatches: minibatches (of environments) per pass (4).
        num_updates_per_batch: passes over each unroll (4).
        learning_rate: Adam's step size (3e-4).
        entropy_cost: weight of the entropy bonus (1e-2).
        discounting: discount factor (0.99).
        gae_lambda: GAE's lambda (0.95).
        clipping_epsilon: PPO's ratio clip (0.3).
        reward_scaling: reward multiplier (1).
        normalize_advantage: standardise advantages per minibatch.
        normalize_observations: running mean/std normalisation of observations.
        max_grad_norm: clip gradients to this global norm (0: no clipping).
        policy_hidden: policy MLP widths (64, 64).
        value_hidden: value MLP widths (64, 64).
        archive_per_generation: training episodes archived per generation (5).
        archive_capacity: rows of the episode archive.
    """

    num_envs: int = 32
    unroll_length: int = 20
    num_minibatches: int = 4
    num_updates_per_batch: int = 4
    learning_rate: float = 3e-4
    entropy_cost: float = 1e-2
    discounting: float = 0.99
    gae_lambda: float = 0.95
    clipping_epsilon: float = 0.3
    reward_scaling: float = 1.0
    normalize_advantage: bool = True
    normalize_observations: bool = True
    max_grad_norm: float = 0.0
    policy_hidden: tuple[int, ...] = (64, 64)
    value_hidden: tuple[int, ...] = (64, 64)
    archive_per_generation: int = 5
    archive_capacity: int = 15_000

    def __post_init__(self):
        checks.positive_int_fields(
            self, "num_envs", "unroll_length", "num_minibatches", "num_updates_per_batch",
            "archive_per_generation", "archive_capacity",
        )
        if self.num_envs % self.num_minibatches:
            raise ValueError(
                f"num_envs ({self.num_envs}) must be a multiple of num_minibatches ({self.num_minibatches})"
            )
        if self.archive_per_generation > self.num_envs:
            raise ValueError(
                f"archive_per_generation ({self.archive_per_generation}) must be <= num_envs ({self.num_envs})"
            )
        checks.bounded_fields(self, "> 0", "learning_rate", "reward_scaling")
        checks.bounded_fields(self, "in [0, 1]", "discounting", "gae_lambda")
        checks.bounded_fields(self, ">= 0", "entropy_cost", "clipping_epsilon", "max_grad_norm")
        object.__setattr__(self, "policy_hidden", common.check_hidden("policy_hidden", self.policy_hidden))
        object.__setattr__(self, "value_hidden", common.check_hidden("value_hidden", self.value_hidden))


@struct.dataclass
class Learner:
    """What PPO learns: network parameters, optimiser and normaliser state.

    Attributes:
        params: brax's `PPONetworkParams` (policy, value).
        optimizer_state: Adam's state.
        normalizer: observation running statistics.
        env_steps: environment steps taken (live ones).
    """

    params: Any
    optimizer_state: Any
    normalizer: Any
    env_steps: jax.Array


def networks(config: PPOConfig, observation_size: int, action_size: int) -> ppo_networks.PPONetworks:
    """brax's PPO networks for these settings (built anew at each trace: brax
    makes arrays when it builds them, which a cache would leak out of a trace)."""
    normalize = running_statistics.normalize if config.normalize_observations else (lambda x, y: x)
    return ppo_networks.make_ppo_networks(
        observation_size, action_size, preprocess_observations_fn=normalize,
        policy_hidden_layer_sizes=config.policy_hidden, value_hidden_layer_sizes=config.value_hidden,
    )


def _optimizer(config: PPOConfig) -> optax.GradientTransformation:
    adam = optax.adam(config.learning_rate)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), adam) if config.max_grad_norm else adam


def init_learner(config: PPOConfig, observation_size: int, action_size: int, key: jax.Array) -> Learner:
    """Fresh networks (brax's initialisers), optimiser and normaliser."""
    net = networks(config, observation_size, action_size)
    k_policy, k_value = jax.random.split(key)
    params = ppo_losses.PPONetworkParams(
        policy=net.policy_network.init(k_policy), value=net.value_network.init(k_value)
    )
    return Learner(
        params=params,
        optimizer_state=_optimizer(config).init(params),
        normalizer=running_statistics.init_state(jax.ShapeDtypeStruct((observation_size,), jnp.float32)),
        env_steps=jnp.int32(0),
    )


def actor(config: PPOConfig, learner: Learner, observation_size: int, action_size: int, deterministic=False):
    """The policy as an `episodes.Actor` (stochastic: the training policy)."""
    net = networks(config, observation_size, action_size)
    policy = ppo_networks.make_inference_fn(net)((learner.normalizer, learner.params.policy), deterministic)

    def act(observations, key):
        actions, extras = policy(observations, key)
        return actions, {k: extras[k] for k in ("log_prob", "raw_action", "distribution_params") if k in extras}

    return act


def check_episode_length(config: PPOConfig, episode_length: int) -> None:
    """Raises ValueError when `unroll_length` does not divide the episode."""
    if episode_length % config.unroll_length:
        raise ValueError(
            f"unroll_length ({config.unroll_length}) must divide the task's episode_length "
            f"({episode_length}); e.g. algo.unroll_length="
            f"{max(d for d in range(1, min(episode_length, config.unroll_length) + 1) if episode_length % d == 0)}"
        )


def _update(config: PPOConfig, net, learner: Learner, data, key: jax.Array) -> tuple[Learner, dict]:
    """brax's `training_step` after its unroll: the normaliser, then SGD.

    `data`: transitions [T, N] (time first, as unrolled)."""
    data = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), data)  # [N, T], brax's layout
    live = data.extras["live"]
    normalizer = running_statistics.update(learner.normalizer, data.observation, weights=live)
    loss_fn = functools.partial(
        ppo_losses.compute_ppo_loss, ppo_network=net, entropy_cost=config.entropy_cost,
        discounting=config.discounting, reward_scaling=config.reward_scaling, gae_lambda=config.gae_lambda,
        clipping_epsilon=config.clipping_epsilon, normalize_advantage=config.normalize_advantage,
    )
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    optimizer = _optimizer(config)

    def minibatch(carry, batch):
        params, opt_state, k = carry
        k, k_loss = jax.random.split(k)
        (loss, metrics), grads = grad_fn(params, normalizer, batch, k_loss)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, k), loss

    def epoch(carry, k):
        params, opt_state = carry
        k_perm, k_grad = jax.random.split(k)
        shuffled = jax.tree.map(
            lambda x: jax.random.permutation(k_perm, x).reshape((config.num_minibatches, -1) + x.shape[1:]), data
        )
        (params, opt_state, _), losses = jax.lax.scan(minibatch, (params, opt_state, k_grad), shuffled)
        return (params, opt_state), losses

    (params, opt_state), losses = jax.lax.scan(
        epoch, (learner.params, learner.optimizer_state), jax.random.split(key, config.num_updates_per_batch)
    )
    learner = learner.replace(
        params=params, optimizer_state=opt_state, normalizer=normalizer,
        env_steps=learner.env_steps + jnp.sum(live, dtype=jnp.int32),
    )
    return learner, {"loss": jnp.mean(losses)}


def train_episodes(
    config: PPOConfig, env: Any, episode_length: int, learner: Learner, key: jax.Array, record=None,
) -> tuple[Learner, episodes.Envs, Optional[jax.Array], dict]:
    """One generation: `num_envs` whole episodes, updating every
    `unroll_length` steps. Works on any brax `Env` (the parity benchmark
    drives brax's own environments through it).

    Returns:
        The learner, the ended environments, the records [T, N, ...] of
        `record` (None without it) and the mean loss.
    """
    check_episode_length(config, episode_length)
    obs_size, act_size = int(env.observation_size), int(env.action_size)
    net = networks(config, obs_size, act_size)
    k_reset, k_chunks = jax.random.split(key)
    envs = episodes.reset(env, k_reset, config.num_envs)

    def chunk(carry, k):
        learner, envs = carry
        k_roll, k_sgd = jax.random.split(k)
        act = actor(config, learner, obs_size, act_size)
        envs, data, records = episodes.unroll(env, envs, act, k_roll, config.unroll_length, episode_length, record)
        learner, metrics = _update(config, net, learner, data, k_sgd)
        return (learner, envs), (records, metrics["loss"])

    chunks = episode_length // config.unroll_length
    (learner, envs), (records, losses) = jax.lax.scan(chunk, (learner, envs), jax.random.split(k_chunks, chunks))
    if records is not None:
        records = records.reshape((-1,) + records.shape[2:])
    return learner, envs, records, {"loss": jnp.mean(losses)}


@struct.dataclass
class PPOState(AlgorithmState):
    """PPO run state: the learner and the episode archive (and
    `AlgorithmState`'s tracker, representation, config, pipeline)."""

    learner: Learner
    archive: novelty_archive.NoveltyArchive


def init(config: PPOConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> PPOState:
    """Fresh networks and an empty archive; nothing is evaluated before the first step.

    Raises:
        ValueError: `unroll_length` does not divide the task's episode length.
    """
    del budget
    task = common.task_of(pipeline, "PPO")
    check_episode_length(config, task.spec.episode_length)
    learner = init_learner(config, task.observation_size, task.action_size, key)
    return common.init_state(PPOState, config, pipeline, learner, key)


def step(state: PPOState, key: jax.Array) -> tuple[PPOState, dict]:
    """One generation: `num_envs` training episodes, each counted and described."""
    state, metrics, losses = common.training_generation(state, key, train_episodes, "PPO")
    metrics["env_steps"] = state.learner.env_steps
    metrics["loss"] = losses["loss"]
    return state, metrics


ALGORITHM = register(
    Algorithm(
        name="ppo",
        config_cls=PPOConfig,
        init=init,
        step=step,
        archive=common.archive,
        evaluations_per_step=lambda config: config.num_envs,
        description="PPO (brax networks and loss): num_envs training episodes per generation",
    )
)
