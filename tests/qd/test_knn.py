"""Tests of qd/knn.py against scikit-learn's exact nearest neighbours."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from qd.knn import knn

K = 15


def sklearn_knn(queries, reference, k, exclude_rows=None):
    """Distances and indices of the k nearest rows, skipping each query's own row."""
    extra = 0 if exclude_rows is None else 1
    n_neighbours = min(k + extra, len(reference))
    dist, idx = NearestNeighbors(n_neighbors=n_neighbours).fit(reference).kneighbors(queries)
    keep = [
        [j for j in range(n_neighbours) if exclude_rows is None or idx[q, j] != exclude_rows[q]][:k]
        for q in range(len(queries))
    ]
    return (
        np.stack([dist[q, cols] for q, cols in enumerate(keep)]),
        np.stack([idx[q, cols] for q, cols in enumerate(keep)]),
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {dim: rng.random((2000, dim)).astype(np.float32) for dim in (2, 10)}


# Block sizes: one block (grouped, remainder of 0); grouped blocks of 688 rows
# and a tail of 624; small blocks below the grouping threshold.
@pytest.mark.parametrize("dim", [2, 10])
@pytest.mark.parametrize("block_size", [8192, 700, 150])
def test_matches_sklearn_with_self_exclusion(data, dim, block_size):
    reference = data[dim]
    dist, idx = sklearn_knn(reference[:64], reference, K, exclude_rows=np.arange(64))
    got = knn(reference[:64], reference, k=K, self_index=jnp.arange(64), block_size=block_size)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.indices, idx)
    assert np.all(np.asarray(got.count) == K)


def test_without_self_exclusion_the_query_is_its_own_neighbour(data):
    reference = data[2]
    got = knn(reference[:8], reference, k=3)
    np.testing.assert_array_equal(got.indices[:, 0], np.arange(8))
    np.testing.assert_allclose(got.distances[:, 0], 0.0, atol=1e-6)


def test_exact_duplicate_that_is_not_self_is_kept():
    reference = jnp.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    got = knn(reference[:1], reference, k=2, self_index=jnp.array([0]))
    np.testing.assert_array_equal(got.indices[0], [1, 2])
    np.testing.assert_allclose(got.distances[0], [0.0, 1.0])


@pytest.mark.parametrize("dim", [2, 10])
def test_mask_hides_rows_and_indices_stay_global(data, dim):
    reference = data[dim]
    mask = np.random.default_rng(1).random(len(reference)) < 0.3
    queries = reference[:20] + 0.01
    dist, idx = sklearn_knn(queries, reference[mask], K)
    got = knn(queries, (reference, mask), k=K, block_size=600)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.indices, np.flatnonzero(mask)[idx])


def test_non_finite_reference_rows_are_ignored(data):
    reference = data[2][:600].copy()
    reference[[3, 300]] = np.nan
    clean_rows = np.delete(np.arange(600), [3, 300])
    queries = data[2][600:610]
    dist, idx = sklearn_knn(queries, reference[clean_rows], K)
    got = knn(queries, reference, k=K)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.indices, clean_rows[idx])


def test_fewer_valid_rows_than_k():
    reference = jnp.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [9.0, 9.0]])
    mask = jnp.array([True, True, True, False])
    got = knn(reference[:1], (reference, mask), k=15, self_index=jnp.array([0]))
    assert int(got.count[0]) == 2
    np.testing.assert_allclose(got.distances[0, :2], [5.0, 10.0])
    assert np.all(np.isinf(got.distances[0, 2:])) and np.all(got.indices[0, 2:] == -1)


def test_union_indices_span_the_sets(data):
    population, archive = data[10][:100], data[10][100:900]
    archive_mask = np.arange(800) < 650
    full_mask = np.concatenate([np.ones(100, bool), archive_mask])
    whole = knn(population, (data[10][:900], full_mask), self_index=jnp.arange(100))
    split = knn(population, [population, (archive, archive_mask)], self_index=jnp.arange(100), block_size=256)
    np.testing.assert_array_equal(split.indices, whole.indices)
    np.testing.assert_allclose(split.distances, whole.distances, rtol=1e-6)
    # A query that is row 0 of the second set is excluded by its global index.
    one = knn(archive[:1], [population, archive], k=1, self_index=jnp.array([100]))
    assert int(one.indices[0, 0]) != 100 and float(one.distances[0, 0]) > 0
    # An empty set (e.g. a reward archive with no room) is skipped.
    empty = knn(population[:3], [jnp.zeros((0, 10)), archive], k=2)
    np.testing.assert_array_equal(empty.indices, knn(population[:3], archive, k=2).indices)


def test_query_chunks_and_jit_give_the_same_result(data):
    reference = data[2][:500]
    queries = data[2][:37]
    plain = knn(queries, reference, self_index=jnp.arange(37))
    chunked = knn(queries, reference, self_index=jnp.arange(37), query_block_size=10)
    jitted = jax.jit(lambda q, r: knn(q, r, self_index=jnp.arange(37), block_size=128))(queries, reference)
    for got in (chunked, jitted):
        np.testing.assert_array_equal(got.indices, plain.indices)
        np.testing.assert_allclose(got.distances, plain.distances, rtol=1e-6)


@pytest.mark.parametrize("valid_rows", [slice(0, 40), slice(1990, 2000), slice(690, 700)])
def test_skipped_empty_blocks_do_not_change_the_result(data, valid_rows):
    # block_size 700: 2 full blocks of 688 rows and a tail of 624 rows.
    reference = data[2]
    mask = np.zeros(len(reference), bool)
    mask[valid_rows] = True
    queries = data[2][:5] + 0.001
    dist, idx = sklearn_knn(queries, reference[mask], 4)
    got = knn(queries, (reference, mask), k=4, block_size=700)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.indices, np.flatnonzero(mask)[idx])


def test_matrix_product_form_is_accurate_far_from_the_origin():
    # Without centring, |a|^2 ~ 1e7 would swamp squared distances ~ 1e-4.
    rng = np.random.default_rng(2)
    reference = (1000.0 + 0.01 * rng.random((300, 10))).astype(np.float32)
    _, idx = sklearn_knn(reference[:10].astype(np.float64), reference.astype(np.float64), 5, np.arange(10))
    got = knn(reference[:10], reference, k=5, self_index=jnp.arange(10))
    np.testing.assert_array_equal(got.indices, idx)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k=0), "k must be"),
        (dict(block_size=0), "block_size"),
        (dict(self_index=jnp.arange(3)), "self_index"),
        (dict(self_index=jnp.zeros(4)), "integer"),
        (dict(query_block_size=-1), "query_block_size"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        knn(jnp.zeros((4, 2)), jnp.zeros((10, 2)), **kwargs)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="descriptor size"):
        knn(jnp.zeros((4, 2)), jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="mask"):
        knn(jnp.zeros((4, 2)), (jnp.zeros((10, 2)), jnp.ones(9, bool)))
    with pytest.raises(ValueError, match="2-d"):
        knn(jnp.zeros(4), jnp.zeros((10, 2)))
