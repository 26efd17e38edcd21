"""SERENE's gradient emitter: exploitation by policy gradient instead of evolution.

The emitter keeps one genome theta (starting at its rewarded ancestor) and
climbs the expected episode reward of theta's Gaussian policy, actions
N(policy(theta, obs), action_std^2), by REINFORCE (Williams 1992) with the
greedy rollout's reward as baseline, as ReMax does (Li et al. 2023, "ReMax: A
Simple, Effective, and Efficient Reinforcement Learning Method for Aligning
Large Language Models", arXiv:2310.10505):

    g = 1/n sum_i (R_i - R_greedy) sum_t grad_theta log pi_theta(a_it | o_it)

Our episodes are deterministic with one terminal reward, so the greedy
(noise-free) rollout of theta is an exact, free-of-variance baseline, and it is
also the reward theta itself reaches. Each step rolls out theta once greedily
and `gradient_samples` times with action noise (one batch, through
`Pipeline.evaluate_stochastic`, which also returns each rollout's summed
score grad log pi), then takes one Adam step (optax) of ascent on g, clipped
to the genome bounds.

Only greedy rollouts describe a genome (a noisy rollout's outcome is not that
of any genome), so only they enter the emitter's population (the best
`population_size` greedy genomes seen, what the reward archive is offered),
its novel-agent buffer and its best reward. The stagnation and improvement
bookkeeping of `local_emitters` then reads the greedy reward of theta after
each step. Every rollout, noisy or not, counts as an evaluation.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct


@struct.dataclass
class GradientState:
    """The policy-gradient part of a gradient emitter.

    Attributes:
        theta: [D] the genome being climbed.
        opt_state: its Adam state (optax).
    """

    theta: jax.Array
    opt_state: Any


def optimizer(config) -> optax.GradientTransformation:
    """Adam at the emitter's `learning_rate`."""
    return optax.adam(config.learning_rate)


def init(config, ancestor: jax.Array) -> GradientState:
    """theta = the ancestor, a fresh Adam state."""
    theta = jnp.asarray(ancestor, jnp.float32)
    return GradientState(theta=theta, opt_state=optimizer(config).init(theta))


def action_std(config) -> np.ndarray:
    """[batch_size] action noise per row of a step: row 0 is the greedy
    rollout (std 0), the others are the noisy samples."""
    std = np.full((config.batch_size,), config.action_std, np.float32)
    std[0] = 0.0
    return std


def ask(config, gradient: GradientState) -> tuple[jax.Array, jax.Array]:
    """theta in every row (row 0 greedy, the others noisy: `action_std`); all rows count."""
    genomes = jnp.broadcast_to(gradient.theta, (config.batch_size, gradient.theta.shape[-1]))
    return genomes, jnp.ones((config.batch_size,), bool)


def reinforce_gradient(
    reward: jax.Array, valid: jax.Array, log_prob_grad: jax.Array, baseline: jax.Array
) -> jax.Array:
    """REINFORCE's estimate of the gradient of the expected reward, with a baseline.

    Args:
        reward: [n] rewards of the noisy rollouts.
        valid: [n] bool, rollouts to use.
        log_prob_grad: [n, D] each rollout's sum over steps of grad log pi.
        baseline: scalar (ReMax: the greedy rollout's reward).

    Returns:
        [D] mean over the valid rollouts of (reward - baseline) * log_prob_grad
        (zeros when none is valid).
    """
    advantage = jnp.where(valid, reward - baseline, 0.0)
    n = jnp.maximum(jnp.sum(valid), 1)
    return jnp.sum(advantage[:, None] * jnp.where(valid[:, None], log_prob_grad, 0.0), axis=0) / n


def tell(
    config,
    state,
    genomes: jax.Array,
    mask: jax.Array,
    reward: jax.Array,
    novelty: jax.Array,
    valid: jax.Array,
    payload: Any,
    log_prob_grad: jax.Array,
):
    """One gradient step from the evaluation of the batch `ask` returned.

    Args:
        config: the pool's `LocalEmitterConfig` (kind "gradient").
        state: the emitter (`local_emitters.LocalEmitterState`).
        genomes, mask, reward, novelty, valid, payload: as in
            `local_emitters.tell` (row 0 greedy, rows 1.. noisy).
        log_prob_grad: [N, D] the rollouts' REINFORCE scores.

    Returns:
        The emitter after the step.
    """
    p = config.population_size
    ok = mask & valid
    reward = jnp.where(ok, reward, 0.0)
    greedy = (jnp.arange(genomes.shape[0]) == 0) & ok
    gradient: GradientState = state.gradient
    # Without a valid greedy rollout there is no baseline: theta stays.
    baseline_ok = greedy[0]
    g = reinforce_gradient(reward[1:], ok[1:], log_prob_grad[1:], reward[0])
    updates, opt_state = optimizer(config).update(-g, gradient.opt_state, gradient.theta)
    theta = jnp.clip(optax.apply_updates(gradient.theta, updates), config.genome_low, config.genome_high)
    gradient = jax.tree.map(
        lambda new, old: jnp.where(baseline_ok, new, old),
        GradientState(theta=theta, opt_state=opt_state), gradient,
    )

    # The population: the best `population_size` greedy genomes seen so far.
    pool_genomes = jnp.concatenate([state.genomes, genomes])
    pool_reward = jnp.concatenate([state.rewards, reward])
    pool_novelty = jnp.concatenate([state.novelty, novelty])
    pool_valid = jnp.concatenate([state.valid, greedy])
    pool_payload = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.payload, payload)
    _, keep = jax.lax.top_k(jnp.where(pool_valid, pool_reward, -jnp.inf), p)

    row = state.n_values % state.values.shape[0]
    values = state.values.at[row].set(jnp.broadcast_to(reward[0], (p,)))
    n_values = state.n_values + 1
    w = config.improvement_window
    init_mean = jnp.where(n_values == w, jnp.mean(values[:w]), state.init_mean)

    fresh = greedy & (novelty > state.ancestor_novelty)
    cand_novelty = jnp.concatenate([state.novel_novelty, jnp.where(fresh, novelty, -jnp.inf)])
    _, top = jax.lax.top_k(cand_novelty, config.novel_to_archive)
    cand_genomes = jnp.concatenate([state.novel_genomes, genomes])
    cand_payload = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.novel_payload, payload)

    step_best = jnp.max(jnp.where(greedy, reward, -jnp.inf))
    return state.replace(
        genomes=pool_genomes[keep],
        rewards=pool_reward[keep],
        novelty=pool_novelty[keep],
        valid=pool_valid[keep],
        payload=jax.tree.map(lambda x: x[keep], pool_payload),
        gradient=gradient,
        values=values,
        n_values=n_values,
        init_mean=init_mean,
        novel_genomes=cand_genomes[top],
        novel_payload=jax.tree.map(lambda x: x[top], cand_payload),
        novel_novelty=cand_novelty[top],
        evaluations=state.evaluations + jnp.sum(mask, dtype=jnp.int32),
        best_reward=jnp.maximum(state.best_reward, step_best),
        best_step=jnp.where(step_best > state.best_reward, n_values, state.best_step),  # for `patience`
    )
