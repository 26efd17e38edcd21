"""The settings of SERENE: three nested parts, each defined once where it lives.

    algo:
      ns: {population_size: 100, k: 15, ...}         # NoveltySearchConfig
      emitter: {kind: fitness, sigma0_divisor: 3.0, ...}   # LocalEmitterConfig
      scheduler: {kind: alternating, chunk_size: 1000, ...}  # SchedulerConfig
      emitters_per_step: 8                           # SERENE's own fields
      ...

so ``--set algo.ns.k=10``, ``--set algo.emitter.sigma0_divisor=2`` and
``--set algo.scheduler.kind=ucb`` all work, and `divergent list` shows the tree.
"""
from __future__ import annotations

import dataclasses

from qd import checks
from qd.algorithms.novelty_search import NoveltySearchConfig
from qd.algorithms.serene.local_emitters import LocalEmitterConfig
from qd.algorithms.serene.schedulers import SchedulerConfig


@dataclasses.dataclass(frozen=True)
class SereneConfig:
    """SERENE settings (Paolo et al. 2021, GECCO, arXiv:2102.03140); defaults
    are the reference values (docs/reference.md).

    Attributes:
        ns: the exploration: novelty search (`NoveltySearchConfig`). Its
            genome bounds also bound the emitters' genes.
        emitter: the exploitation: every emitter's settings
            (`LocalEmitterConfig`: kind "fitness" (SERENE), "novelty" or
            "cma" (CMA-NS), population, bootstrap, improvement and
            stagnation windows, sigma0).
        scheduler: the meta-scheduler (`SchedulerConfig`: "alternating"
            (reference), "probability", "time" or "ucb"; chunks of 1000).
        emitter_capacity: slots of the emitter pool (candidates + emitters).
        emitters_per_step: emitters stepped together (vmapped) per
            exploitation step. 1 is the paper's sequential schedule: one
            emitter at a time, kept until its chunk ends or it stops.
        emitters_per_area: at most this many candidates and emitters at once
            per reward area (of their ancestor); a rewarded agent of a full
            area does not become a candidate, and the best rewarded agents of
            a generation are taken first (3; 0: no cap, the reference, where
            every rewarded agent becomes a candidate until the pool is full).
        reward_archive_capacity: rows of the reward archive.
        history_capacity: rows of the log of ended emitters.
    """

    ns: NoveltySearchConfig = NoveltySearchConfig()
    emitter: LocalEmitterConfig = LocalEmitterConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    emitter_capacity: int = 64
    emitters_per_step: int = 8
    emitters_per_area: int = 3
    reward_archive_capacity: int = 10_000
    history_capacity: int = 2048

    def __post_init__(self):
        for name, cls in (("ns", NoveltySearchConfig), ("emitter", LocalEmitterConfig), ("scheduler", SchedulerConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        checks.positive_int_fields(
            self, "emitter_capacity", "emitters_per_step", "reward_archive_capacity", "history_capacity"
        )
        if isinstance(self.emitters_per_area, bool) or not isinstance(self.emitters_per_area, int) \
                or self.emitters_per_area < 0:
            raise ValueError(f"emitters_per_area must be an integer >= 0, got {self.emitters_per_area!r}")
        if self.emitters_per_step > self.emitter_capacity:
            raise ValueError(
                f"emitters_per_step ({self.emitters_per_step}) must be <= emitter_capacity ({self.emitter_capacity})"
            )
        # The emitters' genes live in the same box as novelty search's.
        object.__setattr__(self, "emitter", self.emitter.with_bounds(self.ns.genome_low, self.ns.genome_high))

    @property
    def exploit_batch(self) -> int:
        """Genomes one exploitation step rolls out (some may be padding)."""
        return self.emitters_per_step * self.emitter.batch_size
