"""SERENE: each mechanism with hand-made states, then the algorithm doing its job.

Mechanism tests hand SERENE a pipeline whose evaluator is a genome -> outcome
function (fast and fully controlled; `tests.qd.algorithms.pipelines`): the
"final position" is the first two genes, and the reward disc is centred at
(2, 2) with radius 1.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd.algorithms.serene.pool import ACTIVE, CANDIDATE, EMPTY
from qd import algorithms as algorithm
from qd.algorithms.serene import history as emitter_history
from qd.algorithms import novelty_search
from qd.algorithms.serene import algorithm as serene
from qd.pipeline import Pipeline
from representations.ground_truth import GroundTruth
from tasks.spec import RewardArea
from tests.qd.algorithms.pipelines import GenomeOutcome, genome_outcome_pipeline, serene_config

SMALL = dict(ns_population_size=10, ns_offspring_per_parent=2, k=3, archive_capacity=500, emitter_capacity=8,
             emitters_per_step=2, chunk_size=100, reward_archive_capacity=500, history_capacity=64)
# The genome size of the reference controller on PointTask (2-3-2).
GENOME_SIZE = 14


def _state(**overrides):
    config = serene_config(**{**SMALL, **overrides})
    return serene.init(config, genome_outcome_pipeline(GENOME_SIZE), jax.random.PRNGKey(0))


def test_initial_sigma_is_a_third_of_the_nearest_other_genome():
    genomes = jnp.array([[0.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    sigma = serene.initial_sigma(genomes[:2], genomes, jnp.array([0, 1]))
    # Row 0's nearest other genome is row 2 (distance 0) -> fallback 0.05.
    np.testing.assert_allclose(sigma, [0.05, 1.0])
    sigma = serene.initial_sigma(genomes[1:2], genomes[:2], jnp.array([1]), divisor=3.0)
    np.testing.assert_allclose(sigma, [1.0])


def _with_slots(state, statuses, improvement=None, ancestor_xy=None, n_values=None):
    pool = state.pool
    e = pool.capacity
    status = jnp.array(statuses + [EMPTY] * (e - len(statuses)), jnp.int32)
    emitters = pool.emitters
    if improvement is not None:
        emitters = emitters.replace(improvement=emitters.improvement.at[: len(improvement)].set(jnp.array(improvement)))
    if n_values is not None:
        emitters = emitters.replace(n_values=emitters.n_values.at[: len(n_values)].set(jnp.array(n_values)))
    payload = pool.ancestor_payload
    if ancestor_xy is not None:
        xy = jnp.array(ancestor_xy, jnp.float32)
        payload = payload.replace(
            descriptor=payload.descriptor.at[: len(xy)].set(xy),
            gt_descriptor=payload.gt_descriptor.at[: len(xy)].set(xy),
            reward_area=payload.reward_area.at[: len(xy)].set(0),
        )
    return state.replace(pool=pool.replace(status=status, emitters=emitters, ancestor_payload=payload))


def _reward_archive_at(state, points):
    from qd.archives.entries import Entries

    pts = jnp.array(points, jnp.float32)
    n = pts.shape[0]
    d = state.reward_archive.genomes.shape[1]
    entries = Entries(genome=jnp.zeros((n, d)), descriptor=pts, gt_descriptor=pts, reward=jnp.ones(n),
                      reward_area=jnp.zeros(n, jnp.int32), features=pts)
    from qd.archives import novelty as novelty_archive

    ra = novelty_archive.init(100, d, 2, 2)
    ra, _ = novelty_archive.insert(ra, entries)
    return state.replace(reward_archive=ra)


def test_choice_priorities_bootstrap_then_new_candidates_by_novelty_then_emitters():
    state = _state(emitters_per_step=3)
    state = _reward_archive_at(state, [[0.0, 0.0]] * 3)
    # slot 0: active emitter; 1: candidate far from the reward archive; 2: candidate
    # near it; 3: candidate mid-bootstrap.
    state = _with_slots(
        state, [ACTIVE, CANDIDATE, CANDIDATE, CANDIDATE], improvement=[0.5, 0, 0, 0],
        ancestor_xy=[[0.1, 0.1], [0.9, 0.9], [0.2, 0.2], [0.5, 0.5]], n_values=[8, 0, 0, 2],
    )
    slots, chosen = serene.choose(state, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(slots, [3, 1, 2])
    assert bool(chosen.all())
    # No new bootstrap once a third of the chunk or less is left.
    late = state.replace(scheduler=state.scheduler.replace(chunk_spent=jnp.asarray(70)))
    slots, chosen = serene.choose(late, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(slots)[np.asarray(chosen)], [3, 0])


def test_emitter_choice_is_uniform_on_the_pareto_front():
    state = _state(emitters_per_step=1)
    state = _reward_archive_at(state, [[0.0, 0.0]] * 3)
    # (novelty w.r.t. reward archive, improvement): A far/low, B near/high, C near/low (dominated by both).
    state = _with_slots(
        state, [ACTIVE, ACTIVE, ACTIVE], improvement=[0.1, 0.9, 0.05],
        ancestor_xy=[[0.9, 0.9], [0.1, 0.1], [0.05, 0.05]], n_values=[8, 8, 8],
    )
    picks = [int(serene.choose(state, jax.random.PRNGKey(i))[0][0]) for i in range(60)]
    counts = np.bincount(picks, minlength=3)
    assert counts[2] == 0 and counts[0] > 10 and counts[1] > 10
    # An emitter already chosen in this chunk is kept (the paper's sequential turn).
    kept = state.replace(current=state.current.at[2].set(True))
    assert int(serene.choose(kept, jax.random.PRNGKey(0))[0][0]) == 2


def test_emitters_are_ordered_by_pareto_front_not_by_domination_count():
    state = _state(emitters_per_step=5)
    state = _reward_archive_at(state, [[0.0, 0.0]] * 3)  # novelty = distance to the origin
    # (novelty, improvement): front 0 = A (5, 5), B1 (2, 6), B2 (1.5, 7); front 1 = X (4.5, 1)
    # dominated by A only, Z (1, 4.5) dominated by A, B1, B2; front 2 = Y (4, 0.5) dominated
    # by A and X. By domination count Y (2) comes before Z (3); by front Z (1) before Y (2).
    novelty = [5.0, 2.0, 1.5, 4.5, 1.0, 4.0]
    improvement = [5.0, 6.0, 7.0, 1.0, 4.5, 0.5]
    state = _with_slots(
        state, [ACTIVE] * 6, improvement=improvement, ancestor_xy=[[n, 0.0] for n in novelty], n_values=[8] * 6,
    )
    for i in range(5):
        slots, chosen = serene.choose(state, jax.random.PRNGKey(i))
        assert bool(chosen.all())
        assert set(np.asarray(slots)[:3].tolist()) == {0, 1, 2}  # front 0 first, in any order
        assert set(np.asarray(slots)[3:].tolist()) == {3, 4}  # then front 1; Y (slot 5) waits


def _run(state, steps, seed=1):
    step = jax.jit(serene.step)
    rows = []
    for i in range(steps):
        state, metrics = step(state, jax.random.PRNGKey(seed * 1000 + i))
        rows.append({k: float(v) for k, v in metrics.items()})
    return state, rows


def test_budget_is_exact_and_split_between_phases_and_areas():
    state = _state(init_std=1.5)
    state, rows = _run(state, 40)
    evals = [r["evaluations"] for r in rows]
    assert rows[-1]["evaluations"] == int(state.evaluations)
    # Three independent counts agree: the scheduler's phase split, the number of
    # exploring steps (20 evaluations each), and what every emitter says it spent
    # (ended ones in the history, the others still in the pool).
    exploring_steps = sum(r["exploring"] == 1 for r in rows)
    assert rows[-1]["explore_evaluations"] == 20 * exploring_steps
    hist = emitter_history.rows(state.history)
    in_pool = np.asarray(state.pool.emitters.evaluations)[np.asarray(state.pool.status) != EMPTY]
    assert rows[-1]["exploit_evaluations"] == hist["evaluations"].sum() + in_pool.sum()
    assert 10 + 20 * exploring_steps + hist["evaluations"].sum() + in_pool.sum() == int(state.evaluations)
    assert rows[-1]["exploit_evaluations"] > 0, "a reward was found, emitters must have run"
    assert rows[-1]["exploit_area0_evaluations"] == rows[-1]["exploit_evaluations"]
    steps = np.diff([10.0] + evals)
    exploit_steps = steps[[r["exploring"] == 0 for r in rows]]
    # NS generations cost 20; emitter steps 12 per stepping emitter, 6 for an initial population.
    assert set(steps[[r["exploring"] == 1 for r in rows]]) == {20}
    assert all(s % 6 == 0 and 0 < s <= 24 for s in exploit_steps)


def test_candidates_are_bootstrapped_then_promoted_or_discarded():
    state = _state(init_std=1.5)
    state, rows = _run(state, 60)
    hist = emitter_history.rows(state.history)
    created = rows[-1]["emitters_created"]
    assert created > 0
    # Every judged candidate spent exactly 6 + 5 x 12 evaluations before the verdict.
    discarded = hist["outcome"] == emitter_history.DISCARDED
    assert np.all(hist["evaluations"][discarded] == 66)
    assert np.all(hist["improvement"][discarded] == 0)
    promoted = np.asarray(state.pool.status) == ACTIVE
    assert promoted.any() or (hist["outcome"] == emitter_history.STAGNATED).any()
    # Promotion requires a strictly positive improvement (the estimate itself is clamped at 0).
    assert np.all(np.asarray(state.pool.emitters.improvement)[promoted] > 0)


def test_serene_improves_the_reward_found_by_novelty_search():
    """At equal budget, the emitters push the reward of the area far beyond
    what novelty search alone reaches."""
    budget = 3000
    state = _state(init_std=1.5)
    step = jax.jit(serene.step)
    i = 0
    while int(state.evaluations) < budget:
        state, metrics = step(state, jax.random.PRNGKey(i))
        i += 1
    serene_best = float(metrics["area0_max_reward"])

    ns = novelty_search.init(state.config.ns, state.pipeline, jax.random.PRNGKey(0))
    ns_step = jax.jit(novelty_search.step)
    i = 0
    while int(ns.evaluations) < budget:
        ns, ns_metrics = ns_step(ns, jax.random.PRNGKey(i))
        i += 1
    ns_best = float(ns_metrics["area0_max_reward"])
    assert serene_best > 0.9 and serene_best > ns_best + 0.1, (serene_best, ns_best)
    assert int(state.reward_archive.size) > 1


def test_stagnated_emitter_hands_its_ancestor_and_novel_agents_over():
    state = _state(emitters_per_step=1, stagnation_window=2, stagnation_offset=4, stagnation_scale=0.0)
    config = state.config
    # One active emitter whose flat history has run past B = 4 rows.
    history = config.emitter.history_length(state.pool.ancestor.shape[1])
    assert history == 4
    emitters = state.pool.emitters
    emitters = emitters.replace(
        n_values=emitters.n_values.at[0].set(10),
        values=emitters.values.at[0].set(0.5),
        novel_novelty=emitters.novel_novelty.at[0].set(jnp.array([3.0, 2.0, -jnp.inf, -jnp.inf, -jnp.inf])),
        genomes=emitters.genomes.at[0].set(0.0),
        ancestor_novelty=emitters.ancestor_novelty.at[0].set(1e9),  # no new agent enters the buffer
    )
    state = state.replace(
        pool=state.pool.replace(status=state.pool.status.at[0].set(ACTIVE), emitters=emitters,
                                ident=state.pool.ident.at[0].set(7)),
        scheduler=state.scheduler.replace(exploring=jnp.asarray(False)),
    )
    ra_before, ns_before = int(state.reward_archive.size), int(state.ns.archive.size)
    state, _ = jax.jit(serene.step)(state, jax.random.PRNGKey(0))
    assert int(state.pool.status[0]) == EMPTY
    hist = emitter_history.rows(state.history)
    assert list(hist["ident"]) == [7] and hist["outcome"][0] == emitter_history.STAGNATED
    assert int(state.reward_archive.size) == ra_before + 1  # the ancestor (the flat population beats nothing)
    assert int(state.ns.archive.size) == ns_before + 2  # its two novel agents


def test_exploitation_with_nothing_to_exploit_falls_back_to_exploration():
    state = _state(init_std=0.1)  # every agent far from the reward disc: no candidate
    assert int(state.reward_archive.size) == 0
    state = state.replace(scheduler=state.scheduler.replace(exploring=jnp.asarray(False)))
    state, metrics = jax.jit(serene.step)(state, jax.random.PRNGKey(0))
    assert float(metrics["exploring"]) == 1.0
    assert int(state.evaluations) == 10 + 20


def test_ucb_counts_an_exploitation_chunk_with_nothing_to_exploit():
    from qd.algorithms.serene import schedulers

    state = _state(scheduler_kind="ucb", init_std=0.1)  # no agent near the reward: nothing to exploit
    state = state.replace(scheduler=state.scheduler.replace(exploring=jnp.asarray(False)))
    state, metrics = jax.jit(serene.step)(state, jax.random.PRNGKey(0))
    assert float(metrics["exploring"]) == 1.0
    np.testing.assert_array_equal(state.scheduler.chunks, [0, 1])
    # Counted by UCB as a tried exploitation chunk without progress (no longer untried).
    assert float(state.scheduler.arm_counts[schedulers.EXPLOIT]) == 1.0
    assert float(state.scheduler.arm_gains[schedulers.EXPLOIT]) == 0.0


@pytest.mark.parametrize("kind", ["cma", "novelty"])
def test_other_emitter_kinds_run_and_account_exactly(kind):
    state = _state(init_std=1.5, emitter_kind=kind)
    state, rows = _run(state, 30)
    assert rows[-1]["explore_evaluations"] + rows[-1]["exploit_evaluations"] + 10 == rows[-1]["evaluations"]
    assert rows[-1]["exploit_evaluations"] > 0


def test_registered_with_extras():
    algo = algorithm.get("serene")
    state = _state(init_std=1.5)
    state, _ = _run(state, 30)
    extras = algo.extras(state)
    assert extras["reward_archive/reward"].shape[0] == int(state.reward_archive.size) > 0
    assert (extras["reward_archive/reward"] > 0).all()
    n = len(extras["emitters/ident"])
    assert all(len(extras[f"emitters/{f}"]) == n for f in emitter_history.FIELDS)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="emitter kind must be one of fitness, novelty, cma"):
        serene_config(emitter_kind="cmaes")
    with pytest.raises(ValueError, match="scheduler kind must be one of"):
        serene_config(scheduler_kind="round_robin")
    with pytest.raises(ValueError, match="emitters_per_step"):
        serene_config(emitters_per_step=100, emitter_capacity=64)


@dataclasses.dataclass(frozen=True)
class WideDisc(GenomeOutcome):
    """The genome -> outcome task with one wide reward disc (radius 2 around
    (1, 1)) that novelty search keeps sampling while it spreads out from the
    origin; reward 1 - d / 2 inside."""

    centre: tuple = (1.0, 1.0)
    radius: float = 2.0

    @property
    def spec(self):
        return dataclasses.replace(super().spec, reward_areas=(RewardArea(self.centre, self.radius),))

    def __call__(self, genomes, key):
        evaluation = super().__call__(genomes, key)
        d = jnp.linalg.norm(genomes[:, :2] - jnp.asarray(self.centre), axis=1)
        inside = d < self.radius
        return evaluation.replace(reward=jnp.where(inside, 1.0 - d / self.radius, 0.0),
                                  reward_area=jnp.where(inside, 0, -1).astype(jnp.int32))


def _wide_state(**overrides):
    evaluator = WideDisc(GENOME_SIZE)
    pipe = Pipeline(evaluator, GroundTruth(evaluator.spec, GroundTruth.Config()))
    return serene.init(serene_config(**{**SMALL, "init_std": 1.0, **overrides}), pipe, jax.random.PRNGKey(0))


def test_emitters_per_area_caps_the_candidates_best_rewarded_first():
    capped = _wide_state()  # the default cap: 3 per area
    cap = capped.config.emitters_per_area
    assert cap == 3
    population = capped.ns.population
    rewarded = np.asarray(capped.ns.population_valid & (population.reward > 0))
    assert rewarded.sum() > cap, "the test needs more rewarded agents than the cap"
    taken = np.asarray(capped.pool.status) != EMPTY
    assert taken.sum() == cap
    best = np.sort(np.asarray(population.reward)[rewarded])[-cap:]
    np.testing.assert_allclose(np.sort(np.asarray(capped.pool.ancestor_payload.reward)[taken]), best)
    # The cap limits candidates only: every rewarded agent joins the reward archive.
    assert int(capped.reward_archive.size) == rewarded.sum()
    uncapped = _wide_state(emitters_per_area=0)
    assert (np.asarray(uncapped.pool.status) != EMPTY).sum() == min(rewarded.sum(), uncapped.pool.capacity)


def test_emitters_raise_the_area_reward_faster_per_evaluation_spent_there_than_novelty_search():
    """From the same state (the area found, the emitters about to start),
    SERENE's emitters raise the area's best reward more per evaluation spent
    on it than novelty search does per evaluation it ends in the area."""
    spent = 60
    state = _wide_state()
    step = jax.jit(serene.step)
    i = 0
    while bool(state.scheduler.exploring):  # the first exploration chunk
        state, _ = step(state, jax.random.PRNGKey(i))
        i += 1
    areas = state.ns.tracker.areas
    assert bool(areas.found[0]) and int(state.pool.next_ident) > 0
    start = float(areas.max_reward[0])

    ns, ns_spent, ns_best = state.ns, 0, start  # novelty search goes on alone from here
    ns_step = jax.jit(novelty_search.step)
    while ns_spent < spent:
        ns, metrics = ns_step(ns, jax.random.PRNGKey(1000 + i))
        i += 1
        ns_spent = int(metrics["area0_evaluations"]) - int(areas.count[0])
        ns_best = float(metrics["area0_max_reward"])
        assert int(ns.evaluations) < 40 * spent, "novelty search must spend evaluations in the area"
    em_spent, em_best = 0, start  # SERENE goes on from the same state
    while em_spent < spent:
        state, metrics = step(state, jax.random.PRNGKey(i))
        i += 1
        em_spent = int(metrics["exploit_area0_evaluations"])
        # However many rewarded agents novelty search finds, the area never holds more than the cap.
        assert int(metrics["emitters_active"] + metrics["emitter_candidates"]) <= state.config.emitters_per_area
        em_best = max(start, float(metrics["exploit_area0_best_reward"]))
    per_evaluation = ((em_best - start) / em_spent, (ns_best - start) / ns_spent)
    assert per_evaluation[0] > 2 * per_evaluation[1] and em_best - start > 0.05, (start, em_best, ns_best,
                                                                                  em_spent, ns_spent)
