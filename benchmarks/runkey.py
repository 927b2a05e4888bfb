"""Run identity: a run is (method, family, seed, hash of the rest of its config).

The hash covers the whole config except execution details that do not change results
(``EXECUTION_KEYS``), so the same cell run with a different number of worker threads is the
same run. The key is also the name of the run's stable working directory (checkpoints, metric
journal, lock).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

EXECUTION_KEYS = frozenset({"num_threads"})
HASH_LENGTH = 10


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "item"):  # numpy scalars
        return _canonical(value.item())
    return str(value)


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable hash of ``config`` without its execution-only keys."""
    kept = {k: v for k, v in config.items() if k not in EXECUTION_KEYS}
    text = json.dumps(_canonical(kept), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def run_key(config: dict[str, Any]) -> str:
    """``<method>_<family>_s<seed>_<hash>``, safe as a directory name."""
    name = f"{config['method']}_{config['family']}_s{config['seed']}_{config_hash(config)}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)
