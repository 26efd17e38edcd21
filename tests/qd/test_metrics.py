"""Tests of qd/metrics.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from qd import metrics

LOW, HIGH = (-1.0, -1.0), (1.0, 1.0)


def test_coverage_of_known_point_sets():
    # Centres of 10 distinct cells of the 50 x 50 grid, each hit three times.
    cell = 2.0 / 50
    centres = np.array([[-1 + cell * (i + 0.5), -1 + cell * (2 * i + 0.5)] for i in range(10)])
    points = np.repeat(centres, 3, axis=0).astype(np.float32)
    assert float(metrics.coverage(points, LOW, HIGH)) == pytest.approx(10 / 2500)
    mask = np.arange(30) < 6  # only the first two cells
    assert float(metrics.coverage(points, LOW, HIGH, mask=mask)) == pytest.approx(2 / 2500)
    counts = metrics.cell_histogram(points, LOW, HIGH)
    assert counts.shape == (2500,) and int(counts.sum()) == 30 and int(counts.max()) == 3
    # Corners and out-of-bounds points land in the corner cells; NaN never counts.
    extra = jnp.array([[-5.0, -5.0], [1.0, 1.0], [jnp.nan, 0.0]])
    counts = metrics.cell_histogram(extra, LOW, HIGH, cells=2)
    np.testing.assert_array_equal(counts, [1, 0, 0, 1])


def test_coverage_jits_and_validates():
    points = jnp.array([[0.1, 0.1], [0.9, 0.9]])
    f = jax.jit(lambda p: metrics.coverage(p, (0, 0), (1, 1), (4, 4)))
    assert float(f(points)) == pytest.approx(2 / 16)
    with pytest.raises(ValueError, match="points must have shape"):
        metrics.coverage(jnp.zeros((3, 3)), LOW, HIGH)
    with pytest.raises(ValueError, match="high must exceed low"):
        metrics.coverage(points, (0, 0), (0, 1))


def test_mark_cells_is_the_histogram_or_the_cells_already_hit():
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.5, 1.5, (300, 2)).astype(np.float32)  # some outside: edge cells
    points[:5] = np.nan
    mask = rng.random(300) < 0.7
    hit = rng.random(100) < 0.1
    counts = metrics.cell_histogram(points, (0.0, 0.0), (1.0, 1.0), 10, mask=mask)
    got = metrics.mark_cells(hit, points, (0.0, 0.0), (1.0, 1.0), 10, mask=mask)
    np.testing.assert_array_equal(got, hit | (np.asarray(counts) > 0))
    with pytest.raises(ValueError, match="hit"):
        metrics.mark_cells(hit[:50], points, (0.0, 0.0), (1.0, 1.0), 10)


def test_js_distance_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = rng.random(40) * (rng.random(40) < 0.5)
        q = rng.random(40)
        np.testing.assert_allclose(metrics.js_distance(p, q), jensenshannon(p, q, base=2), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics.js_distance([1.0, 0.0], [0.0, 1.0]), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="equal length"):
        metrics.js_distance(jnp.ones(3), jnp.ones(4))


def test_uniformity_is_one_for_even_fill_and_lower_when_concentrated():
    even = jnp.full(100, 7)
    assert float(metrics.uniformity(even)) == pytest.approx(1.0, abs=1e-6)
    half = jnp.where(jnp.arange(100) < 50, 7, 0)
    one = jnp.zeros(100).at[3].set(50)
    u_half, u_one = float(metrics.uniformity(half)), float(metrics.uniformity(one))
    assert 0.0 < u_one < u_half < 1.0
    expected = 1 - jensenshannon(np.asarray(half), np.ones(100), base=2)
    assert u_half == pytest.approx(expected, abs=1e-5)
    # Over hit cells only, an even fill of any subset is perfectly uniform.
    assert float(metrics.uniformity(half, hit_cells_only=True)) == pytest.approx(1.0, abs=1e-6)
    assert float(metrics.uniformity(jnp.zeros(10))) == 0.0


def test_qd_score_sums_filled_cells_with_offset():
    rewards = jnp.array([1.0, -jnp.inf, 2.5, 0.5])
    filled = jnp.array([True, False, True, False])
    assert float(metrics.qd_score(rewards, filled)) == pytest.approx(3.5)
    assert float(metrics.qd_score(rewards, filled, offset=-1.0)) == pytest.approx(5.5)


def test_max_reward_is_the_best_filled_cell_even_when_every_reward_is_negative():
    # Dense tasks pay negative rewards: an empty cell must not count as 0.
    rewards = jnp.array([-0.7, 0.0, -0.2, 5.0])
    filled = jnp.array([True, False, True, False])
    assert float(metrics.max_reward(rewards, filled)) == pytest.approx(-0.2)
    assert float(metrics.max_reward(rewards, jnp.zeros(4, bool))) == 0.0


def test_area_stats_accumulate_across_batches():
    stats = metrics.init_area_stats(3)
    update = jax.jit(metrics.update_area_stats)
    stats = update(
        stats,
        jnp.array([0.2, 0.9, 0.0, 5.0, 0.7]),
        jnp.array([0, 0, -1, 7, 2]),  # 7: not an area
        jnp.array([True, True, True, True, False]),  # area 2 only from an invalid one
        5,
    )
    np.testing.assert_array_equal(stats.found, [True, False, False])
    np.testing.assert_array_equal(stats.first_found, [5, -1, -1])
    np.testing.assert_allclose(stats.max_reward, [0.9, -np.inf, -np.inf])
    np.testing.assert_array_equal(stats.count, [2, 0, 0])
    stats = update(stats, jnp.array([0.5, 0.3, 0.1]), jnp.array([0, 1, 1]), None, 8)
    np.testing.assert_array_equal(stats.found, [True, True, False])
    np.testing.assert_array_equal(stats.first_found, [5, 8, -1])
    np.testing.assert_allclose(stats.max_reward, [0.9, 0.3, -np.inf])
    np.testing.assert_array_equal(stats.count, [3, 2, 0])
    with pytest.raises(ValueError, match="n_areas"):
        metrics.init_area_stats(0)


def _time_coverage_numpy(trajectories, mask, spec):
    """Direct computation: per time, map world -> descriptor, count distinct cells."""
    lo_w, hi_w = np.asarray(spec.world_low, np.float64), np.asarray(spec.world_high, np.float64)
    lo_d, hi_d = np.asarray(spec.descriptor_low[:2], np.float64), np.asarray(spec.descriptor_high[:2], np.float64)
    cells = np.asarray(spec.grid_shape)
    out = []
    for t in range(trajectories.shape[1]):
        points = lo_d + (trajectories[:, t].astype(np.float64) - lo_w) / (hi_w - lo_w) * (hi_d - lo_d)
        keep = mask & np.all(np.isfinite(points), axis=1)
        index = np.floor(np.clip((cells * (points[keep] - lo_d) + 1e-6) / (hi_d - lo_d), 0, cells - 1)).astype(int)
        out.append(len({tuple(i) for i in index}) / cells.prod())
    return np.asarray(out)


def test_time_coverage_matches_a_direct_numpy_computation():
    from tasks.spec import TaskSpec

    # A world of [0, 600]^2 px mapped to descriptors [0, 1]^2 (as HardMaze), a 20 x 10 grid.
    spec = TaskSpec(name="t", observation_size=1, action_size=1, episode_length=10, descriptor_low=(0.0, 0.0),
                    descriptor_high=(1.0, 1.0), reward_areas=(), world_low=(0.0, 0.0), world_high=(600.0, 600.0),
                    grid_shape=(20, 10))
    rng = np.random.default_rng(0)
    n, t = 60, 7
    start = np.full((n, 1, 2), 300.0)
    # Spreading out from one start: coverage grows with time.
    steps = rng.normal(0, 40, (n, t, 2))
    steps[:, 0] = 0.0
    trajectories = start + np.cumsum(steps, axis=1)
    trajectories[:3, 2] = [[-50.0, 10.0], [700.0, 700.0], [np.nan, 5.0]]  # outside: edge cells; NaN: never
    trajectories = trajectories.astype(np.float32)
    mask = rng.random(n) < 0.8
    got = np.asarray(metrics.time_coverage(trajectories, mask, spec))
    want = _time_coverage_numpy(trajectories, mask, spec)
    assert got.shape == (t,) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-7)
    assert got[0] == pytest.approx(1 / 200)  # every masked-in policy starts in one cell
    # The last time point is the archive's coverage of the final positions.
    final = (trajectories[:, -1] / 600.0).astype(np.float32)
    assert got[-1] == pytest.approx(float(metrics.coverage(final, (0, 0), (1, 1), (20, 10), mask=mask)))
    # jit-able with the spec closed over; no mask counts every row.
    jitted = jax.jit(lambda x: metrics.time_coverage(x, None, spec))
    np.testing.assert_allclose(jitted(trajectories), _time_coverage_numpy(trajectories, np.ones(n, bool), spec))
    with pytest.raises(ValueError, match=r"\[N, T, 2\]"):
        metrics.time_coverage(trajectories[..., :1], mask, spec)
