"""Kheperax's mazes as registered tasks, driven by Kheperax's own simulator.

Kheperax (Grillotti & Cully 2023, "Kheperax: a lightweight JAX-based
robot control environment for benchmarking quality-diversity algorithms") is
the JAX re-implementation of libfastsim's maze robot that QD papers benchmark
on: a disc robot with two wheels, three lasers and two bumpers in a [0, 1]^2
maze ([-1, 1]^2 for the "quad" variants, the maze mirrored into the four
quadrants with the robot starting in the middle). Every maze Kheperax 0.2.0
defines is registered::

    kheperax_standard   kheperax_pointmaze   kheperax_snake
    kheperax_standard_quad   kheperax_pointmaze_quad   kheperax_snake_quad

Each step calls Kheperax's `KheperaxTask.step` itself (wheel noise, the
collision rule, laser and bumper readings), so a genome ends where it ends in
Kheperax; the adapter only carries the robot's posture, observation and
noise key between steps. What our contract adds is the same as for every
task: the sparse end-of-episode reward, here (r - d) / r inside the maze's
target disc (Kheperax's `target_pos`, `target_radius`), the trajectory, the
validity flag and a 64x64 top-down view (walls in black, the robot in red)
for TAXONS.

Policies: by default Kheperax's controller, QDax's `MLP` with ReLU hidden
layers (8 units) and a tanh output; a genome is its flattened flax
parameters in `jax.flatten_util.ravel_pytree` order, so a genome means the
same controller here as in Kheperax's scoring function. `policy="reference"`
uses the reference controller of the SERENE/TAXONS experiments instead.

One difference from Kheperax's scoring function: its descriptor is the
`state_descriptor` of the LAST transition, i.e. the position before the last
step; ours is the position after it (the end of the episode, as for every
other task). `Evaluation.trajectory` holds both when `trajectory_points`
equals `episode_length`.

Kheperax 0.2.0 calls `jax.tree_leaves` / `jax.tree_map`, which jax removed
in 0.6; they are given to Kheperax's own helper module only (`_load`), not
added to jax for the whole process.
"""
from __future__ import annotations

import dataclasses
from types import ModuleType, SimpleNamespace
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

from tasks import fields, render
from tasks.adapters.optional import require
from tasks.base import SparseRewardTask
from tasks.policies import ReferenceController
from tasks.registry import register
from tasks.spec import RewardArea, TaskSpec

EXTRA = "kheperax"
POLICIES = ("mlp", "reference")
ROBOT_COLOR = (1.0, 0.0, 0.0)


def _load(what: str) -> SimpleNamespace:
    """Kheperax's modules, with the jax aliases its helpers still call.

    Raises:
        MissingExtraError: kheperax (or qdax, which it needs) is not installed.
    """
    config = require("kheperax.tasks.config", EXTRA, what)
    main = require("kheperax.tasks.main", EXTRA, what)
    maze_maps = require("kheperax.envs.maze_maps", EXTRA, what)
    state = require("kheperax.envs.kheperax_state", EXTRA, what)
    quad = require("kheperax.tasks.quad", EXTRA, what)
    tree_utils = require("kheperax.utils.tree_utils", EXTRA, what)
    if not hasattr(tree_utils.jax, "tree_leaves"):
        tree_utils.jax = _JaxWithTreeAliases(tree_utils.jax)
    return SimpleNamespace(config=config, main=main, maze_maps=maze_maps, state=state, quad=quad)


class _JaxWithTreeAliases:
    """`jax` plus the `tree_leaves` / `tree_map` aliases jax 0.6 removed, as
    the `jax` global of Kheperax's `utils.tree_utils` only (its
    `get_batch_size` runs at trace time, so an import-time alias would not do)."""

    def __init__(self, jax_module: ModuleType):
        self._jax = jax_module
        self.tree_leaves = jax_module.tree.leaves
        self.tree_map = jax_module.tree.map

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jax, name)


@dataclasses.dataclass(frozen=True)
class KheperaxMLP:
    """Kheperax's controller: QDax's `MLP` (ReLU hidden layers, tanh output,
    LeCun-uniform kernels), a genome being its flattened flax parameters.

    Attributes:
        observation_size: inputs (3 lasers + 2 bumpers).
        action_size: outputs (2 wheels).
        hidden: hidden layer widths ((8,) in Kheperax).
    """

    observation_size: int
    action_size: int
    hidden: tuple[int, ...] = (8,)

    def __post_init__(self):
        networks = require("qdax.core.neuroevolution.networks.networks", EXTRA, "the Kheperax controller")
        module = networks.MLP(
            layer_sizes=(*self.hidden, self.action_size),
            kernel_init=jax.nn.initializers.lecun_uniform(),
            final_activation=jnp.tanh,
        )
        flat, unravel = ravel_pytree(module.init(jax.random.PRNGKey(0), jnp.zeros((self.observation_size,))))
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "unravel", unravel)
        object.__setattr__(self, "_size", int(flat.shape[0]))

    @property
    def genome_size(self) -> int:
        return self._size

    def apply(self, genome: jax.Array, observation: jax.Array) -> jax.Array:
        return self.module.apply(self.unravel(genome), observation)

    def init_genomes(self, key: jax.Array, n: int) -> jax.Array:
        """n genomes drawn by the MLP's own initialisers (as Kheperax's examples do)."""
        x = jnp.zeros((self.observation_size,))
        return jax.vmap(lambda k: ravel_pytree(self.module.init(k, x))[0])(jax.random.split(key, n))


@struct.dataclass
class KheperaxPhysics:
    """What changes between two Kheperax steps (the maze and the robot's
    shape are constants of the task).

    Attributes:
        posture: Kheperax's `Posture` (x, y, angle), float32 scalars.
        obs: the last observation [lasers..., bumper left, bumper right].
        key: Kheperax's noise key, split at every step as Kheperax does.
    """

    posture: Any
    obs: jax.Array
    key: jax.Array


class Kheperax(SparseRewardTask):
    """A Kheperax maze (see the module doc); the registered subclasses fix
    `maze` (a Kheperax maze name) and `quad`."""

    name: str = "kheperax_standard"
    maze: str = "standard"
    quad: bool = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Kheperax settings (Kheperax's defaults).

        Attributes:
            episode_length: steps per episode (1000 in Kheperax).
            policy: "mlp" (Kheperax's QDax MLP) or "reference" (the
                SERENE/TAXONS controller, 2*sigmoid-1 everywhere).
            policy_hidden: hidden layer widths of the policy.
            action_scale: wheel travel per step at action 1.
            wheel_noise: std of the Gaussian noise added to wheel velocities.
            sensor_noise: std of the Gaussian noise added to laser readings.
            trajectory_points: positions kept per episode.
        """

        episode_length: int = 1000
        policy: str = "mlp"
        policy_hidden: tuple[int, ...] = (8,)
        action_scale: float = 0.025
        wheel_noise: float = 0.0
        sensor_noise: float = 0.0
        trajectory_points: int = 50

        def __post_init__(self):
            fields.normalise(self)
            fields.check_common(self)
            if self.policy not in POLICIES:
                raise ValueError(f"policy must be one of {', '.join(map(repr, POLICIES))}, got {self.policy!r}")
            if not self.action_scale > 0:
                raise ValueError(f"action_scale must be > 0, got {self.action_scale}")
            for name in ("wheel_noise", "sensor_noise"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def __init__(self, config: Optional["Kheperax.Config"] = None):
        """Builds the task from Kheperax's maze `self.maze`.

        Raises:
            MissingExtraError: kheperax is not installed (the message says
                ``pip install 'divergent[kheperax]'``).
            ValueError: the installed Kheperax has no maze of that name.
        """
        self.config = c = config or self.Config()
        k = self._kheperax = _load(f"task {self.name!r}")
        mazes = k.maze_maps.KHEPERAX_MAZES
        if self.maze not in mazes:
            raise ValueError(
                f"the installed kheperax has no maze {self.maze!r}; its mazes: {', '.join(sorted(mazes))}"
            )
        target = mazes[self.maze]
        kc = k.config.KheperaxConfig.get_default_for_map(self.maze)
        kc.episode_length = c.episode_length
        kc.action_scale = c.action_scale
        kc.std_noise_wheel_velocities = c.wheel_noise
        kc.robot = kc.robot.replace(std_noise_sensor_measures=c.sensor_noise)
        if self.quad:
            kc = k.quad.make_quad_config(kc)
        self.kheperax_config = kc
        self.env = k.main.KheperaxTask(kc)
        self._robot = kc.robot
        self._maze = kc.maze

        (low_x, low_y), (high_x, high_y) = kc.limits
        walls = kc.maze.walls
        segments = np.stack([np.asarray(a, np.float32) for a in (walls.p1.x, walls.p1.y, walls.p2.x, walls.p2.y)], 1)
        self.spec = TaskSpec(
            name=self.name,
            observation_size=len(kc.robot.laser_angles) + 2,
            action_size=2,
            episode_length=c.episode_length,
            descriptor_low=(float(low_x), float(low_y)),
            descriptor_high=(float(high_x), float(high_y)),
            reward_areas=(RewardArea(tuple(map(float, target.target_pos)), float(target.target_radius)),),
            walls=tuple(map(tuple, segments.tolist())),
            world_low=(float(low_x), float(low_y)),
            world_high=(float(high_x), float(high_y)),
            grid_shape=(50, 50),
            trajectory_points=c.trajectory_points,
        )
        self._background = render.static_background(self.spec)
        self._pixels = render.pixel_centers(self.spec)
        # At least 1.5 pixels wide, so the robot survives 64x64.
        self._draw_radius = max(float(kc.robot.radius), 1.5 * render.pixel_size(self.spec))

    def default_policy(self):
        """Kheperax's MLP (`policy="mlp"`) or the reference controller."""
        c, spec = self.config, self.spec
        if c.policy == "reference":
            return ReferenceController((spec.observation_size, *c.policy_hidden, spec.action_size))
        return KheperaxMLP(spec.observation_size, spec.action_size, tuple(c.policy_hidden))

    # -- physics: Kheperax's own reset and step --------------------------------
    def _kheperax_state(self, physics: KheperaxPhysics):
        return self._kheperax.state.KheperaxState(
            maze=self._maze,
            robot=self._robot.replace(posture=physics.posture),
            obs=physics.obs,
            reward=jnp.float32(0.0),
            done=jnp.bool_(False),
            random_key=physics.key,
            info={},  # Kheperax writes into it; a fresh dict per step keeps our states immutable
        )

    def _physics(self, state) -> KheperaxPhysics:
        posture = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), state.robot.posture)
        return KheperaxPhysics(posture=posture, obs=jnp.asarray(state.obs, jnp.float32), key=state.random_key)

    def init_physics(self, rng: jax.Array) -> KheperaxPhysics:
        return self._physics(self.env.reset(rng))

    def physics_step(self, physics: KheperaxPhysics, action: jax.Array) -> KheperaxPhysics:
        return self._physics(self.env.step(self._kheperax_state(physics), action))

    def observe(self, physics: KheperaxPhysics) -> jax.Array:
        return physics.obs

    def position(self, physics: KheperaxPhysics) -> jax.Array:
        return jnp.stack([physics.posture.x, physics.posture.y])

    def render(self, physics: KheperaxPhysics) -> jax.Array:
        """Top-down 64x64x3 view: walls in black, the robot as a red disc."""
        return render.draw_robot(self._background, self._pixels, self.position(physics), self._draw_radius, ROBOT_COLOR)


# One registered class per Kheperax 0.2.0 maze (kheperax.envs.maze_maps) and
# its quad variant (kheperax.tasks.quad): KheperaxStandard, ...,
# KheperaxSnakeQuad.
MAZES = {  # Kheperax's name: (what it is, what it looks like)
    "standard": ("standard maze", "a deceptive maze like the hard maze; target top left"),
    "pointmaze": ("point maze", "two offset walls; target top right"),
    "snake": ("snake maze", "Curiosity-ES; a winding corridor, target bottom right"),
}


def _maze_class(maze: str, quad: bool) -> type:
    what, looks = MAZES[maze]
    if quad:
        name, cls_name = f"kheperax_{maze}_quad", f"Kheperax{maze.capitalize()}Quad"
        doc = f"Kheperax's {what} mirrored into four quadrants, start in the middle."
    else:
        name, cls_name, doc = f"kheperax_{maze}", f"Kheperax{maze.capitalize()}", f"Kheperax's {what} ({looks})."
    cls = type(cls_name, (Kheperax,), {"name": name, "maze": maze, "quad": quad, "__doc__": doc})
    cls.__module__ = __name__
    return register(name)(cls)


for _maze in MAZES:
    for _quad in (False, True):
        _cls = _maze_class(_maze, _quad)
        globals()[_cls.__name__] = _cls
