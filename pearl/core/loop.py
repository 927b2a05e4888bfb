"""The outer training loop every algorithm runs: iterate, log against env steps, checkpoint, resume.

An algorithm plugs in a ``Trainer`` (PEARL: ``pearl.trainer.PEARLTrainer``, Algorithm 1; the
baselines: ``baselines.trainer.BaselineTrainer``) that runs one iteration (collection, updates and,
when due, evaluation) and returns its metrics. ``train_loop``

* resumes from the newest checkpoint in ``checkpoint_dir`` (``pearl.core.checkpoint.resume``: the
  logger forgets what it holds beyond the checkpoint's env steps, so no step is logged twice);
* logs every metric with ``step`` = env steps collected for meta-training so far, the x-axis of
  every learning curve in the paper (evaluation env steps are not counted), and each iteration's
  wall seconds (collection, updates and evaluation) as ``time/iteration_s``;
* checkpoints every ``config.checkpoint_every`` iterations and when it stops;
* returns the run's summary.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol

from pearl.core.logger import ITERATION_TIME_METRIC, Logger, MemoryLogger


class Trainer(Protocol):
    """What ``train_loop`` needs from an algorithm's trainer."""

    config: Any  # a config tree (``pearl.core.configs``) with method, family, profile, seed, checkpoint_every
    iteration: int  # iterations completed (= the next one to run)
    env_steps: int  # env steps collected for meta-training so far
    last_eval: dict[str, Any] | None

    def run_iteration(self) -> dict[str, float]:
        """One outer iteration; returns its metrics (names of ``pearl.core.logger``)."""
        ...

    def finished(self) -> bool:
        """The budget is spent."""
        ...

    def save_checkpoint(self, directory: str | os.PathLike) -> Path: ...

    def load_state_dict(self, state: dict) -> None: ...

    def summary(self) -> dict[str, Any]:
        """Algorithm-specific entries of the run's summary (e.g. PEARL's gradient steps)."""
        ...

    def close(self) -> None: ...


def evaluation_due(iterations_done: int, eval_every: int, finished: bool) -> bool:
    """Evaluate after every ``eval_every``-th iteration and after the last one (every method's schedule)."""
    return iterations_done % eval_every == 0 or finished


def log_metrics(logger: Logger, metrics: dict[str, float], env_steps: int) -> None:
    """Every metric at ``step`` = env steps collected for meta-training."""
    for name, value in metrics.items():
        logger.log_scalar(name, value, env_steps)


def train_loop(
    trainer: Trainer,
    logger: Logger | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) ``trainer`` until its budget is spent; returns the run's summary.

    ``stop_after``: stop once this many iterations are complete (checkpointing then), as if the
    process had been interrupted there; used to test resuming. The trainer is closed at the end.
    """
    from pearl.core.checkpoint import resume  # torch, on first use (the budget estimates use this module too)

    logger = logger if logger is not None else MemoryLogger()
    config = trainer.config
    try:
        resumed_from = resume(trainer, checkpoint_dir, logger)
        start = time.perf_counter()
        while not trainer.finished() and (stop_after is None or trainer.iteration < stop_after):
            began = time.perf_counter()
            metrics = trainer.run_iteration()
            log_metrics(logger, {**metrics, ITERATION_TIME_METRIC: time.perf_counter() - began}, trainer.env_steps)
            done = trainer.iteration
            stopping = trainer.finished() or (stop_after is not None and done >= stop_after)
            if checkpoint_dir is not None and (done % config.checkpoint_every == 0 or stopping):
                trainer.save_checkpoint(checkpoint_dir)
    finally:
        trainer.close()
    return {
        "method": config.method,
        "family": config.family,
        "profile": config.profile,
        "seed": config.seed,
        "iterations_completed": trainer.iteration,
        "finished": trainer.finished(),
        "resumed_from_iteration": resumed_from,
        "env_steps": trainer.env_steps,
        **trainer.summary(),
        "last_eval": trainer.last_eval,
        "wall_time_s": time.perf_counter() - start,
        "config": config.to_dict(),
    }
