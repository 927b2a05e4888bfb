"""Unit tests of PEARL's pieces: encoder (eqs. 1-2), gradient routing, buffers and context samplers, config."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pearl.buffers import BatchSampler, Layout, MultiTaskReplayBuffer
from pearl.config import METHODS, PEARLConfig, make_config
from pearl.core.configs import PROFILES
from pearl.encoder import (
    DeterministicEncoder,
    GaussianProductEncoder,
    Posterior,
    RecurrentEncoder,
    product_of_gaussians,
)
from pearl.envs import FAMILIES
from pearl.networks import MLP, output_layer
from pearl.sac import PEARLAgent, PEARLLearner
from pearl.sampler import run_episode

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------- encoder
def test_product_of_gaussians_matches_closed_form():
    """The product of Gaussian factors is N(mu, var) up to a constant: check densities at many z."""
    g = torch.Generator().manual_seed(0)
    mu_n = torch.randn(3, 7, 4, generator=g, dtype=torch.float64)
    var_n = torch.rand(3, 7, 4, generator=g, dtype=torch.float64) + 0.1
    mu, var = product_of_gaussians(mu_n, var_n)
    # closed form for independent dims
    expected_var = 1.0 / (1.0 / var_n).sum(1)
    torch.testing.assert_close(var, expected_var)
    torch.testing.assert_close(mu, expected_var * (mu_n / var_n).sum(1))

    # sum_n log N(z; mu_n, var_n) - log N(z; mu, var) must not depend on z
    def log_normal(z, m, v):
        return -0.5 * (z - m) ** 2 / v - 0.5 * torch.log(2 * math.pi * v)

    zs = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    diffs = torch.stack([log_normal(z[:, None], mu_n, var_n).sum(1) - log_normal(z, mu, var) for z in zs])
    torch.testing.assert_close(diffs, diffs[:1].expand_as(diffs))
    # a single factor is returned unchanged; a mask drops factors
    m1, v1 = product_of_gaussians(mu_n[:, :1], var_n[:, :1])
    torch.testing.assert_close(m1, mu_n[:, 0])
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[:, :2] = True
    torch.testing.assert_close(product_of_gaussians(mu_n, var_n, mask), product_of_gaussians(mu_n[:, :2], var_n[:, :2]))


@pytest.mark.parametrize("cls", [GaussianProductEncoder, DeterministicEncoder])
def test_encoder_is_permutation_invariant(cls):
    torch.manual_seed(0)
    enc = cls(context_dim=6, latent_dim=3, hidden=16, num_layers=2)
    context = torch.randn(4, 10, 6)
    perm = torch.randperm(10)
    a, b = enc(context), enc(context[:, perm])
    torch.testing.assert_close(a.mean, b.mean)
    if a.var is not None:
        torch.testing.assert_close(a.var, b.var)
        assert (a.var > 0).all()
    # padding with masked-out rows changes nothing
    padded = torch.cat([context, torch.randn(4, 5, 6)], 1)
    mask = torch.arange(15)[None].expand(4, -1) < 10
    torch.testing.assert_close(enc(padded, mask).mean, a.mean)


def test_recurrent_encoder_order_sensitive_and_masked():
    torch.manual_seed(0)
    enc = RecurrentEncoder(context_dim=6, latent_dim=3, hidden=16, num_layers=2)
    context = torch.randn(2, 8, 6)
    post = enc(context)
    assert post.mean.shape == (2, 3) and (post.var > 0).all()
    assert not torch.allclose(enc(context.flip(1)).mean, post.mean)  # order matters for a GRU
    padded = torch.cat([context, torch.randn(2, 4, 6)], 1)
    mask = torch.arange(12)[None].expand(2, -1) < 8
    torch.testing.assert_close(enc(padded, mask).mean, post.mean)


def test_kl_to_unit_gaussian():
    mean = torch.tensor([[0.5, -1.0, 0.0]])
    var = torch.tensor([[0.3, 2.0, 1.0]])
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, var.sqrt()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(Posterior(mean, var).kl_to_prior(), expected)
    assert float(Posterior(torch.zeros(1, 3), torch.ones(1, 3)).kl_to_prior()) == 0.0
    assert float(Posterior(mean, None).kl_to_prior()) == 0.0  # deterministic: no KL


def test_rsample_is_reparameterised():
    mean = torch.zeros(2, 3, requires_grad=True)
    var = torch.ones(2, 3, requires_grad=True)
    Posterior(mean, var).rsample().sum().backward()
    assert mean.grad is not None and var.grad is not None


# ---------------------------------------------------------------------------------- gradient routing
def _learner(encoder_type="gaussian", kl_lambda=0.1, precision="float32"):
    torch.manual_seed(0)
    agent = PEARLAgent(
        obs_dim=3,
        act_dim=2,
        context_dim=6,
        encoder_type=encoder_type,
        latent_size=2,
        net_size=16,
        num_hidden_layers=2,
        encoder_hidden=16,
        encoder_hidden_layers=2,
    )
    learner = PEARLLearner(
        agent,
        policy_lr=1e-3,
        qf_lr=1e-3,
        vf_lr=1e-3,
        context_lr=1e-3,
        discount=0.99,
        reward_scale=5.0,
        kl_lambda=kl_lambda,
        soft_target_tau=0.005,
        policy_mean_reg_weight=1e-3,
        policy_std_reg_weight=1e-3,
        precision=precision,
    )
    return agent, learner


def _random_batch(rng, tasks=3, batch=8, ctx=5):
    from pearl.buffers import Batch

    def f(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return Batch(
        obs=f(tasks, batch, 3),
        action=np.tanh(f(tasks, batch, 2)),
        reward=f(tasks, batch),
        terminal=(rng.random((tasks, batch)) < 0.2).astype(np.float32),
        next_obs=f(tasks, batch, 3),
        context=f(tasks, ctx, 6),
    )


def _grad_norm(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return sum(0.0 if g is None else float(g.abs().sum()) for g in grads)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("encoder_type", ["gaussian", "gru", "deterministic"])
def test_encoder_gradients_come_from_critic_and_kl_only(encoder_type, precision):
    agent, learner = _learner(encoder_type, precision=precision)
    out = learner.losses(_random_batch(np.random.default_rng(0)))
    enc = list(agent.encoder.parameters())
    assert _grad_norm(out["qf_loss"], enc) > 0
    if encoder_type == "deterministic":
        assert not out["kl_loss"].requires_grad or _grad_norm(out["kl_loss"], enc) == 0
    else:
        assert _grad_norm(out["kl_loss"], enc) > 0
    vf_loss, policy_loss = learner.actor_losses(out)
    assert _grad_norm(policy_loss, enc) == 0  # actor sees z detached
    assert _grad_norm(vf_loss, enc) == 0  # V sees z detached
    # the actor loss must not train the critic, and the critic loss must not train the actor
    assert _grad_norm(policy_loss, list(agent.policy.parameters())) > 0
    assert _grad_norm(out["qf_loss"], list(agent.policy.parameters())) == 0
    assert _grad_norm(vf_loss, list(agent.qf.parameters())) == 0


def test_bfloat16_autocast_keeps_outputs_float32_and_losses_close():
    batch = _random_batch(np.random.default_rng(2), tasks=4, batch=64, ctx=32)
    results = {}
    for precision in ("float32", "bfloat16"):
        agent, learner = _learner(precision=precision)
        torch.manual_seed(1)
        out = learner.losses(batch)
        vf_loss, policy_loss = learner.actor_losses(out)
        for name in ("v_pred", "log_pi", "mean", "log_std"):
            assert out[name].dtype == torch.float32, (precision, name)
        assert out["posterior"].mean.dtype == out["posterior"].var.dtype == torch.float32
        results[precision] = torch.stack([out["qf_loss"], out["kl_loss"], vf_loss, policy_loss]).detach()
    # same weights, same noise: bf16 hidden layers change the losses by rounding only (but they do change)
    assert not torch.equal(results["bfloat16"], results["float32"])
    torch.testing.assert_close(results["bfloat16"], results["float32"], rtol=3e-2, atol=1e-3)
    with pytest.raises(ValueError, match=r"unknown precision 'float16'.*float32, bfloat16"):
        _learner(precision="float16")


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_mlp_in_place_bias_and_relu_match_the_textbook_layers(precision):
    """``MLP.features`` adds the bias and applies the ReLU in place on each product (CPU, float32):
    outputs and gradients must equal ``relu(layer(x))`` layer by layer (autograd would refuse an unsafe
    in-place op); under bf16 autocast it keeps ``addmm`` + ReLU, equal as well."""
    torch.manual_seed(0)
    mlp = MLP(7, 3, hidden=16, num_layers=3)
    x = torch.randn(4, 5, 7, requires_grad=True)

    def textbook(x):
        for layer in mlp.hidden:
            x = F.relu(layer(x))
        return output_layer(mlp.last, x)

    results = []
    for forward in (mlp, textbook):
        mlp.zero_grad()
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            out = forward(x)
        out.square().sum().backward()
        results.append([out.detach(), x.grad] + [p.grad for p in mlp.parameters()])
    for fast, reference in zip(*results):  # bf16 autocast keeps addmm + ReLU: the same ops, equal too
        torch.testing.assert_close(fast, reference)


def test_update_steps_every_network_and_polyak_target():
    agent, learner = _learner()
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    losses = learner.update(_random_batch(np.random.default_rng(1)))
    assert losses.shape == (4,) and torch.isfinite(losses).all()
    after = agent.state_dict()
    for prefix in ("encoder.", "policy.", "qf.", "vf.", "target_vf."):
        assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith(prefix)), prefix
    # target V moved by tau towards V: target_new = (1 - tau) * target_old + tau * v_new
    k = "vf.net.last.bias"
    torch.testing.assert_close(after["target_" + k], 0.995 * before["target_" + k] + 0.005 * after[k])


# ---------------------------------------------------------------------------------- buffers
LAYOUT = Layout(obs_dim=2, act_dim=1)


def _rows(n, start=0, reward=0.0, sparse=0.0):
    idx = np.arange(start, start + n, dtype=np.float32)
    return LAYOUT.rows(
        np.stack([idx, idx], 1),
        np.zeros((n, 1)),
        np.full(n, reward),
        np.full(n, sparse),
        np.zeros(n),
        np.stack([idx + 1, idx + 1], 1),
    )


def test_ring_buffer_growth_wrap_and_order():
    buf = MultiTaskReplayBuffer(2, LAYOUT, capacity=10, initial_slots=4)
    buf.add(0, _rows(3))
    buf.add(1, _rows(4, start=100))  # task 1 exactly fills the initial slots
    buf.add(0, _rows(5, start=3))  # grows
    assert buf.size.tolist() == [8, 4]
    np.testing.assert_array_equal(buf.all_rows(1)[:, 0], np.arange(100, 104))
    buf.add(1, _rows(2, start=104))  # task 1 keeps its order after growth
    np.testing.assert_array_equal(buf.all_rows(1)[:, 0], np.arange(100, 106))
    buf.add(0, _rows(7, start=8))  # wraps: keeps the newest 10
    assert buf.size[0] == 10
    np.testing.assert_array_equal(buf.all_rows(0)[:, 0], np.arange(5, 15))
    rng = np.random.default_rng(0)
    sample = buf.sample_transitions(np.array([0, 1]), 500, rng)
    assert set(sample[0, :, 0].tolist()) == set(range(5, 15))
    assert set(sample[1, :, 0].tolist()) == set(range(100, 106))
    buf.clear([0])
    with pytest.raises(RuntimeError, match="empty"):
        buf.sample_transitions(np.array([0]), 1, rng)
    state = buf.state_dict()
    other = MultiTaskReplayBuffer(2, LAYOUT, capacity=10)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.all_rows(1), buf.all_rows(1))


def test_trajectories_start_at_episode_starts_and_skip_overwritten_episodes():
    buf = MultiTaskReplayBuffer(2, LAYOUT, capacity=10, initial_slots=4)
    buf.add(0, _rows(3))  # episode 0-2
    buf.add(0, _rows(5, start=3))  # episode 3-7
    buf.add(0, _rows(7, start=8))  # episode 8-14: the ring keeps 5-14, so 3-7 is no longer whole
    buf.add(1, _rows(4, start=100))
    buf.add(1, _rows(2, start=104))
    starts, lengths = buf.stored_episodes(0)
    assert starts.tolist() == [8] and lengths.tolist() == [7]
    rng = np.random.default_rng(0)
    rows = buf.sample_trajectories(np.array([0, 1, 1]), 10, rng)[..., 0]
    np.testing.assert_array_equal(rows[0], [8, 9, 10, 11, 12, 13, 14, 8, 9, 10])  # across the wrap, then again
    for seq in rows[1:]:  # task 1: episodes 100-103 and 104-105, each read from its start
        assert _episode_runs(seq, starts=(100, 104)), seq
    other = MultiTaskReplayBuffer(2, LAYOUT, capacity=10)
    other.load_state_dict(buf.state_dict())
    assert other.stored_episodes(1)[0].tolist() == [0, 4]
    buf.clear([1])
    buf.add(1, _rows(3, start=200))
    assert buf.stored_episodes(1)[0].tolist() == [0]


def _episode_runs(seq, starts) -> bool:
    """True if ``seq`` is consecutive runs, each beginning at one of ``starts``."""
    return seq[0] in starts and all(b == a + 1 or b in starts for a, b in zip(seq[:-1], seq[1:]))


def _sampler(context_source, sequence=False, rl_mode="transitions", sparse=False):
    rl = MultiTaskReplayBuffer(2, LAYOUT, 1000)
    enc = MultiTaskReplayBuffer(2, LAYOUT, 1000)
    for task in range(2):
        rl.add(task, _rows(50, start=0, reward=1.0, sparse=0.0))  # "old" data: reward 1
        recent = _rows(20, start=50, reward=2.0, sparse=0.5)  # "recent" data: reward 2
        rl.add(task, recent)
        enc.add(task, recent)
    return BatchSampler(
        rl,
        enc,
        context_source=context_source,
        sequence_context=sequence,
        rl_batch_mode=rl_mode,
        batch_size=40,
        embedding_batch_size=10,
        use_next_obs=False,
        sparse_rewards=sparse,
    )


def test_context_sampler_semantics():
    rng = np.random.default_rng(0)
    tasks = np.array([0, 1, 1])
    # PEARL: context only from the recent (enc) buffer; RL batch from the whole buffer
    b = _sampler("recent").sample(tasks, rng)
    assert b.context.shape == (3, 10, 2 + 1 + 1)
    assert (b.context[..., -1] == 2.0).all()
    assert (b.reward == 1.0).any() and (b.reward == 2.0).any()
    # off-policy ablation: context from the whole RL buffer, a separate draw
    b = _sampler("replay").sample(tasks, rng)
    assert (b.context[..., -1] == 1.0).any()
    assert not np.array_equal(b.context[..., 0], b.obs[:, :10, 0])
    # RL-batch ablation: the context is the RL batch itself
    b = _sampler("rl-batch").sample(tasks, rng)
    np.testing.assert_array_equal(b.context[..., :2], b.obs)
    np.testing.assert_array_equal(b.context[..., -1], b.reward)
    # sparse rewards: context reward is the sparse one, RL reward stays dense
    b = _sampler("recent", sparse=True).sample(tasks, rng)
    assert (b.context[..., -1] == 0.5).all() and (b.reward != 0.5).all()
    # RNN: the context is a whole recent trajectory from its first step (Section 6.3), cut at 10 steps
    b = _sampler("recent", sequence=True).sample(tasks, rng)
    np.testing.assert_array_equal(b.context[..., 0], np.tile(np.arange(50, 60), (3, 1)))
    # RNN-traj: the RL batch is whole trajectories (episodes 0-49 and 50-69) adding up to 40 rows
    b = _sampler("recent", sequence=True, rl_mode="trajectories").sample(tasks, rng)
    assert b.obs.shape == (3, 40, 2)
    assert all(_episode_runs(seq, starts=(0, 50)) for seq in b.obs[..., 0])


# ---------------------------------------------------------------------------------- terminals
class _StubVecEnv:
    """Two envs, horizon 5; env 0 terminates at its 3rd step."""

    num_envs, horizon, obs_dim, act_dim = 2, 5, 2, 1

    def reset(self):
        self.t = 0
        self.done = np.zeros(2, dtype=bool)
        return np.zeros((2, 2), dtype=np.float32)

    def step(self, actions):
        active = ~self.done
        self.t += 1
        terminated = np.array([self.t == 3, False]) & active
        truncated = active & ~terminated & (self.t >= self.horizon)
        self.done |= terminated | truncated
        obs = np.full((2, 2), self.t, dtype=np.float32)
        return obs, active * 1.0, terminated, truncated, {"active": active}


def test_terminal_transitions_are_kept_and_truncation_is_not_terminal():
    agent_small = PEARLAgent(2, 1, 4, "gaussian", 2, 8, 1, 8, 1)
    ep = run_episode(agent_small, _StubVecEnv(), torch.zeros(2, 2), LAYOUT)
    assert ep.lengths.tolist() == [3, 5]
    assert ep.env_rows(0)[:, LAYOUT.terminal].tolist() == [0, 0, 1]  # the terminal step is stored
    assert ep.env_rows(1)[:, LAYOUT.terminal].tolist() == [0] * 5  # time-limit truncation is not terminal
    assert ep.returns.tolist() == [3.0, 5.0]


# ---------------------------------------------------------------------------------- config
def test_every_method_family_profile_builds_and_round_trips():
    for method in METHODS:
        for family in FAMILIES:
            for profile in PROFILES:
                cfg = make_config(method, family, profile)
                again = PEARLConfig.from_dict(cfg.to_dict())
                assert again == cfg


# what defines PEARL's trade-offs (Algorithm 1): the quick profile may not change any of these
PEARL_RATIOS = (
    "meta_batch",
    "num_train_steps_per_itr",
    "num_initial_steps",
    "num_tasks_sample",
    "num_steps_prior",
    "num_steps_posterior",
    "num_extra_rl_steps_posterior",
    "embedding_batch_size",
    "kl_lambda",
    "reward_scale",
    "discount",
    "sparse_rewards",
    "use_next_obs_in_context",
)


@pytest.mark.parametrize("family", FAMILIES)
def test_quick_profile_keeps_pearls_ratios_and_shrinks_only_width_batch_and_iterations(family):
    paper, quick = make_config("pearl", family, "paper"), make_config("pearl", family, "quick")
    assert {k: getattr(quick.algo, k) for k in PEARL_RATIOS} == {k: getattr(paper.algo, k) for k in PEARL_RATIOS}
    a = quick.algo
    run_steps = a.num_initial_steps + a.num_iterations * a.num_tasks_sample * (
        a.num_steps_prior + a.num_steps_posterior + a.num_extra_rl_steps_posterior
    )
    assert a.replay_buffer_size >= run_steps  # nothing a task collects is ever overwritten
    assert (quick.net.net_size, quick.net.encoder_hidden, a.batch_size) < (
        paper.net.net_size,
        paper.net.encoder_hidden,
        paper.algo.batch_size,
    )
    assert a.num_iterations < paper.algo.num_iterations
    assert (quick.net.latent_size, quick.net.num_hidden_layers) == (paper.net.latent_size, paper.net.num_hidden_layers)


def test_family_presets_and_method_switches():
    sparse = make_config("pearl", "sparse-point-robot")
    assert (sparse.algo.discount, sparse.algo.embedding_batch_size, sparse.algo.sparse_rewards) == (0.9, 1024, True)
    assert (sparse.algo.num_steps_posterior, sparse.eval.num_exp_traj_eval, sparse.algo.kl_lambda) == (900, 5, 1.0)
    vel = make_config("pearl", "cheetah-vel")
    assert (vel.algo.meta_batch, vel.algo.num_extra_rl_steps_posterior, vel.algo.embedding_batch_size) == (16, 600, 100)
    assert make_config("pearl", "walker-params").algo.use_next_obs_in_context
    assert make_config("pearl", "ant-goal-2d").algo.kl_lambda == 1.0
    assert make_config("pearl-rnn-traj", "cheetah-vel").rl_batch_mode == "trajectories"
    assert make_config("pearl-rnn-tran", "cheetah-vel").encoder_type == "gru"
    assert make_config("pearl-ctx-offpolicy", "cheetah-vel").context_source == "replay"
    assert make_config("pearl-ctx-rlbatch", "cheetah-vel").context_source == "rl-batch"
    assert make_config("pearl-deterministic", "cheetah-vel").encoder_type == "deterministic"
    cfg = make_config("pearl", "point-robot", "smoke", {"kl_lambda": 0.5, "net.latent_size": 3, "seed": 4})
    assert (cfg.algo.kl_lambda, cfg.net.latent_size, cfg.seed) == (0.5, 3, 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="maml"), "unknown method 'maml'.*pearl-rnn-tran"),
        (dict(family="cheetah-dir"), "unknown family 'cheetah-dir'.*cheetah-fwd-back"),
        (dict(profile="huge"), "unknown profile 'huge'.*smoke"),
        (dict(overrides={"kl_lamda": 1.0}), "unknown override key 'kl_lamda'.*kl_lambda"),
        (dict(overrides={"net.kl_lambda": 1.0}), "unknown override key 'net.kl_lambda'"),
        (dict(overrides={"method": "pearl"}), "unknown override key 'method'"),
        (dict(overrides={"meta_batch": 0}), "meta_batch must be a positive integer"),
        (dict(overrides={"discount": 1.5}), "discount must be in"),
    ],
)
def test_bad_config_input_raises_value_error(kwargs, match):
    args = dict(method="pearl", family="point-robot", profile="smoke")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_config(**args)


def test_from_dict_rejects_unknown_keys():
    d = make_config("pearl", "point-robot", "smoke").to_dict()
    d["algo"]["bogus"] = 1
    with pytest.raises(ValueError, match="algo.bogus"):
        PEARLConfig.from_dict(d)
