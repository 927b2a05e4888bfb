"""Copy COMPLETED runs from an embedded store into another one, leaving weights and checkpoints behind.

    pearl-bench export --results SRC --out DEST [--profile quick] [--max-mb 25]

What travels is what the analysis reads: each run's ``config.json``, ``run.json``, ``info.json``,
``metrics.json`` and its small artifacts (``eval_paths.json``, Figure 4's evaluation paths).
Checkpoints, model weights, the ``.npz`` copy of the paths, captured stdout and Sacred's source
copies stay in the source store. Runs get fresh ids in the destination; a cell (run key) that is
already COMPLETED there is not copied again, so exporting after every finished run is safe. The
destination is checked against ``--max-mb`` before anything is written. The suite's reference runs
(``benchmarks/reference/runs``) were shipped this way.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.runkey import run_key
from benchmarks.store import StoreSpec, completed_runs

RUN_FILES = ("config.json", "run.json", "info.json", "metrics.json")
SMALL_ARTIFACTS = ("eval_paths.json",)
DEFAULT_MAX_MB = 25.0


@dataclass
class Exported:
    source_id: int
    dest_id: int
    run_key: str
    nbytes: int


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _run_dirs(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def _files_of(run_dir: Path) -> list[Path]:
    return [run_dir / name for name in (*RUN_FILES, *SMALL_ARTIFACTS) if (run_dir / name).is_file()]


def store_size(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def export_runs(
    source: str | Path, dest: str | Path, profile: str | None = None, max_mb: float = DEFAULT_MAX_MB
) -> list[Exported]:
    """Copy the COMPLETED runs of ``source`` (of ``profile``, if given) that ``dest`` lacks; returns what was copied.

    Raises ValueError, before writing anything, when ``source`` is not an embedded store or the
    destination would grow past ``max_mb``.
    """
    source, dest = Path(source).resolve(), Path(dest).resolve()
    if not source.is_dir():
        raise ValueError(f"--results {source}: no such directory (export reads an embedded store)")
    if source == dest:
        raise ValueError("--out must differ from --results")
    done = completed_runs(StoreSpec(results=str(dest))) if dest.exists() else {}
    todo = []
    for run_dir in _run_dirs(source):
        try:
            config, run = _read(run_dir / "config.json"), _read(run_dir / "run.json")
        except (OSError, ValueError):
            continue  # not a finished, readable run: nothing to share
        if run.get("status") != "COMPLETED" or not (run_dir / "metrics.json").is_file():
            continue
        if profile is not None and config.get("profile") != profile:
            continue
        key = run_key(config)
        if key in done:
            continue
        done[key] = None
        todo.append((run_dir, key, sum(p.stat().st_size for p in _files_of(run_dir))))
    total = store_size(dest) + sum(n for _, _, n in todo)
    if total > max_mb * 2**20:
        raise ValueError(
            f"exporting {len(todo)} run(s) would make {dest} {total / 2**20:.1f} MB, over --max-mb {max_mb:g}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    next_id = max((int(p.name) for p in _run_dirs(dest)), default=0) + 1
    out = []
    for run_dir, key, nbytes in todo:
        target = dest / str(next_id)
        target.mkdir()
        for path in _files_of(run_dir):
            shutil.copyfile(path, target / path.name)
        run = _read(target / "run.json")
        run["artifacts"] = [name for name in run.get("artifacts", []) if name in SMALL_ARTIFACTS]
        (target / "run.json").write_text(json.dumps(run, indent=2))
        info = _read(target / "info.json")
        info["exported_from"] = {"store": str(source), "run_id": int(run_dir.name)}
        info.pop("checkpoint_dir", None)  # a path on the machine that ran it, not shipped
        (target / "info.json").write_text(json.dumps(info, indent=2))
        out.append(Exported(int(run_dir.name), next_id, key, nbytes))
        next_id += 1
    return out
