"""The metrics-logger interface and the metric names every algorithm logs, so no algorithm depends
on an experiment tracker.

Anything with ``log_scalar(name, value, step)`` is a logger (e.g. the harness's adapter to Sacred,
``benchmarks.journal.JournalLogger``). ``drop_after(step)`` is optional: the training loop
(``pearl.core.loop``) calls it on resume to discard metrics logged after the checkpoint it resumes
from, so no step is logged twice.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

# Metric names every method logs and the analysis reads; ``step`` is always the number of env
# steps collected for meta-training so far (the x-axis of every learning curve in the paper).
RETURN_METRIC = "test/return"  # the paper's metric: test-task return after adaptation
ADAPTATION_PREFIX = "test/adaptation_return/"  # + k: return of the k-th adaptation episode, k = 1, 2, ...
ENV_STEPS_METRIC = "env_steps"
ITERATION_METRIC = "iteration"
EVAL_ENV_STEPS_METRIC = "test/eval_env_steps"  # env steps of one evaluation (not counted in ``step``)
GRAD_STEPS_METRIC = "grad_steps"
ITERATION_TIME_METRIC = "time/iteration_s"  # wall seconds of one whole iteration (logged by the training loop)
TRAIN_PREFIX = "train/"  # + a training diagnostic (losses, ...)


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
