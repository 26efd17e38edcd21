"""runs/report*.py: the explorer's pieces, the evidence sweep end to end
(NS, SERENE, MAP-Elites and random search, 3 seeds, tiny budgets, through
`divergent sweep`, `compare` and `report`: on the toy task and the
redundant arm here, on hardmaze and curling with -m slow), and the page in a real headless
browser (chromium driven by Playwright): no console errors, no request
leaving the page, every figure drawn, a click on a policy shows its
trajectory, view, reward, descriptor and generation.

The sweep compiles each algorithm's programs once per task (~40 s of CPU
on the toy task, ~55 s on the arm, cold cache); the runs, the comparison,
the replays and the browser take seconds."""
from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from runs import cli, report_explorer, sweep
from runs.report_figures import dumps
from tests.runs import toy
from tests.runs.test_resume_algorithms import BUDGET, SETTINGS

ALGOS = ("ns", "serene", "me", "random")
SEEDS = 3
# The default suite's sweep: the four algorithms on two tasks, the toy task
# with exactly test_resume_algorithms' settings, so the suite compiles those
# programs once (persistent compile cache), and the redundant arm, the
# cheapest real task to compile (~55 s of CPU for the four against ~135 s
# on hardmaze + curling); compiling is what a sweep costs here, the runs
# themselves take milliseconds. Hardmaze and curling are the slow test
# (pytest -m slow).
SUITE_TASKS = (toy.TASK, "redundant_arm")
SUITE_SWEEP = [
    "--algos", ",".join(ALGOS), "--tasks", ",".join(SUITE_TASKS), "--seeds", f"0-{SEEDS - 1}", "--budget", str(BUDGET),
    "--set", "task.episode_length=12", *(f"--set={name}:{item}" for name in ALGOS for item in SETTINGS[name]),
    "--quiet",
]
REAL_TASKS = ("hardmaze", "curling")
REAL_SWEEP = [
    "--algos", ",".join(ALGOS), "--tasks", ",".join(REAL_TASKS), "--seeds", f"0-{SEEDS - 1}", "--budget", "200",
    "--set", "task.episode_length=20",
    "--set", "ns:algo.population_size=8", "--set", "ns:algo.k=3",
    "--set", "random:algo.batch_size=8",
    "--set", "me:algo.batch_size=16", "--set", "me:algo.cells_per_dim=8",
    *(f"--set=serene:{item}" for item in SETTINGS["serene"]),
    "--quiet",
]
REPLAYS = 12
CHROMIUM_HINT = ("the report's browser test needs chromium: as root, `apt-get update && apt-get install -y "
                 "chromium` (Debian/Ubuntu), or set DIVERGENT_CHROMIUM to a Chromium/Chrome executable")


def _page_data(html: str) -> dict:
    match = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page holds no report data"
    return json.loads(match[1])


def _sweep_compare_report(out, arguments):
    """`divergent sweep`, then `compare` and `report` on it; report's output."""
    invoke = CliRunner().invoke
    ran = invoke(cli.app, ["sweep", *arguments, "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    compared = invoke(cli.app, ["compare", str(out)])
    assert compared.exit_code == 0, compared.output
    reported = invoke(cli.app, ["report", str(out), "--replays", str(REPLAYS)])
    assert reported.exit_code == 0, reported.output
    return reported.output


def check_evidence(out, printed, tasks):
    """The sweep ran every run, the comparison has every group of every task,
    and the report every run, each with its archive and replays."""
    index = pd.read_csv(out / sweep.INDEX)
    assert len(index) == len(ALGOS) * len(tasks) * SEEDS and set(index["status"]) == {"done"}
    table = pd.read_csv(out / "comparison" / "table.csv")
    for task in tasks:  # every group of every task, over all its seeds, with a coverage that means something
        rows = table[(table["task"] == task) & (table["metric"] == "coverage")].set_index("group")
        assert sorted(rows.index) == sorted(ALGOS) and set(rows["runs"]) == {SEEDS}
        assert (rows["median"] > 0).all() and (rows["median"] < 1).all()
        assert (out / "comparison" / "plots" / f"{task}-coverage.png").is_file()
        stats = pd.read_csv(out / "comparison" / "stats.csv")
        assert len(stats[(stats["task"] == task) & (stats["metric"] == "coverage")]) == 12  # ordered pairs

    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"-> {out / 'report.html'}" in " ".join(printed.split())
    assert "<script src=" not in page and "<link " not in page  # all inline (the browser test: no request)
    data = _page_data(page)
    assert len(data["runs"]) == len(index)
    assert {(r["group"], r["task"]) for r in data["runs"]} == {(a, t) for a in ALGOS for t in tasks}
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in data["runs"]) == sorted(index["run_dir"])
    for run in data["runs"]:
        explorer = run["explorer"]
        archive = explorer["sources"]["archive"]
        assert len(archive["x"]) > 0, run["label"]
        assert 0 < len(explorer["replays"]) <= REPLAYS, run["label"]
        assert explorer["replays"][0]["view"].startswith("data:image/png;base64,")
        for i in (i for i, r in enumerate(archive["replay"]) if r >= 0):  # a replay ends where the policy did
            trajectory = explorer["replays"][archive["replay"][i]]
            assert np.isclose(trajectory["x"][-1], archive["x"][i], atol=1e-2 * abs(archive["x"][i]) + 1e-3)
            assert np.isclose(trajectory["y"][-1], archive["y"][i], atol=1e-2 * abs(archive["y"][i]) + 1e-3)
        assert (archive["generation"] is None) == (run["algorithm"] == "me"), run["label"]  # elites: no age
        assert ("reward archive" in explorer["sources"]) == (run["algorithm"] == "serene"), run["label"]
        assert explorer["history"]["max_reward"], run["label"]  # per-area max reward over the run
        assert (explorer["history"]["exploit"] is not None) == (run["algorithm"] == "serene"), run["label"]
    assert sorted(m["name"] for m in data["maps"].values()) == sorted(tasks)
    ids = {f["id"] for f in data["figures"]}
    kinds = ("coverage", "explored_coverage", "final", "area0", "budget")  # budget: SERENE's exploitation
    assert {f"fig-{t.replace('_', '-')}-{kind}" for t in tasks for kind in kinds} <= ids
    return data


def test_the_evidence_sweep_runs_through_sweep_compare_and_report_and_the_page_works_in_a_browser(tmp_path):
    # One test, not a module fixture shared by two: pytest-xdist would run the
    # sweep once in each worker that gets one of them.
    out = tmp_path / "sweep"
    data = check_evidence(out, _sweep_compare_report(out, SUITE_SWEEP), SUITE_TASKS)
    refused = CliRunner().invoke(cli.app, ["report", str(out), "--out", str(out)])
    assert refused.exit_code == 2 and "is a directory" in refused.output, refused.output
    check_page_in_browser(out / "report.html", data, tmp_path / "report.png")


@pytest.mark.slow
def test_the_evidence_sweep_on_hardmaze_and_curling(tmp_path):
    out = tmp_path / "sweep"
    data = check_evidence(out, _sweep_compare_report(out, REAL_SWEEP), REAL_TASKS)
    maps = {m["name"]: m for m in data["maps"].values()}
    assert len(maps["hardmaze"]["walls"]) > 5 and maps["hardmaze"]["y_down"] and len(maps["curling"]["areas"]) == 2
    check_page_in_browser(out / "report.html", data, tmp_path / "report.png")


def _chromium() -> str:
    for candidate in (os.environ.get("DIVERGENT_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    pytest.fail(f"no chromium found: {CHROMIUM_HINT}", pytrace=False)


def check_page_in_browser(page_file, data, screenshot):
    """The page in headless chromium: no console error or warning, no request
    leaving the page, every figure drawn with its traces; a click on a SERENE
    policy shows its details, trajectory and view; a second run side by side."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[dev]'", pytrace=False)
    serene = next(r for r in data["runs"] if r["group"] == "serene")
    archive = serene["explorer"]["sources"]["archive"]
    xy = np.stack([archive["x"], archive["y"]], axis=1)
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    replayed = np.flatnonzero(np.asarray(archive["replay"]) >= 0)
    target = int(replayed[np.argmax(gaps[replayed].min(axis=1))])  # the replayed policy farthest from the others
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: problems.append(f"network: {r.url}")
                    if not r.url.startswith(("file:", "data:", "about:")) else None)
            page.goto(page_file.as_uri())
            page.wait_for_function("() => window.divergentReport !== undefined")
            for figure in data["figures"]:  # every figure drawn by Plotly, with its traces
                count = page.eval_on_selector(f"#{figure['id']}", "el => el.data ? el.data.length : -1")
                assert count == len(figure["figure"]["data"]) and count > 0, figure["id"]
                assert page.locator(f"#{figure['id']} .main-svg").count() > 0, figure["id"]
            page.select_option("#run-a", serene["id"])
            page.wait_for_function("() => document.querySelector('#map-a .main-svg') !== null")
            page.locator("#map-a").scroll_into_view_if_needed()
            # The pixel of the target policy on the map, from Plotly's own axes.
            x, y = page.evaluate("""([px, py]) => {
                const gd = document.getElementById('map-a'), L = gd._fullLayout, box = gd.getBoundingClientRect();
                return [box.left + L.xaxis._offset + L.xaxis.l2p(px), box.top + L.yaxis._offset + L.yaxis.l2p(py)];
            }""", [archive["x"][target], archive["y"][target]])
            page.mouse.move(x, y)
            page.mouse.click(x, y)
            page.wait_for_function(f"() => document.querySelector('#details-a').dataset.index === '{target}'",
                                   timeout=10_000)
            details = page.inner_text("#details-a")
            assert f"archive #{target}" in details
            assert f"{archive['reward'][target]:g}" in details or str(archive["reward"][target]) in details
            assert all(f"{v:g}"[:5] in details for v in archive["descriptor"][target])
            assert f"generation found\t{archive['generation'][target]}" in details
            assert page.eval_on_selector("#details-a img.view", "img => img.naturalWidth") == 64
            trajectory = page.evaluate("() => { const d = document.getElementById('map-a').data;"
                                       " return d.find(t => t.name === 'trajectory').x.length; }")
            assert trajectory == len(serene["explorer"]["replays"][archive["replay"][target]]["x"]) > 1
            page.select_option("#run-b", data["runs"][0]["id"])  # side by side
            page.wait_for_function("() => document.querySelector('#map-b .main-svg') !== null")
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    assert not problems, problems


def test_replays_pick_the_best_of_each_area_then_spread_over_the_map():
    rng = np.random.default_rng(0)
    xy = rng.uniform(size=(200, 2))
    area = np.where(xy[:, 0] > 0.9, 0, -1)
    area[:3] = 1
    reward = rng.uniform(size=200) * (area >= 0)
    rows = report_explorer.pick_replays(xy, reward, area, 10)
    assert len(rows) == 10 and len(set(rows.tolist())) == 10
    assert int(np.argmax(np.where(area == 0, reward, -1))) in rows and int(np.argmax(np.where(area == 1, reward, -1))) in rows
    spread = xy[rows]
    assert spread[:, 0].max() - spread[:, 0].min() > 0.8 and spread[:, 1].max() - spread[:, 1].min() > 0.8
    assert report_explorer.pick_replays(xy[:5], reward[:5], area[:5], 10).tolist() == [0, 1, 2, 3, 4]


def test_page_json_never_ends_its_script_and_has_no_nan():
    assert "</script>" not in dumps({"label": "</script><script>alert(1)</script>"})
    assert report_explorer._round([1.23456, float("nan"), float("inf")], 2) == [1.23, None, None]
    with pytest.raises(ValueError):
        dumps({"x": float("nan")})


@pytest.mark.parametrize("args, words", [
    (["nowhere"], ["nowhere: no such directory"]),
    (["{tmp}", "--out", "{tmp}"], ["is neither a run directory"]),
])
def test_report_mistakes_are_one_error_line(tmp_path, args, words):
    args = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(cli.app, ["report", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and all(w in lines[0] for w in words), result.output
