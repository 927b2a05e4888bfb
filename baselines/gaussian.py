"""Diagonal Gaussian helpers with a state-independent log-std (reference Section 1.1).

All functions sum over the last (action) dimension, as the ProMP code does; log-likelihoods include
the ``-0.5 |A| log 2 pi`` constant.
"""

from __future__ import annotations

import math

import torch

LOG_STD_FLOOR = math.log(1e-6)
RATIO_CLAMP = 20.0  # |log pi - log pi_old| is clamped to this before exp (reference Section 9, point 8)


def floor_log_std(log_std: torch.Tensor) -> torch.Tensor:
    """Elementwise max with log(1e-6), as in the ProMP policy."""
    return torch.clamp(log_std, min=LOG_STD_FLOOR)


def log_likelihood(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(a; mean, exp(log_std)^2), summed over action dims."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std).sum(-1) - 0.5 * actions.shape[-1] * math.log(2 * math.pi)


def kl(
    old_mean: torch.Tensor, old_log_std: torch.Tensor, new_mean: torch.Tensor, new_log_std: torch.Tensor
) -> torch.Tensor:
    """KL(old || new) for diagonal Gaussians, summed over dims (ProMP's formula with its 1e-8)."""
    old_var, new_var = torch.exp(2 * old_log_std), torch.exp(2 * new_log_std)
    numerator = (old_mean - new_mean).pow(2) + old_var - new_var
    return (numerator / (2 * new_var + 1e-8) + new_log_std - old_log_std).sum(-1)


def entropy(log_std: torch.Tensor) -> torch.Tensor:
    return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


def likelihood_ratio(logp: torch.Tensor, logp_old: torch.Tensor) -> torch.Tensor:
    """exp(log pi - log pi_old) with the log-difference clamped to +-20 (no overflow)."""
    return torch.exp(torch.clamp(logp - logp_old, -RATIO_CLAMP, RATIO_CLAMP))
