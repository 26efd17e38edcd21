"""Refitting a learned representation mid-run, and recomputing every stored
descriptor afterwards.

Every archive row and every `Entries` batch carries the features its
descriptor was encoded from (`qd.archives.entries`), so after a refit the
descriptors of the whole algorithm state (novelty archive, reward archive,
population, emitters' ancestors and buffers, repertoires) are recomputed
from them by walking the state's pytree: no algorithm lists its stores by
hand, and a store added later is covered too. The representation is fitted
on every archived policy (novelty archives, repertoires and unstructured archives)
and on the current population of a novelty search.

Values derived from descriptors and cached between generations (novelty
scores of emitter populations, NSGA-II's crowding) are recomputed by the
algorithms at their next use, not here.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from qd.archives.entries import Entries
from qd.archives.novelty import NoveltyArchive
from qd.archives.repertoire import Repertoire
from qd.archives.unstructured import UnstructuredArchive
from representations import RepresentationState

# Folded into the step's key for the refit, so that a learned representation
# leaves the other random streams of a step unchanged.
REFIT_SALT = 0x2EF1
_STORES = (Entries, NoveltyArchive, Repertoire, UnstructuredArchive)
# Stores whose rows are masked by `filled` (the others by `mask`).
_ELITE_STORES = (Repertoire, UnstructuredArchive)


def _is_node(x) -> bool:
    return isinstance(x, (*_STORES, RepresentationState))


def _has_population(x) -> bool:
    # A novelty-search-like state: its parents are training data too.
    return isinstance(getattr(x, "population", None), Entries) and hasattr(x, "population_valid")


def representation_state(state: Any) -> RepresentationState:
    """The (first) `RepresentationState` inside an algorithm state.

    Raises:
        ValueError: the state holds none.
    """
    found = [x for x in jax.tree.leaves(state, is_leaf=_is_node) if isinstance(x, RepresentationState)]
    if not found:
        raise ValueError(f"{type(state).__name__} holds no RepresentationState")
    return found[0]


def training_set(state: Any) -> tuple[jax.Array, jax.Array]:
    """(features [N, *F], mask [N]) of every archived policy in `state`, and of
    the current population of a novelty search (its valid parents)."""
    features, masks = [], []
    for node in jax.tree.leaves(state, is_leaf=_has_population):
        if _has_population(node):
            features.append(node.population.features)
            masks.append(node.population_valid)
    for node in jax.tree.leaves(state, is_leaf=_is_node):
        filled = _filled(node)
        if filled is not None:
            features.append(node.features)
            masks.append(filled)
    if not features:
        raise ValueError(f"{type(state).__name__} holds no archive to fit a representation on")
    return jnp.concatenate(features), jnp.concatenate(masks)


def _stores(state: Any) -> list:
    return [n for n in jax.tree.leaves(state, is_leaf=_is_node) if isinstance(n, _STORES)]


def _descriptors(node) -> jax.Array:
    return node.descriptor if isinstance(node, Entries) else node.descriptors


def _with(state: Any, rep: RepresentationState, descriptors: list) -> Any:
    """`state` with its stores' descriptors replaced, in `_stores` order, and
    every `RepresentationState` replaced by `rep`."""
    it = iter(descriptors)

    def fix(node):
        if isinstance(node, RepresentationState):
            return rep
        if isinstance(node, Entries):
            return node.replace(descriptor=next(it))
        if isinstance(node, (NoveltyArchive, *_ELITE_STORES)):
            return node.replace(descriptors=next(it))
        return node

    return jax.tree.map(fix, state, is_leaf=_is_node)


def _filled(node) -> Optional[jax.Array]:
    """A store's filled rows; None for a batch (every row counts)."""
    if isinstance(node, NoveltyArchive):
        return node.mask
    if isinstance(node, _ELITE_STORES):
        return node.filled
    return None


def _encoded(pipeline, state: Any, rep: RepresentationState) -> list:
    """Every store's descriptors recomputed under `rep`, in `_stores` order
    (the empty parts of an archive keep theirs: see `Pipeline.encode`)."""
    out = []
    for node in _stores(state):
        filled = _filled(node)
        previous = None if filled is None else _descriptors(node)
        out.append(pipeline.encode(rep, node.features, filled=filled, previous=previous))
    return out


def redescribe(pipeline, state: Any, rep: RepresentationState) -> Any:
    """`state` with every stored descriptor recomputed under `rep`, and every
    `RepresentationState` in it replaced by `rep`."""
    return _with(state, rep, _encoded(pipeline, state, rep))


def _refitted(pipeline, state: Any, key: jax.Array) -> tuple[RepresentationState, list]:
    """The refitted representation and every store's new descriptors."""
    rep = representation_state(state)
    features, mask = training_set(state)
    params = pipeline.representation.fit(rep.params, features, mask, key)
    new = RepresentationState(params=params, fits=rep.fits + 1)
    return new, _encoded(pipeline, state, new)


def refit(pipeline, state: Any, key: jax.Array) -> Any:
    """Fits the representation on the archived policies, then recomputes every
    stored descriptor."""
    return _with(state, *_refitted(pipeline, state, key))


def maybe_refit(
    pipeline,
    state: Any,
    count: jax.Array,
    key: jax.Array,
    *,
    ticked: Optional[jax.Array] = None,
    after: Optional[Callable[[Any], Any]] = None,
) -> Any:
    """Refits when the representation is learned and its schedule says so
    (`Representation.refit_due(count)`); a no-op (not even traced) for a
    fixed representation.

    Args:
        pipeline: the algorithm's pipeline.
        state: the algorithm state after a generation.
        count: what the schedule counts: generations done, or (SERENE)
            exploration chunks closed.
        key: the step's key (a derived key is used).
        ticked: whether `count` just advanced (default: it did); a count
            that stays on a due value must not refit again.
        after: what else to redo after a refit (e.g. re-insert a repertoire's
            elites into the cells of their new descriptors).
    """
    if pipeline.representation.refit_every <= 0:
        return state
    key = jax.random.fold_in(key, REFIT_SALT)
    due = pipeline.representation.refit_due(count)
    if ticked is not None:
        due = due & ticked

    # Only the new parameters and descriptors come out of the branch: a
    # conditional whose outputs were the whole state would copy every stored
    # view (up to 15,000 x 12 KiB) each generation on XLA:CPU, refit or not.
    kept = (representation_state(state), [_descriptors(node) for node in _stores(state)])
    rep, descriptors = jax.lax.cond(due, lambda: _refitted(pipeline, state, key), lambda: kept)
    state = _with(state, rep, descriptors)
    if after is not None:
        state = jax.lax.cond(due, after, lambda s: s, state)
    return state
