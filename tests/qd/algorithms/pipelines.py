"""Pipelines for algorithm tests: a real task's, or a genome -> outcome one."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from qd import pipeline
from qd.algorithms.novelty_search import NoveltySearchConfig
from qd.algorithms.serene.config import SereneConfig
from qd.algorithms.serene.local_emitters import LocalEmitterConfig
from qd.algorithms.serene.schedulers import SchedulerConfig
from representations.ground_truth import GroundTruth
from tasks.evaluation import Evaluation
from tasks.spec import RewardArea, TaskSpec


def pipeline_of(task, representation="ground_truth", **kwargs) -> pipeline.Pipeline:
    """The pipeline of a task on one device (tests compare shapes and values)."""
    return pipeline.make(task, representation, shard=False, **kwargs)


GOAL = (2.0, 2.0)


@dataclasses.dataclass(frozen=True)
class GenomeOutcome:
    """An evaluator without any rollout: the "final position" is genes 0-1 of
    the genome, and the reward is 1 - d inside the unit disc around GOAL."""

    genome_size: int = 4

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec(
            name="genome_outcome", observation_size=2, action_size=2, episode_length=5,
            descriptor_low=(-5.0, -5.0), descriptor_high=(5.0, 5.0),
            reward_areas=(RewardArea(GOAL, 1.0),), world_low=(-5.0, -5.0), world_high=(5.0, 5.0),
            trajectory_points=5,
        )

    def __call__(self, genomes: jax.Array, key: jax.Array) -> Evaluation:
        del key
        position = genomes[:, :2]
        d = jnp.linalg.norm(position - jnp.asarray(GOAL), axis=1)
        inside = d < 1.0
        n = genomes.shape[0]
        return Evaluation(
            reward=jnp.where(inside, 1.0 - d, 0.0),
            reward_area=jnp.where(inside, 0, -1).astype(jnp.int32),
            descriptor=position,
            trajectory=jnp.broadcast_to(position[:, None, :], (n, 5, 2)),
            valid=jnp.ones((n,), bool),
        )


def genome_outcome_pipeline(genome_size: int = 4, representation=None) -> pipeline.Pipeline:
    evaluator = GenomeOutcome(genome_size)
    return pipeline.Pipeline(evaluator, representation or GroundTruth(evaluator.spec, GroundTruth.Config()))


_SECTIONS = (("ns", NoveltySearchConfig), ("emitter", LocalEmitterConfig), ("scheduler", SchedulerConfig))


def serene_config(**flat) -> SereneConfig:
    """A SereneConfig from field names of any of its parts (`k=3`,
    `kind="cma"`, `chunk_size=100`, `emitters_per_step=2`); a name that two
    parts share must be prefixed (`ns_population_size`, `emitter_population_size`,
    `scheduler_kind`, `emitter_kind`)."""
    parts = {name: {} for name, _ in _SECTIONS}
    own = {}
    for key, value in flat.items():
        prefix, _, rest = key.partition("_")
        homes = [name for name, cls in _SECTIONS if key in {f.name for f in dataclasses.fields(cls) if f.init}]
        if key in {f.name for f in dataclasses.fields(SereneConfig)}:
            own[key] = value
        elif prefix in parts and rest:
            parts[prefix][rest] = value
        elif len(homes) == 1:
            parts[homes[0]][key] = value
        else:
            raise KeyError(f"{key!r} is ambiguous or unknown: {homes}")
    return SereneConfig(**{name: cls(**parts[name]) for name, cls in _SECTIONS}, **own)
