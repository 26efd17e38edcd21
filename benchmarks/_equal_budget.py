"""What the equal-budget comparisons (`exploration.py`, `rl_exploration.py`)
share: `--set ALGO.FIELD=VALUE` overrides, one run to a budget of episodes,
and the per-area cells of their tables.
"""
import time

import jax
import numpy as np
import yaml

from qd import algorithms as algorithm
from runs.loop import step_ready
from runs.typed import from_plain


def parse_overrides(items: list, algorithms: list, error) -> dict:
    """{algo: {field: value}} from `ALGO.FIELD=VALUE` items (values parsed as
    YAML); nested config sections take one more dot (`serene.ns.k=10`).

    Args:
        items: the `--set` arguments.
        algorithms: the algorithms being compared.
        error: called with a message on a bad item (`parser.error`).
    """
    overrides: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        name, _, field = key.partition(".")
        if name not in algorithms or not field:
            error(f"--set {item}: expected ALGO.FIELD=VALUE with ALGO one of {algorithms}")
        node = overrides.setdefault(name, {})
        *sections, last = field.split(".")
        for section in sections:  # nested config sections (SERENE's ns, emitter, scheduler)
            node = node.setdefault(section, {})
        node[last] = yaml.safe_load(value)
    return overrides


def run(name: str, pipeline, budget: int, seed: int, overrides: dict, prior=None) -> tuple[dict, object]:
    """Runs algorithm `name` until `budget` episodes are spent.

    As `divergent run` builds and steps it: the config from nested mappings
    (values checked and coerced, unknown keys named), a jitted `init`, a
    jitted `step` that donates its state. `prior` is handed to `init` (seeded
    SAC's (genomes, rewards)).

    Returns:
        The last generation's scalar metrics with `algorithm`, `seed` and
        `seconds` (stepping only), and the final state.
    """
    algo = algorithm.get(name)
    fields = dict(overrides.get(name, {}))
    extra = {}
    if prior is not None:
        fields.setdefault("prior", "(in memory)")
        extra["prior"] = prior
    config = from_plain(algo.config_cls, fields, name)
    init = jax.jit(algo.init, static_argnums=(0, 1), static_argnames=("budget",))
    state = step_ready(init(config, pipeline, jax.random.PRNGKey(seed), budget=budget, **extra))
    step = jax.jit(algo.step, donate_argnums=0)
    base = jax.random.PRNGKey(seed + 10_000)
    generation = 0
    start = time.perf_counter()
    while True:  # at least one generation, even when `init` spent the budget
        state, metrics = step(state, jax.random.fold_in(base, generation))
        generation += 1
        if int(state.evaluations) >= budget:
            break
    row = {k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}
    row.update(algorithm=name, seed=seed, seconds=time.perf_counter() - start)
    return row, state


def area_header(n_areas: int) -> str:
    return " | ".join(f"area {i} found (median episodes to first) | area {i} max reward" for i in range(n_areas))


def area_cells(rows: list, n_areas: int) -> list:
    """Per reward area of one algorithm's rows (one per seed): the seeds that
    found it (with the median episodes to the first find) and the best reward
    mean +- std (0 for a seed that did not find it)."""
    cells = []
    for i in range(n_areas):
        found = [r for r in rows if r[f"area{i}_found"] > 0]
        firsts = [r[f"area{i}_first_found"] for r in found]
        median = f" ({np.median(firsts):,.0f})" if firsts else ""
        cells.append(f"{len(found)}/{len(rows)}{median}")
        best = np.array([r[f"area{i}_max_reward"] for r in rows])
        cells.append(f"{best.mean():.3f} +- {best.std():.3f}")
    return cells
