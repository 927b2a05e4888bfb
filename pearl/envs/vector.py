"""Step one env per task in lockstep, with observations stacked along the first axis.

Every algorithm collects data from a meta-batch of tasks at once, so this is the hot
path for rollouts: it validates the whole action batch once, calls the envs' physics
step directly (no per-env gymnasium wrapper stack) and enforces the horizon itself, as
truncation. An env that terminates or truncates stays *done* (it is not stepped again
and reports zero reward) until the next ``reset``: episodes of the batch stay aligned,
which is what meta-RL rollouts with one latent per episode want.

Env classes that define ``step_batch`` (the half-cheetahs) are stepped by it: one tight loop
over the raw MuJoCo data of all active envs, rewards and info computed as arrays, the same
floating-point operations as ``_step`` (bit-identical, tested). Others go through ``_step`` per env.

The envs form a pool: ``use_tasks`` sets how many of them step together (``num_envs``) and grows
the pool when needed, so a collector can run a different number of episodes in lockstep each
time. Env ``i`` of the pool is seeded with ``seed + i`` however and whenever it was created.
The envs of a MuJoCo family whose tasks leave the model alone share one ``MjModel`` (each has its
own ``MjData``): the same physics, far fewer cache misses when hundreds of envs step in turn.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from gymnasium.utils import seeding

from pearl.envs.base import MetaEnv, Task
from pearl.envs.families import get_family, make_env
from pearl.envs.mujoco_base import sharing_models


class TaskVectorEnv:
    def __init__(self, family: str, tasks: Sequence[Task], seed: int | None = None, **env_kwargs):
        self.spec = get_family(family)
        if len(tasks) == 0:
            raise ValueError("TaskVectorEnv needs at least one task")
        self._family, self._env_kwargs = family, env_kwargs
        self._models: dict = {}  # the MjModel the envs share (mujoco_base.sharing_models)
        with sharing_models(self._models):
            self.envs: list[MetaEnv] = [make_env(family, task=t, **env_kwargs).unwrapped for t in tasks]  # the pool
        self.horizon = self.spec.horizon
        env0 = self.envs[0]
        self.obs_dim = env0.observation_space.shape[0]
        self.act_dim = env0.action_space.shape[0]
        self._act_low, self._act_high = env0._act_low, env0._act_high
        self._act_half_range = 0.5 * (self._act_high - self._act_low)
        self._step_batch = getattr(type(env0), "step_batch", None)
        self._seed = seed
        self._seeded = False
        self._info_keys: list[str] | None = None
        self._set_width(len(self.envs))

    def _set_width(self, n: int) -> None:
        self._width = n
        self._every_row = list(range(n))
        self.done = np.ones(n, dtype=bool)
        self._obs = np.zeros((n, self.obs_dim), dtype=np.float32)
        self._t = 0

    @property
    def num_envs(self) -> int:
        """Envs that step together (the first ``num_envs`` of the pool)."""
        return self._width

    @property
    def tasks(self) -> list[Task]:
        return [env.task for env in self.envs[: self._width]]

    def set_tasks(self, tasks: Sequence[Task]) -> None:
        """Assign one task per env (the env count must match); takes effect at once."""
        if len(tasks) != self._width:
            raise ValueError(f"got {len(tasks)} tasks for {self._width} envs")
        for env, task in zip(self.envs, tasks):
            env.set_task(task)

    def use_tasks(self, tasks: Sequence[Task]) -> None:
        """Step ``len(tasks)`` envs from now on, env i on ``tasks[i]`` (the pool grows if needed);
        every env is done until the next ``reset``."""
        if len(tasks) == 0:
            raise ValueError("use_tasks needs at least one task")
        self.grow(len(tasks))
        self._set_width(len(tasks))
        self.set_tasks(tasks)

    def grow(self, size: int) -> None:
        """Grow the pool to ``size`` envs; once the pool is seeded, a new env i is seeded with ``seed + i``."""
        while len(self.envs) < size:
            i = len(self.envs)
            with sharing_models(self._models):
                env = make_env(self._family, task=self.envs[0].task, **self._env_kwargs).unwrapped
            if self._seeded and self._seed is not None:
                env._np_random, env._np_random_seed = seeding.np_random(self._seed + i)
            self.envs.append(env)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset the stepping envs; the first reset seeds env i of the pool with ``seed + i``."""
        if seed is None and not self._seeded and self._seed is not None:
            seed = self._seed
        for i, env in enumerate(self.envs[: self._width]):
            obs, _ = env.reset(seed=None if seed is None else seed + i)
            self._obs[i] = obs
        if seed is not None:  # envs of the pool not reset now start from the same seeds when they first run
            for i, env in enumerate(self.envs[self._width :], start=self._width):
                env._np_random, env._np_random_seed = seeding.np_random(seed + i)
            self._seed = seed
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
        n = self._width
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (n, self.act_dim):
            raise ValueError(f"actions have shape {a.shape}, expected {(n, self.act_dim)}")
        if not np.isfinite(a).all():
            raise ValueError(
                f"actions contain non-finite values in rows {np.where(~np.isfinite(a).all(1))[0].tolist()}"
            )
        if self.done.all():
            raise RuntimeError("every env is done: call reset() before step()")
        a = np.minimum(np.maximum(a, -1.0), 1.0)  # = np.clip(a, -1, 1) for finite a, without its wrapper's overhead
        physical = self._act_low + (a + 1.0) * self._act_half_range  # = low + (a + 1) * 0.5 * (high - low)

        active = ~self.done
        # Python ints: cheaper indexing in the hot loop
        rows = np.flatnonzero(active).tolist() if self.done.any() else self._every_row
        reward = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        if self._step_batch is not None:
            info = self._step_batch(self.envs, rows, physical, self._obs, reward, terminated)
        else:
            infos: list[dict | None] = [None] * n
            envs, all_obs = self.envs, self._obs
            for i in rows:
                all_obs[i], reward[i], terminated[i], _, infos[i] = envs[i]._step(physical[i])
            info = self._stack_info(infos)
        info["active"] = active
        self._t += 1
        truncated = active & ~terminated & (self._t >= self.horizon)
        self.done |= terminated | truncated
        return self._obs.copy(), reward, terminated, truncated, info

    def _stack_info(self, infos: list[dict | None]) -> dict[str, np.ndarray]:
        if self._info_keys is None:
            first = next(info for info in infos if info is not None)
            self._info_keys = [k for k, v in first.items() if np.isscalar(v)]
        out = {k: np.zeros(len(infos)) for k in self._info_keys}
        for i, info in enumerate(infos):
            if info is not None:
                for k in self._info_keys:
                    out[k][i] = info[k]
        return out

    # ---- checkpoints ----------------------------------------------------------------------
    def rng_state(self) -> dict:
        """The envs' random generator states, for an exact resume (``set_rng_state``)."""
        return {
            "seeded": self._seeded,
            "states": [env.np_random.bit_generator.state for env in self.envs] if self._seeded else None,
        }

    def set_rng_state(self, state: dict) -> None:
        self._seeded = state["seeded"]
        if state["states"] is not None:
            self.grow(len(state["states"]))  # the pool a collector grew (a fresh env starts at its initial size)
            for env, s in zip(self.envs, state["states"]):
                gen = np.random.Generator(np.random.PCG64())
                gen.bit_generator.state = s
                env.np_random = gen

    def close(self) -> None:
        for env in self.envs:
            env.close()
