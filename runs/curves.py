"""Curves of logged metrics over evaluations, for one run or many.

    plot_curves(metrics, ["coverage"])                       # one run
    plot_curves([ns0, ns1, me0, me1], "coverage",
                labels=["NS", "NS", "ME", "ME"], band="iqr")  # seeds aggregated

Runs sharing a label are one group (e.g. the seeds of an algorithm): drawn as
one line per run, or as a centre line and a shaded band when `band` is given.
Runs log at different x values, so a group is resampled on the union of its
x values by linear interpolation, never past a run's last logged point.
"""
from __future__ import annotations

import warnings
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from runs.plotstyle import PALETTE, new_axes, styled

BANDS = ("std", "sem", "minmax", "iqr")
LINESTYLES = ("-", "--", ":", "-.")
CURVE_SIZE = (5.2, 3.4)
X_LABELS = {"evaluations": "evaluations (episodes)", "wall_time": "wall time (s)", "generation": "generation"}


def compact_count(value: float, _position=None) -> str:
    """Tick label of a count: 1500 -> '1.5k', 2e6 -> '2M'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


def resample(frames: Sequence[pd.DataFrame], column: str, x: str, fill_value=None, hold: bool = False):
    """The runs' `column` on the union of their `x` values.

    Args:
        frames: runs holding both columns.
        column: y column; +-inf counts as missing.
        x: x column.
        fill_value: replaces missing y values before resampling (e.g. 0 for
            the max reward of an area not found yet); None leaves gaps.
        hold: keep each logged value until the next one (running maxima)
            instead of interpolating linearly.

    Returns:
        (grid [G], values [R, G]) with NaN where a run has no value.
    """
    grid = np.unique(np.concatenate([f[x].to_numpy(np.float64) for f in frames]))
    grid = grid[np.isfinite(grid)]
    values = np.full((len(frames), len(grid)), np.nan)
    for row, frame in enumerate(frames):
        xs = frame[x].to_numpy(np.float64)
        ys = frame[column].to_numpy(np.float64)
        ys = np.where(np.isfinite(ys), ys, np.nan if fill_value is None else fill_value)
        keep = np.isfinite(xs) & np.isfinite(ys)
        if keep.any():
            xs, ys = xs[keep], ys[keep]
            order = np.argsort(xs, kind="stable")
            xs, ys = xs[order], ys[order]
            inside = (grid >= xs[0]) & (grid <= xs[-1])
            if hold:
                values[row, inside] = ys[np.searchsorted(xs, grid[inside], side="right") - 1]
            else:
                values[row, inside] = np.interp(grid[inside], xs, ys)
    return grid, values


def aggregate(values: np.ndarray, band: str):
    """(centre, low, high) over runs (axis 0) ignoring NaN: mean +- std or
    standard error, mean within min..max, or median within the quartiles."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)} or None, got {band!r}")
    with warnings.catch_warnings():  # all-NaN columns (no run there yet) stay NaN quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        if band == "iqr":
            low, centre, high = np.nanpercentile(values, [25, 50, 75], axis=0)
            return centre, low, high
        centre = np.nanmean(values, axis=0)
        if band == "minmax":
            return centre, np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        spread = np.nanstd(values, axis=0)
        if band == "sem":
            spread = spread / np.sqrt(np.maximum(np.sum(np.isfinite(values), axis=0), 1))
        return centre, centre - spread, centre + spread


@styled
def plot_curves(
    runs: pd.DataFrame | Sequence[pd.DataFrame],
    columns: str | Sequence[str],
    *,
    x: str = "evaluations",
    labels: Optional[Sequence[str]] = None,
    band: Optional[str] = None,
    fill_value: Optional[float] = None,
    column_labels: Optional[Mapping[str, str]] = None,
    xlabel: Optional[str] = None,
    ylabel: Optional[str] = None,
    percent: bool = False,
    ylim: Optional[tuple[float, float]] = None,
    mark_first: bool = False,
    steps: bool = False,
    title: Optional[str] = None,
    ax=None,
) -> Figure:
    """Metric curves: one line per column (one group) or per group and
    column (colour = group, line style = column).

    Args:
        runs: one metrics DataFrame, or several (seeds, algorithms).
        columns: column(s) to plot; columns a run lacks are skipped.
        x: x column, "evaluations" by default.
        labels: one label per run; runs with the same label form a group.
            Default: each run is its own group, unlabelled when alone.
        band: None (every run drawn) or how a group is summarised: "std"
            (mean +- std), "sem" (mean +- standard error), "minmax" (mean,
            min..max) or "iqr" (median, quartiles).
        fill_value: value for missing/infinite y (see `resample`).
        column_labels: legend names of the columns (default: the names).
        xlabel: x axis label (default from `x`).
        ylabel: y axis label, with units.
        percent: y values are fractions; show them as percentages.
        ylim: y limits.
        mark_first: mark each line's first value with a dot (e.g. when a
            reward area was found; also shows a line of a single point).
        steps: draw steps that hold each logged value until the next one
            (right for running maxima), instead of straight segments.
        title: axes title.
        ax: axes to draw into; a new figure when None.

    Returns:
        The figure.

    Raises:
        ValueError: unknown band, or labels not matching the runs.
    """
    frames = [runs] if isinstance(runs, pd.DataFrame) else list(runs)
    columns = [columns] if isinstance(columns, str) else list(columns)
    if band is not None and band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)} or None, got {band!r}")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"{len(labels)} labels for {len(frames)} runs")
    names = list(labels) if labels is not None else [f"run {i}" if len(frames) > 1 else "" for i in range(len(frames))]
    groups = list(dict.fromkeys(names))
    column_labels = dict(column_labels or {})
    fig, ax = new_axes(ax, CURVE_SIZE)
    drawstyle = "steps-post" if steps else "default"
    drawn = 0
    for g, group in enumerate(groups):
        for c, column in enumerate(columns):
            members = [f for f, n in zip(frames, names) if n == group and column in f and x in f]
            if not members:
                continue
            colour = PALETTE[(g if len(groups) > 1 else c) % len(PALETTE)]
            style = LINESTYLES[c % len(LINESTYLES)] if len(groups) > 1 else "-"
            legend = " · ".join(s for s in (group, column_labels.get(column, column) if len(columns) > 1 else "") if s)
            grid, values = resample(members, column, x, fill_value, hold=steps)
            if band is not None and len(members) > 1:
                centre, low, high = aggregate(values, band)
                ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0, step="post" if steps else None)
                ax.plot(grid, centre, color=colour, linestyle=style, linewidth=1.8, label=legend or None,
                        drawstyle=drawstyle)
                rows = [centre]
            else:
                rows = values
                for r, row in enumerate(values):
                    ax.plot(grid, row, color=colour, linestyle=style, linewidth=1.6 if len(members) == 1 else 1.0,
                            alpha=1.0 if len(members) == 1 else 0.6, label=(legend or None) if r == 0 else None,
                            drawstyle=drawstyle)
            if mark_first:
                for row in rows:
                    first = np.flatnonzero(np.isfinite(row))[:1]
                    ax.plot(grid[first], row[first], marker="o", markersize=4.5, color=colour, linestyle="none")
            drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, f"no data ({', '.join(columns)})", transform=ax.transAxes, ha="center", va="center",
                color="0.4")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(xlabel or X_LABELS.get(x, x))
    if ylabel:
        ax.set_ylabel(ylabel)
    if x in ("evaluations", "generation"):
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(compact_count))
    if percent:
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0))
    if ylim is not None:
        ax.set_ylim(*ylim)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    if title:
        ax.set_title(title)
    return fig
