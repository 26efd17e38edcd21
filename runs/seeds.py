"""Seeds in one program: runs that differ only by their seed, vmapped
(`divergent sweep ... --vmap-seeds`).

    states = vmap(init)(init_keys)                     # [S, ...] every leaf, one jit
    for generation g = 0, 1, ...:
        states, metrics = vmap(step)(states, fold_in(loop_keys, g))   # one jit, donated
        per seed s: its metrics row, its checkpoint, its archive, as `runs.loop` writes them

A group of S runs (same algorithm, task, representation, settings and
budget; seeds differ) runs as one jitted program whose state pytrees carry a
leading seed axis. Seed s uses the keys a separate run of seed s uses
(``split(PRNGKey(seed))``, generation g's key ``fold_in(loop_key, g)``) and
follows the loop's schedule exactly (the same generations logged,
checkpointed and synchronised), so each run directory holds what the
separate run writes: config.yaml, metrics.csv, checkpoints/, archive.npz,
extras.npz, representation.npz. The lanes of a vmapped program are
independent, and for these algorithms XLA:CPU computes each lane with the
arithmetic of a separate run (observed, not promised by XLA), so the results
are bit-identical to separate runs (tested for NS, MAP-Elites and a toy
algorithm: archives, extras, checkpoints and their manifests, metrics); only
``wall_time`` and ``evaluations_per_s`` differ: ``wall_time`` is the
group's, since every seed ran all of it, and ``evaluations_per_s`` is each
seed's own rate.

Not bit-identical: an algorithm whose step branches on its data, because
vmap turns ``lax.cond`` with a per-seed predicate into a select that computes
both branches in one program, and XLA:CPU compiles the code inside it with
other fusions. SERENE (``lax.cond(exploring, explore, exploit)``): episode
rewards differ in the last bit (1 ulp, first on the toy task at generation 3,
in the novelty search phase), and the runs then drift apart as any two runs
whose floats differ do. Each is still a run of its seed, deterministic for
the same seeds batched together; resumed in another grouping (alone, or with
other seeds) it may drift in the same last-bit way.

Seeds that spend their budget at different generations (an algorithm whose
evaluations per generation vary with its data) end at their own generation:
their files are written then, and their lanes go on being computed (and
ignored) until the last seed ends.

Checkpoints are ordinary per-run checkpoints: a group can be resumed batched
(runs whose newest checkpoints are at the same generation step together;
other generations form their own groups), one run at a time (`divergent
resume DIR`), or batched after separate runs. A run with no checkpoint starts
from generation 0 with the fresh ones. A group of one runs through
`runs.loop` itself.

What cannot be vmapped is refused before anything runs (`check`), and the
sweep then runs nothing: the user asked for one program, so runs are never
quietly run one at a time instead. Refused: a step JAX cannot batch (a host
callback, an ordered effect), named with the algorithm and JAX's reason; a
learned representation (its refit schedule is a ``lax.cond``, which vmap
turns into a select: every seed would refit at every generation); a group
whose stacked state would not fit in memory, with its size. Other
data-dependent branches become selects too, so both branches are computed for
every seed: SERENE computes its emitter and its novelty search step at every
generation (not measured). The evaluator's sharding (``shard``)
works unchanged inside the vmapped step: each generation's rollouts of every
seed are split over the devices by the evaluator's ``shard_map``, vmapped.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from runs import checkpoint, learned, loop, preflight, rundir
from runs.config import RunConfig
from runs.errors import ConfigError

__all__ = ["Member", "SweepGroups", "check", "group_key", "groups", "resume_member", "run", "start_member"]


def group_key(config: RunConfig) -> str:
    """What runs batched together share: everything but the seed and the
    directory (the budget included, so every seed stops at the same time)."""
    identity = {k: v for k, v in config.identity().items() if k != "seed"}
    return json.dumps({**identity, "budget": config.budget}, sort_keys=True, default=str)


def groups(configs: Sequence[RunConfig]) -> list[list[int]]:
    """Indices of `configs` grouped by `group_key`, groups in the order of
    their first config, each group in the given order."""
    found: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        found.setdefault(group_key(config), []).append(i)
    return list(found.values())


def check(config: RunConfig, count: int, *, memory: Optional[int] = None) -> preflight.Ready:
    """`runs.preflight.check` of one config of a group of `count` seeds,
    then whether its step can be vmapped and the stacked state fits.

    Nothing is compiled: ``jax.eval_shape`` traces the vmapped step.

    Returns:
        The checks of `config` (shared by the group's configs).

    Raises:
        ConfigError: the config fails its checks, JAX cannot vmap the
            algorithm's step (the message names the algorithm and JAX's
            reason), or `count` states do not fit in memory.
    """
    ready = preflight.check(config, memory=memory)
    representation = ready.pipeline.representation
    if representation.refit_every > 0:
        raise ConfigError(
            f"--vmap-seeds: {config.algorithm!r} with the learned representation {config.representation!r} "
            "cannot run its seeds as one program: its refits are scheduled by a conditional (lax.cond), which "
            "vmap turns into a select that refits every seed at every generation; run learned representations "
            "without --vmap-seeds (one run at a time)"
        )
    stacked = jax.tree.map(lambda x: jax.ShapeDtypeStruct((count, *x.shape), x.dtype, weak_type=x.weak_type),
                           ready.skeleton)
    keys = jax.ShapeDtypeStruct((count, 2), jnp.uint32)
    try:
        jax.eval_shape(_batched_step(ready.algo), stacked, keys, jnp.int32(0))
    except Exception as error:  # noqa: BLE001 - any failure to batch means: not vmappable
        reason = " ".join(str(error).split())[:300]
        raise ConfigError(
            f"--vmap-seeds: the step of {config.algorithm!r} on {config.task!r} cannot be vmapped over seeds "
            f"({type(error).__name__}: {reason}); run this sweep without --vmap-seeds (one run at a time)"
        ) from None
    preflight.check_memory(config, ready.state_bytes * count,
                           preflight.device_memory() if memory is None else memory)
    return ready


@dataclasses.dataclass(frozen=True)
class Member:
    """One run of a batched group, ready to run.

    Attributes:
        config: its config (checked).
        run_dir: its directory (config.yaml written).
        ckpt: the checkpoint it continues from; None: generation 0.
    """

    config: RunConfig
    run_dir: rundir.RunDir
    ckpt: Optional[checkpoint.Checkpoint] = None

    @property
    def generation(self) -> int:
        return 0 if self.ckpt is None else self.ckpt.generation


def start_member(config: RunConfig, ready: preflight.Ready) -> Member:
    """A new run: creates its directory as `runs.loop.start` does.

    Raises:
        RunDirError: the directory refuses (see `runs.rundir.create`).
    """
    return Member(config, rundir.create(config.out, config))


def resume_member(path: str | Path, ready: preflight.Ready, *, budget: Optional[int] = None) -> Member:
    """An existing run, checked as `runs.loop.resume` checks it.

    Raises:
        RunError: as `runs.loop.resume`.
    """
    config, run_dir, _, ckpt = loop.prepare_resume(path, budget=budget, ready=ready)
    return Member(config, run_dir, ckpt)


def run(members: Sequence[Member], ready: preflight.Ready,
        reporter: Optional[loop.Reporter] = None) -> list[loop.RunResult]:
    """Runs the members (same `group_key`, same starting generation) as one
    vmapped program until each has spent its budget, or Ctrl-C.

    Args:
        members: the runs; at least one.
        ready: their checks (`check`).
        reporter: progress display: it is started with the first member, and
            shown the rows of the first member still running.

    Returns:
        Each member's `runs.loop.RunResult`, in order.

    Raises:
        ValueError: members of different groups or starting generations.
    """
    if not members:
        raise ValueError("no runs to batch")
    if len({group_key(m.config) for m in members}) > 1 or len({m.generation for m in members}) > 1:
        raise ValueError("runs batched together must differ only by seed and start at the same generation")
    return _Batch(members, ready, reporter or loop.Reporter()).run()


@dataclasses.dataclass
class _Lane:
    """The host-side counters of one seed, as `runs.loop` keeps them for one run."""

    member: Member
    loop_key: np.ndarray
    evaluations: int
    invalid: int
    wall_before: float
    last_log: tuple[float, int] = (0.0, 0)
    row: dict = dataclasses.field(default_factory=dict)
    result: Optional[loop.RunResult] = None


class _Batch:
    """The loop of `run` (one object: the lanes' counters change together)."""

    def __init__(self, members, ready, reporter):
        self.members, self.ready, self.reporter = list(members), ready, reporter
        self.algo = ready.algo
        self.config = members[0].config  # the group's settings (seeds aside)

    def run(self) -> list[loop.RunResult]:
        config, algo = self.config, self.algo
        generation = self.members[0].generation
        state, lanes = self._start()
        first = lanes[0].member
        self.reporter.start(loop.StartInfo(first.config, first.run_dir.path, loop._device_names(), generation,
                                           lanes[0].evaluations, None if first.ckpt is None else first.ckpt.path))
        if len(lanes) > 1:
            seeds = ", ".join(str(lane.member.config.seed) for lane in lanes)
            self.reporter.note(f"seeds {seeds} run as one program (--vmap-seeds); the bar follows the first "
                               "seed still running")
        step = _jitted_step(algo)
        loop_keys = jnp.asarray(np.stack([lane.loop_key for lane in lanes]))
        per_step = config.evaluations_per_step
        began = time.perf_counter()
        for lane in lanes:
            lane.last_log = (began, lane.evaluations)

        def wall_time(lane) -> float:
            return lane.wall_before + time.perf_counter() - began

        interrupted, shown = False, 0
        note = "Ctrl-C: stopping after this generation (Ctrl-C again aborts)"
        with loop._sigint_guard(lambda: self.reporter.note(note)) as stop:
            while any(lane.result is None for lane in lanes):
                state, metrics = step(state, loop_keys, np.int32(generation))
                generation += 1
                running = [i for i, lane in enumerate(lanes) if lane.result is None]
                for i in running:
                    lanes[i].evaluations += per_step  # host-side estimate, as the loop's
                interrupted = stop.requested
                log = generation % config.log_every == 0
                save = generation % config.checkpoint_every == 0
                # Each lane synchronises exactly when its separate run would (its
                # estimate then continues from the exact count, as the loop's does).
                synced = [i for i in running if log or save or interrupted or lanes[i].evaluations >= config.budget]
                host_metrics = None
                if synced:
                    exact = np.asarray(jax.device_get(state.evaluations))
                    host_metrics = jax.device_get(metrics)
                    for i in synced:
                        lanes[i].evaluations = int(exact[i])
                        if loop.INVALID_KEY in host_metrics:
                            lanes[i].invalid = int(host_metrics[loop.INVALID_KEY][i])
                ending = []
                for i in running:
                    lane = lanes[i]
                    last = lane.evaluations >= config.budget
                    if log or last or interrupted:
                        lane.row = loop._row(generation, lane.evaluations, wall_time(lane), lane.last_log,
                                             {k: v[i] for k, v in host_metrics.items()})
                        lane.last_log = (time.perf_counter(), lane.evaluations)
                        lane.member.run_dir.append_metrics(lane.row)
                        if i == running[0]:
                            self.reporter.update(lane.row)
                            shown = i
                    if last or interrupted:
                        ending.append(i)
                saving = running if (save or interrupted) else ending
                if saving:
                    state = self._save(state, lanes, saving, generation, wall_time)
                for i in ending:
                    lanes[i].result = self._finish(state, i, lanes[i], generation, wall_time(lanes[i]),
                                                   "interrupted" if interrupted else "complete")
                if interrupted:
                    break
        self.reporter.finish(lanes[shown].result)  # the run whose rows the bar showed last
        return [lane.result for lane in lanes]

    def _start(self):
        """The stacked state and every lane's counters (fresh or from checkpoints)."""
        lanes = []
        if self.members[0].ckpt is None:
            keys = [jax.random.split(jax.random.PRNGKey(m.config.seed)) for m in self.members]
            init_keys = jnp.stack([k[0] for k in keys])
            for member, key in zip(self.members, keys):
                member.run_dir.checkpoints.mkdir(exist_ok=True)  # a run killed while its directory was made
                member.run_dir.truncate_metrics(0)  # rows a killed first session logged are logged again
                lanes.append(_Lane(member, np.asarray(key[1]), 0, 0, 0.0))
            config = self.config
            state = _jitted_init(self.algo)(config.algo, self.ready.pipeline, init_keys, budget=config.budget)
            for lane, spent in zip(lanes, np.asarray(jax.device_get(state.evaluations))):
                lane.evaluations = int(spent)
            return loop.step_ready(state), lanes
        for member in self.members:
            ckpt = member.ckpt
            member.run_dir.truncate_metrics(ckpt.generation)
            lanes.append(_Lane(member, np.asarray(ckpt.rng_key), ckpt.evaluations,
                               int(ckpt.extra.get(loop.INVALID_KEY, 0)), ckpt.wall_time))
        return loop.step_ready(_stack([m.ckpt.state for m in self.members])), lanes

    def _save(self, state, lanes, saving, generation, wall_time):
        """Writes the checkpoints of lanes `saving`; when every lane is saved,
        the state continues from what was written (as the loop does)."""
        rebuilt = {}
        for i in saving:
            lane = lanes[i]
            rebuilt[i] = loop._save(lane.member.run_dir, lane.member.config, _lane(state, i), generation,
                                    lane.evaluations, wall_time(lane), lane.loop_key, lane.invalid)
        if len(rebuilt) == len(lanes):
            return loop.step_ready(_stack([rebuilt[i] for i in range(len(lanes))]))
        return state

    def _finish(self, state, i, lane, generation, wall_time, status) -> loop.RunResult:
        """Writes lane i's extras, representation and archive (as the loop
        does at its end) and returns its result."""
        own = _lane(state, i)
        run_dir, config = lane.member.run_dir, lane.member.config
        if self.algo.extras is not None:
            run_dir.write_extras(loop._extras_arrays(self.algo, own))
        representation = learned.representation_arrays(own, config.representation)
        if representation:
            run_dir.write_representation(representation)
        archive = loop._archive_arrays(self.algo, own)
        run_dir.write_archive(archive)
        return loop.RunResult(status=status, run_dir=run_dir.path, generation=generation,
                              evaluations=int(own.evaluations), wall_time=wall_time, invalid=lane.invalid,
                              archive_size=int(len(archive["reward"])), last_metrics=lane.row)


def _lane(state: Any, i: int) -> Any:
    """Seed i's state out of the stacked one (its own buffers)."""
    return jax.tree.map(lambda x: x[i], state)


def _stack(states: Sequence[Any]) -> Any:
    """One state with a leading seed axis from per-seed states."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def _batched_step(algo) -> Callable:
    def step(state, loop_keys, generation):
        keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(loop_keys, generation)
        return jax.vmap(algo.step)(state, keys)

    return step


# One compiled init and step per algorithm (and shapes), as `runs.loop` keeps them.
@functools.lru_cache(maxsize=None)
def _jitted_init(algo) -> Callable:
    def init(config, pipeline, keys, budget=None):
        return jax.vmap(lambda key: algo.init(config, pipeline, key, budget=budget))(keys)

    return jax.jit(init, static_argnums=(0, 1), static_argnames=("budget",))


@functools.lru_cache(maxsize=None)
def _jitted_step(algo) -> Callable:
    return jax.jit(_batched_step(algo), donate_argnums=0)


# -- the sweep's side (`runs.sweep.run_sweep(..., vmap_seeds=True)`) -----------


class SweepGroups:
    """A sweep's runs grouped by `group_key`, checked for vmapping.

    Args:
        runs: the sweep's planned runs (`runs.sweep.expand`).
        statuses: each run's status on disk (`runs.sweep.status_on_disk`):
            only groups with a run to do are checked and run.

    Raises:
        ConfigError: a group with a run to do cannot be vmapped (`check`);
            nothing has been written.
    """

    def __init__(self, runs: Sequence[Any], statuses: Sequence[str]):
        from runs.sweep import DONE

        self.runs = list(runs)
        self.groups = groups([r.config for r in self.runs])
        self.ready = {}
        for indices in self.groups:
            todo = [i for i in indices if statuses[i] != DONE]
            if todo:
                first = self.runs[todo[0]].config
                where = f"{first.algorithm} on {first.task}"
                try:
                    self.ready[indices[0]] = check(first, len(todo))
                except ConfigError as error:
                    raise ConfigError(str(error) if str(error).startswith("--vmap-seeds") else f"{where}: {error}") \
                        from None

    def run(self, rows: list, out: Path, notify: Callable[[str], None], reporter: Callable[[], Any]) -> bool:
        """Runs every group's unfinished runs, keeping index.csv up to date.

        Returns:
            True when Ctrl-C stopped the sweep.
        """
        from runs.sweep import DONE

        for indices in self.groups:
            todo = [i for i in indices if rows[i].status != DONE]
            if todo and self._run_group(todo, self.ready[indices[0]], rows, out, notify, reporter):
                return True
        return False

    def _run_group(self, todo, ready, rows, out, notify, reporter) -> bool:
        from runs.sweep import _counts, holds_run, write_index

        members, resumed = {}, set()
        for i in todo:  # each run's directory is checked on its own: a refusal fails that run only
            run = self.runs[i]
            try:
                if holds_run(run):
                    members[i] = resume_member(run.path, ready, budget=run.config.budget)
                    resumed.add(i)
                else:
                    members[i] = start_member(run.config, ready)
            except Exception as error:  # noqa: BLE001 - one failed run must not stop the others
                self._failed(rows, [i], error, 0.0)
                write_index(out, rows)
                notify(f"{self._what(rows, [i])}: FAILED: {rows[i].error}; {_counts(rows)}")
        by_generation: dict[int, list[int]] = {}
        for i, member in members.items():
            by_generation.setdefault(member.generation, []).append(i)
        for part in by_generation.values():
            if self._run_part(part, members, resumed, ready, rows, out, notify, reporter):
                return True
        return False

    def _run_part(self, part, members, resumed, ready, rows, out, notify, reporter) -> bool:
        """Runs members `part` (same start generation) as one program, or
        alone through `runs.loop` when there is one; True on Ctrl-C."""
        from runs.sweep import DONE, FAILED, PENDING, RUNNING, _counts, write_index

        what = self._what(rows, part)
        how = "resuming" if part[0] in resumed else "starting"
        notify(f"{what}{' (one program)' if len(part) > 1 else ''}: {how} -> "
               f"{', '.join(str(self.runs[i].path) for i in part)}")
        for i in part:
            rows[i].status, rows[i].error = RUNNING, ""
        write_index(out, rows)
        began = time.perf_counter()
        display = reporter()
        interrupted = False
        try:
            if len(part) == 1:
                member = members[part[0]]
                if member.ckpt is None and part[0] in resumed and display is not None:
                    display.note(f"{member.run_dir.path} has no checkpoint (the run stopped before its first "
                                 "one): starting it from generation 0 with its saved config")
                results = [loop._run(member.config, member.run_dir, ready, member.ckpt, display)]
            else:
                results = run([members[i] for i in part], ready, display)
        except KeyboardInterrupt:  # before the loop took over Ctrl-C (compiling), or a second Ctrl-C
            for i in part:
                rows[i].status, rows[i].error = PENDING, "interrupted (Ctrl-C)"
                rows[i].wall_time = time.perf_counter() - began
            interrupted = True
        except Exception as error:  # noqa: BLE001 - one failed group must not stop the others
            self._failed(rows, part, error, time.perf_counter() - began)
        else:
            for i, result in zip(part, results):
                rows[i].wall_time, rows[i].evaluations = result.wall_time, result.evaluations
                if result.status == "complete":
                    rows[i].status = DONE
                else:
                    rows[i].status = PENDING
                    rows[i].error = f"interrupted (Ctrl-C) at {result.evaluations:,} evaluations"
                    interrupted = True
        finally:
            close = getattr(display, "close", None)
            if close is not None:
                close()
        write_index(out, rows)
        for i in part:
            row = rows[i]
            outcome = {DONE: "done", FAILED: f"FAILED: {row.error}",
                       PENDING: "interrupted; it resumes on the next sweep"}[row.status]
            notify(f"{self._what(rows, [i])}: {outcome} ({row.wall_time:.1f} s); {_counts(rows)}")
        return interrupted

    def _what(self, rows, part) -> str:
        """"[1,3/8] ns on curling, seeds 0, 1": the runs' numbers and names."""
        from runs.sweep import GROUND_TRUTH

        config = self.runs[part[0]].config
        what = f"[{','.join(str(i + 1) for i in part)}/{len(rows)}] {config.algorithm} on {config.task}"
        if config.representation != GROUND_TRUTH:
            what += f" [{config.representation}]"
        seeds = ", ".join(str(self.runs[i].config.seed) for i in part)
        return f"{what}, seed{'s' if len(part) > 1 else ''} {seeds}"

    @staticmethod
    def _failed(rows, part, error, wall_time) -> None:
        from runs.errors import RunError
        from runs.sweep import FAILED
        from runs.typed import shorten

        message = str(error) if isinstance(error, RunError) else f"{type(error).__name__}: {error}"
        for i in part:
            rows[i].status, rows[i].error = FAILED, shorten(" ".join(message.split()))
            rows[i].wall_time = wall_time

