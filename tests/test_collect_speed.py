"""Collection hot paths (issue #12, item 5): faster, and bit-identical to the plain definitions."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
import torch

from benchmarks import collect_speed
from pearl.envs import make_env
from pearl.networks import TanhGaussianPolicy
from pearl.sac import PEARLAgent


@pytest.mark.parametrize("deterministic", [False, True])
def test_acting_path_draws_the_same_actions_as_the_full_policy_forward(deterministic):
    agent = PEARLAgent(obs_dim=20, act_dim=6, context_dim=27, encoder_type="gaussian", latent_size=5,
                       net_size=32, num_hidden_layers=3, encoder_hidden=32, encoder_hidden_layers=2)
    obs, z = np.random.default_rng(0).normal(size=(5, 20)), torch.randn(5, 5)
    torch.manual_seed(3)
    with torch.no_grad():
        full = [agent.policy(torch.as_tensor(obs, dtype=torch.float32), z, deterministic)[0] for _ in range(3)]
    full_rng = torch.get_rng_state()
    torch.manual_seed(3)
    fast = [agent.act(obs, z, deterministic) for _ in range(3)]
    for f, a in zip(full, fast):
        assert a.dtype == np.float64 and np.array_equal(a, f.numpy().astype(np.float64))
    assert torch.equal(torch.get_rng_state(), full_rng)  # the same noise consumed: later draws unchanged


def test_sample_action_is_forwards_action_under_autocast_off():
    policy = TanhGaussianPolicy(4, 2, 3, 16, 2)
    x, z = torch.randn(7, 4), torch.randn(7, 2)
    torch.manual_seed(0)
    with torch.no_grad():
        a = policy(x, z)[0]
    torch.manual_seed(0)
    with torch.inference_mode():
        b = policy.sample_action(x, z)
    assert torch.equal(a, b)


def test_cheetah_observation_is_qpos_qvel_torso_position_as_float32():
    env = make_env("cheetah-fwd-back").unwrapped
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        d = env.data
        expected = np.concatenate([d.qpos[1:], d.qvel, d.xpos[env.model.body("torso").id]]).astype(np.float32)
        assert obs.dtype == np.float32 and np.array_equal(obs, expected)
        obs, *_ = env.step(rng.uniform(-1, 1, 6))
    mujoco.mj_resetData(env.model, env.data)  # the cached views follow the data through a reset
    assert np.array_equal(env._get_obs()[:8], env.init_qpos[1:].astype(np.float32))


def test_collect_speed_reports_every_method_against_bare_mj_step(tmp_path, capsys):
    out = tmp_path / "speed.json"
    r = collect_speed.main(["--family", "cheetah-fwd-back", "--profile", "smoke", "--methods", "pearl", "maml-trpo",
                            "rl2-ppo", "--repeats", "1", "--json", str(out)])
    text = capsys.readouterr().out
    for name in ("bare mj_step", "pearl", "maml-trpo", "rl2-ppo"):
        assert name in text and r["steps_per_s"][name] > 0
    assert r["fraction_of_bare"]["pearl"] == pytest.approx(r["steps_per_s"]["pearl"] / r["steps_per_s"]["bare mj_step"])
    assert json.loads(out.read_text())["family"] == "cheetah-fwd-back"


@pytest.mark.parametrize("argv", [["--family", "point-robot"], ["--repeats", "0"], ["--methods", "sac"]])
def test_collect_speed_refuses_bad_input_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        collect_speed.main(argv)
    assert exc.value.code == 2
    assert argv[-1] in capsys.readouterr().err
