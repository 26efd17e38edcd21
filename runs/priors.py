"""What an algorithm takes from another run: the exploration archive that
seeds `sac-seeded` (`algo.prior`, a run directory).

Algorithms read no files (docs/architecture.md), so the run machinery reads
the prior run's `archive.npz` here and hands its genomes and rewards to the
algorithm's `init` as `prior=(genomes, rewards)`; preflight traces `init`
with them too, so the state's shapes and a resumed checkpoint agree.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from runs.errors import ConfigError, RunError


def init_inputs(config: Any) -> dict:
    """The extra keyword arguments of `algo.init` for `config`: `{}`, or
    `{"prior": (genomes [N, D] float32, rewards [N] float32)}` when the
    algorithm's config names a prior run (`algo.prior`).

    Raises:
        ConfigError: the prior is not a finished run directory of the same
            task with the same task settings, or its archive is empty or
            holds no genomes; the message names `algo.prior` and the path.
    """
    path = getattr(config.algo, "prior", None)
    if not path:
        return {}
    from runs.load import load

    where = f"algo.prior={path!r}"
    try:
        run = load(path)
    except RunError as error:
        raise ConfigError(f"{where}: {error}") from None
    if run.config.task != config.task or run.config.task_config != config.task_config:
        raise ConfigError(
            f"{where}: that run is of task {run.config.task!r} with {run.config.task_config}, this one of "
            f"{config.task!r} with {config.task_config}; the prior must be of the same task and settings"
        )
    archive = run.archive
    if not archive or "genome" not in archive:
        raise ConfigError(f"{where}: that run has no archive.npz yet (finish or stop it first)")
    genomes = np.asarray(archive["genome"], np.float32)
    if genomes.ndim != 2 or genomes.shape[0] == 0 or genomes.shape[1] == 0:
        raise ConfigError(
            f"{where}: its archive holds no genomes (shape {genomes.shape}); use an exploration run "
            "(ns, serene, me, ...), not an RL run"
        )
    return {"prior": (genomes, np.asarray(archive["reward"], np.float32))}
