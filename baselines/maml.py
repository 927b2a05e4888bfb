"""Gradient-based meta-learning pieces shared by MAML-TRPO and ProMP, and the MAML-TRPO outer step.

Notation (Finn et al. 2017, eq. 1; ProMP paper Section 5): theta the pre-update parameters,
theta'_T = theta - alpha grad_theta L_in_T(theta) the adapted parameters of task T (one step; K steps
chain, step k using the data sampled with the k-times-adapted policy).

Inner losses, per task, mean over every valid timestep of the task's batch with per-task
normalised advantages (reference Section 9, point 1):

* ``log_likelihood`` (MAML):            L_in = -mean_t log pi_theta(a_t|s_t) A_t
* ``likelihood_ratio`` (LVC, ProMP):    L_in = -mean_t [pi_theta(a_t|s_t) / pi_theta_o(a_t|s_t)] A_t

Both have the same gradient at theta = theta_o; their Hessians differ (LVC keeps the H1 term).

All tasks are adapted at once: the per-task parameter copies carry a leading task axis, and the
gradient of the *sum* of the per-task losses w.r.t. the copies is every task's own gradient.

MAML-TRPO outer step (reference Section 3.1; Schulman et al. 2015): minimise the surrogate
L(theta) = mean_T mean_t -r'_t A'_t on post-update data, r'_t = pi_theta'(theta)(a'|s') / pi_theta'_o(a'|s'),
subject to KLbar(theta) = mean_T mean_t KL(pi_theta'_o || pi_theta'(theta)) <= delta: conjugate gradient
on the Hessian of KLbar, step sqrt(2 delta / s^T H s), backtracking line search.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from baselines import gaussian
from baselines.advantages import LinearFeatureBaseline, discounted_returns, gae, normalize_per_group, time_index
from baselines.cg import conjugate_gradient
from baselines.policies import GaussianMLPPolicy
from baselines.rollouts import Rollouts


# ---- processed data ---------------------------------------------------------------------------
@dataclass
class TaskBatch:
    """One sampling phase in per-task layout: K tasks x N = T R samples each."""

    obs: torch.Tensor  # (K, N, obs_dim)
    actions: torch.Tensor  # (K, N, act_dim)
    adv: torch.Tensor  # (K, N) normalised advantages (0 at padding)
    mask: torch.Tensor  # (K, N) float 0/1
    logp_old: torch.Tensor  # (K, N) behaviour log-likelihood
    mean_old: torch.Tensor  # (K, N, act_dim) behaviour mean
    log_std_old: torch.Tensor  # (K, 1, act_dim) behaviour log-std


def process_rollouts(
    ro: Rollouts,
    discount: float,
    gae_lambda: float,
    normalize: bool,
    use_sparse: bool,
    baseline: LinearFeatureBaseline | None = None,
) -> TaskBatch:
    """Returns, per-task linear baseline, GAE and per-task advantage normalisation (reference 1.4)."""
    baseline = baseline or LinearFeatureBaseline()
    rewards = ro.sparse_rewards if use_sparse else ro.rewards
    T, B = rewards.shape
    K, R = ro.num_tasks, ro.rollouts_per_task
    returns = discounted_returns(rewards, ro.mask, discount)

    def to_ktr(x):  # (T, K R, ...) -> (K, T, R, ...)
        return x.reshape(T, K, R, *x.shape[2:]).transpose(0, 1)

    values = baseline.fit_predict(to_ktr(ro.obs), to_ktr(time_index(ro.mask)), to_ktr(returns), to_ktr(ro.mask))
    values = values.transpose(0, 1).reshape(T, B)
    adv = gae(rewards, values, ro.mask, discount, gae_lambda)
    if normalize:
        adv = normalize_per_group(adv, ro.mask, torch.arange(B) // R, K)
    return TaskBatch(
        obs=ro.per_task(ro.obs),
        actions=ro.per_task(ro.actions),
        adv=ro.per_task(adv),
        mask=ro.per_task(ro.mask).float(),
        logp_old=ro.per_task(ro.logp),
        mean_old=ro.per_task(ro.mean),
        log_std_old=ro.log_std.unsqueeze(1),
    )


def task_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each task's valid samples: (K, N) -> (K,)."""
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


# ---- inner step --------------------------------------------------------------------------------
def inner_loss(policy: GaussianMLPPolicy, params: dict, batch: TaskBatch, kind: str) -> torch.Tensor:
    """Per-task inner loss (K,), see the module docstring."""
    mean, log_std = policy.forward_batched(params, batch.obs)
    logp = gaussian.log_likelihood(batch.actions, mean, log_std)
    if kind == "log_likelihood":
        surrogate = logp * batch.adv
    elif kind == "likelihood_ratio":
        surrogate = gaussian.likelihood_ratio(logp, batch.logp_old) * batch.adv
    else:
        raise ValueError(f"unknown inner loss {kind!r}; valid choices: log_likelihood, likelihood_ratio")
    return -task_mean(surrogate, batch.mask)


def adapt(
    policy: GaussianMLPPolicy, params: dict, batch: TaskBatch, inner_lr: float, kind: str, create_graph: bool
) -> "OrderedDict[str, torch.Tensor]":
    """theta'_T = theta_T - alpha grad L_in_T(theta_T) for every task at once.

    ``create_graph=True`` keeps the graph for the meta-gradient (second order through the step).
    """
    names = list(params)
    with torch.enable_grad():
        if not create_graph or not all(v.requires_grad for v in params.values()):
            # numerical step (sampling time, line search, evaluation): fresh leaves
            params = OrderedDict((k, v.detach().requires_grad_(True)) for k, v in params.items())
            create_graph = False
        loss = inner_loss(policy, params, batch, kind).sum()
        grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=create_graph)
    adapted = OrderedDict((k, params[k] - inner_lr * g) for k, g in zip(names, grads))
    if not create_graph:
        adapted = OrderedDict((k, v.detach()) for k, v in adapted.items())
    return adapted


def adaptation_chain(
    policy: GaussianMLPPolicy,
    inner_batches: list[TaskBatch],
    inner_lr: float,
    kind: str,
    create_graph: bool = True,
    params: dict | None = None,
) -> list["OrderedDict[str, torch.Tensor]"]:
    """[theta^(0), theta^(1), ..., theta^(S)] per task, differentiable w.r.t. the policy's parameters."""
    K = inner_batches[0].obs.shape[0]
    chain = [policy.per_task(K, params)]
    for batch in inner_batches:
        chain.append(adapt(policy, chain[-1], batch, inner_lr, kind, create_graph))
    return chain


# ---- MAML-TRPO outer step ----------------------------------------------------------------------
def outer_surrogate_and_kl(policy: GaussianMLPPolicy, post_params: dict, post: TaskBatch):
    """Surrogate loss, mean KL(pi_theta'_o || pi_theta'), and the adapted outputs (for the Fisher)."""
    mean, log_std = policy.forward_batched(post_params, post.obs)
    logp = gaussian.log_likelihood(post.actions, mean, log_std)
    ratio = gaussian.likelihood_ratio(logp, post.logp_old)
    loss = -task_mean(ratio * post.adv, post.mask).mean()
    kl = task_mean(gaussian.kl(post.mean_old, post.log_std_old, mean, log_std), post.mask).mean()
    return loss, kl, mean, log_std, ratio


class KLHessian:
    """x -> (H + damping I) x, H the Hessian of KLbar(theta) at theta_o.

    At theta_o the adapted policies equal the sampling ones, so KLbar and its gradient vanish and
    H = J^T F J exactly (Gauss-Newton): J = d(mean', log_std')/d theta through the inner step and the
    network, F the Fisher of the diagonal Gaussian in (mean, log_std): 1/sigma^2 per mean output and
    2 per log-std entry, weighted like KLbar's average (reference Section 9, point 6). J v is
    computed by the double-vjp trick, J^T u by a vjp; no third derivatives are needed.
    """

    def __init__(
        self, params: list[torch.Tensor], mean: torch.Tensor, log_std: torch.Tensor, mask: torch.Tensor, damping: float
    ):
        self.params, self.mean, self.log_std, self.damping = params, mean, log_std, damping
        K = mask.shape[0]
        w = mask / mask.sum(1, keepdim=True).clamp(min=1.0) / K  # KLbar weight of each sample
        self.w_mean = w.unsqueeze(-1) * torch.exp(-2 * log_std.detach())  # (K, N, A)
        self.w_log_std = 2.0 * w.sum(1).view(K, 1, 1).expand_as(log_std)  # (K, 1, A)
        # g(u) = J^T u with a graph in u, built once; J v = d <g(u), v> / du
        self.u_mean = torch.zeros_like(mean, requires_grad=True)
        self.u_log_std = torch.zeros_like(log_std, requires_grad=True)
        self.jt_u = torch.autograd.grad(
            (mean, log_std), params, grad_outputs=(self.u_mean, self.u_log_std), create_graph=True
        )

    def jvp(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vs = _unflatten(v, self.params)
        return torch.autograd.grad(self.jt_u, (self.u_mean, self.u_log_std), grad_outputs=vs, retain_graph=True)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        j_mean, j_log_std = self.jvp(v)
        out = torch.autograd.grad(
            (self.mean, self.log_std),
            self.params,
            grad_outputs=(self.w_mean * j_mean, self.w_log_std * j_log_std),
            retain_graph=True,
        )
        return torch.cat([o.reshape(-1) for o in out]) + self.damping * v


def _unflatten(v: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    out, i = [], 0
    for p in like:
        out.append(v[i : i + p.numel()].view_as(p))
        i += p.numel()
    return out


def trpo_meta_step(
    policy: GaussianMLPPolicy,
    inner_batches: list[TaskBatch],
    post: TaskBatch,
    inner_lr: float,
    inner_kind: str,
    max_kl: float,
    cg_iters: int = 10,
    cg_damping: float = 1e-5,
    backtrack_ratio: float = 0.8,
    max_backtracks: int = 15,
) -> dict[str, float]:
    """One MAML-TRPO update of ``policy`` in place; returns diagnostics."""
    theta = list(policy.parameters())
    old = parameters_to_vector(theta).detach().clone()

    chain = adaptation_chain(policy, inner_batches, inner_lr, inner_kind, create_graph=True)
    loss, kl, mean, log_std, ratio = outer_surrogate_and_kl(policy, chain[-1], post)
    grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, theta, retain_graph=True)])
    hvp = KLHessian(theta, mean, log_std, post.mask, cg_damping)
    step_dir = conjugate_gradient(hvp, grad, iters=cg_iters)
    shs = torch.dot(step_dir, hvp(step_dir))
    beta = torch.sqrt(2 * max_kl / (shs + 1e-8))
    info = {
        "loss_before": loss.item(),
        "ratio_dev_at_start": (ratio - 1).abs().max().item(),
        "grad_norm": float(grad.norm()),
        "accepted": 0.0,
        "backtracks": float(max_backtracks),
        "kl": 0.0,
        "loss_after": loss.item(),
    }
    if not torch.isfinite(beta):
        return info  # skip the step, as the reference does
    full_step = beta * step_dir
    for j in range(max_backtracks):
        vector_to_parameters(old - backtrack_ratio**j * full_step, theta)
        with torch.no_grad():
            chain = adaptation_chain(policy, inner_batches, inner_lr, inner_kind, create_graph=False)
            new_loss, new_kl, *_ = outer_surrogate_and_kl(policy, chain[-1], post)
        if bool(torch.isfinite(new_loss)) and new_loss < loss and new_kl <= max_kl:
            info.update(accepted=1.0, backtracks=float(j), kl=float(new_kl), loss_after=float(new_loss))
            return info
    vector_to_parameters(old, theta)  # no acceptable step: keep theta
    return info
