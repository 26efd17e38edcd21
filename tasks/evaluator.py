"""What evaluates genomes on a task: task + policy + sharding, as one value.

An algorithm is handed an `Evaluator` (inside a `qd.pipeline.Pipeline`) the
way a QDax algorithm is handed a scoring function, instead of importing the
rollout: swapping the task, the policy or how the batch is split over devices
changes no algorithm. It is a frozen, hashable dataclass, so it can sit in an
algorithm state as a static field and equal evaluators share jitted steps.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax

from tasks.base import SparseRewardTask
from tasks.evaluation import Evaluation
from tasks.policies import Policy
from tasks.rollout import auto_sharding, evaluate
from tasks.spec import TaskSpec


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """Evaluates a batch of genomes for one episode each.

    Attributes:
        task: the task (a Brax `Env`).
        policy: how a genome acts; `task.default_policy()` when built by `make`.
        shard: split each batch over every device JAX sees when the batch
            divides evenly (decided from the batch size at trace time).
        with_observation: also render the final top-down view (for
            representations that learn from what the agent sees).
        with_transitions: also return every step of every episode
            (`Evaluation.transitions`, for off-policy learners: PGA-ME).
        frames: with `with_observation`, views rendered per episode at
            evenly spaced times (`TaskSpec.frame_steps`); above 1 the
            observation is [B, frames, 64, 64, 3], the last the final view.
    """

    task: SparseRewardTask
    policy: Policy
    shard: bool = True
    with_observation: bool = False
    with_transitions: bool = False
    frames: int = 1

    def __post_init__(self):
        if self.with_observation:
            self.task.spec.frame_steps(self.frames)  # validates

    @property
    def spec(self) -> TaskSpec:
        return self.task.spec

    @property
    def genome_size(self) -> int:
        return self.policy.genome_size

    @property
    def provides(self) -> frozenset:
        """What its `Evaluation`s carry beyond descriptors and rewards: the
        trajectory, and the rendered view when `with_observation`."""
        return frozenset({"trajectory", "observation"} if self.with_observation else {"trajectory"})

    def __call__(self, genomes: jax.Array, key: jax.Array) -> Evaluation:
        """Traceable: the `Evaluation` of `genomes` [B, D]; policy i's episode
        uses fold_in(key, i), so results do not depend on the sharding.
        Called outside a trace, it runs as one jitted program."""
        if not isinstance(genomes, jax.core.Tracer):
            return _jitted_call(self, genomes, key)
        sharding = auto_sharding(genomes.shape[0]) if self.shard else None
        return evaluate(
            self.task, self.policy, genomes, key, with_observation=self.with_observation, sharding=sharding,
            with_transitions=self.with_transitions, frames=self.frames,
        )

    def stochastic(self, genomes: jax.Array, key: jax.Array, action_std: jax.Array) -> Evaluation:
        """Traceable: episodes of the genomes' Gaussian policies.

        Policy i acts with mean `policy.apply(genome_i, obs)` and std
        `action_std[i]` (actions then clipped by the task as usual); its reset
        uses fold_in(key, i) as in the deterministic call, so a row with std 0
        is that deterministic episode.

        Args:
            genomes: [B, D].
            key: PRNG key.
            action_std: [B] (or a scalar) action noise std per policy.

        Returns:
            The `Evaluation`, with `log_prob_grad` [B, D]: the gradient of the
            log-probability of the sampled actions w.r.t. the genome (REINFORCE's
            score function), summed over the steps.
        """
        if not isinstance(genomes, jax.core.Tracer):
            return _jitted_stochastic(self, genomes, key, action_std)
        sharding = auto_sharding(genomes.shape[0]) if self.shard else None
        return evaluate(
            self.task, self.policy, genomes, key, with_observation=self.with_observation, sharding=sharding,
            with_transitions=self.with_transitions, action_std=action_std, frames=self.frames,
        )

    def recording_transitions(self) -> "Evaluator":
        """This evaluator, also returning every step (`with_transitions`)."""
        return dataclasses.replace(self, with_transitions=True)


# An evaluator called eagerly (a script, a test) would run its rollout op by
# op: under a sharding, `shard_map` then compiles every primitive of the
# episode separately (~250 small programs, 25 s for two curling episodes on
# a 2-core CPU, against one program from the compile cache).
_jitted_call = jax.jit(lambda evaluator, genomes, key: evaluator(genomes, key), static_argnums=0)
_jitted_stochastic = jax.jit(
    lambda evaluator, genomes, key, std: evaluator.stochastic(genomes, key, std), static_argnums=0
)


def make(
    task: SparseRewardTask,
    policy: Optional[Policy] = None,
    *,
    shard: bool = True,
    with_observation: bool = False,
    frames: int = 1,
) -> Evaluator:
    """An evaluator of `task` with `policy` (default: the task's reference
    controller), rendering `frames` views per episode when `with_observation`."""
    return Evaluator(task, task.default_policy() if policy is None else policy, shard, with_observation,
                     frames=frames)
