"""Tests of qd/grid_archive.py and the shared insertion rules of qd/repertoire.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ribs.archives import GridArchive

from qd.archives import grid as ga
from qd.archives.entries import make_entries
from qd.archives.repertoire import IMPROVED, NEW_CELL, NOT_ADDED

SPEC = ga.GridSpec((-1.0, 0.0), (1.0, 2.0), (4, 5))


def entries(descriptors, rewards, genome_size=3):
    descriptors = np.asarray(descriptors, np.float32)
    n = len(descriptors)
    genomes = np.arange(n * genome_size, dtype=np.float32).reshape(n, genome_size)
    return make_entries(genomes, descriptors, np.asarray(rewards, np.float32), reward_area=np.arange(n) % 2)


def test_spec_validation():
    with pytest.raises(ValueError, match="same length"):
        ga.GridSpec((0, 0), (1, 1), (5,))
    with pytest.raises(ValueError, match="high must exceed low"):
        ga.GridSpec((0, 1), (1, 1), (5, 5))
    with pytest.raises(ValueError, match="cells must be positive"):
        ga.GridSpec((0,), (1,), (0,))
    with pytest.raises(ValueError, match="finite"):
        ga.GridSpec((0,), (np.inf,), (3,))
    assert ga.grid_spec([0, 0], [1, 1], 3).cells == (3, 3)
    assert hash(SPEC) == hash(ga.GridSpec([-1, 0], [1, 2], [4, 5]))  # usable as a static arg


def test_index_of_matches_pyribs_including_out_of_bounds():
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.5, 2.5, (2000, 2)).astype(np.float32)
    points = np.concatenate([points, [[-1.0, 0.0], [1.0, 2.0], [0.999, 1.999]]]).astype(np.float32)
    ribs = GridArchive(solution_dim=1, dims=SPEC.cells, ranges=[(-1, 1), (0, 2)], dtype=np.float32)
    np.testing.assert_array_equal(ga.index_of(SPEC, points), ribs.index_of(points))


def test_boundaries_go_to_the_upper_cell_and_centres_to_their_own_cell():
    spec = ga.GridSpec((0.0,), (8.0,), (8,))
    np.testing.assert_array_equal(ga.index_of(spec, jnp.arange(9.0)[:, None]), [0, 1, 2, 3, 4, 5, 6, 7, 7])
    centres = ga.cell_centres(SPEC)
    assert centres.shape == (20, 2)
    np.testing.assert_array_equal(ga.index_of(SPEC, centres), np.arange(20))
    np.testing.assert_allclose(centres[1], [-0.75, 0.6])  # C order: last dimension fastest


def test_insert_keeps_the_best_per_cell_and_resolves_batch_conflicts():
    rep = ga.init(SPEC, 3)
    # Cells: rows 0-2 share a cell (best is row 1); rows 3, 4 tie (first wins).
    batch = entries(
        [[-0.9, 0.1], [-0.8, 0.2], [-0.95, 0.05], [0.6, 1.3], [0.7, 1.35], [0.9, 1.9]],
        [1.0, 3.0, 2.0, 5.0, 5.0, 0.0],
    )
    rep, status = ga.insert(SPEC, rep, batch)
    np.testing.assert_array_equal(status, [NOT_ADDED, NEW_CELL, NOT_ADDED, NEW_CELL, NOT_ADDED, NEW_CELL])
    cell = int(ga.index_of(SPEC, batch.descriptor[1:2])[0])
    assert float(rep.rewards[cell]) == 3.0 and bool(rep.filled[cell])
    np.testing.assert_array_equal(rep.genomes[cell], batch.genome[1])
    np.testing.assert_array_equal(rep.descriptors[cell], batch.descriptor[1])
    assert int(rep.reward_areas[cell]) == 1
    tie_cell = int(ga.index_of(SPEC, batch.descriptor[3:4])[0])
    np.testing.assert_array_equal(rep.genomes[tie_cell], batch.genome[3])
    assert int(rep.size) == 3

    # The occupant keeps its cell on a tie; a strictly better reward replaces it.
    again = entries([[-0.85, 0.15], [0.55, 1.25]], [3.0, 5.5])
    rep, status = ga.insert(SPEC, rep, again)
    np.testing.assert_array_equal(status, [NOT_ADDED, IMPROVED])
    np.testing.assert_array_equal(rep.genomes[cell], batch.genome[1])
    assert float(rep.rewards[tie_cell]) == 5.5


def test_nan_and_masked_entries_are_never_inserted():
    rep = ga.init(SPEC, 3)
    batch = entries([[0.1, 0.1], [np.nan, 0.5], [0.5, 0.5], [-0.5, 1.5]], [np.nan, 1.0, 1.0, 2.0])
    rep, status = ga.insert(SPEC, rep, batch, jnp.array([True, True, True, False]))
    np.testing.assert_array_equal(status, [NOT_ADDED, NOT_ADDED, NEW_CELL, NOT_ADDED])
    assert int(rep.size) == 1 and not bool(jnp.isnan(rep.rewards).any())


def test_matches_pyribs_over_several_batches():
    rng = np.random.default_rng(1)
    spec = ga.GridSpec((0.0, 0.0), (1.0, 1.0), (10, 10))
    ribs = GridArchive(solution_dim=3, dims=spec.cells, ranges=[(0, 1), (0, 1)], dtype=np.float32)
    rep = ga.init(spec, 3)
    insert = jax.jit(ga.insert, static_argnums=0)
    for _ in range(4):
        d = rng.random((300, 2)).astype(np.float32)
        r = rng.random(300).astype(np.float32)  # continuous: no ties
        g = rng.normal(size=(300, 3)).astype(np.float32)
        rep, _ = insert(spec, rep, make_entries(g, d, r))
        ribs.add(solution=g, objective=r, measures=d)
    data = ribs.data()
    assert int(rep.size) == len(ribs)
    np.testing.assert_array_equal(rep.rewards[data["index"]], data["objective"])
    np.testing.assert_array_equal(rep.genomes[data["index"]], data["solution"])


def test_bad_inputs_raise():
    rep = ga.init(SPEC, 3)
    with pytest.raises(ValueError, match="descriptors must have shape"):
        ga.index_of(SPEC, jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="genome"):
        ga.insert(SPEC, rep, make_entries(jnp.zeros((2, 4)), jnp.zeros((2, 2)), jnp.zeros(2)))
    with pytest.raises(ValueError, match="cells"):
        ga.insert(ga.GridSpec((0, 0), (1, 1), (2, 2)), rep, entries([[0, 0]], [1.0]))
    with pytest.raises(ValueError, match="genome_size"):
        ga.init(SPEC, 0)
