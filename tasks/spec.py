"""Static description of a task: everything an algorithm or a plot needs to know
about it without running it."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class RewardArea:
    """A sparse reward disc: an episode ending at distance d < radius from the
    centre pays (radius - d) / radius, anywhere else pays 0.

    Attributes:
        center: (x, y) of the disc, in the task's world coordinates.
        radius: radius of the disc, same units.
    """

    center: tuple[float, float]
    radius: float

    def __post_init__(self):
        if len(self.center) != 2:
            raise ValueError(f"RewardArea.center must be (x, y), got {self.center!r}")
        if not self.radius > 0:
            raise ValueError(f"RewardArea.radius must be > 0, got {self.radius!r}")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What a task declares about itself.

    Attributes:
        name: registry name, e.g. "hardmaze".
        observation_size: length of the observation vector.
        action_size: length of the action vector, each entry in [-1, 1].
        episode_length: number of steps of a full episode.
        descriptor_low: lower bounds of the ground-truth descriptor, shape [k].
        descriptor_high: upper bounds of the ground-truth descriptor, shape [k].
        reward_areas: the sparse reward discs, in world coordinates.
        walls: wall segments [W, 4] as (x0, y0, x1, y1) in world coordinates, for
            drawing; empty for tasks without walls.
        world_low: lower corner (x, y) of the drawable world.
        world_high: upper corner (x, y) of the drawable world.
        grid_shape: cells of the coverage grid over the descriptor bounds.
        trajectory_points: positions kept per episode, at evenly spaced times.
        image_y_down: draw world y growing downwards (maze bitmaps do).
        dense_reward: the task pays a reward at every step and the episode's
            return (their sum) is the fitness, as in the QD-RL locomotion
            tasks; False for the sparse tasks, whose only reward is paid by the
            step that ends the episode inside a reward area. Either way
            `Evaluation.reward` is the episode return.
    """

    name: str
    observation_size: int
    action_size: int
    episode_length: int
    descriptor_low: tuple[float, ...]
    descriptor_high: tuple[float, ...]
    reward_areas: tuple[RewardArea, ...]
    walls: tuple[tuple[float, float, float, float], ...] = ()
    world_low: tuple[float, float] = (0.0, 0.0)
    world_high: tuple[float, float] = (1.0, 1.0)
    grid_shape: tuple[int, int] = (50, 50)
    trajectory_points: int = 50
    image_y_down: bool = False
    dense_reward: bool = False

    @property
    def descriptor_size(self) -> int:
        return len(self.descriptor_low)

    @property
    def trajectory_steps(self) -> np.ndarray:
        """Steps (1-based, after the step) at which positions are recorded; the
        last one is the end of the episode. `Evaluation.trajectory` has one
        row per entry."""
        steps = np.linspace(1, self.episode_length, self.trajectory_points)
        return np.unique(np.round(steps).astype(np.int32))

    def frame_steps(self, frames: int) -> np.ndarray:
        """Steps (1-based, after the step) at which `frames` views of an
        episode are rendered: evenly spaced, round(k * T / frames) for k = 1
        .. frames, so the last one is the end of the episode (the final view)
        and each covers the same share of it. An episode that ends early is
        frozen at its end, so its later frames are all the final view.

        Raises:
            ValueError: `frames` is not an integer in [1, episode_length].
        """
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) \
                or not 1 <= frames <= self.episode_length:
            raise ValueError(
                f"frames must be an integer between 1 and the episode length of {self.name} "
                f"({self.episode_length}), got {frames!r}"
            )
        return np.round(np.arange(1, frames + 1) * (self.episode_length / frames)).astype(np.int32)

    @property
    def walls_array(self) -> np.ndarray:
        """Walls as a float32 array [W, 4] (W may be 0)."""
        return np.asarray(self.walls, dtype=np.float32).reshape(-1, 4)

    def world_to_descriptor(self, xy: np.ndarray) -> np.ndarray:
        """Maps world (x, y) positions to the descriptor space (identity unless
        a task rescales, e.g. HardMaze divides by 600)."""
        lo_w, hi_w = np.asarray(self.world_low), np.asarray(self.world_high)
        lo_d = np.asarray(self.descriptor_low[:2])
        hi_d = np.asarray(self.descriptor_high[:2])
        return lo_d + (np.asarray(xy) - lo_w) / (hi_w - lo_w) * (hi_d - lo_d)
