"""Turning evaluations into archive entries, and batch helpers on entries."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from qd.repertoire import Entries
from representations import ground_truth
from tasks.evaluation import Evaluation


def entries_from(genomes: jax.Array, evaluation: Evaluation) -> Entries:
    """Archive entries of evaluated genomes, described by the ground truth."""
    return Entries(
        genome=genomes,
        descriptor=ground_truth.encode(evaluation),
        gt_descriptor=evaluation.descriptor,
        reward=evaluation.reward,
        reward_area=evaluation.reward_area,
    )


def concat(a: Entries, b: Entries) -> Entries:
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)


def take(entries: Entries, index: jax.Array) -> Entries:
    return jax.tree.map(lambda x: x[index], entries)
