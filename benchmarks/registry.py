"""Method registry: a plain table, method name -> the adapter that builds its configs, trains and
estimates its budget (``Method``).

PEARL and its five ablations are switches of one implementation (``benchmarks.pearl_method``);
RL2-PPO, MAML-TRPO and ProMP share ``benchmarks.baseline_method``. The method names come from
the algorithms' config modules (``pearl.config.METHODS``, ``baselines.config.METHODS``). Importing
the registry imports no torch: the adapters import their trainers on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from baselines.config import METHODS as BASELINE_METHODS
from benchmarks.baseline_method import BaselineMethod
from benchmarks.method_adapter import MethodAdapter
from benchmarks.pearl_method import PEARLMethod
from pearl.config import METHODS as PEARL_METHODS
from pearl.core.configs import check_choice


class Method(Protocol):
    """Everything the harness calls on an algorithm (``benchmarks.method_adapter.MethodAdapter`` has
    the shared implementations). Configs are the algorithm's typed config trees."""

    name: str

    def make_config(self, family: str, profile: str, overrides: dict[str, Any] | None, seed: int) -> Any: ...

    def config_to_dict(self, config: Any) -> dict[str, Any]: ...

    def config_from_dict(self, values: dict[str, Any]) -> Any: ...

    def train(self, config: Any, logger: Any, checkpoint_dir: str) -> dict[str, Any]:
        """Run (or resume from ``checkpoint_dir``) one run; returns its summary."""
        ...

    def checkpoint_files(self, checkpoint_dir: str) -> list[Path]:
        """Checkpoints in ``checkpoint_dir``, oldest first."""
        ...

    def export_model(self, checkpoint_dir: str, out_path: str) -> bool:
        """Write the final model (weights only) to ``out_path``; False when there is none."""
        ...

    def extra_artifacts(self, checkpoint_dir: str, config: Any) -> dict[str, Path]:
        """Artifact name -> file, besides the checkpoint and the model (PEARL: evaluation trajectories)."""
        ...

    def estimate_env_steps(self, config: Any) -> dict[str, int]:
        """``{"train": meta-training env steps, "eval": evaluation env steps}`` for the whole run."""
        ...

    def progress_info(self, config: Any) -> dict[str, Any]:
        """``{"iterations": N, "env_steps_metric": name | None, "return_metric": name | None}``."""
        ...

    def calibrate(self, config: Any, seconds: float) -> dict[str, float]:
        """Costs of this config on this machine, from a few ``seconds`` of its real trainer."""
        ...

    def estimate_seconds(self, config: Any, costs: dict[str, float]) -> float:
        """Wall time of the whole run from ``calibrate``'s costs."""
        ...


METHODS: dict[str, type[MethodAdapter]] = {
    **dict.fromkeys(PEARL_METHODS, PEARLMethod),
    **dict.fromkeys(BASELINE_METHODS, BaselineMethod),
}
_LOADED: dict[str, Method] = {}


def known_methods() -> list[str]:
    """Every method name the suite runs."""
    return list(METHODS)


def get_method(name: str) -> Method:
    """The adapter for ``name``; ValueError listing the valid methods for an unknown one."""
    check_choice("method", "methods", name, known_methods())
    if name not in _LOADED:
        _LOADED[name] = METHODS[name](name)
    return _LOADED[name]
