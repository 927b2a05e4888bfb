"""Collection hot paths (issue #12, item 5): faster, bit-identical to the plain definitions where the
data is the same, and PEARL's lockstep episodes keep Algorithm 1's semantics."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
import torch

from benchmarks import collect_speed
from pearl.envs import TaskVectorEnv, get_family, make_env
from pearl.sac import PEARLAgent


def _agent() -> PEARLAgent:
    return PEARLAgent(
        obs_dim=20,
        act_dim=6,
        context_dim=27,
        encoder_type="gaussian",
        latent_size=5,
        net_size=32,
        num_hidden_layers=3,
        encoder_hidden=32,
        encoder_hidden_layers=2,
    )


@pytest.mark.parametrize("deterministic", [False, True])
def test_acting_path_draws_the_actions_of_the_full_policy_forward(deterministic):
    """NumpyPolicy: forward's actions to float32 rounding, from the same torch noise draws."""
    agent = _agent()
    obs, z = np.random.default_rng(0).normal(size=(5, 20)), torch.randn(5, 5)
    torch.manual_seed(3)
    with torch.no_grad():
        full = [agent.policy(torch.as_tensor(obs, dtype=torch.float32), z, deterministic)[0] for _ in range(3)]
    full_rng = torch.get_rng_state()
    torch.manual_seed(3)
    fast = [agent.act(obs, z, deterministic) for _ in range(3)]
    for f, a in zip(full, fast):
        assert a.dtype == np.float64 and a.shape == (5, 6)
        np.testing.assert_allclose(a, f.numpy(), rtol=0, atol=2e-6)
    assert not np.array_equal(fast[0], fast[1]) or deterministic  # fresh noise per call
    assert torch.equal(torch.get_rng_state(), full_rng)  # the same noise consumed: later draws unchanged


def test_acting_policy_follows_every_change_of_the_policy():
    """The numpy copy is made again after an optimiser step and after load_state_dict, and only then."""
    agent, other = _agent(), _agent()
    obs, z = np.random.default_rng(1).normal(size=(4, 20)), torch.randn(4, 5)

    def torch_mean_action():
        with torch.no_grad():
            return agent.policy(torch.as_tensor(obs, dtype=torch.float32), z, deterministic=True)[0].numpy()

    first = agent.acting_policy()
    assert agent.acting_policy() is first  # nothing changed: the same copy
    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=0.1)
    agent.policy(torch.as_tensor(obs, dtype=torch.float32), z)[2].square().sum().backward()
    optimizer.step()
    assert agent.acting_policy() is not first
    np.testing.assert_allclose(agent.act(obs, z, deterministic=True), torch_mean_action(), atol=2e-6)
    agent.load_state_dict(other.state_dict())
    np.testing.assert_allclose(agent.act(obs, z, deterministic=True), torch_mean_action(), atol=2e-6)
    np.testing.assert_allclose(agent.act(obs, z, deterministic=True), other.act(obs, z, deterministic=True))


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
    results = collect_speed.main(
        [
            "--family",
            "cheetah-fwd-back",
            "--profile",
            "smoke",
            "--methods",
            "pearl",
            "maml-trpo",
            "rl2-ppo",
            "--repeats",
            "1",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert "CPU " in text and "load average" in text
    for column in ("method", "family", "profile", "env steps/s", "bare mj_step", "fraction"):
        assert column in text
    (r,) = results
    for name in ("pearl", "maml-trpo", "rl2-ppo"):
        row = next(line for line in text.splitlines() if line.startswith(name + " "))
        assert "cheetah-fwd-back" in row and "smoke" in row
    for name in ("bare mj_step", "pearl", "maml-trpo", "rl2-ppo"):
        assert r["steps_per_s"][name] > 0
    assert r["fraction_of_bare"]["pearl"] == pytest.approx(r["steps_per_s"]["pearl"] / r["steps_per_s"]["bare mj_step"])
    assert json.loads(out.read_text())[0]["family"] == "cheetah-fwd-back"


@pytest.mark.parametrize("argv", [["--family", "point-robot"], ["--repeats", "0"], ["--methods", "sac"]])
def test_collect_speed_refuses_bad_input_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        collect_speed.main(argv)
    assert exc.value.code == 2
    assert argv[-1] in capsys.readouterr().err


# ---------------------------------------------------------------------------------- vector env
def _step_singles(singles, actions, skip):
    return [None if skip[i] else env.step(actions[i]) for i, env in enumerate(singles)]


@pytest.mark.parametrize("family", ["cheetah-vel", "cheetah-fwd-back"])
def test_batched_cheetah_step_is_bit_identical_to_single_envs_with_done_envs(family):
    tasks = get_family(family).train_tasks[:2] * 2
    venv = TaskVectorEnv(family, tasks, seed=4)
    singles = [make_env(family, task=t).unwrapped for t in tasks]
    obs = venv.reset()
    assert np.array_equal(obs, np.stack([env.reset(seed=4 + i)[0] for i, env in enumerate(singles)]))
    rng = np.random.default_rng(0)
    out_keys: list[str] = []  # the scalar info keys, from env 0 (never done)
    for t in range(30):
        if t == 10:
            venv.done[2] = True  # as if env 2 had terminated: the loop steps the others only
        actions = rng.uniform(-1.3, 1.3, (4, venv.act_dim))  # some outside [-1, 1]: clipped
        skip = venv.done.copy()
        obs, reward, terminated, _, info = venv.step(actions)
        for i, out in enumerate(_step_singles(singles, actions, skip)):
            if out is None:
                assert reward[i] == 0 and not info["active"][i] and all(info[k][i] == 0 for k in out_keys)
                continue
            out_keys = [k for k in out[4] if np.isscalar(out[4][k])]
            assert np.array_equal(obs[i], out[0]) and reward[i] == out[1] and terminated[i] == out[2]
            assert {k: info[k][i] for k in out_keys} == {k: out[4][k] for k in out_keys}


def test_ctrl_cost_is_the_same_for_one_action_and_a_batch():
    from pearl.envs.half_cheetah import CTRL_COST, ctrl_costs

    a = np.random.default_rng(1).uniform(-1, 1, (1000, 6))
    batch = ctrl_costs(a)
    assert all(batch[i] == ctrl_costs(a[i]) for i in range(len(a)))
    np.testing.assert_allclose(batch, CTRL_COST * np.einsum("ij,ij->i", a, a), rtol=1e-14)


def test_vector_env_pool_grows_and_seeds_env_i_with_seed_plus_i_whenever_it_was_made():
    tasks = get_family("cheetah-vel").train_tasks
    whole = TaskVectorEnv("cheetah-vel", tasks[:6], seed=7)
    grown_first = TaskVectorEnv("cheetah-vel", tasks[:2], seed=7)
    grown_first.use_tasks(tasks[:6])  # grown before the first reset
    assert grown_first.num_envs == 6 and grown_first.tasks == tasks[:6]
    assert np.array_equal(whole.reset(), grown_first.reset())

    late = TaskVectorEnv("cheetah-vel", tasks[:2], seed=7)
    late.reset()
    late.use_tasks(tasks[:5])  # grown after seeding: envs 2-4 start from seeds 9-11 at their first reset
    assert late.done.all()
    obs = late.reset()
    fresh = [make_env("cheetah-vel", task=t).unwrapped for t in tasks[2:5]]
    assert np.array_equal(obs[2:], np.stack([env.reset(seed=7 + i)[0] for i, env in enumerate(fresh, start=2)]))

    late.use_tasks(tasks[:3])  # fewer envs step; the pool keeps the rest
    assert late.num_envs == 3 and len(late.envs) == 5 and late.reset().shape == (3, late.obs_dim)
    with pytest.raises(ValueError, match=r"expected \(3, 6\)"):
        late.step(np.zeros((5, 6)))


def test_env_rng_state_restores_a_grown_pool():
    tasks = get_family("cheetah-fwd-back").train_tasks
    venv = TaskVectorEnv("cheetah-fwd-back", tasks[:1], seed=3)
    venv.use_tasks(tasks * 3)
    venv.reset()
    state = venv.rng_state()
    expected = venv.reset()
    resumed = TaskVectorEnv("cheetah-fwd-back", tasks[:1], seed=3)  # a fresh trainer's pool is small
    resumed.set_rng_state(state)
    resumed.use_tasks(tasks * 3)
    assert len(resumed.envs) == 6 and np.array_equal(resumed.reset(), expected)


def test_envs_of_a_vector_env_share_the_model_unless_tasks_change_it():
    cheetah = TaskVectorEnv("cheetah-vel", get_family("cheetah-vel").train_tasks[:3])
    cheetah.use_tasks(get_family("cheetah-vel").train_tasks[:5])
    assert len({id(env.model) for env in cheetah.envs}) == 1
    assert len({id(env.data) for env in cheetah.envs}) == 5
    walker = TaskVectorEnv("walker-params", get_family("walker-params").train_tasks[:3])
    assert len({id(env.model) for env in walker.envs}) == 3
    a, b = make_env("cheetah-vel").unwrapped, make_env("cheetah-vel").unwrapped
    assert a.model is not b.model  # single envs keep their own


# ---------------------------------------------------------------------------------- PEARL lockstep
class _Recorder:
    """Stands in for ``run_episode``: records each lockstep batch and returns episodes of given lengths."""

    def __init__(self, lengths=None):
        self.batches, self.lengths = [], lengths

    def __call__(self, agent, venv, z, layout, **kwargs):
        from pearl.sampler import EpisodeBatch

        n, horizon = venv.num_envs, venv.horizon
        self.batches.append({"tasks": [t for t in venv.tasks], "z": z.clone(), "n": n})
        lengths = np.full(n, horizon) if self.lengths is None else self.lengths(len(self.batches), n, horizon)
        rows = np.zeros((horizon, n, layout.width), dtype=np.float32)
        rows[:, :, 0] = len(self.batches)  # marks the batch an episode came from
        return EpisodeBatch(rows, np.asarray(lengths), np.zeros(n), np.zeros(n))


def _trainer(method="pearl", **overrides):
    from pearl.config import make_config
    from pearl.trainer import PEARLTrainer

    cfg = make_config(method, "cheetah-vel", "smoke", {"max_path_length": 10, "num_initial_steps": 10, **overrides})
    return PEARLTrainer(cfg)


def test_lockstep_round_runs_every_needed_episode_at_once_prior_first_then_posteriors(monkeypatch):
    import pearl.sampler as sampler

    trainer = _trainer()
    c = trainer.collector
    c.collect_initial(10, trainer.rng)
    rec = _Recorder()
    monkeypatch.setattr(sampler, "run_episode", rec)
    draws = []
    real_draw = c._draw_z
    monkeypatch.setattr(
        c, "_draw_z", lambda tasks, prior_z, rng: draws.append(prior_z.tolist()) or real_draw(tasks, prior_z, rng)
    )
    task_ids = np.array([3, 1, 3])  # a task drawn twice gets both copies' data
    prior_added = trainer.rl_buffer.added.copy()
    steps = c.collect_round(task_ids, 20, 0, 30, trainer.rng)  # prior: 2 episodes per task; extra RL: 3
    assert steps == (20 + 30) * 3
    prior, extra = rec.batches
    names = [t["velocity"] for t in (trainer.train_tasks[i] for i in task_ids)]
    # episode-major slots: every task's first episode, then every task's second, ...
    assert [t["velocity"] for t in prior["tasks"]] == names * 2
    assert [t["velocity"] for t in extra["tasks"]] == names * 3
    # prior phase: z ~ prior throughout; extra-RL phase: each task's first episode from the prior, the
    # others from q(z | c), each with its own context batch
    assert draws == [[True] * 6, [True] * 3 + [False] * 6]
    assert not torch.equal(extra["z"][3], extra["z"][6])
    assert (trainer.rl_buffer.added - prior_added)[[1, 3]].tolist() == [50, 100]
    assert trainer.enc_buffer.added[[1, 3]].tolist() == [20, 40]  # the extra-RL phase adds to the RL buffer only


def test_prior_z_for_first_episode_of_a_posterior_phase_and_posterior_after(monkeypatch):
    trainer = _trainer()
    c = trainer.collector
    c.collect_initial(10, trainer.rng)
    calls = []
    real_prior = c.agent.prior
    monkeypatch.setattr(c.agent, "prior", lambda n: calls.append(("prior", n)) or real_prior(n))
    real_post = c.agent.infer_posterior
    monkeypatch.setattr(
        c.agent, "infer_posterior", lambda ctx, *a: calls.append(("posterior", len(ctx))) or real_post(ctx, *a)
    )
    c._draw_z(np.array([0, 1, 0, 1]), np.array([True, True, False, False]), trainer.rng)
    assert calls == [("prior", 2), ("posterior", 2)]


@pytest.mark.parametrize(
    "method, lockstep",
    [("pearl", True), ("pearl-ctx-offpolicy", False), ("pearl-ctx-rlbatch", False), ("pearl-rnn-tran", True)],
)
def test_posterior_episodes_run_side_by_side_only_when_their_context_cannot_change(monkeypatch, method, lockstep):
    import pearl.sampler as sampler

    trainer = _trainer(method)
    trainer.collector.collect_initial(10, trainer.rng)
    rec = _Recorder()
    monkeypatch.setattr(sampler, "run_episode", rec)
    trainer.collector.collect_round(np.array([0, 1]), 10, 20, 30, trainer.rng)
    widths = [b["n"] for b in rec.batches]
    # prior phase: 1 episode each; posterior phase (adds to the context): always one at a time; extra RL: 3 each
    assert widths == [2, 2, 2] + ([6] if lockstep else [2, 2, 2])


def test_episodes_that_end_early_are_topped_up_by_the_next_lockstep_round(monkeypatch):
    import pearl.sampler as sampler

    trainer = _trainer()
    trainer.collector.collect_initial(10, trainer.rng)
    rec = _Recorder(lengths=lambda batch, n, horizon: np.full(n, 4) if batch == 1 else np.full(n, horizon))
    monkeypatch.setattr(sampler, "run_episode", rec)
    added = trainer.rl_buffer.added.copy()
    steps = trainer.collector.collect_round(np.array([0, 2]), 30, 0, 0, trainer.rng)
    # 3 episodes each of 4 steps = 12 < 30 -> ceil(18 / 10) = 2 more each (12 + 20 = 32 >= 30)
    assert [b["n"] for b in rec.batches] == [6, 4]
    assert steps == 2 * 32 and (trainer.rl_buffer.added - added)[[0, 2]].tolist() == [32, 32]


def test_lockstep_width_is_capped(monkeypatch):
    import pearl.sampler as sampler

    monkeypatch.setattr(sampler, "MAX_LOCKSTEP_ENVS", 4)
    trainer = _trainer()
    rec = _Recorder()
    monkeypatch.setattr(sampler, "run_episode", rec)
    trainer.collector.collect_initial(30, trainer.rng)  # 4 train tasks x 3 episodes, 4 at a time
    assert [b["n"] for b in rec.batches] == [4, 4, 4]


def test_pearl_collection_is_seeded_and_resumes_exactly_with_a_grown_pool(tmp_path):
    from pearl.config import make_config
    from pearl.core.logger import MemoryLogger
    from pearl.trainer import train

    cfg = make_config(
        "pearl",
        "cheetah-vel",
        "smoke",
        {
            "num_iterations": 3,
            "checkpoint_every": 1,
            "num_steps_prior": 20,
            "num_extra_rl_steps_posterior": 30,
            "num_initial_steps": 20,
        },
    )
    runs = []
    for _ in range(2):
        log = MemoryLogger()
        train(cfg, log)
        runs.append({k: v for k, v in log.scalars.items() if not k.startswith("time/")})
    assert runs[0] == runs[1]
    train(cfg, MemoryLogger(), tmp_path, stop_after=1)
    log = MemoryLogger()
    summary = train(cfg, log, tmp_path)
    assert summary["resumed_from_iteration"] == 1
    for name, values in log.scalars.items():
        if not name.startswith("time/"):
            assert values == [v for v in runs[0][name] if v[0] > runs[0]["env_steps"][0][0]], name


# ---------------------------------------------------------------------------------- RL2 acting step
def test_rl2_step_equals_the_gru_modules_and_trials_are_unmasked_exactly_when_all_envs_step():
    from baselines import gaussian
    from baselines.policies import GRUPolicyValue
    from baselines.rollouts import sample_trials

    venv = TaskVectorEnv("cheetah-fwd-back", get_family("cheetah-fwd-back").train_tasks * 2, seed=0)
    venv.horizon = 15
    torch.manual_seed(0)
    model = GRUPolicyValue(venv.obs_dim + venv.act_dim + 2, venv.act_dim, 16)
    trials = sample_trials(venv, model, 2)
    h = model.initial_state(4)
    with torch.no_grad():
        for t in range(len(trials.inputs)):
            x = trials.inputs[t].unsqueeze(0)
            out_pi, h_pi = model.pi_gru(x, h[0:1].contiguous())
            out_v, h_v = model.v_gru(x, h[1:2].contiguous())
            h = torch.cat([h_pi, h_v], 0)
            mean, log_std = model.mean_head(out_pi[0]), gaussian.floor_log_std(model.log_std)
            assert torch.equal(model.value_head(out_v[0]).squeeze(-1), trials.values[t])
            assert torch.equal(gaussian.log_likelihood(trials.actions[t], mean, log_std), trials.logp[t])
    assert trials.mask.all() and trials.episode_start.sum(0).tolist() == [2] * 4
