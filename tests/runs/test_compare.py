"""runs/compare.py and runs/compare_stats.py on synthetic run directories with
known metrics: table numbers, direction markers, the Mann-Whitney / Holm
numbers against scipy, plots, and the errors and warnings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from runs import cli, compare, compare_plots, compare_stats
from runs.errors import RunDirError
from tests.runs.run_fixtures import write_run

NS_COVERAGE = [0.50, 0.51, 0.52, 0.53, 0.54, 0.55]
RANDOM_COVERAGE = [0.10, 0.11, 0.12, 0.13, 0.14, 0.15]
SERENE_COVERAGE = [0.12, 0.30, 0.31, 0.32, 0.33, 0.34]
NS_FIRST = [100, 300, -1, 500, 200, 400]  # seed 2 never found area 0
RANDOM_FIRST = [-1, -1, -1, 900, -1, 800]


def synthetic(path: Path, algorithm: str, seed: int, *, coverage: float, first: int, budget: int = 1000,
              config: dict | None = None, columns: dict | None = None) -> Path:
    """A run directory whose last metrics row holds the given final values
    (three rows; earlier rows are smaller)."""
    path.mkdir(parents=True)
    evaluations = np.array([budget // 4, budget // 2, budget])
    found = (first >= 0) & (evaluations >= first)
    frame = pd.DataFrame({
        "generation": [1, 2, 3],
        "evaluations": evaluations,
        "coverage": [coverage / 3, coverage / 2, coverage],
        "explored_coverage": [coverage, coverage, 2 * coverage],
        "uniformity": [0.2, 0.3, 0.4 + seed / 100],
        "areas_found": found.astype(int),
        "area0_found": found.astype(int),
        "area0_first_found": np.where(found, first, -1),
        "area0_max_reward": np.where(found, 0.5 + seed / 10, 0.0),
        **(columns or {}),
    })
    frame.to_csv(path / "metrics.csv", index=False)
    raw = {"algorithm": algorithm, "task": "tiny", "seed": seed, "budget": budget, "out": str(path),
           "representation": "ground_truth", "algo": {"k": 15}} | (config or {})
    (path / "config.yaml").write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def sweep_dir(tmp_path):
    """Three algorithms x six seeds; serene logs an exploitation budget split."""
    root = tmp_path / "sweep"
    for seed in range(6):
        synthetic(root / f"ns-tiny-seed{seed}", "ns", seed, coverage=NS_COVERAGE[seed], first=NS_FIRST[seed])
        synthetic(root / f"random-tiny-seed{seed}", "random", seed, coverage=RANDOM_COVERAGE[seed],
                  first=RANDOM_FIRST[seed])
        split = {"explore_evaluations": [250, 400, 600], "exploit_evaluations": [0, 100, 400],
                 "exploit_area0_evaluations": [0, 100, 300]}
        synthetic(root / f"serene-tiny-seed{seed}", "serene", seed, coverage=SERENE_COVERAGE[seed], first=600,
                  columns=split)
    (root / "index.csv").write_text("not a run\n")  # sweep files beside the runs are ignored
    return root


def cell(table: pd.DataFrame, group: str, metric: str) -> pd.Series:
    rows = table[(table["group"] == group) & (table["metric"] == metric)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_the_table_holds_medians_quartiles_and_first_find_counts(sweep_dir, tmp_path):
    result = compare.compare([sweep_dir], tmp_path / "out", plots=False)
    assert [g.label for g in result.groups] == ["ns", "random", "serene"]
    assert all(len(g.runs) == 6 for g in result.groups)
    row = cell(result.table, "ns", "coverage")
    assert (row["median"], row["q1"], row["q3"]) == pytest.approx(tuple(np.percentile(NS_COVERAGE, [50, 25, 75])))
    assert row["n"] == row["found"] == 6 and row["direction"] == "higher" and row["label"] == "coverage ↑"
    first = cell(result.table, "ns", "area0_first_found")
    found = [f for f in NS_FIRST if f >= 0]
    assert (first["n"], first["found"]) == (6, 5)
    assert (first["median"], first["q1"], first["q3"]) == pytest.approx(tuple(np.percentile(found, [50, 25, 75])))
    assert first["direction"] == "lower" and first["label"] == "area 0 first find ↓"
    never = cell(result.table, "random", "area0_first_found")
    assert (never["n"], never["found"], never["median"]) == (6, 2, 850)
    reward = cell(result.table, "ns", "area0_max_reward")  # 0 for the seed that never found it
    assert reward["median"] == pytest.approx(np.median([0.5, 0.6, 0.0, 0.8, 0.9, 1.0]))
    assert "qd_score" not in set(result.table["metric"])  # logged by no run
    on_disk = pd.read_csv(tmp_path / "out" / "table.csv")
    assert len(on_disk) == len(result.table) and set(on_disk["direction"]) == {"higher", "lower"}

    markdown = (tmp_path / "out" / "table.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| group"))
    for label in ("coverage ↑", "explored coverage ↑", "uniformity ↑", "areas found ↑", "area 0 first find ↓",
                  "area 0 max reward ↑"):
        assert label in header
    ns_line = next(line for line in markdown.splitlines() if line.startswith("| ns |"))
    assert "0.525 [0.512, 0.538]" in ns_line and "300 [200, 400] (5/6)" in ns_line


def test_every_metric_declares_its_direction():
    assert set(compare.METRICS) == {*compare.GLOBAL, *compare.PER_AREA}
    assert compare.better("area3_first_found") == compare_stats.LOWER
    assert compare.better("qd_score") == compare.better("area0_max_reward") == compare_stats.HIGHER
    assert compare.label_of("area2_max_reward") == "area 2 max reward ↑"


def test_holm_matches_a_hand_computation():
    adjusted = compare_stats.holm([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04)
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and np.isnan(adjusted[4])
    assert compare_stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_pairwise_tests_match_scipy_with_holm_per_task_and_metric(sweep_dir, tmp_path):
    result = compare.compare([sweep_dir], tmp_path / "out", plots=False)
    coverage = result.stats[result.stats["metric"] == "coverage"]
    assert len(coverage) == 6  # ordered pairs of three groups
    samples = {"ns": NS_COVERAGE, "random": RANDOM_COVERAGE, "serene": SERENE_COVERAGE}
    raw = []
    for row in coverage.itertuples():
        expected = scipy_stats.mannwhitneyu(samples[row.a], samples[row.b], alternative="greater")
        assert (row.U, row.p) == pytest.approx((expected.statistic, expected.pvalue))
        raw.append(expected.pvalue)
    assert coverage["p_adjusted"].to_numpy() == pytest.approx(compare_stats.holm(raw))
    better = set(coverage.loc[coverage["better"] != "", ["a", "b"]].itertuples(index=False, name=None))
    assert better == {("ns", "random"), ("ns", "serene"), ("serene", "random")}

    first = result.stats[result.stats["metric"] == "area0_first_found"].set_index(["a", "b"])
    def never_last(values):
        return [x if x >= 0 else np.inf for x in values]

    expected = scipy_stats.mannwhitneyu(never_last(NS_FIRST), never_last(RANDOM_FIRST), alternative="less")
    assert (first.loc[("ns", "random"), "U"], first.loc[("ns", "random"), "p"]) == pytest.approx(
        (expected.statistic, expected.pvalue))
    assert first.loc[("ns", "random"), "direction"] == "lower"
    on_disk = pd.read_csv(tmp_path / "out" / "stats.csv", keep_default_na=False)
    assert list(on_disk.columns) == list(compare_stats.COLUMNS) and len(on_disk) == len(result.stats)
    assert "| coverage ↑ | ns | random |" in (tmp_path / "out" / "stats.md").read_text()


def test_plots_are_written_and_emitter_methods_get_their_budget_split(sweep_dir):
    result = compare.compare([sweep_dir])
    assert result.out == sweep_dir / "comparison"
    plots = {p.name for p in result.files if p.suffix == ".png"}
    assert plots == {"tiny-coverage.png", "tiny-explored_coverage.png", "tiny-max_reward.png", "tiny-final.png",
                     "tiny-exploitation.png"}
    for path in result.files:
        assert path.is_file() and path.stat().st_size > (10_000 if path.suffix == ".png" else 100)
    again = compare.compare([sweep_dir], plots=False)  # its own comparison folder is not a run
    assert len(again.groups) == 3


def test_a_run_of_the_inspection_fixture_reports_its_own_numbers(tmp_path):
    expected = write_run(tmp_path / "run")
    result = compare.compare([tmp_path / "run"], tmp_path / "out", plots=False)
    assert result.out == tmp_path / "out"
    assert cell(result.table, "ns", "coverage")["median"] == pytest.approx(expected["coverage"])
    assert cell(result.table, "ns", "explored_coverage")["median"] == pytest.approx(expected["explored_coverage"])
    for i, first in enumerate(expected["first_found"]):
        row = cell(result.table, "ns", f"area{i}_first_found")
        assert row["found"] == (first is not None) and (first is None or row["median"] == first)
    assert result.stats.empty and "nothing to test" in (tmp_path / "out" / "stats.md").read_text()


def test_groups_split_by_representation_and_settings_and_warn_on_budgets(tmp_path):
    synthetic(tmp_path / "a", "ns", 0, coverage=0.1, first=-1)
    synthetic(tmp_path / "b", "ns", 1, coverage=0.2, first=-1, budget=2000)
    synthetic(tmp_path / "c", "ns", 0, coverage=0.3, first=-1, config={"representation": "autoencoder"})
    synthetic(tmp_path / "d", "ns", 0, coverage=0.4, first=-1, config={"algo": {"k": 10}, "log_every": 5})
    warnings = []
    result = compare.compare([tmp_path / d for d in "abcd"], tmp_path / "out", warn=warnings.append)
    assert [g.label for g in result.groups] == ["ns (algo.k=10)", "ns (algo.k=15)", "ns[autoencoder]"]
    assert [len(g.runs) for g in result.groups] == [1, 2, 1]
    assert warnings == list(result.warnings) and len(warnings) == 1
    assert "tiny / ns (algo.k=15): runs ended at different evaluations (1,000 to 2,000)" in warnings[0]


def test_curves_stop_where_every_run_has_data_and_qd_score_shows_where_logged(tmp_path):
    for seed in range(2):
        synthetic(tmp_path / f"ns{seed}", "ns", seed, coverage=0.2, first=-1, budget=1000 * (seed + 1))
        synthetic(tmp_path / f"me{seed}", "me", seed, coverage=0.3, first=-1,
                  columns={"qd_score": [1.0, 2.0, 3.0 + seed]})
    result = compare.compare([tmp_path / f"{a}{s}" for a in ("ns", "me") for s in range(2)], tmp_path / "out",
                             plots=False)
    qd = result.table[result.table["metric"] == "qd_score"].set_index("group")
    assert qd.loc["me", "median"] == pytest.approx(3.5) and qd.loc["ns", "n"] == 0
    assert "| ns | 2 | " in (tmp_path / "out" / "table.md").read_text()
    assert list(result.stats.loc[result.stats["metric"] == "qd_score", "a"]) == []  # nothing to test against
    drawn = dict(compare_plots.figures(result.groups, result.table))
    lines = drawn["tiny-coverage.png"].axes[0].get_lines()
    assert lines and max(line.get_xdata().max() for line in lines) == 1000  # ns seed 1 ran to 2000


def test_runs_without_metrics_are_skipped_with_a_warning(sweep_dir, tmp_path):
    empty = sweep_dir / "ns-tiny-seed9"
    empty.mkdir()
    (empty / "config.yaml").write_text(yaml.safe_dump({"algorithm": "ns", "task": "tiny", "seed": 9}))
    broken = sweep_dir / "ns-tiny-seed8"
    broken.mkdir()
    (broken / "config.yaml").write_text("- not a mapping\n")
    warnings = []
    result = compare.compare([sweep_dir], tmp_path / "out", plots=False, warn=warnings.append)
    assert len(result.groups) == 3
    assert any(str(empty) in w and "no metrics logged yet" in w for w in warnings)
    assert any(str(broken) in w and "must be a mapping" in w for w in warnings)


def test_directories_that_hold_no_runs_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="is neither a run directory .* nor a sweep directory"):
        compare.compare([tmp_path / "empty"])
    with pytest.raises(RunDirError, match="no such directory"):
        compare.compare([tmp_path / "nowhere"])
    pending = tmp_path / "pending" / "run"
    pending.mkdir(parents=True)
    (pending / "config.yaml").write_text(yaml.safe_dump({"algorithm": "ns", "task": "tiny"}))
    with pytest.raises(compare.CompareError, match="nothing to compare"):
        compare.compare([tmp_path / "pending"])
    result = CliRunner().invoke(cli.app, ["compare", str(tmp_path / "empty")])
    assert result.exit_code == 2 and result.output.startswith("error: ") and len(result.output.splitlines()) == 1
    assert not (tmp_path / "empty" / "comparison").exists()


def test_the_command_prints_warnings_and_where_it_wrote(sweep_dir, tmp_path):
    synthetic(sweep_dir / "ns-tiny-seed7", "ns", 7, coverage=0.5, first=-1, budget=500)
    result = CliRunner().invoke(cli.app, ["compare", str(sweep_dir), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning: tiny / ns: runs ended at different evaluations" in result.output
    assert "compared 19 runs in 3 groups" in result.output and str(tmp_path / "out") in result.output
