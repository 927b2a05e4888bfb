"""Registry adapter for the on-policy baselines RL2-PPO, MAML-TRPO and ProMP (``baselines.config`` /
``baselines.trainer``). Imported only when a baseline is used; the shared parts are in
``benchmarks.method_adapter``.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.method_adapter import MethodAdapter


class BaselineMethod(MethodAdapter):
    """One of ``baselines.config.METHODS``; see ``benchmarks.registry.Method``."""

    config_module, config_class, trainer_module = "baselines.config", "BaselineConfig", "baselines.trainer"

    def model_state(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        algo = checkpoint["algo"]
        return {"policy": algo.get("policy", algo.get("model"))}  # MAML/ProMP policy, RL2 GRU model

    def planned_iterations(self, config) -> int:
        return config.planned_iterations()

    def estimate_env_steps(self, config) -> dict[str, int]:
        """Meta-training and evaluation env steps of the whole run (nominal: no early termination)."""
        from pearl.envs import get_family

        iterations = config.planned_iterations()
        train_steps = iterations * config.nominal_steps_per_iteration()
        if config.max_env_steps is not None:
            train_steps = min(train_steps, config.max_env_steps + config.nominal_steps_per_iteration())
        spec = get_family(config.family)
        n_test = min(config.max_test_tasks or spec.n_test, spec.n_test)
        e = config.eval
        n_evals = sum(1 for it in range(1, iterations + 1) if it % e.eval_every == 0 or it == iterations)
        if config.method == "rl2-ppo":
            per_eval = n_test * e.runs_per_task * (e.num_episodes or config.sampling.episodes_per_task)
        else:
            per_eval = n_test * e.runs_per_task * config.phases()
        return {"train": int(train_steps), "eval": int(n_evals * per_eval * config.horizon())}

    def calibrate(self, config, seconds: float) -> dict[str, float]:
        """Iteration time = a fixed part + seconds per env step x env steps, fitted on this machine from
        whole training iterations (sampling, adaptation, update) at this config's network sizes on m,
        2m, 4m, ... tasks while the time allows, up to the config's meta-batch (m = 2, or RL2's minibatch
        count so the number of optimiser steps stays the config's); the two largest sizes give the fit
        (``benchmarks.estimate``)."""
        full = config.sampling.meta_batch
        size = min(full, max(2, config.algo.num_minibatches) if config.method == "rl2-ppo" else 2)
        deadline = time.perf_counter() + seconds
        points = [self._iteration_cost(config, size, seconds / 4)]
        while size < full and (len(points) < 2 or time.perf_counter() + 4 * points[-1][0] < deadline):
            size = min(2 * size, full)
            points.append(self._iteration_cost(config, size, seconds / 4))
        (t1, s1, _), (t2, s2, _) = points[-2:] if len(points) > 1 else points * 2
        setup_s = points[-1][2]
        per_step = (t2 - t1) / (s2 - s1) if s2 > s1 else 0.0
        if per_step <= 0:  # one size only, or noise: all of it per env step
            return {"setup_s": setup_s, "iteration_s": 0.0, "env_step_s": t2 / s2}
        return {"setup_s": setup_s, "iteration_s": max(0.0, t2 - per_step * s2), "env_step_s": per_step}

    @staticmethod
    def _iteration_cost(config, meta_batch: int, seconds: float) -> tuple[float, float, int]:
        """(seconds per iteration, env steps per iteration, seconds to build the trainer) on ``meta_batch`` tasks."""
        import copy

        from baselines.trainer import BaselineTrainer
        from benchmarks.estimate import timed_repeats
        from pearl.logger import MemoryLogger

        small = copy.deepcopy(config)
        small.sampling.meta_batch = meta_batch
        small.max_test_tasks, small.eval.eval_every = 1, 10**9
        small.num_iterations, small.max_env_steps = 10**9, None
        start = time.perf_counter()
        trainer = BaselineTrainer(small)
        setup_s = time.perf_counter() - start
        try:
            def iteration() -> int:
                before = trainer.env_steps
                trainer.run_iteration(MemoryLogger())
                return trainer.env_steps - before
            per_iteration_s, steps = timed_repeats(iteration, seconds, min_calls=1)
        finally:
            trainer.close()
        return per_iteration_s, sum(steps) / len(steps), setup_s

    def estimate_seconds(self, config, costs: dict[str, float]) -> float:
        steps = self.estimate_env_steps(config)
        return (costs["setup_s"] + config.planned_iterations() * costs["iteration_s"]
                + (steps["train"] + steps["eval"]) * costs["env_step_s"])
