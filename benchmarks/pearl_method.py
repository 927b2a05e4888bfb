"""Registry adapter for PEARL and its five ablations (``pearl.config`` / ``pearl.trainer``).

The trainer (torch) is imported on first use; the shared parts are in ``benchmarks.method_adapter``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.method_adapter import MethodAdapter
from pearl.config import METHODS, PEARLConfig, make_config


class PEARLMethod(MethodAdapter):
    """One of ``pearl.config.METHODS``; see ``benchmarks.registry.Method``."""

    methods, config_class, build_config = METHODS, PEARLConfig, staticmethod(make_config)

    def train(self, config, logger, checkpoint_dir: str) -> dict[str, Any]:
        from pearl.trainer import train

        return train(config, logger, checkpoint_dir)

    def model_state(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        return {"agent": checkpoint["agent"]}

    def planned_iterations(self, config) -> int:
        return config.algo.num_iterations

    def estimate_env_steps(self, config) -> dict[str, int]:
        """Meta-training and evaluation env steps of the whole run (nominal: no early termination);
        ``initial``: the part of ``train`` collected before the first iteration, all train tasks at once."""
        from pearl.core.loop import evaluation_due
        from pearl.envs import get_family

        spec = get_family(config.family)
        a, e = config.algo, config.eval
        n_train = min(config.max_train_tasks or spec.n_train, spec.n_train)
        n_test = min(config.max_test_tasks or spec.n_test, spec.n_test)
        per_iteration = a.num_tasks_sample * (
            a.num_steps_prior + a.num_steps_posterior + a.num_extra_rl_steps_posterior
        )
        initial_steps = a.num_initial_steps * n_train
        train_steps = initial_steps + a.num_iterations * per_iteration
        n_evals = sum(
            1
            for it in range(a.num_iterations)
            if evaluation_due(it + 1, e.eval_every, finished=it + 1 == a.num_iterations)
        )
        eval_steps = n_evals * n_test * e.num_evals * e.num_steps_per_eval
        return {"train": int(train_steps), "eval": int(eval_steps), "initial": int(initial_steps)}

    def calibrate(self, config, seconds: float) -> dict[str, float]:
        """Costs of this config on this machine, from its real trainer (``benchmarks.estimate``): the
        trainer's set-up; seconds per env step of the initial collection (every train task in lockstep,
        one episode each) and of a collection round (``num_tasks_sample`` tasks in lockstep, one episode
        each: fewer envs per policy forward); seconds per gradient step, timed for ``seconds``."""
        import copy

        from benchmarks.estimate import seconds_per, timed_repeats
        from pearl.trainer import PEARLTrainer

        small = copy.deepcopy(config)
        small.max_test_tasks = 1
        start = time.perf_counter()
        trainer = PEARLTrainer(small)
        setup_s = time.perf_counter() - start
        try:
            a, rng, horizon = small.algo, trainer.rng, trainer.horizon
            initial_step_s = seconds_per(lambda: trainer.collector.collect_initial(horizon, rng))
            tasks = rng.integers(0, len(trainer.train_tasks), size=a.num_tasks_sample)
            round_step_s = seconds_per(lambda: trainer.collector.collect_round(tasks, horizon, 0, 0, rng))
            grad_step_s, _ = timed_repeats(
                lambda: trainer.learner.update(
                    trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), a.meta_batch), rng)
                ),
                seconds,
            )
        finally:
            trainer.close()
        return {
            "setup_s": setup_s,
            "initial_step_s": initial_step_s,
            "env_step_s": round_step_s,
            "grad_step_s": grad_step_s,
        }

    def estimate_seconds(self, config, costs: dict[str, float]) -> float:
        """Evaluation env steps are costed like a collection round's."""
        steps = self.estimate_env_steps(config)
        grad_steps = config.algo.num_iterations * config.algo.num_train_steps_per_itr
        return (
            costs["setup_s"]
            + grad_steps * costs["grad_step_s"]
            + steps["initial"] * costs["initial_step_s"]
            + (steps["train"] - steps["initial"] + steps["eval"]) * costs["env_step_s"]
        )

    def extra_artifacts(self, checkpoint_dir: str, config) -> dict[str, Path]:
        """The latest evaluation trajectories: the trainer's ``.npz`` and ``eval_paths.json`` made from it.

        The JSON is ``[{"task": {...}, "goal": [x, y] or None, "episodes": [[obs, ...], ...]}, ...]`` with
        one entry per test task and the episodes of its first evaluation run (observations are
        positions for the point robots).
        """
        import json

        import numpy as np

        from pearl.core.files import open_nofollow
        from pearl.envs import get_family, task_to_jsonable

        found = sorted(Path(checkpoint_dir).glob("eval_paths_*.npz"))
        if not found:
            return {}
        data = np.load(found[-1])
        paths = data["paths"]  # (n_tasks, num_evals, max_episodes, horizon + 1, obs_dim), NaN padded
        tasks = get_family(config.family).test_tasks[: paths.shape[0]]
        entries = []
        for t, task in enumerate(tasks):
            task_json = task_to_jsonable(task)
            episodes = []
            for episode in paths[t, 0]:
                rows = episode[~np.isnan(episode).any(axis=1)]
                if len(rows):
                    episodes.append(rows.tolist())
            entries.append({"task": task_json, "goal": task_json.get("goal"), "episodes": episodes})
        out = Path(checkpoint_dir) / "eval_paths.json"
        with open_nofollow(out, "w") as f:
            f.write(json.dumps(entries))
        return {"eval_paths.json": out, "eval_paths.npz": found[-1]}
