"""Trajectory signatures: the (log-)signature of the subsampled trajectory,
truncated at a depth, as a fixed, task-agnostic behaviour space.

The signature of a path X: [0, 1] -> R^d is the sequence of its iterated
integrals S(X) = (1, S^1, S^2, ...), level k holding the d^k integrals

    S^k_{i1..ik} = int_{0 < t1 < ... < tk < 1} dX^{i1}_{t1} ... dX^{ik}_{tk}

(Chevyrev & Kormilitzin 2016, "A primer on the signature method in machine
learning", arXiv:1603.03788). It is invariant to translation and
reparametrisation, level 1 is the total increment, and the antisymmetric part
of level 2 is the Levy area. The path here is piecewise linear through the
recorded positions, so by Chen's identity its signature is the product, in the
truncated tensor algebra, of the exponentials of its increments:

    S(X) = exp(dx_1) (x) exp(dx_2) (x) ... (x) exp(dx_{T-1})

computed here in pure JAX (a `lax.scan` over the increments, each step the
fused multiply-by-an-exponential of Kidger & Lyons 2021, "Signatory:
differentiable computations of the signature and logsignature transforms, on
both CPU and GPU", ICLR, arXiv:2001.00706), so it is jit- and vmap-able.

Layout: a truncated tensor is a tuple of levels 1..m, level k an array
[..., d^k] whose last axis is the word (i1, ..., ik) in row-major order (the
last letter varies fastest), the order of `iisignature.sig` and `esig`. The
constant term 1 (or 0 for a log) is implicit.

Descriptor sizes, for a path of d coordinates truncated at depth m:

- signature: every level flattened, sum_{k=1}^m d^k = d (d^m - 1) / (d - 1).
- log-signature: the tensor logarithm log S(X) (a Lie element) given by its
  coefficients at the Lyndon words, ordered by length then lexicographically
  (Signatory's "words" mode). These determine the log-signature (a Lyndon
  word's coefficient in the Lyndon bracket basis is triangular in them), but
  they are not the Lyndon-basis coordinates of `iisignature.logsig` nor esig's
  Hall-basis ones (both are linear changes of them). Size: Witt's formula,
  sum_{k=1}^m (1/k) sum_{j | k} mu(j) d^{k/j} (d = 2: 3 at m = 2, 14 at
  m = 5; d = 3: 6 and 80). `logsignature(..., lyndon=False)` gives the whole
  tensor logarithm instead.

The signature is invariant to translation, so the first recorded position
(after the first step) is where every path starts; in float32 the deeper
levels of the log-signature lose precision to the logarithm's cancellations
(~1e-6 of the signature's scale at that level).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from representations import register
from representations.base import Representation, check_size, normalised_trajectory, trajectory_feature_size
from tasks.evaluation import Evaluation

KINDS = ("signature", "logsignature")
MAX_DEPTH = 6

Tensor = tuple  # levels 1..m of a truncated tensor, level k [..., d^k]


# --- Sizes and the Lyndon basis ----------------------------------------------------------

def signature_size(dim: int, depth: int) -> int:
    """Entries of a signature without its constant term: sum_{k=1}^m d^k
    (= d (d^m - 1) / (d - 1) for d > 1, m for d = 1)."""
    return sum(dim**k for k in range(1, depth + 1))


def _moebius(n: int) -> int:
    result, p = 1, 2
    while p * p <= n:
        if n % p == 0:
            n //= p
            if n % p == 0:
                return 0
            result = -result
        p += 1
    return -result if n > 1 else result


def logsignature_size(dim: int, depth: int) -> int:
    """Dimension of the free Lie algebra truncated at depth m (Witt's formula):
    sum_{k=1}^m (1/k) sum_{j | k} mu(j) d^{k/j}, mu the Moebius function; also
    the number of Lyndon words of length <= m over d letters."""
    total = 0
    for k in range(1, depth + 1):
        total += sum(_moebius(j) * dim ** (k // j) for j in range(1, k + 1) if k % j == 0) // k
    return total


@functools.lru_cache(maxsize=None)
def lyndon_words(dim: int, depth: int) -> tuple[tuple[int, ...], ...]:
    """The Lyndon words over letters 0..dim-1 of length 1..depth, ordered by
    length, then lexicographically (Duval's algorithm)."""
    words = []
    w = [-1]
    while w:
        w[-1] += 1
        words.append(tuple(w))
        n = len(w)
        while len(w) < depth:
            w.append(w[len(w) - n])
        while w and w[-1] == dim - 1:
            w.pop()
    return tuple(sorted(words, key=lambda word: (len(word), word)))


def _lyndon_indices(dim: int, depth: int) -> list[np.ndarray]:
    """For each level k, the row-major indices of its Lyndon words."""
    by_level = [[] for _ in range(depth)]
    for word in lyndon_words(dim, depth):
        by_level[len(word) - 1].append(int(np.ravel_multi_index(word, (dim,) * len(word))))
    return [np.asarray(indices, np.int32) for indices in by_level]


# --- Truncated tensor algebra ------------------------------------------------------------

def _outer(a: jax.Array, b: jax.Array) -> jax.Array:
    """[..., n] (x) [..., p] -> [..., n p], row-major (the word of `a` first)."""
    return (a[..., :, None] * b[..., None, :]).reshape(*a.shape[:-1], a.shape[-1] * b.shape[-1])


def tensor_exp(x: jax.Array, depth: int) -> Tensor:
    """exp(x) of a vector x [..., d]: level k = x^{(x) k} / k!."""
    levels = [x]
    for k in range(2, depth + 1):
        levels.append(_outer(levels[-1], x) / k)
    return tuple(levels)


def tensor_multiply(a: Tensor, b: Tensor) -> Tensor:
    """(1 + a) (x) (1 + b) truncated at their depth, without the constant 1:
    level k = a_k + b_k + sum_{i=1}^{k-1} a_i (x) b_{k-i}."""
    out = []
    for k in range(1, len(a) + 1):
        level = a[k - 1] + b[k - 1]
        for i in range(1, k):
            level = level + _outer(a[i - 1], b[k - i - 1])
        out.append(level)
    return tuple(out)


def multiply_exp(s: Tensor, x: jax.Array) -> Tensor:
    """(1 + s) (x) exp(x) without forming exp(x), by Horner's scheme per level:
    level k = sum_{i=0}^{k} s_i (x) x^{(x) (k-i)} / (k-i)!
            = ((x/k + s_1) (x) x/(k-1) + s_2) (x) x/(k-2) ... + s_k."""
    out = []
    for k in range(1, len(s) + 1):
        z = x / k
        for i in range(1, k):
            z = _outer(z + s[i - 1], x / (k - i))
        out.append(z + s[k - 1])
    return tuple(out)


def tensor_log(s: Tensor) -> Tensor:
    """log(1 + s) = sum_{n=1}^m (-1)^{n+1} s^{(x) n} / n, truncated at s's depth
    (s^{(x) n} has nothing below level n, which the products skip)."""
    depth = len(s)
    out = list(s)
    power = list(s)  # s^{(x) n}: levels below n are zero
    for n in range(2, depth + 1):
        # power <- power (x) s, keeping levels k >= n: sum over power_i (i >= n-1), s_{k-i} (k-i >= 1).
        power = [None] * (n - 1) + [
            sum(_outer(power[i - 1], s[k - i - 1]) for i in range(n - 1, k)) for k in range(n, depth + 1)
        ]
        sign = (-1.0) ** (n + 1) / n
        for k in range(n, depth + 1):
            out[k - 1] = out[k - 1] + sign * power[k - 1]
    return tuple(out)


def signature(path: jax.Array, depth: int) -> Tensor:
    """Levels 1..depth of the signature of the piecewise-linear path through
    `path` [..., T, d] (T >= 1; one point has signature 1, all levels 0)."""
    increments = jnp.diff(path, axis=-2)
    increments = jnp.moveaxis(increments, -2, 0)  # [T-1, ..., d]
    batch, d = path.shape[:-2], path.shape[-1]
    zero = tuple(jnp.zeros((*batch, d**k), path.dtype) for k in range(1, depth + 1))
    s, _ = jax.lax.scan(lambda s, x: (multiply_exp(s, x), None), zero, increments)
    return s


def logsignature(path: jax.Array, depth: int, lyndon: bool = True) -> jax.Array:
    """The log-signature of `path` [..., T, d], flattened [..., size]: with
    `lyndon`, the coefficients of the full tensor log at the Lyndon words
    (Signatory's "words" mode; `logsignature_size(d, depth)` entries); without,
    every coefficient of the tensor log (`signature_size(d, depth)` entries)."""
    log = tensor_log(signature(path, depth))
    if not lyndon:
        return flatten(log)
    indices = _lyndon_indices(path.shape[-1], depth)
    return jnp.concatenate([level[..., idx] for level, idx in zip(log, indices)], axis=-1)


def flatten(s: Sequence[jax.Array]) -> jax.Array:
    """[..., sum_k d^k] the levels of a truncated tensor, level 1 first."""
    return jnp.concatenate(list(s), axis=-1)


# --- The representation ------------------------------------------------------------------

@register
@dataclasses.dataclass(frozen=True)
class Signature(Representation):
    """Descriptor = the (log-)signature, truncated at `depth`, of the trajectory (optionally with time)."""

    name = "signature"
    needs_trajectory = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Signature settings.

        Attributes:
            kind: "signature" (every iterated integral of levels 1..depth,
                sum_{k=1}^m d^k entries) or "logsignature" (the tensor
                logarithm's coefficients at the Lyndon words, Signatory's
                "words" basis: Witt's formula, sum_{k=1}^m (1/k)
                sum_{j|k} mu(j) d^{k/j} entries).
            depth: truncation level m, 1..6 (2; 2 and 5 are the reference
                depths).
            time: add the time t in [0, 1] of each recorded position as a
                third path coordinate (d = 3; without it d = 2). Without
                time, a descriptor ignores the speed along the path.
        """

        kind: str = "signature"
        depth: int = 2
        time: bool = False

        def __post_init__(self):
            if self.kind not in KINDS:
                raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
            check_size("depth", self.depth, "truncation level")
            if self.depth > MAX_DEPTH:
                raise ValueError(f"depth must be at most {MAX_DEPTH}, got {self.depth}")
            if not isinstance(self.time, (bool, np.bool_)):
                raise ValueError(f"time must be true or false, got {self.time!r}")

    def __post_init__(self):
        if len(self.spec.trajectory_steps) < 2:
            raise ValueError("a signature needs a trajectory of at least 2 recorded positions")

    @property
    def dim(self) -> int:
        """d, the path's coordinates: x, y (and t)."""
        return 3 if self.config.time else 2

    @property
    def descriptor_size(self) -> int:
        if self.config.kind == "signature":
            return signature_size(self.dim, self.config.depth)
        return logsignature_size(self.dim, self.config.depth)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (trajectory_feature_size(self.spec),)

    @property
    def times(self) -> np.ndarray:
        """[T] the recorded steps mapped to [0, 1] (first 0, last 1)."""
        steps = np.asarray(self.spec.trajectory_steps, np.float64)
        return ((steps - steps[0]) / (steps[-1] - steps[0])).astype(np.float32)

    def features(self, evaluation: Evaluation) -> jax.Array:
        return normalised_trajectory(self.spec, evaluation.trajectory)

    def path(self, features: jax.Array) -> jax.Array:
        """[..., T, d] the path of [..., T * 2] features (x, y[, t])."""
        xy = jnp.asarray(features, jnp.float32).reshape(*features.shape[:-1], -1, 2)
        if not self.config.time:
            return xy
        t = jnp.broadcast_to(jnp.asarray(self.times)[:, None], (*xy.shape[:-1], 1))
        return jnp.concatenate([xy, t], axis=-1)

    def encode(self, params, features: jax.Array) -> jax.Array:
        del params
        path = self.path(features)
        if self.config.kind == "signature":
            return flatten(signature(path, self.config.depth))
        return logsignature(path, self.config.depth)
