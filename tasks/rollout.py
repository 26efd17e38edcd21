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
from tasks.evaluation import Evaluation, Transitions
from tasks.policies import Policy


# Folded into an episode's key to draw its action noise, so a stochastic
# episode starts from the same reset as the deterministic one.
NOISE_SALT = 0xA7


def _episode(
    task: SparseRewardTask, policy: Policy, with_observation: bool, genome, key,
    *, with_transitions: bool = False, action_std=None, frames: int = 1,
):
    """One episode of one genome (vmapped by the caller).

    With `with_observation` and `frames` > 1 the observation is [frames, 64,
    64, 3]: the views after the steps `spec.frame_steps(frames)`, the last
    one the final view, rendered after the scan exactly as for one frame.
    For the earlier ones the scan keeps the physical states of those steps
    (a select per step into a [frames - 1] copy of the state, small), and
    they are rendered after it: rendering inside the scan under a
    `lax.cond` kept the frames themselves in the carry, which XLA:CPU copied
    every step (curling, batch 200, 4 frames: 20x the one-frame rollout).

    With `action_std` (a scalar) the actions are the policy's plus Gaussian
    noise of that std, and the episode also returns the gradient w.r.t. the
    genome of the log-probability of the sampled actions (REINFORCE's score,
    summed over the steps); std 0 gives the deterministic episode and a zero
    score.
    """
    state = task.reset(key)
    times = jnp.asarray(task.spec.trajectory_steps)
    noisy = action_std is not None
    if noisy:
        k_noise = jax.random.fold_in(key, NOISE_SALT)
        # d/dgenome log N(a; mu(genome), std^2) = J^T (a - mu) / std^2 = J^T eps / std
        inv_std = jnp.where(action_std > 0, 1.0 / jnp.where(action_std > 0, action_std, 1.0), 0.0)

    early = np.asarray(task.spec.frame_steps(frames)[:-1]) if with_observation else np.zeros(0, np.int32)
    # slot[t]: which earlier frame the state after step t + 1 is (-1: none).
    slot = np.full(task.episode_length, -1, np.int32)
    slot[early - 1] = np.arange(len(early), dtype=np.int32)
    slot = jnp.asarray(slot)

    def body(carry, t):
        state, finite, total, score, kept = carry
        ended = state.done > 0
        if noisy:
            mean, pullback = jax.vjp(lambda g: policy.apply(g, state.obs), genome)
            eps = jax.random.normal(jax.random.fold_in(k_noise, t), mean.shape, mean.dtype)
            action = mean + action_std * eps
            (step_score,) = pullback(eps * inv_std)
            score = score + jnp.where(ended, 0.0, step_score)
        else:
            action = policy.apply(genome, state.obs)
        stepped = task.step(state, action)
        # Ended episodes are frozen: the state stops changing, so the final
        # position, reward and view are those of the step that ended it.
        state_next = jax.tree.map(lambda old, new: jnp.where(ended, old, new), state, stepped)
        # The return sums the live steps' rewards: adding the zeros a sparse
        # task pays before its end leaves the terminal reward bit for bit.
        total = total + jnp.where(ended, 0.0, stepped.reward)
        finite = finite & jnp.all(jnp.isfinite(action)) & jnp.all(jnp.isfinite(state_next.obs))
        if len(early):
            here = slot[t] == jnp.arange(len(early))
            kept = jax.tree.map(
                lambda buf, x: jnp.where(here.reshape((-1,) + (1,) * x.ndim), x[None], buf),
                kept, state_next.pipeline_state,
            )
        out = task.position(state_next.pipeline_state)
        if with_transitions:
            step = dict(
                obs=state.obs, actions=jnp.clip(action, -1.0, 1.0), rewards=stepped.reward,
                next_obs=stepped.obs, dones=stepped.done, mask=~ended,
            )
            out = (out, step)
        return (state_next, finite, total, score, kept), out

    score0 = jnp.zeros_like(genome) if noisy else jnp.zeros(())
    kept0 = None
    if len(early):
        kept0 = jax.tree.map(lambda x: jnp.repeat(x[None], len(early), axis=0), state.pipeline_state)
    (state, finite, total, score, kept), outs = jax.lax.scan(
        body, (state, jnp.bool_(True), jnp.float32(0.0), score0, kept0), jnp.arange(task.episode_length)
    )
    positions, steps = outs if with_transitions else (outs, None)
    trajectory = positions[times - 1]
    descriptor = task.descriptor(state.pipeline_state)
    valid = (
        finite
        & jnp.all(jnp.isfinite(trajectory))
        & jnp.all(jnp.isfinite(descriptor))
        & jnp.isfinite(total)
    )
    low = jnp.asarray(task.spec.descriptor_low, jnp.float32)
    observation = task.render(state.pipeline_state) if with_observation else None
    if kept is not None:
        observation = jnp.concatenate([jax.vmap(task.render)(kept), observation[None]])
    transitions = None
    if with_transitions:
        zero = lambda x: jnp.where(valid, x, jnp.zeros_like(x))  # noqa: E731
        transitions = Transitions(
            obs=zero(steps["obs"]), actions=zero(steps["actions"]), rewards=zero(steps["rewards"]),
            next_obs=zero(steps["next_obs"]), dones=zero(steps["dones"]), mask=steps["mask"] & valid,
        )
    return Evaluation(
        reward=jnp.where(valid, total, 0.0),
        reward_area=jnp.where(valid, state.info["reward_area"], -1),
        descriptor=jnp.where(valid, descriptor, low),
        trajectory=jnp.where(valid, trajectory, 0.0),
        valid=valid,
        observation=None if observation is None else jnp.where(valid, observation, 0.0),
        transitions=transitions,
        log_prob_grad=jnp.where(valid, score, 0.0) if noisy else None,
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
    with_transitions: bool = False,
    action_std: Optional[jax.Array] = None,
    frames: int = 1,
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
        with_transitions: also return every step (`Evaluation.transitions`).
        action_std: [B] per-policy std of Gaussian action noise: stochastic
            episodes that also return `Evaluation.log_prob_grad` (rows with
            std 0 are the deterministic episodes, with a zero gradient).
        frames: with `with_observation`, views rendered per episode at
            `spec.frame_steps(frames)`; above 1 the observation is [B, frames,
            64, 64, 3], the last frame the final view.

    Returns:
        The batch's `Evaluation`.

    Raises:
        ValueError: `frames` outside [1, episode_length].
    """
    task.spec.frame_steps(frames)  # validates
    one = functools.partial(_episode, task, policy, with_observation, with_transitions=with_transitions,
                            frames=frames)
    rows = jnp.arange(genomes.shape[0])
    if action_std is None:
        episode = jax.vmap(one)
        row_args = ()
    else:
        episode = jax.vmap(lambda g, k, std: one(g, k, action_std=std))
        row_args = (jnp.broadcast_to(jnp.asarray(action_std, jnp.float32), rows.shape),)
    if sharding is None:
        return episode(genomes, _episode_keys(key, rows), *row_args)
    return _sharded(episode, sharding, genomes, rows, key, *row_args)


def _episode_keys(key: jax.Array, rows: jax.Array) -> jax.Array:
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)


def _sharded(
    episode, sharding: NamedSharding, genomes: jax.Array, rows: jax.Array, key: jax.Array, *row_args: jax.Array
) -> Evaluation:
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
    shapes = jax.eval_shape(episode, genomes, _episode_keys(key, rows), *row_args)
    leaves, treedef = jax.tree.flatten(shapes)
    widths = [math.prod(leaf.shape[1:]) for leaf in leaves]

    def local(genomes, rows, key, *row_args):
        columns = []
        for leaf in jax.tree.leaves(episode(genomes, _episode_keys(key, rows), *row_args)):
            flat = leaf.reshape(leaf.shape[0], -1)
            if flat.dtype != jnp.float32:
                flat = jax.lax.bitcast_convert_type(flat.astype(jnp.int32), jnp.float32)
            columns.append(flat)
        return jax.lax.all_gather(jnp.concatenate(columns, axis=1), axis, tiled=True)

    # Replicated going in too, or the split spreads back into what made the genomes.
    whole = NamedSharding(sharding.mesh, PartitionSpec())
    genomes, rows, *row_args = (jax.lax.with_sharding_constraint(x, whole) for x in (genomes, rows, *row_args))
    split = PartitionSpec(axis)
    packed = jax.shard_map(
        local, mesh=sharding.mesh, in_specs=(split, split, PartitionSpec(), *(split for _ in row_args)),
        out_specs=PartitionSpec(), check_vma=False,
    )(genomes, rows, key, *row_args)
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
def _compiled(task: SparseRewardTask, policy: Policy, with_observation: bool, frames: int = 1):
    return jax.jit(functools.partial(evaluate, task, policy, with_observation=with_observation, frames=frames))


def rollout(
    task: SparseRewardTask,
    genomes: jax.Array,
    key: jax.Array,
    *,
    policy: Optional[Policy] = None,
    with_observation: bool = False,
    devices: Optional[Sequence[jax.Device]] = None,
    frames: int = 1,
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
        frames: with `with_observation`, views per episode at evenly spaced
            times (`spec.frame_steps`); above 1 the observation is [B,
            frames, 64, 64, 3], the last frame the final view.

    Returns:
        The `Evaluation` of the batch (leading axis B).

    Raises:
        ValueError: genomes not [B, D] with D the policy's genome size, or
            `frames` outside [1, episode_length].
    """
    policy = task.default_policy() if policy is None else policy
    genomes = jnp.asarray(genomes, jnp.float32)
    if genomes.ndim != 2 or genomes.shape[1] != policy.genome_size:
        raise ValueError(
            f"genomes must have shape [batch, {policy.genome_size}] for {task!r}, got {tuple(genomes.shape)}"
        )
    task.spec.frame_steps(frames)  # validates, before compiling
    fn = _compiled(task, policy, bool(with_observation), int(frames))
    if devices is None or len(devices) <= 1:
        return fn(genomes, key)
    n = genomes.shape[0]
    pad = (-n) % len(devices)
    if pad:
        genomes = jnp.concatenate([genomes, jnp.repeat(genomes[:1], pad, axis=0)])
    out = fn(jax.device_put(genomes, batch_sharding(devices)), key)
    return jax.tree.map(lambda x: x[:n], out) if pad else out
