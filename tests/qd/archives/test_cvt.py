"""Tests of qd/cvt_archive.py."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ribs.archives import CVTArchive

from qd.archives import cvt as ca
from qd.archives.entries import make_entries
from qd.archives.repertoire import IMPROVED, NEW_CELL, NOT_ADDED

LOW, HIGH = (0.0, -1.0), (1.0, 1.0)


@pytest.fixture(scope="module")
def centroids():
    return ca.cvt_centroids(40, LOW, HIGH, n_samples=2000, seed=3)


def test_centroids_lie_in_the_box_and_are_cached(centroids, tmp_path):
    assert centroids.shape == (40, 2) and centroids.dtype == np.float32
    assert np.all(centroids >= np.array(LOW)) and np.all(centroids <= np.array(HIGH))
    assert len(np.unique(centroids, axis=0)) == 40
    assert ca.cvt_centroids(40, LOW, HIGH, n_samples=2000, seed=3) is centroids  # memory cache
    other = ca.cvt_centroids(40, LOW, HIGH, n_samples=2000, seed=4)
    assert not np.allclose(other, centroids)
    on_disk = ca.cvt_centroids(40, LOW, HIGH, n_samples=2000, seed=3, cache_dir=str(tmp_path))
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(".npy")
    np.testing.assert_array_equal(np.load(tmp_path / files[0]), on_disk)
    np.save(tmp_path / files[0], on_disk + 1.0)  # a later run reads the file, not k-means
    np.testing.assert_array_equal(
        ca.cvt_centroids(40, LOW, HIGH, n_samples=2000, seed=3, cache_dir=str(tmp_path)), on_disk + 1.0
    )


def test_centroid_arguments_are_validated():
    with pytest.raises(ValueError, match="n_cells"):
        ca.cvt_centroids(0, LOW, HIGH)
    with pytest.raises(ValueError, match="n_samples"):
        ca.cvt_centroids(50, LOW, HIGH, n_samples=10)
    with pytest.raises(ValueError, match="bounds"):
        ca.cvt_centroids(5, (0.0, 1.0), (1.0, 1.0), n_samples=100)


@pytest.mark.parametrize("block_size", [4096, 7])
def test_nearest_centroid_matches_brute_force_and_qdax(centroids, block_size):
    from qdax.core.containers.mapelites_repertoire import get_cells_indices

    points = np.random.default_rng(0).uniform(-0.2, 1.2, (500, 2)).astype(np.float32)
    expected = np.argmin(((points[:, None, :] - centroids[None].astype(np.float64)) ** 2).sum(-1), axis=1)
    got = ca.nearest_centroid(points, centroids, block_size=block_size)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(get_cells_indices(jnp.asarray(points), jnp.asarray(centroids)), expected)


def test_nearest_centroid_in_10d_blocked_matches_brute_force():
    rng = np.random.default_rng(5)
    centroids = rng.random((300, 10)).astype(np.float32) + 50.0  # far from 0: centring matters
    points = (rng.random((200, 10)) + 50.0).astype(np.float32)
    expected = np.argmin(((points[:, None, :].astype(np.float64) - centroids[None]) ** 2).sum(-1), axis=1)
    for block_size in (64, 4096):
        got = ca.nearest_centroid(points, centroids, block_size=block_size)
        np.testing.assert_array_equal(got, expected)


def test_nearest_centroid_ties_go_to_the_first_centroid():
    centroids = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0], [1.0, 0.0]])
    np.testing.assert_array_equal(ca.nearest_centroid(jnp.array([[0.0, 0.0], [2.0, 0.0]]), centroids), [0, 0])
    np.testing.assert_array_equal(
        ca.nearest_centroid(jnp.array([[2.0, 0.0]]), centroids, block_size=3), [0]
    )
    # Wide blocks take the two-stage (group minimum) path: still the first.
    many = np.random.default_rng(0).random((200, 2)).astype(np.float32)
    many[[41, 70, 150]] = many[40]
    queries = jnp.asarray(many[[40, 40]])
    for block_size in (4096, 64, 45):
        np.testing.assert_array_equal(ca.nearest_centroid(queries, many, block_size=block_size), [40, 40])


def test_insert_rules_and_parity_with_pyribs(centroids):
    rng = np.random.default_rng(1)
    rep = ca.init(centroids, 3)
    ribs = CVTArchive(solution_dim=3, centroids=centroids, ranges=list(zip(LOW, HIGH)), dtype=np.float32)
    for _ in range(3):
        d = rng.uniform(LOW, HIGH, (100, 2)).astype(np.float32)
        r = rng.random(100).astype(np.float32)
        g = rng.normal(size=(100, 3)).astype(np.float32)
        rep, _ = ca.insert(rep, make_entries(g, d, r))
        ribs.add(solution=g, objective=r, measures=d)
    data = ribs.data()
    assert int(rep.size) == len(ribs)
    np.testing.assert_array_equal(rep.rewards[data["index"]], data["objective"])
    np.testing.assert_array_equal(rep.descriptors[data["index"]], data["measures"])

    # Same centroid, higher / equal / NaN rewards.
    cell = int(data["index"][0])
    at = np.repeat(centroids[cell : cell + 1], 3, axis=0)
    best = float(rep.rewards[cell])
    rep, status = ca.insert(rep, make_entries(jnp.zeros((3, 3)), at, jnp.array([best, jnp.nan, best + 1])))
    np.testing.assert_array_equal(status, [NOT_ADDED, NOT_ADDED, IMPROVED])
    fresh, status = ca.insert(ca.init(centroids, 3), make_entries(jnp.zeros((1, 3)), at[:1], jnp.ones(1)))
    np.testing.assert_array_equal(status, [NEW_CELL])


def test_bad_inputs_raise(centroids):
    with pytest.raises(ValueError, match="must share k"):
        ca.nearest_centroid(jnp.zeros((3, 3)), centroids)
    with pytest.raises(ValueError, match="block_size"):
        ca.nearest_centroid(jnp.zeros((3, 2)), centroids, block_size=0)
    with pytest.raises(ValueError, match="centroids"):
        ca.init(jnp.zeros(5), 3)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_cell_lookup_gives_the_brute_force_cells(dims):
    """The bucket lookup scores only a few candidates per descriptor, yet gives
    the very cell of the brute force: on random points, on the centroids
    themselves, on bucket boundaries and on exact ties between centroids."""
    low, high = (-1.0,) * dims, (2.0,) * dims
    centroids = ca.cvt_centroids(60 * dims, low, high, n_samples=5000, seed=dims)
    lookup = ca.cell_lookup(centroids, low, high)
    assert lookup is not None and lookup.candidates.shape[1] < len(centroids) // 2
    assert lookup == ca.cell_lookup(centroids, low, high) and hash(lookup) == hash(ca.cell_lookup(centroids, low, high))
    rng = np.random.default_rng(0)
    edges = np.linspace(low[0], high[0], lookup.buckets[0] + 1)
    points = np.concatenate([
        rng.uniform(low, high, (3000, dims)),
        centroids,
        rng.choice(edges, (500, dims)),  # bucket corners and the box's faces
        np.full((1, dims), low[0]), np.full((1, dims), high[0]),
    ]).astype(np.float32)
    np.testing.assert_array_equal(
        ca.nearest_centroid(points, centroids, lookup=lookup), ca.nearest_centroid(points, centroids)
    )
    # Points equidistant from two centroids go to the first one.
    twins = np.repeat(centroids[:1], 2, axis=0)
    twins[1] += 0.25
    many = np.concatenate([centroids, twins, twins[::-1]]).astype(np.float32)
    mid = ((twins[0] + twins[1]) / 2)[None].astype(np.float32)
    lookup = ca.cell_lookup(many, low, high)
    np.testing.assert_array_equal(ca.nearest_centroid(mid, many, lookup=lookup), ca.nearest_centroid(mid, many))


def test_cell_lookup_falls_back_outside_the_box_and_declines_high_dims(centroids):
    lookup = ca.cell_lookup(centroids, LOW, HIGH)
    points = np.random.default_rng(1).uniform(-3.0, 3.0, (400, 2)).astype(np.float32)  # many outside
    np.testing.assert_array_equal(
        ca.nearest_centroid(points, centroids, lookup=lookup), ca.nearest_centroid(points, centroids)
    )
    # Rows that are not relevant may lie outside without forcing the brute force.
    relevant = np.all((points >= LOW) & (points <= HIGH), axis=1)
    got = ca.nearest_centroid(points, centroids, lookup=lookup, relevant=relevant)
    np.testing.assert_array_equal(np.asarray(got)[relevant], np.asarray(ca.nearest_centroid(points, centroids))[relevant])
    assert ca.cell_lookup(np.random.default_rng(0).random((50, 4)), (0.0,) * 4, (1.0,) * 4) is None
    with pytest.raises(ValueError, match="lookup"):
        ca.nearest_centroid(points, centroids[:10], lookup=lookup)
    with pytest.raises(ValueError, match="bounds"):
        ca.cell_lookup(centroids, HIGH, LOW)


def test_insert_with_a_lookup_equals_insert_without(centroids):
    lookup = ca.cell_lookup(centroids, LOW, HIGH)
    rng = np.random.default_rng(2)
    plain = fast = ca.init(centroids, 3)
    for _ in range(3):
        d = rng.uniform(-0.1, 1.1, (64, 2)).astype(np.float32)
        d[:3] = np.nan  # never inserted; may not force the brute force
        entries = make_entries(rng.normal(size=(64, 3)), d, rng.random(64))
        mask = rng.random(64) < 0.8
        plain, s1 = ca.insert(plain, entries, mask)
        fast, s2 = ca.insert(fast, entries, mask, lookup=lookup)
        np.testing.assert_array_equal(s1, s2)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(fast)):
        np.testing.assert_array_equal(a, b)
