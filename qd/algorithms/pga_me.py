"""PGA-ME: MAP-Elites with a TD3 policy-gradient emitter.

Nilsson & Cully 2021, "Policy Gradient Assisted MAP-Elites", GECCO
(doi:10.1145/3449639.3459304), as in QDax 0.5 (`PGAMEEmitter`). Each
generation evaluates `batch_size` genomes:

- `proportion_mutation_ga` of them from the iso+line variation of uniformly
  drawn elites (MAP-Elites' GA part);
- the others but one from policy-gradient variation: elites climbed by
  `num_pg_training_steps` Adam steps on -Q_1(s, pi(s)) of a TD3 critic;
- the last one: TD3's greedy actor itself.

Every evaluation's transitions (every step of every episode: the evaluator
records them, `Evaluation.transitions`) feed the replay buffer, after which
the critic (and, every `policy_delay` critic steps, the greedy actor) train
for `num_critic_training_steps` steps (`emitters.td3`). The archive is
MAP-Elites' (`qd.algorithms.map_elites`: grid or CVT).

PGA-ME needs a reward spread over the episode to learn a critic from; with
our sparse terminal rewards its critic sees one non-zero step per episode.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct

from emitters import replay, variation
from emitters import td3 as td3_lib
from qd import checks, refit, tracker
from qd.algorithms import map_elites
from qd.algorithms.base import Algorithm, register
from qd.algorithms.map_elites import ARCHIVES, MapElitesConfig, MapElitesState
from qd.pipeline import Pipeline


@dataclasses.dataclass(frozen=True)
class PgaMeConfig:
    """PGA-ME settings; defaults are QDax 0.5's PGA-ME reference values.

    Attributes:
        archive, cells_per_dim, n_centroids, cvt_samples: MAP-Elites' archive
            (`MapElitesConfig`).
        batch_size: genomes evaluated per generation (and initial genomes) (100).
        proportion_mutation_ga: share of the batch made by iso+line variation (0.5).
        iso_sigma, line_sigma: the iso+line operator's noises (0.005, 0.05).
        genome_low, genome_high, init_std: genes are N(0, init_std) clipped;
            the variations' offspring are clipped too.
        td3: the critic, actor and policy-gradient variation (`TD3Config`).
    """

    archive: str = "grid"
    cells_per_dim: int = 50
    n_centroids: int = 1000
    cvt_samples: int = 50_000
    batch_size: int = 100
    proportion_mutation_ga: float = 0.5
    iso_sigma: float = 0.005
    line_sigma: float = 0.05
    genome_low: float = -5.0
    genome_high: float = 5.0
    init_std: float = 1.0
    td3: td3_lib.TD3Config = td3_lib.TD3Config()

    def __post_init__(self):
        if not isinstance(self.td3, td3_lib.TD3Config):
            raise ValueError(f"td3 must be a TD3Config, got {self.td3!r}")
        checks.positive_int_fields(self, "batch_size")
        if self.archive == "unstructured":  # its refit and size control live in me's step
            raise ValueError(
                f"PGA-ME's archive must be one of grid, cvt, got 'unstructured' (use algorithm 'me' for AURORA's)"
            )
        if not 0.0 <= self.proportion_mutation_ga < 1.0:
            raise ValueError(f"proportion_mutation_ga must be in [0, 1), got {self.proportion_mutation_ga!r}")
        self.map_elites()  # the archive and variation settings are checked there

    @property
    def ga_batch(self) -> int:
        """Offspring of the iso+line variation per generation."""
        return int(self.proportion_mutation_ga * self.batch_size)

    @property
    def pg_batch(self) -> int:
        """Offspring of the policy-gradient variation per generation (the
        greedy actor is one more)."""
        return self.batch_size - self.ga_batch - 1

    def map_elites(self) -> MapElitesConfig:
        """MAP-Elites' settings for the archive and the GA part."""
        return MapElitesConfig(
            archive=self.archive, cells_per_dim=self.cells_per_dim, n_centroids=self.n_centroids,
            batch_size=self.batch_size, variation="isoline", iso_sigma=self.iso_sigma, line_sigma=self.line_sigma,
            genome_low=self.genome_low, genome_high=self.genome_high, init_std=self.init_std,
            cvt_samples=self.cvt_samples,
        )


@struct.dataclass
class PgaMeState:
    """PGA-ME's state.

    Attributes:
        me: the MAP-Elites state (repertoire, tracker, representation; its
            pipeline records transitions).
        td3: critic, greedy actor, their targets and optimisers, replay buffer.
        config, pipeline: static.
    """

    me: MapElitesState
    td3: td3_lib.TD3State
    config: PgaMeConfig = struct.field(pytree_node=False)
    pipeline: Pipeline = struct.field(pytree_node=False)

    @property
    def evaluations(self) -> jax.Array:
        return self.me.tracker.evaluations


def _policy(pipeline: Pipeline):
    policy = getattr(pipeline.evaluator, "policy", None)
    if policy is None:
        raise ValueError(
            f"PGA-ME trains policies by gradient and needs the evaluator's policy; {pipeline.evaluator!r} has none "
            "(use a tasks.evaluator.Evaluator)"
        )
    return policy


def init(config: PgaMeConfig, pipeline: Pipeline, key: jax.Array, budget: Optional[int] = None) -> PgaMeState:
    """Evaluates `batch_size` random genomes into an empty archive, their
    transitions into the replay buffer; the greedy actor starts as the first.

    Raises:
        ValueError: an evaluator that cannot record transitions or has no policy.
    """
    del budget
    pipeline = pipeline.recording_transitions()
    _policy(pipeline)
    me_config = config.map_elites()
    k_init, k_eval, k_critic = jax.random.split(key, 3)
    me = map_elites.empty_state(me_config, pipeline, key)
    genomes = variation.init_genomes(
        k_init, config.batch_size, pipeline.genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )
    evaluation, entries = pipeline.evaluate(genomes, k_eval, me.representation)
    me, _ = map_elites.insert_evaluated(me, evaluation, entries, fit_space=map_elites.adaptive_space(pipeline))
    spec = pipeline.spec
    learner = td3_lib.init(config.td3, k_critic, genomes[0], spec.observation_size, spec.action_size)
    learner = learner.replace(buffer=replay.insert(learner.buffer, evaluation.transitions))
    return PgaMeState(me=me, td3=learner, config=config, pipeline=pipeline)


def step(state: PgaMeState, key: jax.Array) -> tuple[PgaMeState, dict]:
    """One generation: GA and policy-gradient offspring plus the greedy actor
    (`batch_size` episodes), insertion, then the TD3 training."""
    config, pipeline = state.config, state.pipeline
    policy = _policy(pipeline)
    k_ga, k_pg_parents, k_var, k_pg, k_eval, k_train = jax.random.split(key, 6)
    me, learner = state.me, state.td3
    r = me.repertoire
    bounds = dict(low=config.genome_low, high=config.genome_high)
    parts = []
    if config.ga_batch:
        parents = map_elites.uniform_filled_cells(k_ga, r.filled, (2, config.ga_batch))
        parts.append(variation.isoline_variation(
            k_var, r.genomes[parents[0]], r.genomes[parents[1]],
            iso_sigma=config.iso_sigma, line_sigma=config.line_sigma, **bounds,
        ))
    if config.pg_batch:
        parents = map_elites.uniform_filled_cells(k_pg_parents, r.filled, (config.pg_batch,))
        climbed = td3_lib.pg_variation(config.td3, policy, learner.critic, learner.buffer, r.genomes[parents], k_pg)
        parts.append(jnp.clip(climbed, config.genome_low, config.genome_high))
    parts.append(learner.actor[None])
    genomes = jnp.concatenate(parts)

    evaluation, entries = pipeline.evaluate(genomes, k_eval, me.representation)
    me, out = map_elites.insert_evaluated(me, evaluation, entries)
    learner = learner.replace(buffer=replay.insert(learner.buffer, evaluation.transitions))
    learner, critic_loss = td3_lib.train(config.td3, policy, learner, k_train)

    me = me.replace(tracker=tracker.next_generation(me.tracker))
    me = refit.maybe_refit(pipeline, me, me.tracker.generation, key, after=map_elites._refit_space)
    out["generation"] = me.tracker.generation
    out["critic_loss"] = critic_loss
    out["replay_size"] = learner.buffer.size
    # Where the greedy actor's episode went: is TD3 itself getting anywhere?
    out["actor_reward"] = evaluation.reward[-1]
    if pipeline.representation.learned:
        out["representation_fits"] = me.representation.fits
    return state.replace(me=me, td3=learner), out


def archive(state: PgaMeState):
    """The MAP-Elites repertoire."""
    return map_elites.archive(state.me)


ALGORITHM = register(
    Algorithm(
        name="pga-me",
        config_cls=PgaMeConfig,
        init=init,
        step=step,
        archive=archive,
        evaluations_per_step=lambda config: config.batch_size,
        description="PGA-ME: MAP-Elites + a TD3 policy-gradient emitter on every evaluation's transitions "
        "(Nilsson & Cully 2021); needs a dense reward",
    )
)
