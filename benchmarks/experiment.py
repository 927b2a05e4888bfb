"""The Sacred experiment that runs any registered method on any task family with a seed.

Its config is the method's own config as a dict (for PEARL, ``PEARLConfig.to_dict()``): the
config scope reads ``method``, ``family``, ``profile`` and ``seed`` and fills in everything else
from the method's defaults, so Sacred's config tracking and command line work as usual::

    python -m benchmarks.experiment print_config with method=pearl family=cheetah-vel profile=smoke
    python -m benchmarks.experiment with method=pearl family=point-robot profile=smoke seed=3 algo.kl_lambda=0.5 \\
        -F results

Metrics flow from the algorithm's logger into ``_run.log_scalar`` (through a journal next to the
checkpoints, so a resumed run logs its whole curve with every step once). The latest
checkpoint, the final model and the method's extra artifacts (PEARL: evaluation trajectories) are
stored as artifacts. ``run.info`` records the run key, the task parameters, the package version and the
git commit. Workers import this module themselves: ``Experiment`` objects cannot be pickled.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from sacred import SETTINGS, Experiment
from sacred.utils import apply_backspaces_and_linefeeds

from benchmarks.journal import JournalLogger
from benchmarks.plain import plain
from benchmarks.registry import Method, get_method
from benchmarks.runkey import run_key
from benchmarks.signals import interrupt_on_signals
from benchmarks.store import DEFAULT_RESULTS
from pearl.core.configs import DEFAULT_PROFILE
from pearl.core.files import check_not_symlink, open_nofollow

SETTINGS.CAPTURE_MODE = "sys"  # "fd" loses the last lines of output (sacred#289) and spawns a tee per run
CHECKPOINTS_ENV = "PEARL_BENCH_CHECKPOINTS"
ARTIFACT_LIMIT_ENV = "PEARL_BENCH_ARTIFACT_LIMIT_MB"
DEFAULT_ARTIFACT_LIMIT_MB = 256.0
MODEL_ARTIFACT = "model.pt"

ex = Experiment("pearl-bench", save_git_info=False)
ex.captured_out_filter = apply_backspaces_and_linefeeds

#: extra metric sinks for runs in this process (the ``train`` command's progress bar)
LISTENERS: list[Callable[[str, float, int], None]] = []
#: Sacred id of the last run this process started (set before training, so failures have it too)
LAST_RUN_ID: Any = None


def default_config(method: str, family: str, profile: str, seed: int) -> dict[str, Any]:
    """The full config dict of ``method`` on ``family`` under ``profile`` with ``seed``."""
    spec = get_method(method)
    return spec.config_to_dict(spec.make_config(family, profile, None, seed))


@ex.config
def _config():
    method = "pearl"  # a registered method (see pearl-bench run --help)
    family = "cheetah-vel"  # a task family (see pearl-bench envs)
    profile = DEFAULT_PROFILE  # smoke | quick | paper (the CLI's default too)
    seed = 0  # the run's seed
    # the method's defaults; values fixed by ``with`` updates win inside Sacred's config dict
    for _key, _value in default_config(method, family, profile, seed).items():
        locals()[_key] = _value
    del _key, _value


# ---- run info ---------------------------------------------------------------------------
def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pearl-bench")
    except PackageNotFoundError:
        return None


_GIT: dict[str, Any] | None = None


def git_info() -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout this package runs from (None outside a git checkout)."""
    global _GIT
    if _GIT is None:
        root = Path(__file__).resolve().parents[1]
        _GIT = {}
        if (root / ".git").exists():
            try:
                commit = subprocess.run(
                    ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
                ).stdout.strip()
                dirty = (
                    subprocess.run(
                        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                        capture_output=True,
                        text=True,
                        timeout=5,
                    ).stdout.strip()
                    != ""
                )
                if commit:
                    _GIT = {"commit": commit, "dirty": dirty}
            except (OSError, subprocess.SubprocessError):
                pass
    return _GIT or None


def task_info(family: str) -> dict[str, Any]:
    from pearl.envs import get_family, task_to_jsonable

    spec = get_family(family)
    return {
        "family": spec.name,
        "env_id": spec.env_id,
        "task_seed": spec.task_seed,
        "train": [task_to_jsonable(t) for t in spec.train_tasks],
        "test": [task_to_jsonable(t) for t in spec.test_tasks],
    }


def checkpoint_dir_for(config: dict[str, Any]) -> Path:
    """Default working directory of a run started from Sacred's own command line."""
    root = os.environ.get(CHECKPOINTS_ENV) or os.path.join(DEFAULT_RESULTS, "checkpoints")
    return Path(root).resolve() / run_key(config)


# ---- the main function ----------------------------------------------------------------------
@ex.main
def main(_run, _config):
    """Train (or resume) one run; returns the method's summary."""
    global LAST_RUN_ID
    LAST_RUN_ID = _run._id
    config = plain(dict(_config))
    spec = get_method(config["method"])
    typed = spec.config_from_dict(config)
    key = run_key(config)
    work_dir = Path(_run.info.get("checkpoint_dir") or checkpoint_dir_for(config))
    work_dir.mkdir(parents=True, exist_ok=True)
    check_not_symlink(work_dir)
    existing = spec.checkpoint_files(str(work_dir))
    attempt = _next_attempt(work_dir, _run._id)
    _run.info.update(
        {
            "run_key": key,
            "checkpoint_dir": str(work_dir),
            "attempt": attempt,
            "resumed_from_checkpoint": existing[-1].name if existing else None,
            "pearl_bench_version": package_version(),
            "git": git_info(),
            "tasks": task_info(config["family"]),
        }
    )
    logger = JournalLogger(work_dir / "metrics.jsonl", sinks=[_run.log_scalar, *LISTENERS])
    _run.info["carried_metric_points"] = logger.num_carried
    with interrupt_on_signals(insist=True):  # training only: a swallowed interrupt is raised again
        summary = spec.train(typed, logger, str(work_dir))
    logger.finish()
    _store_artifacts(_run, spec, typed, work_dir)
    return plain({k: v for k, v in (summary or {}).items() if k != "config"})


def _next_attempt(work_dir: Path, run_id: Any) -> int:
    log = work_dir / "attempts.jsonl"
    with open_nofollow(log, "a") as f:
        with open_nofollow(log) as earlier:
            previous = earlier.read().count("\n")
        f.write(json.dumps({"run_id": run_id, "started": time.time()}) + "\n")
    return previous + 1


def _artifact_limit_bytes() -> float:
    try:
        return float(os.environ.get(ARTIFACT_LIMIT_ENV, DEFAULT_ARTIFACT_LIMIT_MB)) * 2**20
    except ValueError:
        return DEFAULT_ARTIFACT_LIMIT_MB * 2**20


def _store_artifacts(run, spec: Method, typed, work_dir: Path) -> None:
    limit = _artifact_limit_bytes()
    not_stored = {}
    checkpoints = spec.checkpoint_files(str(work_dir))
    if checkpoints:
        latest = checkpoints[-1]
        if latest.stat().st_size <= limit:
            run.add_artifact(str(latest), name=latest.name)
        else:
            not_stored[latest.name] = str(latest)
    model = work_dir / MODEL_ARTIFACT
    if spec.export_model(str(work_dir), str(model)):
        if model.stat().st_size <= limit:
            run.add_artifact(str(model), name=MODEL_ARTIFACT)
        else:
            not_stored[MODEL_ARTIFACT] = str(model)
    for name, path in spec.extra_artifacts(str(work_dir), typed).items():
        if Path(path).stat().st_size <= limit:
            run.add_artifact(str(path), name=name)
        else:
            not_stored[name] = str(path)
    if not_stored:
        run.info["artifacts_not_stored"] = {
            "reason": f"larger than {limit / 2**20:g} MB ({ARTIFACT_LIMIT_ENV})",
            "files": not_stored,
        }


# ---- command line -------------------------------------------------------------------------
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


class _PlainText:
    """A text stream that drops ANSI colour codes: Sacred colours ``print_config`` unconditionally."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_ANSI_CODE.sub("", text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def command_line(argv: list[str] | None = None) -> None:
    """Sacred's command line (``argv`` without the program name); colours only on a terminal (and
    not with ``NO_COLOR`` set)."""
    stdout = sys.stdout
    if not stdout.isatty() or os.environ.get("NO_COLOR"):
        sys.stdout = _PlainText(stdout)
    try:
        ex.run_commandline(None if argv is None else [sys.argv[0], *argv])
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    command_line()
