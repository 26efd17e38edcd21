"""runs/presets.py and the shipped presets in runs/presets/."""
from __future__ import annotations

import dataclasses

import pytest

from runs import config as C
from runs import presets
from runs.errors import ConfigError

SHIPPED = [
    "cmame-hardmaze", "me-redundant_arm", "ns-curling", "ns-hardmaze", "ns-hardmaze-quick", "ns-redundant_arm",
    "nsga2-hardmaze", "random-hardmaze", "serene-curling", "serene-hardmaze", "serene-hardmaze-quick",
    "serene-redundant_arm", "ns-antmaze", "ns-antmaze-quick", "serene-antmaze", "random-antmaze", "me-ant_omni",
    "me-ant_uni",
]
TOP_LEVEL = {f.name for f in dataclasses.fields(C.RunConfig)}


def test_shipped_presets_are_listed_with_descriptions():
    assert set(SHIPPED) <= set(presets.names())
    for name in presets.names():
        assert presets.describe(name), f"preset {name} needs a first comment line"


@pytest.mark.parametrize("name", SHIPPED)
def test_each_preset_names_its_algorithm_and_task(name):
    raw = presets.load(name)
    assert set(raw) <= TOP_LEVEL
    assert name.startswith(f"{raw['algorithm']}-{raw['task']}")
    assert raw["budget"] > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_each_preset_builds(name):
    from qd import algorithms
    import tasks

    raw = presets.load(name)
    assert raw["algorithm"] in algorithms.names() and raw["task"] in tasks.names()
    config = C.build(preset=name)
    assert (config.algorithm, config.task) == (raw["algorithm"], raw["task"])
    # the real algorithm and task configs survive config.yaml exactly
    text = C.to_yaml(config)
    assert C.from_yaml(text) == config and C.to_yaml(C.from_yaml(text)) == text


def test_a_yaml_path_works_as_a_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("# my preset\nalgorithm: toy\ntask: toy_point\nbudget: 64\n")
    assert presets.describe(str(path)) == "my preset"
    assert C.build(preset=str(path)).budget == 64


def test_unknown_preset_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*ns-hardmaze"):
        presets.load("nope")


def test_a_preset_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        C.build(preset=str(path))
