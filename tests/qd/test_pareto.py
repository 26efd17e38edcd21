"""qd/pareto.py against a plain-NumPy brute force, on random data with ties and masks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd import pareto


def _dominated_by(obj):
    """[i, j] True when row j dominates row i, pair by pair."""
    n = len(obj)
    out = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(n):
            out[i, j] = np.all(obj[j] >= obj[i]) and np.any(obj[j] > obj[i])
    return out


def _reference_counts(obj, mask):
    return (_dominated_by(obj) & mask[:, None] & mask[None, :]).sum(axis=1)


def _reference_ranks(obj, mask):
    """Peels fronts naively: the valid rows no remaining row dominates."""
    n = len(obj)
    dominated_by = _dominated_by(obj)
    ranks = np.full(n, n)
    remaining = mask.copy()
    rank = 0
    while remaining.any():
        front = remaining & ~(dominated_by & remaining[None, :]).any(axis=1)
        ranks[front] = rank
        remaining &= ~front
        rank += 1
    return ranks


def _reference_crowding(obj, ranks, mask):
    """Deb et al. 2002's crowding-distance assignment, front by front; equal
    values keep row order (a stable sort)."""
    n, m = obj.shape
    distance = np.zeros(n)
    for r in np.unique(ranks[mask]):
        members = np.flatnonzero(mask & (ranks == r))
        for k in range(m):
            order = members[np.argsort(obj[members, k], kind="stable")]
            distance[order[0]] = distance[order[-1]] = np.inf
            span = obj[order[-1], k] - obj[order[0], k]
            if span == 0:
                continue
            for a in range(1, len(order) - 1):
                distance[order[a]] += (obj[order[a + 1], k] - obj[order[a - 1], k]) / span
    return distance


def _random_case(seed, n=60, m=2, levels=6, masked=0.2):
    """Few distinct values per objective, so ties and duplicate rows are common."""
    rng = np.random.default_rng(seed)
    obj = rng.integers(0, levels, size=(n, m)).astype(np.float32) / levels
    mask = rng.random(n) > masked
    return obj, mask


@pytest.mark.parametrize("seed,m", [(0, 2), (1, 2), (2, 3), (3, 1), (4, 4)])
def test_counts_ranks_and_crowding_match_brute_force(seed, m):
    obj, mask = _random_case(seed, m=m, levels=6 if m > 1 else 4)
    counts = pareto.domination_counts(obj, mask)
    ranks = jax.jit(pareto.front_ranks)(obj, mask)
    crowding = jax.jit(pareto.crowding_distance)(obj, ranks, mask)
    assert counts.dtype == jnp.int32 and ranks.dtype == jnp.int32 and crowding.dtype == jnp.float32
    np.testing.assert_array_equal(counts, _reference_counts(obj, mask))
    expected_ranks = _reference_ranks(obj, mask)
    np.testing.assert_array_equal(ranks, expected_ranks)
    np.testing.assert_allclose(crowding, _reference_crowding(obj, expected_ranks, mask), rtol=1e-5)


def test_continuous_data_without_mask():
    obj = np.random.default_rng(5).normal(size=(200, 2)).astype(np.float32)
    mask = np.ones(200, bool)
    ranks = pareto.front_ranks(obj)
    np.testing.assert_array_equal(ranks, _reference_ranks(obj, mask))
    np.testing.assert_allclose(
        pareto.crowding_distance(obj, ranks), _reference_crowding(obj, np.asarray(ranks), mask), rtol=1e-5
    )
    np.testing.assert_array_equal(pareto.domination_counts(obj) == 0, np.asarray(ranks) == 0)


def test_masked_rows_are_inert_and_ranked_last():
    obj = np.array([[1.0, 1.0], [10.0, 10.0], [0.0, 2.0], [0.0, 0.0]], np.float32)
    mask = np.array([True, False, True, True])
    # Row 1 would dominate everything; masked, it dominates nothing.
    np.testing.assert_array_equal(pareto.domination_counts(obj, mask), [0, 0, 0, 2])
    np.testing.assert_array_equal(pareto.front_ranks(obj, mask), [0, 4, 0, 1])
    crowding = pareto.crowding_distance(obj, pareto.front_ranks(obj, mask), mask)
    np.testing.assert_array_equal(crowding, [np.inf, 0.0, np.inf, np.inf])
    # Fully masked: everybody gets the worst rank.
    np.testing.assert_array_equal(pareto.front_ranks(obj, np.zeros(4, bool)), [4, 4, 4, 4])


def test_a_chain_has_one_front_per_row():
    obj = np.stack([np.arange(30.0), np.arange(30.0)], axis=1)
    np.testing.assert_array_equal(pareto.front_ranks(obj), np.arange(30)[::-1])


def test_interior_crowding_of_a_known_front():
    # One front along the anti-diagonal: interior gaps are 2/4 per objective.
    obj = np.array([[0, 4], [1, 3], [2, 2], [3, 1], [4, 0]], np.float32)
    ranks = pareto.front_ranks(obj)
    np.testing.assert_array_equal(ranks, 0)
    np.testing.assert_allclose(pareto.crowding_distance(obj, ranks), [np.inf, 1.0, 1.0, 1.0, np.inf])


def test_sort_order_is_rank_then_crowding_then_index():
    ranks = np.array([1, 0, 0, 2, 0, 1])
    crowding = np.array([np.inf, 0.5, np.inf, 9.0, 0.5, 1.0], np.float32)
    mask = np.array([True, True, True, True, True, False])
    np.testing.assert_array_equal(pareto.sort_order(ranks, crowding, mask), [2, 1, 4, 0, 3, 5])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"objectives must have shape \[N, M\]"):
        pareto.front_ranks(np.zeros(5))
    with pytest.raises(ValueError, match=r"mask must have shape \(5,\)"):
        pareto.domination_counts(np.zeros((5, 2)), np.ones(4, bool))
    with pytest.raises(ValueError, match=r"ranks must have shape \(5,\)"):
        pareto.crowding_distance(np.zeros((5, 2)), np.zeros(3, np.int32))
