"""The archive explorer's data (`divergent report`): per run, every archived
policy on the task's map, a capped sample of them replayed for their
trajectories and final views, and the per-area history; per task geometry,
the map (walls, reward areas, start).

    maps, notes = {}, []
    data = run_data(run, "ns-hardmaze-seed0", maps, replays=48, notes=notes)
    data["archive"]["x"]          # world x of each policy's final position
    data["replays"][0]["view"]    # "data:image/png;base64,..." final 64x64 view

Everything returned is plain JSON (lists, numbers, strings, None for
missing values) for the page's script, with coordinates rounded to what
the page can show.

Why a sample: a full novelty archive holds up to 15,000 policies; a
trajectory (50 positions) and a 64x64 PNG cost ~1 KB per policy on the
hard maze and curling (measured: 918 replays, 0.9 MB), and replaying costs
rollouts, so all of them would make a page of ~15 MB per run. Every policy
is on the map with its reward, descriptor and generation; `replays` of
them per run (all of a small archive) are rolled out again
(`runs.replay.replay_policies`, batched and jitted, one program per task):
the best policy of each reward area first, then the rest spread over the
map by farthest-point sampling of their final positions
(`runs.learned.spread_rows`), which covers the archive's variety rather
than its dense regions.
"""
from __future__ import annotations

import base64
import io
import json
import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from runs.extras import REWARD_ARCHIVE, budget_split
from runs.typed import shorten

__all__ = ["DEFAULT_REPLAYS", "TRAJECTORY_POINTS", "map_geometry", "pick_replays", "png_data_url", "run_data"]

DEFAULT_REPLAYS = 48
TRAJECTORY_POINTS = 50
HISTORY_ROWS = 300  # per-area history points per run (metrics rows are thinned to this)
ARCHIVE_SOURCES = (("archive", "archive"), ("reward_archive", "reward archive"))


def map_geometry(spec: Any, start: Optional[Sequence[float]]) -> dict:
    """The task's map for the page: world bounds, y direction, walls, reward
    discs and start, rounded to `decimals(spec)`."""
    d = decimals(spec)
    walls = np.asarray(getattr(spec, "walls", ()), np.float64).reshape(-1, 4)
    return {
        "name": str(getattr(spec, "name", "")),
        "low": _round(spec.world_low, d),
        "high": _round(spec.world_high, d),
        "y_down": bool(getattr(spec, "image_y_down", False)),
        "walls": _round(walls, d),
        "areas": [{"x": _round(a.center[0], d), "y": _round(a.center[1], d), "r": _round(a.radius, d)}
                  for a in getattr(spec, "reward_areas", ())],
        "start": None if start is None else _round(np.asarray(start, np.float64)[:2], d),
        "decimals": d,
    }


def decimals(spec: Any) -> int:
    """Decimals that keep world coordinates to ~1/10,000 of the map (600 px -> 1, 2.7 units -> 4)."""
    span = float(np.max(np.subtract(spec.world_high, spec.world_low)))
    return int(np.clip(4 - np.floor(np.log10(span)), 0, 8)) if span > 0 else 3


def pick_replays(xy: np.ndarray, reward: np.ndarray, area: np.ndarray, n: int) -> np.ndarray:
    """Up to `n` rows to replay: the best of each reward area, then the rest
    spread over the map (farthest-point sampling of `xy`).

    Args:
        xy: [N, 2] final positions.
        reward: [N] rewards.
        area: [N] reward areas (-1: none).
        n: how many at most.

    Returns:
        Sorted row indices (all rows when N <= n).
    """
    from runs.learned import spread_rows

    total = len(xy)
    if total <= n:
        return np.arange(total)
    chosen: list[int] = []
    for a in sorted(set(np.asarray(area, int).tolist()) - {-1}):
        rows = np.flatnonzero(area == a)
        chosen.append(int(rows[np.argmax(reward[rows])]))
    chosen = chosen[:n]
    rest = np.setdiff1d(np.arange(total), chosen)
    if len(chosen) < n and len(rest):
        chosen += rest[spread_rows(xy[rest], n - len(chosen))].tolist()
    return np.sort(np.asarray(chosen, int))


def png_data_url(view: np.ndarray) -> str:
    """A uint8 [H, W, 3] image as a data: URL of a PNG."""
    from PIL import Image  # matplotlib's own dependency

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(view, np.uint8)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def run_data(run: Any, run_id: str, maps: dict, *, replays: int = DEFAULT_REPLAYS,
             notes: Optional[list] = None) -> dict:
    """One run's explorer data.

    Args:
        run: the `runs.load.Run`.
        run_id: its id on the page.
        maps: map key -> `map_geometry`, shared by the runs of one task
            (filled in here).
        replays: policies replayed at most (0: none).
        notes: receives one line per thing that could not be shown.

    Returns:
        {"map": key, "sources": {source: columns}, "replays": [...],
        "history": {...}, "replay_cap": replays, "replayed_of": N} where
        each source ("archive", SERENE's "reward archive") holds columns x, y,
        reward, area, generation (or None), descriptor (list per policy) and
        replay (index into "replays", -1: not replayed).

    Raises:
        RunError: the run's task cannot be built.
    """
    from runs.config import make_task
    from runs.plots import descriptor_to_world
    from runs.summary import spec_from_config

    notes = [] if notes is None else notes
    config = run.config
    task = make_task(config.task, config.task_config)
    spec = task.spec
    _, start, _ = spec_from_config({"task": config.task, "task_config": _plain(config.task_config)})
    geometry = map_geometry(spec, start)
    key = json.dumps(geometry, sort_keys=True)
    map_key = next((k for k, g in maps.items() if json.dumps(g, sort_keys=True) == key), None)
    if map_key is None:
        map_key = f"{config.task}-{len(maps)}"
        maps[map_key] = geometry
    d = geometry["decimals"]
    sources, genomes, origin = {}, [], []
    for group, name in ARCHIVE_SOURCES:
        arrays = run.archive if group == "archive" else run.extras.get(REWARD_ARCHIVE) or {}
        if group != "archive" and not arrays:
            continue
        gt = np.asarray(arrays.get("gt_descriptor", np.zeros((0, 2))), np.float64)
        n = len(gt)
        reward = np.asarray(arrays.get("reward", np.zeros(n)), np.float64).reshape(-1)
        area = np.asarray(arrays.get("reward_area", np.full(n, -1)), int).reshape(-1)
        xy = descriptor_to_world(spec, gt) if n else np.zeros((0, 2))
        generation = arrays.get("generation")
        descriptor = np.asarray(arrays.get("descriptor", gt), np.float64)
        descriptor = descriptor.reshape(n, -1) if n else np.zeros((0, 2))
        sources[name] = {
            "x": _round(xy[:, 0], d), "y": _round(xy[:, 1], d), "reward": _round(reward, 4),
            "area": area.tolist(), "generation": None if generation is None else np.asarray(generation).tolist(),
            "descriptor": _round(descriptor, 4), "replay": [-1] * n,
        }
        if "genome" in arrays and n:
            genomes.append(np.asarray(arrays["genome"], np.float32))
            origin += [(name, i, xy[i], reward[i], area[i]) for i in range(n)]
    out_replays = []
    if replays > 0 and origin:
        xy = np.array([o[2] for o in origin])
        rows = pick_replays(xy, np.array([o[3] for o in origin]), np.array([o[4] for o in origin]), replays)
        out_replays = _replay(config, np.concatenate(genomes)[rows], [origin[r] for r in rows], sources, d, notes,
                              run_id)
    elif not origin:
        notes.append(f"{run_id}: the archive is empty" if not any(len(s["x"]) for s in sources.values())
                     else f"{run_id}: archive.npz has no genomes, nothing replayed")
    return {
        "map": map_key, "sources": sources, "replays": out_replays, "replay_cap": int(replays),
        "replayed_of": len(origin), "history": history(run.metrics, len(geometry["areas"])),
    }


def _replay(config, genomes, picked, sources, d, notes, run_id) -> list:
    from runs.replay import replay_policies

    try:
        replayed = replay_policies(config, genomes, points=TRAJECTORY_POINTS)
    except Exception as error:  # the map, rewards and descriptors are still worth showing
        notes.append(f"{run_id}: replaying its policies failed ({type(error).__name__}: {shorten(str(error))})")
        return []
    out = []
    mismatched = 0
    for j, (name, i, xy, reward, _) in enumerate(picked):
        if not replayed.valid[j]:
            continue
        sources[name]["replay"][i] = len(out)
        trajectory = replayed.trajectory[j]
        end = trajectory[-1]
        mismatched += bool(max(abs(float(end[0] - xy[0])), abs(float(end[1] - xy[1]))) > 10.0 ** (2 - d))
        out.append({
            "x": _round(trajectory[:, 0], d), "y": _round(trajectory[:, 1], d),
            "view": png_data_url(replayed.views[j]), "reward": _round(float(replayed.reward[j]), 4),
        })
    if mismatched:
        notes.append(f"{run_id}: {mismatched} of {len(picked)} replayed policies end elsewhere than archived "
                     "(a task with a random start?); their trajectories are the replays'")
    return out


def history(metrics: pd.DataFrame, n_areas: int) -> Optional[dict]:
    """Per reward area over evaluations: the max reward, and for emitter
    methods the evaluations spent exploiting it (and exploring), thinned to
    `HISTORY_ROWS` rows; None without an evaluations column."""
    if metrics.empty or "evaluations" not in metrics:
        return None
    keep = np.unique(np.linspace(0, len(metrics) - 1, min(len(metrics), HISTORY_ROWS)).round().astype(int))
    rows = metrics.iloc[keep]
    number = lambda c: pd.to_numeric(rows[c], errors="coerce").to_numpy(np.float64)  # noqa: E731
    out = {"evaluations": _round(number("evaluations"), 0), "max_reward": {}, "exploit": None, "explore": None}
    for i in range(n_areas):
        if f"area{i}_max_reward" in rows:
            out["max_reward"][str(i)] = _round(number(f"area{i}_max_reward"), 4)
    split = budget_split(metrics, n_areas)
    if split is not None:
        split = split.iloc[keep]
        out["explore"] = _round(split["exploration"].to_numpy(np.float64), 0)
        out["exploit"] = {c.split()[-1]: _round(split[c].to_numpy(np.float64), 0)
                          for c in split.columns if c.startswith("area ")}
    return out


def _plain(config: Any) -> dict:
    import dataclasses

    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _round(values: Any, digits: int) -> Any:
    """Values rounded to `digits` decimals as JSON (NaN/inf -> None)."""
    array = np.asarray(values, np.float64)
    if array.ndim == 0:
        value = float(array)
        return round(value, digits) if math.isfinite(value) else None
    rounded = np.round(array, digits)
    listed = rounded.tolist()
    if np.all(np.isfinite(rounded)):
        return listed
    return _nones(listed)


def _nones(value: Any) -> Any:
    if isinstance(value, list):
        return [_nones(v) for v in value]
    return value if math.isfinite(value) else None
