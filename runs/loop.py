"""The run loop: the only place that iterates an algorithm (docs/architecture.md).

    pipeline = config.make_pipeline()       # task + policy + sharding + representation
    state = init(config.algo, pipeline, init_key, budget=config.budget)
    for generation g = 0, 1, ...:             until state.evaluations >= budget
        state, metrics = step(state, fold_in(loop_key, g))     # jitted once
        every log_every generations:        metrics -> host -> metrics.csv
        every checkpoint_every generations: state -> checkpoints/ (and at the end)
    algo.extras(state) -> extras.npz        (only algorithms that have extras)
    representation parameters -> representation.npz   (runs.learned; not for the ground truth)
    algo.archive(state) -> archive.npz

Determinism: generation g's key is ``fold_in(loop_key, g)``, a pure function
of the seed and g, so nothing about the RNG is lost when a run stops. After
writing a checkpoint the loop continues from the arrays it wrote (rebuilt
exactly as `resume` rebuilds them), so a resumed run is bit-identical to an
uninterrupted one with the same seed.

The host only waits for the device at logged and checkpointed generations.
Ctrl-C (SIGINT) stops after the current generation, once a checkpoint is
written; a second Ctrl-C aborts at once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from runs import checkpoint, learned, preflight, rundir
from runs.config import RunConfig
from runs.errors import CheckpointError, ConfigError, RunDirError
from tasks.rollout import batch_sharding

# The algorithms report their running count of invalid (NaN/inf) evaluations
# under this metric; the loop carries it across checkpoints for the summary.
INVALID_KEY = "invalid"


@dataclasses.dataclass(frozen=True)
class StartInfo:
    """What a reporter is told when the loop starts.

    Attributes:
        config: the run's config.
        run_dir: its directory.
        devices: the devices JAX sees, e.g. ["cpu:0", "cpu:1"].
        generation: generations already done (0 unless resumed).
        evaluations: evaluations already spent.
        resumed_from: the checkpoint resumed from, if any.
    """

    config: RunConfig
    run_dir: Path
    devices: list[str]
    generation: int
    evaluations: int
    resumed_from: Optional[Path] = None


@dataclasses.dataclass(frozen=True)
class RunResult:
    """How a call to `run` ended.

    Attributes:
        status: "complete" (budget spent) or "interrupted" (Ctrl-C; resumable).
        run_dir: the run directory.
        generation: generations done.
        evaluations: evaluations spent.
        wall_time: seconds, over every session of the run.
        invalid: evaluations whose rollout produced NaN/inf, whole run.
        archive_size: policies in archive.npz.
        last_metrics: the last metrics.csv row written ({} if none).
    """

    status: str
    run_dir: Path
    generation: int
    evaluations: int
    wall_time: float
    invalid: int
    archive_size: int
    last_metrics: dict


class Reporter:
    """Receives the loop's progress; this base class reports nothing."""

    def start(self, info: StartInfo) -> None:
        """The loop is about to run its first generation."""

    def update(self, row: dict) -> None:
        """A metrics row was logged."""

    def note(self, message: str) -> None:
        """Something the user should know (interrupt received, ...)."""

    def finish(self, result: RunResult) -> None:
        """The loop ended; archive.npz (and extras.npz) are written."""


def start(config: RunConfig, *, overwrite: bool = False, reporter: Optional[Reporter] = None) -> RunResult:
    """Checks `config` (`runs.preflight`), then creates its run directory (at
    ``config.out``) and runs it. A config that fails its checks writes nothing.

    Raises:
        RunError: the config fails its checks (task, algorithm, memory), or
            the directory refuses (see `runs.rundir.create`).
    """
    ready = preflight.check(config)
    run_dir = rundir.create(config.out, config, overwrite=overwrite)
    return _run(config, run_dir, ready, None, reporter)


def resume(path: str | Path, *, budget: Optional[int] = None, reporter: Optional[Reporter] = None) -> RunResult:
    """Continues the run in `path` from its newest checkpoint.

    A run killed before its first checkpoint (config.yaml, no checkpoint and
    no archive.npz) starts again from generation 0 with its saved config:
    the same result as an uninterrupted run. Everything is checked before
    anything is written: a resume that fails leaves the directory as it was.

    Args:
        path: the run directory.
        budget: a new total budget (to extend a finished run); None keeps it.
            It may not be below the evaluations already spent.
        reporter: progress display.

    Raises:
        RunError: not a run directory, invalid config, a budget below what
            was spent, or a bad checkpoint (never a silent restart), or no
            checkpoint but an archive.npz (checkpoints deleted by hand), or a
            file where the checkpoints folder should be.
    """
    reporter = reporter or Reporter()
    config, run_dir, ready, ckpt = prepare_resume(path, budget=budget)
    if ckpt is None:
        reporter.note(f"{run_dir.path} has no checkpoint (the run stopped before its first one): "
                      "starting it from generation 0 with its saved config")
    return _run(config, run_dir, ready, ckpt, reporter)


def prepare_resume(
    path: str | Path, *, budget: Optional[int] = None, ready: Optional[preflight.Ready] = None
) -> tuple[RunConfig, rundir.RunDir, preflight.Ready, Optional[checkpoint.Checkpoint]]:
    """Everything `resume` checks and writes before its loop starts (shared
    with `runs.seeds`, which resumes several runs in one program).

    Args:
        path: the run directory.
        budget: a new total budget; None keeps it.
        ready: the checks of an equal config (all but the seed), to reuse;
            None runs `runs.preflight.check`.

    Returns:
        (config, run directory, checks, newest checkpoint or None).

    Raises:
        RunError: as `resume`.
    """
    run_dir, config = rundir.open_existing(path)
    changes = {"out": str(path)} if config.out != str(path) else {}
    if budget is not None and budget != config.budget:
        changes["budget"] = budget
    if changes:
        config = config.replace(**changes)
    ready = preflight.check(config) if ready is None else ready
    ckpt = _latest_checkpoint(run_dir, config, ready)
    spent = ckpt.evaluations if ckpt is not None else 0
    if "budget" in changes and budget < spent:  # (the run's own budget may be below: the last generation overshoots)
        raise ConfigError(
            f"--budget {budget} is below the {spent:,} evaluations {run_dir.path} has already spent; "
            f"give --budget >= {spent} (the total, not the evaluations to add)"
        )
    run_dir.metrics_text()  # unreadable metrics.csv: refuse now, before anything is written
    if not os.access(run_dir.path, os.W_OK | os.X_OK):
        raise RunDirError(f"{run_dir.path}: no permission to write in it, so the run cannot continue there")
    if changes:
        run_dir.write_config(config)
    return config, run_dir, ready, ckpt


def run(
    config: RunConfig,
    run_dir: rundir.RunDir,
    *,
    resume: bool = False,
    reporter: Optional[Reporter] = None,
) -> RunResult:
    """Runs (or resumes) a run until its budget is spent or Ctrl-C.

    Args:
        config: the run's config (already checked).
        run_dir: its directory (config.yaml written).
        resume: continue from the newest checkpoint instead of starting.
        reporter: progress display; default silent.

    Returns:
        How the run ended.

    Raises:
        ConfigError: the config fails `runs.preflight.check`.
        CheckpointError: `resume` and no usable checkpoint.
    """
    ready = preflight.check(config)
    ckpt = None
    if resume:
        ckpt = checkpoint.load_latest(run_dir.checkpoints, skeleton=ready.skeleton, config=config)
    return _run(config, run_dir, ready, ckpt, reporter)


def _latest_checkpoint(run_dir: rundir.RunDir, config: RunConfig, ready) -> Optional[checkpoint.Checkpoint]:
    """The newest checkpoint; None for a run killed before its first one.

    Raises:
        CheckpointError: the newest checkpoint is bad, or there is none but the
            run has written its archive (its checkpoints were deleted): starting
            again would replace results, so the user decides.
    """
    if run_dir.checkpoints.exists() and not run_dir.checkpoints.is_dir():
        raise RunDirError(f"{run_dir.checkpoints} is a file, not the run's checkpoints folder; move it away")
    if checkpoint.list_checkpoints(run_dir.checkpoints):
        return checkpoint.load_latest(run_dir.checkpoints, skeleton=ready.skeleton, config=config)
    if run_dir.archive_path.exists():
        raise CheckpointError(
            f"{run_dir.checkpoints}: no checkpoint to resume from, but the run has written its "
            f"{rundir.ARCHIVE} (were the checkpoints deleted?); to run it again from the start: "
            f"`divergent run --preset {run_dir.config_path} --out {run_dir.path} --overwrite`"
        )
    return None


def _run(config: RunConfig, run_dir: rundir.RunDir, ready, ckpt, reporter: Optional[Reporter]) -> RunResult:
    """The loop itself, from `ckpt` (None: from generation 0)."""
    reporter = reporter or Reporter()
    algo = ready.algo
    init_key, loop_key = jax.random.split(jax.random.PRNGKey(config.seed))
    resumed_from = None
    if ckpt is not None:
        state, loop_key = ckpt.state, jnp.asarray(ckpt.rng_key)
        generation, evaluations, wall_before = ckpt.generation, ckpt.evaluations, ckpt.wall_time
        invalid = int(ckpt.extra.get(INVALID_KEY, 0))
        resumed_from = ckpt.path
        run_dir.truncate_metrics(generation)
    else:
        run_dir.checkpoints.mkdir(exist_ok=True)  # a run killed while its directory was made
        run_dir.truncate_metrics(0)  # rows a killed first session logged are logged again
        state = _jitted_init(algo)(config.algo, ready.pipeline, init_key, budget=config.budget, **ready.init_inputs)
        generation, evaluations, wall_before, invalid = 0, int(state.evaluations), 0.0, 0
    state = step_ready(state)
    reporter.start(StartInfo(config, run_dir.path, _device_names(), generation, evaluations, resumed_from))

    step = _jitted_step(algo)
    per_step = config.evaluations_per_step
    began = time.perf_counter()
    last_log = (began, evaluations)
    row: dict = {}
    status = "complete"

    def wall_time() -> float:
        return wall_before + time.perf_counter() - began

    with _sigint_guard(lambda: reporter.note("Ctrl-C: stopping after this generation (Ctrl-C again aborts)")) as stop:
        while evaluations < config.budget:
            state, metrics = step(state, jax.random.fold_in(loop_key, generation))
            generation += 1
            evaluations += per_step  # host-side estimate, exact after every sync
            interrupted = stop.requested
            log = generation % config.log_every == 0
            save = generation % config.checkpoint_every == 0
            if log or save or interrupted or evaluations >= config.budget:
                evaluations = int(state.evaluations)  # waits for the device
                invalid = int(metrics[INVALID_KEY]) if INVALID_KEY in metrics else invalid
            last = evaluations >= config.budget
            if log or last or interrupted:
                row = _row(generation, evaluations, wall_time(), last_log, metrics)
                last_log = (time.perf_counter(), evaluations)
                run_dir.append_metrics(row)
                reporter.update(row)
            if save or last or interrupted:
                state = step_ready(
                    _save(run_dir, config, state, generation, evaluations, wall_time(), loop_key, invalid)
                )
            if interrupted:
                status = "interrupted"
                break

    evaluations = int(state.evaluations)
    if algo.extras is not None:
        # Before archive.npz, which marks a stopped run: a run with an archive has its extras.
        run_dir.write_extras(_extras_arrays(algo, state))
    representation = learned.representation_arrays(state, config.representation)
    if representation:  # also before archive.npz; none for the ground truth
        run_dir.write_representation(representation)
    archive = _archive_arrays(algo, state)
    run_dir.write_archive(archive)
    result = RunResult(
        status=status,
        run_dir=run_dir.path,
        generation=generation,
        evaluations=evaluations,
        wall_time=wall_time(),
        invalid=invalid,
        archive_size=int(len(archive["reward"])),
        last_metrics=row,
    )
    reporter.finish(result)
    return result


# One jitted init and step per algorithm: configs and pipelines are static
# arguments (hashable, compared by value), so runs with equal settings in one
# process (sweeps, tests) reuse the compiled programs.
@functools.lru_cache(maxsize=None)
def _jitted_init(algo) -> Callable:
    return jax.jit(algo.init, static_argnums=(0, 1), static_argnames=("budget",))


@functools.lru_cache(maxsize=None)
def _jitted_step(algo) -> Callable:
    # The state is donated: archives and emitter pools are updated in place
    # instead of copied every generation (SERENE on curling: 111 -> 60 ms a
    # generation; benchmarks/README.md). The loop never reads a state again
    # once it has been stepped.
    return jax.jit(algo.step, donate_argnums=0)


def step_ready(state: Any) -> Any:
    """A copy of `state` as the jitted step gives its own back: no two leaves
    share a device buffer, none is weakly typed, and with several devices every
    leaf is on their mesh. Otherwise the step compiles its whole program again
    at its second call or after the first checkpoint.

    `init` or a rebuilt checkpoint may hand the same buffer to two leaves
    (e.g. one zeros array for two counters); XLA refuses to donate a buffer
    twice, and with arrays on several host devices jax 0.9.2 crashed instead.
    A checkpoint keeps dtypes, not weak types (evosax's states hold weakly
    typed leaves made from Python numbers). A step whose evaluations are
    sharded returns mesh-replicated leaves, while an init that evaluates
    nothing (random search, CMA emitters' pools) returns them on one device.
    """
    devices = jax.devices()
    whole = NamedSharding(batch_sharding(devices).mesh, PartitionSpec()) if len(devices) > 1 else None

    def ready(leaf: Any) -> Any:
        if whole is not None and not isinstance(getattr(leaf, "sharding", None), NamedSharding):
            leaf = jax.device_put(leaf, whole)
        return jnp.array(leaf, dtype=leaf.dtype, copy=True) if leaf.weak_type else jnp.array(leaf, copy=True)

    return jax.tree.map(ready, state)


def _save(run_dir, config, state, generation, evaluations, wall_time, loop_key, invalid) -> Any:
    """Writes a checkpoint; returns the state rebuilt from what was written."""
    _, host, specs = checkpoint.save(
        run_dir.checkpoints,
        state,
        config=config,
        generation=generation,
        evaluations=evaluations,
        wall_time=wall_time,
        rng_key=loop_key,
        extra={INVALID_KEY: invalid},
        keep=config.keep_checkpoints,
    )
    return checkpoint.rebuild(jax.tree.structure(state), host, specs)


def _row(generation, evaluations, wall_time, last_log, metrics) -> dict:
    """One metrics.csv row: the loop's counters, then the algorithm's metrics
    by name (vector metrics get one column per entry: name_0, name_1, ...)."""
    then, evaluations_then = last_log
    elapsed = time.perf_counter() - then
    row = {
        "generation": generation,
        "evaluations": evaluations,
        "wall_time": round(wall_time, 3),
        "evaluations_per_s": round((evaluations - evaluations_then) / elapsed, 1) if elapsed > 0 else 0.0,
    }
    for name, value in sorted(jax.device_get(metrics).items()):
        if name in row:  # the algorithm's own counters: the loop's are the reference
            continue
        value = np.asarray(value)
        flat = value.reshape(-1)
        names = [name] if value.ndim == 0 else [f"{name}_{i}" for i in range(flat.size)]
        for column, v in zip(names, flat):
            row[column] = v.item() if np.issubdtype(v.dtype, np.floating) else int(v)
    return row


def _archive_arrays(algo, state) -> dict[str, np.ndarray]:
    """The policies the algorithm keeps, as NumPy arrays of the rows in use.

    Every field of the snapshot is written (genome, descriptor, gt_descriptor,
    reward, reward_area, and any an algorithm adds); arrays with one row per
    slot keep only the rows its mask marks, other arrays are kept whole.
    """
    snapshot = jax.device_get(algo.archive(state))
    mask = np.asarray(snapshot.mask, bool)
    out = {}
    for field in dataclasses.fields(snapshot):
        value = getattr(snapshot, field.name)
        if field.name == "mask" or value is None:
            continue
        value = np.asarray(value)
        out[field.name] = value[mask] if value.ndim and value.shape[0] == mask.shape[0] else value
    return out


def _extras_arrays(algo, state) -> dict[str, np.ndarray]:
    """The algorithm's extras ("<group>/<column>" -> array) as NumPy arrays."""
    return {str(name): np.asarray(jax.device_get(value)) for name, value in algo.extras(state).items()}


def _device_names() -> list[str]:
    return [f"{d.platform}:{d.id}" for d in jax.devices()]


class _Stop:
    requested = False


class _Repeats:
    """Whether later SIGINTs are ignored (`sigint_repeats_ignored`), and whether one came."""

    ignored = False
    seen = False


@contextlib.contextmanager
def sigint_repeats_ignored() -> Iterator[None]:
    """SIGINT as a Ray task must take it: the first one stops the run (a
    KeyboardInterrupt before its loop began, a checkpoint after the current
    generation within it), later ones are ignored. Ray's cancel is a SIGINT
    that Ray sends again every `cancellation_retry_ms` (2 s) until the task
    ends, which without this aborts a run still writing its checkpoint on a
    loaded machine; a user's second Ctrl-C reaches a Ray task as a kill
    (`ray.cancel(force=True)`) instead. Main thread only, like all handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if not _Repeats.seen:
            _Repeats.seen = True
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    _Repeats.ignored, _Repeats.seen = True, False
    try:
        yield
    finally:
        _Repeats.ignored = False
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _sigint_guard(on_first: Callable[[], None]) -> Iterator[_Stop]:
    """Turns the first SIGINT into a stop request (second one: KeyboardInterrupt,
    or nothing within `sigint_repeats_ignored`).

    Only the main thread can install signal handlers; elsewhere Ctrl-C keeps
    its default behaviour.
    """
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if _Repeats.ignored:
            if _Repeats.seen:
                return
            _Repeats.seen = True
        elif stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        on_first()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = ["Reporter", "RunResult", "StartInfo", "prepare_resume", "resume", "run",
           "sigint_repeats_ignored", "start", "step_ready"]
