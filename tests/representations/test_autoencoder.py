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


# -- several frames per episode (`frames`) ------------------------------------


@pytest.fixture(scope="module")
def frames_run():
    """Curling episodes of 20 steps, rendered as 1 and as 4 frames."""
    task = tasks.make("curling", episode_length=20)
    genomes = task.default_policy().init_genomes(jax.random.PRNGKey(0), 6)
    key = jax.random.PRNGKey(1)
    one = tasks.rollout(task, genomes, key, with_observation=True)
    four = tasks.rollout(task, genomes, key, with_observation=True, frames=4)
    return task, one, four, genomes


def test_frames_are_stacked_as_channels_and_the_last_is_the_final_view(frames_run):
    from representations.autoencoder import split_frames

    task, one, four, genomes = frames_run
    np.testing.assert_array_equal(task.spec.frame_steps(4), [5, 10, 15, 20])
    assert four.observation.shape == (6, 4, 64, 64, 3)
    rep = representations.make("autoencoder", task.spec, frames=4, **SMALL)
    assert rep.feature_shape == (64, 64, 12)
    features = rep.features(four)
    assert features.dtype == jnp.uint8 and features.shape == (6, 64, 64, 12)
    # The last frame is today's final view, bit for bit (same render, after the scan).
    np.testing.assert_array_equal(four.observation[:, -1], one.observation)
    today = representations.make("autoencoder", task.spec, **SMALL).features(one)
    np.testing.assert_array_equal(features[..., 9:], today)
    np.testing.assert_array_equal(split_frames(features, 4)[:, -1], today)
    # Frame 2 (after step 10) is the final view of the same episode cut at step 10.
    cut = tasks.rollout(tasks.make("curling", episode_length=10), genomes, jax.random.PRNGKey(1), with_observation=True)
    np.testing.assert_array_equal(four.observation[:, 1], cut.observation)
    # The arm swings and the ball moves: every policy's frames differ over time.
    frames = np.asarray(split_frames(features, 4), np.int32)
    for f in range(3):
        assert np.all(np.any(frames[:, f] != frames[:, f + 1], axis=(1, 2, 3))), f
    # Views of another count of frames are refused, naming both.
    with pytest.raises(ValueError, match=r"frames=4 needs views of shape \[batch, 4, 64, 64, 3\], got \[6, 64, 64, 3\]"):
        rep.features(one)


def test_frames_outside_one_to_the_episode_length_are_refused():
    from tasks.evaluator import make as make_evaluator

    spec = tasks.make("curling", episode_length=20).spec
    for bad in (21, 100):
        with pytest.raises(ValueError, match=rf"frames must be an integer between 1 and the episode length of "
                                             rf"curling \(20\), got {bad}"):
            representations.make("autoencoder", spec, frames=bad)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match=r"frames must be a positive integer \(views per episode, between 1 and "
                                             r"the episode length\)"):
            representations.make("autoencoder", spec, frames=bad)
    np.testing.assert_array_equal(spec.frame_steps(20), np.arange(1, 21))  # every step at most
    with pytest.raises(ValueError, match=r"frames must be an integer between 1 and .* \(20\), got 21"):
        make_evaluator(tasks.make("curling", episode_length=20), with_observation=True, frames=21)


def test_refit_then_reencode_with_frames_equals_a_fresh_encode_of_the_stored_frames(frames_run):
    from qd.archives import novelty as novelty_archive

    task, _, four, genomes = frames_run
    pipeline = pipeline_of(task, "autoencoder", representation_config={**SMALL, "max_epochs": 3, "frames": 4})
    assert pipeline.evaluator.frames == 4
    rep0 = pipeline.init_representation(jax.random.PRNGKey(0))
    archive, _ = novelty_archive.insert(pipeline.novelty_archive(8), pipeline.entries(genomes, four, rep0))
    archive, rep = jax.jit(lambda s, k: refit.refit(pipeline, s, k))((archive, rep0), jax.random.PRNGKey(1))
    assert int(rep.fits) == 1
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(rep0.params), jax.tree.leaves(rep.params)))
    # Every stored descriptor was recomputed from the stored frames under the new weights.
    assert archive.features.shape == (8, 64, 64, 12)
    np.testing.assert_allclose(archive.descriptors[:6], pipeline.encode(rep, archive.features[:6]), rtol=1e-5, atol=1e-5)
    assert not np.allclose(archive.descriptors[:6], pipeline.encode(rep0, archive.features[:6]), atol=1e-5)
    # Rows stay aligned: row i's frames are those of a fresh rollout of genome i.
    ev = tasks.rollout(task, archive.genomes[:6], jax.random.PRNGKey(1), with_observation=True, frames=4)
    np.testing.assert_array_equal(archive.features[:6], pipeline.representation.features(ev))


@pytest.mark.slow
def test_taxons_with_frames_keeps_every_row_aligned_through_refits():
    """End to end (-m slow): the NS step renders, stores, refits and re-encodes 4 frames."""
    task = tasks.make("curling", episode_length=20)
    pipeline = pipeline_of(task, "autoencoder", representation_config={
        **SMALL, "max_epochs": 2, "frames": 4, "refit_schedule": "every", "refit_every": 1})
    algo = algorithms.get("ns")
    config = algo.config_cls(population_size=6, offspring_per_parent=1, k=3, archive_capacity=24,
                             archive_per_generation=3, selection="novelty_or_surprise")
    state = algo.init(config, pipeline, jax.random.PRNGKey(0))
    step = jax.jit(algo.step)
    for g in range(2):
        state, _ = step(state, jax.random.PRNGKey(g + 1))
    rep = refit.representation_state(state)
    assert int(rep.fits) == 2
    n = int(state.archive.size)
    assert n == 6 and state.archive.features.shape[1:] == (64, 64, 12)
    np.testing.assert_allclose(state.archive.descriptors[:n], pipeline.encode(rep, state.archive.features[:n]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.population.descriptor, pipeline.encode(rep, state.population.features),
                               rtol=1e-5, atol=1e-5)
    ev = tasks.rollout(task, state.archive.genomes[:n], jax.random.PRNGKey(0), with_observation=True, frames=4)
    np.testing.assert_array_equal(state.archive.features[:n], pipeline.representation.features(ev))
