"""Runs in a learned (or any non-ground-truth) behaviour space: the
representation's parameters as plain arrays (representation.npz, see
`runs.rundir`), and what `divergent inspect` draws of such a run.

    arrays = representation_arrays(state)              # the loop, at the end of a run
    params = restore_params(representation, arrays)    # back to the pytree `encode` takes
    points, labels = latent_2d(archive["descriptor"])  # PCA to 2-D for plots/latent.png
    refit_moments(metrics, "evaluations")              # x of every refit, for coverage.png

Parameter leaves are named by their pytree path, each key joined by "/"
("params/params/encoder_convs_0/kernel" for the autoencoder's flax
parameters), so the file is readable without knowing the representation,
and `restore_params` rebuilds the pytree from the representation's own
`init` skeleton, whatever its structure (a dict, a tuple, an array).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np

from runs.errors import RunDirError

if TYPE_CHECKING:
    import pandas as pd

PARAMS = "params/"
FITS = "fits"
NAME = "name"
FITS_COLUMN = "representation_fits"


def leaf_name(path: Sequence[Any]) -> str:
    """A pytree path ((DictKey('params'), GetAttrKey('x'), SequenceKey(0)))
    as "params/x/0"."""
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def representation_arrays(state: Any, name: str = "") -> dict[str, np.ndarray]:
    """The representation parameters of an algorithm state as plain arrays
    ("fits", "name", "params/<path>"); {} when the state holds no
    representation state or its parameters have no leaves (ground truth).

    Args:
        state: an algorithm state (`qd.refit.representation_state` finds
            the representation in it).
        name: the representation's name, stored beside the parameters.
    """
    import jax

    from qd import refit

    try:
        rep = refit.representation_state(state)
    except ValueError:
        return {}
    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(rep.params))[0]
    if not leaves:
        return {}
    out = {FITS: np.asarray(jax.device_get(rep.fits)), NAME: np.asarray(str(name))}
    for path, leaf in leaves:
        out[PARAMS + leaf_name(path)] = np.asarray(leaf)
    return out


def restore_params(representation: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The parameter pytree of `representation` filled from
    representation.npz's arrays.

    Raises:
        RunDirError: the file's leaves do not match the representation's
            (another representation or settings; names or shapes differ).
    """
    import jax

    skeleton = jax.eval_shape(representation.init, jax.random.PRNGKey(0))
    what = f"{getattr(representation, 'name', '') or type(representation).__name__} with {representation.config}"
    paths, treedef = jax.tree_util.tree_flatten_with_path(skeleton)
    leaves = []
    for path, shape in paths:
        key = PARAMS + leaf_name(path)
        if key not in arrays:
            raise RunDirError(f"representation.npz has no {key!r}: it was written for another representation "
                              f"or other settings than {what}")
        value = np.asarray(arrays[key])
        if value.shape != tuple(shape.shape):
            raise RunDirError(f"representation.npz's {key!r} has shape {value.shape}, but {what} "
                              f"expects {tuple(shape.shape)}")
        leaves.append(value.astype(shape.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def is_learned_space(config: Mapping[str, Any]) -> bool:
    """Whether config.yaml names a representation other than the ground truth."""
    name = config.get("representation")
    return isinstance(name, str) and name not in ("", "ground_truth")


def latent_2d(descriptors: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """The archive's descriptors in 2-D: PCA (scikit-learn) when they have
    more than two dimensions, the identity for two, a zero second axis for one.

    Returns:
        (points [N, 2], axis labels), the labels with the variance each
        principal component explains.
    """
    d = np.asarray(descriptors, np.float64)
    d = d.reshape(len(d), -1) if d.ndim != 2 else d
    d = np.where(np.isfinite(d), d, np.nan)
    keep = np.all(np.isfinite(d), axis=1)
    if d.shape[1] == 1:
        return np.column_stack([d[:, 0], np.zeros(len(d))]), ("descriptor 1", "")
    if d.shape[1] == 2 or keep.sum() < 3:
        return d[:, :2], ("descriptor 1", "descriptor 2")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(d[keep])
    points = np.full((len(d), 2), np.nan)
    points[keep] = pca.transform(d[keep])
    ratio = pca.explained_variance_ratio_
    return points, tuple(f"PC{i + 1} ({100 * r:.0f}% of the variance)" for i, r in enumerate(ratio))


def refit_moments(metrics: "pd.DataFrame", x: Optional[str]) -> np.ndarray:
    """x values (evaluations) of the logged rows where ``representation_fits``
    increased: when the representation was refitted (to the logged
    resolution); empty when not logged."""
    if x is None or FITS_COLUMN not in metrics or x not in metrics or metrics.empty:
        return np.zeros(0)
    import pandas as pd

    fits = pd.to_numeric(metrics[FITS_COLUMN], errors="coerce").ffill().fillna(0).to_numpy(np.float64)
    rose = np.diff(fits, prepend=0.0) > 0
    return pd.to_numeric(metrics[x], errors="coerce").to_numpy(np.float64)[rose]


def spread_rows(points: np.ndarray, n: int) -> np.ndarray:
    """Up to `n` row indices of `points` [N, d] far apart from each other
    (farthest-point sampling from the first row): the archive's variety at a
    glance, deterministic."""
    points = np.asarray(points, np.float64).reshape(len(points), -1)
    finite = np.flatnonzero(np.all(np.isfinite(points), axis=1))
    if len(finite) == 0:
        return np.zeros(0, int)
    chosen = [finite[0]]
    distance = np.linalg.norm(points[finite] - points[finite[0]], axis=1)
    while len(chosen) < min(n, len(finite)):
        nxt = int(np.argmax(distance))
        if distance[nxt] <= 0:  # the rest repeat chosen points
            break
        chosen.append(finite[nxt])
        distance = np.minimum(distance, np.linalg.norm(points[finite] - points[finite[nxt]], axis=1))
    return np.asarray(chosen, int)


def reconstruct(representation: Any, params: Any, views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The autoencoder's reconstructions of uint8 views [B, 64, 64, 3F] (F
    frames stacked as channels, as the autoencoder stores them).

    Returns:
        (reconstructions [B, 64, 64, 3F] float in [0, 1], surprise [B]: the
        mean squared error of each, as `Autoencoder.surprise`).
    """
    import jax.numpy as jnp

    x = jnp.asarray(views, jnp.float32) / 255.0
    out = np.asarray(representation.network.apply(params, x))
    surprise = np.asarray(representation.surprise(params, jnp.asarray(views)))
    return out, surprise
