"""Tests of qd/convert.py against QDax 0.5 and pyribs 0.12."""
import jax.numpy as jnp
import numpy as np
import pytest
from qdax.core.containers.mapelites_repertoire import MapElitesRepertoire
from ribs.archives import CVTArchive, GridArchive

from qd import metrics
from qd.archives import convert
from qd.archives import cvt as ca
from qd.archives import grid as ga
from qd.archives.entries import make_entries

SPEC = ga.GridSpec((0.0, 0.0), (1.0, 1.0), (6, 6))


def random_entries(seed, n=60):
    rng = np.random.default_rng(seed)
    return make_entries(
        rng.normal(size=(n, 4)),
        rng.uniform(0.01, 0.99, (n, 2)),
        rng.random(n),
        gt_descriptor=rng.random((n, 3)),
        reward_area=rng.integers(-1, 3, n),
    )


@pytest.fixture(scope="module")
def grid_rep():
    rep, _ = ga.insert(SPEC, ga.init(SPEC, 4, 3), random_entries(0))
    assert 0 < int(rep.size) < SPEC.n_cells  # some cells stay empty
    return rep


def assert_same(a, b):
    for name in ("genomes", "descriptors", "gt_descriptors", "rewards", "reward_areas", "filled", "centroids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_qdax_round_trip_and_conventions(grid_rep):
    qdax_rep = convert.to_qdax(grid_rep)
    assert isinstance(qdax_rep, MapElitesRepertoire)
    assert qdax_rep.fitnesses.shape == (SPEC.n_cells, 1)
    assert np.all(np.isneginf(qdax_rep.fitnesses[~np.asarray(grid_rep.filled), 0]))
    assert_same(convert.from_qdax(qdax_rep), grid_rep)


def test_qdax_add_agrees_with_our_insert(grid_rep):
    # QDax assigns cells by nearest centroid, which for a grid's cell centres is
    # the grid cell (away from boundaries): both must keep the same elites.
    batch = random_entries(1)
    ours, _ = ga.insert(SPEC, grid_rep, batch)
    theirs = convert.to_qdax(grid_rep).add(
        batch.genome, batch.descriptor, batch.reward,
        {"gt_descriptor": batch.gt_descriptor, "reward_area": batch.reward_area},
    )
    assert_same(convert.from_qdax(theirs), ours)


def test_qdax_pytree_genotypes_are_flattened():
    centroids = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    genotypes = {"w": jnp.arange(8.0).reshape(2, 2, 2), "b": jnp.array([[7.0], [9.0]])}
    qdax_rep = MapElitesRepertoire(
        genotypes=genotypes, fitnesses=jnp.array([[1.0], [-jnp.inf]]),
        descriptors=centroids, centroids=centroids, extra_scores={}, keys_extra_scores=(),
    )
    rep = convert.from_qdax(qdax_rep)
    assert rep.genomes.shape == (2, 5)
    np.testing.assert_array_equal(rep.filled, [True, False])
    np.testing.assert_array_equal(rep.gt_descriptors, centroids)  # no gt: descriptor
    np.testing.assert_array_equal(rep.reward_areas, [-1, -1])


def test_pyribs_grid_round_trip(grid_rep):
    archive = convert.to_pyribs_grid(grid_rep, SPEC)
    assert isinstance(archive, GridArchive)
    assert len(archive) == int(grid_rep.size)
    np.testing.assert_allclose(archive.stats.qd_score, metrics.qd_score(grid_rep.rewards, grid_rep.filled), rtol=1e-5)
    spec, back = convert.from_pyribs_grid(archive)
    assert spec == SPEC
    assert_same(back, grid_rep)


def test_from_pyribs_grid_without_our_fields():
    archive = GridArchive(solution_dim=2, dims=(3, 4), ranges=[(-1, 1), (0, 4)], dtype=np.float32)
    archive.add(solution=np.ones((2, 2)), objective=[1.0, 2.0], measures=[[0.0, 0.5], [0.9, 3.9]])
    spec, rep = convert.from_pyribs_grid(archive)
    assert spec.cells == (3, 4) and int(rep.size) == 2
    filled = np.flatnonzero(np.asarray(rep.filled))
    np.testing.assert_array_equal(filled, np.sort(ga.index_of(spec, jnp.array([[0.0, 0.5], [0.9, 3.9]]))))
    np.testing.assert_array_equal(rep.gt_descriptors[filled], rep.descriptors[filled])
    np.testing.assert_array_equal(rep.reward_areas, -1)
    # Our insertion on the converted archive keeps working.
    rep, status = ga.insert(spec, rep, make_entries(jnp.zeros((1, 2)), jnp.array([[0.0, 0.5]]), jnp.array([5.0])))
    assert int(status[0]) == 1


def test_pyribs_cvt_round_trip():
    centroids = ca.cvt_centroids(30, (0.0, 0.0), (1.0, 1.0), n_samples=1000, seed=0)
    rep, _ = ca.insert(ca.init(centroids, 4, 3), random_entries(2))
    archive = convert.to_pyribs_cvt(rep, (0.0, 0.0), (1.0, 1.0))
    assert isinstance(archive, CVTArchive) and len(archive) == int(rep.size)
    assert_same(convert.from_pyribs_cvt(archive), rep)
    with pytest.raises(ValueError, match="low and high"):
        convert.to_pyribs_cvt(rep, (0.0,), (1.0,))


def test_empty_archives_convert():
    rep = ga.init(SPEC, 4, 3)
    archive = convert.to_pyribs_grid(rep, SPEC)
    assert len(archive) == 0
    assert_same(convert.from_pyribs_grid(archive)[1], rep)
    assert_same(convert.from_qdax(convert.to_qdax(rep)), rep)
    with pytest.raises(ValueError, match="cells"):
        convert.to_pyribs_grid(rep, ga.GridSpec((0, 0), (1, 1), (2, 2)))
