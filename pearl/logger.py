"""A tiny metrics-logger interface, so ``pearl`` does not depend on any experiment tracker.

Anything with ``log_scalar(name, value, step)`` is a logger (e.g. an adapter to sacred, written
outside this package). ``drop_after(step)`` is optional: the trainer calls it on resume to discard
metrics logged after the checkpoint it resumes from, so no step is logged twice.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Protocol, runtime_checkable


# Metric names every method logs and the analysis reads; ``step`` is always the number of env
# steps collected for meta-training so far (the x-axis of every learning curve in the paper).
RETURN_METRIC = "test/return"  # the paper's metric: test-task return after adaptation
ADAPTATION_PREFIX = "test/adaptation_return/"  # + k: return of the k-th adaptation episode, k = 1, 2, ...
ENV_STEPS_METRIC = "env_steps"
ITERATION_METRIC = "iteration"


@runtime_checkable
class Logger(Protocol):
    def log_scalar(self, name: str, value: float, step: int) -> None: ...


class MemoryLogger:
    """Keeps ``{name: [(step, value), ...]}`` in memory."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[tuple[int, float]]] = {}

    def log_scalar(self, name: str, value: float, step: int) -> None:
        self.scalars.setdefault(name, []).append((int(step), float(value)))

    def drop_after(self, step: int) -> None:
        for name in list(self.scalars):
            self.scalars[name] = [(s, v) for s, v in self.scalars[name] if s <= step]

    def series(self, name: str) -> list[float]:
        return [v for _, v in self.scalars.get(name, [])]

    def steps(self, name: str) -> list[int]:
        return [s for s, _ in self.scalars.get(name, [])]


class JSONLLogger:
    """Appends one ``{"name", "value", "step"}`` JSON object per line (non-finite values as strings)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log_scalar(self, name: str, value: float, step: int) -> None:
        value = float(value)
        record = {"name": name, "value": value if math.isfinite(value) else str(value), "step": int(step)}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open() as f:
            return [json.loads(line) for line in f if line.strip()]

    def drop_after(self, step: int) -> None:
        kept = [r for r in self.read() if r["step"] <= step]
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w") as f:
            for r in kept:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.path)
