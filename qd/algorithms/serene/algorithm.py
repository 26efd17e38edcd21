"""SERENE: novelty search that hands the reward areas it finds to emitters.

Paolo, Coninx, Doncieux, Laflaquiere 2021, "Sparse Reward Exploration via
Novelty Search and Emitters", GECCO (arXiv:2102.03140), following its
reference code (docs/reference.md). A meta-scheduler (`qd.schedulers`) splits the
budget into chunks of 1000 evaluations that alternate between:

- exploration: novelty search (`qd.algorithms.novelty_search.advance`) whose novelty
  also counts the reward archive. Every new NS agent with reward > 0 joins
  the reward archive and becomes a *candidate emitter* with
  sigma0 = (min genome distance to the other parents and offspring) / 3;
- exploitation: emitters (`local_emitters`, kept in an emitter `pool`).
  Candidates are bootstrapped first (6 + 5 x 12 evaluations each), the most
  novel w.r.t. the reward archive first, while more than a third of the chunk
  is left; a candidate whose improvement is > 0 is promoted, else dropped.
  Then emitters are chosen uniformly from the Pareto front of (novelty of
  their ancestor w.r.t. the reward archive, improvement) and run until the
  chunk ends or they stagnate. A stopped emitter's ancestor joins the reward
  archive and up to 5 of its most novel agents join the NS archive.

The defaults exploit harder than the paper (issue 16, measured in
benchmarks/README.md): elitist emitters adapt their step (1/5th success rule,
`local_emitters.adapt_sigma`), stop after `emitter.patience` steps without a
better reward, and at most `emitters_per_area` candidates and emitters work on
one reward area at once (`_area_room`). The paper's SERENE is the
`serene-<task>-reference` presets.

Vectorised: `emitters_per_step` emitters step together under `vmap` (one
rollout of their offspring); with 1 this is the paper's one-emitter-at-a-time
schedule. Every chosen emitter is kept until the chunk ends (or it stops),
like the reference's single emitter. Budget accounting is exact: only real
evaluations count (an elitist emitter's first step evaluates 6 of its 12
rows). Improvements are re-estimated when a chunk ends, for the emitters that
stepped in it (a candidate promoted in it already has its improvement).

Deviations from the reference code, all small: the candidates' novelty order
is recomputed every step (the reference sorts once per chunk); the NS
reference set of emitter agents is parents + archive + reward archive
(the reference also has the last offspring); a candidate bootstrap cut by the
end of a chunk resumes in the next exploitation chunk (the reference finishes
it past the chunk's budget).
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from qd import pareto, refit, tracker
from qd.algorithms import novelty_search
from qd.algorithms.base import Algorithm, register
from qd.algorithms.serene import gradient_emitter
from qd.algorithms.serene import history as emitter_history
from qd.algorithms.serene import local_emitters as local
from qd.algorithms.serene import pool as pool_mod
from qd.algorithms.serene import schedulers
from qd.algorithms.serene.config import SereneConfig
from qd.algorithms.serene.pool import ACTIVE, CANDIDATE
from qd.archives import novelty as novelty_archive
from qd.archives.entries import Entries
from qd.novelty import knn_novelty, knn_novelty_union
from qd.pipeline import Pipeline

__all__ = ["SereneConfig", "SereneState", "init", "step", "archive", "extras"]


@struct.dataclass
class SereneState:
    """SERENE's state.

    Attributes:
        ns: the novelty search (population, NS archive, budget tracker, the
            representation's parameters).
        reward_archive: every rewarded agent handed over (a novelty archive).
        pool: candidate and active emitters.
        current: [E] bool, active emitters chosen in the current chunk (kept
            until it ends, then their improvement is re-estimated).
        scheduler: the meta-scheduler.
        history: log of ended emitters.
        exploit_area_evaluations: [A + 1] emitter evaluations by their
            ancestor's reward area (last: none).
        phase_area_best: [2, A] best reward reached in each reward area by
            exploration (row `schedulers.EXPLORE`: novelty search) and by
            exploitation (row `schedulers.EXPLOIT`: the emitters), 0 where
            none reached it; shows whether emitters pay off.
        config, pipeline: static.
    """

    ns: novelty_search.NoveltySearchState
    reward_archive: novelty_archive.NoveltyArchive
    pool: pool_mod.EmitterPool
    current: jax.Array
    scheduler: schedulers.SchedulerState
    history: emitter_history.EmitterHistory
    exploit_area_evaluations: jax.Array
    phase_area_best: jax.Array
    config: SereneConfig = struct.field(pytree_node=False)
    pipeline: Pipeline = struct.field(pytree_node=False)

    @property
    def evaluations(self) -> jax.Array:
        return self.ns.tracker.evaluations


def init(config: SereneConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> SereneState:
    """Evaluates the initial NS population; its rewarded agents become candidates.

    Args:
        config: the settings.
        pipeline: evaluates and describes genomes.
        key: PRNG key.
        budget: the run's total evaluations (needed by the "time" scheduler).
    """
    k_ns, k_cand = jax.random.split(key)
    ns = novelty_search.init(config.ns, pipeline, k_ns)
    payload_row = jax.tree.map(lambda x: x[0], ns.population)
    capacity = config.emitter_capacity
    state = SereneState(
        ns=ns,
        reward_archive=pipeline.novelty_archive(config.reward_archive_capacity),
        pool=pool_mod.init(config.emitter, capacity, pipeline.genome_size, payload_row),
        current=jnp.zeros((capacity,), bool),
        scheduler=schedulers.init(config.scheduler, budget),
        history=emitter_history.init(config.history_capacity),
        exploit_area_evaluations=jnp.zeros((len(pipeline.spec.reward_areas) + 1,), jnp.int32),
        phase_area_best=jnp.zeros((2, len(pipeline.spec.reward_areas)), jnp.float32),
        config=config,
        pipeline=pipeline,
    )
    n = config.ns.population_size
    state = _note_best(state, schedulers.EXPLORE, ns.population, ns.population_valid)
    return _new_candidates(
        state, ns.population, ns.population_valid, ns.population.genome, jnp.arange(n),
        jnp.full((n,), -jnp.inf), k_cand,
    )


def initial_sigma(
    genomes: jax.Array, others: jax.Array, self_index: jax.Array, divisor: float = 3.0, fallback: float = 0.05
) -> jax.Array:
    """SERENE's sigma0: (min distance to the other genomes) / divisor, or the
    fallback where that distance is 0.

    Args:
        genomes: [N, D] the new ancestors.
        others: [M, D] the genomes of the population and offspring.
        self_index: [N] the row of each ancestor in `others` (excluded).
    """
    d2 = jnp.sum((genomes[:, None, :] - others[None, :, :]) ** 2, axis=-1)
    d2 = jnp.where(jnp.arange(others.shape[0])[None, :] == self_index[:, None], jnp.inf, d2)
    sigma = jnp.sqrt(jnp.min(d2, axis=1)) / divisor
    return jnp.where(sigma > 0, sigma, fallback)


def _new_candidates(state, entries: Entries, valid, genomes, self_index, novelty, key) -> SereneState:
    """Rewarded agents join the reward archive and become candidate emitters."""
    config = state.config
    rewarded = valid & (entries.reward > 0)
    # Every rewarded agent joins the reward archive; the cap only limits candidates.
    candidates = rewarded & _area_room(state, entries, rewarded) if config.emitters_per_area else rewarded
    sigma0 = initial_sigma(
        entries.genome, genomes, self_index, config.emitter.sigma0_divisor, config.emitter.sigma0_fallback
    )
    reward_archive, _ = novelty_archive.insert(
        state.reward_archive, entries, rewarded, generation=state.ns.tracker.generation
    )
    pool = pool_mod.add_candidates(
        state.pool, config.emitter, key, entries.genome, entries, sigma0, candidates, state.evaluations,
        ancestor_novelty=novelty,
    )
    return state.replace(reward_archive=reward_archive, pool=pool)


def _note_best(state: SereneState, phase: int, entries: Entries, counted: jax.Array) -> SereneState:
    """Raises `phase_area_best[phase]` to the best reward of the counted entries in each area."""
    n_areas = state.phase_area_best.shape[1]
    area = jnp.where(counted & (entries.reward_area >= 0), entries.reward_area, n_areas)  # n_areas: dropped
    row = state.phase_area_best[phase].at[area].max(entries.reward, mode="drop")
    return state.replace(phase_area_best=state.phase_area_best.at[phase].set(row))


def _area_room(state: SereneState, entries: Entries, rewarded: jax.Array) -> jax.Array:
    """[N] bool: the rewarded agents that fit under `emitters_per_area`, the
    best rewarded of each area first (ties: row order)."""
    n_areas = state.phase_area_best.shape[1]
    pool = state.pool
    pool_area = jnp.where(pool.status != pool_mod.EMPTY, pool.ancestor_payload.reward_area, -1)
    taken = jnp.sum(pool_area[None, :] == jnp.arange(n_areas)[:, None], axis=1)  # [A]
    area = entries.reward_area
    n = area.shape[0]
    rows = jnp.arange(n)
    ahead = (
        rewarded[None, :] & (area[None, :] == area[:, None])
        & ((entries.reward[None, :] > entries.reward[:, None])
           | ((entries.reward[None, :] == entries.reward[:, None]) & (rows[None, :] < rows[:, None])))
    )
    rank = jnp.sum(ahead, axis=1)
    # An agent rewarded outside every known area (-1) is not capped.
    room = taken[jnp.clip(area, 0, n_areas - 1)] + rank < state.config.emitters_per_area
    return jnp.where(area >= 0, room, True)


def _reward_reference(state: SereneState):
    return (state.reward_archive.descriptors, state.reward_archive.mask)


def _explore(state: SereneState, key: jax.Array) -> SereneState:
    """One novelty-search generation; new rewarded offspring become candidates."""
    k_ns, k_cand = jax.random.split(key)
    ns, gen = novelty_search.advance(state.ns, k_ns, extra_references=[_reward_reference(state)])
    n_parents = gen.parents.reward.shape[0]
    others = jnp.concatenate([gen.parents.genome, gen.offspring.genome])
    self_index = n_parents + jnp.arange(gen.offspring.reward.shape[0])
    state = _note_best(state.replace(ns=ns), schedulers.EXPLORE, gen.offspring, gen.evaluation.valid)
    return _new_candidates(
        state, gen.offspring, gen.evaluation.valid, others, self_index, gen.offspring_novelty, k_cand
    )


def _exploitable(state: SereneState):
    """Per slot: (bootstrap in progress, new candidate allowed, active)."""
    config, pool = state.config, state.pool
    chunk = config.scheduler.chunk_size
    left = chunk - state.scheduler.chunk_spent
    in_progress = (pool.status == CANDIDATE) & (pool.emitters.n_values > 0)
    # The reference starts no new bootstrap once a third of the chunk is left.
    new = (pool.status == CANDIDATE) & (pool.emitters.n_values == 0) & (3 * left > chunk)
    return in_progress, new, pool.status == ACTIVE


def choose(state: SereneState, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The slots that step next: `emitters_per_step` of them, in priority order.

    Candidates whose bootstrap is under way first, then new candidates by
    decreasing novelty of their ancestor w.r.t. the reward archive, then the
    emitters already chosen in this chunk, then the others by Pareto front of
    (ancestor novelty w.r.t. the reward archive, improvement), uniformly at
    random within a front.

    Returns:
        slots [M] int32 and a [M] bool mask of the ones that really step.
    """
    config, pool = state.config, state.pool
    in_progress, new, active = _exploitable(state)
    current = active & state.current
    novelty = knn_novelty(
        pool.ancestor_payload.descriptor, state.reward_archive.descriptors, state.reward_archive.mask, k=config.ns.k
    )
    others = active & ~current
    # Non-dominated sorting (front 0 first), as the reference does.
    front = pareto.front_ranks(jnp.stack([novelty, pool.emitters.improvement], axis=1), mask=others)
    tier = jnp.select([in_progress, new, current, others], [0, 1, 2, 3], 9)
    # Front indices are integers, so noise in [0, 1) orders a front uniformly at random.
    within = jnp.where(new, -novelty, jnp.where(others, front + jax.random.uniform(key, novelty.shape), 0.0))
    order = jnp.lexsort((within, tier))
    slots = order[: config.emitters_per_step]
    return slots, tier[slots] < 9


def _exploit(state: SereneState, key: jax.Array) -> SereneState:
    """One step of the chosen emitters (one rollout for all of them)."""
    config, pipeline = state.config, state.pipeline
    k_choose, k_ask, k_eval = jax.random.split(key, 3)
    slots, chosen = choose(state, k_choose)
    m, b = config.emitters_per_step, config.emitter.batch_size

    emitters = pool_mod.gather(state.pool, slots)
    genomes, counted = pool_mod.ask(config.emitter, emitters, k_ask)
    counted = counted & chosen[:, None]
    flat = genomes.reshape(m * b, -1)
    ns = state.ns
    if config.emitter.kind == "gradient" and config.emitter.gradient_estimator == "reinforce":
        std = jnp.tile(jnp.asarray(gradient_emitter.action_std(config.emitter)), m)
        evaluation, entries = pipeline.evaluate_stochastic(flat, k_eval, ns.representation, std)
        # A noisy rollout's outcome is no genome's: it is budget, not a reward found.
        greedy = std == 0
        tracked = evaluation.replace(
            reward=jnp.where(greedy, evaluation.reward, 0.0),
            reward_area=jnp.where(greedy, evaluation.reward_area, -1),
        )
    else:
        evaluation, entries = pipeline.evaluate(flat, k_eval, ns.representation)
        tracked = evaluation
    novelty = knn_novelty_union(
        entries.descriptor,
        [(ns.population.descriptor, ns.population_valid), (ns.archive.descriptors, ns.archive.mask),
         _reward_reference(state)],
        k=config.ns.k,
    )
    per_emitter = lambda x: x.reshape((m, b) + x.shape[1:])  # noqa: E731
    told = pool_mod.tell(
        config.emitter, emitters, genomes, counted, per_emitter(evaluation.reward), per_emitter(novelty),
        per_emitter(evaluation.valid), jax.tree.map(per_emitter, entries),
        None if evaluation.log_prob_grad is None else per_emitter(evaluation.log_prob_grad),
    )
    offered, told = jax.vmap(local.reward_archive_offer)(told)
    offered = offered & chosen[:, None]
    counters = tracker.next_generation(
        tracker.observe(ns.tracker, pipeline.spec, tracked, counted=counted.reshape(-1), exploration=False)
    )
    flat_pop = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), told.payload)
    reward_archive, _ = novelty_archive.insert(
        state.reward_archive, flat_pop, offered.reshape(-1), generation=counters.generation
    )

    # Judge finished bootstraps; stop stagnated emitters.
    status = state.pool.status[slots]
    judged = chosen & (status == CANDIDATE) & (told.n_values >= config.emitter.bootstrap_steps)
    improved = jax.vmap(lambda s: local.with_improvement(config.emitter, s))(told)
    told = jax.tree.map(lambda new, old: jnp.where(_rows_mask(judged, new), new, old), improved, told)
    promoted = judged & (told.improvement > 0)
    stopped = chosen & (status == ACTIVE) & jax.vmap(lambda s: local.stagnated(config.emitter, s))(told)
    ended = (judged & ~promoted) | stopped

    pool = pool_mod.scatter(state.pool, slots, chosen, told)
    target = jnp.where(chosen, slots, pool.capacity)
    pool = pool.replace(status=pool.status.at[target].set(jnp.where(promoted, ACTIVE, status), mode="drop"))
    ancestors = jax.tree.map(lambda x: x[slots], pool.ancestor_payload)
    final_improvement = jax.vmap(lambda s: local.improvement(config.emitter, s))(told)
    history = emitter_history.append(
        state.history, ended,
        ident=pool.ident[slots], area=ancestors.reward_area, created=pool.created[slots],
        ended=jnp.broadcast_to(counters.evaluations, (m,)), evaluations=told.evaluations, steps=told.n_values,
        improvement=jnp.where(stopped, final_improvement, told.improvement), best_reward=told.best_reward,
        outcome=jnp.where(stopped, emitter_history.STAGNATED, emitter_history.DISCARDED),
        ancestor_x=ancestors.gt_descriptor[:, 0], ancestor_y=ancestors.gt_descriptor[:, -1],
    )
    # A stopped emitter's ancestor joins the reward archive, its most novel agents the NS archive.
    reward_archive, _ = novelty_archive.insert(reward_archive, ancestors, stopped, generation=counters.generation)
    novel = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), told.novel_payload)
    novel_mask = (stopped[:, None] & jnp.isfinite(told.novel_novelty)).reshape(-1)
    ns_archive, _ = novelty_archive.insert(ns.archive, novel, novel_mask, generation=counters.generation)
    ended_slots = jnp.zeros((pool.capacity,), bool).at[jnp.where(ended, slots, pool.capacity)].set(True, mode="drop")
    pool = pool_mod.clear(pool, ended_slots)

    kept = jnp.zeros((pool.capacity,), bool).at[target].set(status == ACTIVE, mode="drop")
    spent = jnp.sum(counted, axis=1, dtype=jnp.int32)
    n_areas = state.exploit_area_evaluations.shape[0] - 1
    area = jnp.where(ancestors.reward_area >= 0, ancestors.reward_area, n_areas)
    state = _note_best(state, schedulers.EXPLOIT, entries, counted.reshape(-1) & evaluation.valid)
    return state.replace(
        ns=ns.replace(archive=ns_archive, tracker=counters),
        reward_archive=reward_archive,
        pool=pool,
        current=(state.current | kept) & ~ended_slots,
        history=history,
        exploit_area_evaluations=state.exploit_area_evaluations.at[area].add(jnp.where(chosen, spent, 0)),
    )


def _rows_mask(mask: jax.Array, leaf: jax.Array) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (leaf.ndim - 1))


def _progress(state: SereneState) -> tuple[jax.Array, jax.Array]:
    """(cells explored, summed best reward of the found areas): what the
    scheduler's gains are measured in."""
    areas = state.ns.tracker.areas
    best = jnp.sum(jnp.where(areas.found, areas.max_reward, 0.0))
    return jnp.sum(state.ns.tracker.explored, dtype=jnp.float32), best


def step(state: SereneState, key: jax.Array) -> tuple[SereneState, dict]:
    """One step of the phase the scheduler is in (an NS generation or an emitter step)."""
    config = state.config
    k_branch, k_sched = jax.random.split(key)
    sched_config = config.scheduler
    in_progress, new, active = _exploitable(state)
    nothing = ~jnp.any(in_progress | new | active)
    chunks_before = jnp.sum(state.scheduler.chunks)
    explore_chunks_before = state.scheduler.chunks[schedulers.EXPLORE]
    # Nothing to exploit: the exploitation chunk ends and exploration goes on.
    scheduler = jax.tree.map(
        lambda forced, kept: jnp.where(~state.scheduler.exploring & nothing, forced, kept),
        schedulers.force_explore(sched_config, state.scheduler), state.scheduler,
    )
    exploring = scheduler.exploring
    state = state.replace(scheduler=scheduler)
    before = state.evaluations
    explored_before, reward_before = _progress(state)
    state = jax.lax.cond(exploring, _explore, _exploit, state, k_branch)
    explored_after, reward_after = _progress(state)
    gain = jnp.where(exploring, explored_after - explored_before, reward_after - reward_before)
    scheduler = schedulers.record(
        sched_config, state.scheduler, state.evaluations - before, gain, k_sched, spent_total=state.evaluations
    )
    closed = jnp.sum(scheduler.chunks) > chunks_before
    # When a chunk ends, the active emitters that stepped in it re-estimate their improvement.
    reestimate = closed & state.current & (state.pool.status == ACTIVE)
    improved = jax.vmap(lambda s: local.with_improvement(config.emitter, s))(state.pool.emitters)
    emitters = jax.tree.map(
        lambda new_, old: jnp.where(_rows_mask(reestimate, new_), new_, old), improved, state.pool.emitters
    )
    state = state.replace(
        scheduler=scheduler,
        pool=state.pool.replace(emitters=emitters),
        current=state.current & ~closed,
    )
    # A learned representation is refitted on the schedule of closed exploration
    # chunks (the reference: after exploration chunks 1, 3, 6, 10, ...).
    explored_chunks = state.scheduler.chunks[schedulers.EXPLORE]
    state = refit.maybe_refit(
        state.pipeline, state, explored_chunks, key, ticked=explored_chunks > explore_chunks_before
    )
    return state, _metrics(state, exploring)


def _metrics(state: SereneState, exploring: jax.Array) -> dict:
    spec = state.pipeline.spec
    out = tracker.archive_report(state.ns.tracker, spec, state.ns.archive)
    pool = state.pool
    out.update(schedulers.summary(state.scheduler))
    out.update(
        exploring=exploring.astype(jnp.float32),
        reward_archive_size=state.reward_archive.size,
        emitters_active=jnp.sum(pool.status == ACTIVE, dtype=jnp.int32),
        emitter_candidates=jnp.sum(pool.status == CANDIDATE, dtype=jnp.int32),
        emitters_created=pool.next_ident,
        emitters_ended=state.history.size + state.history.overflow,
        emitter_overflow=pool.overflow,
        representation_fits=state.ns.representation.fits,
    )
    for i in range(len(spec.reward_areas)):
        out[f"exploit_area{i}_evaluations"] = state.exploit_area_evaluations[i]
        out[f"explore_area{i}_best_reward"] = state.phase_area_best[schedulers.EXPLORE, i]
        out[f"exploit_area{i}_best_reward"] = state.phase_area_best[schedulers.EXPLOIT, i]
    return out


def archive(state: SereneState):
    """The NS archive (what coverage is measured on)."""
    return novelty_search.archive(state.ns)


def extras(state: SereneState) -> dict[str, np.ndarray]:
    """What `divergent inspect` shows besides the archive: the reward archive
    (`reward_archive/<column>`) and the emitter history (`emitters/<column>`,
    ended emitters then the ones still in the pool, outcome "running")."""
    ra = state.reward_archive
    n = int(ra.size)
    out = {
        "reward_archive/genome": np.asarray(ra.genomes)[:n],
        "reward_archive/descriptor": np.asarray(ra.descriptors)[:n],
        "reward_archive/gt_descriptor": np.asarray(ra.gt_descriptors)[:n],
        "reward_archive/reward": np.asarray(ra.rewards)[:n],
        "reward_archive/reward_area": np.asarray(ra.reward_areas)[:n],
        "reward_archive/generation": np.asarray(ra.generations)[:n],
    }
    rows = emitter_history.rows(state.history)
    pool = state.pool
    live = np.asarray(pool.status) == ACTIVE
    ems = pool.emitters
    gt = np.asarray(pool.ancestor_payload.gt_descriptor)
    running = {
        "ident": np.asarray(pool.ident), "area": np.asarray(pool.ancestor_payload.reward_area),
        "created": np.asarray(pool.created), "ended": np.full(live.shape, int(state.evaluations)),
        "evaluations": np.asarray(ems.evaluations), "steps": np.asarray(ems.n_values),
        "improvement": np.asarray(ems.improvement), "best_reward": np.asarray(ems.best_reward),
        "outcome": np.full(live.shape, emitter_history.RUNNING), "ancestor_x": gt[:, 0], "ancestor_y": gt[:, -1],
    }
    for name in emitter_history.FIELDS:
        out[f"emitters/{name}"] = np.concatenate([rows[name], running[name][live].astype(rows[name].dtype)])
    return out


ALGORITHM = register(
    Algorithm(
        name="serene",
        config_cls=SereneConfig,
        init=init,
        step=step,
        archive=archive,
        evaluations_per_step=lambda config: config.ns.offspring,
        description="SERENE: novelty search + emitters exploiting the reward areas it finds (Paolo et al. 2021)",
        extras=extras,
    )
)
