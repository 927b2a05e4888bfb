"""Run identity: a run is (method, family, seed, hash of the rest of its config).

The hash covers the whole config except

* execution details that do not change results (``EXECUTION_KEYS``), so the same cell run with a
  different number of worker threads is the same run, and
* fields added to a config after runs were logged, while they hold the value that reproduces the
  old behaviour (``LATER_FIELDS``), so a new option at its default never changes the identity of
  finished runs (and a matrix still recognises them).

The key is also the name of the run's stable working directory (checkpoints, metric journal, lock).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from benchmarks.plain import plain

EXECUTION_KEYS = frozenset({"num_threads", "device"})
# dotted path in the config dict -> the value at which the field is left out of the hash
LATER_FIELDS: dict[str, Any] = {}
HASH_LENGTH = 10


def _identity(config: dict[str, Any], later: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config`` without execution keys and without later fields at their neutral value."""
    kept = {}
    for key, value in config.items():
        path = prefix + str(key)
        if not prefix and key in EXECUTION_KEYS:
            continue
        if path in later and plain(value) == plain(later[path]):
            continue
        kept[key] = _identity(value, later, path + ".") if isinstance(value, dict) else value
    return kept


def config_hash(config: dict[str, Any], later: dict[str, Any] | None = None) -> str:
    """A short, stable hash of ``config`` without its execution-only keys and neutral later fields."""
    kept = _identity(config, LATER_FIELDS if later is None else later)
    text = json.dumps(plain(kept), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def run_key(config: dict[str, Any]) -> str:
    """``<method>_<family>_s<seed>_<hash>``, safe as a directory name."""
    name = f"{config['method']}_{config['family']}_s{config['seed']}_{config_hash(config)}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)
