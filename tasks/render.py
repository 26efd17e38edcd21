"""Top-down 64x64x3 views of a task's state, in pure JAX.

The static part (background, walls, reward discs) is drawn once in NumPy; the
moving parts are composited per state with signed-distance masks, so a render
costs a few thousand vectorised distance evaluations and jits with the rollout.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from tasks.spec import TaskSpec

SIZE = 64
BACKGROUND = (1.0, 1.0, 1.0)
WALL = (0.0, 0.0, 0.0)


def pixel_centers(spec: TaskSpec, size: int = SIZE) -> np.ndarray:
    """World coordinates of every pixel centre, [size, size, 2].

    Row 0 is the top of the picture: world y = world_high unless the task draws
    with y pointing down (`spec.image_y_down`, as the classic maze bitmaps do).
    """
    lo, hi = np.asarray(spec.world_low, np.float32), np.asarray(spec.world_high, np.float32)
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    xs = lo[0] + t * (hi[0] - lo[0])
    ys = lo[1] + t * (hi[1] - lo[1])
    if not getattr(spec, "image_y_down", False):
        ys = ys[::-1]
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], axis=-1)


def pixel_size(spec: TaskSpec, size: int = SIZE) -> float:
    return float(max(np.subtract(spec.world_high, spec.world_low)) / size)


def segment_distance_np(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance from points [..., 2] to each segment [W, 4]; returns [..., W]."""
    return _distance(points[..., None, :], segments[:, :2], segments[:, 2:])


def _distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points p [..., 2] to segments a-b [..., 2] (broadcast)."""
    ab = b - a
    denom = np.maximum((ab * ab).sum(-1), 1e-12)
    t = np.clip(((p - a) * ab).sum(-1) / denom, 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1)


def static_background(spec: TaskSpec, size: int = SIZE) -> np.ndarray:
    """Background with the walls drawn, [size, size, 3] float32 in [0, 1].

    A pixel is a wall pixel when its centre lies within 0.75 pixel of a wall.
    Each wall is tested only against the pixels of its own bounding box, so a
    maze file of 100k short walls draws in a second and bounded memory
    (pixels x walls at once would take gigabytes).
    """
    img = np.empty((size, size, 3), np.float32)
    img[:] = BACKGROUND
    walls = spec.walls_array
    if len(walls):
        img[wall_pixels(spec, walls, size)] = WALL
    return img


def wall_pixels(spec: TaskSpec, walls: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Which pixels of the picture lie within 0.75 pixel of a wall, [size, size] bool.

    Same test as `segment_distance_np` on `pixel_centers` (same float32
    arithmetic per pixel), restricted to each wall's bounding box: walls are
    grouped by box size (powers of two) and each group is tested on its boxes.
    """
    pixels = pixel_centers(spec, size)
    lo = np.asarray(spec.world_low, np.float64)
    step = (np.asarray(spec.world_high, np.float64) - lo) / size
    reach = 0.75 * pixel_size(spec, size)
    # Column / row-in-y-order index ranges of each wall's box, one pixel of slack
    # on each side against rounding.
    w64 = walls.astype(np.float64)
    first = np.floor((np.minimum(w64[:, :2], w64[:, 2:]) - reach - lo) / step - 0.5).astype(np.int64) - 1
    last = np.ceil((np.maximum(w64[:, :2], w64[:, 2:]) + reach - lo) / step - 0.5).astype(np.int64) + 1
    first, last = np.clip(first, 0, size - 1), np.clip(last, 0, size - 1)
    span = (last - first + 1).max(axis=1)
    box = np.maximum(4, 2 ** np.ceil(np.log2(np.maximum(span, 1))).astype(np.int64))
    box = np.minimum(box, 2 ** int(np.ceil(np.log2(size))))
    y_down = getattr(spec, "image_y_down", False)
    hit = np.zeros((size, size), bool)
    for side in np.unique(box):
        chosen = np.flatnonzero(box == side)
        offsets = np.arange(side)
        block = max(1, (1 << 20) // (side * side))  # walls per block: ~1M candidate pixels
        for i in range(0, len(chosen), block):
            idx = chosen[i : i + block]
            cols = first[idx, 0, None, None] + offsets[None, None, :]  # [n, 1, side]
            rows = first[idx, 1, None, None] + offsets[None, :, None]  # [n, side, 1]
            inside = (cols <= last[idx, 0, None, None]) & (rows <= last[idx, 1, None, None])
            cols, rows = np.broadcast_arrays(np.minimum(cols, size - 1), np.minimum(rows, size - 1))
            image_rows = rows if y_down else size - 1 - rows
            seg = walls[idx, None, None, :]
            d = _distance(pixels[image_rows, cols], seg[..., :2], seg[..., 2:])
            near = inside & (d <= reach)
            hit[image_rows[near], cols[near]] = True
    return hit


def draw_discs(img, pixels, centers, radii, colors):
    """Composites filled discs onto an image (jnp, jit-friendly).

    Args:
        img: [H, W, 3] image.
        pixels: [H, W, 2] world coordinates of pixel centres.
        centers: [N, 2] disc centres.
        radii: [N] disc radii (world units); at least half a pixel is drawn.
        colors: [N, 3] RGB in [0, 1]; later discs cover earlier ones.

    Returns:
        The new image.
    """
    for i in range(centers.shape[0]):
        d = jnp.linalg.norm(pixels - centers[i], axis=-1)
        img = jnp.where((d <= radii[i])[..., None], colors[i], img)
    return img


def draw_robot(background, pixels, xy, radius: float, color) -> jnp.ndarray:
    """A task's view with one robot: `background` with a disc of `radius`
    (world units) and RGB `color` at world position `xy` [2].

    Args:
        background: [H, W, 3] static view (`static_background`).
        pixels: [H, W, 2] pixel centres (`pixel_centers`).
        xy: [2] the robot's world position.
        radius: the disc's radius.
        color: its RGB in [0, 1].
    """
    return draw_discs(
        jnp.asarray(background),
        jnp.asarray(pixels),
        xy[None, :],
        jnp.asarray([radius], jnp.float32),
        jnp.asarray([color], jnp.float32),
    )


def draw_segments(img, pixels, segments, half_width, colors):
    """Composites thick segments [N, 4] onto an image (jnp, jit-friendly)."""
    a, b = segments[:, :2], segments[:, 2:]
    ab = b - a
    denom = jnp.maximum((ab * ab).sum(-1), 1e-12)
    for i in range(segments.shape[0]):
        t = jnp.clip(((pixels - a[i]) * ab[i]).sum(-1) / denom[i], 0.0, 1.0)
        d = jnp.linalg.norm(pixels - (a[i] + t[..., None] * ab[i]), axis=-1)
        img = jnp.where((d <= half_width)[..., None], colors[i], img)
    return img
