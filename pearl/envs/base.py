"""The one task interface every algorithm in the suite uses.

A *family* (e.g. cheetah-vel) is a distribution over tasks. Each family has a fixed,
seeded list of train and test tasks (``FamilySpec.train_tasks`` / ``test_tasks``), so
every machine and every run sees the same task parameters. A task is a plain dict of
floats or arrays (JSON-friendly after ``task_to_jsonable``) and can be set on an env with
``env.set_task(task)`` or passed at construction as ``task=...``.

All envs expose normalised actions in [-1, 1]^d (as oyster's ``NormalizedBoxEnv``) and
rescale internally to the physical control range. The horizon is enforced by gymnasium's
``TimeLimit`` (registered ``max_episode_steps``), so running out of time is always
``truncated``, never ``terminated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np

Task = dict[str, Any]


@dataclass(frozen=True)
class FamilySpec:
    """Static description of one task family (paper Section 6.1, reference Section 4)."""

    name: str  # CLI name, e.g. "cheetah-vel"
    env_id: str  # gymnasium id, e.g. "pearl/CheetahVel-v0"
    entry_point: str
    horizon: int
    n_train: int
    n_test: int
    sample_tasks: Callable[[np.random.Generator, int], list[Task]]
    task_seed: int = 1337
    shared_train_test: bool = False  # fwd/back families: test tasks are the train tasks
    mujoco: bool = True  # a MuJoCo robot (False: the point robots); Figure 3's families are the MuJoCo ones
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def all_tasks(self) -> list[Task]:
        """The family's full task list, identical on every machine (numpy PCG64 is portable)."""
        rng = np.random.Generator(np.random.PCG64(self.task_seed))
        n = self.n_train if self.shared_train_test else self.n_train + self.n_test
        return self.sample_tasks(rng, n)

    @property
    def train_tasks(self) -> list[Task]:
        return self.all_tasks()[: self.n_train]

    @property
    def test_tasks(self) -> list[Task]:
        tasks = self.all_tasks()
        return tasks[: self.n_test] if self.shared_train_test else tasks[self.n_train :]

    def tasks(self, split: str) -> list[Task]:
        if split == "train":
            return self.train_tasks
        if split == "test":
            return self.test_tasks
        raise ValueError(f"unknown task split {split!r}; valid splits: 'train', 'test'")

    def task(self, split: str, index: int) -> Task:
        tasks = self.tasks(split)
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(tasks):
            raise IndexError(
                f"task index {index!r} out of range for {self.name} {split} tasks; valid indices: 0..{len(tasks) - 1}"
            )
        return tasks[int(index)]


def task_to_jsonable(task: Task) -> dict[str, Any]:
    """A task as plain Python floats/lists, for logging with a run."""
    out = {}
    for key, value in task.items():
        out[key] = np.asarray(value).tolist() if isinstance(value, np.ndarray) else float(value)
    return out


class MetaEnv(gym.Env):
    """Base class: normalised Box(-1, 1) actions, input checks, and ``set_task``.

    Subclasses implement ``_apply_task``, ``_reset`` and ``_step`` with physical actions.
    """

    metadata = {"render_modes": []}
    #: CLI name of the family this env belongs to (see ``pearl.envs.families``)
    family_name: str

    @property
    def family(self) -> FamilySpec:
        from pearl.envs.families import get_family

        return get_family(self.family_name)

    def __init__(self, action_low: np.ndarray, action_high: np.ndarray, obs_dim: int, task: Task | None):
        self._act_low = np.asarray(action_low, dtype=np.float64)
        self._act_high = np.asarray(action_high, dtype=np.float64)
        act_dim = self._act_low.shape[0]
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.task: Task | None = None
        self.set_task(task if task is not None else self.default_task())

    # ----------------------------------------------------------------- tasks
    def default_task(self) -> Task:
        return self.family.train_tasks[0]

    def set_task(self, task: Task) -> None:
        """Set the task; takes effect immediately (physical parameters) and on the next reset."""
        if not isinstance(task, dict):
            raise TypeError(f"a task is a dict of parameters, got {type(task).__name__}")
        self.task = dict(task)
        self._apply_task(self.task)

    def _apply_task(self, task: Task) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and "task" in options:
            self.set_task(options["task"])
        return self._reset(), {}

    def step(self, action):
        return self._step(self.scale_action(action))

    def scale_action(self, action) -> np.ndarray:
        """Check a normalised action and map [-1, 1] onto the physical control range."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"{self.family.name}: action has shape {a.shape}, expected {self.action_space.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.family.name}: action contains non-finite values: {a}")
        a = np.clip(a, -1.0, 1.0)
        return self._act_low + (a + 1.0) * 0.5 * (self._act_high - self._act_low)

    def _reset(self) -> np.ndarray:
        raise NotImplementedError

    def _step(self, action: np.ndarray):
        raise NotImplementedError
