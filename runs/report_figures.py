"""The comparison's interactive figures for `divergent report`, as Plotly
figure specs (plain JSON: {"data": [...], "layout": {...}}), per task:

    curves of archive and explored coverage over evaluations (median line, IQR band per group)
    max reward per reward area over evaluations, likewise
    final values over seeds: one box per group and metric, every seed a point
    the exploitation budget per area of emitter methods (median share of the evaluations)

The same numbers as `runs.compare_plots` (the PNGs of `divergent compare`):
curves stop at the evaluations every run of the task reached, so every band
is over all its seeds; groups keep one colour (`runs.plotstyle.PALETTE`)
across a task's figures.
"""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from runs.curves import aggregate, resample
from runs.compare_plots import budget_shares
from runs.plotstyle import PALETTE, budget_colour

if TYPE_CHECKING:
    from runs.compare import Group

__all__ = ["FONT", "figures", "layout"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
HEIGHT = 340
BOX_COLUMNS = 4
CURVE_POINTS = 400  # points per curve (resampled grids are thinned to this)


def layout(**extra) -> dict:
    """The house layout of every figure of the page."""
    base = {
        "template": "plotly_white",
        "font": {"family": FONT, "size": 12, "color": "#222"},
        "margin": {"l": 60, "r": 20, "t": 46, "b": 50},
        "height": HEIGHT,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.22, "x": 0},
        "title": {"font": {"size": 14}, "x": 0.01, "xanchor": "left"},
    }
    base.update(extra)
    return base


def figures(groups: Sequence["Group"], table: pd.DataFrame) -> list[dict]:
    """Every figure of every task.

    Args:
        groups: the groups compared (`runs.compare.group_runs`).
        table: their table (`runs.compare.table`).

    Returns:
        [{"task", "id", "title", "figure"}] in page order.
    """
    from runs.compare import areas_of

    out = []
    for task in dict.fromkeys(g.task for g in groups):
        members = [g for g in groups if g.task == task]
        runs = [r for g in members for r in g.runs]
        end = min(r.evaluations for r in runs)
        clipped = [[_clip(r.metrics, end) for r in g.runs] for g in members]

        def add(kind: str, title: str, figure: dict) -> None:
            out.append({"task": task, "id": f"fig-{_slug(task)}-{kind}", "title": title, "figure": figure})

        for column, name in (("coverage", "archive coverage"), ("explored_coverage", "explored coverage")):
            if any(column in f for frames in clipped for f in frames):
                add(column, name, _curves(members, clipped, column, name, percent=True))
        for i in areas_of(runs):
            add(f"area{i}", f"area {i}: max reward",
                _curves(members, clipped, f"area{i}_max_reward", f"area {i}: max reward", hold=True, fill=0.0))
        add("final", "final values over seeds", _finals(table[table["task"] == task], members))
        budget = _budget(members, max(areas_of(runs), default=-1) + 1)
        if budget is not None:
            add("budget", "exploitation budget", budget)
    return out


def _clip(metrics: pd.DataFrame, end: float) -> pd.DataFrame:
    x = pd.to_numeric(metrics["evaluations"], errors="coerce")
    return metrics[x <= end]


def _curves(groups, frames, column: str, name: str, *, percent: bool = False, hold: bool = False,
            fill=None) -> dict:
    data = []
    for index, (group, runs) in enumerate(zip(groups, frames)):
        runs = [f for f in runs if column in f and "evaluations" in f]
        if not runs:
            continue
        grid, values = resample([_numeric(f, column) for f in runs], column, "evaluations", fill_value=fill,
                                hold=hold)
        centre, low, high = aggregate(values, "iqr")
        keep = _thin(len(grid))
        grid, centre, low, high = grid[keep], centre[keep], low[keep], high[keep]
        scale = 100.0 if percent else 1.0
        colour = PALETTE[index % len(PALETTE)]
        label = f"{group.label} ({len(group.runs)} runs)"
        shape = "hv" if hold else "linear"
        data += [
            {"type": "scatter", "x": _list(grid), "y": _list(low * scale), "mode": "lines", "line": {"width": 0,
             "shape": shape}, "showlegend": False, "hoverinfo": "skip", "legendgroup": group.label},
            {"type": "scatter", "x": _list(grid), "y": _list(high * scale), "mode": "lines", "fill": "tonexty",
             "fillcolor": _rgba(colour, 0.18), "line": {"width": 0, "shape": shape}, "showlegend": False,
             "hoverinfo": "skip", "legendgroup": group.label},
            {"type": "scatter", "x": _list(grid), "y": _list(centre * scale), "mode": "lines", "name": label,
             "line": {"color": colour, "width": 2.2, "shape": shape}, "legendgroup": group.label,
             "hovertemplate": f"%{{y:.{1 if percent else 3}f}}{'%' if percent else ''}"},
        ]
    yaxis = {"title": {"text": f"{name} (%)" if percent else name}, "rangemode": "tozero"}
    if not percent and "max_reward" in column:
        yaxis["range"] = [0, 1.02]
    return {"data": data, "layout": layout(
        title={"text": f"{name} (median, IQR over seeds)"}, xaxis={"title": {"text": "evaluations (episodes)"}},
        yaxis=yaxis)}


def _finals(rows: pd.DataFrame, groups) -> dict:
    from plotly.subplots import make_subplots

    from runs.compare import final_values, label_of

    metrics = list(dict.fromkeys(rows["metric"]))
    columns = min(BOX_COLUMNS, max(1, len(metrics)))
    lines = math.ceil(len(metrics) / columns)
    finals = [[final_values(r, metrics) for r in g.runs] for g in groups]
    fig = make_subplots(rows=lines, cols=columns, subplot_titles=[label_of(m) for m in metrics],
                        horizontal_spacing=0.07, vertical_spacing=min(0.3, 0.5 / lines))
    for m, metric in enumerate(metrics):
        row, col = divmod(m, columns)
        for index, (group, runs) in enumerate(zip(groups, finals)):
            values = np.array([f[metric] for f in runs])
            shown = values[np.isfinite(values)]
            seeds = [r.seed for r, v in zip(group.runs, values) if np.isfinite(v)]
            name = group.label
            if metric.endswith("first_found"):  # how many seeds found it, under the box
                name = f"{group.label}<br>{len(shown)}/{int(np.sum(~np.isnan(values)))} found"
            colour = PALETTE[index % len(PALETTE)]
            fig.add_box(x=[name] * len(shown), y=_list(shown), name=name, boxpoints="all", jitter=0.35, pointpos=0,
                        marker={"color": colour, "size": 6}, line={"color": colour}, fillcolor=_rgba(colour, 0.25),
                        showlegend=False, customdata=seeds,
                        hovertemplate=f"{group.label}, seed %{{customdata}}: %{{y:.4g}}<extra></extra>",
                        row=row + 1, col=col + 1)
        if not any(np.isfinite([f[metric] for f in runs]).any() for runs in finals):
            fig.add_annotation(text="no seed found it" if metric.endswith("first_found") else "not logged",
                               x=0.5, y=0.5, xref="x domain", yref="y domain", showarrow=False,
                               font={"color": "#777", "size": 12}, row=row + 1, col=col + 1)
    fig.update_annotations(font_size=12)
    fig.update_xaxes(type="category", tickangle=0, tickfont_size=10.5)
    spec = json.loads(fig.to_json())
    spec["layout"] = {**layout(title={"text": "final values over seeds (every seed a point)"},
                               height=260 * lines + 60, hovermode="closest",
                               margin={"l": 50, "r": 20, "t": 70, "b": 40}),
                      **{k: v for k, v in spec["layout"].items() if k.startswith(("xaxis", "yaxis", "annotations"))}}
    return {"data": spec["data"], "layout": spec["layout"]}


def _budget(groups, n_areas: int):
    table = budget_shares(groups, n_areas)
    if table is None:
        return None
    data = []
    for column in table.columns:
        colour = budget_colour(column)
        data.append({"type": "bar", "orientation": "h", "y": list(table.index), "x": _list(table[column] * 100),
                     "name": column, "marker": {"color": colour},
                     "hovertemplate": f"{column}: %{{x:.1f}}%<extra>%{{y}}</extra>"})
    return {"data": data, "layout": layout(
        title={"text": "exploration and exploitation per area (median share of the evaluations)"},
        barmode="stack", height=150 + 40 * len(table), hovermode="closest",
        xaxis={"title": {"text": "share of the evaluations (%)"}, "range": [0, 100]},
        yaxis={"autorange": "reversed"})}


def _numeric(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return pd.DataFrame({"evaluations": pd.to_numeric(frame["evaluations"], errors="coerce"),
                         column: pd.to_numeric(frame[column], errors="coerce")})


def _thin(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int)) if n else np.zeros(0, int)


def _list(values) -> list:
    """Floats as JSON (NaN -> None, 5 significant digits)."""
    return [None if not math.isfinite(v) else float(f"{v:.5g}") for v in np.asarray(values, np.float64).tolist()]


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def dumps(value) -> str:
    """JSON for a <script> element: no "</" (it would end the element)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
