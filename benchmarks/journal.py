"""The harness's logger: journals every scalar next to the checkpoints and forwards it to sinks.

One run of a benchmark cell may take several attempts (interrupted, failed, killed). Each
attempt is a new Sacred run; its metrics must be the whole curve, with every step exactly once:

* points of earlier attempts are read from the journal (``metrics.jsonl``) and replayed into the
  new attempt's sinks before its first new point;
* the algorithm calls ``drop_after(step)`` when it resumes from a checkpoint, which forgets the
  replayed points that the checkpoint does not cover (they will be logged again);
* as a fallback for algorithms that do not call ``drop_after``, the first new point at step ``s``
  drops every replayed point at a step >= ``s``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable

from pearl.core.files import open_nofollow, write_atomic

Sink = Callable[[str, float, int], None]


class JournalLogger:
    """``log_scalar(name, value, step)`` -> journal + sinks; see the module docstring."""

    def __init__(self, path: str | os.PathLike, sinks: list[Sink] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sinks = list(sinks or [])
        self.carried: list[tuple[str, float, int]] = _read_points(self.path)
        self._replayed = False
        self._rewrite(self.carried)  # drops a torn last line left by a killed process

    # ---- logger protocol ---------------------------------------------------------------
    def log_scalar(self, name: str, value: float, step: int) -> None:
        value, step = float(value), int(step)
        if not self._replayed:
            self.carried = [p for p in self.carried if p[2] < step]
            self._rewrite(self.carried)
            self._replay()
        with open_nofollow(self.path, "a") as f:
            f.write(_encode(name, value, step) + "\n")
            f.flush()
        self._emit(name, value, step)

    def drop_after(self, step: int) -> None:
        """Forget replayed points after ``step`` (called by the algorithm when it resumes)."""
        if self._replayed:
            return
        self.carried = [p for p in self.carried if p[2] <= step]
        self._rewrite(self.carried)

    def finish(self) -> None:
        """Replay carried points that no new point triggered (e.g. nothing was left to train)."""
        if not self._replayed:
            self._replay()

    @property
    def num_carried(self) -> int:
        return len(self.carried)

    # ---- internals -----------------------------------------------------------------------
    def _replay(self) -> None:
        self._replayed = True
        for name, value, step in self.carried:
            self._emit(name, value, step)

    def _emit(self, name: str, value: float, step: int) -> None:
        for sink in self.sinks:
            sink(name, value, step)

    def _rewrite(self, points: list[tuple[str, float, int]]) -> None:
        write_atomic(self.path, "".join(_encode(*p) + "\n" for p in points).encode())


def _encode(name: str, value: float, step: int) -> str:
    return json.dumps({"name": name, "value": value if math.isfinite(value) else str(value), "step": step})


def _read_points(path: Path) -> list[tuple[str, float, int]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            out.append((record["name"], float(record["value"]), int(record["step"])))
        except (ValueError, KeyError, TypeError):
            continue  # torn line of a killed process
    return out


def read_journal(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{name: [(step, value), ...]}`` from a journal file."""
    out: dict[str, list[tuple[int, float]]] = {}
    for name, value, step in _read_points(Path(path)):
        out.setdefault(name, []).append((step, value))
    return out
