"""How long a matrix will take: per-cell wall-time estimates from a short calibration on this machine.

Each distinct cell shape (method, family, profile, overrides; seeds share one) is calibrated once:
the method's adapter builds its real trainer at the cell's sizes and times a few seconds of its
work (PEARL: env steps of collection and gradient steps; baselines: whole iterations on a few
tasks, MAML/ProMP's on 2 and 4 extrapolated to the meta-batch), giving seconds per unit of work;
the cell's budget in those units gives its estimate (``adapter.estimate_seconds``). Calibrations
are cached in ``$PEARL_BENCH_CACHE`` (default ``~/.cache/pearl-bench``) under the CPU capability,
torch version, threads, device and the number of copies timed side by side, so a second
``--dry-run`` is instant. Checkpoint writes and Sacred's bookkeeping are not included. A run that
resumes from a checkpoint is estimated instead from its own pace so far (``own_pace``: its last
iterations' ``time/iteration_s``, as it ran then) when its journal has one.

Runs that share a machine slow each other down (shared caches, memory bandwidth, SMT siblings: on
this project's 2-vCPU AVX2 machine, PEARL's quick cells timed two side by side come out 9-16% slower
than one alone), so with ``--jobs N`` each shape is timed while ``min(N, runs, cores) - 1`` other
processes do the same work beside it. Other load on the machine is measured too: a one-thread
calibration that got less than ``LOADED_SHARE`` of a core ran beside other work, so its estimate
assumes that work keeps running. Such a calibration says so, is not cached (a later ``--dry-run``
on a quieter machine times the cell again, and an old cached one is timed again), and the total
line adds what the matrix would take with the machine to itself: the estimate scaled by the share
of a core the calibration got (time-slicing; the side-by-side copies' own slowdown stays in).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

CACHE_ENV = "PEARL_BENCH_CACHE"
CALIBRATION_S = 3.0  # seconds of timed work per distinct cell shape
CALIBRATION_VERSION = 2  # part of the cache key: a change to what calibrations measure times cells again
LOADED_SHARE = 0.8  # a one-thread calibration that got less of a core than this ran beside other work
process_seconds = time.process_time  # this process's CPU seconds (a name tests can stand in for)
PACE_ITERATIONS = 10  # a resuming run's own pace: the mean wall time of its last this many iterations


def timed_repeats(fn: Callable[[], Any], seconds: float, min_calls: int = 2) -> tuple[float, list]:
    """Call ``fn`` once untimed (warm-up), then until ``seconds`` have passed and at least ``min_calls``
    calls were made; returns the mean seconds per call and what the timed calls returned."""
    fn()
    results, start = [], time.perf_counter()
    while len(results) < min_calls or time.perf_counter() - start < seconds:
        results.append(fn())
    return (time.perf_counter() - start) / len(results), results


def seconds_per(fn: Callable[[], int]) -> float:
    """Seconds per unit of work of one call of ``fn``, which returns how many units it did."""
    start = time.perf_counter()
    units = fn()
    return (time.perf_counter() - start) / units


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pearl-bench")


def machine_tag() -> str:
    import torch

    from pearl.core.hardware import cpu_capability

    return f"{cpu_capability()} torch {torch.__version__}"


def _cache_key(config: dict[str, Any], side_by_side: int) -> str:
    from benchmarks.runkey import config_hash

    shape = (
        f"v{CALIBRATION_VERSION}|{machine_tag()}|{config.get('num_threads')}|{config.get('device')}|x{side_by_side}"
        f"|{config_hash({**config, 'seed': 0})}"
    )
    return f"{config['method']}_{config['family']}_{hashlib.sha256(shape.encode()).hexdigest()[:12]}"


def _keep_busy(method_name: str, config: dict[str, Any], ready, stop) -> None:
    """A side-by-side copy (run in a spawned process): the cell's own calibration work, over and over,
    until ``stop`` is set."""
    from benchmarks.registry import get_method

    method = get_method(method_name)
    typed = method.config_from_dict(config)
    ready.set()
    while not stop.is_set():
        method.calibrate(typed, 0.5)


class SideBySide:
    """``copies`` processes doing ``config``'s calibration work for as long as the ``with`` block runs
    (none when ``copies`` is 0); entering waits until each has started."""

    def __init__(self, method_name: str, config: dict[str, Any], copies: int):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # a fork would inherit torch's thread pools
        self.stop = ctx.Event()
        self.ready = [ctx.Event() for _ in range(copies)]
        self.procs = [
            ctx.Process(target=_keep_busy, args=(method_name, config, ready, self.stop), daemon=True)
            for ready in self.ready
        ]

    def __enter__(self) -> SideBySide:
        for proc in self.procs:
            proc.start()
        for proc, ready in zip(self.procs, self.ready):
            while not ready.wait(0.2):
                if not proc.is_alive():
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"a side-by-side calibration process exited with code {proc.exitcode}")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join()


def loaded(costs: dict[str, float], threads: int) -> bool:
    """Whether a calibration ran beside other work: one thread that got under ``LOADED_SHARE`` of a core.
    (With more threads a share below 1 may be the threads' own idling, so it says nothing.)"""
    return threads == 1 and costs.get("cpu_share", 1.0) < LOADED_SHARE


def calibrate_cells(
    cells: list,
    seconds: float | None = None,
    log: Callable[[str], None] = print,
    side_by_side: int = 1,
) -> float:
    """Set ``cell.estimate_s`` for every cell, each shape timed with ``side_by_side - 1`` copies of its
    work running beside it, and ``cell.loaded_share`` where the timing ran beside other work; returns
    the seconds spent calibrating (0 when everything came from the cache)."""
    from benchmarks.registry import get_method
    from benchmarks.runner import available_cores

    seconds = CALIBRATION_S if seconds is None else seconds
    side_by_side = max(1, side_by_side)
    path = cache_dir() / "calibration.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    spent, dirty, timed = 0.0, False, {}  # timed: this call's loaded calibrations, by cache key
    for cell in cells:
        method = get_method(cell.method)
        typed = method.config_from_dict(cell.config)
        key = _cache_key(cell.config, side_by_side)
        threads = int(cell.config.get("num_threads") or 0) or available_cores()
        costs = timed.get(key) or cache.get(key)
        if costs is None or (loaded(costs, threads) and key not in timed):
            copies = side_by_side - 1
            beside = f", {copies} cop{'y' if copies == 1 else 'ies'} beside it" if copies else ""
            log(f"calibrating {cell.method} on {cell.family} ({seconds:.0f} s of timed work{beside}) ...")
            start = time.perf_counter()
            with SideBySide(cell.method, cell.config, copies):
                wall, cpu = time.perf_counter(), process_seconds()
                costs = method.calibrate(typed, seconds)
                cpu, wall = process_seconds() - cpu, time.perf_counter() - wall
            costs["cpu_share"] = cpu / (wall * threads)  # < 1: waited for the CPU (or for its own threads)
            spent += time.perf_counter() - start
            if loaded(costs, threads):
                log(
                    f"  note: this calibration got {costs['cpu_share']:.0%} of a core: other work is running on "
                    "this machine. The estimate assumes it keeps running; not cached, so the next --dry-run "
                    "times this cell again"
                )
                timed[key] = costs
            else:
                cache[key] = costs
                dirty = True
        cell.estimate_s = method.estimate_seconds(typed, costs)
        cell.loaded_share = costs["cpu_share"] if loaded(costs, threads) else None
    if dirty:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cache, indent=1, sort_keys=True))
    return spent


def own_pace(work_dir: Path) -> float | None:
    """Mean wall seconds of a run's last ``PACE_ITERATIONS`` iterations, from the ``time/iteration_s``
    points of its journal (``work_dir / "metrics.jsonl"``); None when it logged none."""
    from benchmarks.journal import read_journal
    from pearl.core.logger import ITERATION_TIME_METRIC

    points = read_journal(Path(work_dir) / "metrics.jsonl").get(ITERATION_TIME_METRIC, [])
    recent = [seconds for _, seconds in points[-PACE_ITERATIONS:]]
    return sum(recent) / len(recent) if recent else None


def account_for_checkpoints(cells: list, checkpoint_root: Path) -> None:
    """A cell that will resume (an interrupted run's checkpoint in ``checkpoint_root / run_key``) is
    estimated for the iterations it has left: at the run's own pace where its journal has one
    (``cell.paced``), else as that fraction of its calibrated estimate; sets ``cell.resume_iteration``."""
    from benchmarks.registry import get_method
    from pearl.core.checkpoint import checkpoint_iteration, list_checkpoints

    for cell in cells:
        work_dir = Path(checkpoint_root) / cell.run_key
        found = list_checkpoints(work_dir)
        if not found:
            continue
        method = get_method(cell.method)
        planned = method.planned_iterations(method.config_from_dict(cell.config))
        cell.resume_iteration = min(checkpoint_iteration(found[-1]), planned)
        pace = own_pace(work_dir)
        if pace is not None:
            cell.estimate_s, cell.paced = pace * (planned - cell.resume_iteration), True
            cell.loaded_share = None  # the pace is as the run ran, not as the calibration did
        elif cell.estimate_s is not None:
            cell.estimate_s *= 1.0 - cell.resume_iteration / planned


def makespan(seconds: list[float], jobs: int) -> float:
    """Wall time of running cells of these durations ``jobs`` at a time, longest first (the runner's
    queue order may differ; the longest cell bounds it from below anyway)."""
    slots = [0.0] * max(1, jobs)
    for s in sorted(seconds, reverse=True):
        slots[slots.index(min(slots))] += s
    return max(slots, default=0.0)


def duration(seconds: float) -> str:
    """``4.2 s``, ``42 s``, ``17 min``, ``5.2 h``, ``12.3 days``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def side_by_side_copies(jobs: int, cores: int, runs: int | None = None) -> int:
    """How many runs share the machine at once under ``--jobs`` (the matrix lowers ``--jobs`` to the
    number of runs to do): the number of copies a calibration times side by side."""
    return max(1, min(jobs, cores, jobs if runs is None else runs))


def summary(cells: list, jobs: int, cores: int, calibration_s: float) -> str:
    """The total line of ``--dry-run``: wall time at ``--jobs`` and where the numbers come from."""
    estimated = [c.estimate_s for c in cells if c.estimate_s is not None]
    if not estimated:
        return "estimated wall time: no cell was calibrated"
    slowdown = max(1.0, jobs / max(1, cores))  # more jobs than cores share them
    wall = makespan(estimated, jobs) * slowdown
    missing = sum(1 for c in cells if c.estimate_s is None)
    copies = side_by_side_copies(jobs, cores, runs=len(cells))
    beside = f" with {copies} copies of its work side by side, as --jobs {jobs} will run them" if copies > 1 else ""
    shares = [c.loaded_share for c in cells if c.estimate_s is not None and c.loaded_share is not None]
    paced = sum(1 for c in cells if c.paced)
    load = f" {paced} resuming cell(s) at their own pace so far (their last iterations' time)." if paced else ""
    if shares:
        alone = makespan([c.estimate_s * (c.loaded_share or 1.0) for c in cells if c.estimate_s is not None], jobs)
        load += (
            f" Other work was running on this machine while {len(shares)} of these cells were timed (they got as "
            f"little as {min(shares):.0%} of a core): with the machine to itself, about {duration(alone * slowdown)}."
        )
    return (
        f"estimated wall time: {duration(wall)} with --jobs {jobs} on {cores} core(s) "
        f"({duration(sum(estimated))} of runs in all{f'; {missing} cell(s) not estimated' if missing else ''}). "
        f"An estimate, extrapolated from timing each cell's own trainer for a few seconds on this machine{beside} "
        f"({machine_tag()}; calibration {'cached' if calibration_s == 0 else f'took {calibration_s:.0f} s'}, "
        f"in {cache_dir()}): costs per iteration, gradient step and env step times the cell's budget; checkpoints "
        f"and Sacred's bookkeeping not included.{load}"
    )
