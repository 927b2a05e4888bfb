"""The context encoder q_phi(z | c) (paper Section 4.1, Figure 1).

* ``GaussianProductEncoder`` (PEARL): each transition c_n gives a Gaussian factor
  Psi(z | c_n) = N(mu_n, sigma_n^2) with sigma_n^2 = softplus(.) >= 1e-7; the posterior is their
  product (eq. 2):  sigma^2 = 1 / sum_n 1/sigma_n^2,  mu = sigma^2 * sum_n mu_n / sigma_n^2.
  Permutation-invariant; the N(0, I) prior is not a factor, only the KL target (eq. 1).
* ``RecurrentEncoder`` (Section 6.3 ablation): a GRU reads the context as an ordered sequence
  of transitions; its last valid output parameterises one Gaussian.
* ``DeterministicEncoder`` (Section 6.3 ablation): z = mean over transitions of the MLP output,
  a point estimate with no KL term.

Context tensors are ``(task, N, context_dim)`` with rows ``[s, a, r]`` or ``[s, a, r, s']``; an
optional boolean ``mask (task, N)`` marks valid rows (for the GRU, valid rows are a prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pearl.networks import MLP, output_layer

VAR_MIN = 1e-7


@dataclass
class Posterior:
    """q(z | c) per task: ``mean (task, latent)`` and ``var`` (None for a point estimate)."""

    mean: torch.Tensor
    var: torch.Tensor | None

    def rsample(self) -> torch.Tensor:
        """Reparameterised z = mu + sigma * eps (Section 5.1)."""
        if self.var is None:
            return self.mean
        return self.mean + self.var.sqrt() * torch.randn_like(self.mean)

    def kl_to_prior(self) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, I)) per task, summed over latent dims (eq. 1)."""
        if self.var is None:
            return torch.zeros(self.mean.shape[0], dtype=self.mean.dtype, device=self.mean.device)
        return 0.5 * (self.var + self.mean.pow(2) - 1.0 - self.var.log()).sum(-1)

    def detach(self) -> "Posterior":
        return Posterior(self.mean.detach(), None if self.var is None else self.var.detach())

    def to(self, device) -> "Posterior":
        return Posterior(self.mean.to(device), None if self.var is None else self.var.to(device))

    def __getitem__(self, index) -> "Posterior":
        return Posterior(self.mean[index], None if self.var is None else self.var[index])


def product_of_gaussians(mu: torch.Tensor, var: torch.Tensor, mask: torch.Tensor | None = None):
    """Eq. 2 over axis -2: ``mu, var (task, N, latent)`` -> ``(task, latent)`` each."""
    precision = 1.0 / var
    if mask is not None:
        precision = precision * mask.unsqueeze(-1).to(precision.dtype)
    var_post = 1.0 / precision.sum(-2)
    mu_post = var_post * (mu * precision).sum(-2)
    return mu_post, var_post


class ContextEncoder(nn.Module):
    """Common interface: ``forward(context, mask) -> Posterior`` and ``prior(num_tasks)``."""

    latent_dim: int
    probabilistic: bool = True

    def prior(self, num_tasks: int) -> Posterior:
        """The empty-context belief: N(0, I), or z = 0 for the point-estimate encoder."""
        mean = torch.zeros(num_tasks, self.latent_dim)
        return Posterior(mean, torch.ones_like(mean) if self.probabilistic else None)


class GaussianProductEncoder(ContextEncoder):
    def __init__(self, context_dim: int, latent_dim: int, hidden: int, num_layers: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = MLP(context_dim, 2 * latent_dim, hidden, num_layers)

    def factors(self, context: torch.Tensor):
        """Per-transition Gaussian factors: ``mu_n, sigma_n^2`` shaped ``(task, N, latent)``."""
        out = self.net(context)
        mu, raw = out[..., : self.latent_dim], out[..., self.latent_dim :]
        return mu, F.softplus(raw).clamp(min=VAR_MIN)

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None) -> Posterior:
        mu, var = self.factors(context)
        return Posterior(*product_of_gaussians(mu, var, mask))


class DeterministicEncoder(ContextEncoder):
    probabilistic = False

    def __init__(self, context_dim: int, latent_dim: int, hidden: int, num_layers: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = MLP(context_dim, latent_dim, hidden, num_layers)

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None) -> Posterior:
        out = self.net(context)
        if mask is None:
            return Posterior(out.mean(-2), None)
        m = mask.unsqueeze(-1).to(out.dtype)
        return Posterior((out * m).sum(-2) / m.sum(-2).clamp(min=1.0), None)


class RecurrentEncoder(ContextEncoder):
    """MLP feature layer -> GRU over the context sequence -> Gaussian from the last valid output."""

    def __init__(self, context_dim: int, latent_dim: int, hidden: int, num_layers: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.embed = MLP(context_dim, hidden, hidden, max(num_layers - 1, 1))
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2 * latent_dim)
        nn.init.uniform_(self.head.weight, -3e-3, 3e-3)
        nn.init.uniform_(self.head.bias, -3e-3, 3e-3)

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None) -> Posterior:
        out, _ = self.gru(F.relu(self.embed(context)))  # (task, N, hidden)
        if mask is None:
            last = out[:, -1]
        else:
            length = mask.long().sum(-1).clamp(min=1)
            last = out[torch.arange(out.shape[0], device=out.device), length - 1]
        params = output_layer(self.head, last)
        mu, raw = params[..., : self.latent_dim], params[..., self.latent_dim :]
        return Posterior(mu, F.softplus(raw).clamp(min=VAR_MIN))


def make_encoder(kind: str, context_dim: int, latent_dim: int, hidden: int, num_layers: int) -> ContextEncoder:
    classes = {"gaussian": GaussianProductEncoder, "gru": RecurrentEncoder, "deterministic": DeterministicEncoder}
    if kind not in classes:
        raise ValueError(f"unknown encoder type {kind!r}; valid types: {', '.join(classes)}")
    return classes[kind](context_dim, latent_dim, hidden, num_layers)
