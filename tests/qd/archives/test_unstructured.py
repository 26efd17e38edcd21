"""qd/archives/unstructured.py: AURORA's unstructured archive and its
container size control, checked on hand-made points and against QDax 0.5."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd.archives import unstructured as U
from qd.archives.entries import make_entries
from qd.archives.repertoire import IMPROVED, NEW_CELL, NOT_ADDED


# One capacity and one batch size for every test, so that `insert` compiles
# once (hand-made batches are padded with masked rows).
CAP, BATCH = 64, 8


def _entries(descriptors, rewards):
    d = np.zeros((BATCH, 2), np.float32)
    d[: len(descriptors)] = descriptors
    r = np.zeros((BATCH,), np.float32)
    r[: len(rewards)] = rewards
    g = np.arange(BATCH * 3, dtype=np.float32).reshape(BATCH, 3)
    return make_entries(g, d, r), jnp.arange(BATCH) < len(descriptors)


def _insert(archive, descriptors, rewards, mask=None):
    entries, present = _entries(descriptors, rewards)
    if mask is not None:
        present = present & jnp.asarray(np.pad(mask, (0, BATCH - len(mask))))
    new, status = U.insert(archive, entries, present)
    return new, np.asarray(status)[: len(descriptors)].tolist()


def _archive(descriptors, rewards, *, threshold=0.3):
    archive, status = _insert(U.init(CAP, 3, 2, 2, threshold), descriptors, rewards)
    assert status == [NEW_CELL] * len(descriptors)
    return archive


def test_a_far_point_enters_a_near_worse_one_does_not_a_near_better_one_replaces():
    archive = _archive([[0.0, 0.0], [1.0, 0.0]], [1.0, 1.0])
    # Far (1.0 from both), near (0.1 from row 0) and worse, near (0.1 from row 1) and better.
    new, status = _insert(archive, [[0.0, 1.0], [0.1, 0.0], [0.9, 0.0]], [0.0, 0.5, 2.0])
    assert status == [NEW_CELL, NOT_ADDED, IMPROVED]
    assert np.asarray(new.filled).tolist() == [True] * 3 + [False] * (CAP - 3)
    np.testing.assert_allclose(np.asarray(new.descriptors)[:3], [[0.0, 0.0], [0.9, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(new.rewards)[:3], [1.0, 2.0, 0.0])


def test_a_candidate_near_two_elites_is_refused_even_if_better():
    archive = _archive([[0.0, 0.0], [0.4, 0.0]], [0.0, 0.0])
    new, status = _insert(archive, [[0.2, 0.0]], [5.0])
    assert status == [NOT_ADDED] and int(new.size) == 2


def test_within_a_batch_the_better_of_two_close_candidates_wins_and_on_equal_rewards_the_later():
    archive = U.init(CAP, 3, 2, 2, 0.3)
    _, status = _insert(archive, [[0.0, 0.0], [0.1, 0.0], [2.0, 0.0]], [2.0, 1.0, 0.0])
    assert status == [NEW_CELL, NOT_ADDED, NEW_CELL]
    # Every reward equal: QDax's virtual reward favours the later candidate.
    _, status = _insert(archive, [[0.0, 0.0], [0.1, 0.0], [2.0, 0.0]], [0.0, 0.0, 0.0])
    assert status == [NOT_ADDED, NEW_CELL, NEW_CELL]


def test_masked_and_non_finite_rows_are_never_inserted_and_a_full_archive_takes_no_novel_point():
    archive = _archive([[10.0 + i, 0.0] for i in range(CAP - 3)][:BATCH], [0.0] * BATCH)
    for start in range(BATCH, CAP - 3, BATCH):  # fill all but 3 rows
        archive, _ = _insert(archive, [[10.0 + i, 0.0] for i in range(start, min(start + BATCH, CAP - 3))],
                             [0.0] * BATCH)
    assert int(archive.size) == CAP - 3
    new, status = _insert(archive, [[0.0, 0.0], [1.0, 0.0], [np.nan, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]],
                          [0.0, 0.0, 0.0, np.inf, 0.0, 0.0], mask=[True, False, True, True, True, True])
    assert status == [NEW_CELL, NOT_ADDED, NOT_ADDED, NOT_ADDED, NEW_CELL, NEW_CELL]
    np.testing.assert_allclose(np.asarray(new.descriptors)[CAP - 3:], [[0.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    full, status = _insert(new, [[9.0, 9.0]], [9.0])
    assert status == [NOT_ADDED] and int(full.size) == CAP


def test_init_names_bad_arguments():
    with pytest.raises(ValueError, match="capacity must be an integer >= 2, got 1"):
        U.init(1, 2, 2, 2, 0.1)
    with pytest.raises(ValueError, match="threshold must be a positive finite number, got -0.1"):
        U.init(4, 2, 2, 2, -0.1)


def _random_archive(seed, *, batches=6, threshold=0.15, tied=False):
    rng = np.random.default_rng(seed)
    archive = U.init(CAP, 3, 2, 2, threshold)
    made = []
    for _ in range(batches):
        g = rng.normal(size=(BATCH, 3)).astype(np.float32)
        d = rng.uniform(size=(BATCH, 2)).astype(np.float32)
        r = (np.zeros(BATCH) if tied else rng.normal(size=BATCH)).astype(np.float32)
        made.append((g, d, r))
        archive, _ = U.insert(archive, make_entries(g, d, r))
    return archive, made


@pytest.fixture
def qdax_unstructured(monkeypatch):
    """QDax 0.5's UnstructuredRepertoire with its one shape bug mended: it
    stores fitnesses as [N, 1], so `add` masks the empty rows' descriptors
    into an [N, N, k] array and every elite looks equally far from a
    candidate (QDax then admits near-duplicates). The mend keeps the
    diagonal, i.e. the [N, k] descriptors with inf in empty rows it meant."""
    qu = pytest.importorskip("qdax.core.containers.unstructured_repertoire")
    original = qu.get_cells_indices

    def mended(descriptors, centroids, k_nn):
        if centroids.ndim == 3:
            n = centroids.shape[0]
            centroids = centroids[jnp.arange(n), jnp.arange(n)]
        return original(descriptors, centroids, k_nn)

    monkeypatch.setattr(qu, "get_cells_indices", mended)
    return qu.UnstructuredRepertoire


# QDax's compile costs CI ~9 s: an on-demand check (-m slow).
@pytest.mark.slow
@pytest.mark.parametrize("tied", [False, True])
def test_insertion_and_reinsertion_match_qdax_row_for_row(qdax_unstructured, tied):
    ours, batches = _random_archive(1, tied=tied)
    (g, d, r), rest = batches[0], batches[1:]
    # Compiled whole: QDax's add runs op by op otherwise (most of this test's time).
    init = jax.jit(lambda g, r, d: qdax_unstructured.init(g, r, d, jnp.float32(0.15), CAP))
    add = jax.jit(lambda rep, g, d, r: rep.add(g, d, r))
    theirs = init(g, r, d)
    for g, d, r in rest:
        theirs = add(theirs, g, d, r)
    filled = np.asarray(theirs.fitnesses).reshape(-1) > -np.inf
    assert 10 < filled.sum() < CAP
    np.testing.assert_array_equal(np.asarray(ours.filled), filled)
    np.testing.assert_array_equal(np.asarray(ours.genomes)[filled], np.asarray(theirs.genotypes)[filled])
    np.testing.assert_array_equal(np.asarray(ours.descriptors)[filled], np.asarray(theirs.descriptors)[filled])

    # A refit moved every descriptor; both re-insert every row (QDax: `init`).
    moved = np.asarray(ours.descriptors) * 0.5
    before = ours.replace(descriptors=jnp.asarray(moved))
    ours = U.reinsert(before)
    theirs = jax.jit(lambda rep, d: qdax_unstructured.init(rep.genotypes, rep.fitnesses, d, jnp.float32(0.15), CAP))(
        theirs, jnp.asarray(moved)
    )
    kept = np.asarray(theirs.fitnesses).reshape(-1) > -np.inf
    assert 0 < kept.sum() < filled.sum()
    np.testing.assert_array_equal(np.asarray(ours.filled), kept)
    np.testing.assert_array_equal(np.asarray(ours.genomes)[kept], np.asarray(theirs.genotypes)[kept])
    # `reinsert` is `insert` of every row into an empty copy (which packs the rows).
    slow, _ = U.insert(U.clear(before), U.elites(before), before.filled)
    np.testing.assert_array_equal(np.asarray(slow.genomes)[np.asarray(slow.filled)], np.asarray(ours.genomes)[kept])


def test_reinsert_keeps_rows_in_place_and_equals_inserting_every_row_into_an_empty_copy():
    archive, _ = _random_archive(2)
    archive = archive.replace(descriptors=archive.descriptors * 0.5)
    once = U.reinsert(archive)
    kept = np.asarray(once.filled)
    assert kept.sum() < int(archive.size)
    # Row i still holds genome i with descriptor i (nothing moved).
    for column in ("genomes", "descriptors", "rewards", "features"):
        np.testing.assert_array_equal(np.asarray(getattr(once, column))[kept], np.asarray(getattr(archive, column))[kept])
    assert np.all(np.asarray(once.rewards)[~kept] == -np.inf)
    # Survivors are at least l apart, or the closer one is not better.
    d = np.asarray(once.descriptors)[kept]
    dist = np.linalg.norm(d[:, None] - d[None], axis=-1) + np.eye(len(d)) * 9
    assert dist.min() >= float(once.threshold) or np.ptp(np.asarray(once.rewards)[kept]) > 0


def test_container_size_control_moves_l_by_qdax_rule():
    archive, _ = _random_archive(3, batches=8, threshold=0.02)
    size = int(archive.size)
    # Too many: l grows, the re-insertion thins the archive.
    over = U.container_size_control(U.start_control(archive, size // 2), size // 2, 1e-3)
    error = size - size // 2
    assert float(over.threshold) == pytest.approx(0.02 + 1e-3 * error)  # no change of error yet
    assert float(over.csc_error) == error and int(over.size) < size
    # Too few: l shrinks (nothing to drop then).
    under = U.container_size_control(U.start_control(archive, 2 * size), 2 * size, 1e-4)
    assert float(under.threshold) == pytest.approx(0.02 - 1e-4 * size) and int(under.size) == size
    # QDax's derivative term: the change of the error since the last control.
    again = U.container_size_control(over, size // 2, 1e-3)
    e2 = int(over.size) - size // 2
    assert float(again.threshold) == pytest.approx(float(over.threshold) + 1e-3 * e2 + 1e-3 * (e2 - error))


@pytest.mark.parametrize("threshold", [0.001, 0.5])
def test_inserting_and_controlling_in_turn_brings_the_size_to_the_target(threshold):
    """From an l far too small (the archive fills up) or far too large (it
    stays nearly empty), alternating batches and controls reach the target."""
    rng = np.random.default_rng(6)
    target = 24
    archive = U.init(CAP, 3, 2, 2, threshold)
    sizes = []
    for i in range(60):
        archive, _ = U.insert(archive, make_entries(rng.normal(size=(BATCH, 3)), rng.uniform(size=(BATCH, 2)),
                                                    rng.normal(size=BATCH)))
        archive = U.start_control(archive, target) if i == 0 else U.container_size_control(archive, target, 2e-3)
        sizes.append(int(archive.size))
    final = float(archive.threshold)
    # l found its level from either side: grown where the archive filled up
    # too fast, shrunk where it stayed too sparse.
    assert final > 20 * threshold if threshold < 0.1 else final < threshold / 2
    assert abs(np.mean(sizes[-10:]) - target) < 3, sizes


def test_maintain_reinserts_after_a_refit_controls_when_due_and_otherwise_changes_nothing():
    archive, _ = _random_archive(5)
    archive = U.start_control(archive, 20).replace(descriptors=archive.descriptors * 0.5)
    same = U.maintain(archive, refitted=jnp.bool_(False), control=jnp.bool_(False), target_size=20, gain=1e-3)
    for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(archive)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    refitted = U.maintain(archive, refitted=jnp.bool_(True), control=jnp.bool_(True), target_size=20, gain=1e-3)
    np.testing.assert_array_equal(np.asarray(refitted.filled), np.asarray(U.reinsert(archive).filled))
    assert float(refitted.threshold) == float(archive.threshold)  # a refit skips the control, as in QDax
    controlled = U.maintain(archive, refitted=jnp.bool_(False), control=jnp.bool_(True), target_size=20, gain=1e-3)
    expected = U.container_size_control(archive, 20, 1e-3)
    for a, b in zip(jax.tree.leaves(controlled), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
