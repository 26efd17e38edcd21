"""tasks/render.py: the static background draws walls exactly as the
pixels-by-walls distance test does, in bounded memory for huge mazes."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

import tasks
from tasks import render
from tasks.spec import TaskSpec


def brute_force(spec: TaskSpec, size: int = render.SIZE) -> np.ndarray:
    """The reference: every pixel against every wall."""
    img = np.empty((size, size, 3), np.float32)
    img[:] = render.BACKGROUND
    walls = spec.walls_array
    if len(walls):
        d = render.segment_distance_np(render.pixel_centers(spec, size), walls).min(-1)
        img[d <= 0.75 * render.pixel_size(spec, size)] = render.WALL
    return img


def random_spec(seed: int) -> TaskSpec:
    rng = np.random.default_rng(seed)
    low = rng.uniform(-5, 5, 2)
    high = low + rng.uniform(0.5, 50, 2)
    n = int(rng.integers(1, 40))
    start = rng.uniform(low - 2, high + 2, (n, 2))  # some walls reach outside the world
    end = start + rng.normal(0, rng.uniform(0.01, 30), (n, 2))
    if seed % 3 == 0:
        end[0] = start[0]  # a wall of length 0 (a dot)
    walls = tuple(map(tuple, np.concatenate([start, end], axis=1)))
    return TaskSpec("random", 1, 1, 1, (0.0, 0.0), (1.0, 1.0), (), walls=walls, world_low=tuple(low),
                    world_high=tuple(high), image_y_down=bool(seed % 2))


@pytest.mark.parametrize("seed", range(12))
def test_background_matches_the_brute_force_test(seed):
    spec = random_spec(seed)
    np.testing.assert_array_equal(render.static_background(spec), brute_force(spec))


@pytest.mark.parametrize("name", ["hardmaze", "curling", "redundant_arm"])
def test_background_of_the_builtin_tasks_is_unchanged(name):
    spec = tasks.make(name).spec
    np.testing.assert_array_equal(render.static_background(spec), brute_force(spec))


@pytest.mark.parametrize("size", [16, 64, 100])
def test_other_picture_sizes(size):
    spec = random_spec(5)
    np.testing.assert_array_equal(render.static_background(spec, size), brute_force(spec, size))


def test_a_maze_of_100k_walls_draws_quickly_in_bounded_memory():
    rng = np.random.default_rng(0)
    start = rng.uniform(100, 500, (100_000, 2))
    walls = np.concatenate([start, start + rng.uniform(-1, 1, start.shape)], axis=1)
    spec = TaskSpec("big", 1, 1, 1, (0.0, 0.0), (1.0, 1.0), (), walls=tuple(map(tuple, walls)),
                    world_high=(600.0, 600.0), image_y_down=True)
    tracemalloc.start()
    began = time.perf_counter()
    try:
        img = render.static_background(spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - began < 30
    assert peak < 400 * 1024**2  # pixels x walls at once: > 3 GiB
    assert (img == 0).all(-1).sum() > 100  # the walls are drawn
