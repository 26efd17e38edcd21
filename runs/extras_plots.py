"""Figures of an algorithm's extras (extras.npz, see `runs.extras`): SERENE's
reward archive on the task's map and its emitters over the run.

    fig = plot_reward_archive(spec, extras["reward_archive"]["gt_descriptor"],
                              extras["reward_archive"]["reward"])
    fig = plot_emitter_history(extras["emitters"], budget_split(metrics, n_areas=2))
    fig = plot_exploitation_payoff(exploitation_payoff(metrics, n_areas=2))

Same house style as `runs.plots` (`runs.plotstyle`); reward areas keep one
colour (`AREA_COLOURS`) across the emitter figure's panels.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from runs.curves import compact_count
from runs.extras import DISCARDED, NO_AREA as NO_AREA_INDEX, RUNNING, STAGNATED
from runs.plots import MUTED, _norm, descriptor_to_world, draw_task, map_legend
from runs.plotstyle import AREA_COLOURS, DPI, EXPLORATION, NO_AREA, styled

if TYPE_CHECKING:
    from tasks.spec import TaskSpec

__all__ = ["area_colour", "plot_emitter_history", "plot_exploitation_payoff", "plot_reward_archive"]

MAX_ZOOMS = 4  # zoom panels beside the map, one per reward area (none for more areas)
ZOOM_MARGIN = 1.3  # a zoom panel spans the disc's radius times this, each side of its centre
MIN_BAR = 0.003  # shortest emitter bar drawn, as a fraction of the x range (discarded ones are short)


def area_colour(area: int) -> str:
    """The colour of reward area `area` (-1: no area)."""
    return NO_AREA if area < 0 else AREA_COLOURS[area % len(AREA_COLOURS)]


@styled
def plot_reward_archive(
    spec: TaskSpec,
    gt_positions: np.ndarray,
    reward: np.ndarray,
    *,
    context: Optional[np.ndarray] = None,
    context_label: str = "novelty archive",
    start: Optional[Sequence[float]] = None,
    zoom: bool = True,
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
    title: Optional[str] = None,
) -> Figure:
    """The reward archive on the task's map, coloured by reward, with a zoom on
    each reward area beside it (up to `MAX_ZOOMS` areas).

    Args:
        spec: the task (walls, reward discs, world bounds, y direction).
        gt_positions: [N, >=2] ground-truth descriptors of the rewarded agents.
        reward: [N] their rewards (the best drawn on top).
        context: optional [M, >=2] ground-truth descriptors drawn small and
            grey underneath (e.g. the final novelty archive).
        context_label: legend entry of `context`.
        start: world (x, y) of the start, drawn as a star.
        zoom: add the zoom panels.
        vmin: bottom of the colour scale (default: smallest reward).
        vmax: top of the colour scale (default: largest reward).
        title: title of the map (default counts the agents).

    Returns:
        The figure.

    Raises:
        ValueError: positions and rewards of different lengths.
    """
    xy = descriptor_to_world(spec, gt_positions) if np.size(gt_positions) else np.zeros((0, 2))
    values = np.asarray(reward, np.float64).reshape(-1)
    if len(values) != len(xy):
        raise ValueError(f"{len(xy)} positions but {len(values)} rewards")
    ctx = descriptor_to_world(spec, context) if context is not None and np.size(context) else np.zeros((0, 2))
    areas = tuple(getattr(spec, "reward_areas", ()))
    zooms = zoom and 0 < len(areas) <= MAX_ZOOMS
    fig = Figure(figsize=(7.2, 4.6) if zooms else (5.2, 4.4), dpi=DPI, layout="constrained")
    if zooms:
        grid = fig.add_gridspec(len(areas), 2, width_ratios=(3.3, 1.0))
        main = fig.add_subplot(grid[:, 0])
        panels = [fig.add_subplot(grid[i, 1]) for i in range(len(areas))]
    else:
        main, panels = fig.add_subplot(), []
    shown = np.isfinite(values) & np.all(np.isfinite(xy), axis=1)
    order = np.flatnonzero(shown)[np.argsort(values[shown], kind="stable")]
    finite = values[order]
    norm = _norm(vmin if vmin is not None else (finite.min() if finite.size else 0.0),
                 vmax if vmax is not None else (finite.max() if finite.size else 1.0))
    size = float(np.clip(2400.0 / max(len(order), 1), 4.0, 30.0))

    draw_task(main, spec, start=start)
    points = _scatter(main, xy[order], finite, ctx, size, norm)
    main.set_title(title or f"reward archive: {len(order):,} rewarded agents")
    map_legend(main, start=start is not None, muted_label=context_label if len(ctx) else None)
    for i, (ax, area) in enumerate(zip(panels, areas)):
        draw_task(ax, spec, fill_areas=True)
        for text in list(ax.texts):  # the "area i" labels: the panel's title says it
            text.remove()
        _scatter(ax, xy[order], finite, ctx, size * 2.0, norm)
        (cx, cy), half = area.center, ZOOM_MARGIN * area.radius
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(*((cy + half, cy - half) if getattr(spec, "image_y_down", False) else (cy - half, cy + half)))
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=7, length=2, pad=1)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(3))
        ax.yaxis.set_major_locator(ticker.MaxNLocator(3))
        inside = np.sum(np.hypot(*(xy[order] - (cx, cy)).T) <= area.radius)
        ax.set_title(f"area {i}: {inside:,}", fontsize=9, pad=3)
    fig.colorbar(points, ax=[main, *panels], label="reward", shrink=0.85, pad=0.02)
    return fig


def _scatter(ax, xy, values, context, size, norm):
    if len(context):
        ax.scatter(*context.T, s=size * 0.35, c=MUTED, linewidths=0, alpha=0.6, zorder=2, rasterized=True)
    return ax.scatter(*xy.T, c=values, s=size, cmap="viridis", norm=norm, linewidths=0.25,
                      edgecolors="#00000055", zorder=3, rasterized=True)


@styled
def plot_emitter_history(
    emitters: Mapping[str, np.ndarray],
    split: Optional[pd.DataFrame] = None,
    *,
    evaluations: Optional[float] = None,
) -> Figure:
    """SERENE's emitters over the run, and how the budget was spent.

    Top: one horizontal bar per emitter from its creation to its end (in
    evaluations), grouped and coloured by its ancestor's reward area, ordered
    by creation within an area; faint bars were discarded after their
    bootstrap, solid ones were promoted and stagnated, a triangle marks the
    ones still running at the end. Bottom: cumulative evaluations spent on
    exploration and on exploitation of each area (`runs.extras.budget_split`).

    Args:
        emitters: the "emitters" columns (at least created, ended, outcome;
            area optional).
        split: the budget split (`runs.extras.budget_split`); None draws the
            emitters only.
        evaluations: right end of the x axis (default: the data's).

    Returns:
        The figure.
    """
    created = np.asarray(emitters.get("created", ()), np.float64).reshape(-1)
    ended = np.asarray(emitters.get("ended", created), np.float64).reshape(-1)
    outcome = np.asarray(emitters.get("outcome", np.zeros(len(created))), int).reshape(-1)
    area = np.asarray(emitters.get("area", np.full(len(created), NO_AREA_INDEX)), int).reshape(-1)
    area = np.where(area >= 0, area, NO_AREA_INDEX)
    n = len(created)
    right = max([v for v in (evaluations, ended.max(initial=0.0),
                             split["evaluations"].max() if split is not None and len(split) else None) if v] or [1.0])

    rows = 2 if split is not None else 1
    fig = Figure(figsize=(7.2, 5.8 if rows == 2 else 3.8), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=(1.6, 1.0)[:rows])[:, 0]
    top = axes[0]
    _emitter_bars(top, created, ended, outcome, area, right)
    promoted = int(np.isin(outcome, (STAGNATED, RUNNING)).sum())
    top.set_title(f"{n:,} emitters: {promoted:,} promoted ({int((outcome == STAGNATED).sum()):,} stagnated, "
                  f"{int((outcome == RUNNING).sum()):,} running), {int((outcome == DISCARDED).sum()):,} discarded")
    if split is not None:
        _budget_panel(axes[1], split)
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(compact_count))
        ax.set_xlim(0, right * 1.01)
    axes[-1].set_xlabel("evaluations (episodes)")
    return fig


def _emitter_bars(ax, created, ended, outcome, area, right) -> None:
    """One bar per emitter, areas as bands (area order, creation order within)."""
    n = len(created)
    if n == 0:
        ax.text(0.5, 0.5, "no emitter was created", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_yticks([])
        return
    order = np.lexsort((created, np.where(area < 0, np.iinfo(int).max, area)))
    groups = list(dict.fromkeys(area[order].tolist()))
    gap = max(1.0, 0.04 * n)
    y = np.empty(n)
    ticks, labels, at = [], [], 0.0
    for g in groups:
        members = order[area[order] == g]
        y[members] = at + np.arange(len(members))
        ticks.append(at + (len(members) - 1) / 2)
        labels.append(f"{'no area' if g < 0 else f'area {g}'}\n({len(members):,})")
        at += len(members) + gap
    height_pt = 72 * ax.get_position().height * ax.get_figure().get_figheight()
    width = float(np.clip(0.8 * height_pt / max(at, 1), 0.5, 7.0))
    stop = np.maximum(ended, created + MIN_BAR * right)
    colours = np.array([area_colour(int(a)) for a in area])
    for code, alpha in ((DISCARDED, 0.35), (STAGNATED, 1.0), (RUNNING, 1.0)):
        rows = outcome == code
        if rows.any():
            ax.hlines(y[rows], created[rows], stop[rows], colors=colours[rows], linewidth=width, alpha=alpha,
                      capstyle="butt", rasterized=n > 200)
    other = ~np.isin(outcome, (DISCARDED, STAGNATED, RUNNING))
    if other.any():  # unknown outcome codes: drawn, but dashed
        ax.hlines(y[other], created[other], stop[other], colors=colours[other], linewidth=width, linestyles=":")
    running = outcome == RUNNING
    if running.any():
        ax.scatter(stop[running], y[running], marker=">", s=float(np.clip(width * 6, 6, 24)), c=colours[running],
                   edgecolors="black", linewidths=0.4, zorder=3, clip_on=False)
    ax.set_ylim(at - gap + 0.5, -0.5 - 0.01 * at)  # first created at the top
    ax.set_yticks(ticks, labels)
    ax.tick_params(axis="y", length=0)
    ax.set_ylabel("emitters")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [
        Line2D([], [], color="0.25", linewidth=4, alpha=0.35, label="discarded"),
        Line2D([], [], color="0.25", linewidth=4, label="stagnated"),
        Line2D([], [], color="0.25", linewidth=4, marker=">", markersize=6, markeredgecolor="black",
               markeredgewidth=0.4, label="running"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              title="outcome", title_fontsize=9, alignment="left")


def _budget_panel(ax, split: pd.DataFrame) -> None:
    """Stacked cumulative evaluations: exploration, then each area's exploitation."""
    x = split["evaluations"].to_numpy(np.float64)
    columns = ["exploration"] + [c for c in split.columns if c.startswith("area ")] + (
        ["no area"] if "no area" in split else [])
    colours = [EXPLORATION] + [area_colour(int(c.split()[1])) for c in columns[1:] if c != "no area"] + (
        [NO_AREA] if "no area" in split else [])
    values = [split[c].to_numpy(np.float64) for c in columns]
    labels = ["exploration"] + [f"exploitation, {c}" for c in columns[1:]]
    ax.stackplot(x, values, colors=colours, labels=labels, linewidth=0.0)
    total = np.sum(values, axis=0)
    ax.plot(x, total, color="0.2", linewidth=0.8)
    ax.set_ylim(0, max(float(total.max(initial=0.0)), 1.0) * 1.04)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(compact_count))
    ax.set_ylabel("evaluations spent")
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if len(x) and total[-1] > 0:
        shares = [v[-1] / total[-1] for v in values]
        labels = [f"{label} ({100 * s:.0f}%)" for label, s in zip(labels, shares)]
        handles = ax.get_legend_handles_labels()[0]
        ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  title="budget at the end", title_fontsize=9, alignment="left")
    ax.set_title("budget split")


@styled
def plot_exploitation_payoff(payoff: pd.DataFrame, *, evaluations: Optional[float] = None) -> Figure:
    """Per reward area, whether its emitters pay off: the best reward the
    emitters reached in the area and the best that exploration (novelty
    search) reached, against the run's evaluations, over the evaluations the
    emitters spent on the area (filled, right axis).

    Args:
        payoff: `runs.extras.exploitation_payoff`.
        evaluations: right end of the x axis (default: the data's).

    Returns:
        The figure: one panel per area, side by side (two rows beyond three).
    """
    areas = sorted(int(a) for a in payoff["area"].unique())
    cols = min(len(areas), 3)
    rows = -(-len(areas) // cols)
    fig = Figure(figsize=(3.3 * cols + 0.4, 3.1 * rows + 0.3), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True).reshape(-1)
    right = evaluations or float(np.nanmax(payoff["evaluations"], initial=1.0))
    for ax, area in zip(axes, areas):
        data = payoff[payoff["area"] == area].sort_values("evaluations")
        x = data["evaluations"].to_numpy(np.float64)
        colour = area_colour(area)
        budget = ax.twinx()
        budget.fill_between(x, data["exploit_evaluations"].to_numpy(np.float64), color=colour, alpha=0.18,
                            linewidth=0, step="post")
        budget.set_ylim(0, max(float(data["exploit_evaluations"].max()), 1.0) * 1.05)
        budget.yaxis.set_major_formatter(ticker.FuncFormatter(compact_count))
        budget.tick_params(axis="y", labelsize=8, colors=colour)
        budget.spines[["top"]].set_visible(False)
        if area == areas[-1]:
            budget.set_ylabel("evaluations of its emitters")
        ax.set_zorder(budget.get_zorder() + 1)  # the reward lines over the budget fill
        ax.patch.set_visible(False)
        ax.step(x, data["emitters_best"], where="post", color=colour, linewidth=1.8, label="emitters")
        ax.step(x, data["explore_best"], where="post", color="0.35", linewidth=1.2, linestyle="--",
                label="exploration")
        emitters, explore = _last(data["emitters_best"]), _last(data["explore_best"])
        ax.set_title(f"area {area}: " + (f"emitters {emitters:.3f}" if emitters is not None else "no emitter in it")
                     + (f", exploration {explore:.3f}" if explore is not None else ""), fontsize=9)
        finite = data[["emitters_best", "explore_best"]].to_numpy(np.float64)
        finite = finite[np.isfinite(finite)]
        low = float(finite.min()) if finite.size else 0.0
        ax.set_ylim(max(0.0, low - 0.05 * (1.0 - low) - 0.01), 1.0 + 0.02 * (1.0 - low) + 0.002)
        ax.set_xlim(0, right * 1.01)
        ax.grid(True, color="0.9", linewidth=0.6)
        ax.spines[["top"]].set_visible(False)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(compact_count))
        ax.set_xlabel("evaluations (episodes)")
    for ax in axes[len(areas):]:
        ax.set_visible(False)
    axes[0].set_ylabel("best reward in the area")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("exploitation: best reward per area (lines) and evaluations spent by its emitters (fill, right)",
                 fontsize=10)
    return fig


def _last(values: pd.Series) -> Optional[float]:
    finite = values.to_numpy(np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite[-1]) if finite.size else None
