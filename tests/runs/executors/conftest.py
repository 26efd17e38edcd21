"""Shared by the executor tests: a toy sweep (two algorithms, one task, two
seeds) and its reference run by the local executor."""
from __future__ import annotations

from pathlib import Path

from runs import sweep
from tests.runs.conftest import TOY_SETS

ROOT = Path(__file__).resolve().parents[3]
ALGOS, SEEDS = ("toy", "toy_plain"), (0, 1)
NAMES = ["toy-toy_point-seed0", "toy_plain-toy_point-seed0", "toy-toy_point-seed1", "toy_plain-toy_point-seed1"]


def toy_spec(out, budget: int) -> sweep.SweepSpec:
    return sweep.SweepSpec(ALGOS, ("toy_point",), SEEDS, budget, TOY_SETS, str(out))


def local_reference(out: Path, budget: int) -> Path:
    """The toy sweep run by the local executor: what every executor must produce."""
    result = sweep.run_sweep(toy_spec(out, budget))
    assert result.count(sweep.DONE) == 4
    return out


def logged(run_dir: Path) -> int:
    """Metrics rows a run has logged so far."""
    try:
        return max(0, len((run_dir / "metrics.csv").read_text().splitlines()) - 1)
    except OSError:
        return 0
