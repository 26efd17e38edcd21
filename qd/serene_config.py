"""The settings of SERENE (one flat frozen dataclass, so every field is a
`--set algo.<field>=...` away), with the reference values of DESIGN.md 6."""
from __future__ import annotations

import dataclasses

from emitters.local import KINDS, LocalEmitterConfig
from qd import checks
from qd.novelty_search import NoveltySearchConfig
from qd.schedulers import SCHEDULERS, SchedulerConfig


@dataclasses.dataclass(frozen=True)
class SereneConfig:
    """SERENE settings (Paolo et al. 2021, GECCO, arXiv:2102.03140).

    Exploration (novelty search, see `qd.novelty_search.NoveltySearchConfig`):
        population_size (100), offspring_per_parent (2), k (15),
        archive_insertion ("random"), archive_per_generation (5),
        archive_capacity, mutation_sigma (0.05), genome_low / genome_high
        (-5, 5), init_std (1).

    Exploitation (emitters, see `emitters.local.LocalEmitterConfig`):
        emitter_kind: "fitness" (SERENE), "novelty", or "cma" (CMA-NS).
        emitter_population (6), emitter_offspring_per_parent (2),
        bootstrap_steps (6), improvement_window (3), stagnation_window (20),
        stagnation_scale / stagnation_offset (B = int(20 G / 6 + 120)),
        emitter_max_steps (0: no cap).
        novel_to_archive: an ended emitter's most novel agents that join the
            NS archive (5).
        sigma0_divisor: sigma0 = min genome distance / this (3).
        sigma0_fallback: sigma0 when that distance is 0 (0.05).
        emitter_capacity: slots of the emitter pool (candidates + emitters).
        emitters_per_step: emitters stepped together (vmapped) per
            exploitation step. 1 is the paper's sequential schedule: one
            emitter at a time, kept until its chunk ends or it stops.
        reward_archive_capacity: rows of the reward archive.
        history_capacity: rows of the log of ended emitters.

    Meta-scheduler (see `qd.schedulers.SchedulerConfig`):
        scheduler: "alternating" (reference), "probability", "time" or "ucb".
        chunk_size (1000), explore_probability (0.5), budget (the run's
        total, for "time"), ucb_discount, ucb_exploration.

    shard: split each batch over all devices when it divides evenly.
    """

    population_size: int = 100
    offspring_per_parent: int = 2
    k: int = 15
    archive_insertion: str = "random"
    archive_per_generation: int = 5
    archive_capacity: int = 15_000
    mutation_sigma: float = 0.05
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0

    emitter_kind: str = "fitness"
    emitter_population: int = 6
    emitter_offspring_per_parent: int = 2
    bootstrap_steps: int = 6
    improvement_window: int = 3
    stagnation_window: int = 20
    stagnation_scale: float = 20.0
    stagnation_offset: int = 120
    emitter_max_steps: int = 0
    novel_to_archive: int = 5
    sigma0_divisor: float = 3.0
    sigma0_fallback: float = 0.05
    emitter_capacity: int = 64
    emitters_per_step: int = 8
    reward_archive_capacity: int = 10_000
    history_capacity: int = 2048

    scheduler: str = "alternating"
    chunk_size: int = 1000
    explore_probability: float = 0.5
    budget: int = 500_000
    ucb_discount: float = 0.9
    ucb_exploration: float = 2.0

    shard: bool = True

    def __post_init__(self):
        # The sub-configs validate their own fields, naming them.
        self.novelty_search
        self.emitter
        self.scheduler_config
        checks.positive_int_fields(
            self, "emitter_capacity", "emitters_per_step", "reward_archive_capacity", "history_capacity"
        )
        if self.emitters_per_step > self.emitter_capacity:
            raise ValueError(
                f"emitters_per_step ({self.emitters_per_step}) must be <= emitter_capacity ({self.emitter_capacity})"
            )
        if not self.sigma0_divisor > 0 or not self.sigma0_fallback > 0:
            raise ValueError(
                f"sigma0_divisor and sigma0_fallback must be > 0, got {self.sigma0_divisor!r}, "
                f"{self.sigma0_fallback!r}"
            )

    @property
    def novelty_search(self) -> NoveltySearchConfig:
        return NoveltySearchConfig(
            population_size=self.population_size,
            offspring_per_parent=self.offspring_per_parent,
            k=self.k,
            archive_insertion=self.archive_insertion,
            archive_per_generation=self.archive_per_generation,
            archive_capacity=self.archive_capacity,
            mutation_sigma=self.mutation_sigma,
            genome_low=self.genome_low,
            genome_high=self.genome_high,
            init_std=self.init_std,
            shard=self.shard,
        )

    @property
    def emitter(self) -> LocalEmitterConfig:
        if self.emitter_kind not in KINDS:
            raise ValueError(f"emitter_kind must be one of {', '.join(KINDS)}, got {self.emitter_kind!r}")
        return LocalEmitterConfig(
            kind=self.emitter_kind,
            population_size=self.emitter_population,
            offspring_per_parent=self.emitter_offspring_per_parent,
            bootstrap_steps=self.bootstrap_steps,
            improvement_window=self.improvement_window,
            stagnation_window=self.stagnation_window,
            stagnation_scale=self.stagnation_scale,
            stagnation_offset=self.stagnation_offset,
            max_steps=self.emitter_max_steps,
            novel_buffer=self.novel_to_archive,
            genome_low=self.genome_low,
            genome_high=self.genome_high,
        )

    @property
    def scheduler_config(self) -> SchedulerConfig:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        return SchedulerConfig(
            kind=self.scheduler,
            chunk_size=self.chunk_size,
            explore_probability=self.explore_probability,
            budget=self.budget,
            ucb_discount=self.ucb_discount,
            ucb_exploration=self.ucb_exploration,
        )

    @property
    def exploit_batch(self) -> int:
        """Genomes one exploitation step rolls out (some may be padding)."""
        return self.emitters_per_step * self.emitter.batch_size
