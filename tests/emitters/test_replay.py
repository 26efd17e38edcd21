"""The replay buffer keeps the masked steps in order and wraps around."""
import jax
import jax.numpy as jnp
import numpy as np

from emitters import replay
from tasks.evaluation import Transitions

insert = jax.jit(replay.insert)


def _steps(values, mask):
    v = jnp.asarray(values, jnp.float32)
    return Transitions(
        obs=v[..., None], actions=v[..., None], rewards=v, next_obs=v[..., None] + 1, dones=jnp.zeros_like(v),
        mask=jnp.asarray(mask),
    )


def test_masked_steps_are_compacted_in_order_and_the_oldest_overwritten():
    buffer = replay.init(5, 1, 1)
    buffer = insert(buffer, _steps([[1, 2, 3], [4, 5, 6]], [[True, True, False], [True, False, False]]))
    assert int(buffer.size) == 3 and int(buffer.cursor) == 3
    np.testing.assert_array_equal(buffer.data.rewards[:3], [1, 2, 4])
    buffer = insert(buffer, _steps([7, 8, 9], [True, True, True]))
    assert int(buffer.size) == 5 and int(buffer.cursor) == 1
    np.testing.assert_array_equal(buffer.data.rewards, [9, 2, 4, 7, 8])
    # More steps than rows at once: the last 5 are kept, each in its own row.
    buffer = insert(buffer, _steps(np.arange(10, 17), [True] * 7))
    assert sorted(np.asarray(buffer.data.rewards).tolist()) == [12, 13, 14, 15, 16]


def test_samples_come_from_the_filled_rows():
    buffer = insert(replay.init(100, 1, 1), _steps([1, 2, 3], [True, True, True]))
    batch = jax.jit(replay.sample, static_argnums=2)(buffer, jax.random.PRNGKey(0), 50)
    assert set(np.asarray(batch.rewards).tolist()) == {1.0, 2.0, 3.0}
    np.testing.assert_array_equal(batch.next_obs[:, 0], batch.obs[:, 0] + 1)
