"""Execute planned cells: skip what the store already holds, run the rest in parallel, report.

* ``jobs == 1`` with the loky backend runs cells one after another in this process.
* loky: ``joblib.Parallel(n_jobs=jobs)``; each run in one worker process with at most
  ``cores // jobs`` torch threads (the config's ``num_threads`` is lowered to that, never raised).
* dask: the same code through joblib's dask backend, on ``--scheduler tcp://HOST:PORT`` or on a
  local cluster of ``jobs`` single-threaded worker processes; one torch thread per run.

A run is skipped when a COMPLETED run with its run key is in the store; any other earlier
attempt is resumed from its checkpoints. The first SIGINT/SIGTERM stops new runs from starting
and interrupts the ones in flight (they are marked INTERRUPTED and keep their checkpoints): loky
workers get the signal forwarded, Dask runs watch a stop file next to the checkpoints (a remote
cluster sees it through the shared file system its checkpoints need anyway). A second signal
aborts at once (joblib terminates the workers). Runs that have not stopped ``REMIND_S`` after the
first signal get it forwarded again (a run can lose an interrupt: see benchmarks/signals.py), and
after ``ABORT_S`` the matrix aborts as on a second signal, so it always ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from benchmarks.matrix import Cell
from benchmarks.store import StoreSpec, check_store, completed_runs, repair_completed_run
from benchmarks.worker import BUSY, COMPLETED, DONE_ELSEWHERE, FAILED, INTERRUPTED, NOT_STARTED, lock_owner, run_cell

BACKENDS = ("loky", "dask")
REMIND_S = 15.0  # after the first signal, forward it again to runs still in flight every REMIND_S seconds
ABORT_S = 120.0  # and abort (terminating the workers) when they are still in flight after ABORT_S


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class MatrixReport:
    """Outcome of a matrix run."""

    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[Cell, str]] = field(default_factory=list)
    interrupted: bool = False

    def counts(self) -> Counter:
        return Counter(r["status"] for r in self.results)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.counts()[FAILED] else 0

    def summary(self) -> str:
        c = self.counts()
        parts = [f"{c[COMPLETED]} completed", f"{c[FAILED]} failed"]
        if c[INTERRUPTED]:
            parts.append(f"{c[INTERRUPTED]} interrupted")
        if c[NOT_STARTED]:
            parts.append(f"{c[NOT_STARTED]} not started")
        elsewhere = {"running elsewhere": c[BUSY], "completed elsewhere meanwhile": c[DONE_ELSEWHERE]}
        skipped = Counter(reason.split(" (")[0] for _, reason in self.skipped) + Counter(
            {why: n for why, n in elsewhere.items() if n}
        )
        parts.append(
            f"{len(self.skipped) + c[BUSY] + c[DONE_ELSEWHERE]} skipped"
            + (f" ({'; '.join(f'{n} {why}' for why, n in skipped.items())})" if skipped else "")
        )
        lines = ["summary: " + ", ".join(parts)]
        lines += [f"  FAILED {_label(r)}: {r['error']}" for r in self.results if r["status"] == FAILED]
        if self.interrupted:
            lines.append("  interrupted: rerun the same command to resume from the last checkpoints")
        return "\n".join(lines)


def _label(result: dict[str, Any]) -> str:
    extra = "".join(f" {k}={v}" for k, v in sorted((result.get("env_kwargs") or {}).items()))
    return f"{result['method']} {result['family']}{extra} seed={result['seed']} [{result['run_key']}]"


def _format_result(result: dict[str, Any], done: int, total: int) -> str:
    width = len(str(total))
    head = f"[{done:>{width}}/{total}] {result['status']:<11} {_label(result)}"
    if result["status"] == COMPLETED:
        extra = [f"run {result['run_id']}", f"{result['seconds']:.1f} s"]
        last_eval = (result.get("result") or {}).get("last_eval") or {}
        if isinstance(last_eval, dict) and last_eval.get("final_return") is not None:
            extra.append(f"test return {last_eval['final_return']:.2f}")
        return f"{head} ({', '.join(extra)})"
    run = f"run {result['run_id']}: " if result.get("run_id") is not None else ""
    return f"{head}: {run}{result['error']}"


class _StopSignals:
    """First SIGINT/SIGTERM: stop starting runs and interrupt those in flight; second: abort."""

    def __init__(self, stop_file: Path, work_dirs: list[Path]):
        self.stop_file, self.work_dirs = stop_file, work_dirs
        self.count = 0
        self.previous: dict[int, Any] = {}
        self.ended = threading.Event()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        self.ended.set()
        for sig, old in self.previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    @property
    def stopping(self) -> bool:
        return self.count > 0 or self.stop_file.exists()

    def _handle(self, signum, frame):
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        self.stop_file.touch()
        forwarded = self._forward()
        in_flight = (
            f"interrupting {forwarded} run(s) in flight" if self.work_dirs else "asking the runs in flight to stop"
        )
        print(
            f"pearl-bench: {signal.Signals(signum).name}: {in_flight}, starting no new ones (again to abort)",
            file=sys.stderr,
            flush=True,
        )
        threading.Thread(target=self._watch, name="pearl-bench-stop-watchdog", daemon=True).start()

    def _forward(self) -> int:
        """Send SIGTERM to the local processes running our cells; returns how many got it."""
        host = socket.gethostname()
        forwarded = 0
        for work_dir in self.work_dirs:
            owner = lock_owner(work_dir)
            if owner and owner.get("host") == host and owner.get("pid") not in (None, os.getpid()):
                try:
                    os.kill(int(owner["pid"]), signal.SIGTERM)
                    forwarded += 1
                except (ProcessLookupError, PermissionError):
                    pass
        return forwarded

    def _watch(self) -> None:
        """Remind runs still in flight every REMIND_S seconds; abort after ABORT_S (as a second signal does)."""
        waited = 0.0
        while not self.ended.wait(min(REMIND_S, ABORT_S - waited)):
            waited += min(REMIND_S, ABORT_S - waited)
            if waited >= ABORT_S:
                print(
                    f"pearl-bench: runs in flight did not stop within {ABORT_S:.0f} s: aborting",
                    file=sys.stderr,
                    flush=True,
                )
                if not self.ended.is_set():
                    os.kill(os.getpid(), signal.SIGTERM)  # the main thread's handler raises KeyboardInterrupt
                return
            reminded = self._forward()
            if reminded:
                print(
                    f"pearl-bench: {reminded} run(s) still in flight after {waited:.0f} s: signalled again",
                    file=sys.stderr,
                    flush=True,
                )


def run_matrix(
    cells: list[Cell],
    store: StoreSpec,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
    out: TextIO | None = None,
    sacred_options: dict[str, Any] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> MatrixReport:
    """Run ``cells`` into ``store`` (see the module docstring); prints a line per finished run."""
    from tqdm import tqdm

    out = out or sys.stdout
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if scheduler and backend != "dask":
        raise ValueError("--scheduler needs --backend dask")
    check_store(store)
    report = MatrixReport()
    todo = _cells_to_run(cells, store, report, out)
    if not todo:
        print(report.summary(), file=out, flush=True)
        return report

    if jobs > len(todo):
        jobs = len(todo)  # more workers than runs would only start idle processes
    if backend == "loky" and jobs > available_cores():
        print(
            f"pearl-bench: warning: {jobs} jobs on {available_cores()} core(s): runs will compete for the CPU",
            file=sys.stderr,
            flush=True,
        )
    stop_file = store.checkpoint_root / f".stop-{uuid.uuid4().hex[:12]}"
    threads = max(1, available_cores() // jobs) if backend == "loky" else 1
    requests = [
        {
            "config": c.config,
            "store": store.to_dict(),
            "max_threads": threads,
            "stop_file": str(stop_file),
            "sacred_options": sacred_options,
            "command": c.command,
        }
        for c in todo
    ]
    print(
        f"running {len(todo)} run(s) on {backend} ({jobs} job(s), at most {threads} torch thread(s) each) "
        f"into {store.describe()}",
        file=out,
        flush=True,
    )
    bar = tqdm(
        total=len(todo), unit="run", desc="matrix", disable=not progress or None, file=sys.stderr, dynamic_ncols=True
    )
    # loky runs get the signal forwarded; Dask runs sit in worker threads and watch the stop file instead
    forward_to = [store.checkpoint_root / c.run_key for c in todo] if backend == "loky" else []
    signals = _StopSignals(stop_file, forward_to)
    try:
        with signals:
            for result in _execute(requests, jobs, backend, scheduler, signals):
                report.results.append(result)
                bar.update(1)
                tqdm.write(_format_result(result, len(report.results), len(todo)), file=out)
                if on_result is not None:
                    on_result(result)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        bar.close()
        report.interrupted = report.interrupted or signals.stopping
        stop_file.unlink(missing_ok=True)
    print(report.summary(), file=out, flush=True)
    return report


def _cells_to_run(cells: list[Cell], store: StoreSpec, report: MatrixReport, out: TextIO) -> list[Cell]:
    """The cells to run; the others (skipped, or COMPLETED in the store) go to ``report.skipped``, printed."""
    done_keys = completed_runs(store)
    todo = []
    for cell in cells:
        if cell.run_key in done_keys:
            report.skipped.append((cell, f"completed earlier (run {done_keys[cell.run_key]})"))
            repaired = repair_completed_run(store, cell.run_key, done_keys[cell.run_key])
            if repaired:
                print(f"pearl-bench: {cell.label}: {repaired}", file=out, flush=True)
        else:
            todo.append(cell)
    for cell, reason in report.skipped:
        print(f"skip {cell.label}: {reason}", file=out, flush=True)
    return todo


def _execute(
    requests: list[dict], jobs: int, backend: str, scheduler: str | None, signals: _StopSignals
) -> Iterable[dict[str, Any]]:
    if backend == "loky" and jobs == 1:
        for request in requests:
            yield run_cell(request)
        return
    from joblib import Parallel, delayed, parallel_config

    calls = (delayed(run_cell)(r) for r in requests)
    if backend == "loky":
        yield from Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(calls)
        return
    with _dask_client(scheduler, jobs) as client:
        _warn_multithreaded(client)
        with parallel_config(backend="dask", n_jobs=jobs):
            yield from Parallel(return_as="generator_unordered")(calls)


class _dask_client:
    """A client of ``scheduler``, or of a local cluster of ``jobs`` single-threaded processes."""

    def __init__(self, scheduler: str | None, jobs: int):
        self.scheduler, self.jobs = scheduler, jobs
        self.cluster = self.client = None

    def __enter__(self):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("--backend dask needs dask[distributed]: pip install 'pearl-bench[dask]'") from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=10)
            except (OSError, TimeoutError) as err:
                raise ValueError(f"cannot reach the Dask scheduler at {self.scheduler}: {err}") from None
        else:
            # Worker processes inherit an ignored SIGINT, so Ctrl-C (sent to the whole process group)
            # reaches only this process, which stops the runs through the stop file. No dashboard; the
            # scheduler's HTTP endpoints take a free port (its default, 8787, clashes between matrices).
            with _sigint_ignored():
                self.cluster = LocalCluster(
                    n_workers=self.jobs,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",
                    scheduler_kwargs={"dashboard": False},
                )
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


@contextlib.contextmanager
def _sigint_ignored():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _warn_multithreaded(client) -> None:
    threads = client.nthreads()
    if any(n > 1 for n in threads.values()):
        print(
            "pearl-bench: warning: some Dask workers have several threads; Sacred runs sharing a process "
            "interfere (start workers with --nthreads 1)",
            file=sys.stderr,
        )
