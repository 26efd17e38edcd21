"""Figures of a comparison (`runs.compare`), per task, into OUT/plots/:

    <task>-coverage.png            archive coverage over evaluations, median and IQR band per group
    <task>-explored_coverage.png   coverage of every evaluated policy, likewise
    <task>-max_reward.png          max reward per reward area (one panel per area), likewise
    <task>-final.png               box plots of each run's final value, one panel per metric
    <task>-exploitation.png        emitter methods only: median share of the budget spent
                                   exploring and exploiting each area (`runs.extras.budget_split`)

Curves are drawn up to the evaluations every run of the task reached, so
every band is over all its seeds. Same house style as `runs.plots`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from runs.curves import compact_count, plot_curves
from runs.extras import budget_split
from runs.plotstyle import DPI, PALETTE, budget_colour, panels, save, styled

if TYPE_CHECKING:
    from runs.compare import Group

__all__ = ["draw", "figures", "plot_budget", "plot_finals"]

PANEL = (3.0, 2.6)  # inches per box-plot panel
MAX_COLUMNS = 4


def draw(groups: Sequence["Group"], table: pd.DataFrame, folder: Path) -> list[Path]:
    """Draws every figure of every task into `folder`; returns the files written."""
    return [save(fig, folder / name) for name, fig in figures(groups, table)]


def figures(groups: Sequence["Group"], table: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """(file name, figure) of every figure of every task, drawn one at a time.

    Args:
        groups: the groups compared (`runs.compare.group_runs`).
        table: their table (`runs.compare.table`).
    """
    from runs.compare import areas_of

    for task in dict.fromkeys(g.task for g in groups):
        members = [g for g in groups if g.task == task]
        runs = [r for g in members for r in g.runs]
        end = min(r.evaluations for r in runs)  # every band is over all its seeds
        frames = [_clip(r.metrics, end) for r in runs]
        labels = [f"{g.label} ({len(g.runs)} runs)" for g in members for _ in g.runs]
        for column, ylabel in (("coverage", "archive coverage"), ("explored_coverage", "explored coverage")):
            if any(column in f for f in frames):
                yield f"{task}-{column}.png", plot_curves(frames, column, labels=labels, band="iqr", ylabel=ylabel,
                                                          percent=True, title=f"{task}: {ylabel} (median, IQR)")
        areas = areas_of(runs)
        if areas:
            yield f"{task}-max_reward.png", _max_reward(task, frames, labels, areas)
        yield f"{task}-final.png", plot_finals(table[table["task"] == task], members, task)
        budget = plot_budget(members, max(areas, default=-1) + 1, task)
        if budget is not None:
            yield f"{task}-exploitation.png", budget


def _clip(metrics: pd.DataFrame, end: float) -> pd.DataFrame:
    x = pd.to_numeric(metrics["evaluations"], errors="coerce")
    return metrics[x <= end]


def _max_reward(task: str, frames, labels, areas) -> Figure:
    fig, axes = panels(len(areas), figsize=(max(4.0, 3.6 * len(areas)), 3.2))
    for ax, i in zip(axes, areas):
        plot_curves(frames, f"area{i}_max_reward", labels=labels, band="iqr", steps=True, ax=ax,
                    ylabel="max reward" if ax is axes[0] else None, title=f"area {i}")
    fig.suptitle(f"{task}: max reward per area (median, IQR)")
    return fig


@styled
def plot_finals(rows: pd.DataFrame, groups: Sequence["Group"], task: str) -> Figure:
    """Box plots of each run's final value, one panel per metric of the table.

    First finds show the seeds that found the area, and "found/seeds" under
    each box.

    Args:
        rows: the table rows of this task (`runs.compare.table`).
        groups: the task's groups.
        task: its name (title).

    Returns:
        The figure.
    """
    from runs.compare import final_values, label_of

    metrics = list(dict.fromkeys(rows["metric"]))
    columns = min(MAX_COLUMNS, max(1, len(metrics)))
    lines = math.ceil(len(metrics) / columns)
    fig = Figure(figsize=(PANEL[0] * columns, PANEL[1] * lines + 0.4), dpi=DPI, layout="constrained")
    axes = fig.subplots(lines, columns, squeeze=False).reshape(-1)
    finals = [[final_values(r, metrics) for r in g.runs] for g in groups]
    names = [g.label for g in groups]
    for ax, metric in zip(axes, metrics):
        data = [np.array([f[metric] for f in runs]) for runs in finals]
        shown = [d[np.isfinite(d)] for d in data]
        positions = [i for i, d in enumerate(shown) if len(d)]
        if positions:
            box = ax.boxplot([shown[i] for i in positions], positions=positions, widths=0.55, patch_artist=True,
                             medianprops={"color": "black"}, showfliers=False)
            for patch, i in zip(box["boxes"], positions):
                patch.set(facecolor=PALETTE[i % len(PALETTE)], alpha=0.45)
            for i in positions:
                jitter = (np.arange(len(shown[i])) - (len(shown[i]) - 1) / 2) * 0.06
                ax.plot(i + jitter, shown[i], "o", markersize=3, color=PALETTE[i % len(PALETTE)])
        else:
            ax.text(0.5, 0.5, "no seed found it" if metric.endswith("first_found") else "not logged",
                    transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_yticks([])
        ax.set_xticks(range(len(names)))
        ticks = names
        if metric.endswith("first_found"):
            ticks = [f"{n}\n{len(s)}/{int(np.sum(~np.isnan(d)))}" for n, s, d in zip(names, shown, data)]
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(compact_count))
        ax.set_xticklabels(ticks, rotation=20 if max(map(len, names)) > 8 else 0)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_title(label_of(metric))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(f"{task}: final values over seeds")
    return fig


@styled
def budget_shares(groups: Sequence["Group"], n_areas: int) -> pd.DataFrame | None:
    """Median share of the final budget per phase (exploration, each area's
    exploitation) of each emitter-method group: one row per group label.

    Returns:
        The table, None when no group logged a budget split.
    """
    shares = {}
    for group in groups:
        splits = [budget_split(r.metrics, n_areas) for r in group.runs]
        finals = [s.iloc[-1] for s in splits if s is not None and len(s)]
        if not finals:
            continue
        frame = pd.DataFrame(finals).fillna(0.0)
        total = frame["evaluations"].where(frame["evaluations"] > 0)
        shares[group.label] = frame.drop(columns="evaluations").div(total, axis=0).median()
    if not shares:
        return None
    return pd.DataFrame(shares).T.fillna(0.0)


def plot_budget(groups: Sequence["Group"], n_areas: int, task: str) -> Figure | None:
    """Median (over seeds) share of the evaluations spent exploring and
    exploiting each reward area, one horizontal bar per emitter group.

    Args:
        groups: the task's groups; those whose runs log no exploration count
            (``explore_evaluations``, SERENE's) are left out.
        n_areas: reward areas of the task.
        task: its name (title).

    Returns:
        The figure, None when no group is an emitter method.
    """
    table = budget_shares(groups, n_areas)
    if table is None:
        return None
    fig = Figure(figsize=(6.4, 1.5 + 0.45 * len(table)), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    left = np.zeros(len(table))
    for column in table.columns:
        colour = budget_colour(column)
        values = table[column].to_numpy(np.float64)
        ax.barh(range(len(table)), values, left=left, color=colour, label=column, height=0.6)
        left += values
    ax.set_yticks(range(len(table)), table.index)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0))
    ax.set_xlabel("share of the evaluations (median over seeds)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title(f"{task}: exploration and exploitation per area")
    return fig

