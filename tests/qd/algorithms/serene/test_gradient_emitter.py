"""SERENE's gradient emitter: the REINFORCE estimate is the gradient of the
expected reward, the emitter climbs it, and SERENE runs with it."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd import pipeline as qd_pipeline
from qd.algorithms.serene import algorithm as serene
from qd.algorithms.serene import gradient_emitter
from qd.algorithms.serene import local_emitters as local
from tasks.evaluator import make as make_evaluator
from tasks.policies import MLPPolicy
from tasks.rollout import evaluate
from representations.ground_truth import GroundTruth
from tests.qd.algorithms.pipelines import GenomeOutcome, genome_outcome_pipeline, serene_config
from tests.tasks.toy import PointTask

TARGET = jnp.array([0.3, -0.2])
SIGMA = 0.3


class SmoothPoint(PointTask):
    """The point task paying 1 - |final position - TARGET|^2 at the end: a
    smooth reward, so finite differences of its expectation are accurate."""

    def step(self, state, action):
        state = super().step(state, action)
        d2 = jnp.sum((state.pipeline_state - TARGET) ** 2)
        return state.replace(reward=jnp.where(state.done > 0, 1.0 - d2, 0.0))


TASK = SmoothPoint(PointTask.Config(episode_length=8))
POLICY = MLPPolicy(2, 2, hidden=(3,))
THETA = POLICY.init_genomes(jax.random.PRNGKey(1), 1)[0]
D = THETA.shape[0]
GENOME_SIZE = 14


@jax.jit
def _finite_differences(theta, key, n=1024, h=1e-2):
    """Central differences of the Monte-Carlo expected reward, with the same
    noise for every perturbation (common random numbers)."""
    perturbed = jnp.concatenate([theta + h * jnp.eye(D), theta - h * jnp.eye(D)])

    def expected(genome):
        ev = evaluate(TASK, POLICY, jnp.broadcast_to(genome, (n, D)), key, action_std=jnp.full((n,), SIGMA))
        return jnp.mean(ev.reward)

    j = jax.vmap(expected)(perturbed)
    return (j[:D] - j[D:]) / (2 * h)


@jax.jit
def _reinforce(theta, key, n=4096):
    std = jnp.full((n + 1,), SIGMA).at[0].set(0.0)
    ev = evaluate(TASK, POLICY, jnp.broadcast_to(theta, (n + 1, D)), key, action_std=std)
    return gradient_emitter.reinforce_gradient(ev.reward[1:], ev.valid[1:], ev.log_prob_grad[1:], ev.reward[0])


def test_reinforce_with_the_greedy_baseline_matches_finite_differences_of_the_expected_reward():
    fd = np.asarray(_finite_differences(THETA, jax.random.PRNGKey(7)))
    rf = np.asarray(_reinforce(THETA, jax.random.PRNGKey(3)))
    assert np.linalg.norm(fd) > 0.5  # a real slope to match
    cosine = fd @ rf / (np.linalg.norm(fd) * np.linalg.norm(rf))
    assert cosine > 0.99, (cosine, fd, rf)
    assert np.linalg.norm(rf - fd) < 0.1 * np.linalg.norm(fd), (fd, rf)


PARAM_SIGMA = 0.2
ES = local.LocalEmitterConfig(kind="gradient", gradient_estimator="es", gradient_shaping="baseline")


@jax.jit
def _es_finite_differences(theta, key, n=2048, h=1e-2):
    """Central differences of the expected reward under parameter noise,
    E R(theta + PARAM_SIGMA eps), with the same eps for every perturbation."""
    eps = jax.random.normal(key, (n, D))
    perturbed = jnp.concatenate([theta + h * jnp.eye(D), theta - h * jnp.eye(D)])

    def expected(genome):
        return jnp.mean(evaluate(TASK, POLICY, genome + PARAM_SIGMA * eps, key).reward)

    j = jax.vmap(expected)(perturbed)
    return (j[:D] - j[D:]) / (2 * h)


@jax.jit
def _es(theta, key, pairs=4096):
    config = dataclasses.replace(ES, gradient_samples=2 * pairs).with_bounds(-50.0, 50.0)
    genomes, _ = gradient_emitter.ask(config, gradient_emitter.init(config, theta), PARAM_SIGMA, key)
    ev = evaluate(TASK, POLICY, genomes, key)
    return gradient_emitter.estimate(config, theta, PARAM_SIGMA, genomes, ev.reward, ev.valid, None)


def test_the_es_estimate_matches_finite_differences_of_the_smoothed_reward():
    fd = np.asarray(_es_finite_differences(THETA, jax.random.PRNGKey(5)))
    es = np.asarray(_es(THETA, jax.random.PRNGKey(6)))
    assert np.linalg.norm(fd) > 0.5
    cosine = fd @ es / (np.linalg.norm(fd) * np.linalg.norm(es))
    assert cosine > 0.98, (cosine, fd, es)
    assert np.linalg.norm(es - fd) < 0.2 * np.linalg.norm(fd), (fd, es)


def test_the_default_gradient_emitter_improves_on_its_ancestor_within_a_small_budget():
    """The defaults (the ES estimator) climb the smooth point task within
    240 evaluations, every one counted; its samples are antithetic."""
    config = local.LocalEmitterConfig(kind="gradient")
    assert config.gradient_estimator == "es" and gradient_emitter.describes_genomes(config).all()
    evaluator = make_evaluator(TASK, POLICY, shard=False)
    state = local.create(config, jax.random.PRNGKey(0), THETA, 0.1, {"tag": jnp.zeros(())}, config.history_length(D))

    @jax.jit
    def one_step(state, key):
        genomes, mask = local.ask(config, state, key)
        ev = evaluator(genomes, key)  # every row is a greedy rollout
        return local.tell(
            config, state, genomes, mask, ev.reward, jnp.zeros(config.batch_size), ev.valid, {"tag": ev.reward},
        ), genomes

    steps = 240 // config.batch_size
    theta_reward = []
    for i in range(steps):
        theta, sigma = np.asarray(state.gradient.theta), float(state.sigma)
        state, genomes = one_step(state, jax.random.PRNGKey(i))
        theta_reward.append(float(state.values[i, 0]))
    # Row 0 is theta; rows 1.. theta + sigma eps, row i + B/2 mirroring row i
    # (an even batch leaves row B/2 unpaired).
    eps, h = (np.asarray(genomes) - theta) / sigma, config.batch_size // 2
    np.testing.assert_array_equal(eps[0], 0.0)
    np.testing.assert_allclose(eps[1:h], -eps[h + 1:], atol=1e-4)
    ancestor = theta_reward[0]  # row 0 of the first step is the ancestor
    assert ancestor < 0.9
    assert int(state.evaluations) == steps * config.batch_size
    assert float(state.best_reward) > ancestor + 0.1, (ancestor, theta_reward)
    assert max(theta_reward[steps // 2:]) > ancestor + 0.1, (ancestor, theta_reward)


@pytest.mark.slow  # SERENE's own test below climbs too; this one checks the emitter alone (~5 s)
def test_the_gradient_emitter_climbs_the_reward_and_keeps_only_greedy_genomes():
    config = local.LocalEmitterConfig(
        kind="gradient", gradient_estimator="reinforce", gradient_samples=31, action_std=SIGMA, learning_rate=0.05
    )
    config = config.with_bounds(-5.0, 5.0)
    assert config.batch_size == 32
    evaluator = make_evaluator(TASK, POLICY, shard=False)
    payload = {"tag": jnp.zeros(())}
    state = local.create(config, jax.random.PRNGKey(0), THETA, 0.1, payload, config.history_length(D))
    std = jnp.asarray(gradient_emitter.action_std(config))

    @jax.jit
    def one_step(state, key):
        genomes, mask = local.ask(config, state, key)
        ev = evaluator.stochastic(genomes, key, std)
        return local.tell(
            config, state, genomes, mask, ev.reward, jnp.zeros(config.batch_size), ev.valid,
            {"tag": ev.reward}, ev.log_prob_grad,
        ), ev

    greedy = []
    for i in range(30):
        state, ev = one_step(state, jax.random.PRNGKey(i))
        greedy.append(float(ev.reward[0]))
    assert int(state.evaluations) == 30 * 32 and int(state.n_values) == 30
    assert greedy[-1] > greedy[0] + 0.1 and greedy[-1] > 0.95, greedy
    # The population holds greedy rollouts only: its rewards are the best greedy ones seen.
    np.testing.assert_allclose(np.sort(np.asarray(state.rewards))[::-1], np.sort(greedy)[::-1][:6], rtol=1e-6)
    np.testing.assert_allclose(state.payload["tag"], state.rewards)
    assert float(state.best_reward) == pytest.approx(max(greedy))
    # Its values are the greedy reward of theta after each step.
    np.testing.assert_allclose(np.asarray(state.values)[:30, 0], greedy)


@dataclasses.dataclass(frozen=True)
class NoisyGenomeOutcome(GenomeOutcome):
    """`GenomeOutcome` (the "final position" is genes 0-1) whose stochastic
    rollouts move that position by Gaussian noise: the genome's Gaussian
    policy is N(genes 0-1, std^2), so the score is noise / std on genes 0-1."""

    def stochastic(self, genomes, key, action_std):
        n = genomes.shape[0]
        eps = jax.random.normal(key, (n, 2))
        std = jnp.broadcast_to(action_std, (n,))[:, None]
        evaluation = self(genomes.at[:, :2].add(std * eps), key)
        score = jnp.where(std > 0, eps / jnp.where(std > 0, std, 1.0), 0.0)
        return evaluation.replace(log_prob_grad=jnp.zeros_like(genomes).at[:, :2].set(score))


def test_serene_exploits_with_gradient_emitters_climbs_the_reward_and_accounts_exactly():
    evaluator = NoisyGenomeOutcome(GENOME_SIZE)
    pipeline = qd_pipeline.Pipeline(evaluator, GroundTruth(evaluator.spec, GroundTruth.Config()))
    config = serene_config(
        ns_population_size=10, ns_offspring_per_parent=2, k=3, archive_capacity=500, emitter_capacity=8,
        emitters_per_step=2, chunk_size=100, reward_archive_capacity=500, history_capacity=64,
        init_std=1.5, emitter_kind="gradient", gradient_estimator="reinforce", gradient_samples=5, learning_rate=0.1,
    )
    state = serene.init(config, pipeline, jax.random.PRNGKey(0))
    assert int(state.pool.next_ident) > 0  # rewarded initial agents are candidates
    # Only SERENE's exploitation step (its exploration is the fitness kind's).
    exploit = jax.jit(serene._exploit)
    for i in range(120):
        state = exploit(state, jax.random.PRNGKey(i))
    tracker = state.ns.tracker
    spent = int(tracker.evaluations) - 10  # after the initial population
    # Each stepping emitter rolls out 1 + 5 rows, all counted, all in its ancestor's area.
    assert spent >= 120 * 6 and spent % 6 == 0
    assert int(jnp.sum(state.exploit_area_evaluations)) == spent
    np.testing.assert_array_equal(np.asarray(state.pool.emitters.evaluations) % 6, 0)
    # Greedy rollouts only reach the reward archive and the area statistics;
    # the emitters climbed towards the disc's centre.
    rewards = np.asarray(state.reward_archive.rewards)[np.asarray(state.reward_archive.mask)]
    assert (rewards > 0).all() and float(tracker.areas.max_reward[0]) == pytest.approx(rewards.max())
    assert rewards.max() > 0.9, rewards.max()


def test_gradient_emitters_need_an_evaluator_with_stochastic_rollouts():
    pipeline = genome_outcome_pipeline(GENOME_SIZE)
    with pytest.raises(ValueError, match="no stochastic rollouts"):
        pipeline.evaluate_stochastic(jnp.zeros((2, GENOME_SIZE)), jax.random.PRNGKey(0), None, jnp.zeros(2))


def test_gradient_settings_are_checked():
    with pytest.raises(ValueError, match="action_std and learning_rate must be > 0"):
        local.LocalEmitterConfig(kind="gradient", action_std=0.0)
    with pytest.raises(ValueError, match="gradient_samples must be a positive integer"):
        local.LocalEmitterConfig(kind="gradient", gradient_samples=0)
    for name in ("gradient_estimator", "gradient_shaping", "gradient_optimizer"):
        with pytest.raises(ValueError, match=f"{name} must be one of .*got 'bogus'"):
            local.LocalEmitterConfig(kind="gradient", **{name: "bogus"})
