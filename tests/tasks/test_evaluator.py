"""tasks/evaluator.py: task + policy + sharding as one hashable value."""
import jax
import numpy as np

import tasks
from tasks import evaluator


def test_an_evaluator_gives_the_rollouts_results_with_or_without_sharding():
    task = tasks.make("curling", episode_length=30)
    genomes = task.default_policy().init_genomes(jax.random.PRNGKey(0), 8)
    expected = tasks.rollout(task, genomes, jax.random.PRNGKey(1))
    for shard in (False, True):
        got = jax.jit(evaluator.make(task, shard=shard).__call__)(genomes, jax.random.PRNGKey(1))
        np.testing.assert_allclose(got.descriptor, expected.descriptor, atol=1e-6)
        np.testing.assert_allclose(got.reward, expected.reward, atol=1e-6)
        assert got.observation is None


def test_equal_settings_make_equal_hashable_evaluators():
    a = evaluator.make(tasks.make("hardmaze", episode_length=100))
    b = evaluator.make(tasks.make("hardmaze", episode_length=100))
    assert a == b and hash(a) == hash(b)
    assert a != evaluator.make(tasks.make("hardmaze", episode_length=200))
    assert a != evaluator.make(tasks.make("hardmaze", episode_length=100), shard=False)
    assert a.genome_size == 63 and a.spec.name == "hardmaze"


def test_observations_are_rendered_when_asked():
    task = tasks.make("curling", episode_length=10)
    genomes = task.default_policy().init_genomes(jax.random.PRNGKey(0), 2)
    ev = evaluator.make(task, with_observation=True)(genomes, jax.random.PRNGKey(1))
    assert ev.observation.shape == (2, 64, 64, 3)
