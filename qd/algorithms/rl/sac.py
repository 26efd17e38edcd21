"""SAC as a run algorithm (Haarnoja et al. 2018, "Soft actor-critic
algorithms and applications", arXiv:1812.05905), and SAC seeded with the
policies of an exploration run's archive as prior data, sampled half and
half with its own replay (RLPD: Ball et al. 2023, "Efficient online
reinforcement learning with offline data", ICML).

Networks, the three losses (critic with twin Q and truncation masking, actor,
temperature), the uniform replay buffer and the observation normaliser are
`brax.training`'s (`agents.sac.networks`, `agents.sac.losses`,
`replay_buffers.UniformSamplingQueue`, `acme.running_statistics`), with
brax's hyperparameter names. The loop is ours, as for PPO: brax's
`agents.sac.train` runs to the end in one call and cannot be stepped,
checkpointed or resumed by `runs.loop`. Per environment step of the
`num_envs` environments it does what brax's `training_step` does: insert
the transitions, update the normaliser, then `grad_updates_per_step`
updates of temperature, critic, actor and the Polyak-averaged target
critic, once the replay holds `min_replay_size` transitions (brax prefills
that many before training; here the first steps collect without updating).

`sac-seeded` (RLPD's symmetric sampling): before training, the policies of
the prior run's archive (those that reached a reward area first, then the
others at random, up to `prior_episodes`) are replayed through the task with
the task's reference controller; their transitions fill a second, fixed
buffer, and every update's batch is half from it and half from the online
replay. RLPD's other ingredients (critic ensembles and LayerNorm, a high
update-to-data ratio) are not used: the comparison isolates the prior data.
The exploration run must be of the same task with the same settings; the
run machinery (`runs.priors`) reads its archive and hands the genomes to
`init`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax
from brax.training import replay_buffers
from brax.training import types as brax_types
from brax.training.acme import running_statistics
from brax.training.agents.sac import losses as sac_losses
from brax.training.agents.sac import networks as sac_networks
from flax import struct

from qd import checks
from qd.algorithms.base import Algorithm, AlgorithmState, register
from qd.algorithms.rl import common, episodes
from qd.archives import novelty as novelty_archive
from qd.pipeline import Pipeline


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC settings (brax's names; small networks for CPU runs).

    Attributes:
        num_envs: episodes run side by side, i.e. evaluations per generation (16).
        batch_size: transitions per update (256).
        grad_updates_per_step: updates per environment step of all envs (1).
        learning_rate: Adam's step size of actor and critic (3e-4; the
            temperature's is 3e-4 as in brax).
        discounting: discount factor (0.99).
        tau: Polyak rate of the target critic (0.005).
        reward_scaling: reward multiplier (1).
        min_replay_size: transitions collected before the first update (1000).
        max_replay_size: capacity of the online replay (100_000).
        normalize_observations: running mean/std normalisation of observations.
        hidden: actor and critic MLP widths (64, 64).
        archive_per_generation: training episodes archived per generation (5).
        archive_capacity: rows of the episode archive.
    """

    num_envs: int = 16
    batch_size: int = 256
    grad_updates_per_step: int = 1
    learning_rate: float = 3e-4
    discounting: float = 0.99
    tau: float = 0.005
    reward_scaling: float = 1.0
    min_replay_size: int = 1000
    max_replay_size: int = 100_000
    normalize_observations: bool = True
    hidden: tuple[int, ...] = (64, 64)
    archive_per_generation: int = 5
    archive_capacity: int = 15_000

    def __post_init__(self):
        checks.positive_int_fields(
            self, "num_envs", "batch_size", "grad_updates_per_step", "min_replay_size", "max_replay_size",
            "archive_per_generation", "archive_capacity",
        )
        if self.archive_per_generation > self.num_envs:
            raise ValueError(
                f"archive_per_generation ({self.archive_per_generation}) must be <= num_envs ({self.num_envs})"
            )
        if self.max_replay_size < max(self.num_envs, self.min_replay_size):
            raise ValueError(
                f"max_replay_size ({self.max_replay_size}) must be >= num_envs ({self.num_envs}) and "
                f"min_replay_size ({self.min_replay_size})"
            )
        checks.bounded_fields(self, "> 0", "learning_rate", "reward_scaling")
        checks.bounded_fields(self, "in [0, 1]", "discounting", "tau")
        object.__setattr__(self, "hidden", common.check_hidden("hidden", self.hidden))

    @property
    def seeded(self) -> bool:
        return False


@dataclasses.dataclass(frozen=True)
class SeededSACConfig(SACConfig):
    """SAC seeded with an exploration run's archive (RLPD's 50/50 sampling).

    Attributes:
        prior: the exploration run's directory (its `archive.npz` and task);
            required.
        prior_episodes: archived policies replayed into the prior buffer
            (64): those that reached a reward area first, then the others at
            random.
        prior_fraction: share of each batch drawn from the prior buffer (0.5,
            RLPD's symmetric sampling).
        (and `SACConfig`'s settings)
    """

    prior: str = ""
    prior_episodes: int = 64
    prior_fraction: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if not self.prior:
            raise ValueError("prior must name an exploration run's directory (algo.prior=runs/ns-hardmaze-s0)")
        checks.positive_int_fields(self, "prior_episodes")
        if not 0 < self.prior_fraction < 1:
            raise ValueError(f"prior_fraction must be in (0, 1), got {self.prior_fraction!r}")
        if not 1 <= round(self.batch_size * self.prior_fraction) < self.batch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) x prior_fraction ({self.prior_fraction}) must leave at least one "
                "transition from each buffer"
            )

    @property
    def seeded(self) -> bool:
        return True

    @property
    def prior_batch(self) -> int:
        return round(self.batch_size * self.prior_fraction)


@struct.dataclass
class Learner:
    """What SAC learns (brax's `TrainingState`, less its counters).

    Attributes:
        policy_params, q_params, target_q_params, log_alpha: parameters.
        policy_optimizer_state, q_optimizer_state, alpha_optimizer_state: Adam's.
        normalizer: observation running statistics.
        replay: the online replay buffer (brax `ReplayBufferState`).
        prior: the prior buffer (seeded SAC), or None.
        env_steps: environment steps taken (live ones).
        updates: gradient updates done.
    """

    policy_params: Any
    q_params: Any
    target_q_params: Any
    log_alpha: jax.Array
    policy_optimizer_state: Any
    q_optimizer_state: Any
    alpha_optimizer_state: Any
    normalizer: Any
    replay: Any
    prior: Any
    env_steps: jax.Array
    updates: jax.Array


def networks(config: SACConfig, observation_size: int, action_size: int) -> sac_networks.SACNetworks:
    """brax's SAC networks (built anew at each trace, as for PPO)."""
    normalize = running_statistics.normalize if config.normalize_observations else (lambda x, y: x)
    return sac_networks.make_sac_networks(
        observation_size, action_size, preprocess_observations_fn=normalize, hidden_layer_sizes=config.hidden,
    )


def _dummy_transition(observation_size: int, action_size: int) -> brax_types.Transition:
    obs = jnp.zeros((observation_size,), jnp.float32)
    return brax_types.Transition(
        observation=obs, action=jnp.zeros((action_size,), jnp.float32), reward=jnp.float32(0.0),
        discount=jnp.float32(0.0), next_observation=obs,
        extras={"state_extras": {"truncation": jnp.float32(0.0)}, "policy_extras": {}},
    )


def _online_batch(config: SACConfig) -> int:
    return config.batch_size - config.prior_batch if config.seeded else config.batch_size


def replay_buffer(config: SACConfig, observation_size: int, action_size: int, capacity=None, batch=None):
    """brax's uniform replay for these settings (a plain object; its state is the pytree)."""
    return replay_buffers.UniformSamplingQueue(
        max_replay_size=config.max_replay_size if capacity is None else capacity,
        dummy_data_sample=_dummy_transition(observation_size, action_size),
        sample_batch_size=(_online_batch(config) if batch is None else batch) * config.grad_updates_per_step,
    )


def _optimizers(config: SACConfig):
    return optax.adam(config.learning_rate), optax.adam(config.learning_rate), optax.adam(3e-4)


def init_learner(
    config: SACConfig, observation_size: int, action_size: int, key: jax.Array, prior=None
) -> Learner:
    """Fresh networks (brax's initialisers), optimisers, normaliser and replay.

    Args:
        prior: for seeded SAC, the prior transitions [M] (brax `Transition`
            with `extras["state_extras"]["truncation"]`); they fill the prior
            buffer and the normaliser's first statistics.
    """
    net = networks(config, observation_size, action_size)
    k_policy, k_q, k_replay, k_prior = jax.random.split(key, 4)
    policy_params = net.policy_network.init(k_policy)
    q_params = net.q_network.init(k_q)
    log_alpha = jnp.asarray(0.0, jnp.float32)
    policy_opt, q_opt, alpha_opt = _optimizers(config)
    normalizer = running_statistics.init_state(jax.ShapeDtypeStruct((observation_size,), jnp.float32))
    prior_state = None
    if config.seeded:
        if prior is None:
            raise ValueError("seeded SAC needs the prior transitions")
        size = prior.reward.shape[0]
        buffer = replay_buffer(config, observation_size, action_size, capacity=size, batch=config.prior_batch)
        prior_state = buffer.insert(buffer.init(k_prior), prior)
        live = 1.0 - prior.extras["state_extras"]["truncation"]
        normalizer = running_statistics.update(normalizer, prior.observation, weights=live)
    return Learner(
        policy_params=policy_params,
        q_params=q_params,
        target_q_params=q_params,
        log_alpha=log_alpha,
        policy_optimizer_state=policy_opt.init(policy_params),
        q_optimizer_state=q_opt.init(q_params),
        alpha_optimizer_state=alpha_opt.init(log_alpha),
        normalizer=normalizer,
        replay=replay_buffer(config, observation_size, action_size).init(k_replay),
        prior=prior_state,
        env_steps=jnp.int32(0),
        updates=jnp.int32(0),
    )


def actor(config: SACConfig, learner: Learner, observation_size: int, action_size: int, deterministic=False):
    """The policy as an `episodes.Actor` (stochastic: the training policy)."""
    net = networks(config, observation_size, action_size)
    policy = sac_networks.make_inference_fn(net)((learner.normalizer, learner.policy_params), deterministic)
    return lambda observations, key: (policy(observations, key)[0], {})


def _sgd(config: SACConfig, net, action_size: int, learner: Learner, batch, key) -> tuple[Learner, dict]:
    """brax's `sgd_step`: temperature, critic, actor, then the target critic."""
    alpha_loss, critic_loss, actor_loss = sac_losses.make_losses(
        net, reward_scaling=config.reward_scaling, discounting=config.discounting, action_size=action_size
    )
    policy_opt, q_opt, alpha_opt = _optimizers(config)
    k_alpha, k_critic, k_actor = jax.random.split(key, 3)
    n = learner.normalizer

    a_loss, grads = jax.value_and_grad(alpha_loss)(learner.log_alpha, learner.policy_params, n, batch, k_alpha)
    updates, alpha_state = alpha_opt.update(grads, learner.alpha_optimizer_state)
    log_alpha = optax.apply_updates(learner.log_alpha, updates)
    alpha = jnp.exp(learner.log_alpha)  # brax uses the temperature from before this update
    c_loss, grads = jax.value_and_grad(critic_loss)(
        learner.q_params, learner.policy_params, n, learner.target_q_params, alpha, batch, k_critic
    )
    updates, q_state = q_opt.update(grads, learner.q_optimizer_state)
    q_params = optax.apply_updates(learner.q_params, updates)
    p_loss, grads = jax.value_and_grad(actor_loss)(learner.policy_params, n, learner.q_params, alpha, batch, k_actor)
    updates, policy_state = policy_opt.update(grads, learner.policy_optimizer_state)
    policy_params = optax.apply_updates(learner.policy_params, updates)
    target = jax.tree.map(lambda t, q: t * (1 - config.tau) + q * config.tau, learner.target_q_params, q_params)
    learner = learner.replace(
        policy_params=policy_params, q_params=q_params, target_q_params=target, log_alpha=log_alpha,
        policy_optimizer_state=policy_state, q_optimizer_state=q_state, alpha_optimizer_state=alpha_state,
        updates=learner.updates + 1,
    )
    return learner, {"critic_loss": c_loss, "actor_loss": p_loss, "alpha_loss": a_loss}


def _train(config: SACConfig, net, obs_size: int, act_size: int, learner: Learner, key) -> tuple[Learner, dict]:
    """`grad_updates_per_step` updates on batches from the replay (and the prior)."""
    k_sample, k_sgd = jax.random.split(key)
    online = replay_buffer(config, obs_size, act_size)
    replay, batch = online.sample(learner.replay)
    learner = learner.replace(replay=replay)
    if config.seeded:
        prior_buffer = replay_buffer(
            config, obs_size, act_size, capacity=learner.prior.data.shape[0], batch=config.prior_batch
        )
        prior_state, prior_batch = prior_buffer.sample(learner.prior)
        learner = learner.replace(prior=prior_state)
        split = lambda x: x.reshape((config.grad_updates_per_step, -1) + x.shape[1:])
        batch = jax.tree.map(lambda a, b: jnp.concatenate([split(a), split(b)], axis=1), batch, prior_batch)
    else:
        batch = jax.tree.map(lambda x: x.reshape((config.grad_updates_per_step, -1) + x.shape[1:]), batch)

    def body(carry, xs):
        learner, k = carry
        k, k_step = jax.random.split(k)
        learner, metrics = _sgd(config, net, act_size, learner, xs, k_step)
        return (learner, k), metrics

    (learner, _), metrics = jax.lax.scan(body, (learner, k_sgd), batch)
    return learner, jax.tree.map(jnp.mean, metrics)


def _zero_metrics() -> dict:
    zero = jnp.float32(0.0)
    return {"critic_loss": zero, "actor_loss": zero, "alpha_loss": zero}


def train_episodes(
    config: SACConfig, env: Any, episode_length: int, learner: Learner, key: jax.Array, record=None,
) -> tuple[Learner, episodes.Envs, Optional[jax.Array], dict]:
    """One generation: `num_envs` whole episodes; after every environment
    step, the transitions go to the replay and, once it holds
    `min_replay_size`, `grad_updates_per_step` updates follow. Works on any
    brax `Env` (the parity benchmark drives brax's own environments).

    Returns:
        The learner, the ended environments, the records [T, N, ...] of
        `record` (None without it) and the losses of the last update.
    """
    obs_size, act_size = int(env.observation_size), int(env.action_size)
    net = networks(config, obs_size, act_size)
    online = replay_buffer(config, obs_size, act_size)
    k_reset, k_steps = jax.random.split(key)
    envs = episodes.reset(env, k_reset, config.num_envs)

    def body(carry, k):
        learner, envs, metrics = carry
        k_act, k_train = jax.random.split(k)
        act = actor(config, learner, obs_size, act_size)
        actions, _ = act(envs.state.obs, k_act)
        envs, transition = episodes.step(env, envs, actions, episode_length)
        live = transition.extras["live"]
        stored = transition._replace(extras={"state_extras": transition.extras["state_extras"], "policy_extras": {}})
        learner = learner.replace(
            normalizer=running_statistics.update(learner.normalizer, transition.observation, weights=live),
            replay=online.insert(learner.replay, stored),
            env_steps=learner.env_steps + jnp.sum(live, dtype=jnp.int32),
        )
        ready = online.size(learner.replay) >= config.min_replay_size
        learner, metrics = jax.lax.cond(
            ready,
            lambda l: _train(config, net, obs_size, act_size, l, k_train),
            lambda l: (l, metrics),
            learner,
        )
        return (learner, envs, metrics), None if record is None else record(envs.state)

    (learner, envs, metrics), records = jax.lax.scan(
        body, (learner, envs, _zero_metrics()), jax.random.split(k_steps, episode_length)
    )
    return learner, envs, records, metrics


def prior_transitions(config: SeededSACConfig, pipeline: Pipeline, genomes: jax.Array, rewards: jax.Array, key):
    """The transitions of up to `prior_episodes` archived policies, replayed
    with the pipeline's policy (the task's reference controller).

    Args:
        genomes: [M, D] the exploration run's archived genomes.
        rewards: [M] their archived rewards (those > 0 are taken first).

    Returns:
        brax `Transition`s [P * episode_length] (P = min(M, prior_episodes));
        steps of an ended or invalid episode are marked truncated.
    """
    evaluator = pipeline.evaluator
    task, policy = evaluator.task, evaluator.policy
    if genomes.ndim != 2 or genomes.shape[1] != policy.genome_size:
        raise ValueError(
            f"the prior archive's genomes must be [N, {policy.genome_size}] for {task!r} with its reference "
            f"controller, got {tuple(genomes.shape)}"
        )
    n = min(genomes.shape[0], config.prior_episodes)
    k_order, k_reset, k_unroll = jax.random.split(key, 3)
    # Rewarded policies first, the rest in random order.
    order = jnp.lexsort((jax.random.uniform(k_order, rewards.shape), -(rewards > 0).astype(jnp.int32)))
    chosen = genomes[order[:n]]
    length = task.spec.episode_length
    envs = episodes.reset(task, k_reset, n)

    def act(observations, key):
        del key
        return jax.vmap(policy.apply)(chosen, observations), {}

    envs, transitions, _ = episodes.unroll(task, envs, act, k_unroll, length, length)
    # Steps of an invalid (NaN) episode are masked as truncated too.
    bad = ~envs.finite
    truncation = jnp.maximum(transitions.extras["state_extras"]["truncation"], bad[None, :].astype(jnp.float32))
    clean = lambda x: jnp.where(jnp.isfinite(x), x, 0.0)
    transitions = brax_types.Transition(
        observation=clean(transitions.observation), action=clean(transitions.action),
        reward=clean(transitions.reward), discount=transitions.discount,
        next_observation=clean(transitions.next_observation),
        extras={"state_extras": {"truncation": truncation}, "policy_extras": {}},
    )
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), transitions)


@struct.dataclass
class SACState(AlgorithmState):
    """SAC run state: the learner (networks, replay, prior) and the episode
    archive (and `AlgorithmState`'s tracker, representation, config, pipeline)."""

    learner: Learner
    archive: novelty_archive.NoveltyArchive


def init(
    config: SACConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None, prior=None
) -> SACState:
    """Fresh networks, empty replay and archive; for seeded SAC, the prior
    buffer filled from `prior` = (genomes [M, D], rewards [M]) of the
    exploration run's archive (what `runs.priors` reads).

    Raises:
        ValueError: seeded SAC without a prior, or genomes of another shape.
    """
    del budget
    task = common.task_of(pipeline, "SAC")
    k_learner, k_prior = jax.random.split(key)
    transitions = None
    if config.seeded:
        if prior is None:
            raise ValueError(f"sac-seeded needs the archive of its prior run ({config.prior!r})")
        genomes, rewards = prior
        transitions = prior_transitions(config, pipeline, jnp.asarray(genomes), jnp.asarray(rewards), k_prior)
    learner = init_learner(config, task.observation_size, task.action_size, k_learner, transitions)
    return common.init_state(SACState, config, pipeline, learner, key)


def step(state: SACState, key: jax.Array) -> tuple[SACState, dict]:
    """One generation: `num_envs` training episodes, each counted and described."""
    state, metrics, losses = common.training_generation(state, key, train_episodes, "SAC")
    task, learner = common.task_of(state.pipeline, "SAC"), state.learner
    online = replay_buffer(state.config, task.observation_size, task.action_size)
    metrics |= losses
    metrics |= {
        "env_steps": learner.env_steps,
        "updates": learner.updates,
        "alpha": jnp.exp(learner.log_alpha),
        "replay_size": online.size(learner.replay),
    }
    return state, metrics


ALGORITHM = register(
    Algorithm(
        name="sac",
        config_cls=SACConfig,
        init=init,
        step=step,
        archive=common.archive,
        evaluations_per_step=lambda config: config.num_envs,
        description="SAC (brax networks, losses and replay): num_envs training episodes per generation",
    )
)
# The same algorithm; its config's `prior` names the run whose archive `init` gets.
SEEDED = register(
    dataclasses.replace(
        ALGORITHM,
        name="sac-seeded",
        config_cls=SeededSACConfig,
        description="SAC with an exploration run's archive replayed as prior data, 50/50 batches (RLPD)",
    )
)
