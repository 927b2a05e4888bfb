"""Run one benchmark cell through the Sacred experiment; the entry point of every worker.

``run_cell`` takes and returns plain dicts only (Sacred experiments cannot be pickled, and the
Dask backend hangs on pickling failures): it imports the experiment itself, attaches observers
built from the store description, and reports the outcome instead of raising.

A cell's working directory (``<checkpoints>/<run key>/``) holds its checkpoints, its metric
journal and a lock file; the lock (``flock``, released when the process dies) keeps two
processes from running the same cell at once, and names the process so a parent can forward
SIGINT/SIGTERM to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from benchmarks.runkey import run_key
from benchmarks.signals import interrupt_on_signals
from benchmarks.store import DEAD_STATUS, StoreSpec, completed_runs, make_observers, mark_dead_attempts
from pearl.core.files import check_not_symlink, fd_nofollow

LOCK_NAME = ".lock"
COMPLETED, FAILED, INTERRUPTED = "COMPLETED", "FAILED", "INTERRUPTED"
NOT_STARTED, BUSY = "NOT_STARTED", "BUSY"
DONE_ELSEWHERE = "DONE_ELSEWHERE"  # completed by another process while this one waited for the cell


@contextlib.contextmanager
def cell_lock(work_dir: Path) -> Iterator[dict[str, Any] | None]:
    """Hold the cell's lock for the ``with`` block: yields ``{"pid": this process}`` once it holds it, or
    None at once when another live process does (``lock_owner`` says which). The lock (``flock``) goes
    when the block ends or the process dies, so a crashed worker never leaves a cell locked."""
    work_dir.mkdir(parents=True, exist_ok=True)
    check_not_symlink(work_dir)
    fd = fd_nofollow(work_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        yield {"pid": os.getpid()}
    finally:
        os.close(fd)


def lock_owner(work_dir: Path) -> dict[str, Any] | None:
    """``{"pid", "host"}`` of the live process that holds the cell's lock, else None."""
    path = work_dir / LOCK_NAME
    if not path.exists() or path.is_symlink() or work_dir.is_symlink():
        return None
    fd = fd_nofollow(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_cell(request: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) one cell. ``request``: ``config`` (full config dict), ``store`` (StoreSpec dict),
    optional ``max_threads`` (cap on torch threads), ``stop_file`` (skip when it exists), ``sacred_options``,
    ``command`` (the command line that reproduces the run, kept in the run's info).

    Returns ``{"run_key", "method", "family", "seed", "status", "run_id", "error", "seconds", "result"}``.
    """
    start = time.time()
    config = dict(request["config"])
    out: dict[str, Any] = {
        "run_key": run_key(config),
        "method": config.get("method"),
        "family": config.get("family"),
        "env_kwargs": config.get("env_kwargs") or {},
        "seed": config.get("seed"),
        "status": None,
        "run_id": None,
        "error": None,
        "result": None,
    }
    stop_file = request.get("stop_file")
    if stop_file and os.path.exists(stop_file):
        return {
            **out,
            "status": NOT_STARTED,
            "error": "the matrix was interrupted before this run started",
            "seconds": 0.0,
        }
    cap = request.get("max_threads")
    if cap:  # workers x threads <= cores: lower the config's thread count to the cap, never raise it
        from pearl.core.hardware import set_num_threads

        wanted = int(config.get("num_threads") or 0)
        threads = min(wanted, int(cap)) if wanted > 0 else int(cap)
        set_num_threads(threads)
        if "num_threads" in config:
            config["num_threads"] = threads
    store = StoreSpec.from_dict(request["store"])
    work_dir = store.checkpoint_root / out["run_key"]

    try:
        with cell_lock(work_dir) as held:
            return _run_locked(held, out, config, store, work_dir, request, start)
    except (OSError, ValueError) as err:  # a symlinked run directory or lock file
        return {**out, "status": FAILED, "seconds": time.time() - start, "error": _one_line(err)}


def _run_locked(
    held: dict[str, Any] | None,
    out: dict[str, Any],
    config: dict[str, Any],
    store: StoreSpec,
    work_dir: Path,
    request: dict[str, Any],
    start: float,
) -> dict[str, Any]:
    """``run_cell`` once the cell's lock is tried (``held`` is None when another process has it)."""
    stop_file = request.get("stop_file")

    def on_signal(signum: int) -> None:
        if stop_file:
            Path(stop_file).touch()

    if held is None:
        owner = lock_owner(work_dir) or {}
        return {
            **out,
            "status": BUSY,
            "seconds": time.time() - start,
            "error": f"already running in process {owner.get('pid', '?')} on {owner.get('host', '?')}",
        }
    dead = mark_dead_attempts(store, out["run_key"], work_dir)
    if dead:
        print(
            f"pearl-bench: marked run(s) {', '.join(map(str, dead))} of {out['run_key']} {DEAD_STATUS}: "
            f"RUNNING in the store but killed without reporting their end",
            file=sys.stderr,
            flush=True,
        )
    # the store is read again under the lock: the cell may have finished while this process waited
    done = completed_runs(store).get(out["run_key"])
    if done is not None:
        return {
            **out,
            "status": DONE_ELSEWHERE,
            "run_id": done,
            "seconds": time.time() - start,
            "error": f"completed by another process as run {done} meanwhile; not run again",
        }
    from benchmarks import experiment

    experiment.LAST_RUN_ID = None
    options = {"--loglevel": "WARNING", **(request.get("sacred_options") or {})}
    try:
        experiment.ex.observers = make_observers(store)
        with interrupt_on_signals(on_signal, stop_file=stop_file):
            info = {"checkpoint_dir": str(work_dir)}
            if request.get("command"):
                info["command"] = request["command"]
            run = experiment.ex.run(config_updates=config, info=info, options=options)
        out.update(status=COMPLETED, run_id=run._id, result=run.result)
    except KeyboardInterrupt:
        on_signal(0)
        out.update(
            status=INTERRUPTED,
            run_id=experiment.LAST_RUN_ID,
            error="interrupted; resumes from its last checkpoint on the next run",
        )
    except Exception as err:  # noqa: BLE001 - reported, the matrix goes on
        out.update(status=FAILED, run_id=experiment.LAST_RUN_ID, error=_one_line(err))
    finally:
        experiment.ex.observers = []
    out["seconds"] = time.time() - start
    return out
