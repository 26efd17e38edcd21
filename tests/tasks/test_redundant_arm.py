import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks.geometry import point_segment_distance, segments_intersect
from tasks.redundant_arm import (
    CROSS_WALLS,
    LINK_COLOR,
    TIP_COLOR,
    RedundantArm,
    is_legal,
    start_angles,
)
from tasks.render import WALL, pixel_centers, pixel_size, segment_distance_np
from tasks.rollout import rollout

TASK = RedundantArm()
WALLS = jnp.asarray(CROSS_WALLS, jnp.float32)


def _pixel(xy):
    """(row, col) of the pixel containing world point xy of the unit square."""
    return int((1.0 - xy[1]) * 64), int(xy[0] * 64)


def _goal(task, alpha_deg, coil, aim_deg):
    """A hand-made target posture: the first `coil` joints keep the start
    spiral (a compact coil around the base), the rest straighten into a tail
    turned by `aim_deg` at joint `coil`, and the whole arm turns by
    `alpha_deg`."""
    n = task.config.n_joints
    goal = np.where(np.arange(n) < coil, start_angles(n), 0.0)
    goal[coil] = np.deg2rad(aim_deg)
    goal[0] += np.deg2rad(alpha_deg)
    return jnp.asarray(goal, jnp.float32)


@jax.jit
def _reach(goal):
    """Drives TASK for a full episode, every step moving the joints along the
    straight line to `goal` at full speed; returns the final state and the
    per-step rewards and done flags."""

    def body(state, _):
        d = goal - state.pipeline_state.angles
        state = TASK.step(state, d / jnp.maximum(jnp.max(jnp.abs(d)), TASK.config.max_step))
        return state, (state.reward, state.done)

    return jax.lax.scan(body, TASK.reset(jax.random.PRNGKey(0)), None, length=TASK.episode_length)


def test_spec_matches_the_reference_experiments():
    spec = TASK.spec
    assert (spec.observation_size, spec.action_size, spec.episode_length) == (20, 20, 100)
    assert TASK.default_policy().genome_size == 228
    assert TASK.config.policy_hidden == (5, 5)
    assert spec.descriptor_low == (0.0, 0.0) and spec.descriptor_high == (1.0, 1.0)
    assert [(a.center, a.radius) for a in spec.reward_areas] == [
        ((0.25, 0.25), 0.05),
        ((0.85, 0.85), 0.05),
        ((0.25, 0.90), 0.05),
    ]
    assert spec.walls == CROSS_WALLS
    state = TASK.reset(jax.random.PRNGKey(0))
    joints = np.asarray(state.pipeline_state.joints)
    assert joints.shape == (21, 2)
    np.testing.assert_allclose(joints[0], [0.5, 0.5])
    link_lengths = np.linalg.norm(np.diff(joints, axis=0), axis=1)
    np.testing.assert_allclose(link_lengths, 0.05, rtol=1e-5)  # total length 1
    np.testing.assert_allclose(state.obs, start_angles(20) / np.pi, rtol=1e-6)


def test_make_builds_it_and_rejects_bad_settings():
    task = tasks.make("redundant_arm", episode_length=10, dense_reward=True)
    assert isinstance(task, RedundantArm) and task.episode_length == 10
    with pytest.raises(ValueError, match="valid fields: .*max_step"):
        tasks.make("redundant_arm", bogus=1)
    with pytest.raises(ValueError, match="start spiral"):
        tasks.make("redundant_arm", base=(0.05, 0.05))


def test_reward_discs_are_clear_of_walls():
    for area in TASK.spec.reward_areas:
        centre = jnp.asarray(area.center, jnp.float32)
        assert float(point_segment_distance(centre, WALLS).min()) > area.radius


@pytest.mark.parametrize(
    "alpha, coil, aim, area",
    [(110, 17, -20, 0), (115, 7, -30, 1), (105, 8, 50, 2)],
)
def test_every_disc_is_reachable_and_pays_only_at_the_end(alpha, coil, aim, area):
    state, (rewards, dones) = _reach(_goal(TASK, alpha, coil, aim))
    rewards, dones = np.asarray(rewards), np.asarray(dones)
    tip = np.asarray(state.pipeline_state.joints[-1])
    disc = TASK.spec.reward_areas[area]
    d = np.linalg.norm(tip - np.asarray(disc.center))
    assert d < disc.radius and int(state.info["reward_area"]) == area
    np.testing.assert_allclose(rewards[-1], (disc.radius - d) / disc.radius, rtol=1e-5)
    assert np.all(rewards[:-1] == 0.0) and dones[-1] == 1.0 and np.all(dones[:-1] == 0.0)


def test_dense_variant_pays_minus_the_spread_of_the_joint_angles():
    task = RedundantArm(RedundantArm.Config(episode_length=30, dense_reward=True))
    step = jax.jit(task.step)
    action = jnp.linspace(-1.0, 1.0, 20)
    start = task.reset(jax.random.PRNGKey(0))
    assert float(step(start, action).reward) == 0.0  # not the end yet
    last = start.replace(info={**start.info, "steps": jnp.int32(29)})
    end = step(last, action)
    assert float(end.done) == 1.0
    np.testing.assert_allclose(end.reward, -np.std(np.asarray(end.pipeline_state.angles)), rtol=1e-5)
    assert float(end.reward) < 0.0


def test_step_reward_variant_pays_the_spread_at_every_step():
    task = RedundantArm(RedundantArm.Config(episode_length=30, step_reward=True))
    step = jax.jit(task.step)
    action = jnp.linspace(-1.0, 1.0, 20)
    first = step(task.reset(jax.random.PRNGKey(0)), action)
    np.testing.assert_allclose(first.reward, -np.std(np.asarray(first.pipeline_state.angles)) / 30, rtol=1e-5)
    with pytest.raises(ValueError, match="dense_reward and step_reward cannot both be set"):
        RedundantArm.Config(dense_reward=True, step_reward=True)


def test_a_move_whose_joint_jumps_across_a_wall_is_refused():
    wall = jnp.asarray([[0.5, 0.0, 0.5, 0.2]])
    old = jnp.asarray([[0.5, 0.5], [0.45, 0.1]])
    new = jnp.asarray([[0.5, 0.5], [0.55, 0.1]])
    legal = jax.jit(is_legal, static_argnums=3)
    assert not bool(jnp.any(segments_intersect(new[0], new[1], wall)))  # the new pose is clear...
    assert bool(legal(new, new, wall, False))
    assert not bool(legal(new, old, wall, False))  # ...but the joint's path crossed the wall


def _crossings_np(p, q, a, b):
    """Closed-segment intersection of p-q with a-b, broadcast over leading axes
    (an independent NumPy re-implementation, with a small tolerance)."""

    def orient(o, s, t):
        return (s[..., 0] - o[..., 0]) * (t[..., 1] - o[..., 1]) - (s[..., 1] - o[..., 1]) * (t[..., 0] - o[..., 0])

    def within(o, s, t):
        lo, hi = np.minimum(o, s) - 1e-7, np.maximum(o, s) + 1e-7
        return np.all((lo <= t) & (t <= hi), axis=-1)

    d1, d2, d3, d4 = orient(a, b, p), orient(a, b, q), orient(p, q, a), orient(p, q, b)
    proper = (d1 * d2 < 0) & (d3 * d4 < 0)
    eps = 1e-9
    touch = (
        ((np.abs(d1) <= eps) & within(a, b, p))
        | ((np.abs(d2) <= eps) & within(a, b, q))
        | ((np.abs(d3) <= eps) & within(p, q, a))
        | ((np.abs(d4) <= eps) & within(p, q, b))
    )
    return proper | touch


def test_walls_block_every_move_of_many_random_arms():
    """500 arms x 100 steps, pushed by persistent random joint commands and by
    random reference controllers: no link ever touches a wall or leaves the
    square, links never cross each other, and refused moves change nothing."""
    n_arms, steps = 500, 100
    policy = TASK.default_policy()

    def episode(commands, genome, use_policy):
        def body(state, command):
            action = jnp.where(use_policy, policy.apply(genome, state.obs), command)
            new = TASK.step(state, action)
            return new, (new.pipeline_state.joints, new.pipeline_state.angles, new.pipeline_state.refused)

        _, out = jax.lax.scan(body, TASK.reset(jax.random.PRNGKey(0)), commands)
        return out

    # Random commands drawn up front: a persistent per-arm bias plus noise.
    bias_key, noise_key = jax.random.split(jax.random.PRNGKey(0))
    bias = jax.random.uniform(bias_key, (n_arms, 1, 20), minval=-1.0, maxval=1.0)
    noise = jax.random.uniform(noise_key, (n_arms, steps, 20), minval=-1.0, maxval=1.0)
    commands = jnp.clip(bias + 0.5 * noise, -1.0, 1.0)
    genomes = policy.init_genomes(jax.random.PRNGKey(1), n_arms)
    use_policy = jnp.arange(n_arms) % 2 == 0
    joints, angles, refused = (np.asarray(x) for x in jax.jit(jax.vmap(episode))(commands, genomes, use_policy))

    links = np.concatenate([joints[..., :-1, :], joints[..., 1:, :]], axis=-1)  # [arms, steps, 20, 4]
    walls = np.asarray(CROSS_WALLS, np.float32)
    hits = _crossings_np(links[..., None, :2], links[..., None, 2:], walls[:, :2], walls[:, 2:])
    assert not hits.any()
    assert np.all((joints >= 0.0) & (joints <= 1.0))
    first, second = np.triu_indices(20, k=2)
    some = links[:, 4::5]  # self-crossings at every 5th step: NumPy over all pairs is slow
    a, b = some[..., first, :], some[..., second, :]
    assert not _crossings_np(a[..., :2], a[..., 2:], b[..., :2], b[..., 2:]).any()

    # A refused move changes nothing.
    newly_refused = np.diff(refused, axis=1) > 0
    unchanged = np.all(angles[:, 1:] == angles[:, :-1], axis=-1)
    assert np.all(unchanged[newly_refused])
    # The stress is real: many moves were refused and arms pressed against walls.
    assert newly_refused.mean() > 0.1
    ab = walls[:, 2:] - walls[:, :2]
    p = joints[..., None, :]
    t = np.clip(((p - walls[:, :2]) * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    clearance = np.linalg.norm(p - (walls[:, :2] + t[..., None] * ab), axis=-1)
    assert clearance.min() < 0.02


def test_rollout_is_deterministic_and_descriptors_are_tips():
    genomes = TASK.default_policy().init_genomes(jax.random.PRNGKey(0), 16)
    a = rollout(TASK, genomes, jax.random.PRNGKey(0))
    b = rollout(TASK, genomes, jax.random.PRNGKey(0))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert a.valid.all()
    np.testing.assert_allclose(a.descriptor, a.trajectory[:, -1])
    assert np.all((np.asarray(a.descriptor) >= 0.0) & (np.asarray(a.descriptor) <= 1.0))


def test_render_shows_walls_links_and_the_end_effector():
    physics = TASK.init_physics(jax.random.PRNGKey(0))
    render = jax.jit(TASK.render)
    img = np.asarray(render(physics))
    assert img.shape == (64, 64, 3) and img.min() >= 0.0 and img.max() <= 1.0
    joints = np.asarray(physics.joints)
    np.testing.assert_allclose(img[_pixel(joints[-1])], TIP_COLOR)
    # The pixel whose centre is nearest to link 5 is drawn in the link colour.
    d = segment_distance_np(pixel_centers(TASK.spec), np.concatenate([joints[5], joints[6]])[None])[..., 0]
    row, col = np.unravel_index(np.argmin(d), d.shape)
    assert d[row, col] < 0.5 * pixel_size(TASK.spec)
    np.testing.assert_allclose(img[row, col], LINK_COLOR)
    np.testing.assert_allclose(img[_pixel((0.5, 0.1))], WALL)
    np.testing.assert_allclose(img[_pixel((0.9, 0.9))], (1.0, 1.0, 1.0))

    turned = physics.replace(joints=TASK.forward(physics.angles.at[0].add(np.pi)))
    img2 = np.asarray(render(turned))
    np.testing.assert_allclose(img2[_pixel(joints[-1])], (1.0, 1.0, 1.0))  # the tip left
    np.testing.assert_allclose(img2[_pixel(np.asarray(turned.joints[-1]))], TIP_COLOR)
