"""End-to-end tests of Algorithm 1 / 2: every method, seeding, resume refusals, evaluation protocol, errors.

Resume equality is tested with the baselines' in test_training_resume.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pearl.config import METHODS, make_config
from pearl.core.errors import NonFiniteLossError
from pearl.core.logger import MemoryLogger
from pearl.envs import FAMILIES
from pearl.trainer import PEARLTrainer, train

torch.set_num_threads(1)


def _deterministic_metrics(logger: MemoryLogger) -> dict[str, list]:
    return {name: logger.scalars[name] for name in logger.scalars if not name.startswith("time/")}


@pytest.mark.parametrize("family", ["point-robot", "cheetah-vel"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_end_to_end(method, family):
    logger = MemoryLogger()
    cfg = make_config(method, family, "smoke")
    summary = train(cfg, logger)
    assert summary["finished"] and summary["iterations_completed"] == cfg.algo.num_iterations
    h = cfg.algo.max_path_length
    n_train = cfg.max_train_tasks
    # initial pool + per-iteration prior and extra-posterior episodes (no early termination here)
    expected = n_train * h + cfg.algo.num_iterations * cfg.algo.num_tasks_sample * 2 * h
    assert summary["env_steps"] == expected
    assert logger.series("env_steps")[-1] == expected
    for name in ("train/qf_loss", "train/vf_loss", "train/policy_loss", "test/return"):
        assert len(logger.series(name)) == cfg.algo.num_iterations
        assert np.isfinite(logger.series(name)).all(), name
    if method == "pearl-deterministic":
        assert logger.series("train/kl_loss") == [0.0] * cfg.algo.num_iterations
    assert len(summary["last_eval"]["adaptation_curve"]) == 3  # 3 episodes of evaluation


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {"point-robot", "cheetah-vel"}))
def test_smoke_profile_runs_on_every_family(family):
    summary = train(make_config("pearl", family, "smoke"), MemoryLogger())
    assert summary["finished"] and np.isfinite(summary["last_eval"]["final_return"])


def test_same_seed_same_numbers_different_seed_different():
    cfg = make_config("pearl", "point-robot", "smoke", {"num_iterations": 2})
    runs = []
    for seed in (0, 0, 1):
        cfg.seed = seed
        logger = MemoryLogger()
        train(cfg, logger)
        runs.append(_deterministic_metrics(logger))
    assert runs[0] == runs[1]
    assert runs[0]["train/qf_loss"] != runs[2]["train/qf_loss"]


def test_resume_refuses_a_different_config(tmp_path):
    cfg = make_config("pearl", "point-robot", "smoke", {"num_iterations": 1})
    train(cfg, MemoryLogger(), tmp_path)
    other = make_config("pearl", "point-robot", "smoke", {"num_iterations": 2, "kl_lambda": 0.7})
    with pytest.raises(ValueError, match="kl_lambda"):
        train(other, MemoryLogger(), tmp_path)
    longer = make_config("pearl", "point-robot", "smoke", {"num_iterations": 2})  # extending is fine
    assert train(longer, MemoryLogger(), tmp_path)["iterations_completed"] == 2


def test_non_finite_loss_raises_naming_loss_and_iteration():
    """A finite but absurd reward scale overflows the Bellman target (NaN itself is refused up front)."""
    cfg = make_config("pearl", "point-robot", "smoke", {"reward_scale": 1e308})
    with pytest.raises(NonFiniteLossError, match=r"qf_loss.*iteration 0, gradient step 0"):
        train(cfg, MemoryLogger())


def test_online_adaptation_protocol_uses_prior_then_all_accumulated_context(monkeypatch):
    """Algorithm 2 / reference 3.1: z ~ prior for num_exp_traj_eval episodes, then q(z | all context)."""
    cfg = make_config(
        "pearl", "sparse-point-robot", "smoke", {"num_steps_per_eval": 100, "num_exp_traj_eval": 2, "num_evals": 2}
    )
    trainer = PEARLTrainer(cfg)
    trainer.collector.collect_initial(20, trainer.rng)
    calls = []
    original = trainer.agent.infer_posterior

    def spy(context, mask=None):
        calls.append(mask.sum(1).tolist())
        return original(context, mask)

    monkeypatch.setattr(trainer.agent, "infer_posterior", spy)
    result = trainer.evaluate(record_paths=True)
    n_runs = len(trainer.test_tasks) * 2
    # 5 episodes of 20 steps; the posterior is inferred after episodes 2, 3 and 4 (and 5, unused)
    assert calls == [[40] * n_runs, [60] * n_runs, [80] * n_runs, [100] * n_runs]
    assert result.returns.shape == (len(trainer.test_tasks), 2, 5)
    assert result.adaptation_curve.shape == (5,)
    assert result.final_return == pytest.approx(result.returns[..., -1].mean())
    assert ((result.returns >= 0) & (result.returns <= 20)).all()  # sparse returns are reported
    assert result.paths.shape == (len(trainer.test_tasks), 2, 5, 21, 2)
    np.testing.assert_allclose(result.paths[..., 0, :], 0.0)  # sparse point robot starts at the origin
    trainer.close()


def test_evaluation_paths_are_saved_with_checkpoints(tmp_path):
    cfg = make_config("pearl", "sparse-point-robot", "smoke", {"num_iterations": 2, "checkpoint_every": 1})
    train(cfg, MemoryLogger(), tmp_path)
    data = np.load(tmp_path / "eval_paths_000002.npz")
    assert data["paths"].shape[:3] == data["returns"].shape
    assert data["paths"].shape[-2:] == (cfg.algo.max_path_length + 1, 2)
