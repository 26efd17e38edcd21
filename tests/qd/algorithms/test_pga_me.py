"""PGA-ME: its TD3 critic learns on a dense toy task, its greedy actor and
policy-gradient offspring improve, and the batch is split as configured."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emitters.td3 import TD3Config
from qd import pipeline as qd_pipeline
from qd.algorithms import pga_me
from tests.qd.algorithms.pipelines import genome_outcome_pipeline
from tests.tasks.toy import PointTask

GOAL = jnp.array([0.5, 0.5])


class DensePoint(PointTask):
    """The point task paying -distance to (0.5, 0.5) / T at every step: a dense reward."""

    def step(self, state, action):
        state = super().step(state, action)
        d = jnp.linalg.norm(state.pipeline_state - GOAL)
        return state.replace(reward=-d / self.spec.episode_length)


CONFIG = pga_me.PgaMeConfig(
    batch_size=16, cells_per_dim=8,
    td3=TD3Config(
        num_critic_training_steps=40, num_pg_training_steps=10, replay_buffer_size=5000,
        critic_hidden_layer_size=(32, 32), batch_size=64, critic_learning_rate=1e-3, greedy_learning_rate=1e-3,
    ),
)


@pytest.fixture(scope="module")
def run():
    pipeline = qd_pipeline.make(DensePoint(PointTask.Config(episode_length=10)), shard=False)
    state = jax.jit(pga_me.init, static_argnums=(0, 1))(CONFIG, pipeline, jax.random.PRNGKey(0))
    step = jax.jit(pga_me.step)
    rows = []
    for i in range(12):
        state, metrics = step(state, jax.random.PRNGKey(i))
        rows.append({k: np.asarray(v) for k, v in metrics.items()})
    return state, rows


def test_the_critic_loss_falls_and_the_greedy_actor_improves_on_a_dense_task(run):
    state, rows = run
    loss = np.array([r["critic_loss"] for r in rows])
    assert loss[-3:].mean() < 0.5 * loss[0], loss
    actor = np.array([r["actor_reward"] for r in rows])
    assert actor[-1] > actor[0] + 0.1, actor
    # Every step of every episode went to the replay buffer (10 steps, none ends early here).
    assert int(state.td3.buffer.size) == 13 * 16 * 10
    assert int(state.evaluations) == 13 * 16


@pytest.mark.slow  # compiles the PG variation on its own (~4 s); the actor test covers the same gradient
def test_policy_gradient_offspring_climb_the_critic(run):
    state, _ = run
    from emitters import td3

    policy = state.pipeline.evaluator.policy
    r = state.me.repertoire
    parents = r.genomes[np.flatnonzero(np.asarray(r.filled))[:8]]
    climbed = td3.pg_variation(CONFIG.td3, policy, state.td3.critic, state.td3.buffer, parents, jax.random.PRNGKey(1))
    obs = state.td3.buffer.data.obs[: int(state.td3.buffer.size)]
    q = jax.vmap(lambda g: -td3.actor_loss(CONFIG.td3, policy, g, state.td3.critic, obs))
    assert (np.asarray(q(climbed)) > np.asarray(q(parents))).all()


def test_the_batch_split_and_errors():
    assert (CONFIG.ga_batch, CONFIG.pg_batch) == (8, 7)
    assert pga_me.PgaMeConfig(batch_size=1).pg_batch == 0  # only the greedy actor
    with pytest.raises(ValueError, match=r"proportion_mutation_ga must be in \[0, 1\)"):
        pga_me.PgaMeConfig(proportion_mutation_ga=1.0)
    with pytest.raises(ValueError, match="policy_delay"):
        TD3Config(num_critic_training_steps=1, policy_delay=2)
    with pytest.raises(ValueError, match="cannot record transitions"):
        pga_me.init(CONFIG, genome_outcome_pipeline(4), jax.random.PRNGKey(0))
