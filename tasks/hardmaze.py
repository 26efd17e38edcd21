"""HardMaze: a two-wheeled robot in Lehman & Stanley's deceptive hard maze.

The maze is Lehman & Stanley's hard maze (Lehman & Stanley 2011, "Abandoning
objectives: evolution through the search for novelty alone") scaled to the
600x600 world of SERENE's HardMaze (Paolo et al. 2021, "Sparse reward
exploration via novelty search and emitters"); the reference code simulated a
600x600 bitmap of it with libfastsim, here the walls are exact segments (see
`tasks.mazes`). Any other maze runs too::

    tasks.make("hardmaze", maze_file="my_maze.txt")
    tasks.make("hardmaze", walls=((0, 300, 400, 300),), start=(60, 450),
               start_heading=0, reward_areas=((500, 100, 40),), world_size=(600, 600))

Physics (fastsim-like, one control step per environment step):

- The robot is a disc of radius `robot_radius` (10) with two wheels
  2 * radius apart, as in fastsim. Actions in [-1, 1] are the left and right
  wheel travel per step, scaled by `max_speed` (4 px/step: the wheel-speed
  bound `maxVel` of gym_fastsim's navigation env, which SERENE's reference
  code drives, "same as in the C++ sferes2 experiment"). The pose follows the
  exact differential-drive arc: heading += (right - left) / (2 radius), and the
  centre moves along the chord of the arc.
- Collisions are exact: a move is accepted only when the new centre keeps at
  least `robot_radius` (+ 1e-3 of float32 slack) from every wall AND the
  segment from old to new centre crosses no wall. The argument relied on is
  the first test: the distance to a wall is 1-Lipschitz, so when both ends of
  a step of length s < 2 * radius are >= radius from a wall, every point of
  the step is >= radius - s / 2 > 0 from it: the centre cannot pass through
  a wall or its end, however thin (a step is never longer than max_speed, and
  max_speed < radius is enforced; between two steps the disc may graze a
  wall by at most s / 2, as in any discrete-time simulator). The swept test is a
  cheap second guard that holds by construction whatever the step. A
  blocked move leaves the robot where it was but keeps the new heading
  (fastsim with sticky walls off, as in SERENE's setup).
- Bumpers (left, right) are 1 when the last move was blocked by a wall whose
  contact point lies at a relative angle in [0, 90] degrees (left) or
  [-90, 0] degrees (right) from the heading, fastsim's convention (angles from
  +x towards +y; in the y-down picture positive angles turn clockwise).
- Lasers measure the distance from the centre to the first wall along
  heading + each of `laser_angles` (-45, 0, 45 degrees), up to `laser_range`
  (100 px), normalised to [0, 1] (1 = nothing in range).

Observation: [3 lasers, 2 bumpers]; descriptor: final (x, y) / world size in
[0, 1]^2; reward: (r - d) / r inside a goal disc at the end of the episode.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from tasks import fields, mazes, render
from tasks.base import SparseRewardTask
from tasks.geometry import segments_intersect
from tasks.registry import register
from tasks.spec import RewardArea, TaskSpec

# Clearance kept beyond the radius: float32 rounding of distances near
# coordinates of 600 is ~1e-4, so the robot's true distance to a wall never
# drops below its radius.
_SKIN = 1e-3
ROBOT_COLOR = (1.0, 0.0, 0.0)


@struct.dataclass
class RobotState:
    """Physical state of the robot.

    Attributes:
        position: centre (x, y), world units.
        heading: radians, from +x towards +y, in [-pi, pi).
        bumpers: (left, right), 1.0 where the last move hit a wall on that side.
    """

    position: jax.Array
    heading: jax.Array
    bumpers: jax.Array


@register("hardmaze")
class HardMaze(SparseRewardTask):
    """Maze navigation with a 3-laser, 2-bumper two-wheeled robot (see module doc).

    The layout is `tasks.mazes.HARD_MAZE` unless `Config.maze_file` names a
    maze file; `walls`, `start`, `start_heading`, `reward_areas` and
    `world_size` override single parts of it.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        """HardMaze settings.

        Attributes:
            episode_length: steps per episode (2000 in SERENE).
            policy_hidden: hidden layers of the reference controller (5-5-5-2).
            maze_file: path of a maze file (format in `tasks.mazes`); None for
                the hard maze.
            walls: wall segments ((x0, y0, x1, y1), ...) replacing the maze's.
            start: start (x, y) replacing the maze's.
            start_heading: start heading in degrees replacing the maze's.
            reward_areas: goal discs ((x, y, radius), ...) or `RewardArea`s
                replacing the maze's.
            world_size: (width, height) replacing the maze's; the world's border
                is always a wall.
            robot_radius: radius of the robot disc (and half the wheel base).
            max_speed: wheel travel per step at action 1; must be < robot_radius.
            laser_range: range of the lasers, world units.
            laser_angles: laser directions relative to the heading, degrees.
            trajectory_points: positions kept per episode.
        """

        episode_length: int = 2000
        policy_hidden: tuple[int, ...] = (5, 5)
        maze_file: Optional[str] = None
        walls: Optional[tuple[tuple[float, float, float, float], ...]] = None
        start: Optional[tuple[float, float]] = None
        start_heading: Optional[float] = None
        reward_areas: Optional[tuple[tuple[float, float, float], ...]] = None
        world_size: Optional[tuple[float, float]] = None
        robot_radius: float = 10.0
        max_speed: float = 4.0
        laser_range: float = 100.0
        laser_angles: tuple[float, ...] = (-45.0, 0.0, 45.0)
        trajectory_points: int = 50

        def __post_init__(self):
            set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
            areas = self.reward_areas
            if isinstance(areas, (tuple, list)):
                set_("reward_areas", tuple((*a.center, a.radius) if isinstance(a, RewardArea) else a for a in areas))
            size = self.world_size
            if size is not None and np.ndim(size) == 0:
                set_("world_size", (size, size))
            fields.normalise(self)  # types (naming the field), lists -> tuples, so configs hash
            fields.check_common(self)
            c = self
            if not c.robot_radius > 0 or not c.laser_range > 0:
                raise ValueError(f"robot_radius and laser_range must be > 0, got {c.robot_radius}, {c.laser_range}")
            if not 0 < c.max_speed < c.robot_radius:
                # A step never exceeds max_speed; below the radius (< 2 radius) the
                # distance test alone provably prevents tunnelling (module doc).
                raise ValueError(f"max_speed must be in (0, robot_radius={c.robot_radius}), got {c.max_speed}")
            if c.maze_file is not None and not c.maze_file.strip():
                raise ValueError("maze_file must name a maze file (or be null for the hard maze), got ''")

    def __init__(self, config: Optional["HardMaze.Config"] = None):
        """Builds the task.

        Args:
            config: settings; defaults to `HardMaze.Config()`.

        Raises:
            ValueError: a malformed, empty or non-text maze file, a start
                inside a wall or outside the world (robot settings are checked
                by `Config` itself).
            FileNotFoundError: `maze_file` does not exist.
            OSError: `maze_file` cannot be read (a directory, no permission).
        """
        self.config = c = config or self.Config()  # settings checked by Config.__post_init__
        self.maze = maze = self._maze(c)
        try:
            mazes.validate(maze, c.robot_radius)
        except ValueError as error:
            if c.maze_file is None:
                raise
            raise ValueError(f"{c.maze_file}: {error}") from None  # name the file, as parse errors do
        self._walls = mazes.closed_walls(maze)  # the border is always solid

        self.spec = TaskSpec(
            name="hardmaze",
            observation_size=len(c.laser_angles) + 2,
            action_size=2,
            episode_length=c.episode_length,
            descriptor_low=(0.0, 0.0),
            descriptor_high=(1.0, 1.0),
            reward_areas=tuple(RewardArea((g[0], g[1]), g[2]) for g in maze.goals),
            walls=tuple(map(tuple, self._walls.tolist())),
            world_low=(0.0, 0.0),
            world_high=maze.size,
            grid_shape=(50, 50),
            trajectory_points=c.trajectory_points,
            image_y_down=True,
        )
        self._laser_angles = np.deg2rad(np.asarray(c.laser_angles, np.float32))
        self._background = render.static_background(self.spec)
        self._pixels = render.pixel_centers(self.spec)
        # Draw the robot at least 1.5 pixels wide so it survives 64x64.
        self._draw_radius = max(c.robot_radius, 1.5 * render.pixel_size(self.spec))

    @staticmethod
    def _maze(c: "HardMaze.Config") -> mazes.Maze:
        base = mazes.load_maze(c.maze_file) if c.maze_file is not None else mazes.HARD_MAZE
        overrides = {
            "walls": c.walls,
            "start": c.start,
            "start_heading": c.start_heading,
            "goals": c.reward_areas,
            "size": c.world_size,
        }
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})

    # -- physics ---------------------------------------------------------------
    def init_physics(self, rng: jax.Array) -> RobotState:
        del rng  # the start is deterministic, as in the reference
        return RobotState(
            position=jnp.asarray(self.maze.start, jnp.float32),
            heading=jnp.float32(math.radians(self.maze.start_heading)),
            bumpers=jnp.zeros(2, jnp.float32),
        )

    def physics_step(self, physics: RobotState, action: jax.Array) -> RobotState:
        c = self.config
        walls = jnp.asarray(self._walls)
        left, right = action[0] * c.max_speed, action[1] * c.max_speed
        turn = (right - left) / (2.0 * c.robot_radius)
        # Exact arc of a differential drive: the centre moves along the chord,
        # of length |travel| * sinc(turn / 2), at the mid-turn heading.
        travel = 0.5 * (left + right) * jnp.sinc(turn / (2.0 * jnp.pi))
        mid = physics.heading + 0.5 * turn
        old = physics.position
        new = old + travel * jnp.stack([jnp.cos(mid), jnp.sin(mid)])
        heading = _wrap_angle(physics.heading + turn)

        closest = _closest_points(new, walls)
        offset = closest - new
        dist = jnp.sqrt(jnp.sum(offset * offset, axis=-1))
        contact = dist < c.robot_radius + _SKIN
        blocked = jnp.any(contact) | jnp.any(segments_intersect(old, new, walls))
        # Bumpers: fastsim's two front quadrants relative to the new heading,
        # [0, 90] and [-90, 0] degrees, told apart by the signs of the contact
        # offset's forward and sideways components (no arctan2: it is slow).
        cos_h, sin_h = jnp.cos(heading), jnp.sin(heading)
        ahead = contact & (offset[:, 0] * cos_h + offset[:, 1] * sin_h >= 0.0)
        side = cos_h * offset[:, 1] - sin_h * offset[:, 0]
        left_hit = jnp.any(ahead & (side >= 0.0))
        right_hit = jnp.any(ahead & (side <= 0.0))
        return RobotState(
            position=jnp.where(blocked, old, new),
            heading=heading,
            bumpers=jnp.stack([left_hit, right_hit]).astype(jnp.float32) * blocked,
        )

    def lasers(self, physics: RobotState) -> jax.Array:
        """Laser distances normalised by the range, [n_lasers] in [0, 1]."""
        angles = physics.heading + jnp.asarray(self._laser_angles)
        r = self.config.laser_range
        return _ray_distances(physics.position, angles, jnp.asarray(self._walls), r) / r

    def observe(self, physics: RobotState) -> jax.Array:
        return jnp.concatenate([self.lasers(physics), physics.bumpers]).astype(jnp.float32)

    def position(self, physics: RobotState) -> jax.Array:
        return physics.position

    def render(self, physics: RobotState) -> jax.Array:
        """Top-down 64x64x3 view: walls in black, the robot as a red disc."""
        return render.draw_robot(self._background, self._pixels, physics.position, self._draw_radius, ROBOT_COLOR)


def _wrap_angle(a: jax.Array) -> jax.Array:
    """Angle in [-pi, pi)."""
    return jnp.mod(a + jnp.pi, 2.0 * jnp.pi) - jnp.pi


def _closest_points(point: jax.Array, walls: jax.Array) -> jax.Array:
    """Closest point of each wall [W, 4] to `point` [2]; returns [W, 2]."""
    a, ab = walls[:, :2], walls[:, 2:] - walls[:, :2]
    t = jnp.sum((point - a) * ab, -1) / jnp.maximum(jnp.sum(ab * ab, -1), 1e-12)
    return a + jnp.clip(t, 0.0, 1.0)[:, None] * ab


def _ray_distances(origin: jax.Array, angles: jax.Array, walls: jax.Array, max_range: float) -> jax.Array:
    """`tasks.geometry.ray_distance` for several rays at once, division-light.

    Same result as vmapping `ray_distance` over `angles`, about twice as fast
    on CPU (measured inside the HardMaze rollout): the hit tests compare signed
    numerators instead of dividing, and the ray-independent wall terms are
    shared by every ray.

    Args:
        origin: ray origin [2].
        angles: ray directions [L], radians.
        walls: [W, 4].
        max_range: distance reported when a ray hits nothing within range.

    Returns:
        Distances [L] in [0, max_range].
    """
    dx, dy = jnp.cos(angles)[:, None], jnp.sin(angles)[:, None]  # [L, 1]
    ax, ay = walls[:, 0] - origin[0], walls[:, 1] - origin[1]  # [W]
    ex, ey = walls[:, 2] - walls[:, 0], walls[:, 3] - walls[:, 1]
    denom = dx * ey - dy * ex  # [L, W]; 0 for a ray parallel to the wall
    along_ray = ax * ey - ay * ex  # t * denom
    along_wall = ax * dy - ay * dx  # u * denom
    sign = jnp.sign(denom)
    # t >= 0 and 0 <= u <= 1, multiplied through by denom.
    hit = (denom != 0) & (along_ray * sign >= 0) & (along_wall * sign >= 0) & (along_wall * sign <= jnp.abs(denom))
    t = jnp.where(hit, along_ray / jnp.where(hit, denom, 1.0), jnp.inf)
    return jnp.minimum(jnp.min(t, axis=-1), max_range)
