"""runs/cli.py through typer's CliRunner, and one real `divergent` process
killed with SIGKILL mid-run then resumed."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import jax
import pytest
from typer.testing import CliRunner

import runs
import runs.config
from runs import checkpoint, cli, loop, rundir
from tests.runs.test_loop import assert_same_run

ROOT = Path(__file__).resolve().parents[2]
TOY = ["toy", "toy_point", "--set", "algo.poison=true"]


@pytest.fixture
def invoke():
    runner = CliRunner()

    def call(*args):
        return runner.invoke(cli.app, [str(a) for a in args])

    return call


def assert_one_red_line(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", [[], ["list"], ["run"], ["resume"], ["inspect"], ["sweep"], ["compare"]])
def test_every_command_explains_itself(invoke, command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output and len(result.output.splitlines()) > 3


def test_list_shows_everything_runnable(invoke):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    for word in ["algorithms", "toy", "tasks", "toy_point", "representations", "ground_truth",
                 "presets", "ns-hardmaze-quick", "Quick demo"]:
        assert word in result.output


def test_run_then_same_run_says_resume(invoke, tmp_path):
    out = tmp_path / "run"
    result = invoke("run", *TOY, "--budget", 64, "--out", out, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "devices: 2 x cpu" in result.output and "complete" in result.output
    run = runs.load(out)
    assert run.config.seed == 1 and run.complete and len(run.archive["reward"]) > 0
    again = invoke("run", *TOY, "--budget", 64, "--out", out, "--seed", 1)
    assert_one_red_line(again, "already holds this run", f"divergent resume {out}")
    other = invoke("run", *TOY, "--budget", 64, "--out", out, "--seed", 2, "--quiet")
    assert_one_red_line(other, "differs in: seed")
    assert invoke("run", *TOY, "--budget", 64, "--out", out, "--seed", 2, "--quiet", "--overwrite").exit_code == 0
    assert runs.load(out).config.seed == 2
    extended = invoke("resume", out, "--budget", 128, "--quiet")
    assert extended.exit_code == 0, extended.output
    assert runs.load(out).metrics["evaluations"].iloc[-1] == 128


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", *TOY, "--set", "algo.batchsize=3"], ["'algo.batchsize'", "batch_size"]),
        (["run", *TOY, "--budget", "-4"], ["budget must be >= 8"]),
        (["run", "nope", "toy_point"], ["unknown algorithm 'nope'"]),
        (["run", "toy", "nope"], ["unknown task 'nope'"]),
        (["run", "toy", "toy_point", "--preset", "ns-hardmaze"], ["is for algorithm 'ns', not 'toy'"]),
        (["run", "--preset", "nope"], ["unknown preset 'nope'"]),
        (["run"], ["no algorithm given"]),
        (["resume", "/nonexistent/run"], ["no such run directory"]),
        (["inspect", "/nonexistent/run"], ["no such run directory"]),
    ],
)
def test_mistakes_print_one_red_line_and_exit_2(invoke, args, words):
    assert_one_red_line(invoke(*args), *words)


@pytest.mark.parametrize("text, value", [("200", 200), ("2e2", 200), ("1_000", 1000), ("4.0e2", 400)])
def test_budget_and_seed_read_numbers_like_the_config(invoke, monkeypatch, text, value):
    seen = []
    monkeypatch.setattr(cli, "_run_loop", lambda start, quiet: seen.append(start))
    monkeypatch.setattr(cli, "_loop", lambda: types.SimpleNamespace(start=lambda config, **_: config))
    result = invoke("run", *TOY, "--budget", text, "--seed", text)
    assert result.exit_code == 0, result.output
    config = seen[0](None)
    assert (config.budget, config.seed) == (value, value)


def test_resume_without_a_checkpoint_starts_from_scratch_and_says_so(invoke, tmp_path):
    out = tmp_path / "run"
    config = runs.config.build(*TOY[:2], budget=32, out=str(out), sets=TOY[3:])
    rundir.create(out, config)  # what a run killed while compiling leaves
    result = invoke("resume", out)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "no checkpoint" in said and "starting it from generation 0" in said
    assert runs.load(out).complete


def test_resume_of_a_corrupt_checkpoint_says_which_file(invoke, tmp_path):
    out = tmp_path / "run"
    assert invoke("run", *TOY, "--budget", 32, "--out", out, "--quiet").exit_code == 0
    newest = checkpoint.list_checkpoints(out / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[:-50])
    assert_one_red_line(invoke("resume", out), str(newest), "truncated or corrupt")


def test_inspect_delegates_to_runs_inspect(invoke, tmp_path, monkeypatch):
    seen = []

    def inspect_run(run_dir):
        seen.append(run_dir)
        return "the summary"

    fake = types.SimpleNamespace(inspect_run=inspect_run, format_summary=lambda s: f"printed {s}")
    monkeypatch.setitem(sys.modules, "runs.inspect", fake)
    monkeypatch.setattr(runs, "inspect", fake, raising=False)
    result = invoke("inspect", tmp_path)
    assert result.exit_code == 0, result.output
    assert seen == [tmp_path] and "printed the summary" in result.output


def test_compile_cache_location(monkeypatch, tmp_path):
    before = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setenv("DIVERGENT_JAX_CACHE", str(tmp_path / "cache"))
        keyed = str(tmp_path / "cache" / cli.cpu_key())  # one folder per CPU type
        assert cli.enable_compile_cache() == keyed
        assert jax.config.jax_compilation_cache_dir == keyed
        monkeypatch.setenv("DIVERGENT_JAX_CACHE", "off")
        assert cli.enable_compile_cache() is None
        monkeypatch.delenv("DIVERGENT_JAX_CACHE")
        assert cli.enable_compile_cache() == keyed  # configured already: kept
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path, toy_config):
    """A real `divergent run` process, killed with SIGKILL after its first
    checkpoint, resumed: same archive and metrics as a run never stopped."""
    sets = ["checkpoint_every=5"]
    killed = tmp_path / "killed"
    env = dict(
        os.environ,
        TOY_SLEEP_S="0.05",  # slow the steps so the kill lands mid-run
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
        DIVERGENT_JAX_CACHE=jax.config.jax_compilation_cache_dir or "off",
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",  # cache even quick compiles, as conftest does
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        PYTHONPATH=str(ROOT),
    )
    program = "import tests.runs.toy; from runs.cli import app; app(prog_name='divergent')"
    args = ["run", *TOY, "--budget", 800, "--out", killed, "--quiet", *sum((["--set", s] for s in sets), [])]
    process = subprocess.Popen(
        [sys.executable, "-c", program, *map(str, args)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not checkpoint.list_checkpoints(killed / "checkpoints"):
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / rundir.ARCHIVE).exists()

    result = loop.resume(killed)
    assert result.status == "complete"
    whole = toy_config("whole", budget=800, sets=sets)
    loop.start(whole)
    assert_same_run(whole.out, killed)


def test_a_run_that_hits_the_compile_cache_prints_nothing_alarming(tmp_path):
    """Two real `divergent run` processes sharing a fresh compile cache: the
    second loads every program from it (where XLA:CPU used to log ~3 KB
    "machine type ... doesn't match" lines) and stderr stays empty."""
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
        DIVERGENT_JAX_CACHE=str(tmp_path / "cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        PYTHONPATH=str(ROOT),
    )
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command's own default is under test
    # runs.cli first, as the `divergent` script does: it sets XLA's log level before jaxlib loads
    program = "from runs.cli import app; import tests.runs.toy; app(prog_name='divergent')"
    for name in ("first", "second"):
        args = ["run", *TOY, "--budget", 32, "--out", tmp_path / name, "--quiet"]
        done = subprocess.run([sys.executable, "-c", program, *map(str, args)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
    cached = list((tmp_path / "cache" / cli.cpu_key()).iterdir())
    assert cached  # the folder of this CPU type holds the programs


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_or_read_only_disk_is_one_line(invoke, monkeypatch, tmp_path, code):
    def full(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "run" / "checkpoints" / "ckpt-000000004.npz"))

    monkeypatch.setattr(cli, "_run_loop", full)
    assert_one_red_line(invoke("run", *TOY, "--out", tmp_path / "run"), os.strerror(code), "ckpt-000000004.npz")


def test_other_os_errors_keep_their_traceback(invoke, monkeypatch):
    def bug(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/a/bug")

    monkeypatch.setattr(cli, "_run_loop", bug)
    result = invoke("run", *TOY)
    assert isinstance(result.exception, FileNotFoundError)


def test_sigkill_before_the_first_checkpoint_then_resume_starts_again(tmp_path, toy_config):
    """A real `divergent run` killed in its first generations (rows logged, no
    checkpoint yet): resume runs it from generation 0 to the same result."""
    sets = ["checkpoint_every=1000", "log_every=1"]
    killed = tmp_path / "killed"
    env = dict(
        os.environ,
        TOY_SLEEP_S="0.05",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
        DIVERGENT_JAX_CACHE=jax.config.jax_compilation_cache_dir or "off",
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        PYTHONPATH=str(ROOT),
    )
    program = "import tests.runs.toy; from runs.cli import app; app(prog_name='divergent')"
    args = ["run", *TOY, "--budget", 400, "--out", killed, "--quiet", *sum((["--set", s] for s in sets), [])]
    process = subprocess.Popen(
        [sys.executable, "-c", program, *map(str, args)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    metrics = killed / rundir.METRICS
    try:
        deadline = time.monotonic() + 60
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 3):
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "no metrics rows after 60 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
        process.stdout.close()
    assert not checkpoint.list_checkpoints(killed / rundir.CHECKPOINTS)

    result = loop.resume(killed)
    assert result.status == "complete"
    whole = toy_config("whole", budget=400, sets=sets)
    loop.start(whole)
    assert_same_run(whole.out, killed)
