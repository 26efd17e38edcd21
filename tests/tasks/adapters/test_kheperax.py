"""tasks/adapters/kheperax.py: Kheperax's mazes behind our task contract.

A short `divergent run` (module fixture) gives the genomes and final
positions that Kheperax's own environment, stepped directly, must reproduce;
the rest builds tasks and draws without compiling an episode. Slow checks
(`pytest -m slow`): every step against Kheperax's scoring function, and
SERENE, MAP-Elites and TAXONS on a Kheperax maze.
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
from runs import cli
from tasks.adapters.kheperax import KheperaxMLP, KheperaxPhysics
from tasks.adapters.optional import MissingExtraError

STEPS = 50
MAZES = ("standard", "pointmaze", "snake")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short `divergent run ns kheperax_standard` (one device: sharded
    rollouts are tested on every task by tests/tasks/test_evaluator.py)."""
    out = tmp_path_factory.mktemp("kheperax") / "ns"
    result = CliRunner().invoke(cli.app, [
        "run", "ns", "kheperax_standard", "--budget", "40", "--out", str(out), "--quiet",
        "--set", f"task.episode_length={STEPS}", "--set", "algo.population_size=8",
        "--set", "algo.archive_per_generation=8", "--set", "shard=false",
    ])
    assert result.exit_code == 0, result.output
    return runs.load(out)


def kheperax_final_positions(genomes: np.ndarray, episode_length: int) -> np.ndarray:
    """Kheperax's own environment, stepped directly with Kheperax's controller
    (QDax's MLP as `KheperaxTask.create_default_task` builds it), the genomes
    unflattened into its parameters: final (x, y) [B, 2]."""
    from kheperax.tasks.config import KheperaxConfig
    from kheperax.tasks.main import KheperaxTask

    config = KheperaxConfig.get_default_for_map("standard")
    config.episode_length = episode_length
    env, network, _ = KheperaxTask.create_default_task(config, jax.random.PRNGKey(0))
    policy = tasks.make("kheperax_standard").default_policy()
    same = ("layer_sizes", "activation", "final_activation", "bias")
    assert all(getattr(network, a) == getattr(policy.module, a) for a in same)  # the same controller
    params = jax.vmap(policy.unravel)(jnp.asarray(genomes))

    @jax.jit
    def episode(params, keys):
        def step(_, states):
            return jax.vmap(env.step)(states, jax.vmap(network.apply)(params, states.obs))

        states = jax.lax.fori_loop(0, episode_length, step, jax.vmap(env.reset)(keys))
        return jnp.stack([states.robot.posture.x, states.robot.posture.y], axis=1)

    return np.asarray(episode(params, jax.random.split(jax.random.PRNGKey(0), len(genomes))))


def test_divergent_run_ns_on_kheperax(run):
    assert run.complete and run.metrics["evaluations"].iloc[-1] == 40
    positions = run.archive["gt_descriptor"]
    assert len(positions) == 16 and np.all((positions >= 0.0) & (positions <= 1.0))
    # Different genomes went to different places (the robot is driven by its genome).
    assert len(np.unique(np.round(positions, 4), axis=0)) > len(positions) // 2


def test_same_genome_same_final_position_as_kheperax(run):
    ours = run.archive["gt_descriptor"]
    np.testing.assert_allclose(ours, kheperax_final_positions(run.archive["genome"], STEPS), atol=1e-6)


def test_render_draws_the_robot_and_the_walls():
    from kheperax.simu.posture import Posture

    task = tasks.make("kheperax_standard")
    physics = KheperaxPhysics(Posture(jnp.float32(0.6), jnp.float32(0.3), jnp.float32(0.0)),
                              jnp.zeros(5), jax.random.PRNGKey(0))
    view = np.asarray(task.render(physics))
    assert view.shape == (64, 64, 3) and view.min() >= 0.0 and view.max() <= 1.0
    row, col = int((1.0 - 0.3) * 64), int(0.6 * 64)  # y up: row 0 is the top
    np.testing.assert_array_equal(view[row, col], [1.0, 0.0, 0.0])
    # The vertical wall x = 0.25, y in [0.25, 0.75] is black; open floor is white.
    np.testing.assert_array_equal(view[32, 16], 0.0)
    np.testing.assert_array_equal(view[5, 40], 1.0)


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


SLOW_RUNS = {  # every algorithm family on a Kheperax maze, small settings (pytest -m slow)
    "serene": ["algo.ns.population_size=8", "algo.ns.k=3", "algo.scheduler.chunk_size=48",
               "algo.emitter_capacity=8", "algo.emitters_per_step=2"],
    "me": ["algo.batch_size=16", "algo.cells_per_dim=8"],
    "ns[autoencoder]": ["algo.population_size=8", "representation=autoencoder", "rep.width=4",
                        "rep.latent_size=3", "rep.max_epochs=2", "rep.refit_schedule=every", "rep.refit_every=2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_RUNS))
def test_every_algorithm_family_runs_on_kheperax(name, tmp_path):
    out = tmp_path / "run"
    sets = [a for s in SLOW_RUNS[name] for a in ("--set", s)]
    result = CliRunner().invoke(cli.app, [
        "run", name.split("[")[0], "kheperax_snake_quad", "--budget", "160", "--out", str(out), "--quiet",
        "--set", "task.episode_length=30", *sets,
    ])
    assert result.exit_code == 0, result.output
    run = runs.load(out)
    assert run.complete and run.metrics["evaluations"].iloc[-1] >= 160
    positions = run.archive["gt_descriptor"]
    assert len(positions) > 0 and np.all((positions >= -1.0) & (positions <= 1.0))
    if name == "ns[autoencoder]":
        assert run.metrics["representation_fits"].iloc[-1] > 0


@pytest.mark.slow
def test_every_step_matches_kheperax_scoring_function():
    """Every position of the episode, against Kheperax's QDax scoring function;
    its descriptor is the position before the last step (module doc)."""
    from kheperax.tasks.config import KheperaxConfig
    from kheperax.tasks.main import KheperaxTask

    task = tasks.make("kheperax_standard", episode_length=STEPS, trajectory_points=STEPS)
    policy = task.default_policy()
    genomes = jax.random.normal(jax.random.PRNGKey(3), (8, policy.genome_size))
    ours = tasks.rollout(task, genomes, jax.random.PRNGKey(0))
    config = KheperaxConfig.get_default_for_map("standard")
    config.episode_length = STEPS
    _, _, scoring_fn = KheperaxTask.create_default_task(config, jax.random.PRNGKey(0))
    _, descriptors, extra, _ = jax.jit(scoring_fn)(jax.vmap(policy.unravel)(genomes), jax.random.PRNGKey(5))
    np.testing.assert_allclose(ours.trajectory, extra["transitions"].next_state_desc, atol=1e-6)
    np.testing.assert_allclose(ours.trajectory[:, -2], descriptors, atol=1e-6)
