"""Tests of runs/inspect.py and runs/summary.py on synthetic run directories."""
import types

import matplotlib.image as mpimg
import numpy as np
import pytest
from rich.console import Console

from runs import inspect as run_inspect
from runs import summary as run_summary
from runs.errors import RunDirError
from tests.runs.run_fixtures import tiny_spec, write_run

ALL_PLOTS = ["archive_reward.png", "archive_generation.png", "coverage.png", "rewards.png",
             "coverage_cells.png", "grid_heatmap.png"]


def assert_real_image(path, min_colours=6):
    image = mpimg.imread(path)[..., :3]
    assert image.shape[0] >= 400 and image.shape[1] >= 600, image.shape
    q = (image * 20).round().astype(np.int64)  # 21 levels per channel: ignores anti-aliasing noise
    colours = len(np.unique(q[..., 0] * 441 + q[..., 1] * 21 + q[..., 2]))
    assert colours >= min_colours, f"{path.name} looks blank ({colours} colours)"


def render(table) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(table)
    return console.export_text()


def test_inspect_run_writes_every_plot_and_summarises(tmp_path):
    run = tmp_path / "run"
    expected = write_run(run, generation=True, grid=True)
    # No replay: the synthetic genomes belong to no task.
    summary = run_inspect.inspect_run(run, spec=tiny_spec(), start=(5.0, 8.0), replay=False)

    assert [p.name for p in summary.plots] == ALL_PLOTS
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(ALL_PLOTS)
    for path in summary.plots:
        assert path.parent == run / "plots"
        assert_real_image(path)

    assert (summary.algorithm, summary.task, summary.seed, summary.budget) == ("ns", "tiny", 7, 1000)
    assert summary.evaluations == expected["evaluations"]
    assert summary.generations == expected["generations"]
    assert summary.wall_time == pytest.approx(10.0)
    assert summary.coverage == pytest.approx(expected["coverage"])
    assert summary.explored_coverage == pytest.approx(expected["explored_coverage"])
    assert summary.archive_size == expected["n"]
    assert summary.areas_found == 2
    assert [a.found for a in summary.areas] == [True, True, False]
    assert tuple(a.first_found for a in summary.areas) == expected["first_found"]
    for area, best in zip(summary.areas, expected["max_reward"]):
        assert area.max_reward == (pytest.approx(best) if best is not None else None)
    assert tuple(a.evaluations for a in summary.areas) == expected["area_evaluations"]
    assert tuple(a.in_archive for a in summary.areas) == expected["in_archive"]
    assert summary.areas[1].center == (8.0, 2.0) and summary.areas[1].radius == 1.5
    assert summary.notes == ()

    text = render(run_inspect.format_summary(summary))
    assert "ns on tiny, seed 7" in text
    assert "1,000 of 1,000" in text
    assert "archive 1.2%, all evaluated 25.0%" in text
    assert "found after 300 evaluations, max reward 0.950" in text
    assert "not found" in text
    assert f"6 plots in {run / 'plots'}" in text


def test_rewards_curve_starts_when_the_area_is_found(tmp_path):
    run = tmp_path / "run"
    write_run(run)
    config, metrics, _ = run_inspect.read_run(run)
    fig = dict(run_inspect.run_figures(tiny_spec(), config, metrics, {"gt_descriptor": np.zeros((0, 2)),
                                                                      "reward": np.zeros(0)}))["rewards.png"]
    lines = {line.get_label(): line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")}
    assert sorted(lines) == ["area 0", "area 1", "area 2 (not found)"]
    assert not np.isfinite(lines["area 2 (not found)"].get_ydata()).any()  # a gap, not a line at 0
    x, y = lines["area 0"].get_xdata(), lines["area 0"].get_ydata()
    assert x[np.isfinite(y)].min() == 300
    assert lines["area 0"].get_drawstyle() == "steps-post"


def plot_names(run, spec):
    config, metrics, archive = run_inspect.read_run(run)
    return [name for name, _ in run_inspect.run_figures(spec, config, metrics, archive)]


def test_a_run_without_generations_or_grid_gets_the_four_base_plots(tmp_path):
    run = tmp_path / "run"
    write_run(run, generation=False)
    assert plot_names(run, tiny_spec()) == ["archive_reward.png", "coverage.png", "rewards.png", "coverage_cells.png"]
    summary = run_inspect.inspect_run(run, spec=tiny_spec(), draw=False)
    assert summary.plots == () and not (run / "plots").exists()
    assert summary.evaluations == 1000


def test_a_map_elites_config_marks_a_grid_archive(tmp_path):
    run = tmp_path / "run"
    write_run(run, generation=False, config={"algorithm": "me", "algo": {"archive": "grid", "cells_per_dim": 10}})
    config, _, archive = run_inspect.read_run(run)
    assert run_summary.grid_shape_of(config, archive, tiny_spec()) == (10, 10)
    values, (low, high), same = run_summary.grid_values(tiny_spec(), archive, (10, 10))
    assert same and tuple(low) == (0.0, 0.0) and tuple(high) == (1.0, 1.0)
    assert np.isfinite(values).sum() == len(np.unique(np.floor(archive["gt_descriptor"] * 10), axis=0))
    # area 0 holds rewards 0.1..0.9 around world (2, 8): cell (2, 8) or a neighbour holds the 0.9
    assert np.nanmax(values[1:3, 7:9]) == pytest.approx(0.9)
    assert plot_names(run, tiny_spec())[-1] == "grid_heatmap.png"


@pytest.mark.parametrize(
    "missing, message",
    [
        ("config.yaml", "no config.yaml in {dir}: not a run directory (a run writes its config before anything else)"),
        ("metrics.csv", "no metrics.csv in {dir}: the run has not logged a generation yet; `divergent resume {dir}`"),
        ("archive.npz", "no archive.npz in {dir}: the run has not finished; `divergent resume {dir}`"),
    ],
)
def test_missing_files_name_the_file_and_the_directory(tmp_path, missing, message):
    run = tmp_path / "run"
    write_run(run)
    (run / missing).unlink()
    with pytest.raises(RunDirError) as error:
        run_inspect.inspect_run(run, spec=tiny_spec())
    assert str(error.value) == message.format(dir=run)
    assert not (run / "plots").exists()


def test_unreadable_inputs_are_explained(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        run_inspect.read_run(tmp_path / "nowhere")
    run = tmp_path / "run"
    write_run(run)
    (run / "archive.npz").write_bytes(b"not a zip")
    with pytest.raises(RunDirError, match="archive.npz in .* cannot be read"):
        run_inspect.read_run(run)
    np.savez(run / "archive.npz", genome=np.zeros((2, 3)))
    with pytest.raises(RunDirError, match="has no 'gt_descriptor' array"):
        run_inspect.read_run(run)
    (run / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RunDirError, match="must be a YAML mapping"):
        run_inspect.read_run(run)


def test_a_run_with_no_metrics_rows_still_gets_its_maps(tmp_path):
    run = tmp_path / "run"
    write_run(run, generation=False)
    (run / "metrics.csv").write_text("")
    assert plot_names(run, tiny_spec()) == ["archive_reward.png", "coverage_cells.png"]
    summary = run_inspect.inspect_run(run, spec=tiny_spec(), draw=False)
    assert summary.evaluations == 0 and summary.generations == 0
    assert summary.coverage == pytest.approx(20 / 2500 + 0.0, abs=0.004)  # from the archive itself
    assert summary.areas[0].found and summary.areas[0].first_found is None
    assert "metrics.csv has no rows yet" in summary.notes
    assert "found, max reward 0.900" in render(run_inspect.format_summary(summary))


def test_the_task_is_built_from_the_config(tmp_path, monkeypatch):
    import tasks

    calls = []

    def fake_make(name, **overrides):
        calls.append((name, overrides))
        return types.SimpleNamespace(spec=tiny_spec(), init_physics=lambda key: np.array([5.0, 8.0]),
                                     position=lambda physics: physics)

    monkeypatch.setattr(tasks, "make", fake_make)
    config = {"task": "tiny", "task_config": {"walls": [[0, 1, 2, 3]], "episode_length": 5}}
    spec, start, problem = run_summary.spec_from_config(config)
    assert problem is None and spec == tiny_spec() and start == (5.0, 8.0)
    assert calls == [("tiny", {"walls": ((0, 1, 2, 3),), "episode_length": 5})]  # YAML lists -> tuples
    run_summary.spec_from_config({"task": {"name": "tiny", "episode_length": 9}})
    assert calls[-1] == ("tiny", {"episode_length": 9})

    run = tmp_path / "run"
    write_run(run, generation=False)
    summary = run_inspect.inspect_run(run, draw=False)
    assert summary.notes == () and summary.areas[2].center == (5.0, 1.0)


def test_a_task_that_cannot_be_built_falls_back_to_bare_maps(tmp_path, monkeypatch):
    import tasks

    def broken_make(name, **overrides):
        raise ValueError(f"unknown task {name!r}")

    monkeypatch.setattr(tasks, "make", broken_make)
    run = tmp_path / "run"
    write_run(run, generation=False)
    summary = run_inspect.inspect_run(run)
    assert len(summary.notes) == 1 and "cannot build task 'tiny'" in summary.notes[0]
    assert summary.areas_found == 2 and summary.areas[0].center is None  # areas known from metrics only
    for path in summary.plots:
        assert_real_image(path, min_colours=4)
    assert "note" in render(run_inspect.format_summary(summary))


BOMB_YAML = "\n".join(
    ["bomb0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    + [f"bomb{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
)


@pytest.mark.parametrize("where", ["algorithm: *a8", "task: *a8", "task_config: {walls: *a8}", "seed: *a8"])
def test_an_alias_bomb_in_config_yaml_is_neither_expanded_nor_printed(tmp_path, where):
    import time

    write_run(tmp_path / "run")
    base = (tmp_path / "run" / "config.yaml").read_text()
    keys = where.split(":")[0]
    kept = "\n".join(line for line in base.splitlines() if not line.startswith(keys + ":"))
    (tmp_path / "run" / "config.yaml").write_text(f"{BOMB_YAML}\n{kept}\n{where}\n")
    began = time.perf_counter()
    summary = run_inspect.inspect_run(tmp_path / "run", spec=None if "task" in where else tiny_spec(), draw=False)
    text = render(run_inspect.format_summary(summary))
    assert time.perf_counter() - began < 30
    assert len(text) < 5000
