"""Behaviour representations: where an algorithm's descriptors come from.

    rep = representations.make("projection", task.spec, size=3)
    state = rep.init_state(key)
    descriptors = rep.encode(state.params, rep.features(evaluation))

Built in: "ground_truth" (the task's hand-designed descriptor, the default),
"projection" (a fixed random projection of the trajectory), "pca"
(principal components of the trajectory, refitted during the run),
"signature" (the truncated (log-)signature of the trajectory) and
"autoencoder" (TAXONS: the latent code of a convolutional autoencoder of the
final top-down view, refitted during the run; reconstruction error =
surprise). See
`representations.base` for the contract and `docs/architecture.md`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from representations.base import Representation, RepresentationState
from tasks.registry import Registry, config_with
from tasks.spec import TaskSpec

REPRESENTATIONS: Registry[type] = Registry(
    "representation",
    (
        "representations.ground_truth", "representations.projection", "representations.pca",
        "representations.signature", "representations.autoencoder",
    ),
)
DEFAULT = "ground_truth"


def register(cls: type) -> type:
    """Class decorator: registers a `Representation` subclass under its `name`."""
    return REPRESENTATIONS.add(cls.name, cls)


def names() -> list[str]:
    return REPRESENTATIONS.names()


def representation_class(name: str) -> type:
    """Raises ValueError naming the valid representations when `name` is unknown."""
    return REPRESENTATIONS.get(name)


def describe(name: str) -> str:
    """The first line of a representation's docstring."""
    return (representation_class(name).__doc__ or "").strip().splitlines()[0]


def make(name: str, spec: TaskSpec, config: Optional[Any] = None, **overrides) -> Representation:
    """The representation `name` of a task.

    Args:
        name: a registered representation (`names()`).
        spec: the task's description.
        config: the representation's `Config` instance (default: its defaults).
        **overrides: fields of its `Config` to change.

    Raises:
        ValueError: unknown name or field, or an invalid value.
    """
    cls = representation_class(name)
    if config is None or isinstance(config, Mapping):
        config = config_with(cls.Config, {**dict(config or {}), **overrides}, f"representation {name!r}")
    elif overrides:
        config = dataclasses.replace(config, **overrides)
    return cls(spec, config)


__all__ = ["DEFAULT", "REPRESENTATIONS", "Representation", "RepresentationState", "describe", "make", "names",
           "register", "representation_class"]
