"""ProMP's outer objective (Rothfuss et al. 2019, Section 6 and Algorithm 1; reference Section 2).

Per task T, with theta'_T = theta + alpha grad J^LR_T(theta) recomputed from the *current* theta at
every outer step (inner step of ``baselines.maml`` with the likelihood-ratio / LVC loss):

    J^ProMP_T(theta) = J^CLIP_T(theta') - eta * KLbar(pi_theta_o, pi_theta)
    J^CLIP_T(theta') = mean_t min(r'_t A'_t, clip(r'_t, 1 - eps, 1 + eps) A'_t),
    r'_t = pi_theta'(a'_t|s'_t) / pi_theta'_o(a'_t|s'_t)

The KL is a soft trust region on the pre-update policy, mean over pre-update states of
KL(pi_old || pi_theta). Loss minimised = mean_T(-J^CLIP_T) + mean_k eta_k mean_T KL_k (k over inner
steps). ``num_promp_steps`` full-batch Adam steps per iteration; eta_k adapts once per iteration
(halved below target/1.5, doubled above 1.5 target) when enabled.
"""

from __future__ import annotations

import torch

from baselines import gaussian
from baselines.maml import TaskBatch, adaptation_chain, task_mean
from baselines.policies import GaussianMLPPolicy


def clipped_surrogate(
    logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, clip_eps: float
) -> torch.Tensor:
    """PPO's J^CLIP per task (K,): mean_t min(r A, clip(r, 1-eps, 1+eps) A)."""
    ratio = gaussian.likelihood_ratio(logp, logp_old)
    objective = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    return task_mean(objective, mask)


def promp_objective(
    policy: GaussianMLPPolicy,
    inner_batches: list[TaskBatch],
    post: TaskBatch,
    inner_lr: float,
    inner_kind: str,
    clip_eps: float,
    kl_coeffs: list[float],
    params: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Returns (loss to minimise, mean clipped objective, [mean inner KL_k for every inner step])."""
    chain = adaptation_chain(policy, inner_batches, inner_lr, inner_kind, create_graph=True, params=params)
    mean, log_std = policy.forward_batched(chain[-1], post.obs)
    logp = gaussian.log_likelihood(post.actions, mean, log_std)
    j_clip = clipped_surrogate(logp, post.logp_old, post.adv, post.mask, clip_eps).mean()
    kls = []
    for params_k, batch in zip(chain[:-1], inner_batches):
        mean_k, log_std_k = policy.forward_batched(params_k, batch.obs)
        kl_k = gaussian.kl(batch.mean_old, batch.log_std_old, mean_k, log_std_k)
        kls.append(task_mean(kl_k, batch.mask).mean())
    penalty = torch.stack([c * kl for c, kl in zip(kl_coeffs, kls)]).mean()
    return -j_clip + penalty, j_clip, kls


def adapt_kl_coeffs(coeffs: list[float], kls: list[float], target: float) -> list[float]:
    """eta /= 2 if KL < target / 1.5, eta *= 2 if KL > 1.5 target (reference Section 2.2)."""
    out = []
    for c, kl in zip(coeffs, kls):
        if kl < target / 1.5:
            c = c / 2
        elif kl > target * 1.5:
            c = c * 2
        out.append(c)
    return out
