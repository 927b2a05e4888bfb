"""Step one env per task in lockstep, with observations stacked along the first axis.

Every algorithm collects data from a meta-batch of tasks at once, so this is the hot
path for rollouts: it validates the whole action batch once, calls the envs' physics
step directly (no per-env gymnasium wrapper stack) and enforces the horizon itself, as
truncation. An env that terminates or truncates stays *done* (it is not stepped again
and reports zero reward) until the next ``reset``: episodes of the batch stay aligned,
which is what meta-RL rollouts with one latent per episode want.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pearl.envs.base import MetaEnv, Task
from pearl.envs.families import get_family, make_env


class TaskVectorEnv:
    def __init__(self, family: str, tasks: Sequence[Task], seed: int | None = None, **env_kwargs):
        self.spec = get_family(family)
        if len(tasks) == 0:
            raise ValueError("TaskVectorEnv needs at least one task")
        self.envs: list[MetaEnv] = [make_env(family, task=t, **env_kwargs).unwrapped for t in tasks]
        self.horizon = self.spec.horizon
        env0 = self.envs[0]
        self.obs_dim = env0.observation_space.shape[0]
        self.act_dim = env0.action_space.shape[0]
        self._act_low, self._act_high = env0._act_low, env0._act_high
        self._seed = seed
        self._seeded = False
        self.done = np.ones(len(self.envs), dtype=bool)
        self._obs = np.zeros((len(self.envs), self.obs_dim), dtype=np.float32)
        self._t = 0
        self._info_keys: list[str] | None = None

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    @property
    def tasks(self) -> list[Task]:
        return [env.task for env in self.envs]

    def set_tasks(self, tasks: Sequence[Task]) -> None:
        """Assign one task per env (the env count must match); takes effect at once."""
        if len(tasks) != len(self.envs):
            raise ValueError(f"got {len(tasks)} tasks for {len(self.envs)} envs")
        for env, task in zip(self.envs, tasks):
            env.set_task(task)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every env; the first reset seeds env i with ``seed + i``."""
        if seed is None and not self._seeded and self._seed is not None:
            seed = self._seed
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=None if seed is None else seed + i)
            self._obs[i] = obs
        self._seeded = True
        self.done[:] = False
        self._t = 0
        return self._obs.copy()

    def step(self, actions: np.ndarray):
        """Step every active env with its row of ``actions`` (normalised to [-1, 1]).

        Returns ``obs (n, obs_dim)``, ``reward (n,)``, ``terminated (n,)``, ``truncated (n,)``
        and ``info``: a dict of (n,) arrays (every scalar the envs put in their info, plus
        ``active``: which envs were stepped).
        """
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (len(self.envs), self.act_dim):
            raise ValueError(f"actions have shape {a.shape}, expected {(len(self.envs), self.act_dim)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"actions contain non-finite values in rows {np.where(~np.isfinite(a).all(1))[0].tolist()}")
        if self.done.all():
            raise RuntimeError("every env is done: call reset() before step()")
        a = np.clip(a, -1.0, 1.0)
        physical = self._act_low + (a + 1.0) * 0.5 * (self._act_high - self._act_low)

        n = len(self.envs)
        active = ~self.done
        reward = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        infos: list[dict | None] = [None] * n
        envs, all_obs = self.envs, self._obs
        for i in np.flatnonzero(active).tolist():  # Python ints: cheaper indexing in the hot loop
            all_obs[i], reward[i], terminated[i], _, infos[i] = envs[i]._step(physical[i])
        self._t += 1
        truncated = active & ~terminated & (self._t >= self.horizon)
        self.done |= terminated | truncated
        return self._obs.copy(), reward, terminated, truncated, self._stack_info(infos, active)

    def _stack_info(self, infos: list[dict | None], active: np.ndarray) -> dict[str, np.ndarray]:
        if self._info_keys is None:
            first = next(info for info in infos if info is not None)
            self._info_keys = [k for k, v in first.items() if np.isscalar(v)]
        out = {k: np.zeros(len(infos)) for k in self._info_keys}
        for i, info in enumerate(infos):
            if info is not None:
                for k in self._info_keys:
                    out[k][i] = info[k]
        out["active"] = active
        return out

    # ---- checkpoints ----------------------------------------------------------------------
    def rng_state(self) -> dict:
        """The envs' random generator states, for an exact resume (``set_rng_state``)."""
        return {"seeded": self._seeded,
                "states": [env.np_random.bit_generator.state for env in self.envs] if self._seeded else None}

    def set_rng_state(self, state: dict) -> None:
        self._seeded = state["seeded"]
        if state["states"] is not None:
            for env, s in zip(self.envs, state["states"]):
                gen = np.random.Generator(np.random.PCG64())
                gen.bit_generator.state = s
                env.np_random = gen

    def close(self) -> None:
        for env in self.envs:
            env.close()
