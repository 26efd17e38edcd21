"""runs/checkpoint.py: round trip, atomic writes, pruning, and every way a
checkpoint can be bad raising CheckpointError with the file's name."""
from __future__ import annotations

import json
import os
import stat
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from runs import checkpoint
from runs.atomic import write_atomic
from runs.errors import CheckpointError
from tasks.rollout import batch_sharding


@struct.dataclass
class State:
    genome: jax.Array
    count: jax.Array
    scale: Any
    key: jax.Array
    spread: jax.Array
    tag: str = struct.field(pytree_node=False, default="x")


def make_state(n: int = 4) -> State:
    return State(
        genome=jnp.arange(n * 3, dtype=jnp.float32).reshape(n, 3),
        count=jnp.int32(7),
        scale=jnp.asarray(0.5),  # weakly typed
        key=jax.random.key(1),  # a typed PRNG key
        spread=jax.device_put(jnp.arange(4.0), batch_sharding(jax.devices())),
    )


def skeleton(n: int = 4) -> Any:
    return jax.eval_shape(lambda: make_state(n))


@pytest.fixture
def cfg(toy_config):
    return toy_config()


def save(directory, config, generation=3, state=None, **kw):
    path, _, _ = checkpoint.save(
        directory, make_state() if state is None else state, config=config, generation=generation,
        evaluations=10 * generation, wall_time=1.5, rng_key=jax.random.PRNGKey(9),
        extra={"invalid": 2}, **kw,
    )
    return path


def test_round_trip_keeps_values_dtypes_weak_types_keys_and_layout(tmp_path, cfg):
    path = save(tmp_path, cfg)
    assert path.name == "ckpt-000000003.npz"
    loaded = checkpoint.load(path, skeleton=skeleton(), config=cfg)
    state = make_state()
    assert (loaded.generation, loaded.evaluations, loaded.wall_time) == (3, 30, 1.5)
    assert loaded.extra == {"invalid": 2}
    np.testing.assert_array_equal(loaded.rng_key, jax.random.PRNGKey(9))
    np.testing.assert_array_equal(loaded.state.genome, state.genome)
    assert loaded.state.count.dtype == jnp.int32 and int(loaded.state.count) == 7
    assert loaded.state.scale.weak_type
    np.testing.assert_array_equal(jax.random.key_data(loaded.state.key), jax.random.key_data(state.key))
    assert loaded.state.spread.sharding == state.spread.sharding
    assert loaded.state.tag == "x"
    assert set(loaded.versions) >= {"jax", "flax", "numpy", "divergent", "python"}


def test_only_the_newest_are_kept(tmp_path, cfg):
    for generation in (1, 2, 3, 4):
        save(tmp_path, cfg, generation, keep=2)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["ckpt-000000003.npz", "ckpt-000000004.npz"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "f.bin"
    write_atomic(target, lambda f: f.write(b"old"))

    def crash(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open() would make it


def test_stale_temp_files_are_ignored_and_cleaned(tmp_path, cfg):
    save(tmp_path, cfg, 2)
    stale = tmp_path / ".ckpt-000000004.npz.abc.tmp"
    stale.write_bytes(b"partial")  # what a SIGKILL during a write leaves
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["ckpt-000000002.npz"]
    assert checkpoint.load_latest(tmp_path, skeleton=skeleton(), config=cfg).generation == 2
    assert not stale.exists()


def test_truncated_file(tmp_path, cfg):
    path = save(tmp_path, cfg)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{path}.*truncated or corrupt"):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7, 0.9])
def test_flipped_bytes(tmp_path, cfg, where):
    path = save(tmp_path, cfg)
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i : i + 4] = bytes(b ^ 0xFF for b in data[i : i + 4])
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path)):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)


def rewrite(path, change):
    """Rewrites a checkpoint's members through `change(arrays, manifest)`,
    keeping a valid zip, so the checksum is what must catch the edit."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    manifest = json.loads(bytes(arrays.pop("manifest")))
    change(arrays, manifest)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(path, **arrays)


def test_edited_leaf_fails_the_checksum(tmp_path, cfg):
    path = save(tmp_path, cfg)
    rewrite(path, lambda arrays, manifest: arrays.__setitem__("leaf_00000", arrays["leaf_00000"] + 1))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)


def test_missing_leaf_is_reported(tmp_path, cfg):
    path = save(tmp_path, cfg)
    rewrite(path, lambda arrays, manifest: arrays.pop("leaf_00001"))
    with pytest.raises(CheckpointError, match=str(path)):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)


def test_not_a_checkpoint(tmp_path, cfg):
    path = tmp_path / "ckpt-000000001.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a divergent checkpoint"):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "missing.npz", skeleton=skeleton(), config=cfg)


def test_state_that_does_not_fit(tmp_path, cfg):
    path = save(tmp_path, cfg)
    with pytest.raises(CheckpointError, match=r"state array 0 is float32\[4, 3\], the state needs float32\[5, 3\]"):
        checkpoint.load(path, skeleton=skeleton(5), config=cfg)
    with pytest.raises(CheckpointError, match="holds 5 state arrays but this algorithm's state has 2"):
        checkpoint.load(path, skeleton=(jnp.zeros(1), jnp.zeros(2)), config=cfg)
    wrong_dtype = jax.eval_shape(lambda: make_state().replace(count=jnp.float32(1)))
    with pytest.raises(CheckpointError, match=r"state array 1 is int32\[\], the state needs float32\[\]"):
        checkpoint.load(path, skeleton=wrong_dtype, config=cfg)


def test_other_config_is_refused(tmp_path, cfg):
    path = save(tmp_path, cfg)
    other = cfg.replace(seed=4, budget=cfg.budget * 2)
    with pytest.raises(CheckpointError, match="different run config \\(differs in: seed\\)"):
        checkpoint.load(path, skeleton=skeleton(), config=other)
    # budget and out are not part of a run's identity: resume --budget extends
    assert checkpoint.load(path, skeleton=skeleton(), config=cfg.replace(budget=800, out="x")).generation == 3


def test_other_major_versions_are_refused(tmp_path, cfg, monkeypatch):
    path = save(tmp_path, cfg)
    real = checkpoint.versions()
    monkeypatch.setattr(checkpoint, "versions", lambda: {**real, "jax": "1.0.0"})
    with pytest.raises(CheckpointError, match=r"written with jax 0\.9.*major versions differ"):
        checkpoint.load(path, skeleton=skeleton(), config=cfg)


def test_load_latest_never_falls_back_silently(tmp_path, cfg):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        checkpoint.load_latest(tmp_path, skeleton=skeleton(), config=cfg)
    save(tmp_path, cfg, 1)
    newest = save(tmp_path, cfg, 2)
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="older checkpoint exists \\(ckpt-000000001.npz\\): delete ckpt-000000002.npz"):
        checkpoint.load_latest(tmp_path, skeleton=skeleton(), config=cfg)


def test_npz_holds_no_pickles(tmp_path, cfg):
    path = save(tmp_path, cfg)
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
    assert names[-2:] == ["manifest.npy", "rng_key.npy"]
    with np.load(path, allow_pickle=False) as z:
        assert z["leaf_00000"].shape == (4, 3)


@pytest.mark.parametrize("content", ["random", "pickle", "object-array", "empty"])
def test_foreign_files_never_unpickle_nor_advise_it(tmp_path, cfg, content):
    import pickle

    path = tmp_path / "ckpt-000000001.npz"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).bytes(2000))
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"leaf_00000": [1, 2, 3]}))
    elif content == "object-array":
        np.savez(path, manifest=np.array([{"format": "divergent-checkpoint"}], dtype=object))
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(path, skeleton=skeleton(), config=cfg)
    assert str(path) in str(caught.value) and "allow_pickle" not in str(caught.value)
