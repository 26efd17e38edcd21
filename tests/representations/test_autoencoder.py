"""representations/autoencoder.py: TAXONS' autoencoder learns the task's views,
its surprise flags what it has not seen, and a TAXONS run keeps every archive
row's descriptor equal to a fresh encode of that row's policy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import representations
import tasks
from qd import algorithms, refit
from representations.autoencoder import train
from tests.qd.algorithms.pipelines import pipeline_of

SMALL = dict(latent_size=4, width=4, batch_size=16, max_epochs=12, patience=4)


def _views(task_name, n, seed=0, **task_config):
    task = tasks.make(task_name, **task_config)
    genomes = task.default_policy().init_genomes(jax.random.PRNGKey(seed), n)
    return tasks.rollout(task, genomes, jax.random.PRNGKey(seed + 1), with_observation=True), task


def test_the_autoencoder_learns_task_views_and_is_surprised_by_unseen_ones():
    ev, task = _views("curling", 48, episode_length=40)
    rep = representations.make("autoencoder", task.spec, **SMALL)
    features = rep.features(ev)
    assert features.dtype == jnp.uint8 and features.shape == (48, 64, 64, 3)
    params = rep.init(jax.random.PRNGKey(0))
    mask = jnp.ones(48, bool)
    trained, losses, epochs = jax.jit(lambda p, f, m, k: train(rep.network, rep.config, p, f, m, k))(
        params, features, mask, jax.random.PRNGKey(1)
    )
    losses = np.asarray(losses)[: int(epochs)]
    assert int(epochs) >= 3 and losses[-1] < 0.6 * losses[0], losses
    # Views of another task (the maze) are far less well explained.
    maze, _ = _views("hardmaze", 16, episode_length=40)
    seen = rep.surprise(trained, features)
    unseen = rep.surprise(trained, rep.features(maze))
    assert float(jnp.min(unseen)) > float(jnp.median(seen))


def test_the_reference_schedule_is_triangular_and_nt_never_refits():
    rep = representations.make("autoencoder", tasks.make("curling").spec)
    due = [int(c) for c in range(1, 30) if bool(rep.refit_due(c))]
    assert due == [1, 3, 6, 10, 15, 21, 28]
    every = representations.make("autoencoder", tasks.make("curling").spec, refit_schedule="every", refit_every=5)
    assert [c for c in range(1, 16) if bool(every.refit_due(c))] == [5, 10, 15]
    assert representations.make("autoencoder", tasks.make("curling").spec, trained=False).refit_every == 0


@pytest.mark.parametrize("selection", ["novelty_or_surprise", "pareto"])
def test_taxons_keeps_every_row_aligned_with_a_fresh_encode_of_its_policy(selection):
    task = tasks.make("curling", episode_length=30)
    pipeline = pipeline_of(task, "autoencoder", representation_config={**SMALL, "max_epochs": 3})
    algo = algorithms.get("ns")
    config = algo.config_cls(population_size=8, offspring_per_parent=2, k=3, archive_capacity=64,
                             archive_per_generation=4, selection=selection)
    state = algo.init(config, pipeline, jax.random.PRNGKey(0))
    step = jax.jit(algo.step)
    for g in range(3):
        state, metrics = step(state, jax.random.PRNGKey(g + 1))
    rep = refit.representation_state(state)
    assert int(rep.fits) == 2  # after generations 1 and 3
    assert "mean_surprise" in metrics
    n = int(state.archive.size)
    assert n == 12
    # Re-running every archived policy and encoding its view with the current
    # weights gives back the stored descriptor: genome i still has descriptor i.
    ev = tasks.rollout(task, state.archive.genomes[:n], jax.random.PRNGKey(0), with_observation=True)
    fresh = pipeline.encode(rep, pipeline.representation.features(ev))
    np.testing.assert_allclose(state.archive.descriptors[:n], fresh, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(state.archive.features[:n], pipeline.representation.features(ev))


def test_selections_that_need_a_surprise_refuse_other_representations():
    algo = algorithms.get("ns")
    with pytest.raises(ValueError, match="selection 'surprise' needs a representation with a surprise"):
        algo.init(algo.config_cls(population_size=8, k=3, selection="surprise"),
                  pipeline_of(tasks.make("curling", episode_length=10)), jax.random.PRNGKey(0))


@pytest.mark.parametrize("kernel, stride", [(4, 2), (3, 1)])
def test_patch_convolution_is_the_same_map_as_a_convolution(kernel, stride):
    import flax.linen as nn

    from representations.autoencoder import patches

    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 3))
    conv = nn.Conv(5, (kernel, kernel), strides=(stride, stride))
    params = conv.init(jax.random.PRNGKey(1), x)["params"]
    expected = conv.apply({"params": params}, x)
    got = patches(x, kernel, stride) @ params["kernel"].reshape(-1, 5) + params["bias"]
    np.testing.assert_allclose(got, expected, atol=1e-5)
