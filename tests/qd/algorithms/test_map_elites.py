import dataclasses
from typing import Any

import jax
import numpy as np
import pytest

import tasks
from qd import algorithms as algorithm
from qd.archives import cvt as cvt_archive
from qd.archives import grid as grid_archive
from tests.tasks.toy import PointTask
from tests.qd.algorithms.pipelines import pipeline_of

ME = algorithm.get("me")


def _run(config, task, generations, seed=0):
    state = ME.init(config, pipeline_of(task), jax.random.PRNGKey(seed))
    step = jax.jit(ME.step)
    history = []
    for g in range(generations):
        state, metrics = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
        history.append({k: float(v) for k, v in metrics.items()})
    return state, history


@dataclasses.dataclass(frozen=True)
class Recording:
    """An evaluator that keeps every batch it evaluates (run eagerly)."""

    inner: Any
    seen: list = dataclasses.field(default_factory=list, compare=False, hash=False)

    spec = property(lambda self: self.inner.spec)
    genome_size = property(lambda self: self.inner.genome_size)

    def __call__(self, genomes, key):
        evaluation = jax.jit(self.inner.__call__)(genomes, key)
        self.seen.append(evaluation)
        return evaluation


@pytest.mark.parametrize("archive", ["grid", "cvt"])
def test_each_cell_holds_the_best_reward_it_was_offered(archive):
    """Every policy ever evaluated is recorded; each cell must hold the best
    reward among those that fell in it, and cells nothing fell in stay empty."""
    config = ME.config_cls(archive=archive, cells_per_dim=8, n_centroids=32, cvt_samples=2000, batch_size=32)
    base = pipeline_of(PointTask())
    recording = Recording(base.evaluator)
    pipe = dataclasses.replace(base, evaluator=recording)
    state = ME.init(config, pipe, jax.random.PRNGKey(0))
    for g in range(4):  # eagerly, so the evaluator sees concrete batches
        state, _ = ME.step(state, jax.random.PRNGKey(g + 1))
    offered = jax.tree.map(lambda *x: np.concatenate(x), *recording.seen)
    assert offered.reward.shape == (32 * 5,) and (offered.reward > 0).any()
    if archive == "grid":
        cells = np.asarray(grid_archive.index_of(state.grid, offered.descriptor))
    else:
        cells = np.asarray(cvt_archive.nearest_centroid(offered.descriptor, state.repertoire.centroids))
    best = np.full(state.repertoire.n_cells, -np.inf)
    np.maximum.at(best, cells[offered.valid], offered.reward[offered.valid])
    r = state.repertoire
    np.testing.assert_array_equal(np.asarray(r.filled), np.isfinite(best))
    np.testing.assert_allclose(np.asarray(r.rewards)[np.asarray(r.filled)], best[np.isfinite(best)])


@pytest.mark.parametrize("archive", ["grid", "cvt"])
def test_elites_are_what_they_claim(archive):
    task = PointTask()
    config = ME.config_cls(archive=archive, cells_per_dim=8, n_centroids=32, cvt_samples=2000, batch_size=32)
    state, history = _run(config, task, 5)
    r = state.repertoire
    assert int(history[-1]["evaluations"]) == 32 * 6
    filled = np.asarray(r.filled)
    assert filled.sum() == history[-1]["archive_size"] > 5
    # Re-evaluating every elite gives back the stored reward and descriptor.
    ev = tasks.rollout(task, r.genomes[filled], jax.random.PRNGKey(0))
    np.testing.assert_allclose(ev.reward, np.asarray(r.rewards)[filled], atol=1e-5)
    np.testing.assert_allclose(ev.descriptor, np.asarray(r.gt_descriptors)[filled], atol=1e-5)
    # The QD-score never decreases: elites are only replaced by better ones.
    scores = [h["qd_score"] for h in history]
    assert all(b >= a - 1e-6 for a, b in zip(scores, scores[1:]))


def test_map_elites_fills_the_dense_arm_grid():
    """On the reward-dense arm, MAP-Elites keeps filling the 50x50 grid of the
    end effector's reach and improves its elites (QD-score rises)."""
    task = tasks.make("redundant_arm", dense_reward=True, episode_length=20)
    config = ME.config_cls(batch_size=128)
    start = ME.init(config, pipeline_of(task), jax.random.PRNGKey(0))
    state, history = _run(config, task, 30)
    coverage = [h["coverage"] for h in history]
    assert coverage[-1] > 1.5 * coverage[0]
    assert coverage[-1] > 0.15, coverage[-1]
    assert history[-1]["archive_size"] == pytest.approx(coverage[-1] * 2500)
    # The cells filled at the start hold better elites at the end.
    first = np.asarray(start.repertoire.filled)
    before = np.asarray(start.repertoire.rewards)[first]
    after = np.asarray(state.repertoire.rewards)[first]
    assert np.all(after >= before) and after.mean() > before.mean()


def test_config_names_the_bad_value():
    with pytest.raises(ValueError, match="archive must be one of grid, cvt"):
        ME.config_cls(archive="hex")
    with pytest.raises(ValueError, match="variation"):
        ME.config_cls(variation="crossover")


def test_parents_are_uniform_over_the_filled_cells():
    from qd.algorithms.map_elites import uniform_filled_cells

    filled = np.zeros(50, bool)
    filled[[0, 7, 8, 30, 49]] = True
    draws = np.asarray(uniform_filled_cells(jax.random.PRNGKey(0), filled, (2, 20_000)))
    assert draws.shape == (2, 20_000)
    cells, counts = np.unique(draws, return_counts=True)
    np.testing.assert_array_equal(cells, [0, 7, 8, 30, 49])
    np.testing.assert_allclose(counts / draws.size, 0.2, atol=0.01)
    # An empty archive draws from every cell rather than failing.
    empty = np.asarray(uniform_filled_cells(jax.random.PRNGKey(1), np.zeros(50, bool), (4000,)))
    assert empty.min() >= 0 and empty.max() < 50 and len(np.unique(empty)) == 50


def test_cvt_map_elites_uses_the_cell_lookup():
    task = PointTask()
    config = ME.config_cls(archive="cvt", n_centroids=32, cvt_samples=2000, batch_size=16)
    state = ME.init(config, pipeline_of(task), jax.random.PRNGKey(0))
    assert state.lookup is not None
    slow = state.replace(lookup=None)
    step = jax.jit(ME.step)
    for g in range(3):
        key = jax.random.PRNGKey(g)
        state, a = step(state, key)
        slow, b = step(slow, key)
        assert {k: float(v) for k, v in a.items()} == {k: float(v) for k, v in b.items()}
    for x, y in zip(jax.tree.leaves(state), jax.tree.leaves(slow)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("cells", [50, 20])
def test_grid_metrics_equal_the_histogram_of_the_archive(cells):
    """On the coverage grid itself the archive's histogram is taken from its
    fill; the reported coverage and uniformity are those of the histogram."""
    from qd import metrics, tracker

    task = tasks.make("redundant_arm", dense_reward=True, episode_length=10)
    config = ME.config_cls(batch_size=64, cells_per_dim=cells)
    state, history = _run(config, task, 3)
    r, spec = state.repertoire, task.spec
    expected = tracker.report(state.tracker, spec, r.gt_descriptors, r.filled, r.size)
    counts = metrics.cell_histogram(r.gt_descriptors, spec.descriptor_low, spec.descriptor_high, spec.grid_shape, mask=r.filled)
    assert float(expected["uniformity"]) == float(metrics.uniformity(counts))
    for name in ("coverage", "uniformity", "explored_coverage", "archive_size"):
        assert history[-1][name] == float(expected[name]), name


def test_dense_reward_task_elites_are_the_best_episode_returns():
    """On a dense-reward task (fitness = episode return, no reward areas) each
    cell keeps the policy with the highest return that fell in it, and the
    stored fitness is the elite's episode return."""
    from tests.tasks.toy import DensePointTask

    task = DensePointTask()
    config = ME.config_cls(cells_per_dim=8, batch_size=32)
    base = pipeline_of(task)
    recording = Recording(base.evaluator)
    state = ME.init(config, dataclasses.replace(base, evaluator=recording), jax.random.PRNGKey(0))
    for g in range(4):
        state, _ = ME.step(state, jax.random.PRNGKey(g + 1))
    offered = jax.tree.map(lambda *x: np.concatenate(x), *recording.seen)
    cells = np.asarray(grid_archive.index_of(state.grid, offered.descriptor))
    best = np.full(state.repertoire.n_cells, -np.inf)
    np.maximum.at(best, cells[offered.valid], offered.reward[offered.valid])
    r = state.repertoire
    filled = np.asarray(r.filled)
    np.testing.assert_array_equal(filled, np.isfinite(best))
    np.testing.assert_allclose(np.asarray(r.rewards)[filled], best[filled])
    # Dense: nearly every elite has a non-zero return, and it is its own rollout's.
    assert np.mean(np.asarray(r.rewards)[filled] != 0) > 0.9
    again = tasks.rollout(task, np.asarray(r.genomes)[filled], jax.random.PRNGKey(9))
    np.testing.assert_allclose(np.asarray(r.rewards)[filled], again.reward, rtol=1e-5, atol=1e-6)
    assert (again.reward_area == -1).all()


def test_unstructured_config_names_the_bad_value_and_the_valid_ones():
    with pytest.raises(ValueError, match="archive must be one of grid, cvt, unstructured, got 'hex'"):
        ME.config_cls(archive="hex")
    with pytest.raises(ValueError, match=r"target_size \(500\) must be <= capacity \(100\)"):
        ME.config_cls(archive="unstructured", capacity=100, target_size=500)
    with pytest.raises(ValueError, match="threshold must be > 0, got 0"):
        ME.config_cls(archive="unstructured", threshold=0)
    with pytest.raises(ValueError, match=r"csc_every must be an integer >= 0 \(0: no container size control\), got -1"):
        ME.config_cls(archive="unstructured", csc_every=-1)
    with pytest.raises(ValueError, match="csc_gain must be a finite number, got nan"):
        ME.config_cls(archive="unstructured", csc_gain=float("nan"))
    ME.config_cls(archive="grid", capacity=1)  # only the unstructured archive reads them
    with pytest.raises(ValueError, match="PGA-ME's archive must be one of grid, cvt, got 'unstructured'"):
        algorithm.get("pga-me").config_cls(archive="unstructured")


def test_aurora_csc_keeps_rows_aligned_through_refits_and_steers_its_threshold():
    """me with the unstructured archive in a learned space (AURORA-CSC): after
    each refit every elite is re-inserted under its recomputed descriptor,
    row i keeping genome i; in between, container size control moves l."""
    from qd import refit
    from qd.archives import unstructured

    pipeline = pipeline_of(PointTask(), "pca", representation_config={"size": 2, "refit_every": 3})
    config = ME.config_cls(archive="unstructured", batch_size=16, capacity=64, target_size=12, threshold=0.02,
                           csc_every=2, csc_gain=2e-3)
    state = ME.init(config, pipeline, jax.random.PRNGKey(0))
    assert isinstance(state.repertoire, unstructured.UnstructuredArchive)
    step = jax.jit(ME.step)
    thresholds = []
    for g in range(6):  # refits after generations 3 and 6, controls after 2 and 4
        state, out = step(state, jax.random.PRNGKey(g + 1))
        thresholds.append(float(state.repertoire.threshold))
    assert int(out["representation_fits"]) == 2
    assert thresholds[0] == np.float32(0.02) and thresholds[1] > 0.02 and thresholds[2] == thresholds[1]
    assert thresholds[3] != thresholds[2] and thresholds[5] == thresholds[4]
    r = state.repertoire
    filled = np.asarray(r.filled)
    assert 5 < filled.sum() < 64 and int(out["archive_size"]) == filled.sum()
    rep = refit.representation_state(state)
    np.testing.assert_allclose(np.asarray(r.descriptors)[filled], np.asarray(pipeline.encode(rep, r.features))[filled],
                               rtol=1e-4, atol=1e-4)
    # Genome i still produces ground truth i (the task is deterministic).
    _, entries = pipeline.evaluate(r.genomes, jax.random.PRNGKey(9), rep)
    np.testing.assert_allclose(np.asarray(entries.gt_descriptor)[filled], np.asarray(r.gt_descriptors)[filled],
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(entries.descriptor)[filled], np.asarray(r.descriptors)[filled],
                               rtol=1e-4, atol=1e-4)
