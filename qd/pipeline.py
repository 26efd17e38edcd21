"""The evaluation pipeline an algorithm is handed: evaluator + representation.

    pipeline = qd.pipeline.make(tasks.make("hardmaze"), "projection", size=3)
    state = novelty_search.init(config, pipeline, key)

An algorithm never imports the rollout nor decides what a descriptor is: it
calls `pipeline.evaluate(genomes, key, rep)` and gets back the episode
results (`Evaluation`, whose ground-truth descriptor and reward area feed the
metrics) and the archive `Entries` described in the representation's space,
with the representation's features kept for later refits. This is the
analogue of the scoring function a QDax algorithm receives; swapping the
task, the policy, the sharding or the behaviour space changes no algorithm.

A `Pipeline` is a frozen, hashable value: algorithm states hold it as a static
field, so equal pipelines share jitted steps.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp

from qd.archives import novelty as novelty_archive
from qd.archives.entries import Entries
from representations import Representation, RepresentationState
from tasks.evaluation import Evaluation
from tasks.evaluator import Evaluator
from tasks.evaluator import make as make_evaluator
from tasks.spec import TaskSpec

# Folded into an algorithm's key to draw the representation's initial
# parameters, so adding the representation changed no other random stream.
REPRESENTATION_SALT = 0x5E9


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """How genomes become evaluations and archive entries.

    Attributes:
        evaluator: genomes [B, D], key -> `Evaluation` (traceable); usually a
            `tasks.evaluator.Evaluator` (task + policy + sharding). Anything
            hashable with `spec`, `genome_size` and that call signature works.
        representation: where descriptors come from (`representations`).
    """

    evaluator: Evaluator | Callable[[jax.Array, jax.Array], Evaluation]
    representation: Representation

    def __post_init__(self):
        check_capabilities(self.evaluator, self.representation)

    @property
    def spec(self) -> TaskSpec:
        return self.evaluator.spec

    @property
    def genome_size(self) -> int:
        return self.evaluator.genome_size

    @property
    def descriptor_size(self) -> int:
        return self.representation.descriptor_size

    @property
    def is_ground_truth(self) -> bool:
        return self.representation.name == "ground_truth"

    def init_representation(self, key: jax.Array) -> RepresentationState:
        """The representation's initial state, drawn from a key derived from `key`."""
        return self.representation.init_state(jax.random.fold_in(key, REPRESENTATION_SALT))

    def evaluate(self, genomes: jax.Array, key: jax.Array, rep: RepresentationState) -> tuple[Evaluation, Entries]:
        """Evaluates `genomes` [B, D] and describes them.

        Returns:
            The `Evaluation` (ground truth, validity) and the `Entries`
            (descriptors in the representation's space).
        """
        evaluation = self.evaluator(genomes, key)
        return evaluation, self.entries(genomes, evaluation, rep)

    def evaluate_stochastic(
        self, genomes: jax.Array, key: jax.Array, rep: RepresentationState, action_std: jax.Array
    ) -> tuple[Evaluation, Entries]:
        """`evaluate` with Gaussian action noise of std `action_std` [B] per
        policy (`tasks.evaluator.Evaluator.stochastic`); the `Evaluation` also
        holds the REINFORCE score `log_prob_grad` [B, D].

        Raises:
            ValueError: the evaluator cannot roll out stochastic policies.
        """
        stochastic = getattr(self.evaluator, "stochastic", None)
        if stochastic is None:
            raise ValueError(
                f"the evaluator {self.evaluator!r} has no stochastic rollouts (Gaussian action noise); "
                "use a tasks.evaluator.Evaluator"
            )
        evaluation = stochastic(genomes, key, action_std)
        return evaluation, self.entries(genomes, evaluation, rep)

    def recording_transitions(self) -> "Pipeline":
        """This pipeline, its evaluations also holding every step
        (`Evaluation.transitions`).

        Raises:
            ValueError: the evaluator cannot record transitions.
        """
        record = getattr(self.evaluator, "recording_transitions", None)
        if record is None:
            raise ValueError(
                f"the evaluator {self.evaluator!r} cannot record transitions; use a tasks.evaluator.Evaluator"
            )
        return dataclasses.replace(self, evaluator=record())

    def entries(self, genomes: jax.Array, evaluation: Evaluation, rep: RepresentationState) -> Entries:
        """Archive entries of evaluated genomes, described by the representation."""
        features = self.representation.features(evaluation)
        return Entries(
            genome=genomes,
            descriptor=self.encode(rep, features),
            gt_descriptor=evaluation.descriptor,
            reward=evaluation.reward,
            reward_area=evaluation.reward_area,
            features=features,
        )

    def encode(
        self,
        rep: RepresentationState,
        features: jax.Array,
        *,
        filled: Optional[jax.Array] = None,
        previous: Optional[jax.Array] = None,
    ) -> jax.Array:
        """Descriptors [..., k] of features [..., *F] with any leading axes
        (in chunks of `representation.encode_chunk` rows when it sets one).

        Args:
            rep: the representation's state.
            features: the features.
            filled: [N] mask of the rows worth encoding (a store's filled rows;
                one leading axis). A chunk without one keeps its `previous`
                descriptors instead of being encoded: re-encoding a mostly
                empty archive of 15,000 views after a refit took ~17 s on a
                2-core CPU, almost all of it on empty rows.
            previous: [N, k] the descriptors kept for such chunks (with `filled`).
        """
        if filled is not None and previous is None:
            raise ValueError("encode(filled=...) needs the previous descriptors of the rows it skips")
        return self._rows(lambda x: self.representation.encode(rep.params, x), features, self.descriptor_size,
                          filled, previous)

    def surprise(self, rep: RepresentationState, features: jax.Array) -> jax.Array:
        """Surprise [...] of features [..., *F] (see `Representation.surprise`)."""
        return self._rows(lambda x: self.representation.surprise(rep.params, x), features, None)

    def _rows(self, fn, features: jax.Array, width, filled=None, previous=None) -> jax.Array:
        shape = self.representation.feature_shape
        lead = features.shape[: features.ndim - len(shape)]
        flat = features.reshape((-1, *shape))
        chunk = self.representation.encode_chunk
        n = flat.shape[0]
        if chunk is None or n <= chunk:
            out = fn(flat)
        else:
            # Chunk by chunk, so memory stays bounded (a conv net over 15k views).
            pad = (-n) % chunk

            def chunked(x):
                return jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]).reshape((-1, chunk, *x.shape[1:]))

            if filled is None:
                out = jax.lax.map(fn, chunked(flat))
            else:
                def one(args):
                    x, any_filled, kept = args
                    return jax.lax.cond(any_filled, fn, lambda _: kept, x)

                worth = chunked(filled.reshape(-1)).any(axis=1)
                out = jax.lax.map(one, (chunked(flat), worth, chunked(previous.reshape((n, -1)).astype(jnp.float32))))
            out = out.reshape((-1, *out.shape[2:]))[:n]
        return out.reshape(lead if width is None else (*lead, width))

    def template(self) -> Entries:
        """Zero entries of batch 1 with this pipeline's shapes (for `init`s)."""
        rep = self.representation
        return Entries(
            genome=jnp.zeros((1, self.genome_size), jnp.float32),
            descriptor=jnp.zeros((1, self.descriptor_size), jnp.float32),
            gt_descriptor=jnp.zeros((1, self.spec.descriptor_size), jnp.float32),
            reward=jnp.zeros((1,), jnp.float32),
            reward_area=jnp.full((1,), -1, jnp.int32),
            features=jnp.zeros((1, *rep.feature_shape), rep.feature_dtype),
        )

    def novelty_archive(self, capacity: int) -> novelty_archive.NoveltyArchive:
        """An empty novelty archive of `capacity` rows for this pipeline's entries."""
        return novelty_archive.init_like(capacity, self.template())


# What a representation may read of an `Evaluation` beyond the descriptor,
# by the flag it declares it with, and how to say it in a message.
_CAPABILITIES = (
    ("trajectory", "needs_trajectory", "the trajectory (Evaluation.trajectory)"),
    ("observation", "needs_observation", "the rendered top-down view (Evaluation.observation)"),
)


def check_capabilities(evaluator: Any, representation: Representation | type) -> None:
    """Refuses a representation that reads what the evaluator does not give.

    An evaluator says what its evaluations carry in `provides` (a set of
    "trajectory", "observation"); one that does not say is trusted. A
    scoring function (`tasks.from_scoring_function`) provides neither.

    Args:
        evaluator: the evaluator.
        representation: a representation or its class.

    Raises:
        ValueError: naming the representation, what it needs, the evaluator,
            and the representations that work with it.
    """
    provides = getattr(evaluator, "provides", None)
    if provides is None:
        return
    missing = [text for what, flag, text in _CAPABILITIES
               if getattr(representation, flag, False) and what not in provides]
    if not missing:
        return
    import representations

    usable = [n for n in representations.names()
              if all(what in provides or not getattr(representations.representation_class(n), flag, False)
                     for what, flag, _ in _CAPABILITIES)]
    hint = ""
    if "observation" not in provides and hasattr(evaluator, "with_observation"):
        hint = " (build the evaluator with with_observation=True)"
    raise ValueError(
        f"representation {representation.name!r} needs {' and '.join(missing)}, which {evaluator!r} does not "
        f"provide{hint}; representations that work with it: {', '.join(usable) or 'none'}"
    )


def make(
    task: Any,
    representation: str | Representation = "ground_truth",
    *,
    representation_config: Optional[Mapping[str, Any] | Any] = None,
    policy: Any = None,
    shard: bool = True,
) -> Pipeline:
    """The pipeline of `task`: its reference policy (or `policy`), batches
    sharded over the devices when `shard`, descriptors from `representation`.

    Args:
        task: a task (`tasks.make(...)`), or an evaluator that stands on its
            own, such as a QDax scoring function wrapped by
            `tasks.from_scoring_function` (then `policy` must be None and
            `shard` does not apply).
        representation: a registered name (`representations.names()`) or an
            instance.
        representation_config: the named representation's `Config` or a
            mapping of its fields.
        policy: how genomes act (default: `task.default_policy()`).
        shard: split each batch over every device when it divides evenly.

    Raises:
        ValueError: unknown representation or invalid settings, a policy for
            an evaluator, or a representation that needs what the evaluator
            does not provide (`check_capabilities`).
    """
    import representations

    standalone = callable(task) and hasattr(task, "genome_size")  # an evaluator, not an Env
    if standalone and policy is not None:
        raise ValueError(f"{task!r} is an evaluator with its own genomes; it takes no policy (got {policy!r})")
    if isinstance(representation, str):
        if standalone:  # before building it: its own checks would fail less clearly
            check_capabilities(task, representations.representation_class(representation))
        representation = representations.make(representation, task.spec, representation_config)
    if standalone:
        return Pipeline(task, representation)
    evaluator = make_evaluator(task, policy, shard=shard, with_observation=representation.needs_observation,
                               frames=representation.observation_frames)
    return Pipeline(evaluator, representation)
