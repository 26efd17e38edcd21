"""extras.npz end to end (runs/loop.py, runs/load.py, runs/inspect.py,
runs/extras.py) and the run budget that an algorithm's `budget` field follows
(runs/config.py), on the toy algorithms of tests/runs/toy.py."""
from __future__ import annotations

import numpy as np
import pytest

import runs
from runs import config as C
from runs import extras as run_extras
from runs import inspect as run_inspect
from runs import loop, rundir
from runs.errors import RunDirError
from tests.runs import toy


def test_a_run_with_extras_writes_and_loads_them(toy_config):
    config = toy_config(budget=64)
    result = loop.start(config)
    run = runs.load(config.out)
    assert (run.path / rundir.EXTRAS).is_file()
    assert set(run.extras) == {"reward_archive", "emitters"}
    rewarded = run.extras["reward_archive"]
    assert len(rewarded["reward"]) == int(np.sum(run.archive["reward"] > 0))
    assert np.all(rewarded["reward"] > 0)
    emitters = run.extras["emitters"]
    assert set(emitters) == {"ident", "area", "created", "ended", "evaluations", "steps", "improvement",
                             "best_reward", "outcome", "ancestor_x", "ancestor_y"}
    assert len(emitters["outcome"]) == min(toy.EMITTERS, result.archive_size)


def test_a_run_without_extras_writes_no_file_and_no_extra_plots(tmp_path):
    config = C.build(toy.PLAIN, toy.TASK, budget=32, out=str(tmp_path / "plain"), sets=["algo.poison=true"])
    loop.start(config)
    run = runs.load(config.out)
    assert run.extras == {} and not (run.path / rundir.EXTRAS).exists()
    summary = run_inspect.inspect_run(config.out)
    names = {p.name for p in summary.plots}
    assert "reward_archive.png" not in names and "emitters.png" not in names
    assert summary.emitters == () and summary.reward_archive_size is None


def test_inspect_draws_the_reward_archive_and_the_emitter_history(toy_config):
    from rich.console import Console

    config = toy_config(budget=160)
    loop.start(config)
    summary = run_inspect.inspect_run(config.out)
    names = {p.name for p in summary.plots}
    assert {"reward_archive.png", "emitters.png", "exploitation.png"} <= names
    for path in summary.plots:
        assert path.stat().st_size > 10_000, path  # a real figure, not an empty canvas
    run = runs.load(config.out)
    assert summary.reward_archive_size == len(run.extras["reward_archive"]["reward"])
    total = summary.emitters[-1]
    outcome = run.extras["emitters"]["outcome"]
    assert total.area is None and total.created == len(outcome)
    assert (total.discarded, total.stagnated, total.running) == tuple(
        int(np.sum(outcome == code)) for code in (run_extras.DISCARDED, run_extras.STAGNATED, run_extras.RUNNING))
    assert total.promoted == total.stagnated + total.running
    # the toy logs SERENE's budget split: exploitation of area 0 is half of it
    assert total.evaluations == int(run.metrics["exploit_evaluations"].iloc[-1])
    assert summary.emitters[0].evaluations == int(run.metrics["exploit_area0_evaluations"].iloc[-1])
    console = Console(width=140, record=True)
    console.print(run_inspect.format_summary(summary))
    text = console.export_text()
    assert "reward archive" in text and "promoted" in text and "area 0" in text
    # Exploitation budget against reward, per area: a plot and a table sampled over the run.
    assert "exploitation.png" in names
    last = summary.payoff[-1]
    assert last.area == 0 and last.evaluations == int(run.metrics["evaluations"].iloc[-1])
    assert last.exploit_evaluations == int(run.metrics["exploit_area0_evaluations"].iloc[-1])
    assert last.emitters_best == pytest.approx(float(run.metrics["exploit_area0_best_reward"].iloc[-1]))
    assert "exploitation budget against reward" in text and "exploration" in text and "lead" in text


def test_budget_split_separates_exploration_and_each_area(toy_config):
    config = toy_config(budget=96)
    loop.start(config)
    run = runs.load(config.out)
    split = run_extras.budget_split(run.metrics, n_areas=1)
    assert list(split.columns) == ["evaluations", "exploration", "area 0", "no area"]
    np.testing.assert_array_equal(split["exploration"], run.metrics["explore_evaluations"])
    np.testing.assert_array_equal(split["area 0"] + split["no area"], run.metrics["exploit_evaluations"])


def test_an_unreadable_extras_file_is_explained(toy_config):
    config = toy_config(budget=32)
    loop.start(config)
    (runs.load(config.out).path / rundir.EXTRAS).write_bytes(b"not a zip")
    with pytest.raises(RunDirError, match="extras.npz .*cannot be read.*divergent resume"):
        runs.load(config.out)


def test_the_run_hands_its_budget_to_the_algorithm_also_when_extended(tmp_path):
    out = str(tmp_path / "b")
    config = C.build(toy.BUDGETED, toy.TASK, budget=32, out=out, sets=["checkpoint_every=1"])
    loop.start(config)
    assert runs.load(out).metrics["planned_budget"].tolist() == [32] * 3  # init spent 8
    assert config.replace(budget=64).identity() == config.identity()  # extending is still a resume
    loop.resume(out, budget=64)  # `resume --budget`: the algorithm plans with the new total
    assert runs.load(out).metrics["planned_budget"].tolist() == [32] * 3 + [64] * 4


def test_exploitation_payoff_per_area_over_time():
    import pandas as pd

    metrics = pd.DataFrame({
        "evaluations": [100, 200, 300, 400],
        "exploit_area0_evaluations": [0, 50, 120, 200],
        "exploit_area0_best_reward": [0.0, 0.5, 0.9, 0.99],
        "explore_area0_best_reward": [0.4, 0.6, 0.6, 0.7],
        "explore_area1_best_reward": [0.0, 0.0, 0.3, 0.3],
        "exploit_area1_best_reward": [0.0, 0.0, 0.0, 0.0],
    })
    payoff = run_extras.exploitation_payoff(metrics, n_areas=2)
    area0 = payoff[payoff["area"] == 0]
    assert np.isnan(area0["emitters_best"].iloc[0])  # 0: not reached yet
    np.testing.assert_array_equal(area0["exploit_evaluations"], [0, 50, 120, 200])
    rows = run_extras.payoff_rows(payoff)
    assert [(r.area, r.evaluations) for r in rows] == [(0, 100), (0, 200), (0, 300), (0, 400), (1, 100), (1, 200),
                                                        (1, 300), (1, 400)]
    end0 = rows[3]
    assert (end0.exploit_evaluations, end0.emitters_best, end0.explore_best) == (200, 0.99, 0.7)
    assert end0.lead == pytest.approx(0.29)
    assert rows[4].lead is None and rows[7].emitters_best is None and rows[7].explore_best == 0.3
    # A run that logged no per-phase rewards (not SERENE, or older) has none.
    assert run_extras.exploitation_payoff(metrics[["evaluations"]], n_areas=2) is None
