"""The package boundaries: the baselines need nothing from PEARL's algorithm, only the shared core."""

from __future__ import annotations

import json
import subprocess
import sys

# what ``baselines`` may use from the ``pearl`` package: the algorithm-neutral pieces
SHARED = ("pearl.core", "pearl.envs")


def _shared(module: str) -> bool:
    return module == "pearl" or any(module == s or module.startswith(s + ".") for s in SHARED)


def test_baselines_import_no_pearl_algorithm_module():
    code = (
        "import importlib, json, pkgutil, sys, baselines\n"
        "for m in pkgutil.iter_modules(baselines.__path__): importlib.import_module('baselines.' + m.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'pearl')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported = json.loads(proc.stdout)
    assert "pearl.core.loop" in imported and "pearl.envs" in imported  # the check sees what it should
    algorithm = [m for m in imported if not _shared(m)]
    assert algorithm == [], f"baselines imported PEARL's algorithm modules {algorithm}"
