"""Every bad input to ``train`` and ``run`` is a clear one-line error with exit code 2, before any run."""

import time

import pytest

from benchmarks.cli import main


def _error(capsys, argv) -> str:
    """Run the CLI expecting exit code 2; return the error line."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--methods", "pearl", "bogus"], "unknown method 'bogus'; valid methods: pearl,"),
        (["run", "--families", "cheetah"], "unknown family 'cheetah'; valid families: cheetah-vel"),
        (["run", "--set", "kl_lambda"], "malformed override 'kl_lambda': expected KEY=VALUE"),
        (["run", "--set", "=3"], "malformed override '=3'"),
        (["run", "--profile", "smoke", "--set", "algo.bogus=1"], "unknown override key 'algo.bogus'"),
        (["run", "--profile", "smoke", "--set", "algo.num_iterations=-1"], "num_iterations must be a positive integer"),
        (
            ["run", "--profile", "smoke", "--families", "sparse-point-robot", "--set", "env_kwargs.radius=1"],
            "unknown env kwarg(s) ['radius'] for family 'sparse-point-robot'; valid: goal_radius",
        ),
        (["run", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --backend dask"),
        (
            ["run", "--jobs", "0", "--profile", "smoke", "--families", "point-robot", "--methods", "pearl", "--grid"],
            "--jobs must be at least 1",
        ),
        (["run", "--grid", "--methods", "pearl"], "--grid needs --methods and --families"),
        (["train", "rl2-ppo", "cheetah-vel", "--profile", "smoke", "--set", "bogus=1"], "unknown"),
        (["train", "pearl", "point-robot", "--set", "bogus=1"], "unknown override key 'bogus'"),
    ],
)
def test_bad_input(capsys, tmp_path, argv, message):
    line = _error(capsys, argv + ["--results", str(tmp_path)])
    assert line.startswith("pearl-bench: error: ") and message in line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "bogus", "cheetah-vel"], "invalid choice: 'bogus'"),
        (["train", "pearl", "cheetah"], "invalid choice: 'cheetah'"),
        (["train", "pearl", "cheetah-vel", "--profile", "huge"], "invalid choice: 'huge'"),
        (["run", "--profile", "huge"], "invalid choice: 'huge'"),
        (["run", "--backend", "ray"], "invalid choice: 'ray'"),
        (["run", "--results", "a", "--mongo", "mongodb://x"], "not allowed with argument"),
    ],
)
def test_bad_choice(capsys, argv, message):
    assert message in _error(capsys, argv)


@pytest.mark.parametrize(
    "url, message",
    [
        ("localhost:27017", "malformed MongoDB URL 'localhost:27017': it must start with mongodb://"),
        ("mongodb://", "malformed MongoDB URL 'mongodb://'"),
        ("mongodb://host:notaport", "malformed MongoDB URL 'mongodb://host:notaport'"),
        ("mongodb://user:secret@host:99999", "malformed MongoDB URL 'mongodb://user:***@host:99999'"),
    ],
)
def test_malformed_mongo_url(capsys, tmp_path, url, message):
    line = _error(
        capsys, ["train", "pearl", "point-robot", "--profile", "smoke", "--mongo", url, "--checkpoints", str(tmp_path)]
    )
    assert message in line and "secret" not in line


@pytest.mark.parametrize("command", [["train", "pearl", "point-robot"], ["run"]])
def test_unreachable_mongo_fails_fast(capsys, tmp_path, command):
    start = time.monotonic()
    line = _error(
        capsys, command + ["--profile", "smoke", "--mongo", "mongodb://127.0.0.1:1", "--checkpoints", str(tmp_path)]
    )
    assert time.monotonic() - start < 5.0
    assert "cannot reach MongoDB at mongodb://127.0.0.1:1 within 3 s" in line
    assert not list(tmp_path.glob("*/metrics.jsonl"))  # no run started
