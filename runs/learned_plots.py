"""Figures of a run's behaviour space and of its replayed archive, for
`divergent inspect`:

- `plot_latent`: the archive in the representation's space (PCA to 2-D),
  coloured by ground-truth final x, final y and reward;
- `plot_reconstructions`: archived final views above the autoencoder's
  reconstructions, with each one's reconstruction error;
- `plot_surprise`: the survivors' mean surprise over evaluations;
- `plot_time_coverage`: coverage of the grid by the archive's positions at
  each time of the episode;
- `mark_refits`: the representation's refits as vertical lines on a curve.

House style of `runs.plotstyle`; each returns a `matplotlib.figure.Figure`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from runs.curves import plot_curves
from runs.plotstyle import DPI, EMPTY, PALETTE, STYLE, new_axes, styled

REFIT = "#7f7f7f"
MUTED = "#b0b0b0"


def mark_refits(ax, refits: Sequence[float], *, legend: bool = True) -> None:
    """Dashed grey vertical lines at the x values of the representation's
    refits, behind the curves, with one "refit" legend entry."""
    refits = np.asarray(refits, np.float64)
    refits = refits[np.isfinite(refits)]
    if not len(refits):
        return
    for x in refits:
        ax.axvline(x, color=REFIT, linestyle=(0, (3, 3)), linewidth=0.8, alpha=0.8, zorder=0.5)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color=REFIT, linestyle=(0, (3, 3)), linewidth=0.8))
        labels.append(f"refit ({len(refits)})")
        ax.legend(handles, labels)


@styled
def plot_latent(points: np.ndarray, axis_labels: Sequence[str], world_xy: np.ndarray, reward: np.ndarray, *,
                units: str = "world units", representation: str = "", sparse: bool = True) -> Figure:
    """The archive in the representation's space, three panels coloured by
    ground-truth final x, final y and reward.

    Args:
        points: [N, 2] descriptors projected to 2-D (`runs.learned.latent_2d`).
        axis_labels: labels of the two axes.
        world_xy: [N, 2] world (x, y) of each policy's final position.
        reward: [N] rewards; zero rewards are drawn small and grey.
        units: world units, for the colourbars.
        representation: the representation's name, for the title.
        sparse: rewards are in [0, 1] (the colour scale spans it).
    """
    points = np.asarray(points, np.float64)
    world_xy = np.asarray(world_xy, np.float64)
    reward = np.asarray(reward, np.float64)
    fig = Figure(figsize=(13.2, 4.0), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, 3)
    size = float(np.clip(2400.0 / max(len(points), 1), 3.0, 30.0))
    panels = ((world_xy[:, 0], f"final x ({units})", "cividis", None),
              (world_xy[:, 1], f"final y ({units})", "cividis", None),
              (reward, "reward", "viridis", (0.0, 1.0) if sparse else None))
    for ax, (values, label, cmap, limits) in zip(axes, panels):
        muted = (values == 0) if label == "reward" else np.zeros(len(values), bool)
        if muted.any():
            ax.scatter(*points[muted].T, s=size * 0.6, c=MUTED, linewidths=0, alpha=0.7, zorder=2,
                       rasterized=True, label="no reward")
        shown = ~muted & np.isfinite(values)
        order = np.flatnonzero(shown)[np.argsort(values[shown], kind="stable")]
        lo, hi = limits or ((values[order].min(), values[order].max()) if len(order) else (0.0, 1.0))
        norm = mcolors.Normalize(lo, hi) if hi > lo else mcolors.Normalize(lo - 0.5, hi + 0.5)
        dots = ax.scatter(*points[order].T, c=values[order], s=size, cmap=cmap, norm=norm, linewidths=0.25,
                          edgecolors="#00000055", zorder=3, rasterized=True)
        fig.colorbar(dots, ax=ax, label=label, shrink=0.9, pad=0.02)
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        ax.set_title(f"coloured by {label.split(' (')[0]}")
        if muted.any():
            ax.legend(loc="best", markerscale=1.5)
    name = f"{representation} space" if representation else "behaviour space"
    fig.suptitle(f"final archive in the {name}: {len(points)} policies", fontsize=STYLE["axes.titlesize"])
    return fig


@styled
def plot_reconstructions(views: np.ndarray, reconstructions: np.ndarray, errors: np.ndarray, *,
                         labels: Optional[Sequence[str]] = None) -> Figure:
    """Archived final views (top row) above their reconstructions (bottom
    row), each column titled with its reconstruction error (MSE). With
    several frames per policy (the autoencoder's `frames`), one row per
    policy instead: its frames side by side in time order (the final view on
    the right), and next to them their reconstructions.

    Args:
        views: [K, H, W, 3F] uint8 (or float in [0, 1]) views, F frames
            stacked as channels (`representations.autoencoder.stack_frames`).
        reconstructions: [K, H, W, 3F] float in [0, 1].
        errors: [K] mean squared reconstruction errors.
        labels: optional [K] captions: the final position (x, y).
    """
    views = np.asarray(views)
    views = views / 255.0 if views.dtype == np.uint8 else np.asarray(views, np.float64)
    frames = max(views.shape[-1] // 3, 1) if views.ndim == 4 else 1
    views, reconstructions = (_side_by_side(np.asarray(x, np.float64), frames) for x in (views, reconstructions))
    k = len(views)
    where = ", titled by final position (x, y)" if labels is not None else ""
    if frames == 1:
        fig = Figure(figsize=(max(1.45 * k, 4.0) + 0.8, 3.6), dpi=DPI, layout="constrained")
        axes = np.asarray(fig.subplots(2, max(k, 1), squeeze=False))
        grid = [(axes[0, i], axes[1, i]) for i in range(axes.shape[1])]
    else:
        fig = Figure(figsize=(2 * 0.95 * frames + 1.2, 0.95 * max(k, 1) + 1.0), dpi=DPI, layout="constrained")
        axes = np.asarray(fig.subplots(max(k, 1), 2, squeeze=False))
        grid = [(axes[i, 0], axes[i, 1]) for i in range(axes.shape[0])]
    for i, pair in enumerate(grid):
        for ax, images in zip(pair, (views, reconstructions)):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= k:
                ax.set_axis_off()
                continue
            ax.imshow(np.clip(images[i], 0.0, 1.0), interpolation="nearest")
            for spine in ax.spines.values():
                spine.set_color(EMPTY)
        if i >= k:
            continue
        caption = labels[i] if labels is not None else f"#{i + 1}"
        if frames == 1:
            pair[0].set_title(caption, fontsize=8)
            pair[1].set_xlabel(f"MSE {errors[i]:.4f}", fontsize=8)
        else:
            pair[0].set_ylabel(caption, fontsize=8)
            pair[1].set_ylabel(f"MSE {errors[i]:.4f}", fontsize=8)
    if frames == 1:
        axes[0, 0].set_ylabel("final view")
        axes[1, 0].set_ylabel("reconstruction")
        what = "final views"
    else:
        axes[0, 0].set_title(f"{frames} frames, final on the right", fontsize=9)
        axes[0, 1].set_title("reconstruction", fontsize=9)
        what = f"episodes ({frames} frames each)"
        where = ",\nrows by final position (x, y)" if labels is not None else ""
    fig.suptitle(f"autoencoder reconstructions of {k} archived {what}{where}; "
                 f"mean MSE {np.mean(errors):.4f}", fontsize=STYLE["axes.titlesize"])
    return fig


def _side_by_side(images: np.ndarray, frames: int) -> np.ndarray:
    """[K, H, W, 3F] -> [K, H, F * W + F - 1, 3]: the frames left to right in
    time order, one white pixel column between two."""
    if frames == 1:
        return images
    k, h, w, _ = images.shape
    out = np.ones((k, h, frames * w + frames - 1, 3))
    for f in range(frames):
        out[:, :, f * (w + 1):f * (w + 1) + w] = images[..., 3 * f:3 * f + 3]
    return out


@styled
def plot_surprise(metrics: pd.DataFrame, x: str, refits: Sequence[float] = ()) -> Figure:
    """`mean_surprise` (the survivors' mean reconstruction error) over
    evaluations, with the refits marked."""
    fig = plot_curves(metrics, ["mean_surprise"], x=x, ylabel="mean surprise (reconstruction MSE)",
                      title="surprise of the survivors")
    ax = fig.axes[0]
    ax.set_ylim(bottom=0.0)
    mark_refits(ax, refits)
    return fig


@styled
def plot_time_coverage(steps: np.ndarray, coverage: np.ndarray, *, episode_length: int,
                       grid_shape: Sequence[int] = (50, 50), archive_size: Optional[int] = None,
                       ax=None) -> Figure:
    """Coverage of the grid by the replayed archive's positions at each
    recorded time step.

    Args:
        steps: [T] episode steps (1-based) of the recorded positions.
        coverage: [T] coverage fractions.
        episode_length: steps of a full episode (the x range).
        grid_shape: the coverage grid, for the label.
        archive_size: policies replayed, for the title.
        ax: axes to draw into; a new figure when None.
    """
    steps = np.asarray(steps, np.float64)
    coverage = np.asarray(coverage, np.float64)
    fig, ax = new_axes(ax, (5.6, 3.6))
    ax.plot(steps, 100 * coverage, color=PALETTE[0], linewidth=1.8, label="coverage at time t")
    mean = float(np.mean(coverage)) if len(coverage) else 0.0
    ax.axhline(100 * mean, color=PALETTE[1], linestyle="--", linewidth=1.0,
               label=f"mean over the episode ({100 * mean:.1f}%)")
    ax.set_xlim(0, max(episode_length, 1))
    ax.set_ylim(bottom=0.0, top=max(100 * float(np.max(coverage, initial=0.0)) * 1.12, 1.0))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.set_xlabel(f"time step (of {episode_length})")
    ax.set_ylabel(f"coverage ({grid_shape[0]}×{grid_shape[1]} cells)")
    who = f"{archive_size} archived policies" if archive_size is not None else "the archive"
    final = 100 * float(coverage[-1]) if len(coverage) else 0.0
    ax.set_title(f"time coverage of {who}: final {final:.1f}%")
    ax.grid(alpha=0.25, linewidth=0.6)
    ax.legend(loc="lower right")
    return fig
