"""Shared set-up of the benchmark scripts: host devices and the compile cache.

Import this first: XLA reads its flags when jax is first imported.
"""
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import jax  # noqa: E402

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("DIVERGENT_JAX_CACHE", os.path.expanduser("~/.cache/divergent/jax")),
)


def timed(fn, *args, repeats: int = 3) -> float:
    """Best wall time (s) of `fn(*args)` over `repeats` runs, after one warm-up
    call that compiles; results are waited for."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    import platform

    devices = jax.devices()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"jax {jax.__version__}, {len(devices)} x {devices[0].platform}"
    )
