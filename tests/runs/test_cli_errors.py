"""What a hostile but ordinary user types wrong, through the command line.

Every case must print exactly one `error:` line naming the bad value, exit
with status 2, and leave every existing file byte-identical (nothing new
either): the folder holding the run is hashed before and after. Nothing here
compiles: a bad config is refused before, and the finished run every case
starts from is made once per module.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from runs import checkpoint, cli, loop, rundir
from runs.config import build
from tests.runs.test_cli import assert_one_red_line

TOY = ["toy", "toy_point", "--set", "algo.poison=true"]
SPENT = 64  # evaluations of the finished run
# A YAML "billion laughs": 9 levels of 9 aliases, 387 million items when written out.
BOMB = "[" + ", ".join(
    [f"&a0 [{', '.join(['1'] * 9)}]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
) + "]"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished toy run (64 evaluations, checkpoints at 4 and 7)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    config = build(*TOY[:2], budget=SPENT, out=str(out), sets=("algo.poison=true", "checkpoint_every=4"))
    assert loop.start(config).status == "complete"
    return out


@pytest.fixture
def place(tmp_path, finished):
    """A copy of the finished run at tmp_path/run, and a few files beside it."""
    shutil.copytree(finished, tmp_path / "run")
    (tmp_path / "file").write_text("not a directory\n")
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff" * 10)
    (tmp_path / "bomb.yaml").write_text(f"algorithm: toy\ntask: toy_point\nseed: {BOMB}\n")
    mazes = {
        "empty.txt": b"",
        "binary.txt": bytes(range(256)),
        "in-wall.txt": b"size 600 600\nstart 60 300\nwall 0 300 400 300\n",
    }
    for name, data in mazes.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def snapshot(root: Path) -> dict:
    """Every file (hash) and folder under root."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in files:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def binary(name):
    def spoil(tmp):
        (tmp / "run" / name).write_bytes(b"\xff\xfe\x00garbage\x80" * 20)
    return spoil


def edit_config(old, new):
    def spoil(tmp):
        path = tmp / "run" / rundir.CONFIG
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    return spoil


def random_archive(tmp):
    (tmp / "run" / rundir.ARCHIVE).write_bytes(np.random.default_rng(0).bytes(3000))


def ragged_archive(tmp):
    path = tmp / "run" / rundir.ARCHIVE
    with np.load(path) as z:
        arrays = dict(z)
    arrays["reward"] = arrays["reward"][:-3]
    np.savez(path, **arrays)


def pickled_archive(tmp):
    path = tmp / "run" / rundir.ARCHIVE
    with np.load(path) as z:
        arrays = dict(z)
    arrays["reward"] = np.array([{"evil": 1}, None], dtype=object)
    np.savez(path, **arrays)


def corrupt_newest_checkpoint(tmp):
    newest = checkpoint.list_checkpoints(tmp / "run" / rundir.CHECKPOINTS)[-1]
    newest.write_bytes(newest.read_bytes()[:-100])


def delete_checkpoints(tmp):
    for path in checkpoint.list_checkpoints(tmp / "run" / rundir.CHECKPOINTS):
        path.unlink()


def stale_temp(tmp):
    """A temp file a killed writer left, and a corrupt checkpoint: the failed
    resume must not even clean up the temp file."""
    (tmp / "run" / rundir.CHECKPOINTS / ".ckpt-000000009.npz.abc.tmp").write_bytes(b"half")
    corrupt_newest_checkpoint(tmp)


def nothing(tmp):
    pass


NEW = "{tmp}/new"
HARDMAZE = ["run", "ns", "hardmaze", "--budget", 400, "--out", NEW, "--set"]
CASES = {
    # settings only the task or the algorithm can judge: refused before the directory is made
    "episode_length=0": (nothing, [*HARDMAZE, "task.episode_length=0"], ["task_config.episode_length=0", ">= 1"]),
    "episode_length=2.5": (nothing, [*HARDMAZE, "task.episode_length=2.5"], ["task_config.episode_length", "2.5"]),
    "robot_radius=-1": (nothing, [*HARDMAZE, "task.robot_radius=-1"], ["robot_radius", "> 0"]),
    "start outside": (nothing, [*HARDMAZE, "task.start=[-50, -50]"], ["start (-50.0, -50.0)", "600x600 world"]),
    "maze missing": (nothing, [*HARDMAZE, "task.maze_file=/nonexistent.txt"], ["/nonexistent.txt", "No such file"]),
    "maze empty": (nothing, [*HARDMAZE, "task.maze_file={tmp}/empty.txt"], ["{tmp}/empty.txt", "empty"]),
    "maze binary": (nothing, [*HARDMAZE, "task.maze_file={tmp}/binary.txt"], ["{tmp}/binary.txt", "not a text"]),
    "maze start in wall": (nothing, [*HARDMAZE, "task.maze_file={tmp}/in-wall.txt"],
                           ["{tmp}/in-wall.txt", "inside wall"]),
    "maze is a folder": (nothing, [*HARDMAZE, "task.maze_file={tmp}"], ["{tmp}", "is a directory"]),
    "policy_hidden=[0]": (nothing, [*HARDMAZE, "task.policy_hidden=[0]"], ["policy_hidden", "[0]"]),
    "init_std=-1": (nothing, [*HARDMAZE, "algo.init_std=-1"], ["init_std must be >= 0", "-1"]),
    "init_std=nan": (nothing, [*HARDMAZE, "algo.init_std=nan"], ["algo.init_std", "finite", "nan"]),
    "mutation_sigma=inf": (nothing, [*HARDMAZE, "algo.mutation_sigma=inf"], ["algo.mutation_sigma", "finite"]),
    "mutation_sigma=1e999": (nothing, [*HARDMAZE, "algo.mutation_sigma=1e999"], ["algo.mutation_sigma", "finite"]),
    "archive_capacity=1e9": (nothing, [*HARDMAZE, "algo.archive_capacity=1000000000"],
                             ["GiB", "memory", "algo.archive_capacity=1000000000"]),
    "toy capacity=2e9": (nothing, ["run", *TOY, "--out", NEW, "--set", "algo.capacity=2000000000"],
                         ["GiB", "algo.capacity=2000000000"]),
    "alias bomb in --set": (nothing, ["run", *TOY, "--out", NEW, "--set", f"algo.batch_size={BOMB}"],
                            ["algo.batch_size must be an integer"]),
    "log_every=0": (nothing, ["run", *TOY, "--out", NEW, "--set", "log_every=0"], ["log_every must be >= 1"]),
    "seed=-1": (nothing, ["run", *TOY, "--out", NEW, "--seed", -1], ["seed must be in"]),
    # --out and --preset that cannot be used
    "out under a file": (nothing, ["run", *TOY, "--out", "{tmp}/file/sub/run"], ["{tmp}/file", "is a file"]),
    "out name too long": (nothing, ["run", *TOY, "--out", "{tmp}/" + "x" * 300], ["File name too long"]),
    "maze relative path": (nothing, [*HARDMAZE, "task.maze_file=no/such/maze.txt"],
                           ["no/such/maze.txt", "a relative path, read from", "No such file"]),
    "out is a file": (nothing, ["run", *TOY, "--out", "{tmp}/file"], ["{tmp}/file", "is a file"]),
    "out holds a binary config": (binary("config.yaml"), ["run", *TOY, "--budget", SPENT, "--out", "{tmp}/run"],
                                  ["config.yaml", "not a UTF-8 text file", "--overwrite"]),
    "same run again": (nothing, ["run", *TOY, "--budget", SPENT, "--out", "{tmp}/run", "--set", "checkpoint_every=4"],
                       ["already holds this run"]),
    "binary preset": (nothing, ["run", "--preset", "{tmp}/binary.yaml", "--out", NEW],
                      ["binary.yaml", "not a YAML text"]),
    "preset is a run folder": (nothing, ["run", "--preset", "{tmp}/run", "--out", NEW],
                               ["is a directory", "{tmp}/run/config.yaml"]),
    "alias bomb preset": (nothing, ["run", "--preset", "{tmp}/bomb.yaml", "--out", NEW], ["seed must be an integer"]),
    # flags and commands click parses
    "budget abc": (nothing, ["run", *TOY, "--out", NEW, "--budget", "abc"], ["--budget must be an integer, got 'abc'"]),
    "budget 2.5": (nothing, ["run", *TOY, "--out", NEW, "--budget", "2.5"], ["--budget must be an integer"]),
    "seed 1.5": (nothing, ["run", *TOY, "--out", NEW, "--seed", "1.5"], ["--seed must be an integer, got '1.5'"]),
    "resume budget x": (nothing, ["resume", "{tmp}/run", "--budget", "x"], ["--budget must be an integer"]),
    "unknown option": (nothing, ["run", *TOY, "--out", NEW, "--bugdet", 5], ["No such option: --bugdet", "--help"]),
    "option without value": (nothing, ["run", *TOY, "--out"], ["'--out' requires an argument"]),
    "unknown command": (nothing, ["rnu", "ns"], ["No such command 'rnu'", "divergent --help"]),
    "resume without folder": (nothing, ["resume"], ["Missing argument", "divergent resume --help"]),
    "inspect a file": (nothing, ["inspect", "{tmp}/file"], ["{tmp}/file", "is a file"]),
    # resume
    "resume a file": (nothing, ["resume", "{tmp}/file"], ["{tmp}/file", "is a file"]),
    "resume edited to a huge state": (edit_config("capacity: 64", "capacity: 2000000000"), ["resume", "{tmp}/run"],
                                      ["GiB", "algo.capacity=2000000000"]),
    "resume edited to nonsense": (edit_config("sigma: 0.2", "sigma: .nan"), ["resume", "{tmp}/run", "--budget", 128],
                                  ["config.yaml", "algo.sigma must be a finite number"]),
    "resume edited to another run": (edit_config("sigma: 0.2", "sigma: 0.3"), ["resume", "{tmp}/run", "--budget", 128],
                                     ["ckpt-000000007.npz", "different run config", "algo.sigma"]),
    "resume binary config": (binary("config.yaml"), ["resume", "{tmp}/run"], ["config.yaml", "not a UTF-8"]),
    "resume binary metrics": (binary("metrics.csv"), ["resume", "{tmp}/run", "--budget", 128],
                              ["metrics.csv", "not a UTF-8"]),
    "resume budget below spent": (nothing, ["resume", "{tmp}/run", "--budget", 32],
                                  ["--budget 32", f"{SPENT} evaluations", f">= {SPENT}"]),
    "resume budget below one generation": (nothing, ["resume", "{tmp}/run", "--budget", 4], ["budget must be >= 8"]),
    "resume corrupt checkpoint": (corrupt_newest_checkpoint, ["resume", "{tmp}/run", "--budget", 128],
                                  ["ckpt-000000007.npz", "truncated or corrupt"]),
    "resume keeps temp files": (stale_temp, ["resume", "{tmp}/run", "--budget", 128], ["truncated or corrupt"]),
    "resume checkpoints is a file": (lambda tmp: (delete_checkpoints(tmp), (tmp / "run" / rundir.ARCHIVE).unlink(),
                                                  shutil.rmtree(tmp / "run" / rundir.CHECKPOINTS),
                                                  (tmp / "run" / rundir.CHECKPOINTS).write_text("x")),
                                     ["resume", "{tmp}/run"], ["checkpoints is a file"]),
    "resume deleted checkpoints": (delete_checkpoints, ["resume", "{tmp}/run", "--budget", 128],
                                   ["no checkpoint to resume from", "archive.npz", "--overwrite"]),
    # inspect
    "inspect binary config": (binary("config.yaml"), ["inspect", "{tmp}/run"], ["config.yaml", "not a UTF-8"]),
    "inspect binary metrics": (binary("metrics.csv"), ["inspect", "{tmp}/run"], ["metrics.csv", "not a UTF-8"]),
    "inspect random archive": (random_archive, ["inspect", "{tmp}/run"], ["archive.npz", "not a NumPy .npz"]),
    "inspect ragged archive": (ragged_archive, ["inspect", "{tmp}/run"], ["archive.npz", "disagree in length"]),
    "inspect pickled archive": (pickled_archive, ["inspect", "{tmp}/run"], ["archive.npz", "pickles"]),
    # compare, report and sweep
    "compare foreign metrics": (lambda tmp: (tmp / "run" / "metrics.csv").write_text("a,b\n1,2\n"),
                                ["compare", "{tmp}/run", "--out", NEW], ["metrics.csv", "no 'evaluations' column"]),
    "compare a run without metrics": (lambda tmp: (tmp / "run" / "metrics.csv").write_text("generation,evaluations\n"),
                                      ["compare", "{tmp}/run", "--out", NEW],
                                      ["nothing to compare: {tmp}/run: no metrics logged yet", "divergent resume"]),
    "report replays -1": (nothing, ["report", "{tmp}/run", "--replays", "-1", "--out", "{tmp}/r.html"],
                          ["--replays must be 0 or more, got -1"]),
    "report replays abc": (nothing, ["report", "{tmp}/run", "--replays", "abc", "--out", "{tmp}/r.html"],
                           ["--replays must be an integer, got 'abc'"]),
    "sweep seeds a": (nothing, ["sweep", "--algos", "toy", "--tasks", "toy_point", "--seeds", "a", "--out", NEW],
                      ["seeds: 'a' is not a seed", "0-9"]),
}


@pytest.mark.parametrize("spoil, args, words", CASES.values(), ids=CASES.keys())
def test_a_failed_command_names_the_problem_and_changes_nothing(place, spoil, args, words):
    spoil(place)
    fill = lambda text: str(text).replace("{tmp}", str(place))  # noqa: E731
    before = snapshot(place)
    result = CliRunner().invoke(cli.app, [fill(a) for a in args])
    assert_one_red_line(result, *map(fill, words))
    assert "allow_pickle" not in result.output  # never advise loading a user's file unsafely
    assert len(result.output) < cli.MAX_MESSAGE + 100
    assert snapshot(place) == before


def test_the_bomb_is_a_bomb():
    import yaml

    value = yaml.safe_load(BOMB)
    assert len(value) == 9 and len(value[8]) == 9 and value[8][0] is value[7]  # shared, not copied
