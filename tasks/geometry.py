"""2-D geometry on wall segments, vectorised over walls (jnp, jit-friendly).

Walls are float32 arrays [W, 4] of (x0, y0, x1, y1).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

_EPS = 1e-9


def _cross(ax, ay, bx, by):
    return ax * by - ay * bx


def point_segment_distance(point: jax.Array, walls: jax.Array) -> jax.Array:
    """Euclidean distance from `point` [2] to each wall; returns [W]."""
    a, b = walls[:, :2], walls[:, 2:]
    ab = b - a
    t = jnp.clip(jnp.sum((point - a) * ab, -1) / jnp.maximum(jnp.sum(ab * ab, -1), _EPS), 0.0, 1.0)
    return jnp.linalg.norm(point - (a + t[:, None] * ab), axis=-1)


def ray_distance(origin: jax.Array, angle: jax.Array, walls: jax.Array, max_range: float) -> jax.Array:
    """Distance along the ray from `origin` [2] at `angle` (radians) to the first
    wall it hits, or `max_range` when it hits none within range. Returns a scalar."""
    dx, dy = jnp.cos(angle), jnp.sin(angle)
    ax, ay = walls[:, 0], walls[:, 1]
    ex, ey = walls[:, 2] - ax, walls[:, 3] - ay
    denom = _cross(dx, dy, ex, ey)
    wx, wy = ax - origin[0], ay - origin[1]
    safe = jnp.where(jnp.abs(denom) < _EPS, 1.0, denom)
    t = _cross(wx, wy, ex, ey) / safe  # along the ray
    u = _cross(wx, wy, dx, dy) / safe  # along the wall
    hit = (jnp.abs(denom) >= _EPS) & (t >= 0.0) & (u >= 0.0) & (u <= 1.0)
    return jnp.minimum(jnp.min(jnp.where(hit, t, jnp.inf), initial=jnp.inf), max_range)


def segments_intersect(p: jax.Array, q: jax.Array, walls: jax.Array) -> jax.Array:
    """Whether segment p-q (points [2]) touches each wall (closed segments,
    collinear overlaps included). Returns bool [W]."""
    a, b = walls[:, :2], walls[:, 2:]

    def orient(o, s, t):
        return _cross(s[..., 0] - o[..., 0], s[..., 1] - o[..., 1], t[..., 0] - o[..., 0], t[..., 1] - o[..., 1])

    def on_segment(o, s, t):
        # t collinear with o-s: inside its bounding box?
        return (
            (jnp.minimum(o[..., 0], s[..., 0]) - _EPS <= t[..., 0])
            & (t[..., 0] <= jnp.maximum(o[..., 0], s[..., 0]) + _EPS)
            & (jnp.minimum(o[..., 1], s[..., 1]) - _EPS <= t[..., 1])
            & (t[..., 1] <= jnp.maximum(o[..., 1], s[..., 1]) + _EPS)
        )

    p = jnp.broadcast_to(p, a.shape)
    q = jnp.broadcast_to(q, a.shape)
    d1, d2 = orient(a, b, p), orient(a, b, q)
    d3, d4 = orient(p, q, a), orient(p, q, b)
    proper = (d1 * d2 < 0) & (d3 * d4 < 0)
    touch = (
        ((jnp.abs(d1) <= _EPS) & on_segment(a, b, p))
        | ((jnp.abs(d2) <= _EPS) & on_segment(a, b, q))
        | ((jnp.abs(d3) <= _EPS) & on_segment(p, q, a))
        | ((jnp.abs(d4) <= _EPS) & on_segment(p, q, b))
    )
    return proper | touch
