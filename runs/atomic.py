"""Crash-safe file writes: a file is either the old version or the new one.

A temp file is written in the destination's directory (so the rename never
crosses file systems), flushed and fsynced, then `os.replace`d over the
destination, and the directory is fsynced so the rename itself survives a
power cut. A process killed mid-write leaves only a stray temp file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

TEMP_SUFFIX = ".tmp"


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Writes `path` atomically.

    Args:
        path: destination file; its directory must exist.
        write: called with a binary file object open for writing.

    Returns:
        The destination path.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the usual permissions.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a half-written temp file behind.
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Writes a UTF-8 text file atomically (see `write_atomic`)."""
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Deletes temp files a killed writer left in `directory`; returns them."""
    stale = [p for p in Path(directory).glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories; the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
