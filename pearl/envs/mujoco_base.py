"""A lean MuJoCo env base on the ``mujoco`` bindings (no mujoco-py, no renderer).

It loads gymnasium's bundled model files, steps ``frame_skip`` physics steps per env step
and, only for envs that read ``cfrc_ext``, calls ``mj_rnePostConstraint``: MuJoCo >= 2
does not fill contact forces unless asked (openai/gym#1541, reference Section 8).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import gymnasium
import mujoco
import numpy as np

from pearl.envs.base import MetaEnv, Task

ASSETS = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets"

_shared_models: dict | None = None  # set inside ``sharing_models``


@contextmanager
def sharing_models(models: dict):
    """Envs built inside share one ``MjModel`` per class from ``models`` (filled as needed), unless
    their tasks change the model (``task_changes_model``). ``TaskVectorEnv`` builds its envs so: the
    physics is the same, and stepping many envs reads one model instead of one each (a model is
    ~0.5 MB; hundreds of them do not stay in the CPU caches, and mj_step slows by a third)."""
    global _shared_models
    outer, _shared_models = _shared_models, models
    try:
        yield
    finally:
        _shared_models = outer


class MujocoMetaEnv(MetaEnv):
    xml_file: str
    frame_skip: int = 5
    timestep: float | None = None  # override the XML's physics timestep
    needs_contact_forces: bool = False
    reset_pos_noise: float = 0.1  # qpos + U(-noise, noise)
    reset_vel_noise: float = 0.1  # qvel + noise * N(0, 1)
    reset_vel_uniform: bool = False  # qvel + U(-noise, noise) instead
    task_changes_model: bool = False  # set_task writes into the MjModel: never shared (sharing_models)

    def __init__(self, obs_dim: int, task: Task | None = None):
        if _shared_models is not None and not self.task_changes_model:
            if type(self) not in _shared_models:
                _shared_models[type(self)] = self._load_model()
            self.model = _shared_models[type(self)]
        else:
            self.model = self._load_model()
        self.data = mujoco.MjData(self.model)
        self._ctrl = self.data.ctrl  # a view into MjData's fixed buffer (attribute reads build a new array)
        self._dt = self.model.opt.timestep * self.frame_skip  # cached: MjOption reads are slow
        self.init_qpos = self.data.qpos.copy()
        self.init_qvel = self.data.qvel.copy()
        ctrl_range = self.model.actuator_ctrlrange.copy()
        super().__init__(ctrl_range[:, 0], ctrl_range[:, 1], obs_dim, task)

    def _load_model(self) -> mujoco.MjModel:
        model = mujoco.MjModel.from_xml_path(str(ASSETS / self.xml_file))
        if self.timestep is not None:
            model.opt.timestep = self.timestep
        return model

    @property
    def dt(self) -> float:
        return self._dt

    def do_simulation(self, ctrl: np.ndarray) -> None:
        self._ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        if self.needs_contact_forces:
            mujoco.mj_rnePostConstraint(self.model, self.data)

    def _reset(self) -> np.ndarray:
        mujoco.mj_resetData(self.model, self.data)
        rng = self.np_random
        nq, nv = self.model.nq, self.model.nv
        self.data.qpos[:] = self.init_qpos + rng.uniform(-self.reset_pos_noise, self.reset_pos_noise, nq)
        if self.reset_vel_uniform:
            self.data.qvel[:] = self.init_qvel + rng.uniform(-self.reset_vel_noise, self.reset_vel_noise, nv)
        else:
            self.data.qvel[:] = self.init_qvel + self.reset_vel_noise * rng.standard_normal(nv)
        mujoco.mj_forward(self.model, self.data)
        if self.needs_contact_forces:
            mujoco.mj_rnePostConstraint(self.model, self.data)
        return self._get_obs()

    def _get_obs(self) -> np.ndarray:
        raise NotImplementedError

    def state_is_finite(self) -> bool:
        return bool(np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all())
