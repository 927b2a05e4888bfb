"""Benchmark harness: matrix planning, the smoke matrix end to end into the embedded store, reruns,
loky and Dask execution, the Sacred experiment's own command line, and the metric journal."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from benchmarks.cli import main, parse_overrides
from benchmarks.journal import JournalLogger
from benchmarks.matrix import plan, run_key_of_command
from benchmarks.runkey import run_key
from benchmarks.runner import run_matrix
from benchmarks.signals import STOP_FILE_POLL_S, interrupt_on_signals
from benchmarks.store import resolve_store

SPARSE_SMOKE = ["run", "--profile", "smoke", "--families", "sparse-point-robot", "--seeds", "0", "--no-progress"]


def _runs(results: Path) -> dict[int, dict]:
    out = {}
    for d in sorted(results.iterdir()):
        if d.name.isdigit():
            out[int(d.name)] = {
                name: json.loads((d / f"{name}.json").read_text()) for name in ("run", "config", "info", "metrics")
            }
            out[int(d.name)]["files"] = sorted(p.name for p in d.iterdir())
    return out


def test_dry_run_lists_the_papers_whole_matrix(capsys):
    assert main(["run", "--dry-run", "--no-estimate"]) == 0
    out = capsys.readouterr().out
    assert "96 cells: 96 to run" in out
    lines = out.splitlines()
    assert sum(line.split()[1:3] == ["pearl", "cheetah-vel"] for line in lines[2:-1]) == 3  # figs 3, 5, 6 merged
    assert any("goal_radius=0.8" in line and "pearl-deterministic" in line for line in lines)
    assert "2,700,000" in out  # pearl on cheetah-vel: 100 x 2000 initial + 500 x 5 x 1000


def test_plan_filters_grid_and_overrides():
    cells = plan("smoke", methods=["pearl"], families=["sparse-point-robot"], seeds=[0, 1])
    assert sorted((c.env_kwargs["goal_radius"], c.seed) for c in cells) == [(0.2, 0), (0.2, 1), (0.8, 0), (0.8, 1)]
    assert all(c.config["env_kwargs"]["goal_radius"] == c.env_kwargs["goal_radius"] for c in cells)
    grid = plan(
        "smoke",
        methods=["pearl-rnn-tran"],
        families=["point-robot"],
        seeds=[3],
        grid=True,
        overrides=parse_overrides(["algo.num_iterations=1"]),
    )
    assert [(c.method, c.family, c.seed, c.config["algo"]["num_iterations"]) for c in grid] == [
        ("pearl-rnn-tran", "point-robot", 3, 1)
    ]
    with pytest.raises(ValueError, match="no cell of the paper's matrix"):
        plan("smoke", methods=["pearl-rnn-tran"], families=["point-robot"])


def test_run_key_ignores_thread_count():
    config = plan("smoke", methods=["pearl"], families=["cheetah-vel"], seeds=[0])[0].config
    assert run_key({**config, "num_threads": 7}) == run_key(config)
    assert run_key({**config, "seed": 1}) != run_key(config)


def test_a_later_field_at_its_neutral_value_keeps_the_run_key():
    from benchmarks.runkey import config_hash

    config = plan("smoke", methods=["pearl"], families=["cheetah-vel"], seeds=[0])[0].config
    later = {"net.new_option": "off"}
    grown = {**config, "net": {**config["net"], "new_option": "off"}}
    assert config_hash(grown, later) == config_hash(config, later) == config_hash(config)
    changed = {**config, "net": {**config["net"], "new_option": "on"}}
    assert config_hash(changed, later) != config_hash(config, later)


def test_every_cells_command_reproduces_its_run_key():
    grid = plan(
        "quick",
        ["pearl", "maml-trpo"],
        ["sparse-point-robot"],
        [1],
        grid=True,
        overrides={"env_kwargs": {"goal_radius": 0.5}, "eval_every": 3},
    )
    paper = plan("smoke", ["pearl", "pearl-deterministic"], ["sparse-point-robot"], [2])
    assert len(grid) == 2 and len(paper) == 4
    for cell in grid + paper:
        assert run_key_of_command(cell.command) == cell.run_key, cell.command
    assert "env_kwargs.goal_radius=0.5" in grid[0].command and "eval_every=3" in grid[0].command


def test_smoke_matrix_into_embedded_store_then_rerun_skips(tmp_path, capsys):
    results = tmp_path / "results"
    argv = SPARSE_SMOKE + ["--results", str(results)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "summary: 4 completed, 0 failed, 0 skipped" in out
    runs = _runs(results)
    assert len(runs) == 4
    radii = sorted((r["config"]["method"], r["config"]["env_kwargs"]["goal_radius"]) for r in runs.values())
    assert radii == [("pearl", 0.2), ("pearl", 0.8), ("pearl-deterministic", 0.2), ("pearl-deterministic", 0.8)]
    for run in runs.values():
        assert run["run"]["status"] == "COMPLETED"
        env_steps = run["metrics"]["env_steps"]["values"]  # the x-axis: env steps, one point per iteration
        assert len(env_steps) == 2 and env_steps[0] < env_steps[1]
        assert run["metrics"]["test/return"]["steps"] == env_steps
        assert run["metrics"]["iteration"]["values"] == [0, 1]
        assert {"model.pt", "checkpoint_000002.pt", "eval_paths.json", "eval_paths.npz"} <= set(run["files"])
        info = run["info"]
        assert info["run_key"] == run_key(run["config"])
        assert info["pearl_bench_version"] == "0.1.0" and len(info["tasks"]["test"]) == 20
        assert info["attempt"] == 1 and info["resumed_from_checkpoint"] is None
        assert run_key_of_command(info["command"]) == info["run_key"]  # the recorded command reproduces it
        paths = json.loads((results / str(min(runs)) / "eval_paths.json").read_text())
        assert len(paths[0]["goal"]) == 2 and len(paths[0]["episodes"][0][0]) == 2

    from analysis import query  # the analysis reads what the harness writes

    table = query.runs(query.open_store(results), status="COMPLETED")
    assert len(table) == 4 and set(table["family"]) == {"sparse-point-robot"}

    assert main(argv + ["--dry-run", "--no-estimate"]) == 0  # the dry run knows what is done
    out = capsys.readouterr().out
    assert "4 cells: 0 to run, 4 completed in the store (0 meta-training env steps" in out
    assert sum("done (run " in line for line in out.splitlines()) == 4

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "summary: 0 completed, 0 failed, 4 skipped (4 completed earlier)" in out
    assert len(_runs(results)) == 4


def test_failed_run_is_reported_and_the_matrix_goes_on(tmp_path, capsys, monkeypatch):
    from benchmarks import pearl_method

    real_train = pearl_method.PEARLMethod.train

    def flaky_train(self, config, logger, checkpoint_dir):
        if config.env_kwargs.get("goal_radius") == 0.8:
            raise RuntimeError("simulated crash")
        return real_train(self, config, logger, checkpoint_dir)

    monkeypatch.setattr(pearl_method.PEARLMethod, "train", flaky_train)
    cells = plan("smoke", methods=["pearl"], families=["sparse-point-robot"], seeds=[0])
    report = run_matrix(cells, resolve_store(str(tmp_path / "r")), progress=False)
    out = capsys.readouterr().out
    assert report.exit_code == 1
    assert sorted(r["status"] for r in report.results) == ["COMPLETED", "FAILED"]
    assert "FAILED" in out and "RuntimeError: simulated crash" in out and "1 completed, 1 failed" in out
    statuses = sorted(r["run"]["status"] for r in _runs(tmp_path / "r").values())
    assert statuses == ["COMPLETED", "FAILED"]


def test_loky_two_jobs(tmp_path, capsys):
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--profile",
                "smoke",
                "--methods",
                "pearl",
                "pearl-rnn-traj",
                "--families",
                "cheetah-vel",
                "--seeds",
                "0",
                "--jobs",
                "2",
                "--no-progress",
                "--results",
                str(results),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "on loky (2 job(s), at most 1 torch thread(s) each)" in out
    assert "2 completed, 0 failed" in out
    assert sorted(r["config"]["method"] for r in _runs(results).values()) == ["pearl", "pearl-rnn-traj"]


def test_two_cells_on_a_local_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    cells = plan("smoke", methods=["pearl"], families=["point-robot", "cheetah-vel"], seeds=[0], grid=True)
    store = resolve_store(str(tmp_path / "results"))
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
    ) as cluster:
        report = run_matrix(cells, store, jobs=2, backend="dask", scheduler=cluster.scheduler_address, progress=False)
    assert [r["status"] for r in report.results] == ["COMPLETED", "COMPLETED"]
    runs = _runs(tmp_path / "results")
    assert sorted(r["config"]["family"] for r in runs.values()) == ["cheetah-vel", "point-robot"]
    assert all(r["run"]["status"] == "COMPLETED" for r in runs.values())


def test_local_dask_cluster_leaves_port_8787_alone():
    """Two local Dask matrices at once must not fight over the dashboard's default port."""
    pytest.importorskip("dask.distributed")
    from benchmarks.runner import _dask_client

    with socket.socket() as blocker:
        try:  # occupy 8787 like another matrix's scheduler would (it may already be taken)
            blocker.bind(("127.0.0.1", 8787))
            blocker.listen()
        except OSError:
            pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _dask_client(None, 1) as client:
                assert client.submit(sum, [1, 2]).result(timeout=60) == 3
                port = client.cluster.scheduler.http_server.port
    assert port != 8787
    assert not [w for w in caught if "8787" in str(w.message)]


def test_sacred_command_line_of_the_experiment(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.experiment",
            "print_config",
            "with",
            "method=pearl-deterministic",
            "family=sparse-point-robot",
            "profile=smoke",
            "seed=2",
            "env_kwargs.goal_radius=0.8",
            "algo.kl_lambda=0.5",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "goal_radius = 0.8" in proc.stdout and "kl_lambda = 0.5" in proc.stdout
    assert "method = 'pearl-deterministic'" in proc.stdout
    assert "\x1b[" not in proc.stdout  # a pipe gets plain text, no ANSI colour codes


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty, no_color, coloured", [(True, None, True), (True, "1", False), (False, None, False)])
def test_print_config_colours_only_a_terminal(monkeypatch, tty, no_color, coloured):
    from benchmarks import experiment

    out = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    if no_color:
        monkeypatch.setenv("NO_COLOR", no_color)
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    experiment.command_line(
        [
            "print_config",
            "with",
            "method=pearl",
            "family=point-robot",
            "profile=smoke",
            "seed=2",
            "algo.kl_lambda=0.5",
            "--loglevel",
            "ERROR",
        ]
    )
    assert sys.stdout is out  # put back
    text = out.getvalue()
    assert "kl_lambda = 0.5" in text and "seed = 2" in text
    assert ("\x1b[" in text) == coloured


def test_journal_replays_earlier_attempts_without_duplicate_steps(tmp_path):
    sink: list = []
    first = JournalLogger(tmp_path / "m.jsonl", sinks=[lambda *p: sink.append(p)])
    for step in range(4):
        first.log_scalar("a", step * 1.0, step)
    resumed: list = []
    second = JournalLogger(tmp_path / "m.jsonl", sinks=[lambda *p: resumed.append(p)])
    second.drop_after(1)  # the checkpoint covers steps 0 and 1
    second.log_scalar("a", 20.0, 2)
    second.log_scalar("a", 30.0, 3)
    assert [(s, v) for _, v, s in resumed] == [(0, 0.0), (1, 1.0), (2, 20.0), (3, 30.0)]
    third: list = []
    fallback = JournalLogger(tmp_path / "m.jsonl", sinks=[lambda *p: third.append(p)])
    fallback.log_scalar("a", 300.0, 3)  # no drop_after: points from step 3 on are replaced
    assert [(s, v) for _, v, s in third] == [(0, 0.0), (1, 1.0), (2, 20.0), (3, 300.0)]


def _in_thread(fn):
    """Run ``fn`` in a worker thread (as a Dask worker runs a cell); returns what it returned or raised."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            box["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return box


def test_stop_file_interrupts_a_run_in_a_worker_thread(tmp_path):
    stop = tmp_path / ".stop"

    def busy_run():
        with interrupt_on_signals(stop_file=str(stop)) as armed:
            assert armed
            start = time.time()
            while time.time() - start < 20:
                if time.time() - start > 0.5:
                    stop.touch()  # the matrix driver's first signal
                sum(range(1000))
        return "finished"

    box = _in_thread(busy_run)
    assert isinstance(box.get("error"), KeyboardInterrupt), box


def test_stop_file_leaves_a_run_that_ends_first_alone(tmp_path):
    def short_run():
        with interrupt_on_signals(stop_file=str(tmp_path / ".stop")):
            value = sum(range(1000))
        (tmp_path / ".stop").touch()  # appears after the block: must not interrupt what follows
        time.sleep(3 * STOP_FILE_POLL_S)
        return value

    assert _in_thread(short_run) == {"value": sum(range(1000))}


def test_a_signal_raises_again_when_the_first_interrupt_was_swallowed_in_the_training_block():
    """copyreg's bare ``except:`` (run for every OrderedDict a checkpoint pickles) ate the first KeyboardInterrupt;
    the forwarded SIGTERM, which only raised for the first signal, left the run going and its matrix waiting."""
    seen: list = []
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with interrupt_on_signals(on_signal=seen.append):  # the worker's block, around Sacred
            with interrupt_on_signals(insist=True):  # the training loop
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)  # the handler raises here ...
                except KeyboardInterrupt:  # ... and the exception is swallowed
                    pass
                os.kill(os.getpid(), signal.SIGTERM)  # the next signal: forwarded by the matrix, or its reminder
                time.sleep(5)
    assert seen == [signal.SIGINT, signal.SIGTERM]


def test_a_later_signal_leaves_sacreds_bookkeeping_of_an_interrupt_alone():
    seen: list = []
    with interrupt_on_signals(on_signal=seen.append):
        try:
            with interrupt_on_signals(insist=True):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
        except KeyboardInterrupt:  # Sacred records the interrupt here: a second signal must not break that
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
    assert seen == [signal.SIGINT, signal.SIGTERM]


_IGNORES_SIGTERM = """
import json, os, signal, socket, sys, time, fcntl
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
signal.signal(signal.SIGTERM, lambda *a: print("SIGTERM", flush=True))  # a run that lost its interrupt
print("ready", flush=True)
time.sleep(60)
"""


def test_a_matrix_whose_runs_do_not_stop_reminds_them_then_aborts(tmp_path, monkeypatch, capsys):
    """The driver waited forever for a run that had lost its interrupt (ctrl-c-loky flake); now it signals runs
    still in flight again every REMIND_S, and aborts (as on a second signal) after ABORT_S."""
    from benchmarks import runner

    monkeypatch.setattr(runner, "REMIND_S", 0.3)
    monkeypatch.setattr(runner, "ABORT_S", 1.0)
    work_dir = tmp_path / "run"
    work_dir.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-c", _IGNORES_SIGTERM, str(work_dir / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert run.stdout.readline().strip() == "ready"
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            with runner._StopSignals(tmp_path / ".stop", [work_dir]):
                os.kill(os.getpid(), signal.SIGINT)  # the first signal: forwarded, the run goes on
                time.sleep(30)  # waiting for the run's result
        assert time.monotonic() - start < 10
    finally:
        run.kill()
    assert run.communicate()[0].split().count("SIGTERM") >= 3  # forwarded, then reminded (twice or more)
    err = capsys.readouterr().err
    assert "interrupting 1 run(s) in flight" in err and "1 run(s) still in flight after 0 s: signalled again" in err
    assert "runs in flight did not stop within 1 s: aborting" in err
    assert (tmp_path / ".stop").exists()


def test_a_signal_while_the_first_interrupt_unwinds_the_training_block_does_not_raise_again():
    seen: list = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        with interrupt_on_signals(on_signal=seen.append):
            with interrupt_on_signals(insist=True):
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
                finally:  # the trainer's clean-up, run while the first interrupt unwinds: left to finish
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(0.2)
    assert seen == [signal.SIGINT, signal.SIGTERM]
