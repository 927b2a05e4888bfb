"""Adapter of the baselines for the benchmark harness (``benchmarks.registry.Method``).

Registration needed in ``benchmarks/registry.py`` (not edited here)::

    _BASELINE = "baselines.registry_entry:BaselineMethod"
    "rl2-ppo": Entry(_BASELINE), "maml-trpo": Entry(_BASELINE), "promp": Entry(_BASELINE),

or, without editing it, ``PEARL_BENCH_EXTRA_METHODS="rl2-ppo=baselines.registry_entry:BaselineMethod,..."``.
Like ``benchmarks.pearl_method``, env keyword arguments are written into the config with the env's
defaults, so every run records them.
"""

from __future__ import annotations

from pearl.logger import ENV_STEPS_METRIC, RETURN_METRIC

from pathlib import Path
from typing import Any


class BaselineMethod:
    """One of ``baselines.METHODS``; see ``benchmarks.registry.Method``."""

    def __init__(self, name: str):
        from baselines import METHODS

        if name not in METHODS:
            raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(METHODS)}")
        self.name = name

    # ---- configs --------------------------------------------------------------------------
    def make_config(self, family: str, profile: str, overrides: dict[str, Any] | None, seed: int):
        from baselines.config import make_config

        from pearl.envs import resolve_env_kwargs

        overrides = dict(overrides or {})
        env_kwargs = resolve_env_kwargs(family, overrides.pop("env_kwargs", None))
        config = make_config(self.name, family, profile, {**overrides, "seed": seed})
        config.env_kwargs = env_kwargs
        return config

    def config_to_dict(self, config) -> dict[str, Any]:
        return config.to_dict()

    def config_from_dict(self, values: dict[str, Any]):
        from baselines.config import BaselineConfig

        return BaselineConfig.from_dict(values)

    # ---- running ------------------------------------------------------------------------------
    def train(self, config, logger, checkpoint_dir: str) -> dict[str, Any]:
        from baselines.trainer import train

        return train(config, logger, checkpoint_dir)

    def checkpoint_files(self, checkpoint_dir: str) -> list[Path]:
        from pearl.checkpoint import list_checkpoints

        return list_checkpoints(checkpoint_dir)

    def export_model(self, checkpoint_dir: str, out_path: str) -> bool:
        import torch

        checkpoints = self.checkpoint_files(checkpoint_dir)
        if not checkpoints:
            return False
        state = torch.load(checkpoints[-1], map_location="cpu", weights_only=False)
        algo = state["algo"]
        weights = algo.get("policy", algo.get("model"))
        torch.save({"policy": weights, "config": state["config"], "iteration": state["iteration"],
                    "env_steps": state["env_steps"]}, out_path)
        return True

    # ---- budgets and progress --------------------------------------------------------------------
    def estimate_env_steps(self, config) -> dict[str, int]:
        """Nominal (no early termination) meta-training and evaluation env steps of the whole run."""
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

    env_step_budget = estimate_env_steps

    def progress_info(self, config) -> dict[str, Any]:
        return {"iterations": config.planned_iterations(), "env_steps_metric": ENV_STEPS_METRIC,
                "return_metric": RETURN_METRIC}
