"""tasks/adapters/scoring.py: QDax scoring functions as evaluators.

QDax's own arm and rastrigin scoring functions (qdax 0.5.0) are evaluated
through the adapter and MAP-Elites runs on the arm; everything else is eager
and compiles nothing.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qdax.tasks.arm import arm_scoring_function
from qdax.tasks.standard_functions import rastrigin_scoring_function

import tasks
from qd import algorithms, pipeline
from tasks.adapters.scoring import ScoringFunction

ARM_DOF = 8
KEY = jax.random.PRNGKey(0)


def arm():
    return tasks.from_scoring_function(
        arm_scoring_function, genome_size=ARM_DOF, descriptor_low=(0.0, 0.0), descriptor_high=(1.0, 1.0),
        reward_areas=((0.85, 0.5, 0.2),),
    )


def test_evaluation_is_the_scoring_functions_output():
    evaluator = arm()
    sparse = dataclasses.replace(evaluator, reward="areas")
    # 16 random arms, then 2 straight ones: they end at (1, 0.5), inside the disc, 0.15 from its centre.
    genomes = jnp.concatenate([jax.random.uniform(KEY, (16, ARM_DOF)), jnp.full((2, ARM_DOF), 0.5)])
    ev, paid = jax.jit(lambda g, k: (evaluator(g, k), sparse(g, k).reward))(genomes, KEY)
    fitness, descriptor, _ = arm_scoring_function(genomes, KEY)
    np.testing.assert_allclose(ev.reward, fitness, rtol=1e-6)
    np.testing.assert_allclose(ev.descriptor, descriptor, rtol=1e-6)
    assert bool(np.all(ev.valid)) and ev.observation is None and ev.trajectory.shape == (18, 0, 2)
    distance = np.linalg.norm(np.asarray(descriptor) - [0.85, 0.5], axis=1)
    np.testing.assert_array_equal(ev.reward_area, np.where(distance < 0.2, 0, -1))
    np.testing.assert_allclose(ev.descriptor[16:], [[1.0, 0.5]] * 2, atol=1e-6)
    np.testing.assert_allclose(paid, np.maximum(0.2 - distance, 0.0) / 0.2, atol=1e-5)  # (r - d) / r
    np.testing.assert_allclose(paid[16:], [0.25, 0.25], atol=1e-5)
    assert evaluator == arm() and hash(evaluator) == hash(arm())  # equal wrappers share jitted steps


def test_invalid_scores_are_flagged_and_reset():
    def scoring(x, key):
        return x[:, 0], x[:, 1:3], {}

    evaluator = tasks.from_scoring_function(scoring, genome_size=3, descriptor_low=(-1, -1),
                                            descriptor_high=(1, 1))
    ev = jax.jit(evaluator)(jnp.asarray([[0.5, 0.1, 0.2], [jnp.nan, 0.1, 0.2], [1.0, jnp.inf, 0.0]]), KEY)
    np.testing.assert_array_equal(ev.valid, [True, False, False])
    np.testing.assert_array_equal(ev.reward, [0.5, 0.0, 0.0])
    np.testing.assert_allclose(ev.descriptor, [[0.1, 0.2], [-1, -1], [-1, -1]])


def test_pytree_genotypes_and_the_old_four_item_return():
    """A scoring function over policy parameters (a pytree) that also returns
    the key, as Kheperax's and older QDax's do."""
    template = {"w": jnp.zeros((2, 3)), "b": jnp.zeros((3,))}

    def scoring(params, key):
        out = jnp.sum(params["w"], axis=1) + params["b"]  # [B, 3]
        return out[:, 0], out[:, 1:], {}, key

    evaluator = tasks.from_scoring_function(scoring, genotype=template, descriptor_low=(0, 0),
                                            descriptor_high=(9, 9))
    assert evaluator.genome_size == 9
    genomes = jax.random.normal(KEY, (4, 9))
    ev = jax.jit(evaluator)(genomes, KEY)
    params = jax.vmap(jax.flatten_util.ravel_pytree(template)[1])(genomes)  # ravel_pytree's order
    expected = jnp.sum(params["w"], axis=1) + params["b"]
    np.testing.assert_allclose(ev.reward, expected[:, 0], rtol=1e-6)
    np.testing.assert_allclose(ev.descriptor, expected[:, 1:], rtol=1e-6)


def test_grid_follows_the_descriptor_dimension():
    one = tasks.from_scoring_function(rastrigin_scoring_function, genome_size=4, descriptor_low=(0,),
                                      descriptor_high=(1,))
    three = tasks.from_scoring_function(rastrigin_scoring_function, genome_size=4, descriptor_low=(0,) * 3,
                                        descriptor_high=(1,) * 3, grid_shape=(4, 5, 6))
    assert one.spec.grid_shape == (2500,) and three.spec.grid_shape == (4, 5, 6)
    assert arm().spec.grid_shape == (50, 50)
    with pytest.raises(ValueError, match=r"returned descriptors of shape \(5, 2\); expected \(5, 1\)"):
        jax.eval_shape(one, jnp.zeros((5, 4)), KEY)  # rastrigin's descriptors are 2-d


@pytest.mark.parametrize("kwargs, words", [
    (dict(genome_size=3, descriptor_low=(0, 0), descriptor_high=(1,)), "same length"),
    (dict(genome_size=3, descriptor_low=(0, 1), descriptor_high=(1, 1)), "low < high; not so in dimension(s) [1]"),
    (dict(descriptor_low=(0, 0), descriptor_high=(1, 1)), "exactly one of genome_size"),
    (dict(genome_size=0, descriptor_low=(0, 0), descriptor_high=(1, 1)), "genome_size must be a positive"),
    (dict(genome_size=3, descriptor_low=(0,), descriptor_high=(1,), reward_areas=((0, 0, 1),)), "2-d"),
    (dict(genome_size=3, descriptor_low=(0, 0), descriptor_high=(1, 1), grid_shape=(5,)), "grid_shape must give 2"),
    (dict(genome_size=3, descriptor_low=(0, 0), descriptor_high=(1, 1), reward="areas"), "none were given"),
    (dict(genome_size=3, descriptor_low=(0, 0), descriptor_high=(1, 1), reward="best"), "one of 'fitness', 'areas'"),
])
def test_bad_arguments_are_named(kwargs, words):
    with pytest.raises(ValueError) as error:
        tasks.from_scoring_function(arm_scoring_function, **kwargs)
    assert words in str(error.value)


@pytest.mark.parametrize("representation, missing", [
    ("autoencoder", "the rendered top-down view (Evaluation.observation)"),
    ("projection", "the trajectory (Evaluation.trajectory)"),
    ("signature", "the trajectory (Evaluation.trajectory)"),
    ("pca", "the trajectory (Evaluation.trajectory)"),
])
def test_representations_needing_what_a_scoring_function_lacks_are_refused(representation, missing):
    message = (f"representation {representation!r} needs {missing}, which ScoringFunction('arm_scoring_function') "
               f"does not provide; representations that work with it: ground_truth")
    with pytest.raises(ValueError) as error:
        pipeline.make(arm(), representation)
    assert str(error.value) == message
    import representations

    built = representations.make(representation, tasks.make("curling").spec)
    with pytest.raises(ValueError, match="needs"):
        pipeline.Pipeline(arm(), built)  # built directly, too
    with pytest.raises(ValueError, match="takes no policy"):
        pipeline.make(arm(), policy=object())


def test_map_elites_on_qdax_arm():
    """MAP-Elites with QDax's arm as its task: the archive spreads over the
    descriptor space, and what it stores is what QDax's function says."""
    me = algorithms.get("me")
    config = dataclasses.replace(me.config_cls(), batch_size=64, genome_low=0.0, genome_high=1.0, init_std=0.5)
    pipe = pipeline.make(arm())
    assert isinstance(pipe.evaluator, ScoringFunction)
    state = jax.jit(me.init, static_argnums=(0, 1))(config, pipe, KEY)  # as runs/loop.py does
    step = jax.jit(me.step)
    first = None
    for g in range(30):
        state, metrics = step(state, jax.random.fold_in(KEY, g))
        first = first or float(metrics["coverage"])
    assert int(metrics["evaluations"]) == 64 * 31 and int(metrics["invalid"]) == 0
    assert float(metrics["coverage"]) > 2 * first
    snapshot = me.archive(state)
    genomes, mask = np.asarray(snapshot.genome), np.asarray(snapshot.mask)
    fitness, descriptor, _ = arm_scoring_function(jnp.asarray(genomes[mask]), KEY)
    np.testing.assert_allclose(np.asarray(snapshot.reward)[mask], fitness, atol=1e-6)
    np.testing.assert_allclose(np.asarray(snapshot.gt_descriptor)[mask], descriptor, atol=1e-6)
    assert int(metrics["area0_found"]) == 1  # the disc at the arm's full stretch
    assert int(metrics["area0_evaluations"]) > 0
