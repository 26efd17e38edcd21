"""Tests of qd/novelty.py against scikit-learn's exact nearest neighbours."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from qd import novelty
from qd.novelty import knn, knn_novelty, knn_novelty_union

K = 15


def sklearn_novelty(queries, reference, k, exclude_rows=None):
    """Mean distance to the k nearest rows of reference, skipping each query's own row."""
    extra = 0 if exclude_rows is None else 1
    n_neighbours = min(k + extra, len(reference))
    dist, idx = NearestNeighbors(n_neighbors=n_neighbours).fit(reference).kneighbors(queries)
    out_d, out_i = [], []
    for q in range(len(queries)):
        keep = [j for j in range(n_neighbours) if exclude_rows is None or idx[q, j] != exclude_rows[q]]
        keep = keep[:k]
        out_d.append(dist[q, keep])
        out_i.append(idx[q, keep])
    return np.array([d.mean() for d in out_d]), out_d, out_i


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return {dim: rng.random((2000, dim)).astype(np.float32) for dim in (2, 10)}


# Block sizes: one block; grouped blocks with a remainder (700 -> 688 + tail);
# small blocks below the grouping threshold.
@pytest.mark.parametrize("dim", [2, 10])
@pytest.mark.parametrize("block_size", [8192, 700, 150])
def test_matches_sklearn_with_self_exclusion(data, dim, block_size):
    reference = data[dim]
    queries = reference[:64]
    expected, dists, idx = sklearn_novelty(queries, reference, K, exclude_rows=np.arange(64))
    got = knn(queries, reference, k=K, self_index=jnp.arange(64), block_size=block_size)
    np.testing.assert_allclose(got.distances, np.stack(dists), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.indices, np.stack(idx))
    assert np.all(np.asarray(got.count) == K)
    nov = knn_novelty(queries, reference, k=K, self_index=jnp.arange(64), block_size=block_size)
    np.testing.assert_allclose(nov, expected, rtol=1e-5)


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
def test_mask_hides_rows(data, dim):
    reference = data[dim]
    mask = np.random.default_rng(1).random(len(reference)) < 0.3
    queries = reference[:20] + 0.01
    expected, _, idx = sklearn_novelty(queries, reference[mask], K)
    got = knn(queries, (reference, mask), k=K, block_size=600)
    np.testing.assert_allclose(novelty.novelty_from_neighbours(got), expected, rtol=1e-5)
    kept_rows = np.flatnonzero(mask)
    np.testing.assert_array_equal(got.indices, kept_rows[np.stack(idx)])


def test_fewer_than_k_neighbours_averages_available_ones():
    reference = jnp.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [9.0, 9.0]])
    mask = jnp.array([True, True, True, False])
    got = knn(reference[:1], (reference, mask), k=15, self_index=jnp.array([0]))
    assert int(got.count[0]) == 2
    np.testing.assert_allclose(got.distances[0, :2], [5.0, 10.0])
    assert np.all(np.isinf(got.distances[0, 2:])) and np.all(got.indices[0, 2:] == -1)
    nov = knn_novelty(reference[:1], reference, mask, k=15, self_index=jnp.array([0]))
    np.testing.assert_allclose(nov, [7.5])


def test_no_neighbour_gives_empty_value():
    reference = jnp.zeros((4, 2))
    mask = jnp.zeros(4, bool)
    assert float(knn_novelty(jnp.ones((1, 2)), reference, mask)[0]) == 0.0
    assert np.isinf(knn_novelty(jnp.ones((1, 2)), reference, mask, empty_value=jnp.inf)[0])


def test_union_equals_concatenation_and_self_index_spans_sets(data):
    reference = data[10][:900]
    population, archive = reference[:100], reference[100:]
    archive_mask = np.arange(800) < 650
    full_mask = np.concatenate([np.ones(100, bool), archive_mask])
    expected = knn_novelty(population, reference, full_mask, self_index=jnp.arange(100))
    got = knn_novelty_union(
        population,
        [population, (archive, archive_mask)],
        self_index=jnp.arange(100),
        block_size=256,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # A query that sits in the second set, excluded by its global index.
    nb = knn(archive[:1], [population, archive], k=1, self_index=jnp.array([100]))
    assert int(nb.indices[0, 0]) != 100 and float(nb.distances[0, 0]) > 0


def test_query_blocks_and_jit_give_the_same_result(data):
    reference = data[2][:500]
    queries = data[2][:37]
    plain = knn_novelty(queries, reference, self_index=jnp.arange(37))
    chunked = knn_novelty(queries, reference, self_index=jnp.arange(37), query_block_size=10)
    jitted = jax.jit(lambda q, r: knn_novelty(q, r, self_index=jnp.arange(37), block_size=128))(
        queries, reference
    )
    np.testing.assert_allclose(chunked, plain, rtol=1e-6)
    np.testing.assert_allclose(jitted, plain, rtol=1e-6)


def test_matrix_product_form_is_accurate_far_from_the_origin():
    # Without centring, |a|^2 ~ 1e7 would swamp squared distances ~ 1e-4.
    rng = np.random.default_rng(2)
    reference = (1000.0 + 0.01 * rng.random((300, 10))).astype(np.float32)
    expected, _, _ = sklearn_novelty(reference[:10].astype(np.float64), reference.astype(np.float64), 5, np.arange(10))
    got = knn_novelty(reference[:10], reference, k=5, self_index=jnp.arange(10))
    np.testing.assert_allclose(got, expected, rtol=2e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(k=0), "k must be"),
        (dict(block_size=0), "block_size"),
        (dict(self_index=jnp.arange(3)), "self_index"),
        (dict(query_block_size=-1), "query_block_size"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        knn_novelty(jnp.zeros((4, 2)), jnp.zeros((10, 2)), **kwargs)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="descriptor size"):
        knn_novelty(jnp.zeros((4, 2)), jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="mask"):
        knn_novelty(jnp.zeros((4, 2)), jnp.zeros((10, 2)), jnp.ones(9, bool))
    with pytest.raises(ValueError, match="2-d"):
        knn_novelty(jnp.zeros(4), jnp.zeros((10, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        knn_novelty_union(jnp.zeros((4, 2)), [])


@pytest.mark.parametrize("valid_rows", [slice(0, 40), slice(1990, 2000), slice(690, 700)])
def test_skipped_empty_blocks_do_not_change_the_result(data, valid_rows):
    # block_size 700: 2 full blocks of 688 and a tail of 624 rows.
    reference = data[2]
    mask = np.zeros(len(reference), bool)
    mask[valid_rows] = True
    queries = data[2][:5] + 0.001
    expected, _, _ = sklearn_novelty(queries, reference[mask], 4)
    got = knn_novelty(queries, reference, mask, k=4, block_size=700)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
