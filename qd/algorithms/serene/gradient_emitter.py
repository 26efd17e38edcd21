"""SERENE's gradient emitter: exploitation by gradient ascent instead of evolution.

The emitter keeps one genome theta (starting at its rewarded ancestor) and
climbs a smoothed expected episode reward by a stochastic-gradient estimate.
Row 0 of every step is theta's own greedy rollout: its reward is what SERENE
scores theta by, and the estimators' baseline. Two estimators
(`LocalEmitterConfig.gradient_estimator`):

- "es" (default): parameter-space noise, OpenAI-ES (Salimans, Ho, Chen,
  Sidor, Sutskever 2017, "Evolution Strategies as a Scalable Alternative to
  Reinforcement Learning", arXiv:1703.03864). Rows 1.. are greedy rollouts
  of theta + sigma eps_i, eps_i in antithetic pairs, and

      g = 1/n sum_i (R(theta + sigma eps_i) - R(theta)) eps_i / sigma

  estimates the gradient of E_eps R(theta + sigma eps). That is REINFORCE
  again, on the Gaussian over genomes (whose score is eps / sigma), so
  `reinforce_gradient` computes both. Every rollout is a genome's own.
  sigma starts at the emitter's sigma0 and, with `sigma_rule` = "success",
  follows the 1/5th success rule (a perturbation succeeds when it beats theta).

- "reinforce": action-space noise, REINFORCE (Williams 1992) on theta's
  Gaussian policy, actions N(policy(theta, obs), action_std^2), with the
  greedy rollout's reward as baseline, as ReMax does (Li et al. 2023,
  "ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method
  for Aligning Large Language Models", arXiv:2310.10505):

      g = 1/n sum_i (R_i - R_greedy) sum_t grad_theta log pi_theta(a_it | o_it)

  Rows 1.. are noisy rollouts of theta (through
  `Pipeline.evaluate_stochastic`, which also returns each rollout's summed
  score grad log pi). A noisy rollout's outcome is that of no genome, so only
  row 0 enters the population, the novel-agent buffer and the best reward.

Why "es" is the default: measured on curling (benchmarks/README.md,
`serene_gradient.py`), REINFORCE never beat its ancestor within 360
evaluations at any setting tried: the slope of the reward expected under
action noise over a 500-step chaotic push says little about the greedy
reward. The ES estimate smooths the greedy reward itself, which is what
SERENE scores.

Each step takes one optax step of ascent on g (Adam, or SGD: for "es" the
natural-gradient step learning_rate * sigma^2 * g), clipped to the genome
bounds; utilities are the rewards minus theta's ("baseline") or centred
ranks ("rank", evosax's shaping). The emitter's population is the best
`population_size` genomes its greedy rollouts evaluated (what the reward
archive is offered). The stagnation and improvement bookkeeping of
`local_emitters` reads theta's greedy reward after each step. Every rollout,
noisy or not, counts as an evaluation.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.core.fitness_shaping import centered_rank_fitness_shaping_fn
from flax import struct


@struct.dataclass
class GradientState:
    """The policy-gradient part of a gradient emitter.

    Attributes:
        theta: [D] the genome being climbed.
        opt_state: its optimizer state (optax).
    """

    theta: jax.Array
    opt_state: Any


def optimizer(config) -> optax.GradientTransformation:
    """The step on theta: Adam at `learning_rate` ("adam") or plain SGD ("sgd")."""
    if config.gradient_optimizer == "sgd":
        return optax.sgd(config.learning_rate)
    return optax.adam(config.learning_rate)


def init(config, ancestor: jax.Array) -> GradientState:
    """theta = the ancestor, a fresh optimizer state."""
    theta = jnp.asarray(ancestor, jnp.float32)
    return GradientState(theta=theta, opt_state=optimizer(config).init(theta))


def action_std(config) -> np.ndarray:
    """[batch_size] action noise per row of a step: row 0 is the greedy
    rollout (std 0), the others are the noisy samples (REINFORCE); every row
    is greedy for the parameter-space ("es") estimator."""
    std = np.full((config.batch_size,), config.action_std, np.float32)
    if config.gradient_estimator == "es":
        std[:] = 0.0
    std[0] = 0.0
    return std


def describes_genomes(config) -> np.ndarray:
    """[batch_size] bool: the rows whose rollout is a genome's own (greedy)."""
    return action_std(config) == 0


def ask(config, gradient: GradientState, sigma: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Row 0 is theta. REINFORCE: theta in every row (the others noisy:
    `action_std`). ES: rows 1.. are theta + sigma * eps, clipped to the
    genome bounds, eps in antithetic pairs: row i + B/2 mirrors row i (B =
    batch_size; an even B leaves row B/2 unpaired). All rows count."""
    b, d = config.batch_size, gradient.theta.shape[-1]
    genomes = jnp.broadcast_to(gradient.theta, (b, d))
    if config.gradient_estimator == "es":
        # Antithetic pairs; an odd number of samples leaves the last one unpaired.
        half = jax.random.normal(key, (b // 2, d))
        eps = jnp.concatenate([jnp.zeros((1, d)), half, -half])[:b]
        genomes = jnp.clip(genomes + sigma * eps, config.genome_low, config.genome_high)
    return genomes, jnp.ones((b,), bool)


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


def shaped(config, reward: jax.Array, valid: jax.Array, baseline: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(utilities, their baseline) for `reinforce_gradient`: the rewards and
    the greedy reward ("baseline"), or centred ranks in [-0.5, 0.5] of the
    valid rewards and 0 ("rank": Salimans et al. 2017; evosax's shaping)."""
    if config.gradient_shaping == "rank":
        ranks = centered_rank_fitness_shaping_fn(None, jnp.where(valid, reward, -jnp.inf), None, None)
        # Re-centre over the valid rows (invalid ones rank lowest and are dropped).
        n = jnp.maximum(jnp.sum(valid), 1)
        ranks = jnp.where(valid, ranks - jnp.sum(jnp.where(valid, ranks, 0.0)) / n, 0.0)
        return ranks, jnp.zeros(())
    return reward, baseline


def estimate(config, theta, sigma, genomes, reward, ok, log_prob_grad) -> jax.Array:
    """The ascent direction of one step.

    Args:
        config: the `LocalEmitterConfig`.
        theta: [D] the genome the batch was asked around; sigma: its
            parameter noise ("es").
        genomes: [N, D] the asked batch; reward: [N]; ok: [N] bool, rows to
            use (row 0 is theta's greedy rollout, the baseline).
        log_prob_grad: [N, D] REINFORCE scores ("reinforce"; else unused).

    Returns:
        [D] the estimated gradient (for "es" with "sgd": the natural one).
    """
    utility, baseline = shaped(config, reward[1:], ok[1:], reward[0])
    if config.gradient_estimator == "es":
        # The score of the parameter-space Gaussian N(theta, sigma^2 I) at
        # theta + sigma eps is eps / sigma (from the asked genome: clipping
        # at the bounds is rare and only shortens eps).
        score = (genomes[1:] - theta) / sigma**2
        g = reinforce_gradient(utility, ok[1:], score, baseline)
        if config.gradient_optimizer == "sgd":
            g = sigma**2 * g  # the natural gradient of the isotropic Gaussian (Fisher = I / sigma^2)
        return g
    return reinforce_gradient(utility, ok[1:], log_prob_grad[1:], baseline)


def tell(
    config,
    state,
    genomes: jax.Array,
    mask: jax.Array,
    reward: jax.Array,
    novelty: jax.Array,
    valid: jax.Array,
    payload: Any,
    log_prob_grad: Any,
):
    """One gradient step from the evaluation of the batch `ask` returned.

    Args:
        config: the pool's `LocalEmitterConfig` (kind "gradient").
        state: the emitter (`local_emitters.LocalEmitterState`).
        genomes, mask, reward, novelty, valid, payload: as in
            `local_emitters.tell` (row 0 theta's greedy rollout, rows 1..
            perturbed genomes ("es") or noisy rollouts of theta).
        log_prob_grad: [N, D] the rollouts' REINFORCE scores ("reinforce";
            None for "es").

    Returns:
        The emitter after the step.
    """
    p = config.population_size
    ok = mask & valid
    reward = jnp.where(ok, reward, 0.0)
    greedy = jnp.asarray(describes_genomes(config)) & ok
    gradient: GradientState = state.gradient
    # Without a valid greedy rollout there is no baseline: theta stays.
    baseline_ok = greedy[0]
    g = estimate(config, gradient.theta, state.sigma, genomes, reward, ok, log_prob_grad)
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
