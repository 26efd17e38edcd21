"""Curling: a planar two-link arm pushes a ball across a billiard-like table.

The task of Paolo et al. 2021 (SERENE, "Curling"; gym_billiard's `Curling-v0`):
the arm's base sits behind the middle of the table's bottom cushion, the ball
starts at (-0.5, 0.2), and the episode pays only where the ball lies after 500
steps. Our version is pure JAX: the arm is kinematic (velocity-controlled
joints), the ball a disc that the links (capsules) push with a simple impulse,
that slides with drag plus Coulomb friction, and bounces off the cushions.

Geometry (world units = metres, y up):

- The ball's centre stays in the table [-1.35, 1.35]^2 (the coverage grid of
  the reference experiments: cushions at 1.45 minus a 0.1 ball radius).
- Base at (0, -1.5), links of 1.0 and 1.0 (the gym_billiard values), so the
  arm reaches 2.0 and the ball starts 1.77 from the base. Joint angles are
  measured counter-clockwise from straight up: q0 in [-pi/2, pi/2] (the link
  stays on the table side of the base), q1 in [-pi, pi] relative to link 0.

Observation (6, raw, as the reference controller expects): ball x, ball y,
q0, q1 (rad), q0', q1' (rad/s). Action (2) in [-1, 1]: joint velocity
commands, scaled by `max_joint_speed`. Descriptor: final ball (x, y), in the
world coordinates (world = descriptor space).
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
from tasks.registry import register
from tasks.spec import RewardArea, TaskSpec

HALF_TABLE = 1.35  # |x|, |y| bound of the ball's centre (coverage grid bounds)
FELT = (0.20, 0.50, 0.30)
LINK_COLOR = (0.30, 0.30, 0.30)
BALL_COLOR = (1.0, 1.0, 1.0)


@struct.dataclass
class CurlingState:
    """Physical state of the table.

    Attributes:
        joints: joint angles (q0, q1) in radians [2].
        joint_speed: joint velocities actually applied last step, rad/s [2]
            (zero on a joint held at its limit).
        ball: ball centre (x, y) [2].
        ball_velocity: ball velocity [2], per second.
    """

    joints: jax.Array
    joint_speed: jax.Array
    ball: jax.Array
    ball_velocity: jax.Array


def _perp(v: jax.Array) -> jax.Array:
    """v rotated by +90 degrees: the velocity of a point at offset v on a body
    turning at 1 rad/s counter-clockwise."""
    return jnp.stack([-v[..., 1], v[..., 0]], axis=-1)


def arm_points(joints: jax.Array, base: jax.Array, lengths: jax.Array) -> jax.Array:
    """Base, elbow and tip of the arm, [3, 2].

    Args:
        joints: (q0, q1), angles counter-clockwise from straight up; q1 is
            relative to link 0.
        base: base position [2].
        lengths: link lengths [2].

    Returns:
        The three points, base first.
    """
    absolute = jnp.stack([joints[0], joints[0] + joints[1]])  # not cumsum: slow on CPU
    steps = lengths[:, None] * jnp.stack([-jnp.sin(absolute), jnp.cos(absolute)], axis=-1)
    elbow = base + steps[0]
    return jnp.stack([base, elbow, elbow + steps[1]])


def _contact(ball, velocity, a, b, point_velocity, reach, restitution):
    """Pushes the ball out of one link (segment a-b) and applies the impulse.

    The arm is infinitely heavy (it is kinematic): when the ball's centre is
    closer than `reach` to the segment, it is moved out along the contact
    normal, and if it approaches the link there its normal velocity becomes
    -restitution times the relative normal velocity.

    Args:
        ball: ball centre [2].
        velocity: ball velocity [2].
        a, b: the link's end points [2].
        point_velocity: function mapping a point on the link to its velocity.
        reach: ball radius + link half-thickness.
        restitution: coefficient of restitution of the contact.

    Returns:
        (ball, velocity, touched).
    """
    ab = b - a
    t = jnp.clip(jnp.dot(ball - a, ab) / jnp.maximum(jnp.dot(ab, ab), 1e-12), 0.0, 1.0)
    closest = a + t * ab
    offset = ball - closest
    dist = jnp.linalg.norm(offset)
    # A centre exactly on the link's axis has no normal: use the link's left side.
    fallback = _perp(ab) / jnp.maximum(jnp.linalg.norm(ab), 1e-12)
    normal = jnp.where(dist > 1e-6, offset / jnp.maximum(dist, 1e-6), fallback)
    touched = dist < reach
    approach = jnp.dot(velocity - point_velocity(closest), normal)
    kick = jnp.where(touched & (approach < 0.0), -(1.0 + restitution) * approach, 0.0)
    ball = jnp.where(touched, closest + reach * normal, ball)
    return ball, velocity + kick * normal, touched


def _cushions(ball, velocity, half, restitution):
    """Reflects the ball off the table's cushions (the centre stays in
    [-half, half]^2); the outward velocity component flips and shrinks."""
    over = jnp.abs(ball) > half
    ball = jnp.where(over, jnp.sign(ball) * (2.0 * half - jnp.abs(ball)), ball)
    ball = jnp.clip(ball, -half, half)  # a reflection cannot overshoot the far side
    outward = over & (ball * velocity > 0.0)
    return ball, jnp.where(outward, -restitution * velocity, velocity)


def _friction(velocity, h, drag, deceleration):
    """Sliding friction over h seconds: linear drag plus a constant (Coulomb)
    deceleration, which brings the ball to an exact stop in finite time."""
    speed = jnp.linalg.norm(velocity)
    slower = jnp.maximum(speed * (1.0 - drag * h) - deceleration * h, 0.0)
    return velocity * (slower / jnp.maximum(speed, 1e-12))


@register("curling")
class Curling(SparseRewardTask):
    """Curling of the SERENE experiments (Paolo et al. 2021), in pure JAX.

    Two reward discs: (0.8, 0.8) radius 0.4 and (0.8, -0.8) radius 0.2; an
    episode pays (r - d) / r if the ball ends d < r from a disc's centre. The
    reference controller is 6-5-5-5-2 (94 genes).

    Episodes never end early: the rollout is a fixed-length scan, so stopping
    would save nothing, and a still ball may be hit again.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Settings of the curling task.

        Attributes:
            episode_length: control steps per episode.
            policy_hidden: hidden layers of the reference controller.
            dt: seconds per control step.
            substeps: physics substeps per control step (keeps the contact
                shallow: per substep the arm tip and ball move < 0.05).
            base: arm base position.
            link_lengths: lengths of link 0 and link 1.
            link_radius: half-thickness of the links (capsules).
            ball_radius: radius of the ball.
            ball_start: initial ball centre.
            max_joint_speed: joint speed at action +-1, rad/s.
            arm_restitution: restitution of arm-ball contacts.
            cushion_restitution: restitution of ball-cushion bounces.
            drag: linear drag of the sliding ball, 1/s.
            deceleration: Coulomb friction deceleration, units/s^2.
        """

        episode_length: int = 500
        policy_hidden: tuple[int, ...] = (5, 5, 5)
        dt: float = 0.02
        substeps: int = 4
        base: tuple[float, float] = (0.0, -1.5)
        link_lengths: tuple[float, float] = (1.0, 1.0)
        link_radius: float = 0.05
        ball_radius: float = 0.1
        ball_start: tuple[float, float] = (-0.5, 0.2)
        max_joint_speed: float = 2.0
        arm_restitution: float = 0.5
        cushion_restitution: float = 0.8
        drag: float = 1.0
        deceleration: float = 0.5

        def __post_init__(self):
            fields.normalise(self)  # types first, so the checks below compare numbers
            fields.check_common(self)
            _validate(self)

    def __init__(self, config: "Curling.Config | None" = None):
        """Builds the task.

        Args:
            config: settings; defaults to `Curling.Config()`.

        Settings are checked when the `Config` is made (TypeError/ValueError
        naming the field), so a built config always builds.
        """
        config = config or self.Config()  # checked by Config.__post_init__
        self.config = config
        self.spec = TaskSpec(
            name="curling",
            observation_size=6,
            action_size=2,
            episode_length=config.episode_length,
            descriptor_low=(-HALF_TABLE, -HALF_TABLE),
            descriptor_high=(HALF_TABLE, HALF_TABLE),
            reward_areas=(RewardArea((0.8, 0.8), 0.4), RewardArea((0.8, -0.8), 0.2)),
            world_low=(-HALF_TABLE, -HALF_TABLE),
            world_high=(HALF_TABLE, HALF_TABLE),
        )
        background = np.empty((draw.SIZE, draw.SIZE, 3), np.float32)
        background[:] = FELT
        self._background = background
        self._pixels = draw.pixel_centers(self.spec)

    # -- physics ---------------------------------------------------------------
    def init_physics(self, rng: jax.Array) -> CurlingState:
        """Arm straight up, ball at rest at `ball_start` (deterministic)."""
        del rng
        zeros = jnp.zeros(2, jnp.float32)
        return CurlingState(
            joints=zeros,
            joint_speed=zeros,
            ball=jnp.asarray(self.config.ball_start, jnp.float32),
            ball_velocity=zeros,
        )

    def arm(self, physics: CurlingState) -> jax.Array:
        """Base, elbow and tip of the arm [3, 2]."""
        c = self.config
        return arm_points(
            physics.joints, jnp.asarray(c.base, jnp.float32), jnp.asarray(c.link_lengths, jnp.float32)
        )

    def physics_step(self, physics: CurlingState, action: jax.Array) -> CurlingState:
        """One control step of `substeps` substeps: joints turn at the
        commanded speeds (stopping at their limits), the ball slides, is
        pushed by the links, bounces off the cushions and slows down."""
        c = self.config
        h = c.dt / c.substeps
        low = jnp.array([-jnp.pi / 2, -jnp.pi], jnp.float32)
        high = -low
        command = c.max_joint_speed * action.astype(jnp.float32)
        base = jnp.asarray(c.base, jnp.float32)
        reach = c.ball_radius + c.link_radius
        joints, ball, velocity = physics.joints, physics.ball, physics.ball_velocity
        speed = jnp.zeros(2, jnp.float32)
        for _ in range(c.substeps):  # unrolled: a handful of tiny substeps
            new_joints = jnp.clip(joints + h * command, low, high)
            speed = (new_joints - joints) / h
            joints = new_joints
            _, elbow, tip = self.arm(physics.replace(joints=joints))
            ball = ball + h * velocity

            def link0_velocity(p, speed=speed):
                return speed[0] * _perp(p - base)

            def link1_velocity(p, speed=speed, elbow=elbow):
                return speed[0] * _perp(p - base) + speed[1] * _perp(p - elbow)

            ball, velocity, _ = _contact(ball, velocity, base, elbow, link0_velocity, reach, c.arm_restitution)
            ball, velocity, _ = _contact(ball, velocity, elbow, tip, link1_velocity, reach, c.arm_restitution)
            ball, velocity = _cushions(ball, velocity, HALF_TABLE, c.cushion_restitution)
            velocity = _friction(velocity, h, c.drag, c.deceleration)
        return CurlingState(joints=joints, joint_speed=speed, ball=ball, ball_velocity=velocity)

    def observe(self, physics: CurlingState) -> jax.Array:
        """(ball x, ball y, q0, q1, q0', q1'), raw units."""
        return jnp.concatenate([physics.ball, physics.joints, physics.joint_speed]).astype(jnp.float32)

    def position(self, physics: CurlingState) -> jax.Array:
        """The ball's centre: what the reward and descriptor are about."""
        return physics.ball

    def render(self, physics: CurlingState) -> jax.Array:
        """Top-down view [64, 64, 3]: felt, the two links, the ball on top."""
        c = self.config
        points = self.arm(physics)
        links = jnp.concatenate([points[:-1], points[1:]], axis=-1)
        img = draw.draw_segments(
            jnp.asarray(self._background), self._pixels, links, c.link_radius, jnp.asarray([LINK_COLOR] * 2)
        )
        return draw.draw_discs(
            img, self._pixels, physics.ball[None], jnp.asarray([c.ball_radius]), jnp.asarray([BALL_COLOR])
        )


def launch(physics: CurlingState, velocity) -> CurlingState:
    """Gives the ball a velocity, e.g. to test the table without an arm stroke.

    Args:
        physics: a curling state.
        velocity: the ball's new velocity (vx, vy), units per second.

    Returns:
        The state with that ball velocity.
    """
    return physics.replace(ball_velocity=jnp.asarray(velocity, jnp.float32))


def _validate(c: Curling.Config) -> None:
    problems = []
    if c.episode_length < 1:
        problems.append(f"episode_length must be >= 1, got {c.episode_length}")
    if c.substeps < 1:
        problems.append(f"substeps must be >= 1, got {c.substeps}")
    for name in ("dt", "link_radius", "ball_radius", "max_joint_speed"):
        if not getattr(c, name) > 0:
            problems.append(f"{name} must be > 0, got {getattr(c, name)}")
    if min(c.link_lengths) <= 0 or len(c.link_lengths) != 2:
        problems.append(f"link_lengths must be two positive lengths, got {c.link_lengths}")
    if max(abs(v) for v in c.ball_start) > HALF_TABLE:
        problems.append(f"ball_start must lie in [-{HALF_TABLE}, {HALF_TABLE}]^2, got {c.ball_start}")
    if c.drag < 0 or c.deceleration < 0:
        problems.append("drag and deceleration must be >= 0")
    if problems:
        raise ValueError("invalid curling config: " + "; ".join(problems))
