import subprocess
import sys

from benchmarks.cli import main
from pearl.envs import FAMILIES


def test_envs_table(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for name, spec in FAMILIES.items():
        assert name in out and spec.env_id in out
    assert "376" in out  # humanoid observation size


def test_envs_rollout(capsys):
    assert main(["envs", "--rollout", "--tasks", "2"]) == 0
    assert "steps/s" in capsys.readouterr().out


def test_tasks_listing(capsys):
    assert main(["tasks", "cheetah-fwd-back", "--split", "test"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ['0 {"direction": 1.0}', '1 {"direction": -1.0}']


def test_console_script_rejects_unknown_family():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "tasks", "cheetah"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice: 'cheetah'" in proc.stderr and "cheetah-vel" in proc.stderr
