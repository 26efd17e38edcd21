"""runs/preflight.py: what a run checks before it writes or compiles anything.

Nothing here compiles: tasks are built (NumPy only) and initial states are
traced with jax.eval_shape, so every case runs in milliseconds.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import pytest

from runs import preflight
from runs.config import build
from runs.errors import ConfigError

HARD_MAZE = "size 600 600\nstart 60 450 45\ngoal 60 60 50\nwall 0 300 400 300\n"


def maze_files(tmp_path):
    """Maze files a user might hand over by mistake, by name."""
    files = {
        "empty": b"",
        "blank": b"\n  \n# only a comment\n",
        "binary": bytes(range(256)) * 4,
        "nul": b"size 600 600\x00\x00",
        "start-in-wall": b"size 600 600\nstart 60 300\nwall 0 300 400 300\n",
        "start-outside": b"size 600 600\nstart 700 300\n",
        "no-start": b"size 600 600\n",
        "good": HARD_MAZE.encode(),
    }
    for name, data in files.items():
        (tmp_path / f"{name}.txt").write_bytes(data)
    (tmp_path / "folder.txt").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "sets, words",
    [
        (["task.episode_length=0"], ["task_config.episode_length=0", "must be >= 1"]),
        (["task.episode_length=2.5"], ["task_config.episode_length", "integer", "2.5"]),
        (["task.episode_length=abc"], ["task_config.episode_length", "integer", "'abc'"]),
        (["task.robot_radius=-1"], ["robot_radius", "> 0"]),
        (["task.robot_radius=nan"], ["task_config.robot_radius", "finite"]),
        (["task.max_speed=.inf"], ["task_config.max_speed", "finite"]),
        (["task.start=[-50, -50]"], ["start (-50.0, -50.0)", "inside the 600x600 world"]),
        (["task.start=[60]"], ["task_config.start", "2 items"]),
        (["task.world_size=[0, 0]"], ["size must be positive"]),
        (["task.reward_areas=[[60, 60, -5]]"], ["radius must be > 0"]),
        (["task.policy_hidden=[0]"], ["policy_hidden", ">= 1", "[0]"]),
        (["task.policy_hidden=[-3, 5]"], ["policy_hidden", ">= 1"]),
        (["task.maze_file=/nonexistent.txt"], ["task_config.maze_file", "/nonexistent.txt", "No such file"]),
        (["task.maze_file=''"], ["maze_file must name a maze file"]),
        (["algo.init_std=-1"], ["init_std must be >= 0", "-1"]),
        (["algo.init_std=nan"], ["algo.init_std must be a finite number", "nan"]),
        (["algo.init_std=.nan"], ["algo.init_std must be a finite number"]),
        (["algo.mutation_sigma=inf"], ["algo.mutation_sigma must be a finite number", "inf"]),
        (["algo.mutation_sigma=-.inf"], ["algo.mutation_sigma must be a finite number"]),
        (["algo.k=1e400"], ["algo.k must be an integer"]),
        (["algo.archive_capacity=1000000000"], ["GiB", "memory", "algo.archive_capacity=1000000000"]),
        (["algo.population_size=0"], ["population_size must be a positive integer"]),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(sets, words):
    with pytest.raises(ConfigError) as caught:
        preflight.check(build("ns", "hardmaze", budget=1000, sets=sets))
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    "name, words",
    [
        ("empty", ["empty.txt", "empty"]),
        ("blank", ["blank.txt", "no maze lines"]),
        ("binary", ["binary.txt", "not a text maze file", "0x80"]),
        ("nul", ["nul.txt", "NUL"]),
        ("start-in-wall", ["start-in-wall.txt", "inside wall 0"]),
        ("start-outside", ["start-outside.txt", "inside the 600x600 world"]),
        ("no-start", ["no-start.txt", "missing 'start'"]),
        ("folder", ["folder.txt", "is a directory"]),
    ],
)
def test_bad_maze_files_are_named(tmp_path, name, words):
    folder = maze_files(tmp_path)
    config = build("ns", "hardmaze", budget=1000, sets=[f"task.maze_file={folder / name}.txt"])
    with pytest.raises(ConfigError) as caught:
        preflight.check(config)
    assert str(folder / name) in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_a_good_config_is_ready_with_its_task_and_state_shapes(tmp_path):
    folder = maze_files(tmp_path)
    config = build("ns", "hardmaze", budget=1000, sets=[f"task.maze_file={folder}/good.txt"])
    ready = preflight.check(config)
    assert ready.task.maze.start == (60.0, 450.0)
    assert ready.task is preflight.task_of(config)  # cached: jit's caches hit across runs
    leaves = jax.tree.leaves(ready.skeleton)
    assert leaves and all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    assert ready.state_bytes == preflight.tree_bytes(ready.skeleton) > 0


@pytest.mark.parametrize("algorithm", ["ns", "me", "random", "serene", "cmaes", "nsga2"])
def test_every_algorithm_passes_with_its_defaults(algorithm):
    ready = preflight.check(build(algorithm, "hardmaze", budget=100_000))
    assert 0 < ready.state_bytes < 2 * 1024**3


def test_memory_refusal_names_both_figures(toy_config):
    config = toy_config()
    ready = preflight.check(config)
    with pytest.raises(ConfigError) as caught:
        preflight.check(config, memory=ready.state_bytes)  # room for one copy, the run needs two
    message = str(caught.value)
    assert "MiB" in message and "this device has" in message and "algo.capacity=64" in message
    assert preflight.check(config, memory=preflight.STATE_COPIES * ready.state_bytes).state_bytes == ready.state_bytes


def test_a_state_too_big_for_the_machine_is_refused_without_allocating(toy_config):
    config = toy_config(sets=["algo.capacity=2000000000"])
    with pytest.raises(ConfigError, match=r"GiB.*this device has .* of memory; lower algo.capacity=2000000000"):
        preflight.check(config)


def test_tree_bytes_counts_arrays_shapes_and_keys():
    tree = {
        "a": jnp.zeros((3, 4), jnp.float32),
        "b": jax.ShapeDtypeStruct((10,), jnp.int8),
        "key": jax.random.key(0),
        "raw": jax.random.PRNGKey(0),
    }
    assert preflight.tree_bytes(tree) == 48 + 10 + 8 + 8


def test_device_memory_is_the_machines():
    assert preflight.device_memory() > 0
    assert preflight.host_memory() > 0


@pytest.mark.parametrize("algorithm, key", [
    ("ns", "algo.init_std"), ("me", "algo.init_std"), ("random", "algo.init_std"), ("serene", "algo.ns.init_std"),
    ("cmaes", "algo.init_std"), ("nsga2", "algo.init_std"), ("cmame", "algo.init_std"),
])
@pytest.mark.parametrize("value, words", [(-1, "init_std must be >= 0"), ("nan", "init_std must be a finite")])
def test_every_algorithm_refuses_a_bad_init_std(algorithm, key, value, words):
    with pytest.raises(ConfigError, match=f"{key}|{words}") as error:
        preflight.check(build(algorithm, "hardmaze", budget=100_000, sets=[f"{key}={value}"]))
    assert words in str(error.value)


def test_an_edited_maze_file_is_read_again(tmp_path):
    maze = tmp_path / "maze.txt"
    maze.write_text(HARD_MAZE)
    config = build("ns", "hardmaze", budget=1000, sets=[f"task.maze_file={maze}"])
    assert preflight.task_of(config).maze.start == (60.0, 450.0)
    maze.write_text(HARD_MAZE.replace("start 60 450 45", "start 500 500 0"))
    os.utime(maze, ns=(0, 10**18))  # a different modification time, however fast the test runs
    assert preflight.task_of(config).maze.start == (500.0, 500.0)
    maze.write_text("size 600 600\nstart 60 300\nwall 0 300 400 300\n")
    os.utime(maze, ns=(0, 2 * 10**18))
    with pytest.raises(ConfigError, match="inside wall 0"):
        preflight.check(config)
