import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks import mazes
from tasks.hardmaze import RobotState

R = 10.0  # default robot radius
SQRT_HALF = math.sqrt(0.5)


def box(size=400.0, **overrides):
    """A square maze, by default empty (border walls only)."""
    overrides = {"walls": (), "reward_areas": (), **overrides}
    return tasks.make("hardmaze", world_size=(size, size), **overrides)


def drive(task, state, action, steps):
    step = jax.jit(task.step)
    for _ in range(steps):
        state = step(state, jnp.asarray(action, jnp.float32))
    return state


def test_spec_matches_serene_hardmaze():
    task = tasks.make("hardmaze")
    spec = task.spec
    assert (spec.observation_size, spec.action_size, spec.episode_length) == (5, 2, 2000)
    assert task.default_policy().genome_size == 63  # 5-5-5-2 reference controller
    assert [(a.center, a.radius) for a in spec.reward_areas] == [((60.0, 60.0), 50.0), ((100.0, 200.0), 50.0)]
    assert spec.descriptor_low == (0.0, 0.0) and spec.descriptor_high == (1.0, 1.0)
    assert spec.world_high == (600.0, 600.0) and spec.grid_shape == (50, 50)
    assert spec.image_y_down and len(spec.walls) == 11
    np.testing.assert_allclose(spec.world_to_descriptor(np.array([60.0, 450.0])), [0.1, 0.75])


def test_start_observation_in_the_hard_maze():
    task = tasks.make("hardmaze")
    state = task.reset(jax.random.PRNGKey(0))
    np.testing.assert_allclose(state.pipeline_state.position, [60.0, 450.0])
    # Heading 45 deg: the -45 deg laser looks along +x and meets the wall at
    # x = (56 - 5) * 600 / 195; the other two see nothing within 100 px.
    wall_x = 51 * 600 / 195
    np.testing.assert_allclose(state.obs, [(wall_x - 60) / 100, 1, 1, 0, 0], atol=1e-5)


@pytest.mark.parametrize(
    "start, heading, expected",
    [
        ((350, 200), 0, [SQRT_HALF, 0.5, SQRT_HALF]),  # facing the east border, 50 away
        ((200, 370), 90, [30 * math.sqrt(2) / 100, 0.3, 30 * math.sqrt(2) / 100]),  # south border, 30 away
        ((200, 200), 180, [1.0, 1.0, 1.0]),  # nothing within range
        ((20, 20), 225, [0.2, 20 * math.sqrt(2) / 100, 0.2]),  # into the corner
    ],
)
def test_lasers_measure_distance_to_the_first_wall(start, heading, expected):
    task = box(start=start, start_heading=heading)
    obs = task.reset(jax.random.PRNGKey(0)).obs
    np.testing.assert_allclose(obs[:3], expected, atol=1e-5)


def test_lasers_see_inner_walls_and_their_order_follows_laser_angles():
    # A wall ahead-left (angle +45 side, +y) only: the +45 laser measures it.
    task = box(start=(200, 200), start_heading=0, walls=((150, 240, 300, 240),))
    lasers = np.asarray(task.reset(jax.random.PRNGKey(0)).obs[:3])
    np.testing.assert_allclose(lasers, [1.0, 1.0, 40 * math.sqrt(2) / 100], atol=1e-5)


def test_driving_into_a_wall_stops_the_robot_and_fires_both_bumpers():
    task = box(start=(200, 200), start_heading=0)
    state = drive(task, task.reset(jax.random.PRNGKey(0)), [1.0, 1.0], 60)
    x, y = np.asarray(state.pipeline_state.position)
    # Stopped within one step (max_speed 4) of touching the east border.
    assert 400 - R - 4 <= x <= 400 - R and y == pytest.approx(200)
    np.testing.assert_array_equal(state.obs[3:], [1.0, 1.0])
    # Turning on the spot is still allowed; moving away clears the bumpers.
    turned = drive(task, state, [-1.0, 1.0], 1)
    assert float(turned.pipeline_state.heading) == pytest.approx(0.4)
    np.testing.assert_array_equal(turned.pipeline_state.position, state.pipeline_state.position)
    back = drive(task, state, [-1.0, -1.0], 1)
    assert float(back.pipeline_state.position[0]) == pytest.approx(x - 4, abs=1e-4)
    np.testing.assert_array_equal(back.obs[3:], [0.0, 0.0])


@pytest.mark.parametrize("y, heading, bumpers", [(100, 45, [0.0, 1.0]), (300, -45, [1.0, 0.0])])
def test_bumpers_tell_the_side_of_the_contact(y, heading, bumpers):
    # Contact with the east border lies at -45 deg from a 45 deg heading
    # (fastsim's right quadrant) and at +45 deg from a -45 deg heading (left).
    task = box(start=(200, y), start_heading=heading)
    state = drive(task, task.reset(jax.random.PRNGKey(0)), [1.0, 1.0], 80)
    np.testing.assert_array_equal(state.obs[3:], bumpers)
    assert float(state.pipeline_state.position[0]) >= 400 - R - 4


def test_differential_drive_follows_the_arc():
    task = box(start=(200, 200), start_heading=0)
    state = task.reset(jax.random.PRNGKey(0))
    # Left wheel 2, right wheel 4 px: turn (4 - 2) / 20 = 0.1 rad, centre on an
    # arc of radius 3 / 0.1 = 30 around (200, 230).
    state = drive(task, state, [0.5, 1.0], 1)
    expected = [200 + 30 * math.sin(0.1), 230 - 30 * math.cos(0.1)]
    np.testing.assert_allclose(state.pipeline_state.position, expected, atol=1e-4)
    assert float(state.pipeline_state.heading) == pytest.approx(0.1)


def test_reward_is_paid_once_at_the_end():
    task = tasks.make("hardmaze", start=(120, 100), reward_areas=((100, 100, 50),), episode_length=5)
    state, step = task.reset(jax.random.PRNGKey(0)), jax.jit(task.step)
    rewards, dones = [], []
    for _ in range(5):
        state = step(state, jnp.zeros(2))  # stand still, 20 px from the centre
        rewards.append(float(state.reward))
        dones.append(float(state.done))
    np.testing.assert_allclose(rewards, [0, 0, 0, 0, (50 - 20) / 50], atol=1e-6)
    assert dones == [0, 0, 0, 0, 1] and int(state.info["reward_area"]) == 0
    # A zero genome outputs 2 * sigmoid(0) - 1 = 0: the robot stays put.
    ev = tasks.rollout(task, jnp.zeros((1, 63)), jax.random.PRNGKey(0))
    np.testing.assert_allclose(ev.reward, [0.6], atol=1e-6)
    np.testing.assert_allclose(ev.descriptor, [[0.2, 100 / 600]], atol=1e-6)
    assert ev.reward_area.tolist() == [0]


def test_rollout_is_deterministic_and_stays_in_the_maze():
    task = tasks.make("hardmaze", episode_length=300)
    genomes = task.default_policy().init_genomes(jax.random.PRNGKey(1), 16)
    a = tasks.rollout(task, genomes, jax.random.PRNGKey(2), with_observation=True)
    b = tasks.rollout(task, genomes, jax.random.PRNGKey(2), with_observation=True)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert bool(a.valid.all()) and a.observation.shape == (16, 64, 64, 3)
    d = np.asarray(a.descriptor)
    assert ((d > 0) & (d < 1)).all()
    assert len(np.unique(d.round(3), axis=0)) > 8  # random controllers go different ways


def test_render_draws_the_robot_where_it_is():
    task = box(size=600, start=(300, 300), start_heading=0)
    render = jax.jit(task.render)
    state = task.reset(jax.random.PRNGKey(0)).pipeline_state

    def pixel(xy):  # row 0 is y = 0: the maze is drawn y-down
        return int(xy[1] / 600 * 64), int(xy[0] / 600 * 64)

    img = np.asarray(render(state))
    assert img.shape == (64, 64, 3) and img.min() >= 0 and img.max() <= 1
    np.testing.assert_array_equal(img[pixel((300, 300))], [1, 0, 0])
    assert (img[0] == 0).all() and (img[:, -1] == 0).all()  # border walls in black
    moved = np.asarray(render(state.replace(position=jnp.array([120.0, 450.0]))))
    np.testing.assert_array_equal(moved[pixel((120, 450))], [1, 0, 0])
    np.testing.assert_array_equal(moved[pixel((300, 300))], [1, 1, 1])


def _segments_cross(p, q, walls):
    """Float64 closed-segment intersection of p-q [..., 2] with walls [W, 4] -> [..., W]."""
    p, q = p[..., None, :], q[..., None, :]
    a, b = walls[:, :2], walls[:, 2:]

    def orient(o, s, t):
        return (s[..., 0] - o[..., 0]) * (t[..., 1] - o[..., 1]) - (s[..., 1] - o[..., 1]) * (t[..., 0] - o[..., 0])

    d1, d2, d3, d4 = orient(a, b, p), orient(a, b, q), orient(p, q, a), orient(p, q, b)
    # Steps are never collinear with a wall here (they stay >= R away), so the
    # orientation test is exact enough.
    return (d1 * d2 <= 0) & (d3 * d4 <= 0) & ~((d1 == 0) & (d2 == 0))


def _near_wall_starts(walls, n, rng):
    """Positions just over R from wall endpoints and wall interiors, each with a
    heading pointing at the wall point (the robot drives into corners)."""
    t = rng.choice([0.0, 1.0, 0.5, 0.0, 1.0], size=n) + rng.uniform(-0.02, 0.02, n) * (rng.random(n) < 0.3)
    w = walls[rng.integers(len(walls), size=n)]
    target = w[:, :2] + np.clip(t, 0, 1)[:, None] * (w[:, 2:] - w[:, :2])
    angle = rng.uniform(-np.pi, np.pi, n)
    pos = target + (R + rng.uniform(1e-3, 3.0, n))[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    heading = angle + np.pi + rng.normal(0, 0.3, n)
    return pos, heading


def test_no_tunnelling_under_adversarial_driving():
    """2000 robots x 1000 steps (2M moves) of random and wall-seeking driving,
    many started against wall ends and corners, never get closer than the
    radius to a wall nor cross one between two positions."""
    task = tasks.make("hardmaze")
    walls = np.asarray(mazes.closed_walls(task.maze), np.float64)
    rng = np.random.default_rng(0)
    n, steps = 2000, 1000
    pos, heading = _near_wall_starts(walls, 3 * n, rng)
    inside = ((pos >= R) & (pos <= 600 - R)).all(-1)
    free = inside & (np.stack([mazes.point_wall_distances(p, walls).min() for p in pos]) >= R + 1e-3)
    pos, heading = pos[free][: n // 2], heading[free][: n // 2]
    anywhere = rng.uniform(R, 600 - R, (4 * n, 2))
    anywhere = anywhere[[mazes.point_wall_distances(p, walls).min() >= R + 1e-3 for p in anywhere]]
    pos = np.concatenate([pos, anywhere[: n - len(pos)]])
    heading = np.concatenate([heading, rng.uniform(-np.pi, np.pi, n - len(heading))])
    state = RobotState(
        position=jnp.asarray(pos, jnp.float32),
        heading=jnp.asarray(heading, jnp.float32),
        bumpers=jnp.zeros((n, 2), jnp.float32),
    )
    mode = jnp.arange(n) % 4

    def body(carry, key):
        state, held = carry
        k1, k2 = jax.random.split(key)
        noise = jax.random.uniform(k1, (n, 2), minval=-1.0, maxval=1.0)
        held = jnp.where(jax.random.uniform(k2, (n, 1)) < 0.02, noise, held)  # persistent random
        action = jnp.select(
            [mode[:, None] == 0, mode[:, None] == 1, mode[:, None] == 2],
            [noise, jnp.ones((n, 2)), jnp.array([1.0, 0.92])],  # random, ram ahead, spiral
            held,
        )
        state = jax.vmap(task.physics_step)(state, action)
        return (state, held), (state.position, state.bumpers.max(-1))

    run = jax.jit(lambda s, keys: jax.lax.scan(body, (s, jnp.zeros((n, 2))), keys)[1])
    positions, bumped = run(state, jax.random.split(jax.random.PRNGKey(0), steps))
    positions = np.concatenate([pos[None], np.asarray(positions, np.float64)])
    assert float(np.mean(np.asarray(bumped) > 0)) > 0.05  # the walls were really hit, often

    a, ab = walls[:, :2], walls[:, 2:] - walls[:, :2]
    for t0 in range(0, steps, 100):
        p, q = positions[t0 : t0 + 100], positions[t0 + 1 : t0 + 101]
        rel = q[..., None, :] - a
        u = np.clip((rel * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
        dist = np.linalg.norm(rel - u[..., None] * ab, axis=-1)
        assert dist.min() >= R - 1e-4
        assert not _segments_cross(p, q, walls).any()
    assert positions.min() >= R - 1e-4 and positions.max() <= 600 - R + 1e-4


def test_custom_maze_from_a_file(tmp_path):
    path = tmp_path / "corridor.txt"
    path.write_text("size 300 100\nstart 30 50 0\ngoal 270 50 20\nwall 150 0 150 55  # a baffle\n")
    task = tasks.make("hardmaze", maze_file=str(path), episode_length=10)
    assert task.spec.world_high == (300.0, 100.0)
    assert [(a.center, a.radius) for a in task.spec.reward_areas] == [((270.0, 50.0), 20.0)]
    assert len(task.spec.walls) == 5  # the baffle + the 4 border walls
    obs = task.reset(jax.random.PRNGKey(0)).obs
    # The +-45 deg lasers meet the side walls 50 px away; the baffle is 120 px ahead.
    np.testing.assert_allclose(obs[:3], [SQRT_HALF, 1.0, SQRT_HALF], atol=1e-5)
    # Config overrides apply on top of the file, lists become hashable tuples.
    moved = tasks.make("hardmaze", maze_file=path, start=[200, 80])
    assert moved.maze.start == (200.0, 80.0) and moved.maze.walls == task.maze.walls
    hash(moved.config)


def test_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"start \(60.0, 465.0\) is inside wall 5"):
        tasks.make("hardmaze", start=(60, 465), walls=mazes.HARD_MAZE.walls[:5] + ((50, 460, 70, 460),))
    with pytest.raises(ValueError, match=r"inside wall 5 \(156.9"):
        tasks.make("hardmaze", start=(150, 300))
    with pytest.raises(ValueError, match=r"max_speed must be in \(0, robot_radius=10.0\)"):
        tasks.make("hardmaze", max_speed=12)
    with pytest.raises(ValueError, match=r"unknown field\(s\) 'wals' .* valid fields: .*maze_file.*walls"):
        tasks.make("hardmaze", wals=())
    with pytest.raises(ValueError, match=r"unknown task 'hardmaz'; valid tasks: .*hardmaze"):
        tasks.make("hardmaz")
    bad = tmp_path / "bad.txt"
    bad.write_text("size 100 100\nstart 50 50\ngoal 1 2\n")
    with pytest.raises(ValueError, match=f"{bad}:3: 'goal' takes x y radius"):
        tasks.make("hardmaze", maze_file=str(bad))


def test_a_maze_file_of_100k_walls_builds(tmp_path):
    """A 8 MB maze file: the background used to take pixels x walls (3 GiB)."""
    import time

    rng = np.random.default_rng(0)
    start = rng.uniform(100, 500, (100_000, 2))
    walls = np.concatenate([start, start + rng.uniform(-1, 1, start.shape)], axis=1)
    path = tmp_path / "big.txt"
    path.write_text("size 600 600\nstart 30 30 0\n" + "".join(f"wall {a} {b} {c} {d}\n" for a, b, c, d in walls))
    began = time.perf_counter()
    task = tasks.make("hardmaze", maze_file=str(path), episode_length=5)
    assert len(task.spec.walls) == 100_004 and time.perf_counter() - began < 60
