import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks.curling import BALL_COLOR, FELT, HALF_TABLE, LINK_COLOR, Curling, launch
from tasks.rollout import rollout

TASK = Curling()
START = np.array([-0.5, 0.2], np.float32)


@jax.jit
def _run(state, actions):
    """Steps TASK from `state` through actions [T, 2] (one compiled program
    for every scenario); returns the final state and, per step, the physics,
    observation, reward and done flag."""

    def body(state, action):
        state = TASK.step(state, action)
        return state, (state.pipeline_state, state.obs, state.reward, state.done)

    return jax.lax.scan(body, state, actions)


def _start(velocity=None):
    state = TASK.reset(jax.random.PRNGKey(0))
    if velocity is not None:
        state = state.replace(pipeline_state=launch(state.pipeline_state, velocity))
    return state


def _two_phase(first, n_first, second, n_second, length=500):
    """Open-loop actions: `first` for n_first steps, `second` for n_second, then rest."""
    actions = np.zeros((length, 2), np.float32)
    actions[:n_first] = first
    actions[n_first : n_first + n_second] = second
    return jnp.asarray(actions)


def _pixel(task, xy):
    """(row, col) of the pixel containing world point xy."""
    lo, hi = np.asarray(task.spec.world_low), np.asarray(task.spec.world_high)
    col = int((xy[0] - lo[0]) / (hi[0] - lo[0]) * 64)
    row = int((hi[1] - xy[1]) / (hi[1] - lo[1]) * 64)
    return row, col


def test_spec_matches_the_reference_experiments():
    spec = TASK.spec
    assert (spec.observation_size, spec.action_size, spec.episode_length) == (6, 2, 500)
    assert TASK.default_policy().genome_size == 94
    assert TASK.config.policy_hidden == (5, 5, 5)
    assert spec.descriptor_low == (-1.35, -1.35) and spec.descriptor_high == (1.35, 1.35)
    assert spec.world_low == spec.descriptor_low and spec.world_high == spec.descriptor_high
    assert [(a.center, a.radius) for a in spec.reward_areas] == [((0.8, 0.8), 0.4), ((0.8, -0.8), 0.2)]
    state = TASK.reset(jax.random.PRNGKey(0))
    assert state.obs.shape == (6,) and state.obs.dtype == jnp.float32
    np.testing.assert_allclose(state.obs[:2], START)


def test_make_builds_it_and_lists_valid_fields_on_a_typo():
    task = tasks.make("curling", episode_length=20)
    assert isinstance(task, Curling) and task.episode_length == 20
    with pytest.raises(ValueError, match="valid fields: .*max_joint_speed"):
        tasks.make("curling", bogus=1)
    with pytest.raises(ValueError, match="substeps"):
        tasks.make("curling", substeps=0)


def test_observation_is_ball_joints_and_joint_speeds():
    _, (_, obs, _, _) = _run(_start(), _two_phase((1.0, -0.5), 1, (0.0, 0.0), 0))
    c = TASK.config
    np.testing.assert_allclose(obs[0, :2], START, atol=1e-6)  # not touched yet
    np.testing.assert_allclose(obs[0, 2:4], [c.max_joint_speed * c.dt, -0.5 * c.max_joint_speed * c.dt], rtol=1e-5)
    np.testing.assert_allclose(obs[0, 4:], [c.max_joint_speed, -0.5 * c.max_joint_speed], rtol=1e-5)


def test_joints_stop_at_their_limits():
    _, (physics, _, _, _) = _run(_start(), _two_phase((-1.0, 1.0), 200, (0.0, 0.0), 0))
    np.testing.assert_allclose(physics.joints[199], [-np.pi / 2, np.pi], atol=1e-6)
    np.testing.assert_allclose(physics.joint_speed[199], [0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    "first, n_first, second, n_second, area",
    [((1.0, 0.5), 80, (-0.5, -0.5), 80, 0), ((0.5, 0.0), 60, (0.0, 1.0), 80, 1)],
)
def test_hand_made_sequences_reach_each_disc_and_are_paid_at_the_end(first, n_first, second, n_second, area):
    state, (_, _, rewards, dones) = _run(_start(), _two_phase(first, n_first, second, n_second))
    rewards, dones = np.asarray(rewards), np.asarray(dones)
    ball = np.asarray(state.pipeline_state.ball)
    disc = TASK.spec.reward_areas[area]
    d = np.linalg.norm(ball - np.asarray(disc.center))
    assert d < disc.radius
    assert int(state.info["reward_area"]) == area
    np.testing.assert_allclose(rewards[-1], (disc.radius - d) / disc.radius, rtol=1e-5)
    # Sparse: nothing is paid before the last step, although the ball sat in
    # the disc for many steps before it.
    assert np.all(rewards[:-1] == 0.0) and dones[-1] == 1.0 and np.all(dones[:-1] == 0.0)


def test_friction_brings_a_launched_ball_to_an_exact_stop():
    c = TASK.config
    v0 = np.array([0.8, 0.3], np.float32)
    _, (physics, _, _, _) = _run(_start(v0), jnp.zeros((500, 2)))
    balls = np.asarray(physics.ball)
    speeds = np.linalg.norm(np.asarray(physics.ball_velocity), axis=1)
    assert np.all(np.diff(speeds) <= 0.0)  # the ball only slows down
    stop = int(np.argmax(speeds == 0.0))
    assert speeds[stop] == 0.0 and stop > 0
    # Coulomb friction alone would stop it after |v0| / deceleration seconds.
    assert stop * c.dt <= np.linalg.norm(v0) / c.deceleration + c.dt
    np.testing.assert_array_equal(balls[stop:], np.broadcast_to(balls[stop], balls[stop:].shape))
    travelled = np.linalg.norm(balls[-1] - START)
    assert 0.1 < travelled < np.linalg.norm(v0) / c.drag  # drag alone bounds the distance


def test_cushions_bounce_the_ball_back_onto_the_table():
    _, (physics, _, _, _) = _run(_start([-6.0, 0.0]), jnp.zeros((500, 2)))
    x, vx = np.asarray(physics.ball[:, 0]), np.asarray(physics.ball_velocity[:, 0])
    assert np.all(np.abs(np.asarray(physics.ball)) <= HALF_TABLE)
    assert x.min() == pytest.approx(-HALF_TABLE, abs=0.05)  # it reached the left cushion
    assert vx[-1] >= 0.0 and x[-1] > x.min()  # and came back


def test_a_sweeping_link_pushes_the_ball_away_without_overlap():
    c = TASK.config
    _, (trace, _, _, _) = _run(_start(), _two_phase((1.0, 0.0), 40, (0.0, 0.0), 0))
    physics = jax.tree.map(lambda x: x[39], trace)
    base, _, tip = np.asarray(TASK.arm(physics))
    ball = np.asarray(physics.ball)
    assert ball[0] < START[0] - 0.05  # pushed towards -x by the arm turning counter-clockwise
    ab = tip - base  # q1 = 0: both links on one line
    t = np.clip(np.dot(ball - base, ab) / np.dot(ab, ab), 0, 1)
    assert np.linalg.norm(ball - (base + t * ab)) >= c.ball_radius + c.link_radius - 1e-4


def test_random_reference_genomes_often_move_the_ball():
    genomes = TASK.default_policy().init_genomes(jax.random.PRNGKey(0), 100)
    ev = rollout(TASK, genomes, jax.random.PRNGKey(0))
    moved = np.linalg.norm(np.asarray(ev.descriptor) - START, axis=1) > 1e-3
    assert ev.valid.all()
    assert moved.mean() > 0.3  # ~0.5 measured on 1000 genomes
    assert np.all(np.abs(np.asarray(ev.trajectory)) <= HALF_TABLE)
    np.testing.assert_allclose(ev.descriptor, ev.trajectory[:, -1])

    again = rollout(TASK, genomes, jax.random.PRNGKey(0))
    for x, y in zip(jax.tree.leaves(ev), jax.tree.leaves(again)):
        np.testing.assert_array_equal(x, y)


def test_render_puts_the_ball_and_links_where_they_are():
    physics = TASK.init_physics(jax.random.PRNGKey(0))
    render = jax.jit(TASK.render)
    img = np.asarray(render(physics))
    assert img.shape == (64, 64, 3) and img.min() >= 0.0 and img.max() <= 1.0
    np.testing.assert_allclose(img[_pixel(TASK, START)], BALL_COLOR)
    np.testing.assert_allclose(img[_pixel(TASK, (0.0, -0.5))], LINK_COLOR)  # link 0 points up
    np.testing.assert_allclose(img[_pixel(TASK, (-1.0, -1.0))], FELT)

    moved = physics.replace(ball=jnp.array([1.0, -1.0]), joints=jnp.array([np.pi / 2, 0.0]))
    img2 = np.asarray(render(moved))
    np.testing.assert_allclose(img2[_pixel(TASK, START)], FELT)
    np.testing.assert_allclose(img2[_pixel(TASK, (1.0, -1.0))], BALL_COLOR)
    np.testing.assert_allclose(img2[_pixel(TASK, (0.0, -0.5))], FELT)  # the arm left
