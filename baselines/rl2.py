"""RL2 with PPO (Duan et al. 2016; Schulman et al. 2017; reference Section 4).

A GRU policy conditioned on (s_t, a_{t-1}, r_{t-1}, d_{t-1}) keeps its hidden state across the E
episodes of a trial on one task and is reset between trials, so "learning to adapt" is ordinary RL
on trials. Choices, explicit (reference Section 9, point 12):

* returns and GAE run over the whole trial (``returns_across_episodes=True``, the RL2 objective and
  garage's; episode-1 actions get credit for episode-2 reward). False: per-episode GAE (ProMP's code).
  No bootstrap at the end of the trial (nor at episode ends with the per-episode option).
* value function: a separate GRU over the same inputs, trained with 0.5 (V - R)^2 on the same
  batch (the references used a linear feature baseline).
* full BPTT over the trial (no 32-step truncation), minibatches of whole trials.
* the done flag is 1 at the first step of every episode after the first (the RL2 paper's intent).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from baselines import gaussian
from baselines.advantages import gae, normalize_per_group
from baselines.config import BaselineConfig
from baselines.policies import GRUPolicyValue
from baselines.rollouts import Trials, sample_trials
from pearl.core.errors import check_finite
from pearl.core.hardware import resolve_device, to_device
from pearl.envs import TaskVectorEnv


def trial_advantages(
    trials: Trials, num_episodes: int, discount: float, lam: float, across_episodes: bool, normalize: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, value targets), both (T, K); advantages normalised over the batch if asked."""
    if across_episodes:
        adv = gae(trials.rewards, trials.values, trials.mask, discount, lam)
    else:
        adv = torch.zeros_like(trials.rewards)
        for e in range(num_episodes):
            rows = trials.episode == e
            adv[rows] = gae(trials.rewards[rows], trials.values[rows], trials.mask[rows], discount, lam)
    returns = (adv + trials.values) * trials.mask
    if normalize:
        adv = normalize_per_group(adv, trials.mask, torch.zeros(adv.shape[1], dtype=torch.long), 1)
    return adv, returns


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def ppo_losses(
    model: GRUPolicyValue, trials: Trials, idx: torch.Tensor, adv: torch.Tensor, returns: torch.Tensor, clip_eps: float
) -> dict[str, torch.Tensor]:
    """Clipped surrogate, value and entropy terms on the trials ``idx`` (full BPTT over each trial)."""
    mask = trials.mask[:, idx]
    m = mask.float()
    mean, log_std, values = model.sequence(trials.inputs[:, idx], mask)
    logp = gaussian.log_likelihood(trials.actions[:, idx], mean, log_std)
    ratio = gaussian.likelihood_ratio(logp, trials.logp[:, idx])
    a = adv[:, idx]
    surrogate = torch.min(ratio * a, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * a)
    return {
        "policy_loss": -masked_mean(surrogate, m),
        "value_loss": 0.5 * masked_mean((values - returns[:, idx]) ** 2, m),
        "entropy": gaussian.entropy(log_std),
        "approx_kl": masked_mean((ratio - 1) - torch.log(ratio), m).detach(),
        "clip_fraction": masked_mean(((ratio - 1).abs() > clip_eps).float(), m).detach(),
    }


class RL2Algorithm:
    def __init__(self, config: BaselineConfig, obs_dim: int, act_dim: int):
        self.config = config
        a = config.algo
        self.device = resolve_device(config.device)  # the model and the PPO updates
        self.model = GRUPolicyValue(obs_dim + act_dim + 2, act_dim, a.hidden_size, a.init_log_std).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=a.lr)

    def acting_model(self) -> GRUPolicyValue:
        """The model that steps the envs: itself on the CPU, else a CPU copy of the current weights
        (one small forward per env step is faster on the host than a GPU round trip)."""
        if self.device.type == "cpu":
            return self.model
        return copy.deepcopy(self.model).cpu()

    @property
    def runs_per_train_task(self) -> int:
        return 1  # one env per task, the trial's episodes run in sequence

    @property
    def runs_per_test_task(self) -> int:
        return self.config.eval.runs_per_task

    @property
    def eval_episodes(self) -> int:
        return self.config.eval.num_episodes or self.config.sampling.episodes_per_task

    def train_iteration(self, venv: TaskVectorEnv, iteration: int) -> tuple[dict[str, float], int]:
        s, a = self.config.sampling, self.config.algo
        E = s.episodes_per_task
        t0 = time.perf_counter()
        trials = sample_trials(venv, self.acting_model(), E, s.action_scale, sparse_reward_input=s.sparse_rewards)
        t1 = time.perf_counter()
        adv, returns = trial_advantages(
            trials, E, s.discount, s.gae_lambda, a.returns_across_episodes, s.normalize_advantages
        )
        trials, adv, returns = to_device(trials, self.device), adv.to(self.device), returns.to(self.device)
        K = trials.mask.shape[1]
        log: dict[str, list[float]] = {}
        for epoch in range(a.ppo_epochs):
            for idx in torch.randperm(K).chunk(a.num_minibatches):
                terms = ppo_losses(self.model, trials, idx, adv, returns, a.clip_eps)
                loss = terms["policy_loss"] + a.vf_coef * terms["value_loss"] - a.entropy_coef * terms["entropy"]
                check_finite(
                    {"policy_loss": terms["policy_loss"], "value_loss": terms["value_loss"]}, iteration, step=epoch
                )
                self.optimizer.zero_grad()
                loss.backward()
                if a.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), a.max_grad_norm)
                self.optimizer.step()
                for name, value in terms.items():
                    log.setdefault(name, []).append(float(value.detach()))
        metrics = {f"train/{k}": float(np.mean(v)) for k, v in log.items()}
        returns_per_episode = trials.episode_returns(E).mean(0)
        for e in range(E):
            metrics[f"train/return_episode_{e}"] = float(returns_per_episode[e])
        metrics["train/policy_std"] = torch.exp(self.model.log_std.detach()).mean().item()
        metrics["time/sample_s"] = t1 - t0
        metrics["time/update_s"] = time.perf_counter() - t1
        return metrics, trials.num_steps

    def evaluate(self, venv: TaskVectorEnv, num_tasks: int) -> np.ndarray:
        """(num_tasks, E) mean return of every episode of the test trials per test task."""
        cfg = self.config
        trials = sample_trials(
            venv,
            self.acting_model(),
            self.eval_episodes,
            cfg.sampling.action_scale,
            sparse_reward_input=cfg.sampling.sparse_rewards,
            deterministic=cfg.eval.deterministic,
        )
        per_env = trials.episode_returns(self.eval_episodes, sparse=cfg.sampling.sparse_rewards)  # (K R, E)
        return per_env.view(num_tasks, self.runs_per_test_task, -1).mean(1).numpy()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
