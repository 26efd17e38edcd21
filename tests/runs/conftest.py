"""Fixtures of the run tests: the toy task and algorithm (tests/runs/toy.py)
and small configs that run in milliseconds once compiled.

Every loop test uses the same toy settings, so the step compiles once per
session (and comes from the persistent compile cache afterwards).
"""
from __future__ import annotations

import pytest

from tests.runs import toy  # noqa: F401  (registers "toy" and "toy_point")

# batch 8 splits evenly over the 2 host devices, so the toy step is sharded
# and resume determinism is tested across devices too.
TOY_SETS = ("algo.poison=true",)


@pytest.fixture
def toy_config(tmp_path):
    """Factory: a checked toy RunConfig writing into tmp_path/<name>."""
    from runs.config import build

    def make(name: str = "run", *, budget: int = 200, sets=(), **flags):
        return build(
            "toy", "toy_point", budget=budget, out=str(tmp_path / name),
            sets=(*TOY_SETS, *sets), **flags,
        )

    return make
