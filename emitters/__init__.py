"""Producers of new genomes: variation operators and evolution strategies."""
from emitters.es import ES_ALGORITHMS, ESConfig, ESState
from emitters.variation import (
    gaussian_mutation,
    init_genomes,
    isoline_variation,
    polynomial_mutation,
)

__all__ = [
    "ES_ALGORITHMS",
    "ESConfig",
    "ESState",
    "gaussian_mutation",
    "init_genomes",
    "isoline_variation",
    "polynomial_mutation",
]
