"""Networks of PEARL's actor-critic (reference Section 2.1), batched over the task meta-batch.

Every network accepts inputs shaped ``(..., feature)`` (typically ``task x batch x feature``), one
call covers the whole meta-batch. The twin Q functions are two plain MLPs: on CPU that beat one
fused ensemble (batched ``baddbmm``), ~140 ms vs ~165 ms forward+backward at 4096 x 300 on one core.

Initialisation follows rlkit: hidden weights U(-1/sqrt(w.shape[0]), +) (rlkit uses the *output*
width there), hidden biases 0.1, last layer U(-init_w, init_w).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def output_layer(layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """``layer(h)`` in float32 even under bfloat16 autocast.

    With ``precision="bfloat16"`` the hidden layers run in bf16 (``PEARLLearner``), but values,
    means, log-stds and posterior parameters come out of a float32 output layer, so Bellman
    targets, log-probabilities and the product of Gaussians never see bf16 rounding.
    """
    if not torch.is_autocast_enabled(h.device.type):  # float32 steps: skip the context switch
        return layer(h)
    with torch.autocast(h.device.type, enabled=False):
        return layer(h.float())


def _rlkit_hidden_init(weight: torch.Tensor, bias: torch.Tensor) -> None:
    bound = 1.0 / math.sqrt(weight.shape[0])
    nn.init.uniform_(weight, -bound, bound)
    nn.init.constant_(bias, 0.1)


class MLP(nn.Module):
    """ReLU MLP: ``in -> hidden x num_layers -> out``."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, num_layers: int, init_w: float = 3e-3):
        super().__init__()
        dims = [in_dim] + [hidden] * num_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.last = nn.Linear(dims[-1], out_dim)
        for layer in self.hidden:
            _rlkit_hidden_init(layer.weight, layer.bias)
        nn.init.uniform_(self.last.weight, -init_w, init_w)
        nn.init.uniform_(self.last.bias, -init_w, init_w)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layers, ``relu(x W^T + b)`` each.

        On CPU at float32 each layer is a product followed by the bias and ReLU *in place* on it:
        there, writing an activation into freshly allocated memory is a pass over main memory (a
        4096 x 300 batch outgrows the cache), which ``addmm``'s copy of the bias into its output and
        an out-of-place ReLU each pay; the in-place passes touch memory the product just wrote (~8%
        more gradient steps/s at the paper's sizes). Autograd allows it: a product saves its inputs,
        not its output. Under bf16 autocast the fused ``addmm`` + ReLU stays (in place cost 17% of
        the bf16 gradient steps/s on an AVX-512 CPU), and on GPUs (not measured there).
        """
        in_place = x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
        for layer in self.hidden:
            if in_place:
                x = torch.relu_(F.linear(x, layer.weight).add_(layer.bias))
            else:
                x = torch.relu(F.linear(x, layer.weight, layer.bias))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return output_layer(self.last, self.features(x))


class TwinQ(nn.Module):
    """Q1(s, a, z), Q2(s, a, z) on one shared input: returns ``(2, ...)``."""

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int, hidden: int, num_layers: int):
        super().__init__()
        self.q1 = MLP(obs_dim + act_dim + latent_dim, 1, hidden, num_layers)
        self.q2 = MLP(obs_dim + act_dim + latent_dim, 1, hidden, num_layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action, z], dim=-1)
        return torch.stack([self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)])


class ValueNet(nn.Module):
    """V(s, z)."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden: int, num_layers: int):
        super().__init__()
        self.net = MLP(obs_dim + latent_dim, 1, hidden, num_layers)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, z], dim=-1)).squeeze(-1)


class TanhGaussianPolicy(nn.Module):
    """pi(a | s, z): a = tanh(u), u ~ N(mean, std), separate linear heads for mean and log-std."""

    def __init__(self, obs_dim: int, latent_dim: int, act_dim: int, hidden: int, num_layers: int, init_w: float = 1e-3):
        super().__init__()
        self.trunk = MLP(obs_dim + latent_dim, act_dim, hidden, num_layers, init_w=init_w)  # .last = mean head
        self.log_std_head = nn.Linear(hidden, act_dim)
        nn.init.uniform_(self.log_std_head.weight, -init_w, init_w)
        nn.init.uniform_(self.log_std_head.bias, -init_w, init_w)

    def _head(self, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk.features(torch.cat([obs, z], dim=-1))
        mean = output_layer(self.trunk.last, h)
        return mean, output_layer(self.log_std_head, h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def forward(self, obs: torch.Tensor, z: torch.Tensor, deterministic: bool = False):
        """Returns ``action, log_prob, mean, log_std`` (log_prob is None when deterministic)."""
        mean, log_std = self._head(obs, z)
        if deterministic:
            return torch.tanh(mean), None, mean, log_std
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        action = torch.tanh(u)
        # log N(u; mean, std) - sum log(1 - tanh(u)^2 + 1e-6)   (SAC appendix C)
        normal_log_prob = -0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
        log_prob = (normal_log_prob - torch.log(1.0 - action.pow(2) + 1e-6)).sum(-1)
        return action, log_prob, mean, log_std


class NumpyPolicy:
    """``TanhGaussianPolicy``'s action in numpy float32: the acting path of rollouts.

    A tiny policy's torch forward is mostly per-op dispatch: ~155 µs for 5-25 rows at width 64 on
    one AVX2 core against ~55 µs here, i.e. up to 30 µs of every env step where only the 5 tasks of a
    round may step together. The layers are the same float32 matrix products (actions agree with
    ``forward``'s to float32 rounding, not bit for bit: another GEMM library sums in another
    order) and the noise is drawn from torch's generator with the shape ``forward`` draws, so
    the random stream, and with it a checkpoint's RNG state, is the same. Holds a copy of the
    weights in host memory: make a new one after the policy changes (``PEARLAgent.acting_policy``).
    """

    def __init__(self, policy: TanhGaussianPolicy):
        def host(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())

        self.hidden = [(host(layer.weight).T.copy(), host(layer.bias)) for layer in policy.trunk.hidden]
        last, head = policy.trunk.last, policy.log_std_head
        # the mean and log-std heads as one product: columns [:act_dim] mean, [act_dim:] log-std
        self.head_w = np.concatenate([host(last.weight), host(head.weight)]).T.copy()
        self.head_b = np.concatenate([host(last.bias), host(head.bias)])
        self.act_dim = last.out_features

    def __call__(self, obs: np.ndarray, z: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """``obs (n, obs_dim)``, ``z (n, latent)`` -> actions ``(n, act_dim)`` as float64."""
        h = np.concatenate([np.asarray(obs, dtype=np.float32), np.asarray(z, dtype=np.float32)], axis=1)
        for w, b in self.hidden:
            h = h @ w
            h += b
            np.maximum(h, 0.0, out=h)
        out = h @ self.head_w
        out += self.head_b
        mean = out[:, : self.act_dim]
        if deterministic:
            return np.tanh(mean).astype(np.float64)
        log_std = np.clip(out[:, self.act_dim :], LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.randn(mean.shape).numpy()  # = randn_like(mean) in forward: the same draws
        return np.tanh(mean + np.exp(log_std) * noise).astype(np.float64)
