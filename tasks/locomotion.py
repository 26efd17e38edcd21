"""The QD-RL locomotion tasks of QDax, on Brax 0.14: dense reward, return = fitness.

QDax's `ant_omni`, `humanoid_omni`, `ant_uni`, `walker2d_uni`,
`halfcheetah_uni` and `hopper_uni` (`qdax.tasks.brax.v2`; the QD-RL benchmark
of Flageat et al. 2022, "Benchmarking quality-diversity algorithms on
neuroevolution for reinforcement learning"), written against Brax 0.14
directly: QDax 0.5's wrappers are partly broken there (`ant_omni` fails on
`jnp.clip(a_max=...)`, and `FeetContactWrapper` looks the ant's feet up as
"$ Body 4"... while Brax 0.14 names those links "").

- Physics, observation, per-step reward and early termination are Brax's own
  environments (`brax.envs.get_environment(base, backend=...)`), stepped
  through their `step`, so numbers match Brax's and QDax's.
- Omni tasks: descriptor = final torso (x, y) clipped to [-30, 30]^2; reward
  = Brax's reward minus its forward term (QDax's `NoForwardRewardWrapper`:
  the survival bonus minus the control cost, i.e. "-energy" for a survivor).
- Uni tasks: descriptor = fraction of the episode's steps on which each foot
  touches the ground, in [0, 1]^feet (QDax's feet-contact rule: a contact of
  the foot's link at distance <= 0, here computed from the post-step
  positions with `brax.contact.get`, so it works on every pipeline without
  Brax's `debug` state); reward = Brax's (forward progress + survival bonus -
  control cost).
- Episode lengths: 250 for omni, 1000 for uni (the benchmark's); an episode
  also ends when Brax's env says the robot is unhealthy (fallen).
- Policy: QDax's MLP, hidden (64, 64) ReLU layers, tanh output, LeCun-uniform
  kernels and zero biases (`create_default_brax_task_components`).
- Start: QDax's deterministic start (`FixedInitialStateWrapper`): the
  MJCF's initial pose with zero velocity unless `Config.reset_noise` > 0
  (then Brax's reset noise of that scale, from the episode's key).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from tasks import brax_physics, fields, render
from tasks.base import SparseRewardTask
from tasks.policies import MLPPolicy
from tasks.registry import register
from tasks.spec import TaskSpec

TORSO = 0
OMNI_BOUND = 30.0
ROBOT_COLOR = (1.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class Family:
    """How one QD-RL task is made from a Brax environment.

    Attributes:
        env: Brax environment name.
        kind: "omni" (final x, y) or "uni" (feet contact fractions).
        feet: link names of the feet (uni tasks); "" names Brax 0.14's unnamed
            lower legs of the ant, taken in order.
        forward_metric: Brax metric holding the forward reward term.
        episode_length: the benchmark's episode length.
    """

    env: str
    kind: str
    feet: tuple[str, ...]
    forward_metric: str
    episode_length: int


FAMILIES = {
    "ant_omni": Family("ant", "omni", (), "reward_forward", 250),
    "humanoid_omni": Family("humanoid", "omni", (), "reward_linvel", 250),
    "ant_uni": Family("ant", "uni", ("", "", "", ""), "reward_forward", 1000),
    "walker2d_uni": Family("walker2d", "uni", ("foot", "foot_left"), "reward_forward", 1000),
    "halfcheetah_uni": Family("halfcheetah", "uni", ("bfoot", "ffoot"), "reward_run", 1000),
    "hopper_uni": Family("hopper", "uni", ("foot",), "reward_forward", 1000),
}


def _grid(dims: int) -> tuple[int, ...]:
    """Coverage grid: 50 cells a side up to 2-d, 10 a side above (10^4 for the ant's 4 feet)."""
    return (50,) * dims if dims <= 2 else (10,) * dims


def feet_links(link_names: list[str], feet: tuple[str, ...]) -> np.ndarray:
    """Link indices of `feet` in `link_names`; repeated names take successive matches."""
    used: list[int] = []
    for name in feet:
        index = next((i for i, n in enumerate(link_names) if n == name and i not in used), None)
        if index is None:
            raise ValueError(f"no link {name!r} left in {link_names}")
        used.append(index)
    return np.asarray(used, np.int32)


@struct.dataclass
class LocomotionState:
    """Physics of a locomotion task.

    Attributes:
        env: the Brax environment's state (pipeline state, obs, reward, done, metrics).
        contact_steps: steps on which each foot touched the ground [feet] (uni).
        steps: steps taken.
    """

    env: Any
    contact_steps: jax.Array
    steps: jax.Array


class Locomotion(SparseRewardTask):
    """A QD-RL locomotion task (see module doc); subclasses name the family."""

    name: str = ""

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Locomotion settings.

        Attributes:
            episode_length: steps per episode; None for the benchmark's (250
                omni, 1000 uni).
            policy_hidden: hidden layers of the MLP policy (QDax: 64, 64).
            backend: Brax pipeline, one of `tasks.brax_physics.BACKENDS`.
            reset_noise: Brax's reset noise scale; 0 for QDax's fixed start.
            trajectory_points: positions kept per episode.
        """

        episode_length: Optional[int] = None
        policy_hidden: tuple[int, ...] = (64, 64)
        backend: str = brax_physics.DEFAULT_BACKEND
        reset_noise: float = 0.0
        trajectory_points: int = 50

        def __post_init__(self):
            fields.normalise(self)
            fields.check_common(self)
            brax_physics.check_backend(self.backend)
            if not self.reset_noise >= 0:
                raise ValueError(f"reset_noise must be >= 0, got {self.reset_noise}")

    def __init__(self, config: Optional["Locomotion.Config"] = None):
        """Builds the task and its Brax environment (a few seconds).

        Raises:
            ValueError: invalid settings (checked by `Config`).
        """
        import brax.envs

        self.config = c = config or self.Config()
        self.family = family = FAMILIES[self.name]
        self._env = brax.envs.get_environment(family.env, backend=c.backend, reset_noise_scale=c.reset_noise)
        self._env.sys = sys = brax_physics.as_constants(self._env.sys)  # shardable (see as_constants)
        self._feet = feet_links(list(sys.link_names), family.feet)
        episode_length = family.episode_length if c.episode_length is None else c.episode_length
        obs_size = int(jax.eval_shape(self._env.reset, jax.random.PRNGKey(0)).obs.shape[-1])
        if family.kind == "omni":
            low, high = (-OMNI_BOUND, -OMNI_BOUND), (OMNI_BOUND, OMNI_BOUND)
        else:
            low, high = (0.0,) * len(self._feet), (1.0,) * len(self._feet)
        self.spec = TaskSpec(
            name=self.name,
            observation_size=obs_size,
            action_size=int(sys.act_size()),
            episode_length=episode_length,
            descriptor_low=low,
            descriptor_high=high,
            reward_areas=(),
            world_low=(-OMNI_BOUND, -OMNI_BOUND),
            world_high=(OMNI_BOUND, OMNI_BOUND),
            grid_shape=_grid(len(low)),
            trajectory_points=c.trajectory_points,
            dense_reward=True,
        )
        self._policy = MLPPolicy(
            obs_size, self.spec.action_size, tuple(c.policy_hidden), activation="relu", kernel_init="lecun_uniform"
        )
        self._background = render.static_background(self.spec)
        self._pixels = render.pixel_centers(self.spec)
        self._draw_radius = 1.5 * render.pixel_size(self.spec)

    def default_policy(self) -> MLPPolicy:
        """QDax's MLP policy (one instance per task, so jitted rollouts are shared)."""
        return self._policy

    @property
    def backend(self) -> str:
        return self.config.backend

    # -- physics ---------------------------------------------------------------
    def init_physics(self, rng: jax.Array) -> LocomotionState:
        return LocomotionState(
            env=self._env.reset(rng),
            contact_steps=jnp.zeros((len(self._feet),), jnp.float32),
            steps=jnp.int32(0),
        )

    def physics_step(self, physics: LocomotionState, action: jax.Array) -> LocomotionState:
        env = self._env.step(physics.env, action)
        contact_steps = physics.contact_steps
        if self.family.kind == "uni":
            contact_steps = contact_steps + self.feet_contact(env.pipeline_state)
        return LocomotionState(env=env, contact_steps=contact_steps, steps=physics.steps + 1)

    def feet_contact(self, pipeline_state: Any) -> jax.Array:
        """1.0 for each foot touching something in `pipeline_state`, [feet]."""
        from brax import contact

        return brax_physics.feet_contacts(contact.get(self._env.sys, pipeline_state.x), self._feet)

    def terminated(self, physics: LocomotionState) -> jax.Array:
        return physics.env.done > 0

    def step_reward(self, previous: LocomotionState, physics: LocomotionState, action: jax.Array) -> jax.Array:
        del previous, action
        reward = physics.env.reward
        if self.family.kind == "omni":
            reward = reward - physics.env.metrics[self.family.forward_metric]
        return reward

    def observe(self, physics: LocomotionState) -> jax.Array:
        return physics.env.obs.astype(jnp.float32)

    def position(self, physics: LocomotionState) -> jax.Array:
        return brax_physics.link_xy(physics.env.pipeline_state, TORSO)

    def descriptor(self, physics: LocomotionState) -> jax.Array:
        if self.family.kind == "omni":
            return jnp.clip(self.position(physics), -OMNI_BOUND, OMNI_BOUND)
        return physics.contact_steps / jnp.maximum(physics.steps, 1).astype(jnp.float32)

    def render(self, physics: LocomotionState) -> jax.Array:
        """Top-down 64x64x3 view of [-30, 30]^2 with the torso as a red disc."""
        return render.draw_robot(self._background, self._pixels, self.position(physics), self._draw_radius, ROBOT_COLOR)


def _family_class(name: str) -> type:
    cls = type(f"Locomotion_{name}", (Locomotion,), {"name": name, "__doc__": f"QDax's {name} (see module doc)."})
    cls.__module__ = __name__
    return register(name)(cls)


for _name in FAMILIES:
    globals()[f"Locomotion_{_name}"] = _family_class(_name)
