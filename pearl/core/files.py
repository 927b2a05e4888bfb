"""Opening files in a run's working directory without following symbolic links.

A checkpoint directory may be shared (a cluster's file system, a group's results folder); a
symlink planted there as ``.lock`` or ``attempts.jsonl`` must not make a run truncate or append to
a file elsewhere. Every file the harness and the trainers write there is opened with
``O_NOFOLLOW`` (a symlink in the last path component is an ``OSError``, ELOOP), and a run
directory that is itself a symlink is refused (``check_not_symlink``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

_MODES = {
    "r": os.O_RDONLY,
    "rb": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def open_nofollow(path: str | os.PathLike, mode: str = "r") -> IO:
    """``open(path, mode)`` that fails (OSError naming the path) when ``path`` is a symlink."""
    return os.fdopen(fd_nofollow(path, _MODES[mode]), mode)


def write_atomic(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` whole or not at all: into ``<path>.tmp`` (never through a symlink), then
    renamed over ``path``, so a kill mid-write leaves the previous file, not a torn one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a planted symlink is replaced, never written through
    try:
        with open_nofollow(tmp, "wb") as f:
            f.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def fd_nofollow(path: str | os.PathLike, flags: int) -> int:
    """``os.open(path, flags | O_NOFOLLOW)`` with the same error as ``open_nofollow``."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as err:
        if Path(path).is_symlink():
            raise OSError(err.errno, f"refusing to open {str(path)!r}: it is a symbolic link") from None
        raise


def check_not_symlink(directory: str | os.PathLike) -> None:
    """ValueError when a run directory is a symbolic link (it could point anywhere)."""
    if Path(directory).is_symlink():
        raise ValueError(
            f"run directory {str(directory)!r} is a symbolic link (to {os.readlink(directory)!r}); "
            f"refusing to use it: remove the link, or move the directory it points to in its place"
        )
