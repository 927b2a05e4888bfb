"""Batched data collection for meta-training (Algorithm 1, lines 3-10; reference Section 2.4).

All tasks being collected step in lockstep in one ``TaskVectorEnv``, with one batched policy
forward per env step. z is held fixed for a whole episode and redrawn between episodes:

* prior phase:      z ~ N(0, I) for every episode;                      -> RL + context buffers
* posterior phase:  first episode z ~ prior, then z ~ q(z | c) with c a   -> RL + context buffers
                    context batch from S_c, re-inferred after every episode
* extra-RL phase:   as the posterior phase;                              -> RL buffer only

Each phase runs whole episodes until every task has at least the requested number of
transitions. ``env_steps`` counts stored training transitions: the x-axis of the paper's curves.

Lockstep: a task that needs ``num_steps`` more transitions needs at least ``ceil(num_steps / H)``
more episodes, and every one of them is stored (the episodes before the last of them add up to
less than ``num_steps``), so all of them run at once, side by side in one ``TaskVectorEnv``
(at most ``MAX_LOCKSTEP_ENVS`` envs, or one per task when there are more tasks), as long as
their z does not depend on each other's data: always for prior z; for posterior z when the
context they are inferred from cannot change during the phase, i.e. the context comes from the
context buffer (``context_source == 'recent'``) and the phase does not write to it (the extra-RL
phase). The first episode of a posterior phase still uses the prior and the others each infer
q(z | c) from their own context batch, as after each episode in the sequential order: the same
distribution of transitions, stored in the same per-task order. Otherwise (posterior phases that
add to the context, or a context sampled from the RL buffer) a task's episodes run one after
another, all tasks in lockstep. Episodes that end early (terminations) are topped up by the next
lockstep round.
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


def run_episode(
    agent: PEARLAgent,
    venv: TaskVectorEnv,
    z: torch.Tensor,
    layout: Layout,
    deterministic: bool = False,
    record_observations: bool = False,
) -> EpisodeBatch:
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
    policy, z_host = agent.acting_policy(), z.detach().cpu().numpy()  # fixed for the episode: = agent.act
    while not venv.done.all() and t < horizon:
        action = policy(obs, z_host, deterministic)
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
    return EpisodeBatch(
        rows[:t], lengths, returns, sparse_returns, np.stack(observations) if record_observations else None
    )


MAX_LOCKSTEP_ENVS = 64  # envs stepped together by a collection phase (at least one per task)


class Collector:
    """Fills the per-task RL and context buffers of the train tasks."""

    def __init__(
        self,
        agent: PEARLAgent,
        train_tasks: list[Task],
        venv_init: TaskVectorEnv,
        venv_explore: TaskVectorEnv,
        rl_buffer: MultiTaskReplayBuffer,
        enc_buffer: MultiTaskReplayBuffer,
        sampler: BatchSampler,
    ):
        self.agent = agent
        self.train_tasks = train_tasks
        self.venv_init, self.venv_explore = venv_init, venv_explore
        self.rl_buffer, self.enc_buffer = rl_buffer, enc_buffer
        self.sampler = sampler
        self.layout = rl_buffer.layout

    def _lockstep(self, use_posterior: bool, to_context: bool) -> bool:
        """Can a task's episodes of this phase run side by side? (module docstring)"""
        return not use_posterior or (not to_context and self.sampler.context_source == "recent")

    def _draw_z(self, tasks: np.ndarray, prior_z: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """One z per episode: from the prior where ``prior_z``, else from q(z | c) of a fresh context batch."""
        z = torch.empty(len(tasks), self.agent.latent_dim)
        if prior_z.any():
            z[torch.from_numpy(prior_z)] = self.agent.prior(int(prior_z.sum())).rsample()
        if not prior_z.all():
            context = self.sampler.sample_context(tasks[~prior_z], rng)
            z[torch.from_numpy(~prior_z)] = self.agent.infer_posterior(context).rsample()
        return z

    def _phase(
        self,
        venv: TaskVectorEnv,
        task_ids: np.ndarray,
        num_steps: int,
        use_posterior: bool,
        to_context: bool,
        rng: np.random.Generator,
    ) -> int:
        """Collect >= ``num_steps`` transitions for each task of ``task_ids``; returns transitions stored."""
        if num_steps <= 0:
            return 0
        task_ids = np.asarray(task_ids)
        n = len(task_ids)
        collected = np.zeros(n, dtype=np.int64)
        started = np.zeros(n, dtype=bool)  # has the task run its phase's first (prior-z) episode?
        lockstep = self._lockstep(use_posterior, to_context)
        width = max(MAX_LOCKSTEP_ENVS, n)
        horizon = venv.horizon
        while (collected < num_steps).any():
            need = -(-np.maximum(num_steps - collected, 0) // horizon)  # ceil: episodes each task still needs
            if not lockstep:
                need = np.minimum(need, 1)
            # slots in episode-major order (every task's next episode, then the one after, ...), as stored
            slots = np.concatenate([np.flatnonzero(need > e) for e in range(int(need.max()))])[:width]
            prior_z = np.ones(len(slots), dtype=bool)
            if use_posterior:  # every phase starts from the prior (reference 2.4), then q(z | c)
                first = np.zeros(len(slots), dtype=bool)
                first[np.unique(slots, return_index=True)[1]] = True
                prior_z = first & ~started[slots]
            z = self._draw_z(task_ids[slots], prior_z, rng)
            venv.use_tasks([self.train_tasks[t] for t in task_ids[slots]])
            episode = run_episode(self.agent, venv, z, self.layout)
            for j, slot in enumerate(slots.tolist()):
                rows = episode.env_rows(j)
                self.rl_buffer.add(task_ids[slot], rows)
                if to_context:
                    self.enc_buffer.add(task_ids[slot], rows)
                collected[slot] += episode.lengths[j]
            started[slots] = True
        return int(collected.sum())

    def collect_initial(self, num_steps: int, rng: np.random.Generator) -> int:
        """Iteration 0: every train task, z ~ prior, into both buffers."""
        task_ids = np.arange(len(self.train_tasks))
        return self._phase(self.venv_init, task_ids, num_steps, use_posterior=False, to_context=True, rng=rng)

    def collect_round(
        self,
        task_ids: np.ndarray,
        num_steps_prior: int,
        num_steps_posterior: int,
        num_extra_rl_steps_posterior: int,
        rng: np.random.Generator,
    ) -> int:
        """One iteration's data for the sampled tasks (Algorithm 1, lines 3-10).

        The tasks' context buffers are emptied first, so they hold only this round's data (the
        "recently collected" data of Section 5). A task drawn twice gets both copies' data.
        """
        task_ids = np.asarray(task_ids)
        self.enc_buffer.clear(np.unique(task_ids))
        steps = self._phase(self.venv_explore, task_ids, num_steps_prior, False, True, rng)
        steps += self._phase(self.venv_explore, task_ids, num_steps_posterior, True, True, rng)
        steps += self._phase(self.venv_explore, task_ids, num_extra_rl_steps_posterior, True, False, rng)
        return steps
