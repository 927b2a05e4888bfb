"""Unit tests of the baselines' math: meta-gradients, CG, TRPO, ProMP/LVC, GAE, linear baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines import gaussian
from baselines.advantages import LinearFeatureBaseline, discounted_returns, gae, normalize_per_group, time_index
from baselines.cg import conjugate_gradient
from baselines.maml import (
    KLHessian,
    TaskBatch,
    adapt,
    adaptation_chain,
    inner_loss,
    outer_surrogate_and_kl,
    trpo_meta_step,
)
from baselines.policies import GaussianMLPPolicy
from baselines.promp import adapt_kl_coeffs, clipped_surrogate, promp_objective

torch.set_num_threads(1)


def _batch(K=2, N=6, obs_dim=3, act_dim=2, seed=0, policy=None, params=None, dtype=torch.float64) -> TaskBatch:
    """Hand-made per-task data; behaviour distribution = ``policy`` at ``params`` when given."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(K, N, obs_dim, generator=g, dtype=dtype)
    actions = torch.randn(K, N, act_dim, generator=g, dtype=dtype)
    adv = torch.randn(K, N, generator=g, dtype=dtype)
    mask = torch.ones(K, N, dtype=dtype)
    mask[1, -2:] = 0.0  # task 1 has two padded samples
    adv = adv * mask
    if policy is not None:
        with torch.no_grad():
            mean, log_std = policy.forward_batched(params or policy.per_task(K), obs)
    else:
        mean, log_std = torch.zeros(K, N, act_dim, dtype=dtype), torch.zeros(K, 1, act_dim, dtype=dtype)
    logp = gaussian.log_likelihood(actions, mean, log_std)
    return TaskBatch(
        obs=obs,
        actions=actions,
        adv=adv,
        mask=mask,
        logp_old=logp,
        mean_old=mean,
        log_std_old=log_std.expand(K, 1, act_dim).clone(),
    )


def _linear_policy(obs_dim=3, act_dim=2, seed=0) -> GaussianMLPPolicy:
    torch.manual_seed(seed)
    policy = GaussianMLPPolicy(obs_dim, act_dim, hidden_sizes=(), init_log_std=-0.3).double()
    with torch.no_grad():
        policy.layers[0].bias.normal_(0, 0.3)
    return policy


# ---- Gaussian helpers -------------------------------------------------------------------------
def test_gaussian_log_likelihood_and_kl_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    a, m1, m2 = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3))
    s1, s2 = (0.3 * torch.randn(3, generator=g, dtype=torch.float64) for _ in range(2))
    d1 = torch.distributions.Normal(m1, s1.exp())
    d2 = torch.distributions.Normal(m2, s2.exp())
    torch.testing.assert_close(gaussian.log_likelihood(a, m1, s1), d1.log_prob(a).sum(-1))
    torch.testing.assert_close(
        gaussian.kl(m1, s1, m2, s2), torch.distributions.kl_divergence(d1, d2).sum(-1), rtol=1e-6, atol=1e-7
    )
    assert gaussian.floor_log_std(torch.tensor([-20.0])).item() == pytest.approx(math.log(1e-6))


# ---- MAML meta-gradient vs finite differences --------------------------------------------------
@pytest.mark.parametrize("kind", ["log_likelihood", "likelihood_ratio"])
@pytest.mark.parametrize("steps", [1, 2])
def test_maml_meta_gradient_matches_finite_differences(kind, steps):
    """d/dtheta of the post-update surrogate through the inner step(s), on a linear-Gaussian policy."""
    policy = _linear_policy()
    inner = [_batch(seed=10 + s, policy=policy) for s in range(steps)]
    post = _batch(seed=99, policy=policy)
    alpha = 0.3

    def objective(flat: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for name, p in policy.named_parameters():
            params[name] = flat[i : i + p.numel()].view_as(p)
            i += p.numel()
        chain = adaptation_chain(policy, inner, alpha, kind, create_graph=True, params=params)
        loss, *_ = outer_surrogate_and_kl(policy, chain[-1], post)
        return loss

    theta = torch.cat([p.detach().reshape(-1) for p in policy.parameters()]).requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(theta), theta)
    eps = 1e-6
    numeric = torch.zeros_like(theta)
    with torch.no_grad():
        for i in range(theta.numel()):
            e = torch.zeros_like(theta)
            e[i] = eps
            numeric[i] = (objective(theta + e) - objective(theta - e)) / (2 * eps)
    torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-7)


def test_inner_step_is_the_same_for_both_losses_but_meta_gradients_differ():
    """Same first derivative at theta_o (same adapted params); different second-order terms."""
    policy = _linear_policy()
    pre = _batch(seed=3, policy=policy)
    post = _batch(seed=4, policy=policy)
    steps = {
        kind: adapt(policy, policy.per_task(2), pre, 0.5, kind, create_graph=False)
        for kind in ("log_likelihood", "likelihood_ratio")
    }
    for name in steps["log_likelihood"]:
        torch.testing.assert_close(steps["log_likelihood"][name], steps["likelihood_ratio"][name])
    grads = {}
    for kind in steps:
        policy.zero_grad()
        chain = adaptation_chain(policy, [pre], 0.5, kind)
        outer_surrogate_and_kl(policy, chain[-1], post)[0].backward()
        grads[kind] = torch.cat([p.grad.reshape(-1) for p in policy.parameters()])
    assert not torch.allclose(grads["log_likelihood"], grads["likelihood_ratio"])


def test_per_task_adaptation_equals_adapting_each_task_alone():
    policy = _linear_policy()
    batch = _batch(K=3, seed=5, policy=policy)
    together = adapt(policy, policy.per_task(3), batch, 0.2, "likelihood_ratio", create_graph=False)
    for k in range(3):
        single = TaskBatch(*(getattr(batch, f)[k : k + 1] for f in TaskBatch.__dataclass_fields__))
        alone = adapt(policy, policy.per_task(1), single, 0.2, "likelihood_ratio", create_graph=False)
        for name in together:
            torch.testing.assert_close(together[name][k], alone[name][0])


# ---- conjugate gradient and TRPO -----------------------------------------------------------------
def test_conjugate_gradient_solves_spd_system():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(8, 8, generator=g, dtype=torch.float64)
    A = M @ M.T + 0.5 * torch.eye(8, dtype=torch.float64)
    b = torch.randn(8, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, iters=8)  # exact in n iterations (up to rounding)
    torch.testing.assert_close(x, torch.linalg.solve(A, b), rtol=1e-8, atol=1e-8)


def test_kl_hessian_vector_product_equals_double_backprop_hessian():
    """Gauss-Newton J^T F J at theta_o equals the exact Hessian of KLbar(theta) through the inner step."""
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(3, 2, hidden_sizes=(5,), init_log_std=-0.2).double()
    pre = _batch(seed=1, policy=policy)
    chain = adaptation_chain(policy, [pre], 0.4, "log_likelihood", create_graph=False)
    post = _batch(seed=2, policy=policy, params=chain[-1])  # sampled by the adapted policies
    theta = list(policy.parameters())
    chain = adaptation_chain(policy, [pre], 0.4, "log_likelihood", create_graph=True)
    loss, kl, mean, log_std, _ = outer_surrogate_and_kl(policy, chain[-1], post)
    assert kl.item() == pytest.approx(0.0, abs=1e-12)
    hvp = KLHessian(theta, mean, log_std, post.mask, damping=0.0)
    grad_kl = torch.autograd.grad(kl, theta, create_graph=True)
    v = torch.randn(sum(p.numel() for p in theta), dtype=torch.float64)
    vs, i = [], 0
    for p in theta:
        vs.append(v[i : i + p.numel()].view_as(p))
        i += p.numel()
    gauss_newton = hvp(v)
    exact = torch.autograd.grad(grad_kl, theta, grad_outputs=vs)
    exact = torch.cat([e.reshape(-1) for e in exact])
    torch.testing.assert_close(gauss_newton, exact, rtol=1e-5, atol=1e-8)


def test_trpo_step_satisfies_kl_constraint_and_improves_the_surrogate():
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(3, 2, hidden_sizes=(8,)).double()
    pre = _batch(K=3, N=20, seed=1, policy=policy)
    with torch.no_grad():
        theta_prime = adaptation_chain(policy, [pre], 0.1, "log_likelihood", create_graph=False)[-1]
    post = _batch(K=3, N=20, seed=2, policy=policy, params=theta_prime)
    before = [p.detach().clone() for p in policy.parameters()]
    max_kl = 0.01
    info = trpo_meta_step(policy, [pre], post, 0.1, "log_likelihood", max_kl=max_kl)
    assert info["ratio_dev_at_start"] < 1e-10
    assert info["accepted"] == 1.0
    chain = adaptation_chain(policy, [pre], 0.1, "log_likelihood", create_graph=False)
    loss, kl, *_ = outer_surrogate_and_kl(policy, chain[-1], post)
    assert 0 < kl.item() <= max_kl
    assert loss.item() < info["loss_before"]
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_trpo_step_reverts_when_no_step_is_acceptable():
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(3, 2, hidden_sizes=(8,)).double()
    pre = _batch(seed=1, policy=policy)
    post = _batch(
        seed=2, policy=policy, params=adaptation_chain(policy, [pre], 0.1, "log_likelihood", create_graph=False)[-1]
    )
    post.adv.zero_()  # the surrogate cannot decrease: every candidate is rejected
    before = [p.detach().clone() for p in policy.parameters()]
    info = trpo_meta_step(policy, [pre], post, 0.1, "log_likelihood", max_kl=0.01, max_backtracks=3)
    assert info["accepted"] == 0.0
    for a, b in zip(before, policy.parameters()):
        assert torch.equal(a, b)


# ---- ProMP / LVC ---------------------------------------------------------------------------------
def test_clipped_surrogate_on_hand_made_ratios():
    ratio = torch.tensor([[1.5, 1.5, 0.5, 0.5, 1.0]], dtype=torch.float64)
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0, 2.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    logp_old = torch.zeros_like(ratio)
    value = clipped_surrogate(torch.log(ratio), logp_old, adv, mask, clip_eps=0.3)
    # min(r A, clip(r) A): 1.3, -1.5, 0.5, -0.7; the padded entry does not count
    assert value.item() == pytest.approx((1.3 - 1.5 + 0.5 - 0.7) / 4)


def test_lvc_inner_loss_equals_its_definition():
    policy = _linear_policy()
    batch = _batch(seed=7)  # behaviour: N(0, 1), so the ratio is not 1
    mean, log_std = policy.forward_batched(policy.per_task(2), batch.obs)
    logp = gaussian.log_likelihood(batch.actions, mean, log_std)
    expected = -((torch.exp(logp - batch.logp_old) * batch.adv * batch.mask).sum(1) / batch.mask.sum(1))
    torch.testing.assert_close(inner_loss(policy, policy.per_task(2), batch, "likelihood_ratio"), expected)
    expected_ll = -((logp * batch.adv * batch.mask).sum(1) / batch.mask.sum(1))
    torch.testing.assert_close(inner_loss(policy, policy.per_task(2), batch, "log_likelihood"), expected_ll)


def _numpy_promp_loss(W, b, log_std, pre, post, alpha, eps, eta):
    """ProMP's objective from its definition, for a linear-Gaussian policy, in numpy (one inner step)."""
    K = pre.obs.shape[0]
    total_clip, total_kl = 0.0, 0.0
    for k in range(K):
        s, a, A, m = (x[k].numpy() for x in (pre.obs, pre.actions, pre.adv, pre.mask))
        sigma = np.exp(log_std)
        mu = s @ W.T + b
        logp = (-0.5 * ((a - mu) / sigma) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
        ratio = np.exp(logp - pre.logp_old[k].numpy())
        # grad of J^LR = mean_t ratio_t A_t dlogpi_t  (d ratio = ratio dlogpi)
        c = ratio * A * m / m.sum()
        dmu = (a - mu) / sigma**2  # dlogpi/dmu
        gW = (c[:, None] * dmu).T @ s
        gb = (c[:, None] * dmu).sum(0)
        gls = (c[:, None] * (((a - mu) / sigma) ** 2 - 1)).sum(0)
        W2, b2, ls2 = W + alpha * gW, b + alpha * gb, log_std + alpha * gls
        # clipped surrogate on post-update data
        s2, a2, A2, m2 = (x[k].numpy() for x in (post.obs, post.actions, post.adv, post.mask))
        mu2 = s2 @ W2.T + b2
        logp2 = (-0.5 * ((a2 - mu2) / np.exp(ls2)) ** 2 - ls2 - 0.5 * np.log(2 * np.pi)).sum(-1)
        r2 = np.exp(logp2 - post.logp_old[k].numpy())
        obj = np.minimum(r2 * A2, np.clip(r2, 1 - eps, 1 + eps) * A2)
        total_clip += (obj * m2).sum() / m2.sum()
        # KL(pi_old || pi_theta) on pre-update states
        mo, lso = pre.mean_old[k].numpy(), pre.log_std_old[k, 0].numpy()
        kl = (((mo - mu) ** 2 + np.exp(2 * lso) - sigma**2) / (2 * sigma**2 + 1e-8) + log_std - lso).sum(-1)
        total_kl += (kl * m).sum() / m.sum()
    return -total_clip / K + eta * total_kl / K


def test_promp_objective_equals_its_definition():
    policy = _linear_policy()
    theta_o = {k: v.detach().clone() for k, v in policy.named_parameters()}
    pre = _batch(seed=11, policy=policy)
    with torch.no_grad():
        adapted = adapt(policy, policy.per_task(2), pre, 0.3, "likelihood_ratio", create_graph=False)
    post = _batch(seed=12, policy=policy, params=adapted)
    with torch.no_grad():  # move theta away from theta_o, as after a few outer steps
        for p in policy.parameters():
            p.add_(0.1 * torch.randn_like(p))
    loss, _, kls = promp_objective(policy, [pre], post, 0.3, "likelihood_ratio", clip_eps=0.3, kl_coeffs=[0.7])
    W, b, ls = (policy.state_dict()[k].numpy() for k in ("layers.0.weight", "layers.0.bias", "log_std"))
    expected = _numpy_promp_loss(W, b, ls, pre, post, 0.3, 0.3, 0.7)
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    assert kls[0].item() > 0
    # at theta_o: KL = 0 and the clipped ratio is 1, so loss = -mean_T mean_t A'
    policy.load_state_dict(theta_o)
    loss0, _, kls0 = promp_objective(policy, [pre], post, 0.3, "likelihood_ratio", clip_eps=0.3, kl_coeffs=[0.7])
    assert kls0[0].item() == pytest.approx(0.0, abs=1e-12)
    assert loss0.item() == pytest.approx(-((post.adv * post.mask).sum(1) / post.mask.sum(1)).mean().item())


def test_adaptive_kl_coefficients():
    assert adapt_kl_coeffs([1.0, 1.0, 1.0], [0.001, 0.01, 0.1], target=0.01) == [0.5, 1.0, 2.0]


# ---- returns, GAE, baseline ------------------------------------------------------------------------
def test_gae_against_hand_computation():
    # one column: 3 valid steps, a padded step, then nothing; second column: 2 steps
    r = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [0.0, 0.0]])
    v = torch.tensor([[0.2, 0.1], [0.4, 0.3], [-0.1, 0.0], [9.0, 9.0]])
    mask = torch.tensor([[True, True], [True, True], [True, False], [False, False]])
    g, lam = 0.9, 0.8
    adv = gae(r, v, mask, g, lam)
    d2 = 2.0 - (-0.1)  # last step: V after = 0
    d1 = 0.5 + g * -0.1 - 0.4
    d0 = 1.0 + g * 0.4 - 0.2
    expected0 = [d0 + g * lam * (d1 + g * lam * d2), d1 + g * lam * d2, d2, 0.0]
    e1 = -1.0 - 0.3
    e0 = 2.0 + g * 0.3 - 0.1
    expected1 = [e0 + g * lam * e1, e1, 0.0, 0.0]
    torch.testing.assert_close(adv, torch.tensor([expected0, expected1]).T)
    # lambda = 1: A = R - V
    R = discounted_returns(r, mask, g)
    torch.testing.assert_close(R[:, 0], torch.tensor([1.0 + g * 0.5 + g * g * 2.0, 0.5 + g * 2.0, 2.0, 0.0]))
    torch.testing.assert_close(gae(r, v, mask, g, 1.0), (R - v) * mask)


def test_gae_skips_padding_inside_a_column():
    """A masked gap (padding between episodes of an RL2 trial) is transparent."""
    r = torch.tensor([[1.0], [0.0], [3.0]])
    v = torch.tensor([[0.5], [7.0], [1.0]])
    mask = torch.tensor([[True], [False], [True]])
    adv = gae(r, v, mask, 0.9, 0.5)
    d2 = 3.0 - 1.0
    d0 = 1.0 + 0.9 * 1.0 - 0.5
    torch.testing.assert_close(adv[:, 0], torch.tensor([d0 + 0.45 * d2, 0.0, d2]))


def test_normalize_per_group():
    x = torch.tensor([[1.0, 10.0, 5.0], [3.0, 20.0, 7.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    out = normalize_per_group(x, mask, torch.tensor([0, 1, 0]), 2)
    g0 = torch.tensor([1.0, 3.0, 5.0])
    exp0 = (g0 - g0.mean()) / (g0.std(unbiased=False) + 1e-8)
    torch.testing.assert_close(out[[0, 1, 0], [0, 0, 2]], exp0)
    assert out[1, 2] == 0.0
    torch.testing.assert_close(out[:, 1], torch.tensor([-1.0, 1.0]))


def test_linear_feature_baseline_features_and_fit():
    torch.manual_seed(0)
    K, T, N, d = 2, 7, 3, 2
    obs = torch.randn(K, T, N, d) * 4
    obs[0, 0, 0, 0] = 25.0  # clipped to 10 in the features
    mask = torch.ones(K, T, N, dtype=torch.bool)
    mask[1, 5:, 2] = False
    t = time_index(mask.transpose(0, 1).reshape(T, K * N)).reshape(T, K, N).transpose(0, 1)
    feats = LinearFeatureBaseline.features(obs, t)
    assert feats.shape == (K, T, N, 2 * d + 4)
    assert feats[0, 0, 0, 0] == 10.0 and feats[0, 0, 0, 2] == 100.0
    torch.testing.assert_close(
        feats[0, 3, 1, 2 * d :], torch.tensor([0.03, 0.03**2, 0.03**3, 1.0], dtype=torch.float64)
    )
    # targets exactly linear in the features -> recovered in-sample
    coef = torch.randn(K, 2 * d + 4, dtype=torch.float64)
    targets = torch.einsum("ktnf,kf->ktn", feats, coef).float()
    values = LinearFeatureBaseline().fit_predict(obs, t, targets, mask)
    torch.testing.assert_close(values, targets * mask, rtol=1e-3, atol=1e-3)
    # general targets: the ridge normal-equation solution of each task
    targets = torch.randn(K, T, N)
    values = LinearFeatureBaseline().fit_predict(obs, t, targets, mask)
    for k in range(K):
        X = feats[k][mask[k]].numpy()
        y = targets[k][mask[k]].double().numpy()
        c = np.linalg.lstsq(X.T @ X + 1e-5 * np.eye(X.shape[1]), X.T @ y, rcond=None)[0]
        np.testing.assert_allclose(values[k][mask[k]].numpy(), X @ c, rtol=1e-4, atol=1e-4)
    assert (values[1, 5:, 2] == 0).all()


def test_time_index_restarts_at_episode_starts():
    mask = torch.ones(6, 1, dtype=torch.bool)
    starts = torch.tensor([[True], [False], [False], [True], [False], [False]])
    assert time_index(mask, starts)[:, 0].tolist() == [0, 1, 2, 0, 1, 2]
