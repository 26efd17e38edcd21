"""SERENE's local emitters: small populations that exploit one reward area.

Paolo, Coninx, Doncieux, Laflaquiere 2021, "Sparse Reward Exploration via
Novelty Search and Emitters", GECCO (arXiv:2102.03140). An emitter starts from
an *ancestor* (a rewarded novelty-search agent) with step size sigma0 and runs
a local optimiser around it. Four kinds:

- "fitness" (SERENE's elitist emitter): a population of 6 Gaussian mutants of
  the ancestor; each step every parent makes 2 mutants (12 evaluations) and
  the best 6 of the 18 by reward survive. The mutation step follows the
  1/5th success rule from sigma0 (`adapt_sigma`; the reference keeps sigma0:
  `sigma_rule="fixed"`).
- "novelty": the same loop, but survivors are the most novel of the 18 w.r.t.
  the novelty-search reference set (the caller supplies the novelty).
- "cma": CMA-ES (through evosax, `emitters.es`) with population 6 on the
  reward, as in the paper's CMA-NS variant.
- "gradient" (not in the paper): gradient ascent on one genome
  (`gradient_emitter`): by default the parameter-space (OpenAI-ES) estimate
  from antithetic greedy rollouts around it; or REINFORCE on its Gaussian
  policy with the greedy rollout as baseline (ReMax).

Every function here handles ONE emitter and is pure and jit-able, so a pool of
emitters steps together under `jax.vmap` (`emitters.pool`). What an agent is
beyond its genome (descriptors, reward area, ...) is an opaque `payload`
pytree with a leading batch axis, carried along with the population so this
package needs nothing from `qd/`.

Bookkeeping follows the reference code: after every step the population's
rewards are appended to `values`; improvement = max(mean of the last 3 rows -
mean of the first 3 rows, 0); stagnation: once more than
B = int(20 * G / 6 + 120) steps were taken, look at the last B rows and stop
if median(first 20 rows) >= median(last 20 rows) or max(first 20 rows) >=
max(last 20 rows). The newly evaluated agents more novel than the ancestor are
kept (the `novel_to_archive` most novel ones) to be offered to the NS archive when
the emitter ends.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
from flax import struct

from emitters import es, variation
from qd.algorithms.serene import gradient_emitter

KINDS = ("fitness", "novelty", "cma", "gradient")
# How an elitist emitter's mutation step evolves: the reference keeps sigma0;
# "success" is the 1/5th success rule (see `adapt_sigma`).
SIGMA_RULES = ("fixed", "success")
# A gradient emitter's estimator, utilities and step (`gradient_emitter`).
GRADIENT_ESTIMATORS = ("reinforce", "es")
GRADIENT_SHAPINGS = ("baseline", "rank")
GRADIENT_OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class LocalEmitterConfig:
    """Settings shared by every emitter of a pool (static; hashable).

    Attributes:
        kind: one of `KINDS`.
        population_size: emitter population (6).
        offspring_per_parent: mutants per parent per step for the elitist
            kinds (2, i.e. 12 evaluations per step); CMA-ES asks
            `population_size` genomes per step.
        bootstrap_steps: steps of a candidate before it is judged, the initial
            population's evaluation included (6: 6 + 5 x 12 evaluations for the
            fitness emitter).
        improvement_window: rows averaged at both ends for the improvement (3).
        stagnation_window: rows compared at both ends of the stagnation
            history (20).
        stagnation_scale, stagnation_offset: history length
            B = int(scale * G / population_size + offset) (20, 120).
        max_steps: hard cap on an emitter's steps (0: none).
        patience: also stop an emitter whose best reward has not risen for
            this many steps (50; 0: never, the reference, whose stagnation
            rule alone needs B = 330-880 steps of history first).
        novel_to_archive: an ended emitter's most novel agents that join the
            novelty-search archive (5).
        sigma0_divisor: a new emitter's step size is sigma0 = (min genome
            distance of its ancestor to the other parents and offspring) /
            this (3).
        sigma0_fallback: sigma0 when that distance is 0 (0.05).
        sigma_rule: how the elitist kinds' mutation step evolves: "success"
            (the 1/5th success rule, `adapt_sigma`; default) or "fixed" (the
            reference: sigma0 for ever). CMA-ES adapts its own step either way.
        success_target: "success": the success rate the step size aims at
            (1/5).
        success_damping: "success": log step change per unit of
            (rate - target) / (1 - target) (1/3, Kern et al. 2004).
        sigma_min: "success": the step never falls below this (1e-4).
        gradient_samples: rollouts per step of a gradient emitter besides
            theta's own (11: 12 evaluations a step, as the fitness
            emitter's): perturbed genomes ("es") or noisy rollouts
            ("reinforce").
        action_std: "reinforce": std of the Gaussian action noise (actions
            lie in [-1, 1]).
        learning_rate: a gradient emitter's step on its genome (0.02).
        gradient_estimator: "es" (default: the gradient of the expected
            reward under parameter noise N(theta, sigma^2 I), sigma from
            sigma0 and `sigma_rule`, estimated from greedy rollouts of
            antithetic perturbations) or "reinforce" (under action noise,
            from the score function). "es" was chosen by measurement
            (benchmarks/README.md): "reinforce" never improved on its
            ancestor in curling.
        gradient_shaping: the utilities: "baseline" (reward minus theta's
            greedy reward; default) or "rank" (centred ranks, Salimans et
            al. 2017).
        gradient_optimizer: "adam" (default) or "sgd" (for "es", the
            natural-gradient step learning_rate * sigma^2 * gradient).
        genome_low, genome_high: clip bounds of genes (-5, 5); not settings
            of their own: SERENE copies those of its novelty search
            (`with_bounds`), so each is defined once.
    """

    kind: str = "fitness"
    population_size: int = 6
    offspring_per_parent: int = 2
    bootstrap_steps: int = 6
    improvement_window: int = 3
    stagnation_window: int = 20
    stagnation_scale: float = 20.0
    stagnation_offset: int = 120
    max_steps: int = 0
    patience: int = 50
    novel_to_archive: int = 5
    sigma0_divisor: float = 3.0
    sigma0_fallback: float = 0.05
    sigma_rule: str = "success"
    success_target: float = 0.2
    success_damping: float = 1.0 / 3.0
    sigma_min: float = 1e-4
    gradient_samples: int = 11
    action_std: float = 0.2
    learning_rate: float = 0.02
    gradient_estimator: str = "es"
    gradient_shaping: str = "baseline"
    gradient_optimizer: str = "adam"
    genome_low: float = dataclasses.field(default=-5.0, init=False)
    genome_high: float = dataclasses.field(default=5.0, init=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"emitter kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("population_size", "offspring_per_parent", "bootstrap_steps", "improvement_window",
                     "stagnation_window", "novel_to_archive", "gradient_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"emitter {name} must be a positive integer, got {value!r}")
        if self.sigma_rule not in SIGMA_RULES:
            raise ValueError(f"emitter sigma_rule must be one of {', '.join(SIGMA_RULES)}, got {self.sigma_rule!r}")
        for name, valid in (("gradient_estimator", GRADIENT_ESTIMATORS), ("gradient_shaping", GRADIENT_SHAPINGS),
                            ("gradient_optimizer", GRADIENT_OPTIMIZERS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"emitter {name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")
        if not 0.0 < self.success_target < 1.0:
            raise ValueError(f"emitter success_target must be in (0, 1), got {self.success_target!r}")
        if not self.success_damping > 0 or not self.sigma_min > 0:
            raise ValueError(
                f"emitter success_damping and sigma_min must be > 0, got {self.success_damping!r}, "
                f"{self.sigma_min!r}"
            )
        if self.kind == "cma" and self.population_size < 2:
            raise ValueError(f"a CMA-ES emitter needs population_size >= 2, got {self.population_size}")
        if self.bootstrap_steps < self.improvement_window:
            raise ValueError(
                f"bootstrap_steps ({self.bootstrap_steps}) must be >= improvement_window "
                f"({self.improvement_window}): a candidate is judged on its improvement"
            )
        for name in ("max_steps", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"emitter {name} must be an integer >= 0, got {value!r}")
        if not self.stagnation_scale >= 0 or self.stagnation_offset < 0:
            raise ValueError(
                f"stagnation_scale and stagnation_offset must be >= 0, got {self.stagnation_scale!r}, "
                f"{self.stagnation_offset!r}"
            )
        if not self.action_std > 0 or not self.learning_rate > 0:
            raise ValueError(
                f"emitter action_std and learning_rate must be > 0, got {self.action_std!r}, {self.learning_rate!r}"
            )
        if not self.sigma0_divisor > 0 or not self.sigma0_fallback > 0:
            raise ValueError(
                f"sigma0_divisor and sigma0_fallback must be > 0, got {self.sigma0_divisor!r}, "
                f"{self.sigma0_fallback!r}"
            )

    def with_bounds(self, low: float, high: float) -> "LocalEmitterConfig":
        """A copy whose genes are clipped to [low, high].

        Raises:
            ValueError: low >= high.
        """
        if not low < high:
            raise ValueError(f"genome_low ({low}) must be < genome_high ({high})")
        copy = dataclasses.replace(self)
        object.__setattr__(copy, "genome_low", float(low))
        object.__setattr__(copy, "genome_high", float(high))
        return copy

    @property
    def batch_size(self) -> int:
        """Genomes one step evaluates at most (the pool's rollout width)."""
        if self.kind == "cma":
            return self.population_size
        if self.kind == "gradient":
            return self.gradient_samples + 1
        return self.population_size * self.offspring_per_parent

    def history_length(self, genome_size: int) -> int:
        """B of the stagnation rule; at least two stagnation windows."""
        b = int(self.stagnation_scale * genome_size / self.population_size + self.stagnation_offset)
        return max(b, 2 * self.stagnation_window, self.improvement_window)

    def es_config(self, sigma0: float = 0.05) -> es.ESConfig:
        return es.ESConfig(
            algorithm="CMA_ES", population_size=self.population_size, sigma0=sigma0,
            low=self.genome_low, high=self.genome_high,
        )


@struct.dataclass
class LocalEmitterState:
    """One emitter (a pool stacks these on a leading axis).

    Attributes:
        genomes: [P, D] current population (for CMA-ES: the last asked batch).
        rewards: [P] their rewards (0 for invalid agents).
        novelty: [P] their novelty when evaluated.
        valid: [P] bool, evaluated and valid.
        payload: pytree [P, ...] of the population's other data.
        sigma: mutation step of the elitist kinds (sigma0).
        es_state: the CMA-ES state (kind "cma" only, else None).
        values: [B, P] ring buffer of the population rewards after each step.
        n_values: rows written to `values` so far (= steps taken).
        init_mean: mean of the first `improvement_window` rows.
        improvement: last estimated improvement (>= 0).
        ancestor_novelty: threshold for the novel-agent buffer.
        novel_payload, novel_genomes, novel_novelty: the buffer of the most
            novel newly evaluated agents ([K, ...], novelty -inf where empty).
        evaluations: evaluations this emitter spent.
        best_reward: best reward it evaluated.
        best_step: `n_values` when `best_reward` last rose (for `patience`).
        archived_max: best reward it handed to the reward archive (-inf: none).
        gradient: the genome and Adam state of a gradient emitter
            (`gradient_emitter.GradientState`; None for the other kinds).
    """

    genomes: jax.Array
    rewards: jax.Array
    novelty: jax.Array
    valid: jax.Array
    payload: Any
    sigma: jax.Array
    es_state: Optional[es.ESState]
    values: jax.Array
    n_values: jax.Array
    init_mean: jax.Array
    improvement: jax.Array
    ancestor_novelty: jax.Array
    novel_genomes: jax.Array
    novel_payload: Any
    novel_novelty: jax.Array
    evaluations: jax.Array
    best_reward: jax.Array
    archived_max: jax.Array
    best_step: jax.Array
    gradient: Optional[gradient_emitter.GradientState] = None


def create(
    config: LocalEmitterConfig,
    key: jax.Array,
    ancestor: jax.Array,
    sigma0: jax.Array,
    payload_row: Any,
    history_length: int,
    ancestor_novelty: jax.Array = -jnp.inf,
) -> LocalEmitterState:
    """A new emitter around `ancestor` (nothing evaluated yet).

    Args:
        config: the pool's settings.
        key: PRNG key (the elitist kinds' initial mutants; CMA-ES's state).
        ancestor: [D] genome of the rewarded agent.
        sigma0: scalar initial step size.
        payload_row: one agent's payload (no batch axis), used as the template
            of the population's payload.
        history_length: rows of `values` (`config.history_length(D)`).
        ancestor_novelty: agents must beat it to enter the novel buffer.

    Returns:
        The emitter; its first `ask` returns the initial population.
    """
    p, k = config.population_size, config.novel_to_archive
    genome_size = ancestor.shape[-1]
    sigma0 = jnp.asarray(sigma0, jnp.float32)
    k_pop, k_es = jax.random.split(key)
    genomes = variation.gaussian_mutation(
        k_pop, jnp.broadcast_to(ancestor, (p, genome_size)), sigma=sigma0,
        low=config.genome_low, high=config.genome_high,
    )
    es_state = es.init(config.es_config(), k_es, ancestor, sigma0) if config.kind == "cma" else None
    repeat = lambda n: jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), payload_row)  # noqa: E731
    return LocalEmitterState(
        genomes=genomes,
        rewards=jnp.zeros((p,), jnp.float32),
        novelty=jnp.zeros((p,), jnp.float32),
        valid=jnp.zeros((p,), bool),
        payload=repeat(p),
        sigma=sigma0,
        es_state=es_state,
        values=jnp.zeros((history_length, p), jnp.float32),
        n_values=jnp.zeros((), jnp.int32),
        init_mean=jnp.zeros((), jnp.float32),
        improvement=jnp.zeros((), jnp.float32),
        ancestor_novelty=jnp.asarray(ancestor_novelty, jnp.float32),
        novel_genomes=jnp.zeros((k, genome_size), jnp.float32),
        novel_payload=repeat(k),
        novel_novelty=jnp.full((k,), -jnp.inf, jnp.float32),
        evaluations=jnp.zeros((), jnp.int32),
        best_reward=jnp.full((), -jnp.inf, jnp.float32),
        archived_max=jnp.full((), -jnp.inf, jnp.float32),
        best_step=jnp.zeros((), jnp.int32),
        gradient=gradient_emitter.init(config, ancestor) if config.kind == "gradient" else None,
    )


def ask(config: LocalEmitterConfig, state: LocalEmitterState, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The genomes of the next step.

    Returns:
        genomes [config.batch_size, D] and a bool mask [batch_size] of the rows
        that are real evaluations: the elitist kinds' first step evaluates only
        their initial population, the P distinct mutants of the ancestor made by
        `create`, in rows 0..P-1 (the other rows repeat it and are not counted).
    """
    if config.kind == "cma":
        genomes, _ = es.ask(config.es_config(), state.es_state, key)
        return genomes, jnp.ones((config.batch_size,), bool)
    if config.kind == "gradient":
        return gradient_emitter.ask(config, state.gradient, state.sigma, key)
    parents = jnp.repeat(state.genomes, config.offspring_per_parent, axis=0)
    mutants = variation.gaussian_mutation(
        key, parents, sigma=state.sigma, low=config.genome_low, high=config.genome_high
    )
    first = state.n_values == 0
    # Tiled, not repeated: rows 0..P-1 are the whole initial population.
    initial = jnp.tile(state.genomes, (config.offspring_per_parent, 1))
    genomes = jnp.where(first, initial, mutants)
    mask = jnp.where(first, jnp.arange(config.batch_size) < config.population_size, True)
    return genomes, mask


def tell(
    config: LocalEmitterConfig,
    state: LocalEmitterState,
    genomes: jax.Array,
    mask: jax.Array,
    reward: jax.Array,
    novelty: jax.Array,
    valid: jax.Array,
    payload: Any,
    log_prob_grad: Optional[jax.Array] = None,
) -> LocalEmitterState:
    """Takes the evaluation of the batch `ask` returned.

    Args:
        genomes: [N, D] the asked genomes.
        mask: [N] bool rows that were real evaluations (from `ask`).
        reward: [N] rewards; novelty: [N] novelty w.r.t. the NS reference set;
        valid: [N] bool valid rollouts; payload: pytree [N, ...].
        log_prob_grad: [N, D] REINFORCE scores of a gradient emitter's rollouts
            (`gradient_emitter`; unused by the other kinds).

    Returns:
        The emitter after the step (population, values, buffers, counters).
    """
    if config.kind == "gradient":
        told = gradient_emitter.tell(config, state, genomes, mask, reward, novelty, valid, payload, log_prob_grad)
        if config.gradient_estimator == "es" and config.sigma_rule == "success":
            # A perturbation succeeds when it beats theta (row 0).
            ok = mask & valid
            success = ok & (reward > jnp.where(ok[0], reward[0], jnp.inf))
            told = told.replace(sigma=adapt_sigma(config, state.sigma, success, mask.at[0].set(False)))
        return told
    p = config.population_size
    ok = mask & valid
    reward = jnp.where(ok, reward, 0.0)
    sigma = state.sigma
    if config.kind == "cma":
        fitness = jnp.where(ok, reward, -jnp.inf)
        es_state = es.tell(config.es_config(), state.es_state, genomes, fitness)
        pop_genomes, pop_reward, pop_novelty, pop_valid, pop_payload = genomes, reward, novelty, ok, payload
    else:
        es_state = None
        first = state.n_values == 0
        # The first step evaluated the initial population (rows 0..P-1).
        init = (genomes[:p], reward[:p], novelty[:p], ok[:p], jax.tree.map(lambda x: x[:p], payload))
        pool_genomes = jnp.concatenate([state.genomes, genomes])
        pool_reward = jnp.concatenate([state.rewards, reward])
        pool_novelty = jnp.concatenate([state.novelty, novelty])
        pool_valid = jnp.concatenate([state.valid, ok])
        pool_payload = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.payload, payload)
        score = pool_reward if config.kind == "fitness" else pool_novelty
        _, keep = jax.lax.top_k(jnp.where(pool_valid, score, -jnp.inf), p)
        elite = (
            pool_genomes[keep], pool_reward[keep], pool_novelty[keep], pool_valid[keep],
            jax.tree.map(lambda x: x[keep], pool_payload),
        )
        pop_genomes, pop_reward, pop_novelty, pop_valid, pop_payload = jax.tree.map(
            lambda a, b: jnp.where(first, a, b), init, elite
        )
        if config.sigma_rule == "success":
            # Row i of a step's batch is a mutant of parent i // offspring_per_parent (`ask`).
            parent_score = jnp.repeat(
                jnp.where(state.valid, state.rewards if config.kind == "fitness" else state.novelty, -jnp.inf),
                config.offspring_per_parent,
            )
            child_score = jnp.where(ok, reward if config.kind == "fitness" else novelty, -jnp.inf)
            sigma = jnp.where(first, sigma, adapt_sigma(config, sigma, child_score > parent_score, mask))

    row = state.n_values % state.values.shape[0]
    values = state.values.at[row].set(pop_reward)
    n_values = state.n_values + 1
    w = config.improvement_window
    init_mean = jnp.where(n_values == w, jnp.mean(values[:w]), state.init_mean)

    # Novel buffer: the most novel newly evaluated agents that beat the ancestor.
    fresh = ok & (novelty > state.ancestor_novelty)
    cand_novelty = jnp.concatenate([state.novel_novelty, jnp.where(fresh, novelty, -jnp.inf)])
    _, top = jax.lax.top_k(cand_novelty, config.novel_to_archive)
    cand_genomes = jnp.concatenate([state.novel_genomes, genomes])
    cand_payload = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.novel_payload, payload)

    step_best = jnp.max(jnp.where(ok, reward, -jnp.inf))
    return state.replace(
        genomes=pop_genomes,
        rewards=pop_reward,
        novelty=pop_novelty,
        valid=pop_valid,
        payload=pop_payload,
        sigma=sigma,
        es_state=es_state,
        values=values,
        n_values=n_values,
        init_mean=init_mean,
        novel_genomes=cand_genomes[top],
        novel_payload=jax.tree.map(lambda x: x[top], cand_payload),
        novel_novelty=cand_novelty[top],
        evaluations=state.evaluations + jnp.sum(mask, dtype=jnp.int32),
        best_reward=jnp.maximum(state.best_reward, step_best),
        best_step=jnp.where(step_best > state.best_reward, n_values, state.best_step),
    )


def adapt_sigma(config: LocalEmitterConfig, sigma: jax.Array, success: jax.Array, mask: jax.Array) -> jax.Array:
    """The 1/5th success rule: the step grows when more than `success_target`
    of the mutants beat their parent, and shrinks otherwise.

    sigma <- sigma * exp(damping * (rate - target) / (1 - target)), clipped to
    [sigma_min, genome range]; with the defaults 12 failed mutants in a row
    shrink it by 8%, 12 successes grow it by 40%. Rechenberg 1973; the
    exponential form and damping 1/3 are Kern, Mueller, Hansen, Buche, Ocenasek,
    Koumoutsakos 2004, "Learning probability distributions in continuous
    evolutionary algorithms - a comparative review", Natural Computing 3(1).

    Args:
        config: the emitter settings.
        sigma: the current step.
        success: [N] bool, the mutant beat its parent.
        mask: [N] bool, the rows that were real evaluations.

    Returns:
        The new step.
    """
    rate = jnp.sum(success & mask) / jnp.maximum(jnp.sum(mask), 1)
    target = config.success_target
    new = sigma * jnp.exp(config.success_damping * (rate - target) / (1.0 - target))
    return jnp.clip(new, config.sigma_min, config.genome_high - config.genome_low)


def _rows(state: LocalEmitterState, start: jax.Array, n: int) -> jax.Array:
    """`n` consecutive logical rows of the history from `start` (oldest = 0)."""
    length = state.values.shape[0]
    oldest = jnp.maximum(state.n_values - length, 0)
    return state.values[(oldest + start + jnp.arange(n)) % length]


def improvement(config: LocalEmitterConfig, state: LocalEmitterState) -> jax.Array:
    """max(mean of the last `improvement_window` rows - mean of the first, 0)."""
    w = config.improvement_window
    last = _rows(state, jnp.minimum(state.n_values, state.values.shape[0]) - w, w)
    return jnp.where(state.n_values >= w, jnp.maximum(jnp.mean(last) - state.init_mean, 0.0), 0.0)


def stagnated(config: LocalEmitterConfig, state: LocalEmitterState) -> jax.Array:
    """The reference's stagnation rule (and the optional step cap and patience).

    Once more than B steps were taken, with the last B rows of the history:
    stop if median(first 20 rows) >= median(last 20 rows) or max(first 20
    rows) >= max(last 20 rows). With `patience` > 0, also stop once the best
    reward has not risen for `patience` steps.
    """
    length, w = state.values.shape[0], config.stagnation_window
    steps = _steps(config, state)
    first = _rows(state, jnp.zeros((), jnp.int32), w)
    last = _rows(state, jnp.asarray(length - w), w)
    stuck = (jnp.median(first) >= jnp.median(last)) | (jnp.max(first) >= jnp.max(last))
    stop = (steps > length) & stuck
    if config.max_steps:
        stop = stop | (steps >= config.max_steps)
    if config.patience:
        stop = stop | (state.n_values - state.best_step >= config.patience)
    return stop


def _steps(config: LocalEmitterConfig, state: LocalEmitterState) -> jax.Array:
    # The reference counts an elitist emitter's steps from its first offspring
    # generation (the initial evaluation is not a step); CMA-ES counts every ask.
    return state.n_values if config.kind == "cma" else jnp.maximum(state.n_values - 1, 0)


def with_improvement(config: LocalEmitterConfig, state: LocalEmitterState) -> LocalEmitterState:
    """Re-estimates `improvement` (done when an emitter's turn ends)."""
    return state.replace(improvement=improvement(config, state))


def reward_archive_offer(state: LocalEmitterState) -> tuple[jax.Array, LocalEmitterState]:
    """Which population members go to the reward archive after a step.

    As in the reference code: the first time, the best member if its reward is
    > 0; afterwards, every member whose reward beats the best one handed out
    so far.

    Returns:
        ([P] bool mask of the population, the state with `archived_max` updated).
    """
    reward = jnp.where(state.valid, state.rewards, -jnp.inf)
    first = state.archived_max == -jnp.inf
    best = (jnp.arange(reward.shape[0]) == jnp.argmax(reward)) & (reward > 0)
    mask = jnp.where(first, best, reward > state.archived_max)
    archived_max = jnp.maximum(state.archived_max, jnp.max(jnp.where(mask, reward, -jnp.inf)))
    return mask, state.replace(archived_max=archived_max)
