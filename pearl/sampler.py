"""Batched data collection for meta-training (Algorithm 1, lines 3-10; reference Section 2.4).

All tasks being collected step in lockstep in one ``TaskVectorEnv``, with one batched policy
forward per env step. z is held fixed for a whole episode and redrawn between episodes:

* prior phase:      z ~ N(0, I) for every episode;                      -> RL + context buffers
* posterior phase:  first episode z ~ prior, then z ~ q(z | c) with c a   -> RL + context buffers
                    context batch from S_c, re-inferred after every episode
* extra-RL phase:   as the posterior phase;                              -> RL buffer only

Each phase runs whole episodes until every task has at least the requested number of
transitions. ``env_steps`` counts stored training transitions: the x-axis of the paper's curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pearl.buffers import BatchSampler, Layout, MultiTaskReplayBuffer
from pearl.envs import TaskVectorEnv
from pearl.envs.base import Task
from pearl.sac import PEARLAgent


@dataclass
class EpisodeBatch:
    """One lockstep episode of ``n`` envs. ``rows (T, n, width)`` are valid for ``t < lengths[i]``."""

    rows: np.ndarray
    lengths: np.ndarray
    returns: np.ndarray  # dense
    sparse_returns: np.ndarray
    observations: np.ndarray | None = None  # (T + 1, n, obs_dim): s_0 .. s_T (stale after done)

    def env_rows(self, i: int) -> np.ndarray:
        return self.rows[: self.lengths[i], i]


def run_episode(agent: PEARLAgent, venv: TaskVectorEnv, z: torch.Tensor, layout: Layout,
                deterministic: bool = False, record_observations: bool = False) -> EpisodeBatch:
    """Reset every env and run one episode with a fixed ``z (n, latent)`` per env."""
    n, horizon = venv.num_envs, venv.horizon
    rows = np.zeros((horizon, n, layout.width), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int64)
    returns = np.zeros(n)
    sparse_returns = np.zeros(n)
    no_sparse = np.zeros(n)
    obs = venv.reset()
    observations = [obs] if record_observations else None
    t = 0
    while not venv.done.all() and t < horizon:
        action = agent.act(obs, z, deterministic=deterministic)
        next_obs, reward, terminated, _, info = venv.step(action)
        active = info["active"]
        sparse = info.get("sparse_reward", no_sparse)
        layout.write_rows(rows[t], obs, action, reward, sparse, terminated, next_obs)
        lengths += active
        returns += reward * active
        sparse_returns += sparse * active
        obs = next_obs
        if record_observations:
            observations.append(obs)
        t += 1
    return EpisodeBatch(rows[:t], lengths, returns, sparse_returns,
                        np.stack(observations) if record_observations else None)


class Collector:
    """Fills the per-task RL and context buffers of the train tasks."""

    def __init__(self, agent: PEARLAgent, train_tasks: list[Task], venv_init: TaskVectorEnv,
                 venv_explore: TaskVectorEnv, rl_buffer: MultiTaskReplayBuffer,
                 enc_buffer: MultiTaskReplayBuffer, sampler: BatchSampler):
        self.agent = agent
        self.train_tasks = train_tasks
        self.venv_init, self.venv_explore = venv_init, venv_explore
        self.rl_buffer, self.enc_buffer = rl_buffer, enc_buffer
        self.sampler = sampler
        self.layout = rl_buffer.layout

    def _store(self, episode: EpisodeBatch, task_ids: np.ndarray, wanted: np.ndarray,
               to_context: bool) -> np.ndarray:
        """Add the episode of env i to task_ids[i]'s buffers where ``wanted[i]``; returns counts stored."""
        stored = np.where(wanted, episode.lengths, 0)
        for i in np.flatnonzero(wanted):
            rows = episode.env_rows(i)
            self.rl_buffer.add(task_ids[i], rows)
            if to_context:
                self.enc_buffer.add(task_ids[i], rows)
        return stored

    def _phase(self, venv: TaskVectorEnv, task_ids: np.ndarray, num_steps: int, use_posterior: bool,
               to_context: bool, rng: np.random.Generator) -> int:
        """Collect >= ``num_steps`` transitions for each env's task; returns transitions stored."""
        if num_steps <= 0:
            return 0
        collected = np.zeros(len(task_ids), dtype=np.int64)
        belief = self.agent.prior(len(task_ids))  # every phase starts from the prior (reference 2.4)
        while (collected < num_steps).any():
            z = belief.rsample()
            episode = run_episode(self.agent, venv, z, self.layout)
            collected += self._store(episode, task_ids, collected < num_steps, to_context)
            if use_posterior:
                context = self.sampler.sample_context(task_ids, rng)
                belief = self.agent.infer_posterior(context)
        return int(collected.sum())

    def collect_initial(self, num_steps: int, rng: np.random.Generator) -> int:
        """Iteration 0: every train task, z ~ prior, into both buffers."""
        task_ids = np.arange(len(self.train_tasks))
        return self._phase(self.venv_init, task_ids, num_steps, use_posterior=False, to_context=True, rng=rng)

    def collect_round(self, task_ids: np.ndarray, num_steps_prior: int, num_steps_posterior: int,
                      num_extra_rl_steps_posterior: int, rng: np.random.Generator) -> int:
        """One iteration's data for the sampled tasks (Algorithm 1, lines 3-10).

        The tasks' context buffers are emptied first, so they hold only this round's data (the
        "recently collected" data of Section 5). A task drawn twice gets both copies' data.
        """
        task_ids = np.asarray(task_ids)
        self.venv_explore.set_tasks([self.train_tasks[i] for i in task_ids])
        self.enc_buffer.clear(np.unique(task_ids))
        steps = self._phase(self.venv_explore, task_ids, num_steps_prior, False, True, rng)
        steps += self._phase(self.venv_explore, task_ids, num_steps_posterior, True, True, rng)
        steps += self._phase(self.venv_explore, task_ids, num_extra_rl_steps_posterior, True, False, rng)
        return steps
