import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.policies import MLPPolicy, ReferenceController


@pytest.mark.parametrize(
    "sizes, genes",
    [
        ((6, 5, 5, 5, 2), 94),  # Curling
        ((5, 5, 5, 2), 63),  # HardMaze
        ((20, 5, 5, 20), 228),  # redundant arm
        ((29, 10, 10, 10, 8), 574),  # AntMaze
    ],
)
def test_reference_genome_sizes_match_the_reference_experiments(sizes, genes):
    assert ReferenceController(sizes).genome_size == genes


def test_reference_controller_computes_the_documented_network():
    policy = ReferenceController((3, 2, 1))
    genome = jnp.arange(policy.genome_size, dtype=jnp.float32) / 10.0
    obs = jnp.array([0.5, -1.0, 2.0])
    w1, b1 = genome[:6].reshape(3, 2), genome[6]
    w2, b2 = genome[7:9].reshape(2, 1), genome[9]
    act = lambda x: 2.0 / (1.0 + np.exp(-x)) - 1.0
    expected = act(act(obs @ w1 + b1) @ w2 + b2)
    np.testing.assert_allclose(policy.apply(genome, obs), expected, rtol=1e-5)


def test_reference_initial_genomes_are_clipped_normals():
    genomes = ReferenceController((5, 5, 5, 2)).init_genomes(jax.random.PRNGKey(0), 2000)
    assert genomes.shape == (2000, 63)
    assert float(jnp.abs(genomes).max()) <= 5.0
    assert abs(float(genomes.std()) - 1.0) < 0.02


def test_reference_controller_rejects_bad_sizes():
    with pytest.raises(ValueError, match="layer_sizes"):
        ReferenceController((5,))


def test_mlp_policy_round_trips_flat_genomes():
    policy = MLPPolicy(observation_size=4, action_size=2, hidden=(8,))
    assert policy.genome_size == 4 * 8 + 8 + 8 * 2 + 2
    genomes = policy.init_genomes(jax.random.PRNGKey(1), 3)
    assert genomes.shape == (3, policy.genome_size)
    assert not np.allclose(genomes[0], genomes[1])
    action = policy.apply(genomes[0], jnp.ones(4))
    assert action.shape == (2,) and float(jnp.abs(action).max()) <= 1.0
