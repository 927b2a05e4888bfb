"""2-D point robots (reference Section 4.7): s' = s + a, |a| <= 0.1, horizon 20."""

from __future__ import annotations

import numpy as np

from pearl.core.bounds import Bounds
from pearl.envs.base import MetaEnv, Task


class PointRobotEnv(MetaEnv):
    """Dense goal reaching: r = -||s - g||_2; start uniform in [-1, 1]^2."""

    family_name = "point-robot"

    def __init__(self, task: Task | None = None):
        super().__init__(np.full(2, -0.1), np.full(2, 0.1), obs_dim=2, task=task)
        self._state = np.zeros(2)

    def _apply_task(self, task: Task) -> None:
        self._goal = np.asarray(task["goal"], dtype=np.float64)

    def _start_state(self) -> np.ndarray:
        return self.np_random.uniform(-1.0, 1.0, size=2)

    def _reset(self) -> np.ndarray:
        self._state = self._start_state()
        return self._state.astype(np.float32)

    def dense_reward(self, state: np.ndarray) -> float:
        return -float(np.linalg.norm(state - self._goal))

    def _step(self, action: np.ndarray):
        self._state = self._state + action
        reward = self.dense_reward(self._state)
        return self._state.astype(np.float32), reward, False, False, {"goal": self._goal.copy()}


class SparsePointRobotEnv(PointRobotEnv):
    """Goals on the unit upper semicircle, start at the origin.

    ``step`` returns the dense reward (used for RL); ``info['sparse_reward']`` is
    ``dense + 1`` inside ``goal_radius`` of the goal and 0 outside (used for context and
    for reported returns), as in oyster's ``SparsePointEnv``.
    """

    family_name = "sparse-point-robot"
    KWARG_BOUNDS = {"goal_radius": Bounds(lo=0, lo_open=True)}

    def __init__(self, task: Task | None = None, goal_radius: float = 0.2):
        self.KWARG_BOUNDS["goal_radius"].check("goal_radius", goal_radius)
        self.goal_radius = float(goal_radius)
        super().__init__(task=task)

    def _start_state(self) -> np.ndarray:
        return np.zeros(2)

    def sparsify(self, dense_reward: float) -> float:
        return dense_reward + 1.0 if dense_reward >= -self.goal_radius else 0.0

    def _step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = super()._step(action)
        info["sparse_reward"] = self.sparsify(reward)
        return obs, reward, terminated, truncated, info
