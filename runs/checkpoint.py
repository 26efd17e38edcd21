"""Checkpoints: the full algorithm state and the loop's counters, on disk.

Format (one ``.npz`` file per checkpoint, ``checkpoints/ckpt-<generation>.npz``):

- ``leaf_00000`` ... : the state's leaves (`jax.tree.leaves`) as NumPy
  arrays; typed PRNG keys are stored as their raw key data;
- ``rng_key``: the run's loop key (raw uint32 key data);
- ``manifest``: UTF-8 JSON (as a uint8 array) with the format version,
  generation, evaluations, wall time, extra loop counters, the run's config
  (minus budget and out), package versions, the state's treedef string, each
  leaf's shape, dtype, weak type and multi-device layout (mesh + partition
  spec), and a SHA-256 checksum over the manifest and every array.

No pickles: the state's structure is not stored but rebuilt from the run's
config with `jax.eval_shape(algo.init, ...)` (cheap: traced, nothing computed), and the
loaded leaves are unflattened into that skeleton's treedef. Files are
written atomically (temp file, fsync, rename) and only the newest
`keep` are kept. Anything wrong with a file raises `CheckpointError` naming
the file: the run never silently starts again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import platform
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from runs.atomic import remove_stale_temps, write_atomic
from runs.config import RunConfig, differences
from runs.errors import CheckpointError

FORMAT = "divergent-checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^ckpt-(\d+)\.npz$")
# Packages whose major version must match to load a checkpoint.
_MAJOR_CHECKED = ("jax", "flax", "numpy", "divergent")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        path: the file.
        state: the algorithm state, leaves on the default device.
        generation: generations completed when it was written.
        evaluations: evaluations spent by then.
        wall_time: seconds the run had taken by then (all sessions).
        rng_key: the loop's base key (raw uint32 key data).
        extra: other loop counters (e.g. ``invalid_total``).
        versions: package versions of the writer.
    """

    path: Path
    state: Any
    generation: int
    evaluations: int
    wall_time: float
    rng_key: np.ndarray
    extra: dict
    versions: dict


def versions() -> dict:
    """Versions of the packages a checkpoint depends on."""
    out = {"python": platform.python_version()}
    for package in ("jax", "jaxlib", "flax", "numpy", "divergent"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "unknown"
    return out


def path_for(directory: str | Path, generation: int) -> Path:
    return Path(directory) / f"ckpt-{generation:09d}.npz"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The checkpoint files of a directory, oldest generation first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save(
    directory: str | Path,
    state: Any,
    *,
    config: RunConfig,
    generation: int,
    evaluations: int,
    wall_time: float,
    rng_key: jax.Array,
    extra: Optional[dict] = None,
    keep: int = 2,
) -> tuple[Path, list[np.ndarray], list[dict]]:
    """Writes a checkpoint atomically and prunes older ones.

    Args:
        directory: the run's checkpoints folder (must exist).
        state: the algorithm state (a pytree).
        config: the run's config (its identity is stored and checked on load).
        generation, evaluations, wall_time: the loop's counters.
        rng_key: the loop's base key.
        extra: other JSON-able loop counters.
        keep: how many of the newest checkpoints to keep (>= 1).

    Returns:
        (path, host leaves, leaf specs): what `rebuild` needs to continue from
        exactly what was written.
    """
    leaves, treedef = jax.tree.flatten(state)
    host, specs = zip(*(_to_host(leaf) for leaf in leaves)) if leaves else ((), ())
    host, specs = list(host), list(specs)
    arrays = {f"leaf_{i:05d}": a for i, a in enumerate(host)}
    arrays["rng_key"] = np.asarray(_key_data(rng_key))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generation": int(generation),
        "evaluations": int(evaluations),
        "wall_time": float(wall_time),
        "extra": dict(extra or {}),
        "config": config.identity(),
        "versions": versions(),
        "treedef": str(treedef),
        "leaves": specs,
    }
    manifest["checksum"] = _checksum(manifest, arrays)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)

    path = write_atomic(path_for(directory, generation), lambda f: np.savez(f, **arrays))
    for old in list_checkpoints(directory)[: -max(keep, 1)]:
        old.unlink(missing_ok=True)
    return path, host, specs


def rebuild(treedef: Any, host: Sequence[np.ndarray], specs: Sequence[dict]) -> Any:
    """A device state from host leaves, as `load` makes it.

    The run loop continues from this after every checkpoint it writes, so an
    uninterrupted run and a resumed one feed the very same arrays (dtype,
    weak type, placement) into the next step and stay bit-identical.
    """
    return jax.tree.unflatten(treedef, [_to_device(a, s) for a, s in zip(host, specs)])


def load(path: str | Path, *, skeleton: Any, config: RunConfig) -> Checkpoint:
    """Reads and checks one checkpoint.

    Args:
        path: the ``.npz`` file.
        skeleton: a pytree with the state's structure (e.g. the output of
            ``jax.eval_shape(partial(algo.init, config.algo, task), key)``).
        config: the run's config; the checkpoint must come from the same run.

    Returns:
        The checkpoint, its state unflattened into the skeleton's treedef.

    Raises:
        CheckpointError: unreadable, truncated or corrupt file, a checksum
            mismatch, another run's config, other package major versions, or
            leaves that do not fit the skeleton; the message names the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            if f.read(4) != b"PK\x03\x04":  # not a zip: NumPy would try it as a pickle
                raise CheckpointError(f"{path}: not a divergent checkpoint (not an .npz file): the file is "
                                      "truncated or corrupt, or another file")
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        if "manifest" not in arrays:
            raise CheckpointError(f"{path}: not a divergent checkpoint (it has no manifest)")
        manifest = json.loads(bytes(arrays.pop("manifest")).decode("utf-8"))
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except ValueError as error:
        if "pickle" not in str(error):
            raise CheckpointError(f"{path}: cannot read the checkpoint ({error}); the file is corrupt") from None
        raise CheckpointError(
            f"{path}: holds Python objects (pickles), which a checkpoint never does; it is not loaded"
        ) from None
    except Exception as error:  # zip, npy header, CRC, JSON: all mean a damaged file
        raise CheckpointError(
            f"{path}: cannot read the checkpoint ({type(error).__name__}: {error}); "
            "the file is truncated or corrupt"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a divergent checkpoint (no valid manifest)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {manifest.get('format_version')} "
            f"cannot be read by this version (reads {FORMAT_VERSION})"
        )
    stored = manifest.pop("checksum", None)
    if stored != _checksum(manifest, arrays):
        raise CheckpointError(f"{path}: checksum mismatch, the file is corrupt")
    _check_versions(path, manifest["versions"])
    changed = differences(manifest["config"], config.identity())
    if changed:
        raise CheckpointError(
            f"{path}: written by a different run config (differs in: {', '.join(changed)})"
        )
    state = _fit(path, manifest, arrays, skeleton)
    return Checkpoint(
        path=path,
        state=state,
        generation=int(manifest["generation"]),
        evaluations=int(manifest["evaluations"]),
        wall_time=float(manifest["wall_time"]),
        rng_key=arrays["rng_key"],
        extra=dict(manifest.get("extra", {})),
        versions=dict(manifest["versions"]),
    )


def load_latest(directory: str | Path, *, skeleton: Any, config: RunConfig) -> Checkpoint:
    """Loads the newest checkpoint of a directory (once it loads, stray temp
    files a killed writer left are removed; a failure changes nothing).

    Raises:
        CheckpointError: none there, or the newest is bad (an older one is not
            tried silently: the message says how to fall back to it).
    """
    directory = Path(directory)
    found = list_checkpoints(directory)
    if not found:
        raise CheckpointError(
            f"{directory}: no checkpoint to resume from (the run stopped before its first "
            "checkpoint); start it again with `divergent run ... --overwrite`"
        )
    try:
        loaded = load(found[-1], skeleton=skeleton, config=config)
    except CheckpointError as error:
        if len(found) > 1:
            raise CheckpointError(
                f"{error}; an older checkpoint exists ({found[-2].name}): delete "
                f"{found[-1].name} to resume from it"
            ) from None
        raise
    remove_stale_temps(directory)  # only once the resume will go ahead: a failure changes nothing
    return loaded


# -- helpers -----------------------------------------------------------------


def _is_key(x: Any) -> bool:
    return jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key)


def _key_data(key: Any) -> Any:
    return jax.random.key_data(key) if _is_key(key) else key


def _to_host(leaf: Any) -> tuple[np.ndarray, dict]:
    """(array to store, its spec) of one state leaf."""
    if not isinstance(leaf, (jax.Array, np.ndarray)):
        leaf = jnp.asarray(leaf)  # a Python scalar leaf: store it as JAX would use it
    spec = {
        "shape": list(np.shape(leaf)),
        "dtype": str(leaf.dtype),
        "weak_type": bool(getattr(leaf, "weak_type", False)),
        "key_impl": None,
        "sharding": _describe_sharding(leaf),
    }
    if _is_key(leaf):
        spec["key_impl"] = str(jax.random.key_impl(leaf))
        spec["weak_type"] = False
        return np.asarray(jax.random.key_data(leaf)), spec
    return np.asarray(jax.device_get(leaf)), spec


def _to_device(array: np.ndarray, spec: dict) -> jax.Array:
    if spec.get("key_impl"):
        leaf = jax.random.wrap_key_data(jnp.asarray(array), impl=spec["key_impl"])
    else:
        leaf = jnp.asarray(array)
        if spec.get("weak_type") and array.ndim == 0:
            # A Python scalar gives a weakly typed array, as the original was.
            weak = jnp.asarray(array.item())
            leaf = weak if weak.dtype == array.dtype else leaf
    sharding = _sharding(spec.get("sharding"))
    return leaf if sharding is None else jax.device_put(leaf, sharding)


def _describe_sharding(leaf: Any) -> Optional[dict]:
    """A JSON description of a leaf's multi-device layout (None: default).

    Restoring leaves with the layout they had means the jitted step sees the
    same input shardings after a checkpoint or a resume: no recompilation,
    and the very same compiled program, hence bit-identical results.
    """
    sharding = getattr(leaf, "sharding", None)
    if not isinstance(sharding, NamedSharding) or not getattr(leaf, "committed", True):
        return None
    spec = [list(p) if isinstance(p, tuple) else p for p in sharding.spec]
    if not all(p is None or isinstance(p, (str, list)) for p in spec):
        return None  # an unusual spec entry (e.g. UNCONSTRAINED): use the default layout
    mesh = sharding.mesh
    return {
        "axes": [str(a) for a in mesh.axis_names],
        "shape": list(mesh.devices.shape),
        "devices": [int(d.id) for d in mesh.devices.flat],
        "spec": spec,
    }


def _sharding(description: Optional[dict]) -> Optional[NamedSharding]:
    """The sharding a description names, or None when these devices differ
    (e.g. resumed on a machine with fewer accelerators: default layout)."""
    if not description:
        return None
    by_id = {d.id: d for d in jax.devices()}
    if any(i not in by_id for i in description["devices"]):
        return None
    devices = np.array([by_id[i] for i in description["devices"]], dtype=object).reshape(description["shape"])
    spec = PartitionSpec(*[tuple(p) if isinstance(p, list) else p for p in description["spec"]])
    return NamedSharding(Mesh(devices, tuple(description["axes"])), spec)


def _checksum(manifest: dict, arrays: dict) -> str:
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.tobytes())
    return "sha256:" + digest.hexdigest()


def _major(version: str) -> Optional[str]:
    head = version.split(".")[0]
    return head if head.isdigit() else None


def _check_versions(path: Path, written: dict) -> None:
    now = versions()
    for package in _MAJOR_CHECKED:
        a, b = _major(str(written.get(package, ""))), _major(now[package])
        if a is not None and b is not None and a != b:
            raise CheckpointError(
                f"{path}: written with {package} {written[package]}, this is {package} "
                f"{now[package]} (major versions differ); resume it with {package} {a}.x"
            )


def _fit(path: Path, manifest: dict, arrays: dict, skeleton: Any) -> Any:
    """The stored leaves checked against the manifest and the skeleton."""
    specs = manifest["leaves"]
    want, treedef = jax.tree.flatten(skeleton)
    stored = [k for k in arrays if k.startswith("leaf_")]
    if len(stored) != len(specs):
        raise CheckpointError(f"{path}: manifest lists {len(specs)} state arrays, file holds {len(stored)}")
    if len(specs) != len(want):
        raise CheckpointError(
            f"{path}: holds {len(specs)} state arrays but this algorithm's state has {len(want)} "
            f"(written for state {manifest.get('treedef', '?')[:200]})"
        )
    host = []
    for i, (spec, like) in enumerate(zip(specs, want)):
        array = arrays.get(f"leaf_{i:05d}")
        if array is None:
            raise CheckpointError(f"{path}: state array {i} is missing")
        shape, dtype = tuple(np.shape(like)), str(like.dtype)
        if tuple(spec["shape"]) != shape or spec["dtype"] != dtype:
            raise CheckpointError(
                f"{path}: state array {i} is {spec['dtype']}{list(spec['shape'])}, "
                f"the state needs {dtype}{list(shape)}"
            )
        if not spec.get("key_impl") and (array.shape != shape or str(array.dtype) != dtype):
            raise CheckpointError(
                f"{path}: state array {i} holds {array.dtype}{list(array.shape)}, "
                f"its manifest says {dtype}{list(shape)}"
            )
        host.append(array)
    return rebuild(treedef, host, specs)
