"""What an algorithm keeps besides its archive (``extras.npz``, see
`qd.algorithms.Algorithm.extras`), summarised for `divergent inspect`.

extras.npz holds arrays named "<group>/<column>"; `runs.rundir.group_extras`
turns them into ``{group: {column: array}}``. The groups inspect knows are
SERENE's:

- ``reward_archive``: every rewarded agent handed to the reward archive
  (genome, descriptor, gt_descriptor, reward, reward_area, generation);
- ``emitters``: one row per emitter (ident, area, created, ended,
  evaluations, steps, improvement, best_reward, outcome, ancestor_x,
  ancestor_y); ``created``/``ended`` are run evaluation counts, ``area`` the
  reward area of the emitter's ancestor (-1: none), ``outcome`` a code of
  `qd.emitter_history` (discarded after its bootstrap, stagnated, or still
  running when the run stopped).

Other groups are kept in `runs.load` but not shown. The metrics columns read
here (all optional) are SERENE's ``explore_evaluations``,
``exploit_evaluations``, ``exploit_area{i}_evaluations``,
``emitters_created``, ``emitter_candidates``, ``emitter_overflow``,
``reward_archive_size``, ``explore_area{i}_best_reward`` and
``exploit_area{i}_best_reward`` (the best reward that exploration and the
emitters reached in area i, `exploitation_payoff`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from runs.summary import last_value

REWARD_ARCHIVE = "reward_archive"
EMITTERS = "emitters"
# Outcome codes of the "emitters" group (qd.emitter_history; repeated here so
# that reading a run directory needs no JAX).
DISCARDED, STAGNATED, RUNNING = 1, 2, 3
OUTCOMES = {DISCARDED: "discarded", STAGNATED: "stagnated", RUNNING: "running"}
NO_AREA = -1
EXPLOIT_AREA = re.compile(r"exploit_area(\d+)_evaluations$")
PHASE_BEST = re.compile(r"(explore|exploit)_area(\d+)_best_reward$")
# When the payoff table samples the run, as fractions of its evaluations.
PAYOFF_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
# Run-wide counters of the emitters (last logged value of each), for the caption.
COUNTERS = ("emitters_created", "emitter_candidates", "emitter_overflow", "explore_evaluations",
            "exploit_evaluations", "reward_archive_size")


@dataclasses.dataclass(frozen=True)
class EmitterAreaSummary:
    """The emitters of one reward area (their ancestor's), or of all areas.

    Attributes:
        area: the reward area's index; -1 for emitters whose ancestor is in
            no area; None for the total over every area.
        created: emitters in the history (judged or running; candidates still
            waiting for their bootstrap are not in it).
        promoted: emitters that passed their bootstrap (stagnated + running).
        discarded: emitters dropped after their bootstrap (no improvement).
        stagnated: promoted emitters stopped by the stagnation rule.
        running: promoted emitters still running when the run stopped.
        evaluations: exploitation evaluations spent on the area: the last
            ``exploit_area{i}_evaluations`` logged, else the sum over its
            emitters.
        best_reward: best reward any of its emitters reached, None if none.
        mean_improvement: mean improvement of its promoted emitters, None if
            none was promoted.
    """

    area: Optional[int]
    created: int
    promoted: int
    discarded: int
    stagnated: int
    running: int
    evaluations: int
    best_reward: Optional[float]
    mean_improvement: Optional[float]


def emitter_columns(extras: Mapping[str, Mapping[str, np.ndarray]]) -> Optional[dict[str, np.ndarray]]:
    """The "emitters" group with its columns aligned (one row per emitter),
    None when the run saved no emitter history."""
    group = extras.get(EMITTERS)
    if not group or "outcome" not in group:
        return None
    n = len(np.asarray(group["outcome"]).reshape(-1))
    return {k: np.asarray(v).reshape(-1) for k, v in group.items() if np.size(v) == n}


def emitter_summaries(extras: Mapping[str, Mapping[str, np.ndarray]], metrics: pd.DataFrame,
                      n_areas: int) -> tuple[EmitterAreaSummary, ...]:
    """Per reward area: emitters, their outcomes, evaluations and results.

    Args:
        extras: extras.npz by group (`runs.rundir.group_extras`).
        metrics: the metrics table (for the exploitation evaluations per area).
        n_areas: reward areas of the task.

    Returns:
        One summary per area 0..n_areas-1 (also areas no emitter worked on),
        one for area -1 when some emitter or exploitation evaluation had no
        area, and last the total (area None); () when the run saved no
        emitter history.
    """
    columns = emitter_columns(extras)
    if columns is None:
        return ()
    rows = len(columns["outcome"])
    area = columns.get("area", np.full(rows, NO_AREA)).astype(int)
    area = np.where((area >= 0) & (area < max(n_areas, area.max(initial=-1) + 1)), area, NO_AREA)
    logged = _logged_area_evaluations(metrics)
    n = max(n_areas, area.max(initial=-1) + 1, max(logged, default=-1) + 1)
    exploit_total = last_value(metrics, "exploit_evaluations")
    unassigned = None
    if exploit_total is not None and logged:
        unassigned = int(exploit_total) - sum(logged.values())
    out = [_summary(i, area == i, columns, logged.get(i)) for i in range(n)]
    if np.any(area == NO_AREA) or (unassigned or 0) > 0:
        out.append(_summary(NO_AREA, area == NO_AREA, columns, unassigned))
    out.append(_summary(None, np.ones(rows, bool), columns, int(exploit_total) if exploit_total is not None else None))
    return tuple(out)


def emitter_counters(metrics: pd.DataFrame) -> dict[str, int]:
    """The last logged value of each of `COUNTERS` that the metrics have."""
    out = {}
    for name in COUNTERS:
        value = last_value(metrics, name)
        if value is not None:
            out[name] = int(value)
    return out


def budget_split(metrics: pd.DataFrame, n_areas: int) -> Optional[pd.DataFrame]:
    """Cumulative evaluations by use, one row per logged generation.

    Returns:
        A frame with the metrics' x column ("evaluations") and the columns
        "exploration", "area 0", "area 1", ... (exploitation on each area)
        and "no area" (the rest of the exploitation, when any), or None when
        the metrics have no exploration/exploitation counts.
    """
    if metrics.empty or "evaluations" not in metrics or "explore_evaluations" not in metrics:
        return None
    number = lambda c: pd.to_numeric(metrics[c], errors="coerce").fillna(0.0).to_numpy(np.float64)  # noqa: E731
    out = pd.DataFrame({"evaluations": number("evaluations"), "exploration": number("explore_evaluations")})
    areas = sorted(int(m[1]) for c in metrics.columns if (m := EXPLOIT_AREA.match(c)))
    for i in range(max(n_areas, max(areas, default=-1) + 1)):
        column = f"exploit_area{i}_evaluations"
        out[f"area {i}"] = number(column) if column in metrics else 0.0
    if "exploit_evaluations" in metrics:
        rest = number("exploit_evaluations") - out[[c for c in out.columns if c.startswith("area ")]].sum(axis=1)
        if np.any(rest > 0):
            out["no area"] = np.maximum(rest, 0.0)
    return out


def _logged_area_evaluations(metrics: pd.DataFrame) -> dict[int, int]:
    out = {}
    for column in metrics.columns:
        match = EXPLOIT_AREA.match(column)
        value = last_value(metrics, column) if match else None
        if value is not None:
            out[int(match[1])] = int(value)
    return out


def _summary(area: Optional[int], rows: np.ndarray, columns: Mapping[str, np.ndarray],
             logged: Optional[int]) -> EmitterAreaSummary:
    outcome = columns["outcome"][rows].astype(int)
    promoted = rows & np.isin(columns["outcome"], (STAGNATED, RUNNING))
    best = _finite(columns.get("best_reward"), rows)
    improvement = _finite(columns.get("improvement"), promoted)
    spent = columns.get("evaluations")
    return EmitterAreaSummary(
        area=area,
        created=int(rows.sum()),
        promoted=int(promoted.sum()),
        discarded=int(np.sum(outcome == DISCARDED)),
        stagnated=int(np.sum(outcome == STAGNATED)),
        running=int(np.sum(outcome == RUNNING)),
        evaluations=logged if logged is not None else (int(spent[rows].sum()) if spent is not None else 0),
        best_reward=float(best.max()) if best.size else None,
        mean_improvement=float(improvement.mean()) if improvement.size else None,
    )


def _finite(values: Any, rows: np.ndarray) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    values = np.asarray(values, np.float64)[rows]
    return values[np.isfinite(values)]



@dataclasses.dataclass(frozen=True)
class PayoffRow:
    """Where the exploitation of one reward area stood at one time of the run.

    Attributes:
        area: the reward area.
        evaluations: the run's evaluations at that time.
        exploit_evaluations: evaluations spent so far by the emitters of the area.
        emitters_best: best reward the emitters reached in it so far (None: none yet).
        explore_best: best reward exploration (novelty search) reached in it
            so far (None: none yet).
    """

    area: int
    evaluations: int
    exploit_evaluations: int
    emitters_best: Optional[float]
    explore_best: Optional[float]

    @property
    def lead(self) -> Optional[float]:
        """How far the emitters are ahead of exploration (None if either is missing)."""
        if self.emitters_best is None or self.explore_best is None:
            return None
        return self.emitters_best - self.explore_best


def exploitation_payoff(metrics: pd.DataFrame, n_areas: int) -> Optional[pd.DataFrame]:
    """Per logged generation and reward area: exploitation budget and rewards.

    Returns:
        A long frame with columns "evaluations", "area",
        "exploit_evaluations" (cumulative, by the emitters' ancestor's area),
        "emitters_best" and "explore_best" (best reward reached in the area by
        emitters and by exploration, NaN until reached) and "best" (the
        area's max reward over every evaluation, when logged); None when the
        metrics have no per-phase rewards (not SERENE, or an older run).
    """
    if metrics.empty or "evaluations" not in metrics:
        return None
    logged = {(m[1], int(m[2])) for c in metrics.columns if (m := PHASE_BEST.match(c))}
    areas = sorted({a for _, a in logged})
    if not areas:
        return None
    number = lambda c: (pd.to_numeric(metrics[c], errors="coerce").to_numpy(np.float64)  # noqa: E731
                        if c in metrics else np.full(len(metrics), np.nan))
    x = number("evaluations")
    frames = []
    for i in range(max(n_areas, areas[-1] + 1)):
        reached = lambda v: np.where(v > 0, v, np.nan)  # noqa: E731  (0: the area was not reached)
        frames.append(pd.DataFrame({
            "evaluations": x, "area": i,
            "exploit_evaluations": np.nan_to_num(number(f"exploit_area{i}_evaluations")),
            "emitters_best": reached(number(f"exploit_area{i}_best_reward")),
            "explore_best": reached(number(f"explore_area{i}_best_reward")),
            "best": reached(number(f"area{i}_max_reward")),
        }))
    return pd.concat(frames, ignore_index=True)


def payoff_rows(payoff: Optional[pd.DataFrame], fractions=PAYOFF_FRACTIONS) -> tuple[PayoffRow, ...]:
    """`exploitation_payoff` sampled at `fractions` of the run, per area
    (the last logged generation at or before each time)."""
    if payoff is None or payoff.empty:
        return ()
    end = float(np.nanmax(payoff["evaluations"]))
    out = []
    for area, rows in payoff.groupby("area", sort=True):
        rows = rows.sort_values("evaluations")
        x = rows["evaluations"].to_numpy(np.float64)
        for fraction in fractions:
            i = int(np.searchsorted(x, fraction * end, side="right")) - 1
            if i < 0:
                continue
            r = rows.iloc[i]
            best = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
            out.append(PayoffRow(area=int(area), evaluations=int(r["evaluations"]),
                                 exploit_evaluations=int(r["exploit_evaluations"]),
                                 emitters_best=best(r["emitters_best"]), explore_best=best(r["explore_best"])))
    # One row per (area, time): fractions that fall on the same logged generation collapse.
    return tuple(dict.fromkeys(out))
