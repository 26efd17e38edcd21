"""tasks/fields.py: the task configs check their fields' types by name, so the
Python API (`tasks.make`) says which setting is wrong."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tasks
from tasks import fields

TASKS = ["hardmaze", "curling", "redundant_arm"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(
    "value, error, words",
    [
        ("abc", TypeError, "must be an integer, got 'abc'"),
        (2.5, ValueError, "must be an integer, got 2.5"),
        (True, TypeError, "must be an integer, got True"),
        (None, TypeError, "must be an integer, got None"),
        (math.nan, ValueError, "must be an integer, got nan"),
        (0, ValueError, "must be >= 1, got 0"),
        (-5, ValueError, "must be >= 1, got -5"),
    ],
)
def test_episode_length_must_be_a_positive_integer(task, value, error, words):
    with pytest.raises(error, match=f"episode_length {words}"):
        tasks.make(task, episode_length=value)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("value", [12.0, np.int64(12), np.int32(12), np.float32(12.0)])
def test_integral_numbers_are_accepted_as_ints(task, value):
    config = tasks.make_config(task, episode_length=value)
    assert config.episode_length == 12 and type(config.episode_length) is int


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(
    "value, error, words",
    [
        ([0], ValueError, r"policy_hidden must list layer widths >= 1"),
        ([5, -1], ValueError, r"policy_hidden must list layer widths >= 1"),
        ("55", TypeError, r"policy_hidden must be a tuple"),
        (5, TypeError, r"policy_hidden must be a tuple"),
        ([5, 2.5], ValueError, r"policy_hidden\[1\] must be an integer, got 2.5"),
    ],
)
def test_policy_hidden_is_checked(task, value, error, words):
    with pytest.raises(error, match=words):
        tasks.make(task, policy_hidden=value)


@pytest.mark.parametrize("task", TASKS)
def test_lists_become_tuples_so_configs_hash(task):
    config = tasks.make_config(task, policy_hidden=[4, np.int64(3)])
    assert config.policy_hidden == (4, 3)
    hash(config)


@pytest.mark.parametrize(
    "task, field, value, error, words",
    [
        ("hardmaze", "robot_radius", "ten", TypeError, "robot_radius must be a number, got 'ten'"),
        ("hardmaze", "robot_radius", math.nan, ValueError, "robot_radius must be a finite number"),
        ("hardmaze", "robot_radius", -1, ValueError, "robot_radius and laser_range must be > 0"),
        ("hardmaze", "laser_range", math.inf, ValueError, "laser_range must be a finite number"),
        ("hardmaze", "start", (1, 2, 3), ValueError, r"start must have 2 items"),
        ("hardmaze", "start", "60,450", TypeError, r"start must be a tuple"),
        ("hardmaze", "walls", [[0, 1, 2]], ValueError, r"walls\[0\] must have 4 items"),
        ("hardmaze", "walls", [[0, 1, 2, math.inf]], ValueError, r"walls\[0\]\[3\] must be a finite number"),
        ("hardmaze", "maze_file", 42, TypeError, "maze_file must be a string"),
        ("hardmaze", "maze_file", " ", ValueError, "maze_file must name a maze file"),
        ("hardmaze", "laser_angles", [0, "x"], TypeError, r"laser_angles\[1\] must be a number"),
        ("curling", "dt", math.inf, ValueError, "dt must be a finite number"),
        ("curling", "dt", 0, ValueError, "dt must be > 0"),
        ("curling", "substeps", 1.5, ValueError, "substeps must be an integer"),
        ("curling", "ball_start", (0.1,), ValueError, "ball_start must have 2 items"),
        ("redundant_arm", "n_joints", "20", TypeError, "n_joints must be an integer"),
        ("redundant_arm", "self_collision", 1, TypeError, "self_collision must be True or False"),
        ("redundant_arm", "max_step", math.nan, ValueError, "max_step must be a finite number"),
        ("redundant_arm", "walls", [(0, 0, 1, 1, 5)], ValueError, r"walls\[0\] must have 4 items"),
        ("redundant_arm", "n_joints", 100_000, ValueError, "n_joints must be <= 1000 with self_collision"),
    ],
)
def test_each_field_is_named(task, field, value, error, words):
    with pytest.raises(error, match=words):
        tasks.make(task, **{field: value})


def test_paths_and_reward_areas_are_normalised(tmp_path):
    from pathlib import Path

    maze = tmp_path / "maze.txt"
    maze.write_text("size 100 100\nstart 50 50\n")
    task = tasks.make("hardmaze", maze_file=Path(maze), reward_areas=[tasks.RewardArea((10, 10), 5)])
    assert task.config.maze_file == str(maze) and task.config.reward_areas == ((10.0, 10.0, 5.0),)


def test_open_bounds_may_be_infinite():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Config:
        genome_low: float = -5.0
        sigma: float = 1.0

        def __post_init__(self):
            fields.normalise(self)

    assert Config(genome_low=-math.inf).genome_low == -math.inf
    with pytest.raises(ValueError, match="sigma must be a finite number"):
        Config(sigma=math.inf)
