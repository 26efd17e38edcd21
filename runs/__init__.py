"""Runs: configs and presets, the run loop, checkpoints, outputs and the
command line (`divergent`). The only package that reads/writes files or
talks to the user.

    import runs
    run = runs.load("runs_out/ns-hardmaze-seed0")   # .config, .metrics, .archive
"""
from runs.load import Run, load

__all__ = ["Run", "load"]
