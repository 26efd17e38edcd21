"""representations/: the ground truth, the fixed projection and PCA, and the
registry; each against a direct computation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import representations
import tasks
from representations.base import normalised_trajectory
from tasks.evaluation import Evaluation

SPEC = tasks.make("hardmaze").spec
T = len(SPEC.trajectory_steps)


def _evaluation(n=6, seed=0):
    key = jax.random.PRNGKey(seed)
    trajectory = jax.random.uniform(key, (n, T, 2), minval=0.0, maxval=600.0)
    return Evaluation(
        reward=jnp.zeros(n), reward_area=jnp.full(n, -1, jnp.int32), descriptor=trajectory[:, -1] / 600.0,
        trajectory=trajectory, valid=jnp.ones(n, bool),
    )


def test_registry_lists_the_builtins_and_names_the_valid_ones():
    assert {"ground_truth", "projection", "pca"} <= set(representations.names())
    with pytest.raises(ValueError, match="unknown representation 'vae'; valid representations: autoencoder, .*pca"):
        representations.make("vae", SPEC)
    with pytest.raises(ValueError, match="unknown field.*'depth'.*valid fields: refit_every, size"):
        representations.make("pca", SPEC, depth=3)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        representations.make("projection", SPEC, size=0)


def test_ground_truth_is_the_tasks_descriptor():
    rep = representations.make("ground_truth", SPEC)
    ev = _evaluation()
    state = rep.init_state(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(rep.encode(state.params, rep.features(ev)), ev.descriptor)
    assert rep.bounds() == ((0.0, 0.0), (1.0, 1.0)) and not rep.learned


@pytest.mark.parametrize("source", ["trajectory", "final"])
def test_projection_is_a_fixed_tanh_of_a_random_linear_map(source):
    rep = representations.make("projection", SPEC, size=3, source=source)
    ev = _evaluation()
    params = rep.init(jax.random.PRNGKey(1))
    x = np.asarray(normalised_trajectory(SPEC, ev.trajectory))
    x = x if source == "trajectory" else x[:, -2:]
    expected = np.tanh(x @ np.asarray(params) / np.sqrt(x.shape[1]))
    np.testing.assert_allclose(rep.encode(params, rep.features(ev)), expected, rtol=1e-5, atol=1e-6)
    assert rep.descriptor_size == 3 and rep.bounds() == ((-1.0,) * 3, (1.0,) * 3)


def test_pca_fit_matches_scikit_learn_on_the_masked_rows():
    from sklearn.decomposition import PCA

    rep = representations.make("pca", SPEC, size=2)
    ev = _evaluation(n=40)
    features = rep.features(ev)
    mask = jnp.arange(40) < 30  # the last 10 rows are not in the archive
    params = rep.fit(rep.init(jax.random.PRNGKey(0)), features, mask, jax.random.PRNGKey(0))
    descriptors = np.asarray(rep.encode(params, features[:30]))
    reference = PCA(n_components=2).fit_transform(np.asarray(features[:30]))
    reference /= reference.std(axis=0)
    # Same components up to sign; unit variance on the fitted rows.
    for j in range(2):
        assert abs(abs(np.corrcoef(descriptors[:, j], reference[:, j])[0, 1]) - 1) < 1e-4
    np.testing.assert_allclose(descriptors.std(axis=0), 1.0, rtol=1e-4)


def test_representations_are_hashable_values():
    a = representations.make("projection", SPEC, size=2)
    b = representations.make("projection", SPEC, size=2)
    assert a == b and hash(a) == hash(b) and a != representations.make("projection", SPEC, size=3)
