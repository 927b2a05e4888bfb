"""Issue 14: no duplicate or silently dropped runs, every bad value refused up front, faults survived."""

import dataclasses
import json
import os
import shutil
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.cli import main
from benchmarks.matrix import plan
from benchmarks.signals import interrupt_on_signals
from benchmarks.store import MONGO_URL_ENV, resolve_store
from pearl.core.checkpoint import load_latest, save_checkpoint

# one smoke cell: PEARL on point-robot, seed 0, one iteration
CELL = [
    "--profile",
    "smoke",
    "--methods",
    "pearl",
    "--families",
    "point-robot",
    "--grid",
    "--seeds",
    "0",
    "--set",
    "num_iterations=1",
    "--no-progress",
]


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return exit_.code


def _statuses(results: Path) -> dict[int, str]:
    return {
        int(d.name): json.loads((d / "run.json").read_text())["status"] for d in results.iterdir() if d.name.isdigit()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """An embedded store holding the COMPLETED cell (copy it before changing it)."""
    results = tmp_path_factory.mktemp("finished") / "results"
    assert main(["run", *CELL, "--results", str(results)]) == 0
    return results


@pytest.fixture
def store(finished, tmp_path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(finished, results, symlinks=True)
    return results


def _work_dir(results: Path) -> Path:
    (key,) = [p for p in (results / "checkpoints").iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
    return key


# ---- bad values: refused before anything runs, with the valid range ----------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--set", "kl_lambda=abc"], "algo.kl_lambda must be a finite number >= 0, got 'abc'"),
        (["run", "--set", "kl_lambda=nan"], "algo.kl_lambda must be a finite number >= 0, got 'nan'"),
        (["run", "--set", "kl_lambda=NaN"], "algo.kl_lambda must be a finite number >= 0, got nan"),
        (["run", "--set", "kl_lambda=-1"], "algo.kl_lambda must be a finite number >= 0, got -1"),
        (["run", "--set", "num_hidden_layers=-1"], "net.num_hidden_layers must be a positive integer, got -1"),
        (["run", "--set", "discount=1e999"], "algo.discount must be in [0, 1] (a finite number), got inf"),
        (["run", "--set", "batch_size=2.5"], "algo.batch_size must be a positive integer, got 2.5"),
        (["run", "--set", "meta_batch=true"], "algo.meta_batch must be a positive integer, got True"),
        (
            [
                "run",
                "--grid",
                "--methods",
                "pearl",
                "--families",
                "sparse-point-robot",
                "--set",
                "env_kwargs.goal_radius=-1",
            ],
            "env_kwargs.goal_radius must be a finite number > 0, got -1",
        ),
        (
            [
                "run",
                "--grid",
                "--methods",
                "pearl",
                "--families",
                "sparse-point-robot",
                "--set",
                "env_kwargs.goal_radius=nan",
            ],
            "env_kwargs.goal_radius must be a finite number > 0, got 'nan'",
        ),
        (
            ["run", "--methods", "promp", "--families", "cheetah-vel", "--set", "inner_lr=-0.1"],
            "algo.inner_lr must be a finite number >= 0",
        ),
        (
            ["run", "--methods", "rl2-ppo", "--families", "cheetah-vel", "--set", "lr=Infinity"],
            "algo.lr must be a finite number > 0, got inf",
        ),
        (
            ["run", "--methods", "maml-trpo", "--families", "cheetah-vel", "--set", "hidden_sizes=[64,-1]"],
            "algo.hidden_sizes must be a non-empty list",
        ),
        (["run", "--seeds", "-1"], "seed must be in [0, 4294967295] (an integer), got -1"),
        (["run", "--seeds", str(2**32)], "seed must be in [0, 4294967295] (an integer), got 4294967296"),
        (["train", "pearl", "point-robot", "--seed", "-1"], "seed must be in [0, 4294967295]"),
        (["train", "promp", "point-robot", "--seed", str(2**32)], "seed must be in [0, 4294967295]"),
        (["run", "--set", "net_size=" + "[" * 100_000], "the value is nested too deeply to read"),
        (["train", "pearl", "point-robot", "--db", "bad/db.name$"], "invalid MongoDB database name 'bad/db.name$'"),
    ],
)
def test_bad_value_is_refused_before_anything_is_written(capsys, tmp_path, argv, message):
    results = tmp_path / "results"
    argv = argv[:1] + ["--profile", "smoke", "--results", str(results), "--no-progress"] + argv[1:]
    if argv[0] == "run":  # at most one cell, should the value get through (as it did before issue 14)
        argv += [
            *(["--methods", "pearl"] if "--methods" not in argv else []),
            *(["--families", "point-robot", "--grid"] if "--families" not in argv else []),
            *(["--seeds", "0"] if "--seeds" not in argv else []),
        ]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not results.exists()


def test_rollout_task_count_must_be_positive(capsys):
    assert _exit_code(["envs", "--rollout", "--tasks", "-1"]) == 2
    assert "--tasks: must be a positive integer, got '-1'" in capsys.readouterr().err


def _numeric(annotation) -> bool:
    text = str(annotation)
    return any(t in text for t in ("int", "float")) and "dict" not in text and "bool" not in text


@pytest.mark.parametrize("module, root", [("pearl.config", "PEARLConfig"), ("baselines.config", "BaselineConfig")])
def test_every_numeric_config_field_declares_its_bounds(module, root):
    import importlib

    mod = importlib.import_module(module)
    classes = [getattr(mod, root)] + [
        v for v in vars(mod).values() if dataclasses.is_dataclass(v) and v.__module__ == module
    ]
    unbounded = [
        f"{k.__name__}.{f.name}"
        for k in classes
        for f, hint in ((f, typing.get_type_hints(k)[f.name]) for f in dataclasses.fields(k))
        if _numeric(hint) and "bounds" not in f.metadata
    ]
    assert unbounded == []


@pytest.mark.parametrize("module", ["pearl.config", "baselines.config"])
def test_defaults_and_profiles_are_inside_the_bounds(module):
    import importlib

    mod = importlib.import_module(module)
    for method in mod.METHODS:
        for profile in mod.PROFILES:
            mod.make_config(method, "cheetah-vel", profile)  # validates


# ---- overrides are honoured or refused ------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--set", "env_kwargs.goal_radius=0.5"],
            "--set env_kwargs.goal_radius=0.5 conflicts with the paper's cells, which fix goal_radius to 0.2, 0.8",
        ),
        (["--families", "point-robot", "cheetah-vel"], "family 'point-robot' has no cell in the paper's matrix"),
        (
            ["--methods", "pearl", "rl2-ppo", "--families", "sparse-point-robot"],
            "method 'rl2-ppo' has no cell in the paper's matrix",
        ),
    ],
)
def test_a_request_the_papers_matrix_would_drop_is_refused(capsys, tmp_path, argv, message):
    assert _exit_code(["run", "--profile", "smoke", "--results", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "--grid" in err
    assert not (tmp_path / "r").exists()


def test_grid_honours_an_env_kwarg_override():
    (cell,) = plan("smoke", ["pearl"], ["sparse-point-robot"], [0], {"env_kwargs": {"goal_radius": 0.5}}, grid=True)
    assert cell.config["env_kwargs"]["goal_radius"] == 0.5


def test_explicit_results_beats_the_mongo_url_in_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(MONGO_URL_ENV, "mongodb://127.0.0.1:1")
    assert resolve_store(results=str(tmp_path)).mongo_url is None
    assert resolve_store().mongo_url == "mongodb://127.0.0.1:1"


def test_where_takes_plain_values_not_mongo_operators(capsys, store):
    for where in ["$where=sleep(1000)", 'algo.kl_lambda={"$gt": 0}', "algo.kl_lambda=$x", "a.$b=1"]:
        assert _exit_code(["query", "--results", str(store), "--where", where]) == 2
        assert "only plain values are accepted" in capsys.readouterr().err
    assert _exit_code(["query", "--results", str(store), "--where", "algo.kl_lambda=0.1"]) == 0


# ---- one result per cell --------------------------------------------------------------------------
def test_a_cell_completed_while_waiting_for_its_lock_is_not_run_again(store, capsys):
    """The second ``run`` found the cell unfinished before taking its lock; the worker reads the store again."""
    from benchmarks.worker import DONE_ELSEWHERE, run_cell

    (cell,) = plan("smoke", ["pearl"], ["point-robot"], [0], {"num_iterations": 1}, grid=True)
    result = run_cell({"config": cell.config, "store": resolve_store(str(store)).to_dict()})
    assert result["status"] == DONE_ELSEWHERE and result["run_id"] == 1
    assert _statuses(store) == {1: "COMPLETED"}


def test_train_fresh_over_a_completed_run_is_refused(store, capsys):
    argv = ["train", "pearl", "point-robot", "--profile", "smoke", "--set", "num_iterations=1", "--results", str(store)]
    assert _exit_code(argv + ["--fresh"]) == 2
    assert "already COMPLETED as run 1" in capsys.readouterr().err
    assert _statuses(store) == {1: "COMPLETED"} and list(_work_dir(store).glob("checkpoint_*.pt"))


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_run_rebuilds_a_completed_runs_metrics_from_the_journal(store, capsys, damage):
    metrics = store / "1" / "metrics.json"
    original = json.loads(metrics.read_text())
    metrics.unlink() if damage == "delete" else metrics.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["run", *CELL, "--results", str(store)]) == 0
    assert "rebuilt" in capsys.readouterr().out
    rebuilt = json.loads(metrics.read_text())
    assert {k: (v["steps"], v["values"]) for k, v in rebuilt.items()} == {
        k: (v["steps"], v["values"]) for k, v in original.items()
    }
    assert _statuses(store) == {1: "COMPLETED"}


# ---- faults -------------------------------------------------------------------------------------
def test_an_attempt_killed_while_running_is_marked_dead_by_the_next_run(store, capsys):
    """A kill -9 leaves the attempt RUNNING; the next run of the cell holds the lock, so it knows."""
    work_dir = _work_dir(store)
    run = json.loads((store / "1" / "run.json").read_text())
    shutil.copytree(store / "1", store / "2")
    (store / "2" / "run.json").write_text(json.dumps({**run, "status": "RUNNING", "stop_time": None}))
    info = json.loads((store / "2" / "info.json").read_text())
    (store / "2" / "info.json").write_text(json.dumps({**info, "checkpoint_dir": str(work_dir)}))
    (store / "1" / "run.json").write_text(json.dumps({**run, "status": "INTERRUPTED"}))
    assert main(["run", *CELL, "--results", str(store)]) == 0
    assert "marked run(s) 2" in capsys.readouterr().err
    assert _statuses(store) == {1: "INTERRUPTED", 2: "PROBABLY_DEAD", 3: "COMPLETED"}


def test_jobs_are_capped_at_the_number_of_runs(monkeypatch, tmp_path, capsys):
    from benchmarks import runner

    seen = {}

    def fake_execute(requests, jobs, backend, scheduler, signals):
        seen["jobs"] = jobs
        return iter(())

    monkeypatch.setattr(runner, "_execute", fake_execute)
    cells = plan("smoke", ["pearl"], ["point-robot"], [0], grid=True)
    runner.run_matrix(cells, resolve_store(str(tmp_path)), jobs=1000, progress=False)
    assert seen["jobs"] == 1
    monkeypatch.setattr(runner, "available_cores", lambda: 1)
    runner.run_matrix(
        plan("smoke", ["pearl"], ["point-robot"], [0, 1], grid=True),
        resolve_store(str(tmp_path)),
        jobs=1000,
        progress=False,
    )
    assert seen["jobs"] == 2 and "2 jobs on 1 core(s)" in capsys.readouterr().err


def test_a_truncated_latest_checkpoint_falls_back_to_the_newest_that_loads(tmp_path, capsys):
    for iteration in (1, 2):
        save_checkpoint({"iteration": iteration, "weights": torch.ones(64)}, tmp_path, iteration)
    latest = tmp_path / "checkpoint_000002.pt"
    latest.write_bytes(latest.read_bytes()[:100])
    assert load_latest(tmp_path)["iteration"] == 1
    assert f"skipping checkpoint {latest}" in capsys.readouterr().err


def test_a_failed_mongo_check_creates_no_directory(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    assert _exit_code(["train", "pearl", "point-robot", "--profile", "smoke", "--mongo", "localhost:27017"]) == 2
    assert "malformed MongoDB URL" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ---- safety -------------------------------------------------------------------------------------
class _Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_checkpoint_cannot_run_code(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    torch.save({"iteration": 3, "payload": _Planted(marker)}, tmp_path / "checkpoint_000003.pt")
    with pytest.raises(ValueError, match="no checkpoint in .* loads"):
        load_latest(tmp_path)
    assert not marker.exists()


def test_numpy_arrays_and_rng_states_load_with_weights_only(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    state = {
        "buffer": np.arange(6, dtype=np.float32).reshape(2, 3),
        "flags": np.zeros(3, bool),
        "scalar": np.float64(1.5),
        "rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
    }
    save_checkpoint(state, tmp_path, 1)
    loaded = load_latest(tmp_path)
    assert np.array_equal(loaded["buffer"], state["buffer"]) and loaded["scalar"] == 1.5
    assert loaded["rng"] == state["rng"]


@pytest.mark.parametrize("name", [".lock", "attempts.jsonl", "metrics.jsonl", "eval_paths.json"])
def test_a_symlink_in_the_run_directory_is_not_written_through(tmp_path, name):
    results = tmp_path / "results"
    (cell,) = plan("smoke", ["pearl"], ["point-robot"], [0], {"num_iterations": 1}, grid=True)
    work_dir = results / "checkpoints" / cell.run_key
    work_dir.mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    os.symlink(outside, work_dir / name)
    main(["run", *CELL, "--results", str(results)])
    assert outside.read_text() == "precious\n"


def test_a_symlinked_run_directory_is_refused_even_with_fresh(tmp_path, capsys):
    results = tmp_path / "results"
    (cell,) = plan("smoke", ["pearl"], ["point-robot"], [0], {"num_iterations": 1}, grid=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    (results / "checkpoints").mkdir(parents=True)
    os.symlink(elsewhere, results / "checkpoints" / cell.run_key)
    argv = [
        "train",
        "pearl",
        "point-robot",
        "--profile",
        "smoke",
        "--set",
        "num_iterations=1",
        "--results",
        str(results),
        "--fresh",
        "--no-progress",
    ]
    assert _exit_code(argv) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert (elsewhere / "keep.txt").exists() and _statuses(results) == {}
    assert main(["run", *CELL, "--results", str(results)]) == 1  # the matrix reports it as FAILED
    assert "is a symbolic link" in capsys.readouterr().out


def test_an_interrupt_while_a_checkpoint_is_written_stays_an_interrupt(tmp_path, monkeypatch):
    """A signal handler's KeyboardInterrupt inside the file's write() (a buffered file runs handlers there) while
    torch.save wrote to it was lost (the run went on: a matrix waited for it forever), became torch's
    RuntimeError (the run FAILED) or aborted the process."""
    import pearl.core.files as files  # save_checkpoint writes through files.write_atomic

    save_checkpoint({"iteration": 1, "weights": torch.ones(64)}, tmp_path, 1)
    real_open = files.open_nofollow

    class InterruptedFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise KeyboardInterrupt("SIGINT")  # as a signal handler raises it inside the write

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    monkeypatch.setattr(files, "open_nofollow", lambda *a, **k: InterruptedFile(real_open(*a, **k)))
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        save_checkpoint({"iteration": 2, "weights": torch.ones(4096)}, tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_000001.pt"]  # no partial file left
    assert load_latest(tmp_path)["iteration"] == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the abandoned ZipFile's __del__
def test_an_interrupt_inside_the_zip_writer_stays_an_interrupt_and_leaves_no_torn_file(tmp_path, monkeypatch):
    """SIGINT/SIGTERM become KeyboardInterrupt (benchmarks/signals.py); one landing while numpy's zip writer
    had an entry open came out of the training block as zipfile's ValueError, and the run was marked FAILED."""
    import zipfile

    from pearl.config import make_config
    from pearl.trainer import PEARLTrainer, save_eval_paths

    cfg = make_config("pearl", "sparse-point-robot", "smoke", {"num_iterations": 1})
    trainer = PEARLTrainer(cfg)
    result = trainer.evaluate(record_paths=True)
    trainer.close()
    path = tmp_path / "eval_paths_000001.npz"
    save_eval_paths(result, path)
    before = path.read_bytes()

    def interrupted(self):
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(zipfile._ZipWriteFile, "close", interrupted)  # the signal lands as an entry is closed
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with interrupt_on_signals(insist=True):  # the block the harness runs training in
            save_eval_paths(result, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert np.load(path)["paths"].shape == result.paths.shape
