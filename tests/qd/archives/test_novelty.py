"""Tests of qd/novelty_archive.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd.archives import novelty as na
from qd.novelty import knn_novelty
from qd.archives.entries import make_entries


def batch(n, seed=0, genome_size=3, descriptor_size=2):
    rng = np.random.default_rng(seed)
    return make_entries(
        rng.normal(size=(n, genome_size)),
        rng.random((n, descriptor_size)),
        rng.random(n),
        gt_descriptor=rng.random((n, 2)),
        reward_area=rng.integers(-1, 2, n),
    )


def test_init_is_empty_and_validates():
    archive = na.init(8, 3, 2, 4)
    assert archive.capacity == 8 and int(archive.size) == 0 and int(archive.overflow) == 0
    assert archive.gt_descriptors.shape == (8, 4) and not bool(archive.mask.any())
    for bad in (dict(capacity=0), dict(genome_size=-1), dict(descriptor_size=1.5)):
        args = dict(capacity=8, genome_size=3, descriptor_size=2) | bad
        with pytest.raises(ValueError, match=next(iter(bad))):
            na.init(**args)


def test_insert_appends_selected_rows_in_order_with_stamps():
    entries = batch(6)
    archive = na.init(10, 3, 2)
    mask = jnp.array([False, True, False, True, True, False])
    archive, stored = jax.jit(na.insert)(archive, entries, mask)
    np.testing.assert_array_equal(stored, mask)
    assert int(archive.size) == 3
    np.testing.assert_array_equal(archive.descriptors[:3], entries.descriptor[mask])
    np.testing.assert_array_equal(archive.reward_areas[:3], entries.reward_area[mask])
    np.testing.assert_array_equal(archive.generations[:4], [0, 0, 0, -1])
    archive, _ = na.insert(archive, entries, jnp.array([True] + [False] * 5), generation=41)
    np.testing.assert_array_equal(archive.genomes[3], entries.genome[0])
    assert int(archive.generations[3]) == 41 and int(archive.n_calls) == 2
    np.testing.assert_array_equal(archive.mask, np.arange(10) < 4)


def test_full_archive_counts_overflow_instead_of_dropping_silently():
    archive = na.init(7, 3, 2)
    archive, stored = na.insert(archive, batch(5), None)
    archive, stored = na.insert(archive, batch(5, seed=1), None)
    np.testing.assert_array_equal(stored, [True, True, False, False, False])
    assert int(archive.size) == 7 and int(archive.overflow) == 3 and bool(archive.full)
    archive, stored = na.insert(archive, batch(5, seed=2), jnp.array([True, False, True, False, False]))
    assert not bool(stored.any()) and int(archive.overflow) == 5 and int(archive.size) == 7


def test_non_finite_entries_are_never_inserted_nor_counted():
    entries = batch(4)
    entries = entries.replace(
        reward=entries.reward.at[0].set(jnp.nan),
        descriptor=entries.descriptor.at[2, 1].set(jnp.inf),
    )
    archive, stored = na.insert(na.init(2, 3, 2), entries, None)
    np.testing.assert_array_equal(stored, [False, True, False, True])
    assert int(archive.size) == 2 and int(archive.overflow) == 0


def test_insert_rejects_wrong_sizes():
    with pytest.raises(ValueError, match="genome"):
        na.insert(na.init(4, 5, 2), batch(3), None)
    with pytest.raises(ValueError, match="mask"):
        na.insert(na.init(4, 3, 2), batch(3), jnp.ones(2, bool))


def test_select_random_picks_n_valid_uniformly():
    valid = jnp.arange(10) % 3 != 0  # 6 valid candidates
    masks = jax.jit(jax.vmap(lambda k: na.select_random(k, valid, 2)))(jax.random.split(jax.random.key(0), 1000))
    assert np.all(np.asarray(masks).sum(1) == 2)
    assert not np.any(np.asarray(masks)[:, ~np.asarray(valid)])
    freq = np.asarray(masks).mean(0)[np.asarray(valid)]
    np.testing.assert_allclose(freq, 2 / 6, atol=0.06)
    few = na.select_random(jax.random.key(1), jnp.array([True, False, True]), 5)
    np.testing.assert_array_equal(few, [True, False, True])
    assert not bool(na.select_random(jax.random.key(1), valid, 0).any())
    with pytest.raises(ValueError, match="n must be"):
        na.select_random(jax.random.key(1), valid, -1)


def test_select_most_novel_prefers_high_novelty_and_skips_nan_and_invalid():
    novelty = jnp.array([0.5, 3.0, jnp.nan, 2.0, 2.0, 9.0])
    valid = jnp.array([True, True, True, True, True, False])
    np.testing.assert_array_equal(
        na.select_most_novel(novelty, 2, valid), [False, True, False, True, False, False]
    )
    assert int(na.select_most_novel(novelty, 10, valid).sum()) == 4


def test_threshold_selection_and_decay_like_pyribs():
    config = na.ThresholdConfig(initial=1.0, decay_rate=0.5, decay_after=2, minimum=0.3)
    state = na.init_threshold(config)
    mask, state = na.select_by_threshold(jnp.array([0.5, 1.0, 2.0]), state, config)
    np.testing.assert_array_equal(mask, [False, True, True])
    low = jnp.array([0.1, 0.2])
    thresholds = []
    for _ in range(6):
        mask, state = na.select_by_threshold(low, state, config)
        assert not bool(mask.any())
        thresholds.append(float(state.threshold))
    np.testing.assert_allclose(thresholds, [1.0, 0.5, 0.5, 0.3, 0.3, 0.3])


def test_threshold_increase_when_too_many_get_in():
    config = na.ThresholdConfig(initial=1.0, increase_rate=1.2, increase_above=2)
    state = na.init_threshold(config)
    _, state = na.select_by_threshold(jnp.array([5.0, 5.0]), state, config)
    assert float(state.threshold) == 1.0
    _, state = na.select_by_threshold(jnp.array([5.0, 5.0, 5.0]), state, config)
    np.testing.assert_allclose(float(state.threshold), 1.2)
    with pytest.raises(ValueError, match="decay_rate"):
        na.ThresholdConfig(initial=1.0, decay_rate=1.5)
    with pytest.raises(ValueError, match="initial"):
        na.ThresholdConfig(initial=0.0)


def test_threshold_insertion_into_empty_archive_then_rejects_duplicates():
    config = na.ThresholdConfig(initial=0.1)
    state = na.init_threshold(config)
    archive = na.init(20, 3, 2)
    entries = batch(5)

    @jax.jit
    def step(archive, state):
        nov = knn_novelty(entries.descriptor, archive.descriptors, archive.mask, k=1, empty_value=jnp.inf)
        mask, state = na.select_by_threshold(nov, state, config)
        archive, _ = na.insert(archive, entries, mask)
        return archive, state

    archive, state = step(archive, state)
    assert int(archive.size) == 5
    archive, state = step(archive, state)  # same behaviours: nearest neighbour at 0
    assert int(archive.size) == 5
