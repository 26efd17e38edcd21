"""Redundant arm: a 20-joint planar arm in a square room with a cross of walls.

The task of Paolo et al. 2021 (SERENE) and the STAX experiments (`NDofArm`,
gym_redarm, itself derived from Loviken's MCGB arm): an arm of total length 1
made of 20 links of 0.05, fixed at the centre (0.5, 0.5) of the unit square,
moves its end effector towards three small reward discs. The classic
reward-dense version of this arm is the MAP-Elites benchmark of Cully et al.
2015 (Nature, "Robots that can adapt like animals").

The walls are our reconstruction of the "cross" room of Loviken's MCGB arm
(its `wall_setting=8`, the ancestor of gym_redarm): four walls 0.2 long, one
from the middle of each side of the square towards the centre, along x = 0.5
and y = 0.5, modelled as segments. The centre is open, so every reward disc is
reachable, but the arm cannot sweep along the border from one quadrant to the
next: it has to pull back and bend around a wall's free end.

Kinematics: link i's absolute heading is pi/2 + sum of joint angles 0..i
(angles counter-clockwise, relative to the previous link; the arm points up
when every angle is 0). Joint angles stay in [-(pi - 0.01), pi - 0.01] (a
joint cannot fold its links exactly onto each other). The episode starts in
MCGB's spiral: angles evenly spaced from 4*pi/20 down to pi/20.

Action (20) in [-1, 1]: joint angle increments, scaled by `max_step` radians.
A move is refused as a whole (the joints keep their angles) if after it any
link touches a wall or the arm leaves [0, 1]^2, if any joint's straight path
during the move crosses a wall (so a big move cannot tunnel through a thin
wall), or, with `self_collision`, if two non-adjacent links touch.
Observation (20): joint angles / pi, in (-1, 1). Descriptor: final end
effector (x, y) in [0, 1]^2.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from tasks import fields
from tasks import render as draw
from tasks.base import SparseRewardTask
from tasks.geometry import segments_intersect
from tasks.registry import register
from tasks.spec import RewardArea, TaskSpec

# MCGB's cross: wall thickness 0.02 becomes a segment on the wall's axis.
CROSS_WALLS = (
    (0.5, 0.0, 0.5, 0.2),
    (0.5, 0.8, 0.5, 1.0),
    (0.0, 0.5, 0.2, 0.5),
    (0.8, 0.5, 1.0, 0.5),
)
# Joint limit: just short of pi, because a joint folded by exactly pi lays a
# link on top of the previous one and the next link then touches the one
# before at a single point, within float rounding; 0.01 rad short, self-contact
# is decided by a clear crossing or gap instead.
JOINT_LIMIT = float(np.pi - 0.01)
# Most joints the pairwise self-collision test is allowed (n^2 link pairs).
MAX_SELF_COLLISION_JOINTS = 1000
LINK_COLOR = (0.10, 0.25, 0.80)
TIP_COLOR = (0.90, 0.10, 0.10)


@struct.dataclass
class ArmState:
    """Physical state of the arm.

    Attributes:
        angles: relative joint angles in radians [n_joints].
        joints: positions of the base, the joints and the end effector
            [n_joints + 1, 2] (kept so that reading them costs nothing).
        refused: number of moves refused so far (int32), for diagnostics.
    """

    angles: jax.Array
    joints: jax.Array
    refused: jax.Array


def joint_positions(angles: jax.Array, base: jax.Array, link_length: float) -> jax.Array:
    """Forward kinematics: base, every joint and the end effector, [n + 1, 2].

    Args:
        angles: relative joint angles [n]; all zero points the arm up.
        base: base position [2].
        link_length: length of every link.

    Returns:
        Positions from the base (row 0) to the end effector (row n).
    """
    # Prefix sums as products with a triangular matrix: on CPU this is several
    # times faster than jnp.cumsum at these sizes; HIGHEST keeps float32
    # accuracy on accelerators that would otherwise use TF32.
    n = angles.shape[-1]
    lower = jnp.asarray(np.tril(np.ones((n, n), np.float32)))
    prefix = lambda x: jnp.matmul(lower, x, precision=jax.lax.Precision.HIGHEST)
    heading = jnp.pi / 2 + prefix(angles)
    steps = link_length * jnp.stack([jnp.cos(heading), jnp.sin(heading)], axis=-1)
    return jnp.concatenate([base[None], base[None] + prefix(steps)], axis=0)


def links_of(joints: jax.Array) -> jax.Array:
    """The links between consecutive joint positions.

    Args:
        joints: positions [n + 1, 2].

    Returns:
        Segments [n, 4] as (x0, y0, x1, y1).
    """
    return jnp.concatenate([joints[:-1], joints[1:]], axis=-1)


def wall_contacts(links: jax.Array, walls: jax.Array) -> jax.Array:
    """Whether segments touch walls (closed segments, touching counts).

    Args:
        links: segments [n, 4].
        walls: wall segments [W, 4] (W may be 0).

    Returns:
        bool [n, W].
    """
    if walls.shape[0] == 0:
        return jnp.zeros((links.shape[0], 0), bool)
    return jax.vmap(lambda s: segments_intersect(s[:2], s[2:], walls))(links)


def self_contacts(links: jax.Array) -> jax.Array:
    """Whether any two non-adjacent links touch (adjacent links share a joint
    and always do). Returns a bool scalar."""
    n = links.shape[0]
    # Every ordered pair as two flat [n * n, 4] lists, then keep j >= i + 2.
    # Broadcasts compile and run faster on CPU than gathers or many slices.
    first = jnp.broadcast_to(links[:, None, :], (n, n, 4)).reshape(n * n, 4)
    second = jnp.broadcast_to(links[None, :, :], (n, n, 4)).reshape(n * n, 4)
    idx = np.arange(n)
    far = (idx[None, :] - idx[:, None] >= 2).reshape(-1)
    return jnp.any(segments_intersect(first[:, :2], first[:, 2:], second) & far)


def is_legal(new: jax.Array, old: jax.Array, walls: jax.Array, self_collision: bool) -> jax.Array:
    """Whether the arm may move from joint positions `old` to `new` [n + 1, 2].

    Args:
        new: joint positions after the move.
        old: joint positions before the move.
        walls: [W, 4] wall segments.
        self_collision: also forbid non-adjacent links touching.

    Returns:
        bool scalar.
    """
    inside = jnp.all((new >= 0.0) & (new <= 1.0))
    hits_wall = jnp.any(wall_contacts(links_of(new), walls))
    # The base never moves: only the other joints' paths can cross a wall.
    tunnels = jnp.any(wall_contacts(jnp.concatenate([old[1:], new[1:]], axis=-1), walls))
    legal = inside & ~hits_wall & ~tunnels
    if self_collision:
        legal = legal & ~self_contacts(links_of(new))
    return legal


@register("redundant_arm")
class RedundantArm(SparseRewardTask):
    """The 20-joint redundant arm of the SERENE/STAX experiments, in pure JAX.

    Three reward discs of radius 0.05 at (0.25, 0.25), (0.85, 0.85) and
    (0.25, 0.90); the reference controller is 20-5-5-20 (228 genes); 100
    steps. With `dense_reward` the episode instead pays -std(joint angles) at
    its end (the reward-dense arm of Cully et al. 2015, as in QDax's arm
    benchmark), for MAP-Elites; with `step_reward` every step pays
    -std(joint angles) / episode_length, a dense reward whose return is minus
    the mean spread over the episode (for learners from transitions: PGA-ME);
    `reward_area` still says which disc, if any, the end effector ended in.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Settings of the redundant arm task.

        Attributes:
            episode_length: steps per episode.
            policy_hidden: hidden layers of the reference controller.
            n_joints: number of joints (and links).
            arm_length: total length of the arm.
            base: position of the arm's base.
            max_step: joint angle increment at action +-1, radians. 0.05 lets
                one joint cross its whole range in ~125 steps, turn the arm
                by 90 degrees in ~31 and unfold the start spiral in ~13.
            walls: wall segments (x0, y0, x1, y1); default the cross.
            self_collision: refuse moves where non-adjacent links touch.
            dense_reward: pay -std(joint angles) at the end instead of the
                sparse disc reward.
            step_reward: pay -std(joint angles) / episode_length at every
                step instead (a dense reward; excludes `dense_reward`).
        """

        episode_length: int = 100
        policy_hidden: tuple[int, ...] = (5, 5)
        n_joints: int = 20
        arm_length: float = 1.0
        base: tuple[float, float] = (0.5, 0.5)
        max_step: float = 0.05
        walls: tuple[tuple[float, float, float, float], ...] = CROSS_WALLS
        self_collision: bool = True
        dense_reward: bool = False
        step_reward: bool = False

        def __post_init__(self):
            fields.normalise(self)  # types first, so the checks below compare numbers
            fields.check_common(self)
            _validate(self)

    def __init__(self, config: "RedundantArm.Config | None" = None):
        """Builds the task.

        Args:
            config: settings; defaults to `RedundantArm.Config()`.

        Settings are checked when the `Config` is made (TypeError/ValueError
        naming the field).

        Raises:
            ValueError: a start pose that is not legal in the configured room.
        """
        config = config or self.Config()  # checked by Config.__post_init__
        self.config = config
        self.link_length = config.arm_length / config.n_joints
        self.spec = TaskSpec(
            name="redundant_arm",
            observation_size=config.n_joints,
            action_size=config.n_joints,
            episode_length=config.episode_length,
            descriptor_low=(0.0, 0.0),
            descriptor_high=(1.0, 1.0),
            reward_areas=(
                RewardArea((0.25, 0.25), 0.05),
                RewardArea((0.85, 0.85), 0.05),
                RewardArea((0.25, 0.90), 0.05),
            ),
            walls=tuple(tuple(float(v) for v in w) for w in config.walls),
        )
        self._walls = self.spec.walls_array
        self._start = start_angles(config.n_joints)
        self._background = draw.static_background(self.spec)
        self._pixels = draw.pixel_centers(self.spec)
        start = self.forward(jnp.asarray(self._start))
        if not bool(is_legal(start, start, jnp.asarray(self._walls), config.self_collision)):
            raise ValueError("the start spiral of the redundant arm touches a wall or leaves [0, 1]^2")

    # -- physics ---------------------------------------------------------------
    def forward(self, angles: jax.Array) -> jax.Array:
        """Positions of the base, the joints and the end effector [n + 1, 2]
        for joint angles [n]."""
        return joint_positions(angles, jnp.asarray(self.config.base, jnp.float32), self.link_length)

    def init_physics(self, rng: jax.Array) -> ArmState:
        """The start spiral (deterministic)."""
        del rng
        angles = jnp.asarray(self._start)
        return ArmState(angles=angles, joints=self.forward(angles), refused=jnp.int32(0))

    def physics_step(self, physics: ArmState, action: jax.Array) -> ArmState:
        """Adds max_step * action to the joint angles (clipped to the joint
        limits) unless the move is illegal, in which case nothing moves."""
        c = self.config
        angles = jnp.clip(physics.angles + c.max_step * action.astype(jnp.float32), -JOINT_LIMIT, JOINT_LIMIT)
        joints = self.forward(angles)
        legal = is_legal(joints, physics.joints, jnp.asarray(self._walls), c.self_collision)
        return ArmState(
            angles=jnp.where(legal, angles, physics.angles),
            joints=jnp.where(legal, joints, physics.joints),
            refused=physics.refused + (~legal).astype(jnp.int32),
        )

    def observe(self, physics: ArmState) -> jax.Array:
        """Joint angles / pi, in (-1, 1)."""
        return physics.angles / jnp.pi

    def position(self, physics: ArmState) -> jax.Array:
        """The end effector: what the reward and descriptor are about."""
        return physics.joints[-1]

    def step(self, state, action):
        """The base class's step; with `dense_reward` the episode's end pays
        -std(joint angles) instead of the sparse disc reward, with
        `step_reward` every step pays -std(joint angles) / episode_length.

        Args:
            state: the Brax state.
            action: joint increments [n_joints] in [-1, 1].

        Returns:
            The next Brax state.
        """
        state = super().step(state, action)
        if self.config.step_reward:
            spread = jnp.std(state.pipeline_state.angles) / self.config.episode_length
            return state.replace(reward=(-spread).astype(jnp.float32))
        if not self.config.dense_reward:
            return state
        fitness = -jnp.std(state.pipeline_state.angles)
        return state.replace(reward=jnp.where(state.done > 0, fitness, 0.0).astype(jnp.float32))

    def render(self, physics: ArmState) -> jax.Array:
        """Top-down view [64, 64, 3]: white room, black walls, blue links,
        red end effector."""
        joints = physics.joints
        n = self.config.n_joints
        half_width = 0.6 * draw.pixel_size(self.spec)
        img = draw.draw_segments(
            jnp.asarray(self._background), self._pixels, links_of(joints), half_width, jnp.asarray([LINK_COLOR] * n)
        )
        return draw.draw_discs(img, self._pixels, joints[-1:], jnp.asarray([0.025]), jnp.asarray([TIP_COLOR]))


def start_angles(n_joints: int) -> np.ndarray:
    """MCGB's start spiral: angles evenly spaced from 4*pi/n down to pi/n,
    float32 [n]."""
    first = 4.0 * np.pi / n_joints
    return np.linspace(first, first / 4.0, n_joints).astype(np.float32)


def _validate(c: RedundantArm.Config) -> None:
    problems = []
    if c.episode_length < 1:
        problems.append(f"episode_length must be >= 1, got {c.episode_length}")
    if c.n_joints < 2:
        problems.append(f"n_joints must be >= 2, got {c.n_joints}")
    elif c.self_collision and c.n_joints > MAX_SELF_COLLISION_JOINTS:
        # The self-collision test compares every pair of links: n^2 memory per
        # arm (10^5 joints: > 100 GB), checked before anything is allocated.
        problems.append(f"n_joints must be <= {MAX_SELF_COLLISION_JOINTS} with self_collision (it compares "
                        f"every pair of links), got {c.n_joints}; set self_collision=false for longer arms")
    if not c.arm_length > 0:
        problems.append(f"arm_length must be > 0, got {c.arm_length}")
    if not c.max_step > 0:
        problems.append(f"max_step must be > 0, got {c.max_step}")
    if not all(0.0 <= v <= 1.0 for v in c.base):
        problems.append(f"base must lie in [0, 1]^2, got {c.base}")
    if c.dense_reward and c.step_reward:
        problems.append("dense_reward and step_reward cannot both be set (one reward at the end, or one per step)")
    if any(len(w) != 4 for w in c.walls):
        problems.append("walls must be (x0, y0, x1, y1) segments")
    if problems:
        raise ValueError("invalid redundant_arm config: " + "; ".join(problems))
