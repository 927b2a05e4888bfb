import re
import subprocess
import sys

import numpy as np

from benchmarks.cli import main
from pearl.envs import FAMILIES, TaskVectorEnv


def test_envs_table(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for name, spec in FAMILIES.items():
        assert name in out and spec.env_id in out
    assert "376" in out  # humanoid observation size


def _random_rollout_return(family: str, n_tasks: int) -> float:
    """The mean return of ``envs --rollout``'s episode, computed here on its own."""
    venv = TaskVectorEnv(family, FAMILIES[family].test_tasks[:n_tasks], seed=0)
    rng = np.random.default_rng(0)
    venv.reset()
    total = np.zeros(n_tasks)
    while not venv.done.all():
        total += venv.step(rng.uniform(-1, 1, (venv.num_envs, venv.act_dim)))[1]
    return total.mean()


def test_envs_rollout(capsys):
    assert main(["envs", "--rollout", "--tasks", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header[-2:] == ["return (random)", "steps/s"]
    rows = {row.split()[0]: row.split() for row in lines[2:]}
    assert list(rows) == list(FAMILIES)  # one row per family, in order
    for name, row in rows.items():
        assert row[1] == FAMILIES[name].env_id
        assert row[-2] == f"{_random_rollout_return(name, 2):.1f}", name
        assert int(row[-1].replace(",", "")) > 0, name


def test_tasks_listing(capsys):
    assert main(["tasks", "cheetah-fwd-back", "--split", "test"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ['0 {"direction": 1.0}', '1 {"direction": -1.0}']


def test_console_script_rejects_unknown_family():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "tasks", "cheetah"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice: 'cheetah'" in proc.stderr and "cheetah-vel" in proc.stderr
