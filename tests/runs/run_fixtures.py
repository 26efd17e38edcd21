"""A tiny task spec and synthetic run directories for the inspection tests,
so they depend on no real task (those are built and tested elsewhere)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tasks.spec import RewardArea, TaskSpec

EVALUATIONS = np.arange(1, 11) * 100  # 10 logged generations of 100 evaluations


def tiny_spec(*, y_down: bool = False) -> TaskSpec:
    """A 10x10 world (descriptor [0, 1]^2) with one horizontal wall and three
    reward discs; area 2 is never reached by the synthetic runs."""
    return TaskSpec(
        name="tiny",
        observation_size=2,
        action_size=2,
        episode_length=10,
        descriptor_low=(0.0, 0.0),
        descriptor_high=(1.0, 1.0),
        reward_areas=(RewardArea((2.0, 8.0), 1.0), RewardArea((8.0, 2.0), 1.5), RewardArea((5.0, 1.0), 0.5)),
        walls=((0.0, 5.0, 6.0, 5.0),),
        world_low=(0.0, 0.0),
        world_high=(10.0, 10.0),
        image_y_down=y_down,
    )


def write_run(run_dir: Path, *, generation: bool = True, grid: bool = False, config: dict | None = None) -> dict:
    """Writes config.yaml, metrics.csv (columns as qd.tracker logs them) and
    archive.npz into `run_dir`.

    Returns:
        The numbers a summary must report.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    free = rng.uniform([0.5, 5.5], [9.5, 9.5], (30, 2))
    free = free[np.linalg.norm(free - (2.0, 8.0), axis=1) > 1.2][:20]  # upper half, clear of area 0
    in0 = (2.0, 8.0) + rng.uniform(-0.5, 0.5, (6, 2))
    in1 = (8.0, 2.0) + rng.uniform(-0.7, 0.7, (4, 2))
    world = np.concatenate([free, in0, in1])
    n = len(world)
    reward = np.concatenate([np.zeros(len(free)), np.linspace(0.1, 0.9, 6), np.linspace(0.2, 0.8, 4)])
    area = np.concatenate([np.full(len(free), -1), np.zeros(6), np.ones(4)]).astype(np.int32)
    gt = (world / 10.0).astype(np.float32)
    arrays = dict(genome=rng.normal(size=(n, 5)).astype(np.float32), descriptor=gt, gt_descriptor=gt,
                  reward=reward.astype(np.float32), reward_area=area)
    if generation:
        arrays["generation"] = np.arange(n, dtype=np.int32) // 4
    if grid:
        arrays["grid_shape"] = np.array([10, 10])
    np.savez(run_dir / "archive.npz", **arrays)

    found0, found1 = EVALUATIONS >= 300, EVALUATIONS >= 700
    metrics = pd.DataFrame({
        "generation": np.arange(1, 11),
        "evaluations": EVALUATIONS,
        "wall_time": EVALUATIONS / 100.0,
        "archive_size": np.minimum(np.arange(1, 11) * 4, n),
        "area0_evaluations": np.where(found0, (EVALUATIONS - 200) // 10, 0),
        "area0_first_found": np.where(found0, 300, -1),
        "area0_found": found0.astype(int),
        "area0_max_reward": np.where(found0, np.linspace(0.5, 0.95, 10), 0.0),
        "area1_evaluations": np.where(found1, 3, 0),
        "area1_first_found": np.where(found1, 700, -1),
        "area1_found": found1.astype(int),
        "area1_max_reward": np.where(found1, 0.6, 0.0),
        "area2_evaluations": 0,
        "area2_first_found": -1,
        "area2_found": 0,
        "area2_max_reward": 0.0,
        "areas_found": found0.astype(int) + found1,
        "coverage": np.linspace(0.01, 0.012, 10),
        "explored_coverage": np.linspace(0.02, 0.25, 10),
    })
    metrics.to_csv(run_dir / "metrics.csv", index=False)
    base = {"algorithm": "ns", "task": "tiny", "seed": 7, "budget": 1000, "task_config": {}}
    (run_dir / "config.yaml").write_text("# a synthetic run\n" + yaml.safe_dump(base | (config or {})))
    return {
        "n": n,
        "evaluations": 1000,
        "generations": 10,
        "coverage": 0.012,
        "explored_coverage": 0.25,
        "first_found": (300, 700, None),
        # area 0: metrics (0.95) beat the archive (0.9); area 1: the archive (0.8) beats metrics (0.6)
        "max_reward": (0.95, 0.8, None),
        "area_evaluations": (80, 3, 0),
        "in_archive": (6, 4, 0),
    }
