"""Half-cheetah families (reference Sections 4.1-4.2): gym 0.12 model, dt = 0.05, H = 200."""

from __future__ import annotations

import mujoco
import numpy as np

from pearl.envs.base import Task
from pearl.envs.mujoco_base import MujocoMetaEnv

CTRL_COST = 0.05


def ctrl_costs(action: np.ndarray) -> np.ndarray:
    """0.05 * sum(a^2) over the last axis: elementwise squares summed in order (numpy's reduction over
    the 6 controls), the same bits for one action and for a batch, on any BLAS."""
    return CTRL_COST * np.square(action).sum(-1)


class HalfCheetahBase(MujocoMetaEnv):
    """20-d observation: qpos[1:] (8), qvel (9) and the torso's position (3). No termination."""

    xml_file = "half_cheetah.xml"
    frame_skip = 5

    def __init__(self, task: Task | None = None):
        # half_cheetah.xml uses the deprecated 'settotalmass'; MuJoCo would print a warning
        # and append it to ./MUJOCO_LOG.TXT on every construction.
        mujoco.set_mju_user_warning(lambda msg: None)
        try:
            super().__init__(obs_dim=20, task=task)
        finally:
            mujoco.set_mju_user_warning(None)
        self._torso = self.model.body("torso").id
        # views into MjData's fixed buffers, read on every step (attribute reads build new arrays)
        self._qpos, self._qvel, self._torso_xpos = self.data.qpos, self.data.qvel, self.data.xpos[self._torso]
        # what step_batch reads, in one tuple: fewer attribute lookups per env in its loop
        self._raw = (self.model, self.data, self._ctrl, self._qpos, (self._qpos[1:], self._qvel, self._torso_xpos))

    def _get_obs(self) -> np.ndarray:
        obs = np.empty(20, dtype=np.float32)
        obs[:8], obs[8:17], obs[17:] = self._qpos[1:], self._qvel, self._torso_xpos
        return obs

    def forward_reward(self, x_velocity: float) -> float:
        raise NotImplementedError

    def _step(self, action: np.ndarray):
        x_before = self._qpos[0]
        self.do_simulation(action)
        x_velocity = (self._qpos[0] - x_before) / self._dt
        forward = self.forward_reward(x_velocity)
        ctrl_cost = float(ctrl_costs(action))
        info = {"x_velocity": x_velocity, "reward_forward": forward, "reward_ctrl": -ctrl_cost}
        return self._get_obs(), forward - ctrl_cost, False, False, info

    @classmethod
    def step_batch(
        cls, envs: list, rows: list[int], ctrl: np.ndarray, obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray
    ) -> dict[str, np.ndarray]:
        """``_step`` of ``envs[i]`` with ``ctrl[i]`` for every i in ``rows``, in one loop (``TaskVectorEnv``).

        Writes ``obs[i]`` and ``reward[i]`` (never terminates) and returns the info arrays, zero at rows
        not stepped; the same floating-point operations as ``_step``, so bit-identical results.
        """
        k, n = len(rows), len(reward)
        x_before, x_after = np.empty(k), np.empty(k)
        mj_step, concatenate = mujoco.mj_step, np.concatenate
        for j, i in enumerate(rows):
            model, data, ctrl_view, qpos, obs_parts = envs[i]._raw
            x_before[j] = qpos[0]
            ctrl_view[:] = ctrl[i]
            mj_step(model, data, cls.frame_skip)
            x_after[j] = qpos[0]
            concatenate(obs_parts, out=obs[i])  # = _get_obs(): float64 -> float32
        x_velocity = (x_after - x_before) / envs[rows[0]]._dt
        everyone = k == n  # no env done: no scatter into the batch's rows
        forward = cls.forward_reward_batch(envs[:n] if everyone else [envs[i] for i in rows], x_velocity)
        ctrl_cost = ctrl_costs(ctrl if everyone else ctrl[rows])
        info = {"x_velocity": x_velocity, "reward_forward": forward, "reward_ctrl": -ctrl_cost}
        if everyone:
            np.subtract(forward, ctrl_cost, out=reward)
            return info
        reward[rows] = forward - ctrl_cost
        full = {}
        for name, value in info.items():
            full[name] = np.zeros(n)
            full[name][rows] = value
        return full

    @classmethod
    def forward_reward_batch(cls, envs: list, x_velocity: np.ndarray) -> np.ndarray:
        """``forward_reward`` of each env at its x velocity."""
        return np.array([env.forward_reward(v) for env, v in zip(envs, x_velocity.tolist())])


class HalfCheetahVelEnv(HalfCheetahBase):
    """r = -|v_x - v_goal| - 0.05 * sum(a^2)."""

    family_name = "cheetah-vel"

    def _apply_task(self, task: Task) -> None:
        self.goal_velocity = float(task["velocity"])

    def forward_reward(self, x_velocity: float) -> float:
        return -abs(x_velocity - self.goal_velocity)

    @classmethod
    def forward_reward_batch(cls, envs: list, x_velocity: np.ndarray) -> np.ndarray:
        goal = np.fromiter((env.goal_velocity for env in envs), dtype=np.float64, count=len(envs))
        return -np.abs(x_velocity - goal)


class HalfCheetahFwdBackEnv(HalfCheetahBase):
    """r = d * v_x - 0.05 * sum(a^2), d in {-1, +1}."""

    family_name = "cheetah-fwd-back"

    def _apply_task(self, task: Task) -> None:
        self.direction = float(task["direction"])

    def forward_reward(self, x_velocity: float) -> float:
        return self.direction * x_velocity

    @classmethod
    def forward_reward_batch(cls, envs: list, x_velocity: np.ndarray) -> np.ndarray:
        direction = np.fromiter((env.direction for env in envs), dtype=np.float64, count=len(envs))
        return direction * x_velocity
