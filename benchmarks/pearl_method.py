"""Registry adapter for PEARL and its five ablations (``pearl.config`` / ``pearl.trainer``).

Imported only when a PEARL method is used. Environment keyword arguments that a family's env
accepts (e.g. ``goal_radius`` of sparse-point-robot) are written into the config explicitly, with
the env's default, so every run records them and they can be queried.
"""

from __future__ import annotations

from pearl.logger import ENV_STEPS_METRIC, RETURN_METRIC

from pathlib import Path
from typing import Any


class PEARLMethod:
    """One of ``pearl.config.METHODS``; see ``benchmarks.registry.Method``."""

    def __init__(self, name: str):
        self.name = name

    # ---- configs --------------------------------------------------------------------
    def make_config(self, family: str, profile: str, overrides: dict[str, Any] | None, seed: int):
        from pearl.config import make_config

        from pearl.envs import resolve_env_kwargs

        overrides = dict(overrides or {})
        env_kwargs = resolve_env_kwargs(family, overrides.pop("env_kwargs", None))
        config = make_config(self.name, family, profile, {**overrides, "seed": seed})
        config.env_kwargs = env_kwargs
        return config

    def config_to_dict(self, config) -> dict[str, Any]:
        return config.to_dict()

    def config_from_dict(self, values: dict[str, Any]):
        from pearl.config import PEARLConfig

        return PEARLConfig.from_dict(values)

    # ---- running --------------------------------------------------------------------
    def train(self, config, logger, checkpoint_dir: str) -> dict[str, Any]:
        from pearl.trainer import train

        return train(config, logger, checkpoint_dir)

    def export_model(self, checkpoint_dir: str, out_path: str) -> bool:
        import torch

        from pearl.checkpoint import list_checkpoints

        checkpoints = list_checkpoints(checkpoint_dir)
        if not checkpoints:
            return False
        state = torch.load(checkpoints[-1], map_location="cpu", weights_only=False)
        torch.save({"agent": state["agent"], "config": state["config"], "iteration": state["iteration"]}, out_path)
        return True

    # ---- budgets and progress ------------------------------------------------------------
    def estimate_env_steps(self, config) -> dict[str, int]:
        from pearl.envs import get_family

        spec = get_family(config.family)
        a, e = config.algo, config.eval
        n_train = min(config.max_train_tasks or spec.n_train, spec.n_train)
        n_test = min(config.max_test_tasks or spec.n_test, spec.n_test)
        per_iteration = a.num_tasks_sample * (a.num_steps_prior + a.num_steps_posterior + a.num_extra_rl_steps_posterior)
        train_steps = a.num_initial_steps * n_train + a.num_iterations * per_iteration
        n_evals = sum(1 for it in range(a.num_iterations)
                      if (it + 1) % e.eval_every == 0 or it == a.num_iterations - 1)
        eval_steps = n_evals * n_test * e.num_evals * e.num_steps_per_eval
        return {"train": int(train_steps), "eval": int(eval_steps)}

    def progress_info(self, config) -> dict[str, Any]:
        return {"iterations": config.algo.num_iterations, "env_steps_metric": ENV_STEPS_METRIC,
                "return_metric": RETURN_METRIC}

    def extra_artifacts(self, checkpoint_dir: str, config) -> dict[str, Path]:
        """The latest evaluation trajectories: the trainer's ``.npz`` and ``eval_paths.json`` made from it.

        The JSON is ``[{"task": {...}, "goal": [x, y] or None, "episodes": [[obs, ...], ...]}, ...]`` with
        one entry per test task and the episodes of its first evaluation run (observations are
        positions for the point robots).
        """
        import json

        import numpy as np

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
        out.write_text(json.dumps(entries))
        return {"eval_paths.json": out, "eval_paths.npz": found[-1]}

    def checkpoint_files(self, checkpoint_dir: str) -> list[Path]:
        """Checkpoints in ``checkpoint_dir``, oldest first."""
        from pearl.checkpoint import list_checkpoints

        return list_checkpoints(checkpoint_dir)
