"""Figures of a run on its task: the map with the archive on it, the coverage
cells, grid-archive heatmaps; and (re-exported) curves over evaluations.

    fig = plot_archive_map(task.spec, archive["gt_descriptor"], archive["reward"],
                           colour_label="reward")
    save(fig, "plots/archive_reward.png")

Every function returns a `matplotlib.figure.Figure` (see `runs.plotstyle` for
the house style: fixed dpi, viridis/cividis, Okabe-Ito lines, light grey for
empty cells) and accepts ``ax=`` to draw into a panel of a larger figure.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from matplotlib import patches, ticker
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from runs.curves import plot_curves
from runs.plotstyle import AREA, DPI, EMPTY, WALL, new_axes, panels, save, styled

if TYPE_CHECKING:  # importing `tasks` pulls in brax (seconds); plotting needs only the attributes
    from tasks.spec import TaskSpec

__all__ = [
    "DPI",
    "MUTED",
    "UNITS",
    "as_points",
    "cell_counts",
    "descriptor_to_world",
    "draw_task",
    "label_anchors",
    "panels",
    "plot_archive_map",
    "plot_coverage_grid",
    "plot_curves",
    "plot_grid_heatmap",
    "save",
    "world_to_descriptor",
]
MUTED = "#b0b0b0"  # points outside every reward area: present but quiet
# Units of world coordinates, for axis labels; other tasks say "world units";
# "" is the bare spec of a task that could not be built (descriptor space).
UNITS = {"hardmaze": "px", "redundant_arm": "arm lengths", "curling": "table units", "": "descriptor units"}


def as_points(points) -> np.ndarray:
    """[N, d] float64 view of points given as [N, d] or one [d] point."""
    points = np.asarray(points, np.float64)
    return points.reshape(-1, points.shape[-1]) if points.ndim else points.reshape(1, 1)


def descriptor_to_world(spec: TaskSpec, descriptors: np.ndarray) -> np.ndarray:
    """Inverse of `TaskSpec.world_to_descriptor`: ground-truth descriptors
    [N, >=2] to world (x, y) [N, 2] (only the first two entries are used)."""
    d = as_points(descriptors)
    lo_w, hi_w = np.asarray(spec.world_low, np.float64), np.asarray(spec.world_high, np.float64)
    lo_d = np.asarray(spec.descriptor_low[:2], np.float64)
    hi_d = np.asarray(spec.descriptor_high[:2], np.float64)
    return lo_w + (d[:, :2] - lo_d) / (hi_d - lo_d) * (hi_w - lo_w)


def world_to_descriptor(spec: TaskSpec, xy: np.ndarray) -> np.ndarray:
    """World (x, y) [N, 2] to the first two descriptor entries [N, 2]."""
    lo_w, hi_w = np.asarray(spec.world_low, np.float64), np.asarray(spec.world_high, np.float64)
    lo_d = np.asarray(spec.descriptor_low[:2], np.float64)
    hi_d = np.asarray(spec.descriptor_high[:2], np.float64)
    return lo_d + (as_points(xy)[:, :2] - lo_w) / (hi_w - lo_w) * (hi_d - lo_d)


def draw_task(ax, spec: TaskSpec, *, start: Optional[Sequence[float]] = None, fill_areas: bool = True):
    """Draws the static task on `ax`: walls, labelled reward discs, the start,
    world bounds, equal aspect and axis labels (y down for maze bitmaps).

    Args:
        ax: matplotlib axes.
        spec: the task.
        start: world (x, y) of the start, drawn as a star; None to omit.
        fill_areas: fill the reward discs (off when they would hide data).
    """
    (x0, y0), (x1, y1) = spec.world_low, spec.world_high
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if getattr(spec, "image_y_down", False):
        ax.invert_yaxis()
    ax.set_aspect("equal")
    unit = UNITS.get(getattr(spec, "name", ""), "world units")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    walls = np.asarray(getattr(spec, "walls", ()), np.float64).reshape(-1, 4)
    if len(walls):
        segments = walls.reshape(-1, 2, 2)
        # A white halo under all walls keeps them visible over dark cells and
        # points; drawn as its own layer so it never cuts across a junction.
        ax.add_collection(LineCollection(segments, colors="white", linewidths=4.4, capstyle="round", zorder=4))
        ax.add_collection(LineCollection(segments, colors=WALL, linewidths=2.6, capstyle="round", zorder=4.1))
    for i, (area, anchor) in enumerate(zip(getattr(spec, "reward_areas", ()), label_anchors(spec))):
        (cx, cy), r = area.center, area.radius
        ax.add_patch(patches.Circle(
            (cx, cy), r, facecolor=mcolors.to_rgba(AREA, 0.16 if fill_areas else 0.0),
            edgecolor=AREA, linewidth=1.4, zorder=1))
        x, y, ha, va = anchor
        ax.text(x, y, f"area {i}", ha=ha, va=va, fontsize=8.5, color=AREA, fontweight="bold", zorder=6,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))
    if start is not None:
        ax.plot(*np.asarray(start, float)[:2], **START, linestyle="none", zorder=7)


START = dict(marker="*", markersize=13, markerfacecolor="white", markeredgecolor="black", markeredgewidth=1.0)
# Rough size of an "area i" label as a fraction of the world (8.5 pt bold on a
# ~3.7 inch map), used to keep labels off other discs and inside the world.
LABEL_SIZE = (0.13, 0.05)


def label_anchors(spec: TaskSpec) -> list[tuple[float, float, str, str]]:
    """(x, y, ha, va) of each reward area's label: above its disc on screen,
    else below, right or left, whichever first stays inside the world and
    clear of the other discs and of the labels placed before it."""
    (x0, y0), (x1, y1) = spec.world_low, spec.world_high
    w, h = LABEL_SIZE[0] * (x1 - x0), LABEL_SIZE[1] * (y1 - y0)
    up = -1.0 if getattr(spec, "image_y_down", False) else 1.0
    areas = tuple(getattr(spec, "reward_areas", ()))
    placed, anchors = [], []
    for i, area in enumerate(areas):
        options = list(zip(_label_box(area, w, h, up, x1 - x0), _anchors(area, up, x1 - x0)))
        choice = options[0]
        for box, anchor in options:
            inside = box[0] >= x0 and box[1] >= y0 and box[2] <= x1 and box[3] <= y1
            clear = not any(_rect_hits_disc(box, a) for j, a in enumerate(areas) if j != i)
            if inside and clear and not any(_rects_overlap(box, p) for p in placed):
                choice = (box, anchor)
                break
        placed.append(choice[0])
        anchors.append(choice[1])
    return anchors


def _anchors(area, up, width):
    (cx, cy), r = area.center, area.radius
    pad = 0.01 * width
    return [(cx, cy + up * (r + pad), "center", "bottom"), (cx, cy - up * (r + pad), "center", "top"),
            (cx + r + pad, cy, "left", "center"), (cx - r - pad, cy, "right", "center")]


def _label_box(area, w, h, up, width):
    """Boxes (xmin, ymin, xmax, ymax) of the label candidates of `_anchors`."""
    (cx, cy), r = area.center, area.radius
    near = r + 0.01 * width
    ys = sorted((cy + up * near, cy + up * (near + h))), sorted((cy - up * near, cy - up * (near + h)))
    return [(cx - w / 2, ys[0][0], cx + w / 2, ys[0][1]), (cx - w / 2, ys[1][0], cx + w / 2, ys[1][1]),
            (cx + near, cy - h / 2, cx + near + w, cy + h / 2), (cx - near - w, cy - h / 2, cx - near, cy + h / 2)]


def _rect_hits_disc(box, area) -> bool:
    (cx, cy), r = area.center, area.radius
    nx, ny = min(max(cx, box[0]), box[2]), min(max(cy, box[1]), box[3])
    return (nx - cx) ** 2 + (ny - cy) ** 2 < r**2


def _rects_overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def map_legend(ax, *, start: bool, muted_label: Optional[str] = None) -> None:
    """Legend of the map's markers, under the axes so it never hides data."""
    handles = []
    if start:
        handles.append(Line2D([], [], **START, linestyle="none", label="start"))
    if muted_label:
        handles.append(Line2D([], [], marker="o", markersize=5, color=MUTED, linestyle="none", label=muted_label))
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=len(handles),
                  handletextpad=0.3, columnspacing=1.5, borderaxespad=0.0)


@styled
def plot_archive_map(
    spec: TaskSpec,
    gt_positions: np.ndarray,
    colour_values: np.ndarray,
    *,
    colour_label: str,
    ax=None,
    world: bool = False,
    start: Optional[Sequence[float]] = None,
    muted: Optional[np.ndarray] = None,
    muted_label: Optional[str] = None,
    cmap: str = "viridis",
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
    point_size: Optional[float] = None,
    title: Optional[str] = None,
) -> Figure:
    """The task's map with archive policies as points at their final position.

    Args:
        spec: the task (walls, reward discs, world bounds, y direction).
        gt_positions: [N, >=2] ground-truth descriptors (archive.npz's
            ``gt_descriptor``), mapped to the world with `spec`; or world
            (x, y) when `world` is True.
        colour_values: [N] values for the colour of each point (reward,
            generation...). Larger values are drawn on top.
        colour_label: label of the colourbar, with units.
        ax: axes to draw into; a new figure when None.
        world: `gt_positions` already are world coordinates.
        start: world (x, y) of the start, drawn as a star.
        muted: optional [N] bool, points drawn small and grey under the others
            and left out of the colour scale (e.g. reward 0).
        muted_label: legend entry of the muted points.
        cmap: colormap name (keep it perceptually uniform).
        vmin: bottom of the colour scale (default: min of the coloured points).
        vmax: top of the colour scale.
        point_size: marker area in points^2 (default shrinks with N).
        title: axes title.

    Returns:
        The figure.

    Raises:
        ValueError: positions and colour values of different lengths.
    """
    xy = as_points(gt_positions)
    xy = xy[:, :2] if world else descriptor_to_world(spec, xy)
    values = np.asarray(colour_values, np.float64).reshape(-1)
    if len(values) != len(xy):
        raise ValueError(f"{len(xy)} positions but {len(values)} colour values")
    muted = np.zeros(len(xy), bool) if muted is None else np.asarray(muted, bool).reshape(-1)
    fig, ax = new_axes(ax)
    draw_task(ax, spec, start=start)
    size = point_size or float(np.clip(2400.0 / max(len(xy), 1), 3.0, 30.0))
    if muted.any():
        ax.scatter(*xy[muted].T, s=size * 0.6, c=MUTED, linewidths=0, alpha=0.7,
                   zorder=2, label=muted_label, rasterized=True)
    shown = ~muted & np.isfinite(values)
    order = np.flatnonzero(shown)[np.argsort(values[shown], kind="stable")]
    finite = values[order]
    lo = vmin if vmin is not None else (finite.min() if len(finite) else 0.0)
    hi = vmax if vmax is not None else (finite.max() if len(finite) else 1.0)
    norm = _norm(lo, hi)
    points = ax.scatter(*xy[order].T, c=finite, s=size, cmap=cmap, norm=norm, linewidths=0.25,
                        edgecolors="#00000055", zorder=3, rasterized=True)
    fig.colorbar(points, ax=ax, label=colour_label, shrink=0.85, pad=0.02)
    map_legend(ax, start=start is not None, muted_label=muted_label if muted.any() else None)
    if title:
        ax.set_title(title)
    return fig


def _norm(lo: float, hi: float) -> mcolors.Normalize:
    """Colour scale over [lo, hi]; a single value gets the middle colour."""
    return mcolors.Normalize(lo, hi) if hi > lo else mcolors.Normalize(lo - 0.5, hi + 0.5)


def cell_counts(points: np.ndarray, low, high, cells: Sequence[int]) -> np.ndarray:
    """Points per cell of a grid over [low, high] (NumPy twin of
    `qd.metrics.cell_histogram`: points outside land in the edge cell).

    Args:
        points: [N, d] points (non-finite rows are ignored).
        low: d lower bounds.
        high: d upper bounds.
        cells: cells per dimension.

    Returns:
        int array of shape `cells`; index [i, j] is cell i along dimension 0.

    Raises:
        ValueError: points of another dimension than the grid.
    """
    points = as_points(points)
    if points.shape[1] != len(cells):
        raise ValueError(f"points must have shape [N, {len(cells)}], got {points.shape}")
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    dims = np.asarray(cells, np.float64)
    scaled = (dims * (points - low) + 1e-6) / (high - low)  # same epsilon as qd.archives.grid
    coords = np.floor(np.clip(scaled, 0.0, dims - 1.0)).astype(int)
    counts = np.zeros(tuple(cells), int)
    np.add.at(counts, tuple(coords.T), 1)
    return counts


@styled
def plot_coverage_grid(
    spec: TaskSpec,
    positions: np.ndarray,
    *,
    world: bool = False,
    ax=None,
    start: Optional[Sequence[float]] = None,
    title: Optional[str] = None,
) -> Figure:
    """Which cells of the task's coverage grid (`spec.grid_shape` over the
    descriptor bounds) the points hit, with the count per cell (log scale),
    on the task's map.

    Args:
        spec: the task.
        positions: [N, >=2] ground-truth descriptors (or world (x, y) when
            `world` is True).
        world: `positions` are world coordinates.
        ax: axes to draw into; a new figure when None.
        start: world (x, y) of the start.
        title: axes title; default states the coverage.

    Returns:
        The figure.
    """
    points = as_points(positions)
    points = world_to_descriptor(spec, points) if world else points[:, :2]
    cells = tuple(getattr(spec, "grid_shape", (50, 50)))
    counts = cell_counts(points, spec.descriptor_low[:2], spec.descriptor_high[:2], cells)
    fig, ax = new_axes(ax)
    draw_task(ax, spec, start=start, fill_areas=False)
    (x0, y0), (x1, y1) = spec.world_low, spec.world_high
    cmap = mpl.colormaps["cividis"].with_extremes(bad=EMPTY)
    norm = mcolors.LogNorm(1, max(2, counts.max()))
    image = ax.imshow(np.ma.masked_equal(counts.T, 0), origin="lower", extent=(x0, x1, y0, y1),
                      cmap=cmap, norm=norm, zorder=0, aspect="equal")
    if getattr(spec, "image_y_down", False):
        ax.set_ylim(y1, y0)  # imshow reset the limits
    bar = fig.colorbar(image, ax=ax, label="policies per cell", shrink=0.85, pad=0.02)
    bar.ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 1 2 5 10 20 ..., not 10^0
    bar.ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    bar.ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    hit = int((counts > 0).sum())
    ax.set_title(title or f"coverage {100 * hit / counts.size:.1f}% ({hit} of {cells[0]}×{cells[1]} cells)")
    map_legend(ax, start=start is not None)
    return fig


@styled
def plot_grid_heatmap(
    values: np.ndarray,
    bounds: tuple[Sequence[float], Sequence[float]],
    *,
    colour_label: str = "best reward",
    axis_labels: Sequence[str] = ("descriptor 1", "descriptor 2"),
    ax=None,
    cmap: str = "viridis",
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
    y_down: bool = False,
    title: Optional[str] = None,
) -> Figure:
    """A grid archive as a heatmap: one square per cell, empty (NaN) cells in
    light grey.

    Args:
        values: per-cell values of shape [n1, n2, ...]; index [i, j] is cell i
            along descriptor 1. Extra dimensions are collapsed by their max.
        bounds: (low, high) of the grid, at least 2 entries each.
        colour_label: label of the colourbar.
        axis_labels: labels of the two descriptor axes.
        ax: axes to draw into; a new figure when None.
        cmap: colormap name.
        vmin: bottom of the colour scale (default: smallest value).
        vmax: top of the colour scale.
        y_down: draw descriptor 2 growing downwards (maze tasks).
        title: axes title; default counts the filled cells.

    Returns:
        The figure.

    Raises:
        ValueError: values with fewer than two dimensions.
    """
    grid = np.asarray(values, np.float64)
    if grid.ndim < 2:
        raise ValueError(f"values must have one axis per descriptor (>= 2), got shape {grid.shape}")
    n_cells = grid.size
    filled_any = np.isfinite(grid)
    if grid.ndim > 2:  # a 2-d view: best value over the other descriptors
        collapse = tuple(range(2, grid.ndim))
        grid = np.where(filled_any.any(collapse), np.max(np.where(filled_any, grid, -np.inf), collapse), np.nan)
    (lo0, lo1), (hi0, hi1) = bounds[0][:2], bounds[1][:2]
    fig, ax = new_axes(ax)
    finite = grid[np.isfinite(grid)]
    lo = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
    hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
    image = ax.imshow(np.ma.masked_invalid(grid.T), origin="lower", extent=(lo0, hi0, lo1, hi1),
                      cmap=mpl.colormaps[cmap].with_extremes(bad=EMPTY),
                      norm=_norm(lo, hi),
                      aspect="equal" if np.isclose(hi0 - lo0, hi1 - lo1) else "auto")
    if y_down:
        ax.invert_yaxis()
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    fig.colorbar(image, ax=ax, label=colour_label, shrink=0.85, pad=0.02)
    filled = int(filled_any.sum())
    ax.set_title(title or f"{filled} of {n_cells} cells filled ({100 * filled / n_cells:.1f}%)")
    return fig
