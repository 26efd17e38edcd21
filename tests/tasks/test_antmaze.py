"""AntMaze on Brax: two compiled programs in all (a short rollout, and a
launch of the bare physics against a wall), shared through module fixtures."""
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks import antmaze
from tasks.antmaze import AntMaze

EPISODE = 30
# The reference discs plus one around the start, so short episodes get paid.
AREAS = ((35.0, -25.0, 3.0), (-25.0, 35.0, 3.0), (-25.0, -25.0, 3.0))


@pytest.fixture(scope="module")
def maze():
    return tasks.make("antmaze", episode_length=EPISODE, trajectory_points=6, reward_areas=AREAS)


@pytest.fixture(scope="module")
def evaluated(maze):
    genomes = maze.default_policy().init_genomes(jax.random.PRNGKey(0), 3)
    genomes = genomes.at[2, 0].set(jnp.nan)  # an invalid policy
    key = jax.random.PRNGKey(1)
    first = tasks.rollout(maze, genomes, key, with_observation=True)
    again = tasks.rollout(maze, genomes, key, with_observation=True)
    return first, again


def test_spec_is_the_reference_set_up():
    task = AntMaze()
    spec = task.spec
    assert (spec.observation_size, spec.action_size, spec.episode_length) == (29, 8, 3000)
    assert task.default_policy().layer_sizes == (29, 10, 10, 10, 8)
    assert task.default_policy().genome_size == 574
    assert [(a.center, a.radius) for a in spec.reward_areas] == [((35.0, -25.0), 3.0), ((-25.0, 35.0), 3.0)]
    assert task.backend == "spring" and task.dt == pytest.approx(0.05)
    # The descriptor is (xy - 5) / 70 over the whole maze.
    xy = np.array([[35.0, -25.0], [-40.0, 40.0], [5.0, 5.0]])
    np.testing.assert_allclose(spec.world_to_descriptor(xy), (xy - 5.0) / 70.0, atol=1e-6)
    assert spec.walls == antmaze.MAZE_WALLS and not spec.dense_reward


def test_mjcf_has_one_wall_capsule_per_wall_touched_only_by_the_bumper():
    root = ET.fromstring(antmaze.maze_mjcf(antmaze.MAZE_WALLS, antmaze.START))
    walls = [g for g in root.iter("geom") if g.get("conaffinity") == "2"]
    assert len(walls) == len(antmaze.MAZE_WALLS)
    bumpers = [g for g in root.iter("geom") if g.get("contype") == "2"]
    assert [g.get("name") for g in bumpers] == ["bumper"]


def test_rollout_shapes_validity_and_determinism(evaluated):
    ev, again = evaluated
    assert ev.descriptor.shape == (3, 2) and ev.trajectory.shape == (3, 6, 2)
    assert ev.observation.shape == (3, 64, 64, 3)
    assert ev.valid.tolist() == [True, True, False]
    for a, b in zip(jax.tree.leaves(ev), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)


def test_invalid_policy_is_reported_and_neutralised(maze, evaluated):
    ev, _ = evaluated
    np.testing.assert_array_equal(ev.descriptor[2], np.float32(maze.spec.descriptor_low))
    assert ev.reward[2] == 0.0 and ev.reward_area[2] == -1
    assert np.all(ev.observation[2] == 0.0)


def test_descriptor_reward_and_view_agree_with_the_final_position(maze, evaluated):
    ev, _ = evaluated
    final = np.asarray(ev.trajectory[:2, -1])  # the torso's world (x, y) at the end
    np.testing.assert_allclose(ev.descriptor[:2], (final - 5.0) / 70.0, atol=1e-6)
    low, high = np.asarray(maze.spec.descriptor_low), np.asarray(maze.spec.descriptor_high)
    assert np.all((ev.descriptor >= low) & (ev.descriptor <= high))
    # 30 steps of a random controller stay near the start: the third disc pays.
    distance = np.linalg.norm(final - np.array([-25.0, -25.0]), axis=1)
    assert np.all(distance < 3.0)
    np.testing.assert_allclose(ev.reward[:2], (3.0 - distance) / 3.0, rtol=1e-5)
    assert ev.reward_area[:2].tolist() == [2, 2]
    # The view: walls black, the ant a red disc where the torso is.
    view = np.asarray(ev.observation[0])
    assert view.min() >= 0.0 and view.max() <= 1.0
    assert np.all(view[0, :] == 0.0)  # the top border wall
    red = (view[..., 0] == 1.0) & (view[..., 1] == 0.0)
    rows, cols = np.nonzero(red)
    assert len(rows) > 0
    pixel = 80.0 / 64
    x, y = -40.0 + (cols.mean() + 0.5) * pixel, 40.0 - (rows.mean() + 0.5) * pixel
    np.testing.assert_allclose([x, y], final[0], atol=pixel)


@pytest.fixture(scope="module")
def launched():
    """The ant launched at 10 m/s from (-25, -22): +y into the corridor's
    wall at y = -20, or -x along the open corridor; 30 control steps (1.5 s)
    of zero action. Returns (torso x.pos xy, free-joint q xy) per step."""
    task = tasks.make("antmaze", start=(-25.0, -22.0))

    @jax.jit
    def run(velocities):
        def one(velocity):
            physics = task.init_physics(jax.random.PRNGKey(0))
            physics = task._env.pipeline_init(physics.q, physics.qd.at[:2].set(velocity))

            def body(physics, _):
                physics = task.physics_step(physics, jnp.zeros(8))
                return physics, (task.position(physics), physics.q[:2])

            return jax.lax.scan(body, physics, None, 30)[1]

        return jax.vmap(one)(velocities)

    return run(jnp.array([[0.0, 10.0], [-10.0, 0.0]]))


def test_walls_block_the_ant(launched):
    position, q = launched
    # Positions from the pipeline's link transforms equal the free joint's q.
    np.testing.assert_allclose(position, q, atol=1e-4)
    # Launched along the corridor, the ant slides more than 2 m...
    assert position[1, -1, 0] < -27.0
    # ...but launched at the wall 2 m away, its torso never reaches the wall's face.
    assert position[0, :, 1].max() < -20.0 - antmaze.WALL_THICKNESS / 2


def test_bad_settings_name_the_value_and_the_choices():
    with pytest.raises(ValueError, match="unknown Brax backend 'bullet'; valid backends: spring, mjx"):
        tasks.make("antmaze", backend="bullet")
    with pytest.raises(ValueError, match="reset_noise must be >= 0"):
        tasks.make("antmaze", reset_noise=-0.1)
    with pytest.raises(ValueError, match="start must lie inside the maze"):
        tasks.make("antmaze", start=(50.0, 0.0))


def test_system_arrays_are_uncommitted_so_sharded_rollouts_accept_them(maze):
    # Brax commits some system arrays to the default device; a rollout sharded
    # over several devices (divergent run's default) refuses such constants.
    leaves = [x for x in jax.tree.leaves(maze._env.sys) if isinstance(x, jax.Array)]
    assert leaves and not any(x.committed for x in leaves)
