"""Meta-testing by online adaptation (Algorithm 2; reference Section 3.1), batched over test tasks.

For each held-out test task and each of ``num_evals`` independent runs (all runs step in lockstep
in one ``TaskVectorEnv``):

1. the context starts empty and z ~ prior N(0, I);
2. run an episode with deterministic actions (tanh of the mean) and a fixed z, appending every
   transition to the run's context (c_T = c_T U D_k);
3. after the episode draw a new z: from the prior while fewer than ``num_exp_traj_eval`` episodes
   are done, afterwards from the posterior q(z | c_T) of *all* accumulated transitions;
4. repeat until the run has ``num_steps_per_eval`` transitions.

The reported metric is oyster's ``AverageReturn_all_test_tasks`` (the paper's Figure 3 y-axis): the
return of each run's last episode, averaged over runs and tasks; with the MuJoCo presets (600 steps,
horizon 200, 2 prior episodes) this is the return after two context trajectories. For sparse
families (``sparse_rewards``) returns are sparse returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pearl.buffers import BatchSampler
from pearl.envs import TaskVectorEnv
from pearl.envs.base import Task
from pearl.sac import PEARLAgent
from pearl.sampler import run_episode


@dataclass
class EvalResult:
    final_return: float  # the paper's metric: mean return of the last adaptation episode
    per_task_final_return: np.ndarray  # (n_tasks,) mean over runs
    returns: np.ndarray  # (n_tasks, num_evals, max_episodes), NaN where a run had fewer episodes
    adaptation_curve: np.ndarray  # (max_episodes,) mean return per adaptation-episode index
    num_steps: int  # env steps spent (not counted as meta-training samples)
    paths: np.ndarray | None = None  # (n_tasks, num_evals, max_episodes, horizon + 1, obs_dim), NaN padded
    path_lengths: np.ndarray | None = None  # (n_tasks, num_evals, max_episodes)


def evaluate_online(
    agent: PEARLAgent,
    venv: TaskVectorEnv,
    tasks: list[Task],
    sampler: BatchSampler,
    *,
    num_evals: int,
    num_steps_per_eval: int,
    num_exp_traj_eval: int,
    deterministic: bool = True,
    sparse_rewards: bool = False,
    record_paths: bool = False,
) -> EvalResult:
    """Online adaptation on ``tasks``; ``venv`` must hold ``len(tasks) * num_evals`` envs."""
    n_tasks, n_runs = len(tasks), len(tasks) * num_evals
    if venv.num_envs != n_runs:
        raise ValueError(f"eval venv has {venv.num_envs} envs, expected {n_runs} (tasks x num_evals)")
    venv.set_tasks([t for t in tasks for _ in range(num_evals)])  # run r = task r // num_evals
    horizon = venv.horizon
    max_context = num_steps_per_eval + horizon
    context = np.zeros((n_runs, max_context, len(sampler.context_cols)), dtype=np.float32)
    count = np.zeros(n_runs, dtype=np.int64)  # transitions accumulated per run
    n_episodes = np.zeros(n_runs, dtype=np.int64)
    episode_returns: list[np.ndarray] = []
    paths, path_lengths = [], []
    steps_spent = 0

    belief = agent.prior(n_runs)
    z = belief.rsample()
    while (count < num_steps_per_eval).any():
        running = count < num_steps_per_eval
        episode = run_episode(
            agent, venv, z, sampler.layout, deterministic=deterministic, record_observations=record_paths
        )
        steps_spent += int(episode.lengths.sum())
        ret = episode.sparse_returns if sparse_rewards else episode.returns
        episode_returns.append(np.where(running, ret, np.nan))
        if record_paths:
            obs = np.full((horizon + 1, n_runs, venv.obs_dim), np.nan, dtype=np.float32)
            valid = np.arange(len(episode.observations))[:, None] <= episode.lengths[None, :]
            obs[: len(episode.observations)] = np.where(valid[..., None], episode.observations, np.nan)
            paths.append(np.where(running[None, :, None], obs, np.nan))
            path_lengths.append(np.where(running, episode.lengths, 0))

        # accumulate context: c_T <- c_T U D_k (vectorised scatter of the valid rows)
        t = np.arange(episode.rows.shape[0])[:, None]
        valid = (t < episode.lengths[None, :]) & running[None, :]
        dest = count[None, :] + t
        run_idx = np.broadcast_to(np.arange(n_runs)[None, :], valid.shape)
        context[run_idx[valid], dest[valid]] = sampler.to_context(episode.rows)[valid]
        count += np.where(running, episode.lengths, 0)
        n_episodes += running

        # next z: prior for the first num_exp_traj_eval episodes, then the posterior of all context
        z_prior = agent.prior(n_runs).rsample()
        use_post = (n_episodes >= num_exp_traj_eval) & (count > 0)
        if use_post.any():
            mask = np.arange(max_context)[None, :] < count[:, None]
            z_post = agent.infer_posterior(context, mask).rsample()
            z = torch.where(torch.from_numpy(use_post)[:, None], z_post, z_prior)
        else:
            z = z_prior

    returns = np.stack(episode_returns, axis=1)  # (n_runs, max_episodes)
    last = returns[np.arange(n_runs), n_episodes - 1]
    per_task = last.reshape(n_tasks, num_evals).mean(1)
    with np.errstate(all="ignore"):
        curve = np.nanmean(returns, axis=0)
    result = EvalResult(
        final_return=float(per_task.mean()),
        per_task_final_return=per_task,
        returns=returns.reshape(n_tasks, num_evals, -1),
        adaptation_curve=curve,
        num_steps=steps_spent,
    )
    if record_paths:
        result.paths = (
            np.stack(paths, axis=1)
            .transpose(2, 1, 0, 3)
            .reshape(n_tasks, num_evals, len(paths), horizon + 1, venv.obs_dim)
        )
        result.path_lengths = np.stack(path_lengths, axis=1).reshape(n_tasks, num_evals, -1)
    return result
