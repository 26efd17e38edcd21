"""The HTML of `divergent report`: one self-contained page.

Everything the page needs is inside it: Plotly's JavaScript (from the
pinned `plotly` package, `plotly.offline.get_plotlyjs`), the page's style
(runs/report.css) and script (runs/report.js), and the data as one JSON
element the script reads. It opens offline and from any folder; nothing is
fetched.
"""
from __future__ import annotations

import html
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from runs.compare import METRICS, _key, label_of
from runs.compare_stats import HIGHER
from runs.plotstyle import PALETTE
from runs.report_figures import dumps

__all__ = ["page"]


def page(*, title: str, subtitle: Sequence[str], tasks: Sequence[str], groups: Mapping[str, Sequence[str]],
         table: pd.DataFrame, stats: pd.DataFrame, figures: Sequence[dict], runs: Sequence[dict],
         maps: Mapping[str, Any], warnings: Sequence[str]) -> str:
    """The page's HTML.

    Args:
        title: the heading.
        subtitle: lines under it.
        tasks: the tasks, in page order.
        groups: task -> its group labels, in colour order.
        table: the comparison table (`runs.compare.table`).
        stats: the pairwise tests (`runs.compare.tests`).
        figures: `runs.report_figures.figures`.
        runs: each run's entry for the explorer ({"id", "label", "task", ...}).
        maps: map key -> geometry (`runs.report_explorer.map_geometry`).
        warnings: lines shown in a box at the top.

    Returns:
        The HTML text.
    """
    import plotly.offline

    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{_asset('report.css')}</style>", "</head><body>",
        f"<header><h1><span>divergent</span> report: {_e(title)}</h1>",
        *(f"<p>{_e(line)}</p>" for line in subtitle), "</header>",
        "<nav>", *(f'<a href="#task-{_slug(t)}">{_e(t)}</a>' for t in tasks),
        '<a href="#explorer">archive explorer</a></nav>', "<main>",
    ]
    if warnings:
        parts += ['<div class="warnings"><b>Warnings</b><ul>', *(f"<li>{_e(w)}</li>" for w in warnings),
                  "</ul></div>"]
    for task in tasks:
        parts += _task_section(task, groups[task], table[table["task"] == task], stats[stats["task"] == task]
                               if len(stats) else stats, [f for f in figures if f["task"] == task])
    parts += _explorer(runs)
    parts += [
        "</main>",
        "<footer>Written by <code>divergent report</code>. Medians and quartiles over seeds of each run's final "
        "value; one-sided Mann-Whitney U tests with Holm-Bonferroni correction per task and metric. "
        "Figures: Plotly (zoom by dragging, double-click to reset, click legend entries to hide groups).</footer>",
        f"<script>{plotly.offline.get_plotlyjs()}</script>",
        f'<script id="report-data" type="application/json">'
        f"{dumps({'figures': list(figures), 'runs': list(runs), 'maps': dict(maps)})}</script>",
        f"<script>{_asset('report.js')}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _task_section(task: str, labels: Sequence[str], rows: pd.DataFrame, stats: pd.DataFrame,
                  figures: Sequence[dict]) -> list[str]:
    out = [f'<section id="task-{_slug(task)}"><h2>{_e(task)}</h2>',
           '<p class="note">Median [Q1, Q3] over seeds of each run\'s final value; ↑ higher is better, ↓ lower is '
           "better; the best median of each column is shaded. First find: evaluations until the area was first "
           "found, over the seeds that found it (found/seeds).</p>"]
    metrics = list(dict.fromkeys(rows["metric"]))
    best = _best(rows, metrics)
    out += ['<div class="table-wrap"><table class="comparison"><thead><tr><th>group</th><th>runs</th>',
            *(f"<th>{_e(label_of(m))}</th>" for m in metrics), "</tr></thead><tbody>"]
    for index, label in enumerate(labels):
        cells = rows[rows["group"] == label]
        by_metric = {r.metric: r for r in cells.itertuples()}
        colour = PALETTE[index % len(PALETTE)]
        out.append(f'<tr><td><span class="swatch" style="background:{colour}"></span>{_e(label)}</td>'
                   f"<td>{int(cells['runs'].iloc[0]) if len(cells) else 0}</td>")
        for m in metrics:
            row = by_metric.get(m)
            shaded = ' class="best"' if row is not None and (m, label) in best else ""
            out.append(f"<td{shaded}>{_cell(row) if row is not None else '–'}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    out += _stats(stats)
    out.append('<div class="figures">')
    for figure in figures:
        wide = " wide" if figure["id"].endswith(("-final", "-budget")) else ""
        height = int(figure["figure"]["layout"].get("height", 340))
        out.append(f'<div class="figure{wide}" style="height:{height + 10}px"><div id="{_e(figure["id"])}" '
                   f'class="plot" data-title="{_e(figure["title"])}"></div></div>')
    out += ["</div>", "</section>"]
    return out


def _best(rows: pd.DataFrame, metrics: Sequence[str]) -> set:
    """(metric, group) pairs holding the best median of their column (ties all)."""
    out = set()
    for m in metrics:
        column = rows[(rows["metric"] == m) & rows["median"].notna()]
        if len(column) < 2:
            continue
        values = column["median"].to_numpy(np.float64)
        if np.allclose(values, values[0]):  # nothing to tell apart
            continue
        target = values.max() if METRICS[_key(m)][1] == HIGHER else values.min()
        out |= {(m, g) for g, v in zip(column["group"], values) if np.isclose(v, target)}
    return out


def _cell(row) -> str:
    fmt = METRICS[_key(row.metric)][2]
    value = "–" if row.found == 0 else f"{fmt.format(row.median)} [{fmt.format(row.q1)}, {fmt.format(row.q3)}]"
    if _key(row.metric) == "first_found" and row.n:
        value += f' <span class="found">({row.found}/{row.n})</span>'
    return value


def _stats(stats: pd.DataFrame) -> list[str]:
    if stats.empty:
        return ['<p class="note">Only one group (or no shared metric): no pairwise tests.</p>']
    significant = int((stats["better"] != "").sum())
    out = [f"<details><summary>Pairwise tests: {significant} significant of {len(stats)} (Holm-adjusted p &lt; "
           "0.05, shaded)</summary>",
           '<p class="note">One-sided Mann-Whitney U per ordered pair (H1: a is better than b), Holm-Bonferroni '
           "over the pairs of each metric. A seed that never found an area ranks last on its first find.</p>",
           '<div class="table-wrap"><table class="stats"><thead><tr><th>metric</th><th>a</th><th>b</th><th>n</th>'
           "<th>U</th><th>p</th><th>p (Holm)</th><th>better</th></tr></thead><tbody>"]
    for r in stats.itertuples():
        shaded = ' class="significant"' if r.better else ""
        out.append(f"<tr{shaded}><td>{_e(label_of(r.metric))}</td><td>{_e(r.a)}</td><td>{_e(r.b)}</td>"
                   f"<td>{r.n_a}/{r.n_b}</td><td>{r.U:g}</td><td>{r.p:.3g}</td><td>{r.p_adjusted:.3g}</td>"
                   f"<td>{_e(r.better)}</td></tr>")
    out.append("</tbody></table></div></details>")
    return out


def _explorer(runs: Sequence[dict]) -> list[str]:
    options = []
    for task in dict.fromkeys(r["task"] for r in runs):
        options.append(f'<optgroup label="{_e(task)}">')
        options += [f'<option value="{_e(r["id"])}">{_e(r["label"])}</option>' for r in runs if r["task"] == task]
        options.append("</optgroup>")
    return [
        '<section id="explorer"><h2>Archive explorer</h2>',
        '<p class="note">Pick a run (and optionally a second one beside it). Every archived policy is a point at '
        "its final position on the task's map; click one to see its trajectory (red), its final top-down view, "
        "its reward, descriptor and the generation it was found in. Below: the max reward per reward area over "
        "the run and, for emitter methods, the evaluations spent exploiting each area.</p>",
        '<div class="controls">',
        f'<label>run<select id="run-a">{"".join(options)}</select></label>',
        f'<label>beside it<select id="run-b"><option value="">(none)</option>{"".join(options)}</select></label>',
        '<label>colour by<select id="colour-by"><option value="reward">reward</option>'
        '<option value="generation">generation found</option></select></label>',
        "</div>",
        '<div class="panels" id="panels"><div class="panel" id="panel-a"></div><div class="panel" id="panel-b"></div></div>',
        "</section>",
    ]


def _asset(name: str) -> str:
    text = resources.files("runs").joinpath(name).read_text(encoding="utf-8")
    return text.replace("</script", "<\\/script").replace("</style", "<\\/style")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)
