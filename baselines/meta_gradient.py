"""MAML-TRPO and ProMP iterations: sample, adapt, sample, outer update (reference Section 1.5).

One iteration on K tasks x R episodes: sample with theta, process (returns, per-task linear baseline,
GAE, per-task normalisation), adapt numerically (theta'_T), sample with theta'_T, ... (S inner steps),
then one outer update on all S + 1 batches: a TRPO step through the inner update (``maml-trpo``) or
``num_promp_steps`` Adam steps on the ProMP objective (``promp``).

Evaluation on held-out test tasks follows the same protocol without the outer update: episode k
of the adaptation curve is the mean return of sampling phase k (k = 1 pre-update, k = S + 1 after
S inner steps); ``test/return`` is the last one.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from baselines.config import BaselineConfig
from baselines.maml import TaskBatch, adapt, process_rollouts, trpo_meta_step
from baselines.policies import GaussianMLPPolicy
from baselines.promp import adapt_kl_coeffs, promp_objective
from baselines.rollouts import sample_meta_batch
from pearl.core.errors import check_finite
from pearl.core.hardware import resolve_device, to_device
from pearl.envs import TaskVectorEnv


class MetaGradientAlgorithm:
    """State and one iteration of ``maml-trpo`` or ``promp``."""

    def __init__(self, config: BaselineConfig, obs_dim: int, act_dim: int):
        self.config = config
        a = config.algo
        self.device = resolve_device(config.device)  # the policy and the updates; rollouts run on the CPU
        self.policy = GaussianMLPPolicy(obs_dim, act_dim, tuple(a.hidden_sizes), a.init_log_std).to(self.device)
        self.is_promp = config.method == "promp"
        if self.is_promp:
            self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=a.outer_lr)
            self.kl_coeffs = [float(a.init_inner_kl_penalty)] * a.num_inner_steps

    # ---- envs ------------------------------------------------------------------------------------
    @property
    def runs_per_train_task(self) -> int:
        return self.config.sampling.episodes_per_task

    @property
    def runs_per_test_task(self) -> int:
        return self.config.eval.runs_per_task

    # ---- sampling and adaptation ---------------------------------------------------------------
    def _sample_and_adapt(self, venv: TaskVectorEnv, num_tasks: int, runs: int, deterministic_last: bool = False):
        """S + 1 sampling phases with numerical inner steps in between; returns (batches, rollouts)."""
        s, a = self.config.sampling, self.config.algo
        with torch.no_grad():
            params = self.policy.per_task(num_tasks)
        batches: list[TaskBatch] = []
        rollouts = []
        for k in range(a.num_inner_steps + 1):
            last = k == a.num_inner_steps
            ro = sample_meta_batch(
                venv,
                self.policy,
                {name: p.cpu() for name, p in params.items()},
                runs,
                s.action_scale,
                deterministic=deterministic_last and last,
            )
            rollouts.append(ro)
            # the adaptation signal is the sparse reward where the family has one; the outer objective is dense
            batch = to_device(
                process_rollouts(
                    ro, s.discount, s.gae_lambda, s.normalize_advantages, use_sparse=s.sparse_rewards and not last
                ),
                self.device,
            )
            batches.append(batch)
            if not last:
                params = adapt(self.policy, params, batch, a.inner_lr, a.inner_loss, create_graph=False)
        return batches, rollouts

    def train_iteration(self, venv: TaskVectorEnv, iteration: int) -> tuple[dict[str, float], int]:
        a, K = self.config.algo, self.config.sampling.meta_batch
        t0 = time.perf_counter()
        batches, rollouts = self._sample_and_adapt(venv, K, self.runs_per_train_task)
        t1 = time.perf_counter()
        metrics: dict[str, float] = {}
        for k, ro in enumerate(rollouts):
            metrics[f"train/return_step_{k}"] = float(ro.episode_returns().mean())
        inner, post = batches[:-1], batches[-1]
        if self.is_promp:
            for n in range(a.num_promp_steps):
                loss, j_clip, kls = promp_objective(
                    self.policy, inner, post, a.inner_lr, a.inner_loss, a.clip_eps, self.kl_coeffs
                )
                check_finite({"promp_loss": loss}, iteration, step=n)
                if n == 0:
                    metrics["train/loss_before"] = loss.item()
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            inner_kls = [kl.item() for kl in kls]
            metrics.update({"train/loss": loss.item(), "train/clip_objective": j_clip.item()})
            for k, kl in enumerate(inner_kls):
                metrics[f"train/inner_kl_{k}"] = kl
                metrics[f"train/inner_kl_coeff_{k}"] = self.kl_coeffs[k]
            if a.adaptive_inner_kl_penalty:
                self.kl_coeffs = adapt_kl_coeffs(self.kl_coeffs, inner_kls, a.target_inner_kl)
        else:
            info = trpo_meta_step(
                self.policy,
                inner,
                post,
                a.inner_lr,
                a.inner_loss,
                a.max_kl,
                a.cg_iters,
                a.cg_damping,
                a.backtrack_ratio,
                a.max_backtracks,
            )
            check_finite({"trpo_surrogate_loss": info["loss_before"]}, iteration)
            metrics.update({f"train/{k}": v for k, v in info.items()})
        check_finite(
            {"policy_parameters": torch.cat([p.reshape(-1) for p in self.policy.parameters()]).sum()}, iteration
        )
        metrics["train/policy_std"] = torch.exp(self.policy.log_std.detach()).mean().item()
        metrics["time/sample_s"] = t1 - t0
        metrics["time/update_s"] = time.perf_counter() - t1
        return metrics, sum(ro.num_steps for ro in rollouts)

    def evaluate(self, venv: TaskVectorEnv, num_tasks: int) -> np.ndarray:
        """(num_tasks, S + 1) mean episode return of every adaptation phase per test task."""
        cfg = self.config
        _, rollouts = self._sample_and_adapt(
            venv, num_tasks, self.runs_per_test_task, deterministic_last=cfg.eval.deterministic
        )
        return np.stack(
            [ro.episode_returns(sparse=cfg.sampling.sparse_rewards).mean(1).numpy() for ro in rollouts], axis=1
        )

    # ---- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"policy": self.policy.state_dict()}
        if self.is_promp:
            state.update(optimizer=self.optimizer.state_dict(), kl_coeffs=list(self.kl_coeffs))
        return state

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        if self.is_promp:
            self.optimizer.load_state_dict(state["optimizer"])
            self.kl_coeffs = list(state["kl_coeffs"])
