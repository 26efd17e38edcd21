"""A toy task and a toy algorithm, registered on import, so the run machinery
can be tested end to end in milliseconds without any real task or algorithm.

- task "toy_point": a point starting at the origin moves by 0.1 * action per
  step (pure JAX, no physics); one reward disc at (0.5, 0.5).
- algorithm "toy": random search with a ring-buffer archive: each generation
  mutates random archive members, evaluates them (sharded over the devices
  when the batch splits evenly) and stores them. It has SERENE-like extras
  (a "reward_archive" group and a made-up "emitters" history, both read off
  the final state) and logs SERENE's budget-split metrics (made up too).
- algorithm "toy_plain": the same without extras.
- algorithm "toy_budget": the same, reporting the budget the run handed to
  its `init` (metric "planned_budget").

Importable from a subprocess (`python -c "import tests.runs.toy; ..."`).
Set TOY_SLEEP_S to make every step sleep (to kill a run mid-way).
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import tasks
from qd import algorithms as qd_algorithm
from tasks.base import SparseRewardTask
from tasks.spec import RewardArea, TaskSpec

TASK = "toy_point"
ALGORITHM = "toy"
PLAIN = "toy_plain"
BUDGETED = "toy_budget"
EMITTERS = 9  # rows of the made-up emitter history (fewer when fewer policies are stored)


class ToyPointTask(SparseRewardTask):
    """A point that moves by its action on [-1, 1]^2 (test task)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        episode_length: int = 10
        policy_hidden: tuple[int, ...] = (3,)

        def __post_init__(self):
            if self.episode_length < 1:
                raise ValueError(f"episode_length must be >= 1, got {self.episode_length}")

    def __init__(self, config=None):
        self.config = config or self.Config()
        self.spec = TaskSpec(
            name=TASK,
            observation_size=2,
            action_size=2,
            episode_length=self.config.episode_length,
            descriptor_low=(-1.0, -1.0),
            descriptor_high=(1.0, 1.0),
            reward_areas=(RewardArea((0.5, 0.5), 0.3),),
            world_low=(-1.0, -1.0),
            world_high=(1.0, 1.0),
            grid_shape=(10, 10),
            trajectory_points=5,
        )

    def init_physics(self, rng):
        return jnp.zeros(2)

    def physics_step(self, physics, action):
        return jnp.clip(physics + 0.1 * action, -1.0, 1.0)

    def observe(self, physics):
        return physics

    def position(self, physics):
        return physics

    def render(self, physics):
        return jnp.zeros((64, 64, 3)) + physics[0]


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    """Toy random search settings."""

    batch_size: int = 8
    capacity: int = 64
    sigma: float = 0.2
    poison: bool = False  # make one genome per batch NaN (an invalid evaluation)

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.capacity < self.batch_size:
            raise ValueError(f"capacity must be >= batch_size, got {self.capacity}")


@struct.dataclass
class ToyState:
    genome: jax.Array
    descriptor: jax.Array
    reward: jax.Array
    reward_area: jax.Array
    mask: jax.Array
    cursor: jax.Array
    evaluations: jax.Array
    invalid: jax.Array
    config: Any = struct.field(pytree_node=False)
    pipeline: Any = struct.field(pytree_node=False)
    budget: Any = struct.field(pytree_node=False, default=None)


def _evaluate(config, pipeline, genomes, key):
    if config.poison:
        genomes = genomes.at[0].set(jnp.nan)
    return pipeline.evaluator(genomes, key)


def _insert(state, genomes, ev):
    idx = (state.cursor + jnp.arange(genomes.shape[0])) % state.config.capacity
    ok = ev.valid
    return state.replace(
        genome=state.genome.at[idx].set(jnp.where(ok[:, None], genomes, state.genome[idx])),
        descriptor=state.descriptor.at[idx].set(jnp.where(ok[:, None], ev.descriptor, state.descriptor[idx])),
        reward=state.reward.at[idx].set(jnp.where(ok, ev.reward, state.reward[idx])),
        reward_area=state.reward_area.at[idx].set(jnp.where(ok, ev.reward_area, state.reward_area[idx])),
        mask=state.mask.at[idx].set(state.mask[idx] | ok),
        cursor=(state.cursor + genomes.shape[0]) % state.config.capacity,
        evaluations=state.evaluations + genomes.shape[0],
        invalid=state.invalid + jnp.sum(~ok, dtype=jnp.int32),
    )


def init(config: ToyConfig, pipeline, key, budget=None) -> ToyState:
    policy = pipeline.evaluator.policy
    k_genomes, k_eval = jax.random.split(key)
    genomes = policy.init_genomes(k_genomes, config.batch_size)
    c, d = config.capacity, policy.genome_size
    state = ToyState(
        genome=jnp.zeros((c, d)),
        descriptor=jnp.zeros((c, 2)),
        reward=jnp.zeros((c,)),
        reward_area=jnp.full((c,), -1, jnp.int32),
        mask=jnp.zeros((c,), bool),
        cursor=jnp.int32(0),
        evaluations=jnp.int32(0),
        invalid=jnp.int32(0),
        config=config,
        pipeline=pipeline,
        budget=budget,
    )
    return _insert(state, genomes, _evaluate(config, pipeline, genomes, k_eval))


def step(state: ToyState, key) -> tuple[ToyState, dict]:
    config = state.config
    k_parent, k_noise, k_eval = jax.random.split(key, 3)
    logits = jnp.where(state.mask, 0.0, -jnp.inf)
    parents = jax.random.categorical(k_parent, logits, shape=(config.batch_size,))
    genomes = state.genome[parents] + config.sigma * jax.random.normal(k_noise, (config.batch_size, state.genome.shape[1]))
    ev = _evaluate(config, state.pipeline, genomes, k_eval)
    if os.environ.get("TOY_SLEEP_S"):
        jax.debug.callback(lambda: time.sleep(float(os.environ["TOY_SLEEP_S"])))
    state = _insert(state, genomes, ev)
    cells = jnp.clip(((state.descriptor + 1.0) / 2.0 * 10).astype(jnp.int32), 0, 9)
    flat = jnp.where(state.mask, cells[:, 0] * 10 + cells[:, 1], 100)
    hit = jnp.zeros(101, bool).at[flat].set(True)[:100]
    metrics = {
        "coverage": hit.mean(),
        "archive_size": state.mask.sum(),
        "max_reward": jnp.where(state.mask, state.reward, 0.0).max(),
        "areas_found": jnp.any(state.mask & (state.reward_area == 0)).astype(jnp.int32),
        "invalid": state.invalid,  # running count, as the real algorithms report it
        "evaluations": state.evaluations,  # also reported by the real ones; the loop keeps its own
    }
    # SERENE's budget split, made up: every other pair of generations exploits, half of it in area 0.
    exploit = (state.evaluations // 16) * 8
    metrics |= {
        "exploring": (state.evaluations // 8) % 2 == 1,
        "explore_evaluations": state.evaluations - exploit,
        "exploit_evaluations": exploit,
        "exploit_area0_evaluations": exploit // 2,
    }
    # ... and the best reward each phase reached in area 0: the emitters the archive's best, exploration 90% of it.
    best = jnp.max(jnp.where(state.mask & (state.reward_area == 0), state.reward, 0.0))
    metrics |= {"exploit_area0_best_reward": best, "explore_area0_best_reward": 0.9 * best}
    return state, metrics


def step_reporting_budget(state: ToyState, key) -> tuple[ToyState, dict]:
    """`step`, plus the budget the run handed to `init` ("planned_budget")."""
    state, metrics = step(state, key)
    metrics["planned_budget"] = jnp.int32(-1 if state.budget is None else state.budget)
    return state, metrics


def archive(state: ToyState) -> qd_algorithm.ArchiveSnapshot:
    return qd_algorithm.ArchiveSnapshot(
        genome=state.genome,
        descriptor=state.descriptor,
        gt_descriptor=state.descriptor,
        reward=state.reward,
        reward_area=state.reward_area,
        mask=state.mask,
    )


def extras(state: ToyState) -> dict[str, np.ndarray]:
    """SERENE-like extras, read off the state (so a resumed run has the same):
    the stored policies with reward > 0 as "reward_archive/<column>", and one
    made-up emitter per stored policy (the first `EMITTERS`) as
    "emitters/<column>", outcomes cycling discarded, stagnated, running."""
    mask, reward = np.asarray(state.mask), np.asarray(state.reward)
    desc, area = np.asarray(state.descriptor), np.asarray(state.reward_area)
    rewarded = mask & (reward > 0)
    out = {
        "reward_archive/genome": np.asarray(state.genome)[rewarded],
        "reward_archive/descriptor": desc[rewarded],
        "reward_archive/gt_descriptor": desc[rewarded],
        "reward_archive/reward": reward[rewarded],
        "reward_archive/reward_area": area[rewarded],
    }
    slots = np.flatnonzero(mask)[:EMITTERS]
    n, spent = len(slots), int(state.evaluations)
    outcome = 1 + np.arange(n, dtype=np.int32) % 3
    created = (np.arange(n) * spent // (2 * EMITTERS)).astype(np.int32)
    ended = np.where(outcome == 3, spent, created + (spent - created) // 2).astype(np.int32)
    evaluations = ((ended - created) // 2).astype(np.int32)
    columns = {
        "ident": np.arange(n, dtype=np.int32), "area": area[slots], "created": created, "ended": ended,
        "evaluations": evaluations, "steps": evaluations // 12,
        "improvement": np.where(outcome == 1, 0.0, 0.1 + 0.1 * np.arange(n)).astype(np.float32),
        "best_reward": reward[slots], "outcome": outcome,
        "ancestor_x": desc[slots, 0], "ancestor_y": desc[slots, 1],
    }
    out |= {f"emitters/{name}": value for name, value in columns.items()}
    return out


tasks.register(TASK)(ToyPointTask)
TOY = qd_algorithm.register(
    qd_algorithm.Algorithm(
        name=ALGORITHM,
        config_cls=ToyConfig,
        init=init,
        step=step,
        archive=archive,
        evaluations_per_step=lambda config: config.batch_size,
        description="toy random search (tests only)",
        extras=extras,
    )
)
qd_algorithm.register(dataclasses.replace(
    TOY, name=PLAIN, extras=None, description="toy random search without extras (tests only)"
))
qd_algorithm.register(dataclasses.replace(
    TOY, name=BUDGETED, step=step_reporting_budget, description="toy random search reporting its planned budget (tests only)",
))
