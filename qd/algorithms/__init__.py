"""The QD algorithms, one module each, registered by name.

    from qd import algorithms
    algo = algorithms.get("ns")
    state = algo.init(algo.config_cls(), pipeline, key)

`novelty_search` ("ns"), `map_elites` ("me"), `random_search` ("random"),
`cmaes` ("cmaes"), `cma_me` ("cmame"), `nsga2` ("nsga2") and the `serene`
sub-package ("serene").
"""
from qd.algorithms.base import ALGORITHMS, Algorithm, AlgorithmState, ArchiveSnapshot, get, names, register

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmState", "ArchiveSnapshot", "get", "names", "register"]
