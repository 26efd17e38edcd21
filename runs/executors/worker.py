"""A worker process of the processes executor (`runs.executors.processes`).

    python -m runs.executors.worker [--cpus 0,1] [--jax JSON]

Reads jobs from stdin, one JSON line each (``{"job": base64 pickle of a
runs.executors.Job}``), runs them one after the other with
`runs.executors.execute`, and writes its events to stdout, one JSON line
each: ready (after importing JAX), started, progress (a metrics row), note,
finished (the outcome). Anything else printed goes to stderr, which the
driver keeps in OUT/logs/worker-N.log. Ends at the end of stdin.

The driver starts it in a session of its own, so a Ctrl-C at the terminal
reaches the driver only, which forwards one SIGINT: the running run stops
after its generation with a checkpoint (`runs.loop`), a second one aborts it.
XLA_FLAGS and CUDA_VISIBLE_DEVICES come from the driver's device split;
``--cpus`` pins the process to its cores; ``--jax`` holds the driver's
persistent compile cache settings, so every worker shares its cache.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import pickle
import signal
import sys
from typing import Any, Callable, TextIO

EXIT_INTERRUPTED = 130


class _Channel:
    """Writes events as JSON lines on the worker's own copy of stdout."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def send(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


class _Events:
    """`runs.executors.Events` that travel to the driver."""

    def __init__(self, send: Callable[..., None]):
        self.send = send

    def started(self, job) -> None:
        self.send("started", number=job.number)

    def progress(self, job, row: dict) -> None:
        self.send("progress", number=job.number, row=row)

    def note(self, job, message: str) -> None:
        self.send("note", number=job.number, message=message)

    def finished(self, job, outcome) -> None:
        import dataclasses

        self.send("finished", number=job.number, outcome=dataclasses.asdict(outcome))


def configure_jax(settings: dict) -> None:
    """Applies the driver's compile cache settings (jax.config names -> values);
    with none, the command line's default cache (`runs.cli.enable_compile_cache`)."""
    import jax

    if settings:
        for name, value in settings.items():
            jax.config.update(name, value)
    else:
        from runs.cli import enable_compile_cache

        enable_compile_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runs.executors.worker")
    parser.add_argument("--cpus", default="", help="cores to run on, e.g. 0,1 (default: all)")
    parser.add_argument("--jax", default="{}", help="jax.config settings as JSON")
    args = parser.parse_args(argv)
    # Events go to the original stdout; anything printed goes to stderr (the log).
    channel = _Channel(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    # Started from a background shell, SIGINT would be ignored (and stay so): the driver's stop must work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if args.cpus:
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
        import jax

        configure_jax(json.loads(args.jax))
        from runs import executors, loop  # noqa: F401  (imported now: the first job starts at once)

        channel.send("ready", pid=os.getpid(), devices=[f"{d.platform}:{d.id}" for d in jax.devices()])
        events = _Events(channel.send)
        for line in sys.stdin:
            message = json.loads(line)
            try:
                job = pickle.loads(base64.b64decode(message["job"]))
            except Exception as error:  # noqa: BLE001 - e.g. an algorithm defined in a script's __main__
                channel.send("started", number=message["number"])
                channel.send("finished", number=message["number"], outcome=dataclasses.asdict(executors.Outcome(
                    executors.FAILED, 0.0, None, f"a worker process cannot load this run ({type(error).__name__}: "
                    f"{error}); the algorithms and tasks of a sweep must be importable modules")))
                continue
            events.started(job)
            outcome = executors.execute(job, events)
            # A Ctrl-C now must not lose the outcome of a run that ended: it is delivered after the send.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            events.finished(job, outcome)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    except KeyboardInterrupt:  # Ctrl-C while idle or importing: nothing to save
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
