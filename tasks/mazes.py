"""Maze layouts: the classic hard maze, and plain-text maze files for your own.

A maze is a set of wall segments in a rectangular world [0, w] x [0, h] (y
pointing down, as in the bitmaps the original simulators read), a start pose
and the sparse reward discs. The built-in `HARD_MAZE` is Lehman & Stanley's
deceptive hard maze (Lehman & Stanley 2011, "Abandoning objectives: evolution
through the search for novelty alone"; walls from goNEAT_NS data/hard_maze.txt,
world [5, 200]^2) scaled to the 600x600 world of SERENE's HardMaze (Paolo et
al. 2021), whose reference code simulated a 600x600 bitmap of the same maze
with libfastsim.

Maze file format (one item per line, numbers separated by blanks, `#` starts a
comment, blank lines are ignored)::

    # my maze
    size 600 600            # world width and height (required, once)
    start 60 450 45         # start x y [heading in degrees, default 0] (required, once)
    goal 60 60 50           # reward disc: centre x y, radius (any number, in order)
    wall 0 135.4 160 147.7  # wall segment x0 y0 x1 y1 (any number)

Headings are measured from +x towards +y. The world's border is always a wall,
whether or not the file lists it.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Sequence

import numpy as np

Wall = tuple[float, float, float, float]
Goal = tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Maze:
    """A maze layout, in world units.

    Attributes:
        walls: wall segments (x0, y0, x1, y1).
        start: the robot's start position (x, y).
        start_heading: the robot's start heading in degrees, from +x towards +y.
        goals: reward discs (x, y, radius), in order (their index is the task's
            reward-area index).
        size: world (width, height); the world is [0, width] x [0, height].
    """

    walls: tuple[Wall, ...]
    start: tuple[float, float]
    start_heading: float = 0.0
    goals: tuple[Goal, ...] = ()
    size: tuple[float, float] = (600.0, 600.0)

    def __post_init__(self):
        # Normalise lists/arrays to tuples of floats so mazes hash and compare.
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("walls", _float_rows(self.walls, 4, "walls", "(x0, y0, x1, y1)"))
        set_("goals", _float_rows(self.goals, 3, "goals", "(x, y, radius)"))
        set_("start", _float_row(self.start, 2, "start", "(x, y)"))
        set_("size", _float_row(self.size, 2, "size", "(width, height)"))
        set_("start_heading", float(self.start_heading))
        if not (self.size[0] > 0 and self.size[1] > 0):
            raise ValueError(f"maze size must be positive, got {self.size}")
        for i, g in enumerate(self.goals):
            if not g[2] > 0:
                raise ValueError(f"goal {i} {g}: radius must be > 0")


def _float_row(values, n: int, name: str, shape: str) -> tuple[float, ...]:
    try:
        row = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {shape}, got {values!r}") from None
    if len(row) != n or not all(math.isfinite(v) for v in row):
        raise ValueError(f"{name} must be {n} finite numbers {shape}, got {values!r}")
    return row


def _float_rows(values, n: int, name: str, shape: str) -> tuple[tuple[float, ...], ...]:
    return tuple(_float_row(v, n, f"{name}[{i}]", shape) for i, v in enumerate(values))


def border_walls(size: Sequence[float]) -> tuple[Wall, ...]:
    """The four walls around the world [0, w] x [0, h]."""
    w, h = float(size[0]), float(size[1])
    return ((0.0, 0.0, 0.0, h), (0.0, h, w, h), (w, h, w, 0.0), (w, 0.0, 0.0, 0.0))


def closed_walls(maze: Maze) -> np.ndarray:
    """The maze's walls plus any border wall it does not already list.

    The physics uses these, so a robot can never leave the world.

    Args:
        maze: the layout.

    Returns:
        float32 array [W, 4].
    """
    walls = np.asarray(maze.walls, np.float64).reshape(-1, 4)
    missing = [b for b in border_walls(maze.size) if not _listed(b, walls)]
    return np.concatenate([walls, np.asarray(missing, np.float64).reshape(-1, 4)]).astype(np.float32)


def _listed(segment: Wall, walls: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether `walls` [W, 4] holds `segment`, in either direction (vectorised:
    a maze file may list 100k walls)."""
    a = np.asarray(segment, np.float64)
    close = lambda b: np.all(np.abs(walls - b) <= tol + 1e-5 * np.abs(b), axis=1)  # noqa: E731  (np.allclose's rule)
    return bool(np.any(close(a) | close(a[[2, 3, 0, 1]])))


def point_wall_distances(point: Sequence[float], walls: np.ndarray) -> np.ndarray:
    """Float64 distance from `point` to each wall [W, 4]; returns [W]."""
    walls = np.asarray(walls, np.float64).reshape(-1, 4)
    p = np.asarray(point, np.float64)
    a, ab = walls[:, :2], walls[:, 2:] - walls[:, :2]
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-300), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=-1)


def validate(maze: Maze, robot_radius: float) -> None:
    """Checks that a robot of `robot_radius` can start where the maze says.

    Args:
        maze: the layout.
        robot_radius: the robot's radius, world units.

    Raises:
        ValueError: the start lies outside the world or within `robot_radius`
            of a wall (the message names the wall).
    """
    (x, y), (w, h) = maze.start, maze.size
    r = robot_radius
    if not (r <= x <= w - r and r <= y <= h - r):
        raise ValueError(
            f"start {maze.start} must lie inside the {w:g}x{h:g} world, at least the robot "
            f"radius {r:g} from its border"
        )
    d = point_wall_distances(maze.start, np.asarray(maze.walls).reshape(-1, 4))
    for i in np.flatnonzero(d < r):
        raise ValueError(
            f"start {maze.start} is inside wall {i} {maze.walls[i]}: distance {d[i]:.3g} < "
            f"robot radius {r:g}"
        )


# -- the hard maze -------------------------------------------------------------

#: Lehman & Stanley's hard maze in its original coordinates, world [5, 200]^2
#: (goNEAT_NS data/hard_maze.txt): the 4 border walls, then the 7 inner walls.
LEHMAN_STANLEY_HARD_WALLS: tuple[Wall, ...] = (
    (5, 5, 5, 200),
    (5, 200, 200, 200),
    (200, 200, 200, 5),
    (200, 5, 5, 5),
    (5, 49, 57, 53),
    (56, 54, 56, 157),
    (57, 106, 158, 162),
    (77, 200, 108, 164),
    (5, 80, 33, 121),
    (200, 146, 87, 91),
    (56, 55, 133, 30),
)


def rescale_walls(walls, low: float, high: float, size: float) -> tuple[Wall, ...]:
    """Maps walls from the square [low, high]^2 onto [0, size]^2."""
    scale = lambda v: (float(v) - low) * size / (high - low)  # noqa: E731
    return tuple(tuple(scale(v) for v in w) for w in walls)


#: The hard maze of SERENE's HardMaze task: start in the bottom-left area
#: heading 45 degrees, goal 0 in the top-left area (the maze's goal), goal 1 in
#: the deceptive left pocket next to it.
HARD_MAZE = Maze(
    walls=rescale_walls(LEHMAN_STANLEY_HARD_WALLS, 5.0, 200.0, 600.0),
    start=(60.0, 450.0),
    start_heading=45.0,
    goals=((60.0, 60.0, 50.0), (100.0, 200.0, 50.0)),
    size=(600.0, 600.0),
)


# -- maze files ------------------------------------------------------------------

_KEYS = {
    "size": ((2,), "width height"),
    "start": ((2, 3), "x y [heading]"),
    "goal": ((3,), "x y radius"),
    "wall": ((4,), "x0 y0 x1 y1"),
}


def parse_maze(text: str, source: str = "<string>") -> Maze:
    """Reads a maze from the text format of this module's docstring.

    Args:
        text: the file's contents.
        source: name used in error messages (e.g. the file path).

    Returns:
        The maze.

    Raises:
        ValueError: a malformed line (the message says `source:line`), a missing
            or repeated `size`/`start`, or an unknown key (the message lists the
            valid ones).
    """
    walls, goals, once = [], [], {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{source}:{lineno}"
        key, args = words[0], words[1:]
        if key not in _KEYS:
            raise ValueError(f"{where}: unknown key {_quote(key)}; valid keys: {', '.join(sorted(_KEYS))}")
        counts, usage = _KEYS[key]
        if len(args) not in counts:
            raise ValueError(f"{where}: {key!r} takes {usage}, got {len(args)} value(s): {_quote(raw)}")
        try:
            values = tuple(float(a) for a in args)
        except ValueError:
            raise ValueError(f"{where}: {key!r} takes numbers ({usage}), got {_quote(raw)}") from None
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{where}: {key!r} values must be finite, got {_quote(raw)}")
        if key == "wall":
            walls.append(values)
        elif key == "goal":
            if not values[2] > 0:
                raise ValueError(f"{where}: goal radius must be > 0, got {values[2]:g}")
            goals.append(values)
        else:
            if key in once:
                raise ValueError(f"{where}: {key!r} given twice (first at line {once[key][0]})")
            once[key] = (lineno, values)
    if not once and not walls and not goals:
        raise ValueError(f"{source}: holds no maze lines (only blanks and comments); it needs at least "
                         "a 'size' and a 'start' line")
    for key in ("size", "start"):
        if key not in once:
            raise ValueError(f"{source}: missing {key!r} line ({key} {_KEYS[key][1]})")
    start = once["start"][1]
    try:
        return Maze(
            walls=tuple(walls),
            start=start[:2],
            start_heading=start[2] if len(start) == 3 else 0.0,
            goals=tuple(goals),
            size=once["size"][1],
        )
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def _quote(line: str, limit: int = 80) -> str:
    """A line of a maze file as an error message quotes it (cut short)."""
    line = line.strip()
    return repr(line if len(line) <= limit else line[: limit - 3] + "...")


def load_maze(path: str | os.PathLike) -> Maze:
    """Reads a maze file (format in this module's docstring).

    Args:
        path: the file.

    Returns:
        The maze.

    Raises:
        FileNotFoundError: no such file.
        OSError: the file cannot be read (no permission...).
        ValueError: a directory, an empty file, a file that is not UTF-8
            text, or a malformed one (the message says `path:line`).
    """
    source = os.fspath(path)
    path = os.path.expanduser(source)  # `--set task.maze_file=~/m.txt`: no shell expands that ~
    if os.path.isdir(path):
        raise ValueError(f"{source}: is a directory, not a maze file")
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{source}: not a text maze file (byte {data[error.start]:#04x} at offset {error.start} is not UTF-8)"
        ) from None
    if "\x00" in text:
        raise ValueError(f"{source}: not a text maze file (it holds NUL bytes)")
    if not text.strip():
        raise ValueError(f"{source}: the maze file is empty; it needs at least a 'size' and a 'start' line")
    return parse_maze(text, source=source)


def format_maze(maze: Maze, comment: str = "") -> str:
    """The text of a maze file describing `maze` (`parse_maze` reads it back).

    Args:
        maze: the layout.
        comment: optional first-line comment.

    Returns:
        The file's contents.
    """
    num = lambda *vs: " ".join(repr(float(v)) for v in vs)  # noqa: E731  (repr round-trips)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines.append(f"size {num(*maze.size)}")
    lines.append(f"start {num(*maze.start, maze.start_heading)}")
    lines += [f"goal {num(*g)}" for g in maze.goals]
    lines += [f"wall {num(*w)}" for w in maze.walls]
    return "\n".join(lines) + "\n"


def save_maze(maze: Maze, path: str | os.PathLike, comment: str = "") -> None:
    """Writes `maze` to a maze file at `path` (see `format_maze`)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(format_maze(maze, comment))
