"""Policies of the baselines.

``GaussianMLPPolicy`` (MAML-TRPO, ProMP; reference Section 1.1): tanh MLP mean, Xavier-uniform weights,
zero biases, a state-independent log-std vector (init log 1.0 = 0, floored at log 1e-6) that the
inner step adapts too. Meta-learning needs one parameter set *per task* (the adapted theta'_T), so
the forward pass takes a dict of parameters with a leading task axis and evaluates every task's
network with one ``baddbmm`` per layer: ``forward_batched(params, obs[K, N, d])``.

``GRUPolicyValue`` (RL2; reference Section 4): a GRU policy and a separate GRU value function over
(s, a_{t-1}, r_{t-1}, d_{t-1}); Gaussian head with a state-independent log-std.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from baselines import gaussian

Params = "OrderedDict[str, torch.Tensor]"


class GaussianMLPPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: tuple[int, ...] = (64, 64), init_log_std: float = 0.0):
        super().__init__()
        dims = [obs_dim, *hidden_sizes, act_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        self.obs_dim, self.act_dim = obs_dim, act_dim

    # ---- parameters ------------------------------------------------------------------------
    def params(self) -> "OrderedDict[str, torch.Tensor]":
        """theta as an ordered dict (the module's own Parameters)."""
        return OrderedDict(self.named_parameters())

    def per_task(self, num_tasks: int, params: dict | None = None) -> "OrderedDict[str, torch.Tensor]":
        """theta repeated along a new task axis; differentiable w.r.t. ``params`` (default: the module's)."""
        params = self.params() if params is None else params
        return OrderedDict((k, v.unsqueeze(0).repeat(num_tasks, *([1] * v.dim()))) for k, v in params.items())

    # ---- forward -------------------------------------------------------------------------------
    def forward_batched(self, params: dict, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task networks: ``params`` with leading task axis K, ``obs`` (K, N, obs_dim).

        Returns mean (K, N, act_dim) and log_std (K, 1, act_dim) (floored).
        """
        x = obs
        n_layers = len(self.layers)
        for i in range(n_layers):
            w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
            x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            if i < n_layers - 1:
                x = torch.tanh(x)
        return x, gaussian.floor_log_std(params["log_std"]).unsqueeze(1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shared-parameter forward for any leading shape."""
        x = obs
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.tanh(x)
        return x, gaussian.floor_log_std(self.log_std)


class GRUPolicyValue(nn.Module):
    """RL2's recurrent Gaussian policy and recurrent value function (separate GRUs, hidden size H).

    Inputs are ``x_t = [s_t, a_{t-1}, r_{t-1}, d_{t-1}]``; the hidden state is (2, B, H): row 0 the
    policy GRU, row 1 the value GRU. ``step`` advances one time step; ``sequence`` runs a whole trial,
    leaving the hidden state unchanged at padded (``mask == False``) steps, as the rollout does.
    """

    def __init__(self, in_dim: int, act_dim: int, hidden_size: int = 64, init_log_std: float = 0.0):
        super().__init__()
        self.pi_gru = nn.GRU(in_dim, hidden_size)
        self.v_gru = nn.GRU(in_dim, hidden_size)
        self.mean_head = nn.Linear(hidden_size, act_dim)
        self.value_head = nn.Linear(hidden_size, 1)
        for head in (self.mean_head, self.value_head):
            nn.init.xavier_uniform_(head.weight)
            nn.init.zeros_(head.bias)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        self.hidden_size, self.act_dim = hidden_size, act_dim

    def initial_state(self, batch: int) -> torch.Tensor:
        """Zero hidden state: the start of a trial."""
        return torch.zeros(2, batch, self.hidden_size, device=self.log_std.device)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: x (B, in), h (2, B, H) -> mean (B, A), log_std (A,), value (B,), new h.

        The GRU op and linear heads are called directly (``torch.gru``, ``F.linear``): what the
        modules call, without their per-call Python overhead (a rollout makes one step per env step).
        """
        x = x.unsqueeze(0)
        h = h.contiguous()
        out_pi, h_pi = torch.gru(x, h[0:1], self._gru_params(self.pi_gru), True, 1, 0.0, self.training, False, False)
        out_v, h_v = torch.gru(x, h[1:2], self._gru_params(self.v_gru), True, 1, 0.0, self.training, False, False)
        mean = F.linear(out_pi[0], self.mean_head.weight, self.mean_head.bias)
        value = F.linear(out_v[0], self.value_head.weight, self.value_head.bias).squeeze(-1)
        return mean, gaussian.floor_log_std(self.log_std), value, torch.cat([h_pi, h_v], 0)

    @staticmethod
    def _gru_params(gru: nn.GRU) -> list[torch.Tensor]:
        """A one-layer GRU's weights in ``torch.gru``'s order (= ``gru._flat_weights``)."""
        return [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]

    def sequence(
        self, x: torch.Tensor, mask: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Whole sequences: x (T, B, in), mask (T, B) -> mean (T, B, A), log_std (A,), value (T, B).

        Without padding one fused ``nn.GRU`` call per network; with padding a step loop that keeps
        the hidden state at padded steps (identical results, tested).
        """
        T, B = mask.shape
        h = self.initial_state(B) if h0 is None else h0
        if bool(mask.all()):
            out_pi, _ = self.pi_gru(x, h[0:1].contiguous())
            out_v, _ = self.v_gru(x, h[1:2].contiguous())
        else:
            outs_pi, outs_v = [], []
            for t in range(T):
                o_pi, h_pi = self.pi_gru(x[t : t + 1], h[0:1].contiguous())
                o_v, h_v = self.v_gru(x[t : t + 1], h[1:2].contiguous())
                keep = mask[t].view(1, B, 1)
                h = torch.where(keep, torch.cat([h_pi, h_v], 0), h)
                outs_pi.append(o_pi[0])
                outs_v.append(o_v[0])
            out_pi, out_v = torch.stack(outs_pi), torch.stack(outs_v)
        return (self.mean_head(out_pi), gaussian.floor_log_std(self.log_std), self.value_head(out_v).squeeze(-1))
