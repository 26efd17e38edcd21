"""AntMaze: the Brax ant in the large obstacle maze of SERENE and STAX.

The reference set-up (Paolo et al. 2021, "Sparse reward exploration via
novelty search and emitters"; Paolo et al. 2024, STAX) is gym's
`AntObstacles-v0`: the MuJoCo ant in `ant_obstaclesbig2.xml`, Uber's version
(NS-ES, Conti et al. 2018) of the maze of OpenAI's MLSH
(`mlsh/mujoco/assets/ant_obstaclesbig.xml`, Frans et al. 2018). The walls
here are MLSH's (80x80 border and five inner walls, 0.6 thick);
Uber's version moved the start to (-25, -25), the bottom corridor, and hid
MLSH's "monster" (it has no joints here: the reference's observation has 29
entries, the ant's own 15 + 14). From the start the ant must leave the
corridor by its left end; the reward discs (radius 3) sit at (35, -25),
behind the wall at x = 10, and at (-25, 35), in the top-left pocket.

- Physics: Brax's own ant (`brax/envs/assets/ant.xml`, gear 150, 50 ms per
  control step as in the reference's 10 ms x frame_skip 5) among the walls.
  The walls are Brax geometry, one capsule each (0.6 thick) at the torso's
  height, and the only geom they touch is an invisible, massless sphere of
  radius 0.85 around the torso (the ant's reach; MuJoCo contype/conaffinity
  bit 2): a wall costs one sphere-capsule pair per substep. Measured
  (`benchmarks/brax_tasks.py`): MLSH's boxes against the torso and the four
  feet (45 pairs) ran at ~0.27x Brax's plain ant, capsules with the same
  colliders no faster; the bumper runs at ~0.77x. The feet touch
  only the floor, as in Brax's ant.
  The pipeline is `Config.backend` (see `tasks.brax_physics`).
- Observation: joint positions (15, with x, y mapped to (xy - 5) / 70 as in
  the reference) and velocities (14): 29 values, raw.
- Controller: the reference 29-10-10-10-8 net, 574 parameters.
- Episode: 3000 steps, no early termination (the reference has none).
- Descriptor: final torso (x, y) mapped to (xy - 5) / 70; the bounds cover
  the whole maze, [-45/70, 35/70]^2 (the reference's coverage grid was
  [-0.5, 0.5]^2, which cuts off the 10-unit strip at x < -30 and y < -30
  that every run crosses).
- Reward: (r - d) / r inside a disc when the episode ends, 0 elsewhere.
- Start: the MJCF's initial pose at (-25, -25) with zero velocity; the
  reference added U(-0.1, 0.1) to the joint positions and N(0, 0.1) to the
  velocities at every reset (`Config.reset_noise = 0.1` does too, drawn from
  the episode's key).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from tasks import brax_physics, fields, render
from tasks.base import SparseRewardTask
from tasks.registry import register
from tasks.spec import RewardArea, TaskSpec

# MLSH's maze walls as segments (x0, y0, x1, y1), centre lines of boxes
# WALL_THICKNESS thick and WALL_HEIGHT high.
MAZE_WALLS = (
    (-40.0, 40.0, 40.0, 40.0),  # the border
    (-40.0, -40.0, 40.0, -40.0),
    (40.0, -40.0, 40.0, 40.0),
    (-40.0, -40.0, -40.0, 40.0),
    (-15.0, 3.0, -15.0, 37.0),  # the top-left pocket
    (-40.0, 20.0, -30.0, 20.0),
    (-30.0, -20.0, 10.0, -20.0),  # the start corridor
    (-30.0, -30.0, 10.0, -30.0),
    (10.0, -40.0, 10.0, 0.0),  # the wall hiding the first disc
)
WALL_THICKNESS = 0.6
WALL_HEIGHT = 0.55  # height of the walls' axes: the torso's height at rest
# Radius of the invisible sphere around the torso that the walls push: the
# ant's reach (hip + leg + ankle = 0.28 + 0.28 + 0.57 = 1.13 along a leg;
# 0.85 keeps the bent legs of a standing ant outside the walls).
BUMPER_RADIUS = 0.85
START = (-25.0, -25.0)
REWARD_AREAS = ((35.0, -25.0, 3.0), (-25.0, 35.0, 3.0))
WORLD = (-40.0, 40.0)
TORSO = 0  # link index of the torso
ANT_COLOR = (1.0, 0.0, 0.0)

# Brax's ant.xml, its four legs written from one template: a leg differs
# from the others only in its direction (the signs of x and y), its ankle's
# axis and range, and Brax's geom names.
_LEG = """
      <body name="{body}" pos="0 0 0">
        <geom fromto="0.0 0.0 0.0 {x}0.2 {y}0.2 0.0" name="aux_{i}_geom" size="0.08" type="capsule"/>
        <body name="aux_{i}" pos="{x}0.2 {y}0.2 0">
          <joint axis="0 0 1" name="hip_{i}" pos="0.0 0.0 0.0" range="-30 30" type="hinge"/>
          <geom fromto="0.0 0.0 0.0 {x}0.2 {y}0.2 0.0" name="{leg}_leg_geom" size="0.08" type="capsule"/>
          <body pos="{x}0.2 {y}0.2 0">
            <joint axis="{axis}" name="ankle_{i}" pos="0.0 0.0 0.0" range="{range}" type="hinge"/>
            <geom fromto="0.0 0.0 0.0 {x}0.4 {y}0.4 0.0" name="{foot}_ankle_geom" size="0.08" type="capsule"/>
            <geom name="{foot}_foot_geom" contype="1" pos="{x}0.4 {y}0.4 0" size="0.08" type="sphere" mass="0"/>
          </body>
        </body>
      </body>"""
# (body, x sign, y sign, ankle axis, ankle range, leg geom, ankle/foot geom)
_LEGS = (
    ("front_left_leg", "", "", "-1 1 0", "30 70", "left", "left"),
    ("front_right_leg", "-", "", "1 1 0", "-70 -30", "right", "right"),
    ("back_leg", "-", "-", "-1 1 0", "-70 -30", "back", "third"),
    ("right_back_leg", "", "-", "1 1 0", "30 70", "rightback", "fourth"),
)
_ANT_BODY = """
    <body name="torso" pos="{x} {y} 0.75">
      <geom name="torso_geom" pos="0 0 0" size="0.25" type="sphere"/>
      <geom name="bumper" contype="2" pos="0 0 0" size="{bumper}" type="sphere" mass="0" rgba="0 0 0 0"/>
      <joint armature="0" damping="0" limited="false" margin="0.01" name="root" pos="0 0 0" type="free"/>""" + "".join(
    _LEG.format(i=i, body=body, x=x, y=y, axis=axis, range=rng, leg=leg, foot=foot)
    for i, (body, x, y, axis, rng, leg, foot) in enumerate(_LEGS, 1)
) + """
    </body>"""

_ACTUATORS = "".join(
    f'\n    <motor ctrllimited="true" ctrlrange="-1.0 1.0" joint="{j}" gear="150"/>'
    for j in ("hip_4", "ankle_4", "hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3")
)


def maze_mjcf(walls, start, thickness: float = WALL_THICKNESS, height: float = WALL_HEIGHT) -> str:
    """The MJCF of Brax's ant at `start` among capsule walls.

    Args:
        walls: wall centre lines ((x0, y0, x1, y1), ...), any orientation.
        start: torso (x, y) at reset.
        thickness: wall thickness (the capsules' diameter).
        height: height of the capsules' axes.

    Returns:
        MJCF text for `brax.io.mjcf.loads`.
    """
    # One capsule per wall, touched only by the ant's bumper sphere (contype
    # 2 against conaffinity 2): the feet and the floor (bit 1) never meet a
    # wall, so a wall adds one cheap sphere-capsule pair per substep.
    geoms = []
    radius = thickness / 2
    for x0, y0, x1, y1 in walls:
        geoms.append(
            f'\n    <geom type="capsule" contype="0" conaffinity="2" rgba="0.9 0.9 0.9 1"'
            f' fromto="{x0} {y0} {height} {x1} {y1} {height}" size="{radius}"/>'
        )
    x, y = start
    body, wall_geoms = _ANT_BODY.format(x=x, y=y, bumper=BUMPER_RADIUS), "".join(geoms)
    init_q = f"{x} {y} 0.55 1.0 0.0 0.0 0.0 0.0 1.0 0.0 -1.0 0.0 -1.0 0.0 1.0"
    return f"""<mujoco model="antmaze">
  <compiler angle="degree" coordinate="local" inertiafromgeom="true"/>
  <option timestep="0.01" iterations="4"/>
  <custom>
    <numeric data="{init_q}" name="init_qpos"/>
    <numeric data="1000" name="constraint_limit_stiffness"/>
    <numeric data="4000" name="constraint_stiffness"/>
    <numeric data="10" name="constraint_ang_damping"/>
    <numeric data="20" name="constraint_vel_damping"/>
    <numeric data="0.5" name="joint_scale_pos"/>
    <numeric data="0.2" name="joint_scale_ang"/>
    <numeric data="0.0" name="ang_damping"/>
    <numeric data="1" name="spring_mass_scale"/>
    <numeric data="1" name="spring_inertia_scale"/>
    <numeric data="15" name="solver_maxls"/>
  </custom>
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom contype="0" conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5" rgba="0.4 0.33 0.26 1.0"/>
  </default>
  <worldbody>
    <geom conaffinity="1" condim="3" name="floor" pos="0 0 0" size="{WORLD[1]} {WORLD[1]} 40" type="plane"/>{body}{wall_geoms}
  </worldbody>
  <actuator>{_ACTUATORS}
  </actuator>
</mujoco>
"""


@register("antmaze")
class AntMaze(SparseRewardTask):
    """The Brax ant in SERENE's obstacle maze (see module doc)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        """AntMaze settings.

        Attributes:
            episode_length: control steps per episode (3000 in SERENE/STAX).
            policy_hidden: hidden layers of the reference controller (10-10-10).
            backend: Brax pipeline, one of `tasks.brax_physics.BACKENDS`.
            reset_noise: scale of the reset noise on joint positions
                (uniform) and velocities (normal); 0 starts every episode
                from the same state (the reference used 0.1).
            walls: wall centre lines ((x0, y0, x1, y1), ...) replacing the maze's.
            start: torso (x, y) at reset, replacing (-25, -25).
            reward_areas: goal discs ((x, y, radius), ...) replacing the maze's.
            trajectory_points: positions kept per episode.
        """

        episode_length: int = 3000
        policy_hidden: tuple[int, ...] = (10, 10, 10)
        backend: str = brax_physics.DEFAULT_BACKEND
        reset_noise: float = 0.0
        walls: Optional[tuple[tuple[float, float, float, float], ...]] = None
        start: Optional[tuple[float, float]] = None
        reward_areas: Optional[tuple[tuple[float, float, float], ...]] = None
        trajectory_points: int = 50

        def __post_init__(self):
            fields.normalise(self)
            fields.check_common(self)
            brax_physics.check_backend(self.backend)
            if not self.reset_noise >= 0:
                raise ValueError(f"reset_noise must be >= 0, got {self.reset_noise}")
            lo, hi = WORLD
            if self.start is not None and not all(lo < v < hi for v in self.start):
                raise ValueError(f"start must lie inside the maze ({lo}, {hi})^2, got {self.start}")

    def __init__(self, config: Optional["AntMaze.Config"] = None):
        """Builds the task (loads the MJCF into a Brax system; ~1 s).

        Args:
            config: settings; defaults to `AntMaze.Config()`.

        Raises:
            ValueError: invalid settings (checked by `Config`).
        """
        from brax.io import mjcf  # heavy import, only for physics tasks

        self.config = c = config or self.Config()
        walls = MAZE_WALLS if c.walls is None else c.walls
        start = START if c.start is None else c.start
        areas = REWARD_AREAS if c.reward_areas is None else c.reward_areas
        sys = mjcf.loads(maze_mjcf(walls, start))
        sys, n_frames = brax_physics.tune(sys, c.backend, gear=200.0)
        self._env = brax_physics.pipeline(sys, c.backend, n_frames)
        self._init_q = np.asarray(sys.init_q, np.float32)
        self._qd_size = int(sys.qd_size())
        lo, hi = WORLD
        self.spec = TaskSpec(
            name="antmaze",
            observation_size=int(sys.q_size()) + self._qd_size,
            action_size=int(sys.act_size()),
            episode_length=c.episode_length,
            descriptor_low=((lo - 5.0) / 70.0,) * 2,
            descriptor_high=((hi - 5.0) / 70.0,) * 2,
            reward_areas=tuple(RewardArea((a[0], a[1]), a[2]) for a in areas),
            walls=tuple(tuple(float(v) for v in w) for w in walls),
            world_low=(lo, lo),
            world_high=(hi, hi),
            grid_shape=(50, 50),
            trajectory_points=c.trajectory_points,
        )
        self._background = render.static_background(self.spec)
        self._pixels = render.pixel_centers(self.spec)
        self._draw_radius = max(0.25, 1.5 * render.pixel_size(self.spec))

    @property
    def backend(self) -> str:
        return self.config.backend

    @property
    def dt(self) -> float:
        """Seconds of simulated time per control step."""
        return float(self._env.dt)

    # -- physics ---------------------------------------------------------------
    def init_physics(self, rng: jax.Array) -> Any:
        q, qd = jnp.asarray(self._init_q), jnp.zeros((self._qd_size,), jnp.float32)
        noise = self.config.reset_noise
        if noise > 0:
            k1, k2 = jax.random.split(rng)
            q = q + jax.random.uniform(k1, q.shape, minval=-noise, maxval=noise)
            qd = noise * jax.random.normal(k2, qd.shape)
        return self._env.pipeline_init(q, qd)

    def physics_step(self, physics: Any, action: jax.Array) -> Any:
        return self._env.pipeline_step(physics, action)

    def observe(self, physics: Any) -> jax.Array:
        q = physics.q
        q = q.at[:2].set((q[:2] - 5.0) / 70.0)  # the reference's scaling
        return jnp.concatenate([q, physics.qd]).astype(jnp.float32)

    def position(self, physics: Any) -> jax.Array:
        return brax_physics.link_xy(physics, TORSO)

    def render(self, physics: Any) -> jax.Array:
        """Top-down 64x64x3 view of the whole maze: walls in black, the ant's
        torso as a red disc (at least 1.5 pixels wide)."""
        return render.draw_robot(self._background, self._pixels, self.position(physics), self._draw_radius, ANT_COLOR)
