"""Method registry: method name -> an adapter that builds configs, trains and estimates budgets.

Every adapter module is imported lazily, on first use, so listing methods or expanding the
benchmark matrix never imports torch or an algorithm. Methods of the paper that are not
implemented yet are *known* (the matrix lists their cells as skipped, with the reason) but
cannot be built.

Extra methods (plugins, test doubles) can be registered for every process of a run, workers
included, through the environment: ``PEARL_BENCH_EXTRA_METHODS="name=module:factory,..."``, where
``factory(name)`` returns a ``Method``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

EXTRA_METHODS_ENV = "PEARL_BENCH_EXTRA_METHODS"


@runtime_checkable
class Method(Protocol):
    """What the harness needs from an algorithm. Configs are opaque objects with a dict round trip."""

    name: str

    def make_config(self, family: str, profile: str, overrides: dict[str, Any] | None, seed: int) -> Any: ...

    def config_to_dict(self, config: Any) -> dict[str, Any]: ...

    def config_from_dict(self, values: dict[str, Any]) -> Any: ...

    def train(self, config: Any, logger: Any, checkpoint_dir: str) -> dict[str, Any]: ...

    def estimate_env_steps(self, config: Any) -> dict[str, int]:
        """``{"train": meta-training env steps, "eval": evaluation env steps}`` for the whole run."""
        ...

    def progress_info(self, config: Any) -> dict[str, Any]:
        """``{"iterations": N, "env_steps_metric": name | None, "return_metric": name | None}``."""
        ...

    def export_model(self, checkpoint_dir: str, out_path: str) -> bool:
        """Write the final model (weights only) to ``out_path``; False when there is none."""
        ...


class MethodNotImplemented(ValueError):
    """A method of the paper that has no implementation yet."""


@dataclass(frozen=True)
class Entry:
    """A registry row: where the adapter lives, or why there is none."""

    target: str | None  # "module:attribute", a factory called with the method name -> Method
    reason: str = ""  # why it is not available, when target is None


_PEARL = "benchmarks.pearl_method:PEARLMethod"
_BASELINE = "benchmarks.baseline_method:BaselineMethod"
_REGISTRY: dict[str, Entry] = {
    "pearl": Entry(_PEARL),
    "pearl-rnn-tran": Entry(_PEARL),
    "pearl-rnn-traj": Entry(_PEARL),
    "pearl-ctx-offpolicy": Entry(_PEARL),
    "pearl-ctx-rlbatch": Entry(_PEARL),
    "pearl-deterministic": Entry(_PEARL),
    "rl2-ppo": Entry(_BASELINE),
    "maml-trpo": Entry(_BASELINE),
    "promp": Entry(_BASELINE),
}
_LOADED: dict[str, Method] = {}


def _extra_entries() -> dict[str, Entry]:
    extra = {}
    for item in filter(None, (s.strip() for s in os.environ.get(EXTRA_METHODS_ENV, "").split(","))):
        name, sep, target = item.partition("=")
        if not sep or ":" not in target:
            raise ValueError(f"malformed {EXTRA_METHODS_ENV} entry {item!r}: expected NAME=module:attribute")
        extra[name.strip()] = Entry(target.strip())
    return extra


def _entries() -> dict[str, Entry]:
    return {**_REGISTRY, **_extra_entries()}


def known_methods() -> list[str]:
    """Every method name the suite knows, implemented or not."""
    return list(_entries())


def implemented_methods() -> list[str]:
    return [name for name, entry in _entries().items() if entry.target is not None]


def unavailable_reason(name: str) -> str | None:
    """Why ``name`` cannot run (None when it can). Raises ValueError for an unknown name."""
    entries = _entries()
    if name not in entries:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(entries)}")
    entry = entries[name]
    return None if entry.target is not None else entry.reason


def get_method(name: str) -> Method:
    """The adapter for ``name`` (imported on first use)."""
    reason = unavailable_reason(name)
    if reason is not None:
        raise MethodNotImplemented(f"method {name!r} is {reason}")
    if name not in _LOADED:
        module_name, _, attribute = _entries()[name].target.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        _LOADED[name] = factory(name)
    return _LOADED[name]
