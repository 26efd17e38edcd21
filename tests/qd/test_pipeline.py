"""qd/pipeline.py and qd/refit.py: any algorithm in any representation, with
metrics on the ground truth, and refits that recompute every stored descriptor."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd import algorithms, metrics, refit
from representations import RepresentationState
from tests.qd.algorithms.pipelines import pipeline_of, serene_config
from tests.tasks.toy import PointTask

NS_SMALL = dict(population_size=10, offspring_per_parent=2, k=3, archive_capacity=200, archive_per_generation=3)
SERENE_SMALL = dict(ns_population_size=10, k=3, archive_capacity=200, emitter_capacity=8, emitters_per_step=2,
                    chunk_size=60, reward_archive_capacity=200, history_capacity=32)


def _config(name):
    if name == "serene":
        return serene_config(**SERENE_SMALL)
    return algorithms.get(name).config_cls(**NS_SMALL)


def _run(name, pipeline, generations, seed=0):
    algo = algorithms.get(name)
    state = algo.init(_config(name), pipeline, jax.random.PRNGKey(seed), budget=10_000)
    step = jax.jit(algo.step)
    for g in range(generations):
        state, out = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
    return algo, state, out


@pytest.mark.parametrize("name", ["ns", "serene"])
def test_an_algorithm_fills_its_archive_in_another_space_and_reports_on_the_ground_truth(name):
    """A fixed random projection of the final position, swapped in without
    touching the algorithm: the archive lives in that 3-d space, the metrics
    stay on the task's ground truth."""
    pipeline = pipeline_of(PointTask(), "projection", representation_config={"size": 3, "source": "final"})
    algo, state, out = _run(name, pipeline, 20)
    snapshot = algo.archive(state)
    mask = np.asarray(snapshot.mask)
    assert mask.sum() > 10
    descriptor, gt = np.asarray(snapshot.descriptor)[mask], np.asarray(snapshot.gt_descriptor)[mask]
    assert descriptor.shape[1] == 3 and gt.shape[1] == 2
    # PointTask's world is [-1, 1]^2, so the normalised final position is the ground truth.
    w = np.asarray(refit.representation_state(state).params)
    np.testing.assert_allclose(descriptor, np.tanh(gt @ w / np.sqrt(2.0)), rtol=1e-5, atol=1e-6)
    spec = pipeline.spec
    counts = metrics.cell_histogram(gt, spec.descriptor_low, spec.descriptor_high, spec.grid_shape)
    assert float(out["coverage"]) == pytest.approx(float(jnp.mean(counts > 0)))
    if name == "serene":
        ra = state.reward_archive
        assert int(ra.size) > 0 and ra.descriptors.shape[1] == 3
        np.testing.assert_allclose(ra.descriptors[: int(ra.size)],
                                   np.tanh(np.asarray(ra.gt_descriptors[: int(ra.size)]) @ w / np.sqrt(2.0)),
                                   rtol=1e-5, atol=1e-6)


def _stores(state):
    """(descriptor, features) of every store in the state."""
    found = []
    for node in jax.tree.leaves(state, is_leaf=refit._is_node):
        if isinstance(node, refit.Entries):
            found.append((node.descriptor, node.features))
        elif isinstance(node, (refit.NoveltyArchive, refit.Repertoire)):
            found.append((node.descriptors, node.features))
    return found


@pytest.mark.parametrize("name", ["ns", "serene"])
def test_a_refit_recomputes_every_stored_descriptor(name):
    every = 4 if name == "ns" else 1
    pipeline = pipeline_of(PointTask(), "pca", representation_config={"size": 2, "refit_every": every})
    _, state, _ = _run(name, pipeline, 9 if name == "ns" else 14)
    rep = refit.representation_state(state)
    if name == "ns":
        assert int(rep.fits) == 2  # after generations 4 and 8
    else:  # after every closed exploration chunk
        assert int(rep.fits) == int(state.scheduler.chunks[0]) > 0
    assert not np.allclose(rep.params["components"], pipeline.representation.init(None)["components"])
    stores = _stores(state)
    assert len(stores) >= (2 if name == "ns" else 6)  # population, archive (+ reward archive, pool payloads)
    for descriptor, features in stores:
        np.testing.assert_allclose(descriptor, pipeline.encode(rep, features), rtol=1e-4, atol=1e-4)


def test_a_fixed_representation_is_never_refitted_nor_traced_for_it():
    pipeline = pipeline_of(PointTask())
    _, state, _ = _run("ns", pipeline, 3)
    assert int(refit.representation_state(state).fits) == 0
    assert refit.maybe_refit(pipeline, state, jnp.int32(0), jax.random.PRNGKey(0)) is state


def test_redescribe_replaces_the_representation_and_every_descriptor():
    pipeline = pipeline_of(PointTask(), "projection", representation_config={"size": 2})
    _, state, _ = _run("ns", pipeline, 2)
    other = RepresentationState(params=-refit.representation_state(state).params, fits=jnp.int32(5))
    new = refit.redescribe(pipeline, state, other)
    assert int(refit.representation_state(new).fits) == 5
    np.testing.assert_allclose(new.archive.descriptors, -np.asarray(state.archive.descriptors), atol=1e-6)
    np.testing.assert_allclose(new.population.descriptor, -np.asarray(state.population.descriptor), atol=1e-6)


@pytest.mark.parametrize("archive", ["grid", "cvt"])
def test_map_elites_in_a_learned_space_reinserts_its_elites_after_each_refit(archive):
    """AURORA-style: the cells follow the learned space; after a refit every
    elite sits in the cell of its recomputed descriptor, best reward first."""
    from qd.algorithms import map_elites
    from qd.archives import adaptive

    algo = algorithms.get("me")
    pipeline = pipeline_of(PointTask(), "pca", representation_config={"size": 2, "refit_every": 3})
    config = algo.config_cls(archive=archive, cells_per_dim=6, n_centroids=20, cvt_samples=2000, batch_size=16)
    state = algo.init(config, pipeline, jax.random.PRNGKey(0))
    step = jax.jit(algo.step)
    for g in range(6):
        state, out = step(state, jax.random.PRNGKey(g + 1))
    rep = refit.representation_state(state)
    assert int(rep.fits) == 2 and int(out["representation_fits"]) == 2
    r = state.repertoire
    filled = np.asarray(r.filled)
    assert filled.sum() > 5
    np.testing.assert_allclose(np.asarray(r.descriptors)[filled], np.asarray(pipeline.encode(rep, r.features))[filled],
                               rtol=1e-4, atol=1e-4)
    cells = np.asarray(map_elites._cells(state, r.descriptors))
    assert np.all(cells[filled] == np.flatnonzero(filled))  # each elite in its own cell
    unit = np.asarray(adaptive.normalise(r.descriptors, state.space_low, state.space_high))[filled]
    assert unit.min() >= 0 and unit.max() <= 1


def test_cma_me_refuses_a_space_without_bounds_naming_the_alternatives():
    algo = algorithms.get("cmame")
    with pytest.raises(ValueError, match="representation 'pca' has none.*'me' with archive 'cvt'"):
        algo.init(algo.config_cls(n_emitters=2, emitter_batch_size=4, initial_batch=8),
                  pipeline_of(PointTask(), "pca"), jax.random.PRNGKey(0))
