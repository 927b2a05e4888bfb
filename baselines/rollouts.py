"""On-policy rollouts on ``TaskVectorEnv``: every env steps in lockstep, one batched policy forward per step.

Meta-batch sampling (MAML-TRPO, ProMP; reference Section 1.3): K tasks x R rollouts = K R envs,
task-major (env i runs task i // R), one episode each, all reset together. Each task has its own
policy parameters (theta before adaptation, theta'_T after), evaluated with one batched forward.

RL2 trials (reference Section 4): one env per task; E episodes in a row with the GRU hidden state
carried across episode boundaries and zeroed only at the start of the trial.

Actions: Gaussian samples in the policy's action space; the env receives ``clip(a / action_scale,
-1, 1)`` (its own normalised range; ``action_scale`` = 10 reproduces ProMP's [-10, 10] wrapper,
reference Section 1.2). Log-probabilities are of the unclipped sample.

Arrays are time-major: ``(T, B, ...)`` with ``mask`` marking steps where the env was active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from baselines import gaussian
from baselines.policies import GaussianMLPPolicy, GRUPolicyValue
from pearl.envs import TaskVectorEnv


@dataclass
class Rollouts:
    """One sampling phase of K tasks x R episodes (time-major, columns task-major)."""

    obs: torch.Tensor  # (T, K R, obs_dim)
    actions: torch.Tensor  # (T, K R, act_dim), unclipped policy-space samples
    rewards: torch.Tensor  # (T, K R) dense (training) reward
    sparse_rewards: torch.Tensor  # (T, K R) info['sparse_reward'] where the family has it, else = rewards
    mask: torch.Tensor  # (T, K R) bool
    logp: torch.Tensor  # (T, K R) behaviour log-likelihood
    mean: torch.Tensor  # (T, K R, act_dim) behaviour mean
    log_std: torch.Tensor  # (K, act_dim) behaviour log-std per task
    num_tasks: int
    rollouts_per_task: int

    @property
    def num_steps(self) -> int:
        return int(self.mask.sum())

    def episode_returns(self, sparse: bool = False) -> torch.Tensor:
        """Undiscounted return per episode, (K, R)."""
        r = self.sparse_rewards if sparse else self.rewards
        return (r * self.mask).sum(0).view(self.num_tasks, self.rollouts_per_task)

    def per_task(self, x: torch.Tensor) -> torch.Tensor:
        """(T, K R, ...) -> (K, T R, ...): one row of samples per task, for the batched policy."""
        T, K, R = x.shape[0], self.num_tasks, self.rollouts_per_task
        x = x.reshape(T, K, R, *x.shape[2:]).transpose(0, 1)
        return x.reshape(K, T * R, *x.shape[3:])


def _sparse(info: dict, reward: np.ndarray) -> np.ndarray:
    return info["sparse_reward"] if "sparse_reward" in info else reward


@torch.no_grad()
def sample_meta_batch(
    venv: TaskVectorEnv,
    policy: GaussianMLPPolicy,
    params: dict,
    rollouts_per_task: int,
    action_scale: float,
    deterministic: bool = False,
) -> Rollouts:
    """One episode per env; ``params`` has a leading task axis K with ``K * rollouts_per_task == venv.num_envs``."""
    K = next(iter(params.values())).shape[0]
    R = rollouts_per_task
    if K * R != venv.num_envs:
        raise ValueError(f"{K} tasks x {R} rollouts != {venv.num_envs} envs")
    obs = torch.as_tensor(venv.reset())
    out = {k: [] for k in ("obs", "actions", "rewards", "sparse", "mask", "logp", "mean")}
    log_std = None
    while not venv.done.all():
        mean, log_std = policy.forward_batched(params, obs.view(K, R, -1))
        noise = torch.zeros_like(mean) if deterministic else torch.randn_like(mean)
        actions = mean + torch.exp(log_std) * noise
        logp = gaussian.log_likelihood(actions, mean, log_std)
        env_actions = torch.clamp(actions / action_scale, -1.0, 1.0).reshape(K * R, -1)
        next_obs, reward, _, _, info = venv.step(env_actions.numpy())
        active = torch.as_tensor(info["active"])
        out["obs"].append(obs)
        out["actions"].append(actions.reshape(K * R, -1))
        out["rewards"].append(torch.as_tensor(reward, dtype=torch.float32))
        out["sparse"].append(torch.as_tensor(_sparse(info, reward), dtype=torch.float32))
        out["mask"].append(active)
        out["logp"].append(logp.reshape(K * R))
        out["mean"].append(mean.reshape(K * R, -1))
        obs = torch.as_tensor(next_obs)
    s = {k: torch.stack(v) for k, v in out.items()}
    m = s["mask"]
    return Rollouts(
        obs=s["obs"],
        actions=s["actions"] * m.unsqueeze(-1),
        rewards=s["rewards"] * m,
        sparse_rewards=s["sparse"] * m,
        mask=m,
        logp=s["logp"] * m,
        mean=s["mean"],
        log_std=log_std.squeeze(1).clone(),
        num_tasks=K,
        rollouts_per_task=R,
    )


@dataclass
class Trials:
    """K RL2 trials of E episodes each, concatenated in time (T = sum of episode lengths, padded)."""

    inputs: torch.Tensor  # (T, K, obs_dim + act_dim + 2): [s_t, a_{t-1}, r_{t-1}, d_{t-1}]
    actions: torch.Tensor  # (T, K, act_dim) unclipped samples
    rewards: torch.Tensor  # (T, K) dense (training) reward
    sparse_rewards: torch.Tensor  # (T, K)
    mask: torch.Tensor  # (T, K) bool
    logp: torch.Tensor  # (T, K)
    values: torch.Tensor  # (T, K) value estimates at sampling time
    episode: torch.Tensor  # (T,) episode index 0..E-1 of each time row
    episode_start: torch.Tensor  # (T, K) bool: first step of an episode
    hidden_at_episode_start: list[torch.Tensor]  # E tensors (2, K, H), for tests and diagnostics

    @property
    def num_steps(self) -> int:
        return int(self.mask.sum())

    def episode_returns(self, num_episodes: int, sparse: bool = False) -> torch.Tensor:
        """(K, E) undiscounted return of every episode of every trial."""
        r = (self.sparse_rewards if sparse else self.rewards) * self.mask
        onehot = torch.nn.functional.one_hot(self.episode, num_episodes).to(r.dtype)  # (T, E)
        return (onehot.T @ r).T


@torch.no_grad()
def sample_trials(
    venv: TaskVectorEnv,
    model: GRUPolicyValue,
    num_episodes: int,
    action_scale: float = 1.0,
    sparse_reward_input: bool = False,
    deterministic: bool = False,
) -> Trials:
    """Run one trial per env: ``num_episodes`` episodes, hidden state reset only at the trial start.

    Inputs follow the RL2 paper: at the first step of the trial a_{t-1} = 0, r_{t-1} = 0, d = 0; at
    the first step of a later episode they carry the previous episode's last action and reward with
    d = 1 (the "episode ended" flag). ``sparse_reward_input``: the policy sees the sparse reward
    (sparse-point-robot), while the PPO objective uses the dense one.
    """
    K, A = venv.num_envs, venv.act_dim
    h = model.initial_state(K)
    prev_a = torch.zeros(K, A)
    prev_r = torch.zeros(K, 1)
    done_flag = torch.zeros(K, 1)
    no_flag, nobody = torch.zeros(K, 1), torch.zeros(K, dtype=torch.bool)
    out = {k: [] for k in ("inputs", "actions", "mean", "rewards", "sparse", "mask", "values", "start")}
    log_std = gaussian.floor_log_std(model.log_std)  # state-independent: = model.step's, constant over the trial
    std = torch.exp(log_std)
    episode = []
    hidden_starts = []
    for e in range(num_episodes):
        obs = torch.as_tensor(venv.reset())
        hidden_starts.append(h.clone())
        first = torch.ones(K, dtype=torch.bool)
        while not venv.done.all():
            x = torch.cat([obs, prev_a, prev_r, done_flag], dim=-1)
            mean, _, value, h_new = model.step(x, h)
            noise = torch.zeros_like(mean) if deterministic else torch.randn_like(mean)
            actions = mean + std * noise
            env_actions = torch.clamp(actions if action_scale == 1.0 else actions / action_scale, -1.0, 1.0)
            next_obs, reward, _, _, info = venv.step(env_actions.numpy())
            active = torch.as_tensor(info["active"])
            reward_t = torch.as_tensor(reward, dtype=torch.float32)
            sparse_t = torch.as_tensor(_sparse(info, reward), dtype=torch.float32)
            out["inputs"].append(x)
            out["actions"].append(actions)
            out["mean"].append(mean)
            out["mask"].append(active)
            episode.append(e)
            if info["active"].all():  # every env stepped: masking by 1 and selecting the new state are no-ops
                out["rewards"].append(reward_t)
                out["sparse"].append(sparse_t)
                out["values"].append(value)
                out["start"].append(first)
                first = nobody
                h, prev_a, done_flag = h_new, env_actions, no_flag
                prev_r = (sparse_t if sparse_reward_input else reward_t).unsqueeze(-1)
            else:
                out["rewards"].append(reward_t * active)
                out["sparse"].append(sparse_t * active)
                out["values"].append(value * active)
                out["start"].append(first & active)
                first = first & ~active
                # advance only the envs that stepped; finished envs keep their state for the next episode
                a_col = active.unsqueeze(-1)
                h = torch.where(active.view(1, K, 1), h_new, h)
                prev_a = torch.where(a_col, env_actions, prev_a)
                prev_r = torch.where(a_col, (sparse_t if sparse_reward_input else reward_t).unsqueeze(-1), prev_r)
                done_flag = torch.where(a_col, no_flag, done_flag)
            obs = torch.as_tensor(next_obs)
        done_flag = torch.ones(K, 1)  # the next episode's first input says "an episode just ended"
    s = {k: torch.stack(v) for k, v in out.items()}
    s["episode"] = torch.tensor(episode)
    # log-likelihoods of the whole trial at once: the same elementwise ops and per-row sums as step by step
    s["logp"] = gaussian.log_likelihood(s["actions"], s["mean"], log_std) * s["mask"]
    return Trials(
        inputs=s["inputs"],
        actions=s["actions"],
        rewards=s["rewards"],
        sparse_rewards=s["sparse"],
        mask=s["mask"],
        logp=s["logp"],
        values=s["values"],
        episode=s["episode"],
        episode_start=s["start"],
        hidden_at_episode_start=hidden_starts,
    )
