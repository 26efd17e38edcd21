"""A QDax-style scoring function as an evaluator every algorithm accepts.

A QDax user's task is a scoring function (qdax 0.5.0)::

    fitnesses, descriptors, extra_scores = scoring_fn(genotypes, key)

(older QDax versions, and Kheperax 0.2.0, also return the key:
``(fitnesses, descriptors, extra_scores, key)``; both are accepted).
`from_scoring_function` wraps one into a `ScoringFunction`, which stands in
for a `tasks.evaluator.Evaluator` inside a `qd.pipeline.Pipeline`::

    from qdax.tasks.arm import arm_scoring_function
    arm = tasks.from_scoring_function(
        arm_scoring_function, genome_size=8, descriptor_low=(0, 0), descriptor_high=(1, 1))
    pipe = qd.pipeline.make(arm)                    # ground-truth descriptors
    state = ns.init(ns.config_cls(genome_low=0.0, genome_high=1.0), pipe, key)

What becomes of the scoring function's outputs in our `Evaluation`:

- `descriptor`: its descriptors [B, k], the ground truth of the metrics
  (coverage on a grid over `descriptor_low`/`descriptor_high`);
- `reward`: its fitnesses (any sign: MAP-Elites keeps the highest; SERENE
  hands a policy to its emitters only when its reward is > 0); or, with
  ``reward="areas"``, the sparse reward of our tasks, (r - d) / r inside one
  of `reward_areas` and 0 elsewhere, which makes any scoring function a
  sparse-reward exploration problem (the fitness is then not used);
- `reward_area`: which of `reward_areas` (discs in descriptor space, k = 2)
  the descriptor ends in, -1 for none (none by default);
- `valid`: False where the fitness or a descriptor is NaN/inf (such rows are
  never archived and their fitness, area and descriptor are reset as for a
  task);
- `trajectory` and `observation`: absent (a scoring function gives neither);
  the trajectory is an empty [B, 0, 2] array and `provides` is empty, so a
  representation that needs either (projection, pca, signature: the
  trajectory; the TAXONS autoencoder: the rendered view) is refused when
  the pipeline is built, with a message naming what is missing.

Genomes are flat float32 vectors, as everywhere in divergent. A scoring
function that takes pytree genotypes (a policy's parameters) is given them
unflattened: pass one example `genotype` and the flat genome is split in
`jax.tree.leaves` order (the order of `jax.flatten_util.ravel_pytree`). The
initial genomes and the range mutations clip to are the algorithm's settings
(`init_std`, `genome_low`, `genome_high`): set them to the domain the
scoring function expects (QDax's arm and rastrigin take [0, 1]).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Callable, ClassVar, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tasks.evaluation import Evaluation
from tasks.rewards import area_arrays, sparse_reward
from tasks.spec import RewardArea, TaskSpec

# Cells of the coverage grid over the descriptor bounds, in all: 50 x 50 in
# 2-d as for every task, about as many in other dimensions.
GRID_CELLS = 2500
REWARDS = ("fitness", "areas")


@dataclasses.dataclass(frozen=True)
class Genotype:
    """The pytree layout of one genotype, to unflatten a batch of flat genomes.

    Attributes:
        treedef: the pytree structure.
        shapes: each leaf's shape, in `jax.tree.leaves` order.
        dtypes: each leaf's dtype name.
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]

    @classmethod
    def of(cls, genotype: Any) -> "Genotype":
        leaves, treedef = jax.tree.flatten(genotype)
        if not leaves:
            raise ValueError("genotype must be a pytree with at least one array leaf, got an empty one")
        return cls(
            treedef,
            tuple(tuple(int(d) for d in np.shape(leaf)) for leaf in leaves),
            tuple(str(jnp.asarray(leaf).dtype) for leaf in leaves),
        )

    @property
    def size(self) -> int:
        return sum(math.prod(shape) for shape in self.shapes)

    def unflatten(self, genomes: jax.Array) -> Any:
        """Genomes [B, size] -> the pytree with leaves [B, *shape]."""
        leaves, start = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            n = math.prod(shape)
            leaves.append(genomes[:, start:start + n].reshape((genomes.shape[0], *shape)).astype(dtype))
            start += n
        return jax.tree.unflatten(self.treedef, leaves)


@dataclasses.dataclass(frozen=True)
class ScoringFunction:
    """A scoring function as an evaluator: ``(genomes [B, D], key) -> Evaluation``.

    Frozen and hashable (the function by identity), so it can sit in an
    algorithm state as a static field; equal wrappers of the same function
    share jitted steps. Build one with `from_scoring_function`.

    Attributes:
        scoring_fn: ``(genotypes, key) -> (fitnesses, descriptors, extra_scores[, key])``.
        spec: the task description (descriptor bounds, grid, reward areas).
        genome_size: D, the length of a flat genome.
        genotype: the pytree layout the scoring function takes, or None for
            flat [B, D] arrays.
        reward: "fitness" (the scoring function's) or "areas" (the sparse
            reward of `spec.reward_areas`).
    """

    scoring_fn: Callable[..., Any]
    spec: TaskSpec
    genome_size: int
    genotype: Optional[Genotype] = None
    reward: str = "fitness"

    # What `Evaluation` carries beyond descriptors and rewards: nothing.
    provides: ClassVar[frozenset] = frozenset()

    def __repr__(self) -> str:
        return f"ScoringFunction({self.spec.name!r})"

    def __call__(self, genomes: jax.Array, key: jax.Array) -> Evaluation:
        """Traceable: the `Evaluation` of `genomes` [B, D] (the scoring function
        gets the whole batch and `key` as it is).

        Raises:
            ValueError: genomes not [B, D], or the scoring function returns
                something other than B fitnesses and [B, k] descriptors.
        """
        if genomes.ndim != 2 or genomes.shape[1] != self.genome_size:
            raise ValueError(
                f"genomes must have shape [batch, {self.genome_size}] for {self!r}, got {tuple(genomes.shape)}"
            )
        batch = genomes.shape[0]
        genotypes = genomes if self.genotype is None else self.genotype.unflatten(genomes)
        out = self.scoring_fn(genotypes, key)
        if not isinstance(out, (tuple, list)) or len(out) not in (3, 4):
            raise ValueError(
                f"the scoring function of {self!r} must return (fitnesses, descriptors, extra_scores) "
                f"or (fitnesses, descriptors, extra_scores, key), got {type(out).__name__}"
                + (f" of {len(out)} items" if isinstance(out, (tuple, list)) else "")
            )
        fitness, descriptor = jnp.asarray(out[0]), jnp.asarray(out[1])
        if fitness.shape not in ((batch,), (batch, 1)):
            raise ValueError(
                f"the scoring function of {self!r} returned fitnesses of shape {fitness.shape}; "
                f"expected ({batch},) or ({batch}, 1): one fitness per genotype"
            )
        k = self.spec.descriptor_size
        if descriptor.shape != (batch, k):
            raise ValueError(
                f"the scoring function of {self!r} returned descriptors of shape {descriptor.shape}; "
                f"expected ({batch}, {k}) as declared by descriptor_low/descriptor_high"
            )
        fitness = fitness.reshape(batch).astype(jnp.float32)
        descriptor = descriptor.astype(jnp.float32)
        valid = jnp.isfinite(fitness) & jnp.all(jnp.isfinite(descriptor), axis=1)
        if self.spec.reward_areas:
            centers, radii = area_arrays(self.spec.reward_areas)
            paid, area = jax.vmap(lambda d: sparse_reward(d, jnp.asarray(centers), jnp.asarray(radii)))(descriptor)
            if self.reward == "areas":
                fitness = jnp.where(jnp.isfinite(fitness), paid, fitness)  # a NaN score stays invalid
        else:
            area = jnp.full((batch,), -1, jnp.int32)
        low = jnp.asarray(self.spec.descriptor_low, jnp.float32)
        return Evaluation(
            reward=jnp.where(valid, fitness, 0.0),
            reward_area=jnp.where(valid, area, -1),
            descriptor=jnp.where(valid[:, None], descriptor, low),
            trajectory=jnp.zeros((batch, 0, 2), jnp.float32),
            valid=valid,
            observation=None,
        )


def from_scoring_function(
    scoring_fn: Callable[..., Any],
    *,
    descriptor_low: Sequence[float],
    descriptor_high: Sequence[float],
    genome_size: Optional[int] = None,
    genotype: Any = None,
    name: Optional[str] = None,
    reward_areas: Sequence[RewardArea | tuple[float, float, float]] = (),
    reward: str = "fitness",
    grid_shape: Optional[Sequence[int]] = None,
) -> ScoringFunction:
    """Wraps a QDax-style scoring function so every algorithm can evaluate it.

    Args:
        scoring_fn: ``(genotypes, key) -> (fitnesses, descriptors,
            extra_scores)`` (or with the key as a fourth item), traceable;
            fitnesses [B] or [B, 1], descriptors [B, k].
        descriptor_low: the k lower bounds of the descriptors.
        descriptor_high: the k upper bounds.
        genome_size: D, when the scoring function takes flat [B, D] arrays.
        genotype: instead of `genome_size`, one example genotype (a pytree,
            e.g. a policy's parameters, without the batch axis); genomes are
            its leaves flattened and concatenated.
        name: what the task is called in messages (default: the function's name).
        reward_areas: discs in descriptor space, `RewardArea`s or (x, y,
            radius) triples, counted per area in the metrics (k must be 2).
        reward: what the algorithms see as the reward: "fitness" (the
            scoring function's) or "areas" ((r - d) / r inside a reward area,
            0 elsewhere; needs `reward_areas`).
        grid_shape: cells per dimension of the coverage grid (default: 50 x 50
            in 2-d, about 2500 cells in other dimensions).

    Returns:
        The evaluator, for `qd.pipeline.make` or `qd.pipeline.Pipeline`.

    Raises:
        ValueError: bounds of different lengths, empty or not low < high;
            neither or both of `genome_size` and `genotype`; a genome size
            below 1; reward areas with k != 2; an unknown `reward` or
            "areas" without reward areas; a grid of the wrong length.
    """
    if not callable(scoring_fn):
        raise ValueError(f"scoring_fn must be callable (genotypes, key) -> (fitnesses, descriptors, extra_scores), "
                         f"got {scoring_fn!r}")
    low, high = _bounds(descriptor_low, descriptor_high)
    k = len(low)
    if (genome_size is None) == (genotype is None):
        raise ValueError("give exactly one of genome_size (flat genomes) and genotype (an example pytree genotype)")
    layout = None
    if genotype is not None:
        layout = Genotype.of(genotype)
        size = layout.size
    else:
        if isinstance(genome_size, bool) or not isinstance(genome_size, numbers.Integral) or genome_size < 1:
            raise ValueError(f"genome_size must be a positive integer, got {genome_size!r}")
        size = int(genome_size)
    areas = tuple(a if isinstance(a, RewardArea) else RewardArea((float(a[0]), float(a[1])), float(a[2]))
                  for a in reward_areas)
    if areas and k != 2:
        raise ValueError(f"reward_areas are discs in a 2-d descriptor space; these descriptors have {k} dimensions")
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {', '.join(map(repr, REWARDS))}, got {reward!r}")
    if reward == "areas" and not areas:
        raise ValueError("reward='areas' pays inside reward_areas, but none were given")
    if grid_shape is None:
        grid = (max(2, int(round(GRID_CELLS ** (1.0 / k)))),) * k
    else:
        grid = tuple(int(c) for c in grid_shape)
        if len(grid) != k or min(grid) < 1:
            raise ValueError(f"grid_shape must give {k} positive cell counts (one per descriptor), got {grid_shape!r}")
    # The drawable world is the descriptor box (its first two dimensions).
    world_low = (low + (0.0, 0.0))[:2] if k >= 2 else (low[0], 0.0)
    world_high = (high + (1.0, 1.0))[:2] if k >= 2 else (high[0], 1.0)
    spec = TaskSpec(
        name=name or getattr(scoring_fn, "__name__", None) or type(scoring_fn).__name__,
        observation_size=0,
        action_size=0,
        episode_length=1,
        descriptor_low=low,
        descriptor_high=high,
        reward_areas=areas,
        world_low=world_low,
        world_high=world_high,
        grid_shape=grid,
        trajectory_points=0,
    )
    return ScoringFunction(scoring_fn, spec, size, layout, reward)


def _bounds(low: Sequence[float], high: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    try:
        low_t, high_t = tuple(float(v) for v in low), tuple(float(v) for v in high)
    except (TypeError, ValueError):
        raise ValueError(f"descriptor_low and descriptor_high must be sequences of numbers, got {low!r} and {high!r}") \
            from None
    if not low_t or len(low_t) != len(high_t):
        raise ValueError(
            f"descriptor_low and descriptor_high must have the same length >= 1 (one bound per descriptor), "
            f"got {len(low_t)} and {len(high_t)}"
        )
    bad = [i for i, (a, b) in enumerate(zip(low_t, high_t)) if not (math.isfinite(a) and math.isfinite(b) and a < b)]
    if bad:
        raise ValueError(f"descriptor bounds must be finite with low < high; not so in dimension(s) {bad}: "
                         f"low={low_t}, high={high_t}")
    return low_t, high_t
