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
    p = points[..., None, :]
    a, b = segments[:, :2], segments[:, 2:]
    ab = b - a
    denom = np.maximum((ab * ab).sum(-1), 1e-12)
    t = np.clip(((p - a) * ab).sum(-1) / denom, 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1)


def static_background(spec: TaskSpec, size: int = SIZE) -> np.ndarray:
    """Background with the walls drawn, [size, size, 3] float32 in [0, 1]."""
    img = np.empty((size, size, 3), np.float32)
    img[:] = BACKGROUND
    walls = spec.walls_array
    if len(walls):
        d = segment_distance_np(pixel_centers(spec, size), walls).min(-1)
        img[d <= 0.75 * pixel_size(spec, size)] = WALL
    return img


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
