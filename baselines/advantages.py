"""Returns, GAE and the linear feature baseline (reference Sections 1.4 and 5).

Data layout everywhere: time-major arrays ``(T, B)`` with a boolean ``mask`` of valid steps. A
column is one path (MAML/ProMP: one episode; RL2: one trial of several episodes). Masked steps
are skipped: the recursion carries its state over them, so padding between the episodes of a
trial is transparent. After a column's last valid step the value is 0: no bootstrap, also at
time-limit truncation, as in all three reference codebases (reference Section 9, point 11).
"""

from __future__ import annotations

import torch


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """R_t = sum_k gamma^k r_{t+k} over the valid steps of each column; 0 at masked steps."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = torch.where(mask[t], rewards[t] + gamma * running, running)
        out[t] = torch.where(mask[t], running, torch.zeros_like(running))
    return out


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Generalised advantage estimation (Schulman et al. 2016, eq. 16).

    delta_t = r_t + gamma V(s_{t'}) - V(s_t) with t' the next valid step of the column (V = 0 after
    the last), A_t = sum_k (gamma lambda)^k delta_{t+k}. With lambda = 1, A_t = R_t - V(s_t).
    """
    adv = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[0])
    next_adv = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + gamma * next_value - values[t]
        a = delta + gamma * lam * next_adv
        m = mask[t]
        adv[t] = torch.where(m, a, torch.zeros_like(a))
        next_adv = torch.where(m, a, next_adv)
        next_value = torch.where(m, values[t], next_value)
    return adv


def normalize_per_group(
    x: torch.Tensor, mask: torch.Tensor, groups: torch.Tensor, num_groups: int, eps: float = 1e-8
) -> torch.Tensor:
    """(x - mean) / (std + eps) over the valid entries of each group (ProMP: per task batch).

    ``x, mask`` (T, B); ``groups`` (B,) the group of every column. std is the population std.
    """
    m = mask.to(x.dtype)
    g = groups.unsqueeze(0).expand_as(x)
    count = torch.zeros(num_groups, dtype=x.dtype).index_add_(0, g[mask], torch.ones_like(x[mask]))
    total = torch.zeros(num_groups, dtype=x.dtype).index_add_(0, g[mask], x[mask])
    mean = total / count.clamp(min=1)
    sq = torch.zeros(num_groups, dtype=x.dtype).index_add_(0, g[mask], (x[mask] - mean[g[mask]]) ** 2)
    std = torch.sqrt(sq / count.clamp(min=1))
    return (x - mean[groups]) / (std[groups] + eps) * m


class LinearFeatureBaseline:
    """rllab's linear feature baseline, fitted per task (reference Section 5).

    Features of a step at index t of its path: [clip(o, -10, 10), clip(o, -10, 10)^2, u, u^2, u^3, 1]
    with u = t / 100. Ridge least squares (X^T X + reg I) c = X^T R with reg = 1e-5, retried with
    10x the reg (at most 5 times) when the solution is not finite. Fitted and evaluated in-sample.
    Batched over tasks: one ``lstsq`` call solves every task's normal equations.
    """

    def __init__(self, reg_coeff: float = 1e-5, max_tries: int = 5):
        self.reg_coeff, self.max_tries = reg_coeff, max_tries

    @staticmethod
    def features(obs: torch.Tensor, time_index: torch.Tensor) -> torch.Tensor:
        """obs (..., d), time_index (...) -> (..., 2 d + 4) in float64."""
        o = torch.clamp(obs.double(), -10.0, 10.0)
        u = (time_index.double() / 100.0).unsqueeze(-1)
        return torch.cat([o, o * o, u, u * u, u * u * u, torch.ones_like(u)], dim=-1)

    def fit_predict(
        self, obs: torch.Tensor, time_index: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Per-group fit and in-sample prediction.

        ``obs`` (K, T, N, d), ``time_index``/``returns``/``mask`` (K, T, N): K tasks (groups), each with
        N paths of up to T steps. Returns baseline values (K, T, N) (0 at masked steps), float32.
        """
        K = obs.shape[0]
        X = self.features(obs, time_index) * mask.unsqueeze(-1)  # masked rows are zero
        X = X.reshape(K, -1, X.shape[-1])
        y = (returns.double() * mask).reshape(K, -1, 1)
        XtX, Xty = X.transpose(1, 2) @ X, X.transpose(1, 2) @ y
        eye = torch.eye(XtX.shape[-1], dtype=XtX.dtype)
        reg = self.reg_coeff
        for _ in range(self.max_tries):
            coeffs = torch.linalg.lstsq(XtX + reg * eye, Xty, driver="gelsd").solution
            if bool(torch.isfinite(coeffs).all()):
                break
            reg *= 10
        else:
            coeffs = torch.nan_to_num(coeffs, nan=0.0, posinf=0.0, neginf=0.0)
        values = (X @ coeffs).reshape(returns.shape)
        return (values * mask).float()


def time_index(mask: torch.Tensor, episode_start: torch.Tensor | None = None) -> torch.Tensor:
    """Index of every step within its path, from a (T, B) mask (and optional episode-start flags)."""
    t = torch.arange(mask.shape[0]).unsqueeze(1).expand(mask.shape)
    if episode_start is None:
        return t.clone()
    # index since the last episode start: t - (last start position <= t)
    start_pos = torch.where(episode_start, t, torch.zeros_like(t))
    return t - torch.cummax(start_pos, dim=0).values
