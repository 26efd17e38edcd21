"""Meta-schedulers: how SERENE splits its budget between exploring and exploiting.

Paolo et al. 2021, "Sparse Reward Exploration via Novelty Search and
Emitters", GECCO (arXiv:2102.03140), section 4.3. The budget is spent in
chunks of `chunk_size` evaluations; each chunk is either exploration (novelty
search) or exploitation (emitters). When a chunk ends the scheduler picks the
next one's phase:

- "alternating" (the paper's default): the other phase;
- "probability": explore with a fixed probability (0.5 in the paper);
- "time": explore with probability = the fraction of the budget left, so
  the run drifts from exploring to exploiting;
- "ucb": discounted UCB (Garivier & Moulines 2011, "On upper-confidence
  bound policies for switching bandit problems", ALT) over the two phases.
  A closed chunk pays 1 if it made progress (its `gain` > 0: new cells while
  exploring, a better reward while exploiting), else 0, so both arms are on
  one scale. Each arm keeps discounted counts N_i and payoffs S_i (both
  multiplied by `ucb_discount` at every closed chunk); the next phase
  maximises S_i / N_i + c * sqrt(log(sum N) / N_i), an untried arm first.

A chunk closes at the step that reaches `chunk_size` evaluations; a step may
overshoot, and the overshoot is not carried over (as in the reference code,
whose loop runs `while budget_chunk > 0`).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from qd import checks

SCHEDULERS = ("alternating", "probability", "time", "ucb")
EXPLORE, EXPLOIT = 0, 1


@dataclasses.dataclass(frozen=True)
class SchedulerConfig:
    """Meta-scheduler settings.

    Attributes:
        kind: one of `SCHEDULERS`.
        chunk_size: evaluations per chunk (1000).
        explore_probability: "probability": chance that a chunk explores.
        ucb_discount: "ucb": discount gamma in (0, 1] applied per closed chunk.
        ucb_exploration: "ucb": the constant c of the bonus.

    Raises:
        ValueError: naming the bad field and what is allowed.
    """

    kind: str = "alternating"
    chunk_size: int = 1000
    explore_probability: float = 0.5
    ucb_discount: float = 0.9
    ucb_exploration: float = 2.0

    def __post_init__(self):
        if self.kind not in SCHEDULERS:
            raise ValueError(f"scheduler kind must be one of {', '.join(SCHEDULERS)}, got {self.kind!r}")
        checks.positive_int_fields(self, "chunk_size")
        if not 0.0 <= self.explore_probability <= 1.0:
            raise ValueError(f"explore_probability must be in [0, 1], got {self.explore_probability!r}")
        if not 0.0 < self.ucb_discount <= 1.0:
            raise ValueError(f"ucb_discount must be in (0, 1], got {self.ucb_discount!r}")
        if not self.ucb_exploration >= 0.0:
            raise ValueError(f"ucb_exploration must be >= 0, got {self.ucb_exploration!r}")


@struct.dataclass
class SchedulerState:
    """Where the budget split stands.

    Attributes:
        exploring: bool, the phase of the current chunk.
        chunk_spent: evaluations spent in the current chunk.
        chunk_gain: progress accumulated during the current chunk.
        chunks: [2] int32 chunks closed so far, [explore, exploit].
        evaluations: [2] int32 evaluations spent so far, [explore, exploit].
        arm_counts: [2] discounted chunk counts ("ucb").
        arm_gains: [2] discounted payoffs ("ucb").
        budget: the run's total evaluations ("time"; static, so a resumed run
            with a larger budget plans with the new one).
    """

    exploring: jax.Array
    chunk_spent: jax.Array
    chunk_gain: jax.Array
    chunks: jax.Array
    evaluations: jax.Array
    arm_counts: jax.Array
    arm_gains: jax.Array
    budget: Optional[int] = struct.field(pytree_node=False, default=None)


def init(config: SchedulerConfig, budget: Optional[int] = None) -> SchedulerState:
    """The first chunk explores: nothing can be exploited before a reward is found.

    Args:
        config: the settings.
        budget: the run's total evaluations; the "time" scheduler needs it.

    Raises:
        ValueError: "time" without a positive budget.
    """
    if config.kind == "time" and (budget is None or budget < 1):
        raise ValueError(f"the 'time' scheduler needs the run's budget (a positive integer), got {budget!r}")
    return SchedulerState(
        exploring=jnp.asarray(True),
        chunk_spent=jnp.zeros((), jnp.int32),
        chunk_gain=jnp.zeros((), jnp.float32),
        chunks=jnp.zeros((2,), jnp.int32),
        evaluations=jnp.zeros((2,), jnp.int32),
        arm_counts=jnp.zeros((2,), jnp.float32),
        arm_gains=jnp.zeros((2,), jnp.float32),
        budget=budget,
    )


def _phase(state: SchedulerState) -> jax.Array:
    return jnp.where(state.exploring, EXPLORE, EXPLOIT)


def _next_exploring(config: SchedulerConfig, state: SchedulerState, key: jax.Array, spent_total) -> jax.Array:
    if config.kind == "alternating":
        return ~state.exploring
    if config.kind == "probability":
        return jax.random.uniform(key) < config.explore_probability
    if config.kind == "time":
        left = jnp.clip(1.0 - jnp.asarray(spent_total, jnp.float32) / state.budget, 0.0, 1.0)
        return jax.random.uniform(key) < left
    counts = jnp.maximum(state.arm_counts, 1e-12)
    bonus = config.ucb_exploration * jnp.sqrt(jnp.log(jnp.maximum(jnp.sum(state.arm_counts), 1.0)) / counts)
    score = jnp.where(state.arm_counts > 0, state.arm_gains / counts + bonus, jnp.inf)
    # Ties (both untried, or equal scores) go to exploration, never to an arbitrary arm.
    return score[EXPLORE] >= score[EXPLOIT]


def _count_chunk(config: SchedulerConfig, state: SchedulerState) -> SchedulerState:
    """Counts the current chunk as closed (chunks and UCB statistics) and empties it."""
    phase = _phase(state)
    payoff = (state.chunk_gain > 0).astype(jnp.float32)
    one_hot = jax.nn.one_hot(phase, 2, dtype=jnp.float32)
    return state.replace(
        chunks=state.chunks + one_hot.astype(jnp.int32),
        arm_counts=config.ucb_discount * state.arm_counts + one_hot,
        arm_gains=config.ucb_discount * state.arm_gains + one_hot * payoff,
        chunk_spent=jnp.zeros((), jnp.int32),
        chunk_gain=jnp.zeros((), jnp.float32),
    )


def _close(config: SchedulerConfig, state: SchedulerState, key: jax.Array, spent_total) -> SchedulerState:
    closed = _count_chunk(config, state)
    return closed.replace(exploring=_next_exploring(config, closed, key, spent_total))


def record(
    config: SchedulerConfig,
    state: SchedulerState,
    evaluations,
    gain,
    key: jax.Array,
    *,
    spent_total,
) -> SchedulerState:
    """Accounts for one step of the current phase; closes the chunk when full.

    Args:
        config: the settings (static).
        state: the scheduler.
        evaluations: evaluations the step spent.
        gain: progress the step made (>= 0), defined by the caller.
        key: PRNG key for the next phase's draw.
        spent_total: evaluations spent by the whole run (for "time").

    Returns:
        The scheduler after the step, in the next chunk if this one is full.
    """
    evaluations = jnp.asarray(evaluations, jnp.int32)
    phase = _phase(state)
    state = state.replace(
        chunk_spent=state.chunk_spent + evaluations,
        chunk_gain=state.chunk_gain + jnp.asarray(gain, jnp.float32),
        evaluations=state.evaluations.at[phase].add(evaluations),
    )
    full = state.chunk_spent >= config.chunk_size
    closed = _close(config, state, key, spent_total)
    return jax.tree.map(lambda a, b: jnp.where(full, a, b), closed, state)


def force_explore(config: SchedulerConfig, state: SchedulerState) -> SchedulerState:
    """Ends the current chunk and starts an exploration chunk; used when an
    exploitation chunk has nothing left to exploit.

    The chunk counts as closed like any other, in `chunks` and in the UCB
    statistics (paying 0 unless it already made progress), so "ucb" does not
    keep treating an exploitation that found nothing to do as untried.
    """
    return _count_chunk(config, state).replace(exploring=jnp.asarray(True))


def summary(state: SchedulerState) -> dict[str, jax.Array]:
    """Metrics: the budget split so far and the current phase."""
    return {
        "explore_evaluations": state.evaluations[EXPLORE],
        "exploit_evaluations": state.evaluations[EXPLOIT],
        "explore_chunks": state.chunks[EXPLORE],
        "exploit_chunks": state.chunks[EXPLOIT],
    }
