"""PEARL meta-training, Algorithm 1, with checkpoint/resume and seeding.

``train(config, logger, checkpoint_dir)`` runs ``config.algo.num_iterations`` iterations of

1. (iteration 0) ``num_initial_steps`` prior-z transitions for every train task;
2. data collection for ``num_tasks_sample`` random train tasks (``Collector.collect_round``);
3. ``num_train_steps_per_itr`` gradient steps on meta-batches of ``meta_batch`` tasks;
4. online-adaptation evaluation on the held-out test tasks every ``eval_every`` iterations.

The outer loop is the shared one (``pearl.core.loop``): every metric is logged with ``step`` = env
steps collected for meta-training so far (training transitions, the paper's x-axis), and the
iteration number is logged alongside. Every ``checkpoint_every`` iterations the full state
(networks, optimisers, both buffers, numpy/torch/env RNG states, counters) is written; ``train``
resumes from the latest checkpoint in ``checkpoint_dir`` and reproduces the uninterrupted run.
Evaluation draws its noise from its own seeded torch stream, so it does not perturb training.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pearl.buffers import BatchSampler, Layout, MultiTaskReplayBuffer
from pearl.config import PEARLConfig, validate
from pearl.core.checkpoint import check_resumable, save_checkpoint, set_torch_rng_state, torch_rng_state
from pearl.core.files import write_atomic
from pearl.core.hardware import resolve_device, resolve_precision, reuse_freed_memory, set_num_threads
from pearl.core.logger import (
    ADAPTATION_PREFIX,
    ENV_STEPS_METRIC,
    EVAL_ENV_STEPS_METRIC,
    GRAD_STEPS_METRIC,
    ITERATION_METRIC,
    RETURN_METRIC,
    TRAIN_PREFIX,
    Logger,
)
from pearl.core.loop import evaluation_due, train_loop
from pearl.envs import TaskVectorEnv, get_family
from pearl.evaluation import EvalResult, evaluate_online
from pearl.sac import LOSS_NAMES, PEARLAgent, PEARLLearner
from pearl.sampler import Collector

# keys that may differ between a checkpoint's config and the resuming config
RESUMABLE_CHANGES = {"num_iterations", "checkpoint_every", "num_threads", "device"}


class PEARLTrainer:
    """Holds everything Algorithm 1 needs; ``run_iteration`` does one outer iteration."""

    def __init__(self, config: PEARLConfig):
        validate(config)
        self.config = cfg = config
        if cfg.num_threads > 0:
            set_num_threads(cfg.num_threads)
        reuse_freed_memory()
        torch.manual_seed(cfg.seed)
        self.rng = np.random.Generator(np.random.PCG64(cfg.seed))

        spec = get_family(cfg.family)
        self.train_tasks = spec.train_tasks[: cfg.max_train_tasks]
        self.test_tasks = spec.test_tasks[: cfg.max_test_tasks]
        self.horizon = cfg.algo.max_path_length or spec.horizon
        base_seed = cfg.seed * 1_000_003
        a, e = cfg.algo, cfg.eval
        self.venvs = {
            "init": TaskVectorEnv(cfg.family, self.train_tasks, seed=base_seed, **cfg.env_kwargs),
            "explore": TaskVectorEnv(
                cfg.family, self.train_tasks[:1] * a.num_tasks_sample, seed=base_seed + 100_000, **cfg.env_kwargs
            ),
            "eval": TaskVectorEnv(
                cfg.family,
                [t for t in self.test_tasks for _ in range(e.num_evals)],
                seed=base_seed + 200_000,
                **cfg.env_kwargs,
            ),
        }
        for venv in self.venvs.values():
            venv.horizon = self.horizon
        obs_dim, act_dim = self.venvs["init"].obs_dim, self.venvs["init"].act_dim

        layout = Layout(obs_dim, act_dim)
        n_train = len(self.train_tasks)
        self.rl_buffer = MultiTaskReplayBuffer(n_train, layout, a.replay_buffer_size)
        self.enc_buffer = MultiTaskReplayBuffer(n_train, layout, a.replay_buffer_size)
        self.sampler = BatchSampler(
            self.rl_buffer,
            self.enc_buffer,
            context_source=cfg.context_source,
            sequence_context=cfg.context_is_sequence,
            rl_batch_mode=cfg.rl_batch_mode,
            batch_size=a.batch_size,
            embedding_batch_size=a.embedding_batch_size,
            use_next_obs=a.use_next_obs_in_context,
            sparse_rewards=a.sparse_rewards,
        )

        n = cfg.net
        self.agent = PEARLAgent(
            obs_dim,
            act_dim,
            layout.context_dim(a.use_next_obs_in_context),
            cfg.encoder_type,
            n.latent_size,
            n.net_size,
            n.num_hidden_layers,
            n.encoder_hidden,
            n.encoder_hidden_layers,
        ).to(resolve_device(cfg.device))
        self.learner = PEARLLearner(
            self.agent,
            policy_lr=a.policy_lr,
            qf_lr=a.qf_lr,
            vf_lr=a.vf_lr,
            context_lr=a.context_lr,
            discount=a.discount,
            reward_scale=a.reward_scale,
            kl_lambda=a.kl_lambda if cfg.encoder_type != "deterministic" else 0.0,
            soft_target_tau=a.soft_target_tau,
            policy_mean_reg_weight=a.policy_mean_reg_weight,
            policy_std_reg_weight=a.policy_std_reg_weight,
            precision=resolve_precision(cfg.net.precision, cfg.device),
        )
        self.collector = Collector(
            self.agent,
            self.train_tasks,
            self.venvs["init"],
            self.venvs["explore"],
            self.rl_buffer,
            self.enc_buffer,
            self.sampler,
        )
        self.iteration = 0  # next iteration to run
        self.env_steps = 0
        self.grad_steps = 0
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_result: EvalResult | None = None  # set by iterations that evaluated

    # ---------------------------------------------------------------------- one iteration
    def finished(self) -> bool:
        return self.iteration >= self.config.algo.num_iterations

    def run_iteration(self) -> dict[str, float]:
        """Algorithm 1 once: collect, ``num_train_steps_per_itr`` gradient steps, evaluate when due."""
        cfg, a, it = self.config, self.config.algo, self.iteration
        metrics: dict[str, float] = {}
        self.last_eval_result = None
        t0 = time.perf_counter()
        if it == 0:
            self.env_steps += self.collector.collect_initial(a.num_initial_steps, self.rng)
        task_ids = self.rng.integers(0, len(self.train_tasks), size=a.num_tasks_sample)
        self.env_steps += self.collector.collect_round(
            task_ids, a.num_steps_prior, a.num_steps_posterior, a.num_extra_rl_steps_posterior, self.rng
        )
        t1 = time.perf_counter()

        loss_sum = torch.zeros(len(LOSS_NAMES), device=self.agent.device)
        for k in range(a.num_train_steps_per_itr):
            tasks = self.rng.integers(0, len(self.train_tasks), size=a.meta_batch)
            batch = self.sampler.sample(tasks, self.rng)
            loss_sum += self.learner.update(batch, iteration=it, step=k)
        self.grad_steps += a.num_train_steps_per_itr
        for name, value in zip(LOSS_NAMES, (loss_sum / a.num_train_steps_per_itr).tolist()):
            metrics[TRAIN_PREFIX + name] = value
        t2 = time.perf_counter()

        if evaluation_due(it + 1, cfg.eval.eval_every, finished=it + 1 >= a.num_iterations):
            result = self.evaluate()
            metrics[RETURN_METRIC] = result.final_return
            for k, v in enumerate(result.adaptation_curve, start=1):
                metrics[f"{ADAPTATION_PREFIX}{k}"] = float(v)
            metrics[EVAL_ENV_STEPS_METRIC] = result.num_steps
            self.last_eval = {
                "iteration": it,
                "final_return": result.final_return,
                "adaptation_curve": result.adaptation_curve.tolist(),
            }
            self.last_eval_result = result
        t3 = time.perf_counter()

        metrics.update(
            {
                ENV_STEPS_METRIC: self.env_steps,
                ITERATION_METRIC: it,
                GRAD_STEPS_METRIC: self.grad_steps,
                "time/collect_s": t1 - t0,
                "time/train_s": t2 - t1,
                "time/eval_s": t3 - t2,
            }
        )
        self.iteration += 1
        return metrics

    def evaluate(self, record_paths: bool | None = None) -> EvalResult:
        """Online adaptation on the test tasks, with torch noise from a stream seeded by (seed, iteration)."""
        e = self.config.eval
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed * 7919 + self.iteration + 1)
            return evaluate_online(
                self.agent,
                self.venvs["eval"],
                self.test_tasks,
                self.sampler,
                num_evals=e.num_evals,
                num_steps_per_eval=e.num_steps_per_eval,
                num_exp_traj_eval=e.num_exp_traj_eval,
                deterministic=e.deterministic,
                sparse_rewards=self.config.algo.sparse_rewards,
                record_paths=e.record_paths if record_paths is None else record_paths,
            )

    # ---------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "grad_steps": self.grad_steps,
            "last_eval": self.last_eval,
            "config": self.config.to_dict(),
            "agent": self.agent.state_dict(),
            "optimizers": self.learner.state_dict(),
            "rl_buffer": self.rl_buffer.state_dict(),
            "enc_buffer": self.enc_buffer.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            **torch_rng_state(self.agent.device),
            "env_rng": {name: v.rng_state() for name, v in self.venvs.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        check_resumable(state["config"], self.config.to_dict(), RESUMABLE_CHANGES)
        self.iteration, self.env_steps, self.grad_steps = state["iteration"], state["env_steps"], state["grad_steps"]
        self.last_eval = state["last_eval"]
        self.agent.load_state_dict(state["agent"])
        self.learner.load_state_dict(state["optimizers"])
        self.rl_buffer.load_state_dict(state["rl_buffer"])
        self.enc_buffer.load_state_dict(state["enc_buffer"])
        self.rng.bit_generator.state = state["numpy_rng"]
        set_torch_rng_state(state, self.agent.device)
        for name, venv in self.venvs.items():
            venv.set_rng_state(state["env_rng"][name])

    def save_checkpoint(self, directory: str | os.PathLike, keep: int = 2) -> Path:
        """The checkpoint (named by completed iterations) and, when this iteration evaluated with
        ``record_paths``, its evaluation trajectories (``eval_paths_<iterations>.npz``)."""
        path = save_checkpoint(self.state_dict(), directory, self.iteration, keep)
        if self.last_eval_result is not None and self.last_eval_result.paths is not None:
            save_eval_paths(self.last_eval_result, Path(directory) / f"eval_paths_{self.iteration:06d}.npz")
        return path

    def summary(self) -> dict[str, Any]:
        return {"grad_steps": self.grad_steps}

    def close(self) -> None:
        for venv in self.venvs.values():
            venv.close()


def save_eval_paths(result: EvalResult, path: Path) -> None:
    """Evaluation trajectories (observations = positions for the point robots) for exploration plots,
    built in memory and written whole or not at all (``write_atomic``)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, paths=result.paths, path_lengths=result.path_lengths, returns=result.returns)
    write_atomic(path, buffer.getbuffer())


def train(
    config: PEARLConfig,
    logger: Logger | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) Algorithm 1; returns a summary dict.

    With ``checkpoint_dir``, checkpoints go there, and so do the evaluation trajectories
    (``eval_paths_<iterations>.npz``) of evaluations that coincide with a checkpoint, when
    ``config.eval.record_paths`` is set.

    ``stop_after``: stop once this many iterations are complete (checkpointing then), as if the
    process had been interrupted there; used to test resuming.
    """
    return train_loop(PEARLTrainer(config), logger, checkpoint_dir, stop_after)
