"""Meta-training loop of the on-policy baselines, with evaluation, checkpoint/resume and seeding.

``train(config, logger, checkpoint_dir) -> summary`` (same contract as ``pearl.trainer.train``) runs
iterations until ``num_iterations`` or ``max_env_steps`` is reached. Each iteration draws
``meta_batch`` train tasks (without replacement when there are enough, else with), collects
on-policy data on them and updates the meta-policy (``MetaGradientAlgorithm`` / ``RL2Algorithm``).

Metrics (names of ``analysis.metrics``) are logged with ``step`` = env steps collected for
meta-training so far, PEARL's x-axis (evaluation steps are not counted):

* ``test/return``: the paper's metric, test-task return after adaptation (MAML/ProMP: post-update
  episodes; RL2: last episode of the trial), sparse return on sparse-point-robot;
* ``test/adaptation_return/{k}``, k = 1, 2, ...: return of the k-th adaptation episode (MAML/ProMP:
  k = 1 pre-update, k = S + 1 after S inner steps; RL2: episode k of the trial);
* ``env_steps``, ``iteration``, ``train/*`` diagnostics and ``time/*``.

The outer loop (iterate, log, checkpoint, resume) is the one PEARL runs too, ``pearl.core.loop``.
Checkpoints hold networks, optimisers, coefficients, numpy/torch/env RNG states and counters; a
resumed run reproduces the uninterrupted one and calls ``logger.drop_after(env_steps)`` so no step
is logged twice. Evaluation draws its action noise from a torch stream seeded by (seed, iteration)
and uses its own envs, so it does not perturb training.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.config import BaselineConfig, validate
from pearl.core.checkpoint import check_resumable, save_checkpoint, set_torch_rng_state, torch_rng_state
from pearl.core.hardware import reuse_freed_memory, set_num_threads
from pearl.core.logger import ADAPTATION_PREFIX, ENV_STEPS_METRIC, ITERATION_METRIC, RETURN_METRIC, Logger
from pearl.core.loop import evaluation_due, train_loop
from pearl.envs import TaskVectorEnv, get_family

# config keys that may differ between a checkpoint and the resuming config
RESUMABLE_CHANGES = {"num_iterations", "max_env_steps", "checkpoint_every", "num_threads", "eval_every", "device"}


def make_algorithm(config: BaselineConfig, obs_dim: int, act_dim: int):
    if config.method == "rl2-ppo":
        from baselines.rl2 import RL2Algorithm

        return RL2Algorithm(config, obs_dim, act_dim)
    from baselines.meta_gradient import MetaGradientAlgorithm

    return MetaGradientAlgorithm(config, obs_dim, act_dim)


class BaselineTrainer:
    def __init__(self, config: BaselineConfig):
        validate(config)
        self.config = cfg = config
        if cfg.num_threads > 0:
            set_num_threads(cfg.num_threads)
        reuse_freed_memory()
        torch.manual_seed(cfg.seed)
        self.rng = np.random.Generator(np.random.PCG64(cfg.seed))  # task sampling only

        spec = get_family(cfg.family)
        self.train_tasks = spec.train_tasks[: cfg.max_train_tasks]
        self.test_tasks = spec.test_tasks[: cfg.max_test_tasks]
        self.horizon = cfg.horizon()
        probe = TaskVectorEnv(cfg.family, self.train_tasks[:1], **cfg.env_kwargs)
        obs_dim, act_dim = probe.obs_dim, probe.act_dim
        probe.close()
        self.algo = make_algorithm(cfg, obs_dim, act_dim)

        base_seed = cfg.seed * 1_000_003
        n_train_envs = cfg.sampling.meta_batch * self.algo.runs_per_train_task
        self.train_venv = TaskVectorEnv(
            cfg.family, self.train_tasks[:1] * n_train_envs, seed=base_seed, **cfg.env_kwargs
        )
        self.eval_venv = TaskVectorEnv(
            cfg.family,
            self._repeat(self.test_tasks, self.algo.runs_per_test_task),
            seed=base_seed + 500_000,
            **cfg.env_kwargs,
        )
        for venv in (self.train_venv, self.eval_venv):
            venv.horizon = self.horizon
        self.iteration = 0  # next iteration to run
        self.env_steps = 0
        self.last_eval: dict[str, Any] | None = None

    @staticmethod
    def _repeat(tasks: list, runs: int) -> list:
        return [t for t in tasks for _ in range(runs)]  # task-major: env i runs task i // runs

    def sample_tasks(self) -> list:
        n, k = len(self.train_tasks), self.config.sampling.meta_batch
        ids = self.rng.choice(n, size=k, replace=k > n)
        return [self.train_tasks[i] for i in ids]

    def finished(self) -> bool:
        cfg = self.config
        return (cfg.num_iterations is not None and self.iteration >= cfg.num_iterations) or (
            cfg.max_env_steps is not None and self.env_steps >= cfg.max_env_steps
        )

    # ---- one iteration ------------------------------------------------------------------------
    def run_iteration(self) -> dict[str, float]:
        """Sample tasks, collect on them and update the meta-policy; evaluate when due."""
        cfg, it = self.config, self.iteration
        self.train_venv.set_tasks(self._repeat(self.sample_tasks(), self.algo.runs_per_train_task))
        metrics, steps = self.algo.train_iteration(self.train_venv, it)
        self.env_steps += steps
        self.iteration += 1
        if evaluation_due(self.iteration, cfg.eval.eval_every, self.finished()):
            t1 = time.perf_counter()
            per_task = self.evaluate()  # (n_test, episodes)
            curve = per_task.mean(0)
            metrics[RETURN_METRIC] = float(curve[-1])
            for k, value in enumerate(curve, start=1):
                metrics[f"{ADAPTATION_PREFIX}{k}"] = float(value)
            metrics["time/eval_s"] = time.perf_counter() - t1
            self.last_eval = {
                "iteration": it,
                "env_steps": self.env_steps,
                "final_return": float(curve[-1]),
                "adaptation_curve": curve.tolist(),
                "per_task_final_return": per_task[:, -1].tolist(),
            }
        metrics.update({ENV_STEPS_METRIC: self.env_steps, ITERATION_METRIC: it})  # the loop adds time/iteration_s
        return metrics

    def evaluate(self) -> np.ndarray:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed * 7919 + self.iteration)
            return self.algo.evaluate(self.eval_venv, len(self.test_tasks))

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "last_eval": self.last_eval,
            "config": self.config.to_dict(),
            "algo": self.algo.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            **torch_rng_state(self.algo.device),
            "env_rng": {"train": self.train_venv.rng_state(), "eval": self.eval_venv.rng_state()},
        }

    def load_state_dict(self, state: dict) -> None:
        check_resumable(state["config"], self.config.to_dict(), RESUMABLE_CHANGES)
        self.iteration, self.env_steps, self.last_eval = state["iteration"], state["env_steps"], state["last_eval"]
        self.algo.load_state_dict(state["algo"])
        self.rng.bit_generator.state = state["numpy_rng"]
        set_torch_rng_state(state, self.algo.device)
        self.train_venv.set_rng_state(state["env_rng"]["train"])
        self.eval_venv.set_rng_state(state["env_rng"]["eval"])

    def save_checkpoint(self, directory: str | os.PathLike, keep: int = 2) -> Path:
        return save_checkpoint(self.state_dict(), directory, self.iteration, keep)  # named by completed iterations

    def summary(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self.train_venv.close()
        self.eval_venv.close()


def train(
    config: BaselineConfig,
    logger: Logger | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run (or resume from the latest checkpoint in ``checkpoint_dir``) meta-training; returns a summary.

    ``stop_after``: stop once this many iterations are complete (checkpointing then), as if the
    process had been interrupted there; used to test resuming.
    """
    return train_loop(BaselineTrainer(config), logger, checkpoint_dir, stop_after)
