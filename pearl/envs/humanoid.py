"""Humanoid-Dir-2D (reference Section 4.5): gym humanoid model, dt = 0.015, H = 200."""

from __future__ import annotations

import numpy as np

from pearl.envs.base import Task
from pearl.envs.mujoco_base import MujocoMetaEnv


class HumanoidDir2DEnv(MujocoMetaEnv):
    """376-d obs: qpos[2:], qvel, cinert, cvel, qfrc_actuator, cfrc_ext (world body included).

    r = 0.25 * (d_com_xy . (cos t, sin t)) / timestep - 0.1 |ctrl|^2
        - min(0.5e-6 |cfrc_ext|^2, 10) + 5.
    Dividing by the *physics* timestep (not dt) is oyster's (and gym Humanoid-v2's) quirk.
    Terminates when the root height leaves [1, 2].
    """

    family_name = "humanoid-dir-2d"
    xml_file = "humanoid.xml"
    frame_skip = 5
    needs_contact_forces = True
    reset_pos_noise = 0.01
    reset_vel_noise = 0.01
    reset_vel_uniform = True

    def __init__(self, task: Task | None = None):
        super().__init__(obs_dim=376, task=task)
        self._mass = self.model.body_mass.copy()

    def _apply_task(self, task: Task) -> None:
        angle = float(task["angle"])
        self.direction = np.array([np.cos(angle), np.sin(angle)])

    def center_of_mass_xy(self) -> np.ndarray:
        mass = self.model.body_mass
        return (mass @ self.data.xipos[:, :2]) / mass.sum()

    def _get_obs(self) -> np.ndarray:
        d = self.data
        parts = [d.qpos[2:], d.qvel, d.cinert.ravel(), d.cvel.ravel(), d.qfrc_actuator, d.cfrc_ext.ravel()]
        return np.concatenate(parts).astype(np.float32)

    def _step(self, action: np.ndarray):
        com_before = self.center_of_mass_xy()
        self.do_simulation(action)
        com_after = self.center_of_mass_xy()
        forward = 0.25 * float((com_after - com_before) @ self.direction) / self.model.opt.timestep
        ctrl_cost = 0.1 * float(np.sum(np.square(self.data.ctrl)))
        impact_cost = min(0.5e-6 * float(np.sum(np.square(self.data.cfrc_ext))), 10.0)
        reward = forward - ctrl_cost - impact_cost + 5.0
        height = self.data.qpos[2]
        terminated = not (1.0 <= height <= 2.0)
        info = {"reward_forward": forward, "reward_ctrl": -ctrl_cost, "reward_impact": -impact_cost}
        return self._get_obs(), reward, terminated, False, info
