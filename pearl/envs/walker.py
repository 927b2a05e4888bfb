"""Walker-Params (reference Section 4.6): dynamics parameters vary per task.

rand_param_envs ran the walker at timestep 0.004 with frame_skip 4 (dt = 0.016) and RK4;
each task multiplies every element of body_mass, body_inertia and geom_friction by
1.5^U(-3, 3) and of dof_damping by 1.3^U(-3, 3). Parameters are written into the
``MjModel`` in place and restored exactly from a pristine copy on every task change.
"""

from __future__ import annotations

import mujoco
import numpy as np

from pearl.envs.base import Task
from pearl.envs.mujoco_base import MujocoMetaEnv

RANDOMISED_PARAMS = ("body_mass", "body_inertia", "dof_damping", "geom_friction")


class WalkerParamsEnv(MujocoMetaEnv):
    """17-d obs: qpos[1:], clip(qvel, -10, 10). r = dx/dt + 1 - 1e-3 |a|^2.

    Terminates unless 0.8 < height < 2 and -1 < angle < 1.
    """

    family_name = "walker-params"
    xml_file = "walker2d.xml"
    frame_skip = 4
    timestep = 0.004
    reset_pos_noise = 0.005
    reset_vel_noise = 0.005
    reset_vel_uniform = True
    task_changes_model = True

    def __init__(self, task: Task | None = None):
        self._pristine: dict[str, np.ndarray] | None = None
        super().__init__(obs_dim=17, task=task)

    def _apply_task(self, task: Task) -> None:
        if self._pristine is None:  # first call, from MetaEnv.__init__: remember the XML's values
            self._pristine = {k: getattr(self.model, k).copy() for k in RANDOMISED_PARAMS}
        for key in RANDOMISED_PARAMS:
            scale = np.asarray(task[key], dtype=np.float64)
            base = self._pristine[key]
            if scale.shape != base.shape:
                raise ValueError(f"task {key} has shape {scale.shape}, the model needs {base.shape}")
            getattr(self.model, key)[:] = base * scale
        mujoco.mj_setConst(self.model, self.data)  # refresh derived quantities (subtree masses, ...)

    def _get_obs(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.qpos[1:], np.clip(d.qvel, -10.0, 10.0)]).astype(np.float32)

    def _step(self, action: np.ndarray):
        x_before = self.data.qpos[0]
        self.do_simulation(action)
        x_velocity = (self.data.qpos[0] - x_before) / self.dt
        ctrl_cost = 1e-3 * float(action @ action)
        reward = x_velocity + 1.0 - ctrl_cost
        height, angle = self.data.qpos[1], self.data.qpos[2]
        terminated = not (0.8 < height < 2.0 and -1.0 < angle < 1.0)
        info = {"x_velocity": x_velocity, "reward_ctrl": -ctrl_cost}
        return self._get_obs(), reward, terminated, False, info

    @staticmethod
    def parameter_shapes() -> dict[str, tuple[int, ...]]:
        from pearl.envs.mujoco_base import ASSETS

        model = mujoco.MjModel.from_xml_path(str(ASSETS / WalkerParamsEnv.xml_file))
        return {k: getattr(model, k).shape for k in RANDOMISED_PARAMS}
