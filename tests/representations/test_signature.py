"""representations/signature.py: the truncated (log-)signature in pure JAX,
against esig (when installed) and against direct computations: the total
increment, the Levy area, Chen's identity, reparametrisation invariance, time
augmentation; inside jit + vmap; and novelty search in a signature space."""
import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import representations
import tasks
from qd import algorithms, pipeline, refit
from representations import signature as sig
from representations.base import normalised_trajectory
from tasks.evaluation import Evaluation
from tests.tasks.toy import PointTask

SPEC = tasks.make("hardmaze").spec
T = len(SPEC.trajectory_steps)


def _path(n, dim, seed, batch=()):
    """A random walk in [-1, 1]-ish coordinates, as the normalised trajectory is."""
    steps = np.random.default_rng(seed).normal(0.0, 0.3, (*batch, n, dim))
    return np.cumsum(steps, axis=-2).astype(np.float32)


def _levels(s):
    return [np.asarray(level, np.float64) for level in s]


def _close(actual, expected, rtol=1e-5):
    """Relative to each level's scale (float32 against float64)."""
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * max(np.abs(e).max(), 1e-3))


# --- Against esig -------------------------------------------------------------------------

def _parse_bracket(key):
    """An esig Hall-basis key ("2", "[1,[1,2]]") as nested tuples of 0-based letters."""
    tokens = re.findall(r"\[|\]|,|\d+", key.strip())
    pos = 0

    def parse():
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "[":
            left = parse()
            assert tokens[pos] == ","
            pos += 1
            right = parse()
            assert tokens[pos] == "]"
            pos += 1
            return (left, right)
        return int(token) - 1

    return parse()


def _expand(bracket):
    """A Lie bracket as a tensor polynomial {word: coefficient}: [P, Q] = PQ - QP."""
    if isinstance(bracket, int):
        return {(bracket,): 1.0}
    p, q = _expand(bracket[0]), _expand(bracket[1])
    out = {}
    for (u, a), (v, b) in itertools.product(p.items(), q.items()):
        out[u + v] = out.get(u + v, 0.0) + a * b
        out[v + u] = out.get(v + u, 0.0) - a * b
    return out


def _esig_log_tensor(path, dim, depth):
    """esig's log-signature (Hall basis) expanded into tensor levels 1..depth."""
    esig = pytest.importorskip("esig")
    coefficients = esig.stream2logsig(np.asarray(path, np.float64), depth)
    keys = esig.logsigkeys(dim, depth).split()
    levels = [np.zeros(dim**k) for k in range(1, depth + 1)]
    for key, c in zip(keys, coefficients):
        for word, a in _expand(_parse_bracket(key)).items():
            levels[len(word) - 1][np.ravel_multi_index(word, (dim,) * len(word))] += a * c
    return levels


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_signature_matches_esig(dim, depth):
    esig = pytest.importorskip("esig")
    path = _path(12, dim, seed=10 * dim + depth).astype(np.float64)
    expected = esig.stream2sig(path, depth)
    assert expected[0] == 1.0 and expected.shape == (1 + sig.signature_size(dim, depth),)
    offsets = np.cumsum([dim**k for k in range(1, depth)])
    expected = np.split(expected[1:], offsets)
    # In float64 the computation is exact to rounding; in float32 (as the representation runs) to ~1e-5.
    with jax.enable_x64(True):
        _close(_levels(sig.signature(jnp.asarray(path, jnp.float64), depth)), expected, rtol=1e-10)
    actual = sig.flatten(sig.signature(jnp.asarray(path, jnp.float32), depth))
    assert actual.dtype == jnp.float32
    _close(np.split(np.asarray(actual, np.float64), offsets), expected, rtol=1e-5)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_logsignature_matches_esig_in_the_tensor_algebra_and_at_the_lyndon_words(dim, depth):
    path = _path(12, dim, seed=100 + 10 * dim + depth).astype(np.float64)
    expected = _esig_log_tensor(path, dim, depth)
    words = sig.lyndon_words(dim, depth)
    assert len(words) == sig.logsignature_size(dim, depth)
    lyndon = np.array([expected[len(w) - 1][np.ravel_multi_index(w, (dim,) * len(w))] for w in words])
    with jax.enable_x64(True):
        x = jnp.asarray(path, jnp.float64)
        _close(_levels(sig.tensor_log(sig.signature(x, depth))), expected, rtol=1e-10)
        # The descriptor: the tensor log's coefficients at the Lyndon words, by length then lexicographic.
        np.testing.assert_allclose(sig.logsignature(x, depth), lyndon, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sig.logsignature(x, depth, lyndon=False), np.concatenate(expected),
                                   rtol=1e-10, atol=1e-12)
    # In float32 the logarithm's alternating sum cancels: the error is ~1e-6 of the signature's scale
    # at that level (here up to 1e-2 of the log's own, for depth 5).
    scale = [np.abs(level).max() for level in sig.signature(jnp.asarray(path, jnp.float32), depth)]
    actual = np.asarray(sig.logsignature(jnp.asarray(path, jnp.float32), depth, lyndon=False), np.float64)
    offsets = np.cumsum([dim**k for k in range(1, depth)])
    for a, e, s in zip(np.split(actual, offsets), expected, scale):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * s)


# --- Direct computations ------------------------------------------------------------------

def test_sizes_follow_the_formulas_and_the_lyndon_words_are_the_known_ones():
    assert [sig.signature_size(2, m) for m in range(1, 7)] == [2, 6, 14, 30, 62, 126]
    assert [sig.signature_size(3, m) for m in range(1, 7)] == [3, 12, 39, 120, 363, 1092]
    # Witt's formula: the dimensions of the free Lie algebra's graded parts, summed.
    assert [sig.logsignature_size(2, m) for m in range(1, 7)] == [2, 3, 5, 8, 14, 23]
    assert [sig.logsignature_size(3, m) for m in range(1, 7)] == [3, 6, 14, 32, 80, 196]
    assert sig.lyndon_words(2, 4) == ((0,), (1,), (0, 1), (0, 0, 1), (0, 1, 1), (0, 0, 0, 1), (0, 0, 1, 1),
                                      (0, 1, 1, 1))
    for dim, depth in itertools.product((2, 3), range(1, 7)):
        words = sig.lyndon_words(dim, depth)
        assert len(words) == len(set(words)) == sig.logsignature_size(dim, depth)
        # A Lyndon word is strictly smaller than each of its proper rotations.
        assert all(all(w < w[i:] + w[:i] for i in range(1, len(w))) for w in words)


def test_level_one_is_the_increment_and_level_two_is_half_the_square_plus_the_levy_area():
    path = _path(9, 2, seed=1)
    s = _levels(sig.signature(jnp.asarray(path), 3))
    increment = path[-1] - path[0]
    np.testing.assert_allclose(s[0], increment, rtol=1e-5, atol=1e-6)
    level2 = s[1].reshape(2, 2)
    # Symmetric part: the square of the increment over 2 (shuffle identity).
    np.testing.assert_allclose((level2 + level2.T) / 2, np.outer(increment, increment) / 2, rtol=1e-5, atol=1e-5)
    # Antisymmetric part: the Levy area, closed form for a polyline: 1/2 sum over segments of
    # (x_i - x_0) dy_i - (y_i - x_0's y) dx_i.
    rel = path.astype(np.float64) - path[0]
    d = np.diff(rel, axis=0)
    area = 0.5 * np.sum(rel[:-1, 0] * d[:, 1] - rel[:-1, 1] * d[:, 0])
    assert (level2[0, 1] - level2[1, 0]) / 2 == pytest.approx(area, rel=1e-5)
    # The log-signature at depth 2 is exactly (increment, area).
    np.testing.assert_allclose(np.asarray(sig.logsignature(jnp.asarray(path), 2)), [*increment, area], rtol=1e-5)


def test_a_straight_segment_has_the_exponential_as_its_signature():
    x = jnp.array([0.3, -0.7, 0.2])
    s = sig.signature(jnp.stack([jnp.zeros(3), x]), 4)
    _close(_levels(s), _levels(sig.tensor_exp(x, 4)))
    # ... and its log-signature is the increment alone.
    log = _levels(sig.tensor_log(s))
    np.testing.assert_allclose(log[0], x, rtol=1e-6)
    for level in log[1:]:
        np.testing.assert_allclose(level, 0.0, atol=1e-6)


@pytest.mark.parametrize("depth", [2, 5])
def test_chens_identity_the_signature_of_a_concatenation_is_the_product(depth):
    a, b = _path(7, 3, seed=2), _path(6, 3, seed=3)
    b = b - b[0] + a[-1]  # b starts where a ends
    whole = sig.signature(jnp.asarray(np.concatenate([a, b[1:]])), depth)
    product = sig.tensor_multiply(sig.signature(jnp.asarray(a), depth), sig.signature(jnp.asarray(b), depth))
    _close(_levels(whole), _levels(product))


def test_tensor_log_inverts_the_exponential_of_a_lie_element_and_the_product_is_associative():
    x, y, z = (jnp.asarray(np.random.default_rng(i).normal(size=2), jnp.float32) for i in range(3))
    e = [sig.tensor_exp(v, 4) for v in (x, y, z)]
    left = sig.tensor_multiply(sig.tensor_multiply(e[0], e[1]), e[2])
    right = sig.tensor_multiply(e[0], sig.tensor_multiply(e[1], e[2]))
    _close(_levels(left), _levels(right))
    # multiply_exp is the product by an exponential.
    _close(_levels(sig.multiply_exp(e[0], y)), _levels(sig.tensor_multiply(e[0], e[1])))
    # Baker-Campbell-Hausdorff at depth 2: log(exp x exp y) = x + y + [x, y] / 2.
    log = _levels(sig.tensor_log(sig.tensor_multiply(e[0], e[1])))
    np.testing.assert_allclose(log[0], x + y, rtol=1e-5)
    bracket = np.outer(x, y) - np.outer(y, x)
    np.testing.assert_allclose(log[1].reshape(2, 2), bracket / 2, rtol=1e-5, atol=1e-6)


def test_reparametrisation_and_translation_change_nothing():
    path = _path(8, 2, seed=4)
    s = _levels(sig.signature(jnp.asarray(path), 5))
    # A midpoint (or any point) inserted inside a segment, and a repeated point.
    midpoint = (path[3] + path[4]) / 2
    third = path[5] + (path[6] - path[5]) / 3
    refined = np.concatenate([path[:4], midpoint[None], path[4:6], third[None], path[6:], path[-1:]])
    _close(_levels(sig.signature(jnp.asarray(refined), 5)), s)
    _close(_levels(sig.signature(jnp.asarray(path + np.float32(0.5)), 5)), s, rtol=1e-4)


def test_time_augmentation_adds_the_time_channel_and_its_expected_terms():
    rep = representations.make("signature", SPEC, depth=2, time=True)
    plain = representations.make("signature", SPEC, depth=2)
    ev = _evaluation(n=3)
    features = rep.features(ev)
    d_aug, d_plain = np.asarray(rep.encode((), features)), np.asarray(plain.encode((), features))
    assert d_aug.shape == (3, 12) and d_plain.shape == (3, 6)
    level1, level2 = d_aug[:, :3], d_aug[:, 3:].reshape(3, 3, 3)
    # The x, y part is the plain signature; the time increment is 1, its square 1/2.
    np.testing.assert_allclose(level1[:, :2], d_plain[:, :2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(level2[:, :2, :2].reshape(3, 4), d_plain[:, 2:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(level1[:, 2], 1.0, rtol=1e-6)
    np.testing.assert_allclose(level2[:, 2, 2], 0.5, rtol=1e-6)
    # S^{x t} = int (x_s - x_0) dt: the trapezoid integral of x against time.
    x = np.asarray(features, np.float64).reshape(3, T, 2)
    t = rep.times.astype(np.float64)
    assert t[0] == 0.0 and t[-1] == 1.0 and np.all(np.diff(t) > 0)
    rel = x - x[:, :1]
    integral = np.sum((rel[:, 1:] + rel[:, :-1]) / 2 * np.diff(t)[None, :, None], axis=1)
    np.testing.assert_allclose(level2[:, :2, 2], integral, rtol=1e-5, atol=1e-6)
    # ... and S^{t x} + S^{x t} = (x_T - x_0) * 1.
    np.testing.assert_allclose(level2[:, 2, :2] + level2[:, :2, 2], rel[:, -1], rtol=1e-5, atol=1e-5)


# --- The representation -------------------------------------------------------------------

def _evaluation(n=6, seed=0):
    key = jax.random.PRNGKey(seed)
    trajectory = jax.random.uniform(key, (n, T, 2), minval=0.0, maxval=600.0)
    return Evaluation(
        reward=jnp.zeros(n), reward_area=jnp.full(n, -1, jnp.int32), descriptor=trajectory[:, -1] / 600.0,
        trajectory=trajectory, valid=jnp.ones(n, bool),
    )


@pytest.mark.parametrize("kind", ["signature", "logsignature"])
@pytest.mark.parametrize("depth", [2, 5])
@pytest.mark.parametrize("time", [False, True])
def test_the_representation_encodes_the_normalised_trajectory_under_jit_and_vmap(kind, depth, time):
    rep = representations.make("signature", SPEC, kind=kind, depth=depth, time=time)
    dim = 3 if time else 2
    size = (sig.signature_size if kind == "signature" else sig.logsignature_size)(dim, depth)
    assert rep.descriptor_size == size and rep.bounds() is None and not rep.learned
    ev = _evaluation(n=5)
    features = rep.features(ev)
    np.testing.assert_array_equal(features, normalised_trajectory(SPEC, ev.trajectory))
    assert features.shape == (5, *rep.feature_shape)
    params = rep.init_state(jax.random.PRNGKey(0)).params
    eager = rep.encode(params, features)
    assert eager.shape == (5, size) and eager.dtype == jnp.float32
    jitted = jax.jit(rep.encode)(params, features)
    mapped = jax.jit(jax.vmap(lambda f: rep.encode(params, f[None])[0]))(features)
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mapped, eager, rtol=1e-5, atol=1e-6)
    # Row by row it is the module's function of the (time-augmented) path.
    path = np.asarray(features).reshape(5, T, 2)
    if time:
        path = np.concatenate([path, np.broadcast_to(rep.times[None, :, None], (5, T, 1))], axis=-1)
    direct = (sig.flatten(sig.signature(jnp.asarray(path[1]), depth)) if kind == "signature"
              else sig.logsignature(jnp.asarray(path[1]), depth))
    np.testing.assert_allclose(eager[1], direct, rtol=1e-5, atol=1e-6)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="kind must be one of signature, logsignature"):
        representations.make("signature", SPEC, kind="lie")
    with pytest.raises(ValueError, match="depth must be at most 6"):
        representations.make("signature", SPEC, depth=7)
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        representations.make("signature", SPEC, depth=0)
    with pytest.raises(ValueError, match="time must be true or false"):
        representations.make("signature", SPEC, time="yes")
    assert "signature" in representations.names()
    assert representations.describe("signature").startswith("Descriptor = the (log-)signature")
    assert representations.make("signature", SPEC) == representations.make("signature", SPEC)


def test_novelty_search_runs_in_a_signature_space():
    pipe = pipeline.make(PointTask(), "signature", representation_config={"kind": "logsignature", "depth": 3,
                                                                          "time": True}, shard=False)
    algo = algorithms.get("ns")
    config = algo.config_cls(population_size=10, offspring_per_parent=2, k=3, archive_capacity=200,
                             archive_per_generation=3)
    state = algo.init(config, pipe, jax.random.PRNGKey(0), budget=10_000)
    step = jax.jit(algo.step)
    for g in range(3):
        state, out = step(state, jax.random.fold_in(jax.random.PRNGKey(1), g))
    snapshot = algo.archive(state)
    mask = np.asarray(snapshot.mask)
    assert mask.sum() > 0
    descriptor = np.asarray(snapshot.descriptor)[mask]
    assert descriptor.shape[1] == sig.logsignature_size(3, 3) == 14
    assert np.all(np.isfinite(descriptor))
    assert np.isfinite(float(out["coverage"]))
    # Every stored descriptor is the signature of the stored features (recomputable).
    stores = [node for node in jax.tree.leaves(state, is_leaf=refit._is_node)
              if isinstance(node, refit.NoveltyArchive)]
    assert stores
    for archive in stores:
        n = int(archive.size)
        assert n == mask.sum()
        np.testing.assert_allclose(pipe.representation.encode((), archive.features[:n]), archive.descriptors[:n],
                                   rtol=1e-5, atol=1e-6)
