import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.rollout import batch_sharding, evaluate, rollout
from tests.tasks.toy import PointTask


class ConstantPolicy:
    """Genome = the action, whatever the observation."""

    genome_size = 2

    def apply(self, genome, observation):
        return genome

    def init_genomes(self, key, n):
        return jax.random.uniform(key, (n, 2), minval=-1, maxval=1)


TASK = PointTask()
POLICY = ConstantPolicy()


def test_rollout_returns_one_evaluation_per_genome():
    genomes = jnp.array([[0.25, 0.25], [0.0, 0.0], [1.0, -1.0]])
    ev = rollout(TASK, genomes, jax.random.PRNGKey(0), policy=POLICY, with_observation=True)
    assert ev.reward.shape == (3,) and ev.descriptor.shape == (3, 2)
    assert ev.trajectory.shape == (3, len(TASK.spec.trajectory_steps), 2)
    assert ev.observation.shape == (3, 64, 64, 3)
    # 20 steps of 0.025 end at (0.5, 0.5): the centre of the reward disc.
    np.testing.assert_allclose(ev.descriptor[0], [0.5, 0.5], atol=1e-5)
    assert ev.reward_area.tolist() == [0, -1, -1]
    np.testing.assert_allclose(ev.reward, [1.0, 0.0, 0.0], atol=1e-4)
    assert ev.valid.all()


def test_ended_episodes_are_frozen():
    # Moving at 0.095 per step leaves [-1, 1] at step 11; the state must stay
    # where the episode ended, not keep moving for the remaining 9 steps.
    ev = rollout(TASK, jnp.array([[0.95, 0.0]]), jax.random.PRNGKey(0), policy=POLICY)
    np.testing.assert_allclose(ev.descriptor[0], [1.045, 0.0], atol=1e-5)
    np.testing.assert_allclose(ev.trajectory[0, -1], [1.045, 0.0], atol=1e-5)


def test_trajectory_is_subsampled_at_fixed_times():
    times = TASK.spec.trajectory_steps
    assert times[-1] == 20 and times[0] == 1
    ev = rollout(TASK, jnp.array([[0.5, 0.0]]), jax.random.PRNGKey(0), policy=POLICY)
    np.testing.assert_allclose(ev.trajectory[0, :, 0], 0.05 * times, atol=1e-5)


def test_nan_policies_are_marked_invalid_and_neutralised():
    genomes = jnp.array([[jnp.nan, 0.0], [0.25, 0.25]])
    ev = rollout(TASK, genomes, jax.random.PRNGKey(0), policy=POLICY, with_observation=True)
    assert ev.valid.tolist() == [False, True]
    assert ev.reward_area[0] == -1 and ev.reward[0] == 0.0
    assert np.isfinite(np.asarray(ev.descriptor)).all()
    assert np.isfinite(np.asarray(ev.trajectory)).all()
    assert np.isfinite(np.asarray(ev.observation)).all()


class StepRewardPoint(PointTask):
    """The point task paying its x coordinate at every step."""

    def step(self, state, action):
        state = super().step(state, action)
        return state.replace(reward=state.pipeline_state[0])


def test_the_return_sums_the_live_steps_and_transitions_record_them():
    task = StepRewardPoint()
    # The first policy leaves [-1, 1] at step 11 (x = 0.095 t): the episode ends there.
    genomes = jnp.array([[0.95, 0.0], [0.25, -0.5]])
    ev = evaluate(task, POLICY, genomes, jax.random.PRNGKey(0), with_transitions=True)
    t = ev.transitions
    assert t.obs.shape == (2, 20, 2) and t.actions.shape == (2, 20, 2) and t.rewards.shape == (2, 20)
    np.testing.assert_array_equal(t.mask.sum(axis=1), [11, 20])
    np.testing.assert_allclose(ev.reward, [0.095 * np.arange(1, 12).sum(), 0.025 * np.arange(1, 21).sum()], rtol=1e-5)
    np.testing.assert_allclose(ev.reward, np.where(t.mask, t.rewards, 0).sum(axis=1), rtol=1e-6)
    live = np.asarray(t.mask[:, 1:])  # consecutive live steps chain
    np.testing.assert_array_equal(np.asarray(t.next_obs[:, :-1])[live], np.asarray(t.obs[:, 1:])[live])
    np.testing.assert_array_equal(t.dones[0, 10], 1.0)
    np.testing.assert_array_equal(t.actions[1], np.broadcast_to([0.25, -0.5], (20, 2)))


def test_a_noise_free_stochastic_rollout_is_the_deterministic_one():
    genomes = POLICY.init_genomes(jax.random.PRNGKey(3), 4)
    plain = evaluate(TASK, POLICY, genomes, jax.random.PRNGKey(1))
    noisy = evaluate(TASK, POLICY, genomes, jax.random.PRNGKey(1), action_std=jnp.array([0.0, 0.0, 0.3, 0.3]))
    for name in ("reward", "descriptor", "trajectory", "reward_area"):
        np.testing.assert_array_equal(getattr(plain, name)[:2], getattr(noisy, name)[:2], err_msg=name)
    assert not np.allclose(plain.descriptor[2:], noisy.descriptor[2:])
    np.testing.assert_array_equal(noisy.log_prob_grad[:2], 0.0)
    # A constant policy's score is the sum of its noise / std over the live steps: nonzero.
    assert np.abs(np.asarray(noisy.log_prob_grad[2:])).sum() > 0


def test_same_key_same_result_and_default_policy():
    genomes = TASK.default_policy().init_genomes(jax.random.PRNGKey(3), 8)
    a = rollout(TASK, genomes, jax.random.PRNGKey(7))
    b = rollout(TASK, genomes, jax.random.PRNGKey(7))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


def test_sharded_rollout_equals_single_device():
    devices = jax.devices()
    assert len(devices) == 2, "tests run with 2 host devices (tests/conftest.py)"
    genomes = POLICY.init_genomes(jax.random.PRNGKey(0), 7)  # odd: needs padding
    one = rollout(TASK, genomes, jax.random.PRNGKey(1), policy=POLICY)
    two = rollout(TASK, genomes, jax.random.PRNGKey(1), policy=POLICY, devices=devices)
    assert two.reward.shape == (7,)
    for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(two)):
        np.testing.assert_allclose(x, y, rtol=1e-6)


def test_a_sharded_evaluation_inside_a_step_costs_one_collective():
    """The batch split stays inside the rollout: one all-gather, and the rest of
    the step (here a scatter by reward area and a sort) runs replicated. Left to
    the partitioner, collectives multiply, and on busy host CPUs independent
    ones can deadlock XLA's runtime (see tasks.rollout._sharded)."""
    sharding = batch_sharding(jax.devices())

    def step(genomes, key):
        ev = evaluate(TASK, POLICY, genomes, key, sharding=sharding)
        counts = jnp.zeros((3,), jnp.int32).at[ev.reward_area + 1].add(ev.valid.astype(jnp.int32))
        return counts, jnp.sort(ev.reward), ev

    genomes = POLICY.init_genomes(jax.random.PRNGKey(0), 8)
    text = jax.jit(step).lower(genomes, jax.random.PRNGKey(1)).compile().as_text()
    collectives = [line for line in text.splitlines()
                   if any(f" {op}(" in line or f" {op}-start(" in line
                          for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter"))]
    assert len(collectives) == 1 and "all-gather" in collectives[0], collectives
    _, _, ev = jax.jit(step)(genomes, jax.random.PRNGKey(1))
    plain = evaluate(TASK, POLICY, genomes, jax.random.PRNGKey(1))
    for x, y in zip(jax.tree.leaves(plain), jax.tree.leaves(ev)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def test_wrong_genome_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"shape \[batch, 2\]"):
        rollout(TASK, jnp.zeros((4, 3)), jax.random.PRNGKey(0), policy=POLICY)


def test_dense_reward_return_is_the_sum_of_step_rewards_until_the_end():
    from tests.tasks.toy import DensePointTask

    task = DensePointTask()
    # 0.02/step for 20 steps: x_t = 0.02 t, return 0.02 * 210; 0.095/step leaves
    # [-1, 1] at step 11, which ends the episode: return 0.095 * 66, nothing after.
    genomes = jnp.array([[0.2, 0.0], [0.95, 0.0], [-0.1, 0.3]])
    ev = rollout(task, genomes, jax.random.PRNGKey(0), policy=POLICY)
    np.testing.assert_allclose(ev.reward, [0.02 * 210, 0.095 * 66, -0.01 * 210], rtol=1e-5)
    assert ev.reward_area.tolist() == [-1, -1, -1] and ev.valid.all()


def test_dense_reward_task_without_step_reward_says_so():
    from tests.tasks.toy import DensePointTask

    class NoReward(DensePointTask):
        step_reward = PointTask.step_reward

    with pytest.raises(NotImplementedError, match="NoReward declares dense_reward but defines no step_reward"):
        NoReward().step(NoReward().reset(jax.random.PRNGKey(0)), jnp.zeros(2))
