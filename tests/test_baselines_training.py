"""End-to-end tests of the baselines: smoke runs, seeding, evaluation metrics, config errors.

Resume equality is tested with PEARL's in test_training_resume.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.config import METHODS, BaselineConfig, make_config
from baselines.trainer import train
from pearl.core.errors import NonFiniteLossError
from pearl.core.logger import MemoryLogger

torch.set_num_threads(1)


def _deterministic(logger: MemoryLogger) -> dict:
    return {k: v for k, v in logger.scalars.items() if not k.startswith("time/")}


@pytest.mark.parametrize("family", ["point-robot", "cheetah-vel", "sparse-point-robot"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_end_to_end_on_smoke(method, family):
    logger = MemoryLogger()
    cfg = make_config(method, family, "smoke")
    summary = train(cfg, logger)
    assert summary["finished"] and summary["iterations_completed"] == cfg.num_iterations
    s = cfg.sampling
    per_iteration = cfg.phases() * s.meta_batch * s.episodes_per_task * cfg.horizon()  # no early termination
    assert summary["env_steps"] == cfg.num_iterations * per_iteration
    assert logger.steps("test/return") == [per_iteration * (i + 1) for i in range(cfg.num_iterations)]
    assert logger.series("env_steps") == [float(x) for x in logger.steps("env_steps")]
    n_adapt = cfg.algo.num_inner_steps + 1 if method != "rl2-ppo" else s.episodes_per_task
    for k in range(1, n_adapt + 1):
        assert len(logger.series(f"test/adaptation_return/{k}")) == cfg.num_iterations
    assert logger.series("test/return") == logger.series(f"test/adaptation_return/{n_adapt}")
    assert np.isfinite(logger.series("test/return")).all()
    if family == "sparse-point-robot":  # reported returns are sparse: >= 0
        assert min(logger.series("test/return")) >= 0.0


@pytest.mark.parametrize("method", METHODS)
def test_ant_goal_smoke_with_two_inner_steps(method):
    cfg = make_config(method, "ant-goal-2d", "smoke", {"num_iterations": 1})
    logger = MemoryLogger()
    summary = train(cfg, logger)
    assert summary["finished"]
    if method != "rl2-ppo":
        assert cfg.algo.num_inner_steps == 2 and len(summary["last_eval"]["adaptation_curve"]) == 3


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_numbers_different_seed_different(method):
    runs = []
    for seed in (0, 0, 1):
        logger = MemoryLogger()
        train(make_config(method, "point-robot", "smoke", {"seed": seed}), logger)
        runs.append(_deterministic(logger))
    assert runs[0] == runs[1]
    assert runs[0]["test/return"] != runs[2]["test/return"]


def test_resume_with_a_different_config_is_refused(tmp_path):
    cfg = make_config("promp", "point-robot", "smoke", {"num_iterations": 1})
    train(cfg, MemoryLogger(), tmp_path)
    other = make_config("promp", "point-robot", "smoke", {"num_iterations": 2, "inner_lr": 0.5})
    with pytest.raises(ValueError, match="inner_lr"):
        train(other, MemoryLogger(), tmp_path)


def test_non_finite_loss_names_the_loss_and_iteration(monkeypatch):
    import baselines.meta_gradient as mg

    real = mg.promp_objective

    def poisoned(*args, **kwargs):
        loss, j, kls = real(*args, **kwargs)
        return loss * float("nan"), j, kls

    monkeypatch.setattr(mg, "promp_objective", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"promp_loss.*iteration 0"):
        train(make_config("promp", "point-robot", "smoke"), MemoryLogger())


def test_paper_profile_carries_the_reference_recipe_and_1e8_budget():
    cfg = make_config("promp", "walker-params", "paper")
    assert cfg.max_env_steps == 100_000_000 and cfg.num_iterations is None
    assert (cfg.sampling.meta_batch, cfg.sampling.episodes_per_task, cfg.horizon()) == (40, 20, 200)
    assert cfg.sampling.action_scale == 10.0
    a = cfg.algo
    assert (a.inner_lr, a.num_promp_steps, a.init_inner_kl_penalty, a.adaptive_inner_kl_penalty) == (
        0.05,
        3,
        1e-3,
        True,
    )
    assert cfg.planned_iterations() == 100_000_000 // (2 * 40 * 20 * 200) + 1
    assert make_config("maml-trpo", "humanoid-dir-2d", "paper").algo.hidden_sizes == [128, 128]
    assert make_config("maml-trpo", "ant-goal-2d", "paper").algo.num_inner_steps == 2
    rl2 = make_config("rl2-ppo", "cheetah-vel", "paper")
    assert (rl2.sampling.meta_batch, rl2.sampling.episodes_per_task, rl2.algo.clip_eps) == (100, 2, 0.2)


def test_config_round_trips_through_dict():
    for method in METHODS:
        cfg = make_config(method, "cheetah-vel", "quick", {"seed": 3})
        assert BaselineConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "args, overrides, match",
    [
        (("ppo", "cheetah-vel", "smoke"), None, r"unknown method 'ppo'.*rl2-ppo, maml-trpo, promp"),
        (("promp", "cheetah", "smoke"), None, r"unknown family 'cheetah'.*cheetah-vel"),
        (("promp", "cheetah-vel", "fast"), None, r"unknown profile 'fast'.*smoke, quick, paper"),
        (("promp", "cheetah-vel", "smoke"), {"max_kl": 0.1}, r"unknown override key 'max_kl'.*valid keys"),
        (("maml-trpo", "cheetah-vel", "smoke"), {"inner_loss": "dice"}, r"'dice'.*log_likelihood, likelihood_ratio"),
        (("maml-trpo", "cheetah-vel", "smoke"), {"max_kl": -1.0}, r"algo.max_kl.*-1.0"),
        (("rl2-ppo", "cheetah-vel", "smoke"), {"meta_batch": 0}, r"sampling.meta_batch.*0"),
        (("rl2-ppo", "cheetah-vel", "smoke"), {"num_minibatches": 5}, r"num_minibatches"),
        (("promp", "cheetah-vel", "smoke"), {"hidden_sizes": [64, "x"]}, r"hidden_sizes.*'x'"),
        (("promp", "cheetah-vel", "smoke"), {"num_iterations": None}, r"both None"),
        (("promp", "cheetah-vel", "smoke"), {"sampling.clip_eps": 0.2}, r"unknown override key 'sampling.clip_eps'"),
    ],
)
def test_bad_config_errors(args, overrides, match):
    with pytest.raises(ValueError, match=match):
        make_config(*args, overrides)


def test_from_dict_rejects_unknown_keys():
    d = make_config("promp", "cheetah-vel", "smoke").to_dict()
    d["algo"]["max_kl"] = 0.01
    with pytest.raises(ValueError, match=r"algo.max_kl"):
        BaselineConfig.from_dict(d)


def test_registry_adapter_builds_trains_and_budgets(tmp_path):
    from benchmarks.baseline_method import BaselineMethod

    method = BaselineMethod("promp")
    cfg = method.make_config("sparse-point-robot", "smoke", {"num_iterations": 1}, seed=2)
    assert cfg.seed == 2 and "goal_radius" in cfg.env_kwargs
    assert method.config_from_dict(method.config_to_dict(cfg)) == cfg
    budget = method.estimate_env_steps(cfg)
    summary = method.train(cfg, MemoryLogger(), str(tmp_path))
    assert budget["train"] == summary["env_steps"]
    assert method.export_model(str(tmp_path), str(tmp_path / "model.pt"))
    assert method.progress_info(cfg)["return_metric"] == "test/return"
    with pytest.raises(ValueError, match="unknown env kwarg"):
        method.make_config("point-robot", "smoke", {"env_kwargs": {"radius": 1}}, seed=0)
