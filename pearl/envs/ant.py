"""Ant families (reference Sections 4.3-4.4): gym's ant model, dt = 0.05, gear 150, H = 200."""

from __future__ import annotations

import numpy as np

from pearl.envs.base import Task
from pearl.envs.mujoco_base import MujocoMetaEnv

CONTACT_COST = 0.5e-3


class AntBase(MujocoMetaEnv):
    xml_file = "ant.xml"
    frame_skip = 5
    needs_contact_forces = True

    def __init__(self, obs_dim: int, task: Task | None = None):
        super().__init__(obs_dim=obs_dim, task=task)
        self._torso = self.model.body("torso").id

    def clipped_contact_forces(self) -> np.ndarray:
        return np.clip(self.data.cfrc_ext, -1.0, 1.0)

    def contact_cost(self) -> float:
        return CONTACT_COST * float(np.sum(np.square(self.clipped_contact_forces())))

    def torso_xy(self) -> np.ndarray:
        return self.data.xpos[self._torso, :2].copy()


class AntFwdBackEnv(AntBase):
    """27-d obs (qpos[2:], qvel). r = v_xy . (cos t, sin t) - 0.5 |a|^2 - contact + 1.

    Terminates when the torso height leaves [0.2, 1.0] or the state is non-finite.
    """

    family_name = "ant-fwd-back"

    def __init__(self, task: Task | None = None):
        super().__init__(obs_dim=27, task=task)

    def _apply_task(self, task: Task) -> None:
        angle = float(task["angle"])
        self.direction = np.array([np.cos(angle), np.sin(angle)])

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[2:], self.data.qvel]).astype(np.float32)

    def _step(self, action: np.ndarray):
        xy_before = self.torso_xy()
        self.do_simulation(action)
        velocity = (self.torso_xy() - xy_before) / self.dt
        forward = float(velocity @ self.direction)
        ctrl_cost = 0.5 * float(action @ action)
        contact_cost = self.contact_cost()
        reward = forward - ctrl_cost - contact_cost + 1.0
        height = self.data.qpos[2]
        terminated = not (self.state_is_finite() and 0.2 <= height <= 1.0)
        info = {"reward_forward": forward, "reward_ctrl": -ctrl_cost, "reward_contact": -contact_cost}
        return self._get_obs(), reward, terminated, False, info


class AntGoal2DEnv(AntBase):
    """113-d obs (qpos, qvel, clipped cfrc_ext). r = -||xy - g||_1 - 0.1 |a|^2 - contact."""

    family_name = "ant-goal-2d"

    def __init__(self, task: Task | None = None):
        super().__init__(obs_dim=113, task=task)

    def _apply_task(self, task: Task) -> None:
        self.goal = np.asarray(task["goal"], dtype=np.float64)

    def _get_obs(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.qpos, d.qvel, self.clipped_contact_forces().ravel()]).astype(np.float32)

    def _step(self, action: np.ndarray):
        self.do_simulation(action)
        goal_reward = -float(np.sum(np.abs(self.torso_xy() - self.goal)))
        ctrl_cost = 0.1 * float(action @ action)
        contact_cost = self.contact_cost()
        reward = goal_reward - ctrl_cost - contact_cost
        info = {"reward_goal": goal_reward, "reward_ctrl": -ctrl_cost, "reward_contact": -contact_cost}
        return self._get_obs(), reward, False, False, info
