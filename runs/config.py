"""The configuration of one run, and how it is built and written.

A run is fully described by a `RunConfig`: which algorithm on which task,
the algorithm's and the task's own config dataclasses, the seed, the budget in
evaluations and how often to log and checkpoint. It is resolved in layers,
each overriding the one before:

    defaults  <-  preset YAML  <-  command-line flags  <-  --set key=value

and checked completely (unknown keys, wrong types, impossible values) before
anything is compiled. Keys are dotted paths into the YAML form::

    algorithm: ns                # registry names
    task: hardmaze
    seed: 0
    budget: 500000               # evaluations (episodes)
    log_every: 1                 # generations between metrics.csv rows
    checkpoint_every: 50         # generations between checkpoints
    keep_checkpoints: 2
    out: runs_out/ns-hardmaze-seed0
    shard: true                  # split batches over the devices
    representation: ground_truth
    algo: {population_size: 100, ...}      # the algorithm's config fields
    task_config: {episode_length: 2000, ...}  # the task's Config fields
    representation_config: {}    # the representation's Config fields

so ``--set algo.population_size=64``, ``--set task_config.episode_length=500``
(or its short form ``task.episode_length=500``) and ``--set seed=3`` all work.
`to_yaml` writes every field, so a run directory's config.yaml re-runs it.

The representation (where the algorithm's descriptors come from) is a
registry name with its own section: ``--set representation=projection
--set rep.size=3`` (``rep`` is short for ``representation_config``). The
run's ``budget`` is handed to the algorithm's ``init`` (SERENE's "time"
scheduler plans with it).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Optional, Sequence

import yaml

from runs import presets
from runs.errors import ConfigError
from runs.typed import coerce, from_plain, shorten, show, to_plain, unknown_key_message

# Sections whose keys are the fields of another dataclass.
SECTIONS = ("algo", "task_config", "representation_config")
# --set shorthands: `task.x` means `task_config.x` (`task` alone is the name),
# `rep.x` means `representation_config.x`.
ALIASES = {"task": "task_config", "rep": "representation_config"}
# Keys that may change between a run and its resumption (`resume --budget`),
# or that only say where the run lives.
NOT_IDENTITY = ("budget", "out")
MAX_SEED = 2**32 - 1
_SCALARS = {
    "seed": int, "budget": int, "log_every": int, "checkpoint_every": int, "keep_checkpoints": int, "out": str,
    "shard": bool, "representation": str,
}
DEFAULT_OUT_ROOT = "runs_out"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything needed to (re-)run one experiment.

    Attributes:
        algorithm: registered algorithm name (`qd.algorithms.names()`).
        task: registered task name (`tasks.names()`).
        seed: PRNG seed, 0 <= seed < 2**32.
        budget: evaluations (episodes) to spend; the run stops at the first
            generation that reaches it, so it may overshoot by < one generation.
        log_every: generations between two metrics.csv rows (and progress updates).
        checkpoint_every: generations between two checkpoints.
        keep_checkpoints: how many of the newest checkpoints to keep.
        out: run directory; default ``runs_out/<algorithm>-<task>-seed<seed>``.
        shard: split each batch over every device JAX sees when it divides
            evenly. Sharded and unsharded runs are not bit-identical: the
            per-device programs may round differently (curling's
            descriptors differed by one float32 ulp, ~1e-7, in one batch of
            200; hardmaze's not at all), and a run amplifies such
            differences over generations. The same holds across device
            counts; bit-identical results (and resumes) need the same
            setting and device count.
        representation: where descriptors come from
            (`representations.names()`); the task's ground truth by default.
        algo: the algorithm's config dataclass (its `config_cls`), or a mapping
            of its fields to override; defaults are the algorithm's.
        task_config: the task's `Config` dataclass, or a mapping of overrides.
        representation_config: the representation's `Config` dataclass, or a
            mapping of overrides.

    Raises:
        ConfigError: on any invalid value, naming its key.
    """

    algorithm: str
    task: str
    seed: int = 0
    budget: int = 100_000
    log_every: int = 1
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    out: str = ""
    shard: bool = True
    representation: str = "ground_truth"
    algo: Any = None
    task_config: Any = None
    representation_config: Any = None

    def __post_init__(self):
        algorithm = _algorithm(self.algorithm)
        task_cls = _task_class(self.task)
        rep_cls = _representation_class(self.representation)
        for field, cls, what in (
            ("algo", algorithm.config_cls, f"the config of {self.algorithm!r}"),
            ("task_config", task_cls.Config, f"the Config of task {self.task!r}"),
            ("representation_config", rep_cls.Config, f"the Config of representation {self.representation!r}"),
        ):
            value = getattr(self, field)
            if value is None or isinstance(value, Mapping):
                value = from_plain(cls, value or {}, field)
            elif not isinstance(value, cls):
                raise ConfigError(f"{field} must be a {cls.__qualname__} ({what}), got a {type(value).__name__}")
            object.__setattr__(self, field, value)
        for name, tp in _SCALARS.items():
            object.__setattr__(self, name, coerce(tp, getattr(self, name), name))
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        for name in ("log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (generations), got {getattr(self, name)}")
        per_step = self.evaluations_per_step
        if self.budget < per_step:
            raise ConfigError(
                f"budget must be >= {per_step} (one generation of {self.algorithm!r} with these "
                f"settings spends {per_step} evaluations), got {self.budget}"
            )
        if not self.out:
            object.__setattr__(self, "out", default_out(self.algorithm, self.task, self.seed))

    @property
    def evaluations_per_step(self) -> int:
        """Evaluations (episodes) one generation spends."""
        return int(_algorithm(self.algorithm).evaluations_per_step(self.algo))

    def make_task(self):
        """Builds the task this config names.

        Raises:
            ConfigError: the task rejects its settings.
        """
        return make_task(self.task, self.task_config)

    def make_pipeline(self, task=None):
        """The evaluation pipeline of this run: the task (built unless given),
        its reference policy, the sharding setting and the representation.

        Raises:
            ConfigError: the task or the representation rejects its settings.
        """
        from qd import pipeline

        task = self.make_task() if task is None else task
        try:
            return pipeline.make(
                task, self.representation, representation_config=self.representation_config, shard=self.shard
            )
        except ValueError as error:
            if isinstance(error, ConfigError):
                raise
            raise ConfigError(f"invalid representation_config for {self.representation!r}: {error}") from None

    def to_dict(self) -> dict:
        """The config as plain dicts/lists/scalars (the YAML form)."""
        return to_plain(self)

    def identity(self) -> dict:
        """What makes two configs the same run: everything but budget and out."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_IDENTITY}

    def replace(self, **changes) -> "RunConfig":
        """A copy with `changes` applied (validated again)."""
        return dataclasses.replace(self, **changes)


def make_task(name: str, task_config: Any):
    """Builds the task `name` from its `Config` instance.

    Raises:
        ConfigError: the task rejects its settings, cannot read a file they
            name (a maze file), or needs an optional package that is missing.
    """
    try:
        return _task_class(name)(task_config)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(f"invalid task_config for task {name!r}: {shorten(str(error))}") from None
    except ModuleNotFoundError as error:  # an optional extra (kheperax): the message says what to install
        raise ConfigError(str(error)) from None
    except OSError as error:  # a file the task reads (a maze file): missing, a directory, no permission
        where = getattr(task_config, "maze_file", None) or error.filename
        key = "task_config.maze_file" if getattr(task_config, "maze_file", None) else "task_config"
        relative = f" (a relative path, read from {os.getcwd()})" if where and not os.path.isabs(str(where)) else ""
        raise ConfigError(f"{key}: cannot read {where}{relative}: {error.strerror or error}") from None


def default_out(algorithm: str, task: str, seed: int) -> str:
    """The default run directory of a config."""
    return f"{DEFAULT_OUT_ROOT}/{algorithm}-{task}-seed{seed}"


def from_dict(raw: Mapping[str, Any], source: str = "") -> RunConfig:
    """Builds and checks a `RunConfig` from its plain (YAML) form.

    Args:
        raw: top-level keys of `RunConfig`; `algo`/`task_config` are mappings.
        source: where `raw` came from, prefixed to error messages.

    Raises:
        ConfigError: naming the key that is wrong.
    """
    try:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"a run config must be a mapping of keys to values, got {show(raw)}")
        fields = [f.name for f in dataclasses.fields(RunConfig)]
        for key in raw:
            if key not in fields:
                raise ConfigError(unknown_key_message(str(key), fields))
        for key in ("algorithm", "task"):
            if key not in raw:
                raise ConfigError(_missing_name_message(key))
            coerce(str, raw[key], key)
        for key in SECTIONS:
            if key in raw and raw[key] is not None and not isinstance(raw[key], Mapping):
                raise ConfigError(f"{key} must be a mapping of its fields to values, got {show(raw[key])}")
        return RunConfig(**dict(raw))
    except ConfigError as error:
        if source:
            raise ConfigError(f"{source}: {error}") from None
        raise


def to_yaml(config: RunConfig) -> str:
    """The YAML text of `config`; `from_yaml(to_yaml(c)) == c`."""
    header = (
        f"# divergent run config: {config.algorithm} on {config.task}.\n"
        f"# Re-run it with: divergent run --preset path/to/this/config.yaml --out NEW_DIR\n"
    )
    body = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None, width=100)
    return header + body


def from_yaml(text: str, source: str = "") -> RunConfig:
    """Parses and checks a YAML run config.

    Raises:
        ConfigError: invalid YAML or config; the message starts with `source`.
    """
    return from_dict(parse_yaml(text, source), source)


def parse_yaml(text: str, source: str = "") -> dict:
    """The mapping a YAML config text holds (not yet checked).

    Raises:
        ConfigError: not YAML, or not a mapping.
    """
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as error:  # ValueError: an integer of > 4300 digits
        raise ConfigError(f"{source or 'config'}: not valid YAML: {shorten(str(error))}".replace("\n", " ")) from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'config'}: must be a mapping of keys to values, got {show(raw)}")
    return raw


def parse_set(item: str) -> tuple[str, Any]:
    """Splits a ``--set key=value`` string; the value is read as YAML
    (``64`` -> int, ``0.1`` -> float, ``[5, 5]`` -> list, ``true`` -> bool).

    Raises:
        ConfigError: no ``=``, empty key, or a value that is not YAML.
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value (e.g. algo.population_size=64), got {show(item)}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except (yaml.YAMLError, ValueError):  # ValueError: an integer of > 4300 digits
        raise ConfigError(f"--set {key}: cannot read the value {show(text)} (YAML syntax)") from None
    return key, value


def apply_override(raw: dict, key: str, value: Any) -> dict:
    """Sets the dotted `key` of the plain config `raw` to `value` (in place).

    Raises:
        ConfigError: a dotted key outside the `algo`/`task_config` sections.
    """
    head, *rest = key.split(".")
    head = ALIASES.get(head, head) if rest else head
    if not rest:
        raw[head] = value
        return raw
    if head not in SECTIONS:
        raise ConfigError(
            f"unknown key {key!r}: only algo.<field>, task.<field> (= task_config.<field>) and "
            f"rep.<field> (= representation_config.<field>) have sub-keys"
        )
    node = raw.setdefault(head, {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {part!r} is not a section with sub-keys")
    if not isinstance(node, dict):
        raise ConfigError(f"{key}: {head!r} is not a section with sub-keys")
    node[rest[-1]] = value
    return raw


def build(
    algorithm: Optional[str] = None,
    task: Optional[str] = None,
    *,
    preset: Optional[str] = None,
    seed: Optional[int] = None,
    budget: Optional[int] = None,
    out: Optional[str] = None,
    sets: Sequence[str] = (),
) -> RunConfig:
    """Resolves a run config: defaults <- preset <- arguments <- `sets`.

    Args:
        algorithm: algorithm name; must agree with the preset's if both are given.
        task: task name; must agree with the preset's if both are given.
        preset: preset name (`runs.presets.names()`) or path to a YAML file.
        seed, budget, out: override the preset's values when not None.
        sets: ``key=value`` overrides, applied last, in order.

    Returns:
        The checked config.

    Raises:
        ConfigError: unknown names or keys, wrong types, impossible values,
            or names that disagree with the preset.
    """
    raw: dict = {}
    if preset is not None:
        raw = presets.load(preset)
        for key in [k for k in raw if isinstance(k, str) and "." in k]:
            apply_override(raw, key, raw.pop(key))  # `algo.k: 10` in a preset, as with --set
        for key, given in (("algorithm", algorithm), ("task", task)):
            if given is not None and key in raw and raw[key] != given:
                raise ConfigError(
                    f"preset {preset!r} is for {key} {show(raw[key])}, not {show(given)}; "
                    f"drop the {key} argument or pick another preset"
                )
    for key, value in (("algorithm", algorithm), ("task", task), ("seed", seed), ("budget", budget), ("out", out)):
        if value is not None:
            raw[key] = value
    for item in sets:
        apply_override(raw, *parse_set(item))
    return from_dict(raw)


def differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain configs."""
    keys = list(dict.fromkeys([*a, *b]))
    out = []
    for key in keys:
        path = f"{prefix}.{key}" if prefix else str(key)
        x, y = a.get(key), b.get(key)
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            out.extend(differences(x, y, path))
        elif x != y:
            out.append(path)
    return out


def _algorithm(name: str):
    from qd import algorithms

    if not isinstance(name, str):
        raise ConfigError(f"algorithm must be a string, got {show(name)}")
    try:
        return algorithms.get(name)
    except ValueError as error:
        raise ConfigError(f"algorithm: {error}") from None


def _representation_class(name: str):
    import representations

    if not isinstance(name, str):
        raise ConfigError(f"representation must be a string, got {name!r}")
    try:
        return representations.representation_class(name)
    except ValueError as error:
        raise ConfigError(f"representation: {error}") from None


def _task_class(name: str):
    from tasks import registry

    if not isinstance(name, str):
        raise ConfigError(f"task must be a string, got {show(name)}")
    try:
        return registry.task_class(name)
    except ValueError as error:
        raise ConfigError(f"task: {error}") from None


def _missing_name_message(key: str) -> str:
    if key == "algorithm":
        return "no algorithm given: name one (divergent run ALGO TASK) or pick a preset (divergent list)"
    return "no task given: name one (divergent run ALGO TASK) or pick a preset (divergent list)"
