"""A run killed (SIGKILL) or stopped (SIGTERM, SIGINT) mid-way resumes from its checkpoint, and the
completed run logs every metric step exactly once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cli import main

ITERATIONS = 6
# a few gradient steps per iteration: the stopped run is still well inside its first half when the signal comes
TRAIN = [
    "train",
    "pearl",
    "point-robot",
    "--profile",
    "smoke",
    "--seed",
    "3",
    "--no-progress",
    "--set",
    f"algo.num_iterations={ITERATIONS}",
    "algo.num_train_steps_per_itr=50",
]


def _cli(args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for_steps(results: Path, n: int, proc: subprocess.Popen, timeout: float = 120, runs: int = 1) -> None:
    """Wait until ``runs`` runs' journals hold ``n`` iterations each (and their first checkpoints exist)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready = 0
        for journal in results.glob("checkpoints/*/metrics.jsonl"):
            steps = {json.loads(line)["step"] for line in journal.read_text().splitlines() if line.strip()}
            ready += len(steps) >= n and bool(list(journal.parent.glob("checkpoint_*.pt")))
        if ready >= runs:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be stopped: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail("run made no progress")


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}  # a killed run may lack some files


def _runs(results: Path) -> list[dict]:
    return [
        {
            "id": int(d.name),
            "run": _read(d / "run.json"),
            "info": _read(d / "info.json"),
            "metrics": _read(d / "metrics.json"),
        }
        for d in sorted((d for d in results.iterdir() if d.name.isdigit()), key=lambda d: int(d.name))
    ]


def _assert_complete_curve(run: dict) -> None:
    assert run["run"]["status"] == "COMPLETED"
    assert run["metrics"]["iteration"]["values"] == list(range(ITERATIONS))
    env_steps = run["metrics"]["env_steps"]["values"]  # metrics are logged against env steps
    for name, series in run["metrics"].items():
        if name.startswith(("train/", "test/return")) or name in ("env_steps", "iteration"):
            assert series["steps"] == env_steps, name


@pytest.mark.timeout(300)  # waits up to 120 s for the run to get going, then resumes it
def test_killed_run_resumes_from_its_checkpoint(tmp_path, capsys):
    results = tmp_path / "results"
    args = TRAIN + ["--results", str(results)]
    proc = _cli(args)
    _wait_for_steps(results, 3, proc)
    proc.kill()  # SIGKILL: no chance to record anything
    proc.wait()
    assert main(args) == 0  # the rerun, in this process (a fresh process adds only its start-up)
    assert "COMPLETED" in capsys.readouterr().out
    runs = _runs(results)
    # the killed one never reported its end; the next run of the cell marked it (issue 14)
    assert [r["run"]["status"] for r in runs] == ["PROBABLY_DEAD", "COMPLETED"]
    final = runs[-1]
    assert final["info"]["attempt"] == 2 and final["info"]["resumed_from_checkpoint"].startswith("checkpoint_")
    _assert_complete_curve(final)
    env_steps = final["metrics"]["env_steps"]["values"]
    assert env_steps == sorted(env_steps) and len(set(env_steps)) == ITERATIONS


@pytest.mark.timeout(300)  # waits up to 120 s for the run to get going and 60 s for it to stop, then resumes it
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_marks_the_run_interrupted_and_it_resumes(tmp_path, sig, capsys):
    results = tmp_path / "results"
    args = TRAIN + ["--results", str(results)]
    proc = _cli(args)
    _wait_for_steps(results, 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in err
    runs = _runs(results)
    assert [r["run"]["status"] for r in runs] == ["INTERRUPTED"]
    assert list((results / "checkpoints").glob("*/checkpoint_*.pt"))
    # the dry run of the same cell sees the checkpoint it will resume from
    dry = ["run", "--profile", "smoke", "--grid", "--methods", "pearl", "--families", "point-robot", "--seeds", "3"]
    dry += ["--set", *TRAIN[-2:], "--results", str(results), "--dry-run", "--no-estimate"]
    assert main(dry) == 0
    out = capsys.readouterr().out
    assert "1 cells: 1 to run" in out and "resumes after iteration " in out
    assert main(args) == 0, capsys.readouterr().err
    _assert_complete_curve(_runs(results)[-1])


@pytest.mark.timeout(360)  # waits up to 180 s for the matrix to get going and 120 s for it to stop
@pytest.mark.parametrize("backend", ["loky", "dask"])
@pytest.mark.parametrize("how", ["sigterm-to-parent", "ctrl-c"])
def test_stopping_the_matrix_interrupts_runs_in_flight(tmp_path, backend, how):
    """SIGTERM to the driver alone (it forwards to loky workers; Dask runs watch its stop file), or
    Ctrl-C, i.e. SIGINT to the whole process group, workers included."""
    if backend == "dask":
        pytest.importorskip("dask.distributed")
    results = tmp_path / "results"
    args = [
        "run",
        "--profile",
        "smoke",
        "--methods",
        "pearl",
        "--families",
        "sparse-point-robot",
        "--seeds",
        "0",
        "--jobs",
        "2",
        "--backend",
        backend,
        "--no-progress",
        "--results",
        str(results),
        "--set",
        "algo.num_iterations=200",
        "algo.num_train_steps_per_itr=50",
    ]
    proc = _cli(args, start_new_session=True)
    try:
        _wait_for_steps(results, 1, proc, timeout=180, runs=2)  # both runs are training
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:  # a failed test leaves no matrix (or Dask cluster) running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in out
    statuses = [r["run"]["status"] for r in _runs(results)]
    assert statuses and set(statuses) == {"INTERRUPTED"}, (statuses, out, err)
