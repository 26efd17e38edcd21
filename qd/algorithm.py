"""What every QD algorithm exposes, and the registry of algorithms by name.

An algorithm is a few pure functions (DESIGN.md section 4):

    state = algo.init(config, task, key)
    state, metrics = algo.step(state, key)      # jit-able; one generation
    snapshot = algo.archive(state)              # what the run saves and plots

`state` is an immutable pytree that carries its config and task as static
(non-pytree) fields, so `jax.jit(algo.step)` needs no static arguments and a
checkpoint is just the state's leaves. `state.evaluations` counts episodes
exactly. Only `runs/` iterates, logs, checkpoints and prints.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
from flax import struct


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


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """A registered algorithm.

    Attributes:
        name: registry name, e.g. "ns".
        config_cls: its frozen config dataclass (defaults = the reference values).
        init: (config, task, key) -> state.
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


_ALGORITHMS: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Adds an algorithm to the registry (module import time)."""
    _ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def names() -> list[str]:
    _import_builtin()
    return sorted(_ALGORITHMS)


def get(name: str) -> Algorithm:
    """The algorithm registered under `name`.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    _import_builtin()
    if name not in _ALGORITHMS:
        raise ValueError(
            f"unknown algorithm {name!r}; valid algorithms: {', '.join(sorted(_ALGORITHMS))}"
        )
    return _ALGORITHMS[name]


def _import_builtin() -> None:
    import importlib

    # Each module registers itself on import; a module not written yet is skipped.
    for module in ("qd.novelty_search", "qd.map_elites", "qd.random_search", "qd.cmaes", "qd.serene",
                   "qd.nsga2", "qd.cma_me"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
