"""Evaluating a batch of genomes: one jitted program, vmap over policies, scan
over time, optionally sharded over several devices."""
from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from tasks.base import SparseRewardTask
from tasks.evaluation import Evaluation
from tasks.policies import Policy


def _episode(task: SparseRewardTask, policy: Policy, with_observation: bool, genome, key):
    """One episode of one genome (vmapped by the caller)."""
    state = task.reset(key)
    times = jnp.asarray(task.spec.trajectory_steps)

    def body(carry, t):
        state, finite, episode_return = carry
        action = policy.apply(genome, state.obs)
        stepped = task.step(state, action)
        # Ended episodes are frozen: the state stops changing, so the final
        # position, reward and view are those of the step that ended it.
        ended = state.done > 0
        state = jax.tree.map(lambda old, new: jnp.where(ended, old, new), state, stepped)
        # The return sums the rewards of the steps taken. A sparse task pays
        # only on its last step, so its return is that payment exactly
        # (0 + ... + 0 + r == r in floating point).
        episode_return = episode_return + jnp.where(ended, 0.0, stepped.reward)
        finite = finite & jnp.all(jnp.isfinite(action)) & jnp.all(jnp.isfinite(state.obs))
        return (state, finite, episode_return), task.position(state.pipeline_state)

    (state, finite, episode_return), positions = jax.lax.scan(
        body, (state, jnp.bool_(True), jnp.float32(0.0)), jnp.arange(task.episode_length)
    )
    trajectory = positions[times - 1]
    descriptor = task.descriptor(state.pipeline_state)
    valid = (
        finite
        & jnp.all(jnp.isfinite(trajectory))
        & jnp.all(jnp.isfinite(descriptor))
        & jnp.isfinite(episode_return)
    )
    low = jnp.asarray(task.spec.descriptor_low, jnp.float32)
    observation = task.render(state.pipeline_state) if with_observation else None
    return Evaluation(
        reward=jnp.where(valid, episode_return, 0.0),
        reward_area=jnp.where(valid, state.info["reward_area"], -1),
        descriptor=jnp.where(valid, descriptor, low),
        trajectory=jnp.where(valid, trajectory, 0.0),
        valid=valid,
        observation=None if observation is None else jnp.where(valid, observation, 0.0),
    )


def batch_sharding(devices: Sequence[jax.Device]) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over `devices`."""
    return NamedSharding(Mesh(np.asarray(devices), ("batch",)), PartitionSpec("batch"))


def auto_sharding(batch_size: int) -> Optional[NamedSharding]:
    """Sharding of a batch over every device JAX sees, or None when there is one
    device or the batch does not split evenly over them."""
    devices = jax.devices()
    if len(devices) <= 1 or batch_size % len(devices):
        return None
    return batch_sharding(devices)


def evaluate(
    task: SparseRewardTask,
    policy: Policy,
    genomes: jax.Array,
    key: jax.Array,
    *,
    with_observation: bool = False,
    sharding: Optional[NamedSharding] = None,
) -> Evaluation:
    """Traceable core of `rollout`, for use inside an algorithm's jitted step.

    Args:
        task: the task.
        policy: how genomes act.
        genomes: [B, D]; with `sharding`, B must be a multiple of its devices.
        key: policy i's episode uses fold_in(key, i), so results do not depend
            on batch padding or sharding.
        with_observation: also render the final view.
        sharding: if given, the batch is split over its devices.

    Returns:
        The batch's `Evaluation`.
    """
    episode = jax.vmap(functools.partial(_episode, task, policy, with_observation))
    rows = jnp.arange(genomes.shape[0])
    if sharding is None:
        return episode(genomes, _episode_keys(key, rows))
    return _sharded(episode, sharding, genomes, rows, key)


def _episode_keys(key: jax.Array, rows: jax.Array) -> jax.Array:
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)


def _sharded(episode, sharding: NamedSharding, genomes: jax.Array, rows: jax.Array, key: jax.Array) -> Evaluation:
    """`episode` on each device's rows, then ONE all-gather of the results.

    Why not a sharding constraint: the partitioner then spreads the batch
    split over the whole step (novelty, archive insertion, emitters), with a
    collective for every leaf and every consumer (SERENE's step had 214
    all-gathers). On host CPU devices, XLA's runtime may run independent
    collectives at once on its small thread pool; on a busy 2-core machine a
    device then waits for a peer that has no thread left, and the run dies
    with a rendezvous timeout. Here the split is confined to the rollout
    (`shard_map`), and every leaf is packed into one [B, W] float32 array
    (ints and bools bit-cast, exactly) gathered once; the rest of the step
    stays replicated.
    """
    axis = sharding.mesh.axis_names[0]
    shapes = jax.eval_shape(episode, genomes, _episode_keys(key, rows))
    leaves, treedef = jax.tree.flatten(shapes)
    widths = [math.prod(leaf.shape[1:]) for leaf in leaves]

    def local(genomes, rows, key):
        columns = []
        for leaf in jax.tree.leaves(episode(genomes, _episode_keys(key, rows))):
            flat = leaf.reshape(leaf.shape[0], -1)
            if flat.dtype != jnp.float32:
                flat = jax.lax.bitcast_convert_type(flat.astype(jnp.int32), jnp.float32)
            columns.append(flat)
        return jax.lax.all_gather(jnp.concatenate(columns, axis=1), axis, tiled=True)

    # Replicated going in too, or the split spreads back into what made the genomes.
    whole = NamedSharding(sharding.mesh, PartitionSpec())
    genomes, rows = (jax.lax.with_sharding_constraint(x, whole) for x in (genomes, rows))
    packed = jax.shard_map(
        local, mesh=sharding.mesh, in_specs=(PartitionSpec(axis), PartitionSpec(axis), PartitionSpec()),
        out_specs=PartitionSpec(), check_vma=False,
    )(genomes, rows, key)
    packed = jax.lax.with_sharding_constraint(packed, whole)
    out, start = [], 0
    for leaf, width in zip(leaves, widths):
        part = packed[:, start:start + width]
        start += width
        if leaf.dtype != jnp.float32:
            part = jax.lax.bitcast_convert_type(part, jnp.int32).astype(leaf.dtype)
        out.append(part.reshape(leaf.shape))
    return jax.tree.unflatten(treedef, out)


@functools.lru_cache(maxsize=64)
def _compiled(task: SparseRewardTask, policy: Policy, with_observation: bool):
    return jax.jit(functools.partial(evaluate, task, policy, with_observation=with_observation))


def rollout(
    task: SparseRewardTask,
    genomes: jax.Array,
    key: jax.Array,
    *,
    policy: Optional[Policy] = None,
    with_observation: bool = False,
    devices: Optional[Sequence[jax.Device]] = None,
) -> Evaluation:
    """Evaluates every genome for one episode, in one jitted program.

    Args:
        task: the task.
        genomes: flat genomes [B, D].
        key: PRNG key; policy i's episode uses fold_in(key, i).
        policy: how genomes act; defaults to `task.default_policy()`.
        with_observation: also return the final 64x64x3 top-down view.
        devices: shard the batch over these devices (default: the default
            device only). The batch is padded to a multiple of their number;
            results equal the single-device ones.

    Returns:
        The `Evaluation` of the batch (leading axis B).

    Raises:
        ValueError: genomes not [B, D] with D the policy's genome size.
    """
    policy = task.default_policy() if policy is None else policy
    genomes = jnp.asarray(genomes, jnp.float32)
    if genomes.ndim != 2 or genomes.shape[1] != policy.genome_size:
        raise ValueError(
            f"genomes must have shape [batch, {policy.genome_size}] for {task!r}, got {tuple(genomes.shape)}"
        )
    fn = _compiled(task, policy, bool(with_observation))
    if devices is None or len(devices) <= 1:
        return fn(genomes, key)
    n = genomes.shape[0]
    pad = (-n) % len(devices)
    if pad:
        genomes = jnp.concatenate([genomes, jnp.repeat(genomes[:1], pad, axis=0)])
    out = fn(jax.device_put(genomes, batch_sharding(devices)), key)
    return jax.tree.map(lambda x: x[:n], out) if pad else out
