"""Everything a run checks before it touches the disk or compiles.

`divergent run` promises that a config is checked before anything compiles,
and a command that fails must leave no half-made run directory behind. The
config's own checks (`runs.config.RunConfig`) see each value alone; what only
shows when the pieces meet is checked here, without compiling:

- the task is built (a maze file that is missing, empty, binary or puts the
  start inside a wall is refused here, naming the file);
- the algorithm's initial state is traced with `jax.eval_shape` (nothing is
  computed or allocated), which runs the algorithm's own checks against the
  task and gives the state's size;
- that size must fit in the device's memory: on jax 0.9.2 a CPU program whose
  output allocation fails never returns, so an archive of 10^9 rows would
  hang instead of failing.

    ready = preflight.check(config)      # raises ConfigError, writes nothing
    run_dir = rundir.create(config.out, config)
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any, Optional

import jax

from runs.config import RunConfig, make_task
from runs import priors
from runs.errors import ConfigError

# The run holds about this many copies of its state at once (the state, the
# copy `step_ready` makes and the host copy a checkpoint writes).
STATE_COPIES = 2
GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class Ready:
    """What the checks built, for the loop to reuse.

    Attributes:
        algo: the registered algorithm.
        task: the task (built once per task config and maze file).
        pipeline: the run's evaluation pipeline (task + policy + sharding +
            representation), handed to the algorithm.
        skeleton: the initial state's shapes and dtypes (`jax.eval_shape`).
        state_bytes: bytes of the initial state.
        init_inputs: extra keyword arguments of `algo.init` (`runs.priors`:
            another run's archive for `sac-seeded`).
    """

    algo: Any
    task: Any
    pipeline: Any
    skeleton: Any
    state_bytes: int
    init_inputs: dict = dataclasses.field(default_factory=dict)


def check(config: RunConfig, *, memory: Optional[int] = None) -> Ready:
    """Builds the task and traces the initial state of `config`; nothing is
    written and nothing is compiled.

    Args:
        config: a checked run config.
        memory: bytes the state may use (default: `device_memory()`).

    Returns:
        The algorithm, task and state skeleton.

    Raises:
        ConfigError: the task or the algorithm rejects its settings, or the
            state would not fit in memory; the message names the setting.
    """
    from qd import algorithms

    algo = algorithms.get(config.algorithm)
    task = task_of(config)
    pipeline = config.make_pipeline(task)
    inputs = priors.init_inputs(config)
    skeleton = state_shapes(algo, config, pipeline, inputs)
    size = tree_bytes(skeleton)
    check_memory(config, size, device_memory() if memory is None else memory)
    return Ready(algo=algo, task=task, pipeline=pipeline, skeleton=skeleton, state_bytes=size, init_inputs=inputs)


def task_of(config: RunConfig) -> Any:
    """The task `config` names, cached per task config.

    Raises:
        ConfigError: the task rejects its settings (a maze file that cannot be
            read, a start inside a wall...).
    """
    try:
        return _cached_task(config.task, config.task_config, _file_stamp(config.task_config))
    except TypeError as error:
        if "unhashable" not in str(error):
            raise
        return make_task(config.task, config.task_config)  # an unhashable task config: build it afresh


@functools.lru_cache(maxsize=16)
def _cached_task(name: str, task_config: Any, stamp: Any) -> Any:
    del stamp  # part of the cache key only
    return make_task(name, task_config)


def _file_stamp(task_config: Any) -> Any:
    """(size, mtime) of the file a task config names (a maze file), so an
    edited file is read again instead of coming from the cache."""
    path = getattr(task_config, "maze_file", None)
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    return None if stat is None else (stat.st_size, stat.st_mtime_ns)


def state_shapes(algo: Any, config: RunConfig, pipeline: Any, inputs: Optional[dict] = None) -> Any:
    """The initial state of `config` as shapes and dtypes, traced, not run.

    This is the one place the run machinery calls ``algo.init`` outside jit.

    Raises:
        ConfigError: the algorithm rejects its settings for this task.
    """
    init = functools.partial(algo.init, config.algo, pipeline, budget=config.budget, **(inputs or {}))
    try:
        return jax.eval_shape(init, jax.random.PRNGKey(0))
    except (ValueError, TypeError) as error:
        if isinstance(error, TypeError) and not _names_a_setting(error):
            raise  # a bug, not a setting: keep the traceback
        raise ConfigError(f"invalid algo settings for {config.algorithm!r} on {config.task!r}: {error}") from None


def tree_bytes(tree: Any) -> int:
    """Bytes of every array leaf of `tree` (arrays or ShapeDtypeStructs)."""
    total = 0
    for leaf in jax.tree.leaves(tree):
        shape = getattr(leaf, "shape", ())
        dtype = getattr(leaf, "dtype", None)
        try:
            itemsize = dtype.itemsize
        except (AttributeError, TypeError, NotImplementedError):
            itemsize = 8  # a typed PRNG key (two uint32) or an odd leaf
        total += math.prod(shape) * int(itemsize)
    return total


def device_memory(device: Any = None) -> int:
    """Bytes of memory of `device` (default: JAX's first device): an
    accelerator's own memory where JAX reports it, else the machine's RAM."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # not every backend reports it
            stats = {}
        if stats.get("bytes_limit"):
            return int(stats["bytes_limit"])
    return host_memory()


def host_memory() -> int:
    """Bytes of RAM of this machine (0 when the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(config: RunConfig, state_bytes: int, memory: int) -> None:
    """Refuses a state that will not fit.

    Raises:
        ConfigError: `STATE_COPIES` copies of the state exceed `memory`; the
            message gives both figures and the largest size settings.
    """
    if memory <= 0 or state_bytes * STATE_COPIES <= memory:
        return
    sizes = _size_settings(config.algo)
    hint = f"; lower {', '.join(sizes)}" if sizes else ""
    raise ConfigError(
        f"the state of {config.algorithm!r} on {config.task!r} would take {_gib(state_bytes)} "
        f"(the run keeps about {STATE_COPIES} copies: {_gib(STATE_COPIES * state_bytes)}), but this "
        f"device has {_gib(memory)} of memory{hint}"
    )


def _size_settings(algo_config: Any, n: int = 2) -> list[str]:
    """The largest integer settings of the algorithm's config (nested parts
    included, e.g. SERENE's ``ns``), as dotted key=value."""

    def ints(config: Any, prefix: str):
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if dataclasses.is_dataclass(value):
                yield from ints(value, f"{prefix}{f.name}.")
            elif isinstance(value, int) and not isinstance(value, bool):
                yield value, f"{prefix}{f.name}"

    values = sorted(ints(algo_config, "algo."), reverse=True)[:n]
    return [f"{name}={value}" for value, name in values]


def _gib(size: int) -> str:
    return f"{size / GIB:,.1f} GiB" if size >= GIB / 10 else f"{size / 1024**2:,.1f} MiB"


def _names_a_setting(error: TypeError) -> bool:
    # A TypeError about a value ("must be an integer") is the user's; one about
    # arguments or attributes is a bug in the code.
    text = str(error)
    return "must be" in text and "argument" not in text
