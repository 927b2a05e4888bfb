"""Checkpoint files shared by every method's trainer: atomic writes, discovery, resume checks.

A checkpoint is one ``torch.save``d dict named ``checkpoint_<completed iterations>.pt``; it
holds the trainer's whole state (networks, optimisers, buffers, RNG states, counters) and the
config it was written with, so a resume with an incompatible config is refused.

Checkpoints are read with ``torch.load(weights_only=True)``: besides tensors and plain Python
containers, only numpy arrays, dtypes and scalars may be in them (``SAFE_GLOBALS``), so a file
planted in a shared checkpoint directory cannot run code. A checkpoint that does not load (e.g.
truncated by a full disk) is skipped with a message naming it and the reason, and the newest one
that loads is used instead.
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from pearl.core.files import write_atomic

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

#: what a checkpoint may hold besides tensors and plain containers: numpy arrays, dtypes and scalars
SAFE_GLOBALS = [_reconstruct, scalar, np.ndarray, np.dtype, *{type(np.dtype(c)) for c in "?bhilqBHILQefdgFDGUS"}]

CHECKPOINT_RE = re.compile(r"^checkpoint_(\d{6})\.pt$")


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(checkpoint_iteration(p), p) for p in directory.iterdir() if CHECKPOINT_RE.match(p.name)]
    return [p for _, p in sorted(found)]


def checkpoint_iteration(path: str | os.PathLike) -> int:
    """The completed iterations a checkpoint file is named by (``checkpoint_000035.pt`` -> 35)."""
    match = CHECKPOINT_RE.match(Path(path).name)
    if not match:
        raise ValueError(f"{path} is not a checkpoint file (expected checkpoint_NNNNNN.pt)")
    return int(match.group(1))


def save_checkpoint(state: dict[str, Any], directory: str | os.PathLike, iteration: int, keep: int = 2) -> Path:
    """Write ``state`` atomically (a kill mid-write leaves the previous checkpoint intact); keep the last ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint_{iteration:06d}.pt"
    # Serialised in memory first: torch's zip writer calls the file's write() from C++, and a buffered file
    # runs Python signal handlers inside it; the KeyboardInterrupt that SIGINT/SIGTERM raise there (see
    # benchmarks/signals.py) was then lost (the run went on, its matrix waited forever), turned into a
    # RuntimeError (run FAILED) or aborted the process. BytesIO.write runs no handler.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getbuffer())
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """One checkpoint's state, read without running code from the file (see the module docstring)."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_latest(directory: str | os.PathLike | None) -> dict[str, Any] | None:
    """The newest checkpoint that loads, or None when there is none; each one skipped is reported on
    stderr with the reason. ValueError when there are checkpoints but none loads."""
    checkpoints = list_checkpoints(directory) if directory is not None else []
    skipped = []
    for path in reversed(checkpoints):
        try:
            return load_checkpoint(path)
        except Exception as err:  # noqa: BLE001 - any unreadable file: fall back to an older one
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            skipped.append(f"{path} ({type(err).__name__}: {reason})")
            print(
                f"pearl: skipping checkpoint {path}: it does not load ({type(err).__name__}: {reason})",
                file=sys.stderr,
                flush=True,
            )
    if skipped:
        raise ValueError(
            f"no checkpoint in {directory} loads: {'; '.join(skipped)}; "
            f"remove them (or train with --fresh) to start over"
        )
    return None


def torch_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """Checkpoint entries of torch's generators: the CPU one, and the GPU's when the run uses one."""
    state = {"torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def set_torch_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore ``torch_rng_state``'s entries (a checkpoint from another device leaves the GPU's as seeded)."""
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)


def check_resumable(saved: dict, current: dict, allowed_changes: Iterable[str]) -> None:
    """ValueError listing every config difference a resume cannot accept (``allowed_changes`` may differ)."""
    allowed = set(allowed_changes)
    diffs = []

    def walk(a, b, prefix=""):
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key), b.get(key)
            if isinstance(va, dict) and isinstance(vb, dict) and key != "env_kwargs":
                walk(va, vb, prefix + key + ".")
            elif va != vb and key not in allowed:
                diffs.append(f"{prefix}{key}: checkpoint {va!r} vs config {vb!r}")

    walk(saved, current)
    if diffs:
        raise ValueError("checkpoint was written with a different config: " + "; ".join(diffs))


def resume(trainer, checkpoint_dir: str | os.PathLike | None, logger) -> int | None:
    """Load the newest checkpoint into ``trainer`` (anything with ``load_state_dict``, ``iteration``
    and ``env_steps``); returns the iteration it resumes from, or None for a fresh start.

    Metrics are logged against env steps, so the logger forgets whatever it holds beyond the
    checkpoint's env-step count: those iterations run again and no step is logged twice.
    """
    state = load_latest(checkpoint_dir)
    if state is None:
        return None
    trainer.load_state_dict(state)
    if hasattr(logger, "drop_after"):
        logger.drop_after(trainer.env_steps)
    return trainer.iteration
