"""Half-cheetah families (reference Sections 4.1-4.2): gym 0.12 model, dt = 0.05, H = 200."""

from __future__ import annotations

import mujoco
import numpy as np

from pearl.envs.mujoco_base import MujocoMetaEnv
from pearl.envs.base import Task

CTRL_COST = 0.05


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
        ctrl_cost = CTRL_COST * float(action @ action)
        info = {"x_velocity": x_velocity, "reward_forward": forward, "reward_ctrl": -ctrl_cost}
        return self._get_obs(), forward - ctrl_cost, False, False, info


class HalfCheetahVelEnv(HalfCheetahBase):
    """r = -|v_x - v_goal| - 0.05 * sum(a^2)."""

    family_name = "cheetah-vel"

    def _apply_task(self, task: Task) -> None:
        self.goal_velocity = float(task["velocity"])

    def forward_reward(self, x_velocity: float) -> float:
        return -abs(x_velocity - self.goal_velocity)


class HalfCheetahFwdBackEnv(HalfCheetahBase):
    """r = d * v_x - 0.05 * sum(a^2), d in {-1, +1}."""

    family_name = "cheetah-fwd-back"

    def _apply_task(self, task: Task) -> None:
        self.direction = float(task["direction"])

    def forward_reward(self, x_velocity: float) -> float:
        return self.direction * x_velocity
