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
    "serene-redundant_arm", "ppo-hardmaze", "ppo-curling", "sac-hardmaze", "sac-curling",
    "serene-hardmaze-reference", "serene-curling-reference", "serene-redundant_arm-reference",
    "serene-hardmaze-gradient", "serene-curling-gradient", "pga-me-redundant_arm",
    "ns-antmaze", "ns-antmaze-quick", "serene-antmaze", "random-antmaze", "me-ant_omni", "me-ant_uni",
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


# The paper's SERENE (Paolo et al. 2021 and its reference code; docs/reference.md 2.1 and 2.7,
# DESIGN.md section 6), written out here once more so that a change of the defaults or of a
# preset that moves the reference presets away from the paper fails this test.
PAPER_SERENE = {
    "ns": dict(population_size=100, offspring_per_parent=2, k=15, archive_insertion="random",
               archive_per_generation=5, mutation_sigma=0.05, genome_low=-5.0, genome_high=5.0, init_std=1.0,
               selection="novelty"),
    "emitter": dict(kind="fitness", population_size=6, offspring_per_parent=2, bootstrap_steps=6,
                    improvement_window=3, stagnation_window=20, stagnation_scale=20.0, stagnation_offset=120,
                    max_steps=0, patience=0, novel_to_archive=5, sigma0_divisor=3.0, sigma0_fallback=0.05,
                    sigma_rule="fixed"),
    "scheduler": dict(kind="alternating", chunk_size=1000),
    "emitters_per_step": 1,  # one emitter at a time
    "emitters_per_area": 0,  # every rewarded agent becomes a candidate
}


@pytest.mark.parametrize("task", ["hardmaze", "curling", "redundant_arm"])
def test_serene_reference_presets_are_the_papers_hyper_parameters(task):
    config = C.build(preset=f"serene-{task}-reference")
    assert (config.algorithm, config.task, config.budget) == ("serene", task, 500_000)
    algo = config.algo
    for section in ("ns", "emitter", "scheduler"):
        got = {name: getattr(getattr(algo, section), name) for name in PAPER_SERENE[section]}
        assert got == PAPER_SERENE[section], section
    assert algo.emitters_per_step == 1 and algo.emitters_per_area == 0
    # The default SERENE is not the paper's (it adapts its step and caps its emitters).
    assert C.build(preset=f"serene-{task}").algo != algo


# AURORA-CSC's container as QDax 0.5's AURORA example and loop run it (docs/reference.md,
# AURORA), written out once more so that a drift of the defaults or the presets fails here.
QDAX_AURORA_CSC = dict(archive="unstructured", threshold=0.2, target_size=1024, csc_every=10, csc_gain=1e-5)


@pytest.mark.parametrize("task", ["curling", "hardmaze"])
def test_aurora_presets_are_the_unstructured_container_and_the_cvt_variant(task):
    from qd.algorithms.map_elites import MapElitesConfig

    csc, cvt = C.build(preset=f"aurora-{task}"), C.build(preset=f"aurora-cvt-{task}")
    for config in (csc, cvt):
        assert (config.algorithm, config.task, config.representation) == ("me", task, "autoencoder")
    # The presets start l below the untrained latent codes' spacing (see the preset).
    assert {k: getattr(csc.algo, k) for k in QDAX_AURORA_CSC} == {**QDAX_AURORA_CSC, "threshold": 0.01}
    defaults = MapElitesConfig(archive="unstructured")
    assert {k: getattr(defaults, k) for k in QDAX_AURORA_CSC} == QDAX_AURORA_CSC
    assert csc.algo.capacity == 4 * csc.algo.target_size
    assert (cvt.algo.archive, cvt.algo.n_centroids) == ("cvt", 1000)
    assert "AURORA-CSC" in presets.describe(f"aurora-{task}") and "CVT" in presets.describe(f"aurora-cvt-{task}")
