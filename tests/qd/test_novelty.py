"""Tests of qd/novelty.py (the neighbour search itself is tested in test_knn.py)."""
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from qd.novelty import knn, knn_novelty, knn_novelty_union, novelty_from_neighbours


@pytest.mark.parametrize("dim", [2, 10])
def test_novelty_is_the_mean_distance_to_the_k_nearest_others(dim):
    rng = np.random.default_rng(0)
    reference = rng.random((800, dim)).astype(np.float32)
    dist, _ = NearestNeighbors(n_neighbors=16).fit(reference).kneighbors(reference[:50])
    got = knn_novelty(reference[:50], reference, k=15, self_index=jnp.arange(50), block_size=700)
    np.testing.assert_allclose(got, dist[:, 1:].mean(axis=1), rtol=1e-5)


def test_fewer_than_k_neighbours_averages_available_ones():
    reference = jnp.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [9.0, 9.0]])
    mask = jnp.array([True, True, True, False])
    nov = knn_novelty(reference[:1], reference, mask, k=15, self_index=jnp.array([0]))
    np.testing.assert_allclose(nov, [7.5])


def test_no_neighbour_gives_empty_value():
    reference = jnp.zeros((4, 2))
    mask = jnp.zeros(4, bool)
    assert float(knn_novelty(jnp.ones((1, 2)), reference, mask)[0]) == 0.0
    assert np.isinf(knn_novelty(jnp.ones((1, 2)), reference, mask, empty_value=jnp.inf)[0])
    nb = knn(jnp.ones((1, 2)), (reference, mask), k=3)
    assert float(novelty_from_neighbours(nb, empty_value=-1.0)[0]) == -1.0


def test_union_equals_concatenation():
    rng = np.random.default_rng(1)
    reference = rng.random((900, 10)).astype(np.float32)
    population, archive = reference[:100], reference[100:]
    archive_mask = np.arange(800) < 650
    full_mask = np.concatenate([np.ones(100, bool), archive_mask])
    expected = knn_novelty(population, reference, full_mask, self_index=jnp.arange(100))
    got = knn_novelty_union(
        population, [population, (archive, archive_mask)], self_index=jnp.arange(100), block_size=256
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    nov = knn_novelty_union(jnp.ones((1, 2)), [jnp.zeros((0, 2)), jnp.array([[1.0, 4.0]])], k=3)
    np.testing.assert_allclose(nov, [3.0])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="non-empty"):
        knn_novelty_union(jnp.zeros((4, 2)), [])
    with pytest.raises(ValueError, match="k must be"):
        knn_novelty(jnp.zeros((4, 2)), jnp.zeros((10, 2)), k=-3)
    with pytest.raises(ValueError, match="mask"):
        knn_novelty(jnp.zeros((4, 2)), jnp.zeros((10, 2)), jnp.ones(9, bool))
