"""House style of the figures: fonts, dpi, colour-blind-safe colours, and the
helpers that make and save a figure.

Figures are built as `matplotlib.figure.Figure` objects directly, never through
pyplot, so plotting never touches the global backend and a long sweep leaks no
figures; PNGs are rendered by Agg. The dpi is fixed at creation so pixel
positions (``ax.transData``) match the saved image.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

from runs.atomic import write_atomic

DPI = 180
# Okabe & Ito (2008), distinguishable under every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
EMPTY = "#e3e3e3"  # empty cells / unrewarded points: visible but out of the way
WALL = "#1a1a1a"
AREA = "#D55E00"  # vermillion: apart from every viridis/cividis colour
# One colour per reward area where areas are told apart (emitters, budget split):
# Okabe-Ito without the blues' darkest and black, so area i keeps its colour in every figure.
AREA_COLOURS = ("#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#0072B2", "#F0E442")
NO_AREA = "#666666"  # spent on no reward area
EXPLORATION = "#c4c4c4"  # exploration: the neutral background of a budget split


def budget_colour(column: str) -> str:
    """The colour of a column of `runs.compare.budget_shares`: "exploration",
    "no area" or "area i" (area i's colour in every figure)."""
    if column == "exploration":
        return EXPLORATION
    if column == "no area":
        return NO_AREA
    return AREA_COLOURS[int(column.split()[-1]) % len(AREA_COLOURS)]


STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "image.interpolation": "nearest",
}
MAP_SIZE = (5.2, 4.4)  # inches: square map plus its colourbar


def styled(function):
    """Runs a plotting function under `STYLE` (font sizes are read when
    artists are created, so the whole function needs the context)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def new_axes(ax=None, figsize=MAP_SIZE):
    """(figure, axes): `ax` and its figure, or a fresh constrained-layout figure."""
    if ax is not None:
        return ax.get_figure(root=True), ax
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    return fig, fig.add_subplot()


def save(fig: Figure, path: str | os.PathLike, *, dpi: int = DPI) -> Path:
    """Writes `fig` atomically (a reader never sees half an image).

    Args:
        fig: the figure.
        path: destination; the format follows the suffix (.png, .pdf, .svg).
            Missing parent folders are created.
        dpi: resolution for raster formats.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    # A white face keeps the figure readable on dark slide/notebook themes.
    return write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, facecolor="white"))


def panels(ncols: int, figsize=(9.6, 3.4)):
    """(figure, [axes]): a styled row of `ncols` panels."""
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        return fig, list(fig.subplots(1, ncols, squeeze=False)[0])
