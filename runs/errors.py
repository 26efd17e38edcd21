"""The errors the run machinery raises for the user to fix.

The command line prints any of them as one red line and exits with status 2;
Python callers catch `RunError` for all of them.
"""
from __future__ import annotations


class RunError(Exception):
    """Base class: a problem the user can fix, explained in the message."""


class ConfigError(RunError, ValueError):
    """A run configuration is wrong: unknown key, wrong type, impossible value.

    The message names the key (e.g. ``algo.population_size``) and what is allowed.
    """


class CheckpointError(RunError):
    """A checkpoint is missing, corrupt or written for another run/stack.

    The message names the file and what is wrong with it.
    """


class RunDirError(RunError):
    """A run directory cannot be used as asked (holds another run, is a file...)."""
