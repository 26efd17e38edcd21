"""Shared plumbing of the tasks simulated by a Brax physics pipeline.

Brax 0.14 has four pipelines: `spring`, `positional`, `generalized` and
`mjx`. Every physics task takes one as `Config.backend` (on the command line
`--set task.backend=mjx`) and is tuned for it the way `brax.envs.ant` tunes
the ant (`tune`): spring and positional take ten 5 ms substeps per control
step, generalized and mjx five 10 ms ones, mjx uses MuJoCo's Newton solver
with one iteration, positional gets stronger motors.

Why `spring` is the default (`benchmarks/brax_tasks.py`, 2-core CPU, batch
128, 100-step episodes, both backends in one process, machine nearly idle):
on Brax's plain ant mjx is ~15% faster (18.5-19.0k vs 16.3-16.7k env-steps/s),
on the antmaze they tie (12.7-12.8k: the walls' contacts dominate); under a
heavy shared load spring was the cheaper in CPU time (13.9k vs 12.4k per
CPU-second) and mjx compiled ~2x slower. Earlier measurements gave spring
~20k and mjx ~17k env-steps/s, and `generalized` produced NaN states at batch
1024 on the ant (`positional` and `generalized` were not re-measured). With
no clear winner, spring stays: it is what QDax's QD-RL tasks use
(`qdax.tasks.brax.v2.create(backend="spring")`), so fitnesses and
descriptors are comparable with QDax's, and it is the pipeline the tests
and benchmarks validate. `--set task.backend=mjx` switches (Brax itself
now points to MJX, the better-maintained pipeline, on accelerators).
"""
from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

with contextlib.redirect_stdout(io.StringIO()):  # mjx's "Failed to import warp" noise
    import mujoco
    from brax import base as brax_base
    from brax.envs.base import PipelineEnv

BACKENDS = ("spring", "mjx", "positional", "generalized")
DEFAULT_BACKEND = "spring"


def check_backend(backend: Any) -> str:
    """`backend` if it names a Brax pipeline.

    Raises:
        ValueError: any other value; the message lists the valid ones.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown Brax backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return backend


def tune(sys: brax_base.System, backend: str, gear: float | None = None) -> tuple[brax_base.System, int]:
    """The system and substeps per control step for `backend`, as `brax.envs.ant` sets them.

    Args:
        sys: the system loaded from MJCF (10 ms timestep).
        backend: a name in `BACKENDS`.
        gear: motor gear for the positional pipeline (brax uses 200 for the
            ant, whose MJCF says 150); None keeps the MJCF's.

    Returns:
        (system, n_frames); one control step lasts 50 ms either way.
    """
    check_backend(backend)
    n_frames = 5
    if backend in ("spring", "positional"):
        sys = sys.tree_replace({"opt.timestep": 0.005})
        n_frames = 10
    if backend == "mjx":
        sys = sys.tree_replace({
            "opt.solver": mujoco.mjtSolver.mjSOL_NEWTON,
            "opt.disableflags": mujoco.mjtDisableBit.mjDSBL_EULERDAMP,
            "opt.iterations": 1,
            "opt.ls_iterations": 4,
        })
    if backend == "positional" and gear is not None:
        sys = sys.replace(actuator=sys.actuator.replace(gear=gear * jnp.ones_like(sys.actuator.gear)))
    return sys, n_frames


class _Pipeline(PipelineEnv):
    """`PipelineEnv` for its `pipeline_init`/`pipeline_step` only; the task
    around it is the environment."""

    def reset(self, rng):  # pragma: no cover - never called
        raise NotImplementedError

    def step(self, state, action):  # pragma: no cover - never called
        raise NotImplementedError


def pipeline(sys: brax_base.System, backend: str, n_frames: int, debug: bool = False) -> PipelineEnv:
    """Brax's own pipeline wrapper (init + `n_frames` substeps per step), so
    a task steps the physics with exactly the code `brax.envs` uses."""
    return _Pipeline(sys=as_constants(sys), backend=check_backend(backend), n_frames=n_frames, debug=debug)


def link_xy(pipeline_state: Any, link: int) -> jax.Array:
    """World (x, y) of link `link` in any pipeline's state (they all carry `x`)."""
    return pipeline_state.x.pos[link, :2]


def feet_contacts(contact: Any, feet: np.ndarray) -> jax.Array:
    """1.0 for each foot link touching something, [len(feet)] float32.

    QDax's rule (`FeetContactWrapper`): a foot touches when a contact
    involves the foot's link as its second body at distance <= 0.

    Args:
        contact: a `brax.base.Contact` (e.g. `brax.contact.get(sys, x)`).
        feet: link indices of the feet.
    """
    touching = contact.dist <= 0
    hits = (contact.link_idx[1][None, :] == jnp.asarray(feet)[:, None]) & touching[None, :]
    return jnp.any(hits, axis=-1).astype(jnp.float32)


def as_constants(sys: brax_base.System) -> brax_base.System:
    """The system with its arrays uncommitted to any device.

    Brax builds some of the system's arrays committed to the default device;
    closed over by a rollout sharded over several devices (`shard_map`), those
    are refused ("incompatible devices"). Rebuilt from NumPy, an array is
    uncommitted and goes wherever the computation goes (NumPy arrays
    themselves would not do: MJX indexes them with traced indices).
    """
    return jax.tree.map(lambda x: jnp.asarray(np.asarray(x)) if isinstance(x, jax.Array) else x, sys)
