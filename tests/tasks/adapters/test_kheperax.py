"""tasks/adapters/kheperax.py: Kheperax's mazes behind our task contract.

One rollout of ours and one of Kheperax's own scoring function are compiled
(module fixtures) and shared by the tests; the rest builds tasks without
compiling.
"""
from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import runs
import tasks
from emitters import variation
from runs import cli
from tasks.adapters.kheperax import KheperaxMLP
from tasks.adapters.optional import MissingExtraError

STEPS = 100
BATCH = 8
MAZES = ("standard", "pointmaze", "snake")


@pytest.fixture(scope="module")
def task():
    return tasks.make("kheperax_standard", episode_length=STEPS, trajectory_points=STEPS)


@pytest.fixture(scope="module")
def genomes(task):
    g = variation.init_genomes(jax.random.PRNGKey(3), BATCH, task.default_policy().genome_size)
    return g.at[0].set(0.0)  # a genome whose wheels stay still


@pytest.fixture(scope="module")
def ours(task, genomes):
    return tasks.rollout(task, genomes, jax.random.PRNGKey(0), with_observation=True)


@pytest.fixture(scope="module")
def theirs(task, genomes):
    """Kheperax's own scoring function on the same genomes (its parameters
    unflattened by our policy): (descriptors, transitions)."""
    from kheperax.tasks.config import KheperaxConfig
    from kheperax.tasks.main import KheperaxTask

    config = KheperaxConfig.get_default_for_map("standard")
    config.episode_length = STEPS
    _, network, scoring_fn = KheperaxTask.create_default_task(config, jax.random.PRNGKey(0))
    policy = task.default_policy()
    same = ("layer_sizes", "activation", "final_activation", "bias")
    assert all(getattr(network, a) == getattr(policy.module, a) for a in same)  # the same controller
    params = jax.vmap(policy.unravel)(genomes)
    _, descriptors, extra, _ = jax.jit(scoring_fn)(params, jax.random.PRNGKey(5))
    return np.asarray(descriptors), extra["transitions"]


def test_same_genome_same_positions_as_kheperax(ours, theirs):
    descriptors, transitions = theirs
    assert bool(np.all(ours.valid))
    # Every step's position: Kheperax's next_state_desc is the position after step t.
    np.testing.assert_allclose(ours.trajectory, transitions.next_state_desc, atol=1e-6)
    np.testing.assert_allclose(ours.descriptor, transitions.next_state_desc[:, -1], atol=1e-6)
    # Kheperax's own descriptor is the position before the last step (module doc).
    np.testing.assert_allclose(ours.trajectory[:, -2], descriptors, atol=1e-6)
    # Genome 0 (all zeros) keeps its wheels still; most random genomes drive away.
    moved = np.linalg.norm(np.asarray(ours.descriptor) - [0.15, 0.15], axis=1)
    assert moved[0] < 1e-6 and np.sum(moved[1:] > 1e-2) >= BATCH // 2


def test_render_draws_the_robot_and_the_walls(task, ours):
    views = np.asarray(ours.observation)
    assert views.shape == (BATCH, 64, 64, 3) and views.min() >= 0.0 and views.max() <= 1.0
    for view, (x, y) in zip(views, np.asarray(ours.descriptor)):
        row, col = min(int((1.0 - y) * 64), 63), min(int(x * 64), 63)
        np.testing.assert_array_equal(view[row, col], [1.0, 0.0, 0.0])  # y up: row 0 is the top
    # The vertical wall x = 0.25, y in [0.25, 0.75] is black in every view.
    np.testing.assert_array_equal(views[:, 32, 16], 0.0)


@pytest.mark.parametrize("maze", MAZES)
@pytest.mark.parametrize("quad", [False, True])
def test_every_kheperax_maze_is_registered_with_its_target_and_bounds(maze, quad):
    from kheperax.envs.maze_maps import KHEPERAX_MAZES

    name = f"kheperax_{maze}" + ("_quad" if quad else "")
    assert name in tasks.names()
    task = tasks.make(name)
    spec = task.spec
    target = KHEPERAX_MAZES[maze]
    assert spec.name == name and spec.episode_length == 1000
    assert spec.reward_areas == (tasks.RewardArea(target.target_pos, target.target_radius),)
    low = -1.0 if quad else 0.0
    assert spec.descriptor_low == (low, low) and spec.descriptor_high == (1.0, 1.0)
    # Inside walls (mirrored four times in the quad) + the four borders.
    assert len(spec.walls) == len(target.segments) * (4 if quad else 1) + 4
    posture = task.kheperax_config.robot.posture  # what init_physics starts from
    np.testing.assert_allclose([posture.x, posture.y], [0.0, 0.0] if quad else [0.15, 0.15])


def test_config_options_and_errors():
    assert tasks.make("kheperax_snake").default_policy().genome_size == 5 * 8 + 8 + 8 * 2 + 2
    task = tasks.make("kheperax_snake", policy="reference", policy_hidden=(4,))
    assert task.default_policy().genome_size == 5 * 4 + 1 + 4 * 2 + 1
    assert tasks.make("kheperax_standard") == tasks.make("kheperax_standard")
    assert KheperaxMLP(5, 2) == KheperaxMLP(5, 2) and hash(KheperaxMLP(5, 2)) == hash(KheperaxMLP(5, 2))
    with pytest.raises(ValueError, match="policy must be one of 'mlp', 'reference', got 'tanh'"):
        tasks.make("kheperax_standard", policy="tanh")
    with pytest.raises(ValueError, match="wheel_noise must be >= 0"):
        tasks.make("kheperax_standard", wheel_noise=-0.1)


@pytest.fixture
def without_kheperax(monkeypatch):
    """Simulates kheperax not being installed: its import fails as it would."""
    for module in [m for m in sys.modules if m == "kheperax" or m.startswith("kheperax.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "kheperax", None)


def test_missing_kheperax_names_the_extra(without_kheperax):
    with pytest.raises(MissingExtraError, match=r"pip install 'divergent\[kheperax\]'") as error:
        tasks.make("kheperax_pointmaze")
    assert isinstance(error.value, ImportError) and error.value.name.startswith("kheperax")
    assert "task 'kheperax_pointmaze' needs the optional package 'kheperax'" in str(error.value)
    assert "kheperax_standard" in tasks.names()  # still listed: only building it needs the package
    # On the command line: one red line, no traceback.
    result = CliRunner().invoke(cli.app, ["run", "ns", "kheperax_snake", "--set", "task.episode_length=7"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "pip install 'divergent[kheperax]'" in result.output


def test_divergent_run_ns_on_kheperax(tmp_path):
    out = tmp_path / "ns"
    result = CliRunner().invoke(cli.app, [
        "run", "ns", "kheperax_standard", "--budget", "40", "--out", str(out), "--quiet",
        "--set", "task.episode_length=50", "--set", "algo.population_size=8",
        "--set", "algo.archive_per_generation=2",
    ])
    assert result.exit_code == 0, result.output
    run = runs.load(out)
    assert run.complete and run.metrics["evaluations"].iloc[-1] == 40
    positions = run.archive["gt_descriptor"]
    assert len(positions) > 0 and np.all((positions >= 0.0) & (positions <= 1.0))
    # Different genomes went to different places (the robot is driven by its genome).
    assert len(np.unique(np.round(positions, 4), axis=0)) > 1
