"""Optional dependencies: import them on demand, or say which extra installs them."""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ModuleNotFoundError):
    """An optional package is not installed; the message names the extra that
    installs it (``pip install 'divergent[kheperax]'``)."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """Imports `module`, which the optional extra `extra` installs.

    Args:
        module: dotted module name, e.g. "kheperax.tasks.main".
        extra: the extra of divergent's pyproject.toml that installs it.
        what: what needs it, for the message ("task 'kheperax_standard'").

    Returns:
        The module.

    Raises:
        MissingExtraError: the module (or a package it imports) is missing;
            the message names the missing package and the install command.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = error.name or module.split(".")[0]
        raise MissingExtraError(
            f"{what} needs the optional package {module.split('.')[0]!r}, which is not installed "
            f"(missing: {missing!r}); install it with: pip install 'divergent[{extra}]'",
            name=missing,
        ) from error
