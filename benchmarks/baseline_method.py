"""Registry adapter for the on-policy baselines RL2-PPO, MAML-TRPO and ProMP (``baselines.config`` /
``baselines.trainer``). The trainer (torch) is imported on first use; the shared parts are in
``benchmarks.method_adapter``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from baselines.config import METHODS, BaselineConfig, make_config
from benchmarks.method_adapter import MethodAdapter


class BaselineMethod(MethodAdapter):
    """One of ``baselines.config.METHODS``; see ``benchmarks.registry.Method``."""

    methods, config_class, build_config = METHODS, BaselineConfig, staticmethod(make_config)

    def train(self, config, logger, checkpoint_dir: str) -> dict[str, Any]:
        from baselines.trainer import train

        return train(config, logger, checkpoint_dir)

    def model_state(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        algo = checkpoint["algo"]
        return {"policy": algo.get("policy", algo.get("model"))}  # MAML/ProMP policy, RL2 GRU model

    def planned_iterations(self, config) -> int:
        return config.planned_iterations()

    def estimate_env_steps(self, config) -> dict[str, int]:
        """Meta-training and evaluation env steps of the whole run (nominal: no early termination)."""
        from pearl.core.loop import evaluation_due
        from pearl.envs import get_family

        iterations = config.planned_iterations()
        train_steps = iterations * config.nominal_steps_per_iteration()
        if config.max_env_steps is not None:
            train_steps = min(train_steps, config.max_env_steps + config.nominal_steps_per_iteration())
        spec = get_family(config.family)
        n_test = min(config.max_test_tasks or spec.n_test, spec.n_test)
        e = config.eval
        n_evals = sum(
            1 for it in range(1, iterations + 1) if evaluation_due(it, e.eval_every, finished=it == iterations)
        )
        if config.method == "rl2-ppo":
            per_eval = n_test * e.runs_per_task * (e.num_episodes or config.sampling.episodes_per_task)
        else:
            per_eval = n_test * e.runs_per_task * config.phases()
        return {"train": int(train_steps), "eval": int(n_evals * per_eval * config.horizon())}

    def calibrate(self, config, seconds: float) -> dict[str, float]:
        """Seconds per env step of whole training iterations (sampling, adaptation, update) at this
        config's network sizes on this machine (``benchmarks.estimate``), and seconds per env step of
        the sampling alone, for evaluation.

        MAML/ProMP: iterations on 2 and on 4 tasks, half the time each, extrapolated to the config's
        meta-batch along a line (``iteration_seconds``): their update is batched over tasks and has a
        fixed part (conjugate gradient, line search), so seconds per env step on 2 tasks alone came out
        2.2-2.8x too slow at 20. RL2: up to 2 minibatches of the config's trials per minibatch (at most
        8), so each optimiser step sees the config's batch and the cost scales with the env steps.

        Costs are per env step actually taken, and ``estimate_env_steps`` counts nominal steps (every
        episode to the horizon). Where the untrained policy falls early (ant, humanoid, walker) the
        iteration's fixed costs are spread over fewer steps here, so the estimate is an upper bound
        for iterations of full-length episodes, and early iterations with short ones cost less.
        """
        import copy

        from baselines.trainer import BaselineTrainer
        from benchmarks.estimate import timed_repeats

        def timed(tasks: int, budget_s: float, num_minibatches: int | None = None) -> tuple[float, ...]:
            """On ``tasks`` tasks: setup seconds, seconds and env steps per iteration, seconds per env
            step of sampling."""
            small = copy.deepcopy(config)
            small.sampling.meta_batch = tasks
            if num_minibatches is not None:
                small.algo.num_minibatches = num_minibatches
            small.max_test_tasks, small.eval.eval_every = 1, 10**9
            small.num_iterations, small.max_env_steps = 10**9, None
            start = time.perf_counter()
            trainer = BaselineTrainer(small)
            setup_s = time.perf_counter() - start
            try:

                def iteration() -> tuple[int, float]:
                    before = trainer.env_steps
                    metrics = trainer.run_iteration()
                    return trainer.env_steps - before, metrics["time/sample_s"]

                per_iteration_s, done = timed_repeats(iteration, budget_s, min_calls=1)
            finally:
                trainer.close()
            steps = sum(n for n, _ in done)
            return setup_s, per_iteration_s, steps / len(done), sum(t for _, t in done) / steps

        meta_batch = config.sampling.meta_batch
        if config.method == "rl2-ppo":
            minibatches = min(2, config.algo.num_minibatches)
            per_minibatch = min(8, math.ceil(meta_batch / config.algo.num_minibatches))
            tasks = min(meta_batch, minibatches * per_minibatch)
            setup_s, per_iteration_s, steps, sample_step_s = timed(tasks, seconds, minibatches)
            return {"setup_s": setup_s, "env_step_s": per_iteration_s / steps, "sample_step_s": sample_step_s}
        task_counts = sorted({min(2, meta_batch), min(4, meta_batch)})
        runs = {tasks: timed(tasks, seconds / len(task_counts)) for tasks in task_counts}
        setup_s, _, steps, sample_step_s = runs[task_counts[-1]]
        iteration_s = iteration_seconds({tasks: run[1] for tasks, run in runs.items()}, meta_batch)
        return {
            "setup_s": setup_s,
            "env_step_s": iteration_s / (steps / task_counts[-1] * meta_batch),
            "sample_step_s": sample_step_s,
        }

    def estimate_seconds(self, config, costs: dict[str, float]) -> float:
        """Evaluation env steps are costed as sampling only (no update)."""
        steps = self.estimate_env_steps(config)
        return costs["setup_s"] + steps["train"] * costs["env_step_s"] + steps["eval"] * costs["sample_step_s"]


def iteration_seconds(timed: dict[int, float], tasks: int) -> float:
    """Seconds per iteration on ``tasks`` tasks from iterations timed on fewer (``{tasks: seconds}``):
    a fixed part plus a part per task, the line through the two points. With one point, or where
    timing noise gives a line with no fixed part or no cost per task, in proportion to the larger
    point's tasks (an overestimate, never an underestimate of a real linear cost)."""
    points = sorted(timed.items())
    (n0, t0), (n1, t1) = points[0], points[-1]
    if n1 > n0:
        per_task = (t1 - t0) / (n1 - n0)
        fixed = t1 - per_task * n1
        if per_task > 0 and fixed > 0:
            return fixed + per_task * tasks
    return t1 * tasks / n1
