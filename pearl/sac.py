"""Soft actor-critic conditioned on the latent context z (paper Section 5, eqs. 3-4).

One gradient step (reference Section 2.5), for a meta-batch of tasks at once:

1. infer q(z | c_i) for each task's context and draw one reparameterised z_i per task;
2. critic (eq. 3): Q_k(s, a, z) regressed on  reward_scale * r + (1 - terminal) * gamma * V_bar(s', z_bar);
   the encoder is trained by this loss plus  kl_lambda * sum_i KL(q(z|c_i) || N(0, I))  (eq. 1) only;
3. V(s, z_bar) regressed on  min_k Q_k(s, a~, z_bar) - log pi(a~ | s, z_bar)  with the updated Qs;
4. actor (eq. 4): mean(log pi - min_k Q_k) + small mean/log-std regularisers; z_bar for the actor;
5. Polyak update of the target V.

z_bar = z with gradients stopped. There is no target Q and no temperature: reward_scale plays
1/alpha (SAC v1, as in oyster).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pearl.buffers import Batch
from pearl.core.errors import NonFiniteLossError
from pearl.encoder import ContextEncoder, Posterior, make_encoder
from pearl.networks import NumpyPolicy, TanhGaussianPolicy, TwinQ, ValueNet

LOSS_NAMES = ("qf_loss", "kl_loss", "vf_loss", "policy_loss")
PRECISIONS = ("float32", "bfloat16")  # of the hidden layers in gradient steps (config "auto" is resolved before)


class PEARLAgent(nn.Module):
    """Encoder q_phi(z|c), policy pi_theta(a|s,z), twin Q(s,a,z), V(s,z) and the target V."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        context_dim: int,
        encoder_type: str,
        latent_size: int,
        net_size: int,
        num_hidden_layers: int,
        encoder_hidden: int,
        encoder_hidden_layers: int,
    ):
        super().__init__()
        self.obs_dim, self.act_dim, self.latent_dim = obs_dim, act_dim, latent_size
        self.encoder: ContextEncoder = make_encoder(
            encoder_type, context_dim, latent_size, encoder_hidden, encoder_hidden_layers
        )
        self.policy = TanhGaussianPolicy(obs_dim, latent_size, act_dim, net_size, num_hidden_layers)
        self.qf = TwinQ(obs_dim, act_dim, latent_size, net_size, num_hidden_layers)
        self.vf = ValueNet(obs_dim, latent_size, net_size, num_hidden_layers)
        self.target_vf = ValueNet(obs_dim, latent_size, net_size, num_hidden_layers)
        self.target_vf.load_state_dict(self.vf.state_dict())
        self.target_vf.requires_grad_(False)
        self._policy_params = list(self.policy.parameters())
        self._acting: tuple[tuple, NumpyPolicy] | None = None  # (parameter versions, the copy made then)

    @property
    def device(self) -> torch.device:
        return self.policy.trunk.last.weight.device

    @torch.no_grad()
    def infer_posterior(self, context: np.ndarray, mask: np.ndarray | None = None) -> Posterior:
        """q(z | c) for a batch of contexts ``(task, N, context_dim)`` (no gradients), in host memory."""
        posterior = self.encoder(
            torch.as_tensor(context, dtype=torch.float32, device=self.device),
            None if mask is None else torch.as_tensor(mask, device=self.device),
        )
        return posterior if self.device.type == "cpu" else posterior.to("cpu")

    def prior(self, num_tasks: int) -> Posterior:
        return self.encoder.prior(num_tasks)

    def acting_policy(self) -> NumpyPolicy:
        """The numpy copy of the policy that rollouts act with, made again whenever a policy parameter
        changed since the last one: an optimiser step or ``load_state_dict`` bumps a tensor's version
        counter in place, a move to another device gives it new storage."""
        key = tuple((p.data_ptr(), p._version) for p in self._policy_params)
        if self._acting is None or self._acting[0] != key:
            self._acting = (key, NumpyPolicy(self.policy))
        return self._acting[1]

    def act(self, obs: np.ndarray, z: torch.Tensor, deterministic: bool = False) -> np.ndarray:
        """One batched policy forward: ``obs (n, obs_dim)``, ``z (n, latent)`` -> actions ``(n, act_dim)``,
        in host memory whatever the learner's device (``NumpyPolicy``)."""
        return self.acting_policy()(obs, z.detach().cpu().numpy(), deterministic)


class PEARLLearner:
    """Optimisers and the gradient step of Algorithm 1 (lines 11-22)."""

    def __init__(
        self,
        agent: PEARLAgent,
        *,
        policy_lr: float,
        qf_lr: float,
        vf_lr: float,
        context_lr: float,
        discount: float,
        reward_scale: float,
        kl_lambda: float,
        soft_target_tau: float,
        policy_mean_reg_weight: float,
        policy_std_reg_weight: float,
        precision: str = "float32",
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(PRECISIONS)}")
        self.agent = agent
        self.device = agent.device  # networks, optimiser state and batches; buffers stay in host memory
        self.precision = precision
        self.discount, self.reward_scale, self.kl_lambda = discount, reward_scale, kl_lambda
        self.tau = soft_target_tau
        self.mean_reg, self.std_reg = policy_mean_reg_weight, policy_std_reg_weight
        self.policy_params = list(agent.policy.parameters())
        self.policy_optimizer = torch.optim.Adam(self.policy_params, lr=policy_lr)
        self.qf_optimizer = torch.optim.Adam(agent.qf.parameters(), lr=qf_lr)
        self.vf_optimizer = torch.optim.Adam(agent.vf.parameters(), lr=vf_lr)
        self.context_optimizer = torch.optim.Adam(agent.encoder.parameters(), lr=context_lr)
        self._vf_params = list(agent.vf.parameters())
        self._target_params = list(agent.target_vf.parameters())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "policy": self.policy_optimizer,
            "qf": self.qf_optimizer,
            "vf": self.vf_optimizer,
            "context": self.context_optimizer,
        }

    def autocast(self):
        """bf16 autocast of the hidden layers' matmuls when ``precision="bfloat16"`` (a speed option:
        ~2.5x the fp32 GEMM rate on CPUs with bf16 instructions); output layers stay float32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16")

    def losses(self, batch: Batch):
        """Forward pass for one meta-batch. Returns the loss tensors and the policy sample.

        Kept separate from ``update`` so tests can inspect which parameters each loss reaches.
        """
        with self.autocast():
            return self._losses(batch)

    def _losses(self, batch: Batch):
        a = self.agent
        obs, action, reward, terminal, next_obs, context = (
            torch.from_numpy(x).to(self.device)
            for x in (batch.obs, batch.action, batch.reward, batch.terminal, batch.next_obs, batch.context)
        )
        num_tasks, batch_size = reward.shape

        posterior = a.encoder(context)
        z = posterior.rsample()  # one z per task (Algorithm 1, line 14)
        z = z[:, None, :].expand(num_tasks, batch_size, -1)
        z_bar = z.detach()

        new_action, log_pi, mean, log_std = a.policy(obs, z_bar)
        q_pred = a.qf(obs, action, z)  # (2, task, batch): the only RL path into the encoder
        v_pred = a.vf(obs, z_bar)
        with torch.no_grad():
            target_v = a.target_vf(next_obs, z_bar)
            q_target = self.reward_scale * reward + (1.0 - terminal) * self.discount * target_v
        qf_loss = F.mse_loss(q_pred[0], q_target) + F.mse_loss(q_pred[1], q_target)
        kl_loss = self.kl_lambda * posterior.kl_to_prior().sum()  # summed over tasks, as oyster
        return dict(
            qf_loss=qf_loss,
            kl_loss=kl_loss,
            v_pred=v_pred,
            new_action=new_action,
            log_pi=log_pi,
            mean=mean,
            log_std=log_std,
            obs=obs,
            z_bar=z_bar,
            posterior=posterior,
        )

    def actor_losses(self, out: dict):
        """V and policy losses (steps 3-4) from the current (updated) Q networks."""
        with self.autocast():
            min_q_new = self.agent.qf(out["obs"], out["new_action"], out["z_bar"]).min(0).values
        v_target = (min_q_new - out["log_pi"]).detach()
        vf_loss = F.mse_loss(out["v_pred"], v_target)
        policy_loss = (
            (out["log_pi"] - min_q_new).mean()
            + self.mean_reg * out["mean"].pow(2).mean()
            + self.std_reg * out["log_std"].pow(2).mean()
        )
        return vf_loss, policy_loss

    def update(self, batch: Batch, iteration: int = -1, step: int = -1) -> torch.Tensor:
        """One gradient step; returns the detached losses in ``LOSS_NAMES`` order.

        Raises ``NonFiniteLossError`` naming the loss, iteration and gradient step if any loss is
        NaN/inf (checked before the corresponding parameters are stepped).
        """
        out = self.losses(batch)
        qf_loss, kl_loss = out["qf_loss"], out["kl_loss"]
        self._check(("qf_loss", "kl_loss"), (qf_loss, kl_loss), iteration, step)

        # critic + encoder (Algorithm 1 lines 19, 21)
        self.qf_optimizer.zero_grad(set_to_none=True)
        self.context_optimizer.zero_grad(set_to_none=True)
        (qf_loss + kl_loss).backward()
        self.qf_optimizer.step()
        self.context_optimizer.step()

        vf_loss, policy_loss = self.actor_losses(out)
        self._check(("vf_loss", "policy_loss"), (vf_loss, policy_loss), iteration, step)

        self.vf_optimizer.zero_grad(set_to_none=True)
        vf_loss.backward()
        self.vf_optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._vf_params, self.tau)

        # actor (line 20): gradients for the policy parameters only
        grads = torch.autograd.grad(policy_loss, self.policy_params)
        for p, g in zip(self.policy_params, grads):
            p.grad = g
        self.policy_optimizer.step()
        return torch.stack([qf_loss.detach(), kl_loss.detach(), vf_loss.detach(), policy_loss.detach()])

    @staticmethod
    def _check(names, losses, iteration: int, step: int) -> None:
        values = torch.stack([loss.detach() for loss in losses])
        if not bool(torch.isfinite(values).all()):
            bad = [n for n, v in zip(names, values.tolist()) if not np.isfinite(v)]
            raise NonFiniteLossError(
                f"non-finite {', '.join(bad)} ({', '.join(f'{n}={v}' for n, v in zip(names, values.tolist()))}) "
                f"at iteration {iteration}, gradient step {step}"
            )

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers().items()}

    def load_state_dict(self, state: dict) -> None:
        for name, opt in self.optimizers().items():
            opt.load_state_dict(state[name])
