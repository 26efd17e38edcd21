"""runs/config.py and runs/typed.py: layered configs, checks, YAML round trip."""
from __future__ import annotations

import pytest

from runs import config as C
from runs.errors import ConfigError
from tests.runs.toy import ToyConfig, ToyPointTask


def build(*sets, **kwargs):
    kwargs.setdefault("algorithm", "toy")
    kwargs.setdefault("task", "toy_point")
    return C.build(kwargs.pop("algorithm"), kwargs.pop("task"), sets=sets, **kwargs)


def test_defaults_come_from_the_dataclasses():
    config = build()
    assert config.algo == ToyConfig()
    assert config.task_config == ToyPointTask.Config()
    assert (config.seed, config.budget, config.log_every) == (0, 100_000, 1)
    assert config.out == "runs_out/toy-toy_point-seed0"
    assert config.evaluations_per_step == 8


def test_set_values_are_read_as_yaml_and_typed():
    config = build(
        "algo.batch_size=16", "algo.sigma=1", "algo.poison=true", "task.policy_hidden=[4, 4]",
        "task_config.episode_length=7", "seed=3", "budget=1e4",
    )
    assert config.algo == ToyConfig(batch_size=16, sigma=1.0, poison=True)
    assert isinstance(config.algo.sigma, float)
    assert config.task_config == ToyPointTask.Config(episode_length=7, policy_hidden=(4, 4))
    assert (config.seed, config.budget) == (3, 10_000)
    assert build("algo.sigma=1e-3").algo.sigma == 0.001  # YAML reads 1e-3 as a string


def test_layers_defaults_preset_flags_sets(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("algorithm: toy\ntask: toy_point\nseed: 1\nbudget: 800\nalgo: {batch_size: 4, sigma: 0.5}\n")
    config = C.build(preset=str(preset), seed=2, sets=["algo.batch_size=2"])
    assert config.seed == 2  # flag beats preset
    assert config.algo.batch_size == 2  # --set beats preset
    assert config.algo.sigma == 0.5  # preset beats default
    assert config.budget == 800
    # presets may use the dotted keys of --set too
    preset.write_text("algorithm: toy\ntask: toy_point\nalgo.batch_size: 4\ntask.episode_length: 3\n")
    assert C.build(preset=str(preset)).algo.batch_size == 4
    assert C.build(preset=str(preset)).task_config.episode_length == 3
    preset.write_text("algorithm: toy\ntask: toy_point\nseed: 1\n")
    # the names may be repeated on the command line when they agree
    assert C.build("toy", "toy_point", preset=str(preset)).seed == 1


@pytest.mark.parametrize(
    "item, words",
    [
        ("algo.batchsize=3", ["'algo.batchsize'", "did you mean 'batch_size'", "algo.capacity"]),
        ("task.episode_lenght=3", ["'task_config.episode_lenght'", "episode_length"]),
        ("sead=3", ["'sead'", "did you mean 'seed'"]),
        ("algo.batch_size=abc", ["algo.batch_size must be an integer", "'abc'"]),
        ("algo.batch_size=1.5", ["algo.batch_size must be an integer"]),
        ("algo.poison=3", ["algo.poison must be true or false"]),
        ("algo.sigma=[1]", ["algo.sigma must be a number"]),
        ("task.policy_hidden=3", ["task_config.policy_hidden must be a list"]),
        ("task.policy_hidden=[a]", ["task_config.policy_hidden[0] must be an integer"]),
        ("budget=-5", ["budget must be >= 8", "-5"]),
        ("budget=4", ["budget must be >= 8", "one generation"]),
        ("seed=-1", ["seed must be in [0, 4294967295]"]),
        ("log_every=0", ["log_every must be >= 1"]),
        ("checkpoint_every=0", ["checkpoint_every must be >= 1"]),
        ("algo.batch_size=0", ["algo.batch_size=0", "batch_size must be >= 1"]),
        ("task.episode_length=0", ["task_config.episode_length=0", "episode_length must be >= 1"]),
        ("seed.x=1", ["'seed.x'", "sub-keys"]),
        ("novalue", ["--set expects key=value"]),
        ("algo.sigma=[1", ["cannot read the value"]),
    ],
)
def test_errors_name_the_key(item, words):
    with pytest.raises(ConfigError) as error:
        build(item)
    for word in words:
        assert word in str(error.value)


def test_unknown_names_and_missing_names():
    with pytest.raises(ConfigError, match="unknown algorithm 'nope'.*toy"):
        C.build("nope", "toy_point")
    with pytest.raises(ConfigError, match="unknown task 'nope'.*toy_point"):
        C.build("toy", "nope")
    with pytest.raises(ConfigError, match="no algorithm given"):
        C.build()


def test_preset_names_must_agree(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("algorithm: toy\ntask: toy_point\n")
    with pytest.raises(ConfigError, match="is for algorithm 'toy', not 'ns'"):
        C.build("ns", "toy_point", preset=str(preset))
    with pytest.raises(ConfigError, match="is for task 'toy_point', not 'hardmaze'"):
        C.build("toy", "hardmaze", preset=str(preset))


def test_yaml_round_trip_is_exact():
    config = build("algo.sigma=0.1", "task.policy_hidden=[4, 5]", "seed=7", "budget=808", "out=somewhere")
    text = C.to_yaml(config)
    again = C.from_yaml(text)
    assert again == config
    assert C.to_yaml(again) == text
    assert "sigma: 0.1" in text and "policy_hidden: [4, 5]" in text


def test_from_yaml_errors_name_the_source():
    with pytest.raises(ConfigError, match="cfg.yaml: not valid YAML"):
        C.from_yaml("algorithm: [toy", "cfg.yaml")
    with pytest.raises(ConfigError, match="cfg.yaml: .*'algo.nope'"):
        C.from_yaml("algorithm: toy\ntask: toy_point\nalgo: {nope: 1}\n", "cfg.yaml")
    with pytest.raises(ConfigError, match="algo must be a mapping"):
        C.from_yaml("algorithm: toy\ntask: toy_point\nalgo: 3\n")


def test_python_construction_accepts_dicts_and_checks_types():
    config = C.RunConfig("toy", "toy_point", budget=80, algo={"batch_size": 4}, task_config={"episode_length": 3})
    assert config.algo == ToyConfig(batch_size=4)
    assert config.task_config.episode_length == 3
    with pytest.raises(ConfigError, match="algo must be a ToyConfig"):
        C.RunConfig("toy", "toy_point", algo=ToyPointTask.Config())
    with pytest.raises(ConfigError, match="budget must be an integer"):
        C.RunConfig("toy", "toy_point", budget="lots")
    assert config.replace(seed=5).seed == 5
    with pytest.raises(ConfigError, match="budget must be >= 4"):
        config.replace(budget=1)


def test_differences_and_identity():
    a, b = build(), build("seed=1", "algo.sigma=0.3", "budget=16")
    assert C.differences(a.identity(), b.identity()) == ["seed", "algo.sigma"]
    assert "budget" not in a.identity() and "out" not in a.identity()


def test_apply_override_builds_nested_sections():
    raw = {}
    C.apply_override(raw, "task.episode_length", 5)
    C.apply_override(raw, "algo.batch_size", 2)
    C.apply_override(raw, "task", "toy_point")
    assert raw == {"task_config": {"episode_length": 5}, "algo": {"batch_size": 2}, "task": "toy_point"}
