"""SERENE against novelty search on a real task (slow: `pytest -m slow`).

The small version of the benchmark in benchmarks/README.md ("SERENE vs
novelty search"): on Curling, at equal budget, SERENE finds both reward
areas, its emitters push the reward higher than novelty search alone, and it
explores as widely (coverage of every evaluated exploration policy).
"""
import jax
import numpy as np
import pytest

import tasks
from qd import algorithms as algorithm
from tests.qd.algorithms.pipelines import pipeline_of

BUDGET = 50_000


def run(name: str, task, seed: int) -> dict:
    algo = algorithm.get(name)
    state = algo.init(algo.config_cls(), pipeline_of(task), jax.random.PRNGKey(seed))
    step = jax.jit(algo.step)
    generation = 0
    while int(state.evaluations) < BUDGET:
        state, metrics = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), generation))
        generation += 1
    return {k: float(v) for k, v in metrics.items()}


@pytest.mark.slow
def test_serene_exploits_the_curling_areas_beyond_novelty_search():
    task = tasks.make("curling")
    serene, ns = run("serene", task, 0), run("ns", task, 0)
    n_areas = len(task.spec.reward_areas)
    assert serene["areas_found"] == n_areas
    best = lambda r: np.array([r[f"area{i}_max_reward"] for i in range(n_areas)])  # noqa: E731
    assert np.all(best(serene) > 0.97), best(serene)
    assert best(serene).mean() > best(ns).mean(), (best(serene), best(ns))
    assert serene["explored_coverage"] >= 0.9 * ns["explored_coverage"]
    assert serene["exploit_evaluations"] > 0.3 * BUDGET  # the emitters did get the budget
