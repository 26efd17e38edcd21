"""Behaviour descriptors computed from evaluations.

Only the hand-designed ground truth exists so far; the learned autoencoder
descriptor (TAXONS) and trajectory signatures come later.
"""
from representations import ground_truth

REPRESENTATIONS = {"ground_truth": "the task's hand-designed descriptor (e.g. final x, y)"}


def check(name: str) -> str:
    """Returns `name` if it is a known representation.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if name not in REPRESENTATIONS:
        raise ValueError(
            f"unknown representation {name!r}; valid representations: {', '.join(sorted(REPRESENTATIONS))}"
        )
    return name


__all__ = ["REPRESENTATIONS", "check", "ground_truth"]
