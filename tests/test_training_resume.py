"""Checkpoint-resume for every algorithm: an interrupted run resumed from its checkpoint logs exactly the
numbers of an uninterrupted one, every metric step once."""

from __future__ import annotations

import importlib

import pytest
import torch
from jsonl_logger import JSONLLogger

from pearl.core.checkpoint import list_checkpoints
from pearl.core.logger import MemoryLogger

torch.set_num_threads(1)

# (package with config.make_config and trainer.train, method, family, overrides)
PEARL = ("pearl", {"num_iterations": 4, "checkpoint_every": 2})
BASELINES = ("baselines", {"num_iterations": 4, "checkpoint_every": 2, "eval_every": 1})
CASES = [
    (*PEARL, "pearl", "point-robot"),
    (*PEARL, "pearl-rnn-traj", "cheetah-vel"),
    (*PEARL, "pearl", "sparse-point-robot"),
    (*BASELINES, "maml-trpo", "point-robot"),
    (*BASELINES, "promp", "cheetah-vel"),
    (*BASELINES, "rl2-ppo", "point-robot"),
]


def _deterministic(logger: MemoryLogger) -> dict[str, list]:
    return {name: series for name, series in logger.scalars.items() if not name.startswith("time/")}


@pytest.mark.parametrize(
    "package, overrides, method, family", CASES, ids=[f"{method}-{family}" for _, _, method, family in CASES]
)
def test_checkpoint_then_resume_matches_uninterrupted_run(tmp_path, package, overrides, method, family):
    make_config = importlib.import_module(f"{package}.config").make_config
    train = importlib.import_module(f"{package}.trainer").train
    cfg = make_config(method, family, "smoke", overrides)
    full = MemoryLogger()
    full_summary = train(cfg, full)

    # interrupted run: iterations 0-2 logged, but only the checkpoint after iteration 1 survives
    log = JSONLLogger(tmp_path / "metrics.jsonl")
    train(cfg, log, tmp_path / "ckpt", stop_after=3)
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == ["checkpoint_000002.pt", "checkpoint_000003.pt"]
    (tmp_path / "ckpt" / "checkpoint_000003.pt").unlink()  # as if the process died before saving it
    summary = train(cfg, log, tmp_path / "ckpt")
    assert summary["resumed_from_iteration"] == 2 and summary["finished"]
    assert summary["env_steps"] == full_summary["env_steps"]

    records = [r for r in log.read() if not r["name"].startswith("time/")]
    keys = [(r["name"], r["step"]) for r in records]
    assert len(keys) == len(set(keys)), "a metric was logged twice for one step"
    resumed: dict[str, list] = {}
    for r in records:
        resumed.setdefault(r["name"], []).append((r["step"], r["value"]))
    expected = _deterministic(full)
    assert set(resumed) == set(expected)
    for name in expected:  # exactly equal, step by step
        assert resumed[name] == [(s, pytest.approx(v, rel=0, abs=0)) for s, v in expected[name]], name
