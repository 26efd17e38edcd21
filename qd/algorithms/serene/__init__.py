"""SERENE (Paolo et al. 2021): novelty search that hands the reward areas it
finds to local emitters.

    config     SereneConfig: nested ns / emitter / scheduler settings
    algorithm  init, step, archive, extras (registered as "serene")
    local_emitters  one emitter: fitness, novelty or CMA-ES kinds
    pool       the fixed-size set of candidate and active emitters
    schedulers the meta-schedulers that split the budget into chunks
    history    the log of ended emitters
"""
from qd.algorithms.serene.algorithm import SereneState, archive, extras, init, step
from qd.algorithms.serene.config import SereneConfig

__all__ = ["SereneConfig", "SereneState", "archive", "extras", "init", "step"]
