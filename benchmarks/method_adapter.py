"""What every algorithm adapter shares (``benchmarks.registry.Method``).

A subclass names the algorithm's method names, config class and config builder (its config
module, imported here: it imports no torch) and imports its trainer in ``train``, on first use;
it adds the budget estimate, the planned iteration count and what the exported model keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pearl.core.logger import ENV_STEPS_METRIC, RETURN_METRIC


class MethodAdapter:
    methods: tuple[str, ...]  # e.g. pearl.config.METHODS
    config_class: type  # e.g. pearl.config.PEARLConfig, with to_dict / from_dict
    build_config: Callable[..., Any]  # make_config(method, family, profile, overrides), e.g. pearl.config's

    def __init__(self, name: str):
        if name not in self.methods:
            raise ValueError(f"unknown method {name!r} for {type(self).__name__}; valid: {', '.join(self.methods)}")
        self.name = name

    # ---- configs ----------------------------------------------------------------------
    def make_config(self, family: str, profile: str, overrides: dict[str, Any] | None, seed: int):
        """The method's config; env keyword arguments are written in with the env's defaults so every
        run records them (e.g. ``goal_radius`` of sparse-point-robot) and they can be queried."""
        from pearl.envs import resolve_env_kwargs

        overrides = dict(overrides or {})
        env_kwargs = resolve_env_kwargs(family, overrides.pop("env_kwargs", None))
        config = self.build_config(self.name, family, profile, {**overrides, "seed": seed})
        config.env_kwargs = env_kwargs
        return config

    def config_to_dict(self, config) -> dict[str, Any]:
        return config.to_dict()

    def config_from_dict(self, values: dict[str, Any]):
        return self.config_class.from_dict(values)

    # ---- running ----------------------------------------------------------------------
    def train(self, config, logger, checkpoint_dir: str) -> dict[str, Any]:
        raise NotImplementedError

    def checkpoint_files(self, checkpoint_dir: str) -> list[Path]:
        """Checkpoints in ``checkpoint_dir``, oldest first."""
        from pearl.core.checkpoint import list_checkpoints

        return list_checkpoints(checkpoint_dir)

    def export_model(self, checkpoint_dir: str, out_path: str) -> bool:
        """Write the latest checkpoint's weights (``model_state``) to ``out_path``; False if none."""
        import torch

        from pearl.core.checkpoint import load_latest
        from pearl.core.files import open_nofollow

        state = load_latest(checkpoint_dir)
        if state is None:
            return False
        Path(out_path).unlink(missing_ok=True)  # a planted symlink is replaced, never written through
        with open_nofollow(out_path, "wb") as f:
            torch.save(
                {
                    **self.model_state(state),
                    "config": state["config"],
                    "iteration": state["iteration"],
                    "env_steps": state["env_steps"],
                },
                f,
            )
        return True

    def model_state(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def extra_artifacts(self, checkpoint_dir: str, config) -> dict[str, Path]:
        """None by default."""
        return {}

    # ---- budgets and progress -------------------------------------------------------------
    def planned_iterations(self, config) -> int:
        raise NotImplementedError

    def progress_info(self, config) -> dict[str, Any]:
        return {
            "iterations": self.planned_iterations(config),
            "env_steps_metric": ENV_STEPS_METRIC,
            "return_metric": RETURN_METRIC,
        }
