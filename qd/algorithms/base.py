"""What every QD algorithm exposes, and the registry of algorithms by name.

An algorithm is a few pure functions (docs/architecture.md):

    state = algo.init(config, pipeline, key, budget=None)
    state, metrics = algo.step(state, key)      # jit-able; one generation
    snapshot = algo.archive(state)              # what the run saves and plots

`pipeline` (`qd.pipeline.Pipeline`) evaluates genomes and describes them in
the run's representation; `budget` is the run's total in evaluations, for
the algorithms that plan with it (SERENE's time scheduler). `state` is an
immutable pytree that carries its config and pipeline as static (non-pytree)
fields, so `jax.jit(algo.step)` needs no static arguments and a checkpoint is
just the state's leaves. `state.evaluations` counts episodes exactly. Only
`runs/` iterates, logs, checkpoints and prints.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
from flax import struct

from qd.tracker import Tracker
from representations import RepresentationState
from tasks.registry import Registry


@struct.dataclass
class ArchiveSnapshot:
    """The policies an algorithm keeps, as arrays with a common leading axis N.

    Attributes:
        genome: [N, D] flat genomes.
        descriptor: [N, k] descriptors the algorithm used (learned or hand-made).
        gt_descriptor: [N, g] ground-truth descriptors (e.g. final x, y).
        reward: [N] episode returns.
        reward_area: [N] int32 reward area index, -1 for none.
        mask: [N] bool, which rows hold a policy (archives have fixed capacity).
        generation: [N] int32 generation each policy was archived in, where the
            archive records it (None otherwise).
    """

    genome: jax.Array
    descriptor: jax.Array
    gt_descriptor: jax.Array
    reward: jax.Array
    reward_area: jax.Array
    mask: jax.Array
    generation: Optional[jax.Array] = None


@struct.dataclass
class AlgorithmState:
    """What every algorithm's state holds (algorithms subclass it and add
    their own fields).

    Attributes:
        tracker: the budget and metrics counters (`qd.tracker`).
        representation: the representation's parameters.
        config: the algorithm's config (static, not a pytree leaf).
        pipeline: the evaluation pipeline (static).
    """

    tracker: Tracker
    representation: RepresentationState
    config: Any = struct.field(pytree_node=False)
    pipeline: Any = struct.field(pytree_node=False)

    @property
    def evaluations(self) -> jax.Array:
        """Episodes spent so far."""
        return self.tracker.evaluations


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """A registered algorithm.

    Attributes:
        name: registry name, e.g. "ns".
        config_cls: its frozen config dataclass (defaults = the reference values).
        init: (config, pipeline, key, budget=None) -> state.
        step: (state, key) -> (state, metrics: dict[str, scalar array]).
        archive: state -> ArchiveSnapshot of what the algorithm keeps.
        evaluations_per_step: config -> episodes one `step` spends.
        description: one line for `divergent list`.
        extras: optional state -> {name: NumPy array} of what else the run
            saves and `divergent inspect` shows (e.g. SERENE's reward archive
            and emitter history); names are "<group>/<column>".
    """

    name: str
    config_cls: type
    init: Callable[[Any, Any, jax.Array], Any]
    step: Callable[[Any, jax.Array], tuple[Any, dict]]
    archive: Callable[[Any], ArchiveSnapshot]
    evaluations_per_step: Callable[[Any], int]
    description: str = ""
    extras: Optional[Callable[[Any], dict]] = None


ALGORITHMS: Registry[Algorithm] = Registry(
    "algorithm",
    (
        "qd.algorithms.novelty_search", "qd.algorithms.map_elites", "qd.algorithms.random_search",
        "qd.algorithms.cmaes", "qd.algorithms.serene", "qd.algorithms.nsga2", "qd.algorithms.cma_me",
        "qd.algorithms.rl.ppo", "qd.algorithms.rl.sac", "qd.algorithms.pga_me",
    ),
)


def register(algorithm: Algorithm) -> Algorithm:
    """Adds an algorithm to the registry (module import time)."""
    return ALGORITHMS.add(algorithm.name, algorithm)


def names() -> list[str]:
    return ALGORITHMS.names()


def get(name: str) -> Algorithm:
    """The algorithm registered under `name`.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    return ALGORITHMS.get(name)
