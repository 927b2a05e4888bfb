"""The paper's task families (Section 6.1; reference Section 4) and their task sets.

Task lists are drawn from a fixed seed with numpy's PCG64, so they are the same on every
machine and every run (oyster left most of them unseeded; reference Section 4.10).
"""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np

from pearl.envs.base import FamilySpec, Task


def _velocity_tasks(rng: np.random.Generator, n: int) -> list[Task]:
    return [{"velocity": v} for v in rng.uniform(0.0, 3.0, size=n)]


def _fwd_back_directions(rng: np.random.Generator, n: int) -> list[Task]:
    return [{"direction": d} for d in (1.0, -1.0)][:n]


def _fwd_back_angles(rng: np.random.Generator, n: int) -> list[Task]:
    return [{"angle": a} for a in (0.0, np.pi)][:n]


def _disk_goals(rng: np.random.Generator, n: int) -> list[Task]:
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    radius = 3.0 * np.sqrt(rng.uniform(0.0, 1.0, size=n))
    return [{"goal": np.array([r * np.cos(a), r * np.sin(a)])} for a, r in zip(angle, radius)]


def _direction_angles(rng: np.random.Generator, n: int) -> list[Task]:
    return [{"angle": a} for a in rng.uniform(0.0, 2 * np.pi, size=n)]


@lru_cache(maxsize=1)
def _walker_shapes() -> dict[str, tuple[int, ...]]:
    from pearl.envs.walker import WalkerParamsEnv

    return WalkerParamsEnv.parameter_shapes()


def _walker_params(rng: np.random.Generator, n: int) -> list[Task]:
    tasks = []
    for _ in range(n):
        task = {}
        for key, shape in _walker_shapes().items():
            base = 1.3 if key == "dof_damping" else 1.5
            task[key] = base ** rng.uniform(-3.0, 3.0, size=shape)
        tasks.append(task)
    return tasks


def _square_goals(rng: np.random.Generator, n: int) -> list[Task]:
    return [{"goal": g} for g in rng.uniform(-1.0, 1.0, size=(n, 2))]


def _semicircle_goals(rng: np.random.Generator, n: int) -> list[Task]:
    angles = np.linspace(0.0, np.pi, n)
    rng.shuffle(angles)
    return [{"goal": np.array([np.cos(a), np.sin(a)])} for a in angles]


FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in [
        FamilySpec(
            "cheetah-vel",
            "pearl/CheetahVel-v0",
            "pearl.envs.half_cheetah:HalfCheetahVelEnv",
            horizon=200,
            n_train=100,
            n_test=30,
            sample_tasks=_velocity_tasks,
            description="half-cheetah, target velocity ~ U(0, 3)",
        ),
        FamilySpec(
            "cheetah-fwd-back",
            "pearl/CheetahFwdBack-v0",
            "pearl.envs.half_cheetah:HalfCheetahFwdBackEnv",
            horizon=200,
            n_train=2,
            n_test=2,
            sample_tasks=_fwd_back_directions,
            shared_train_test=True,
            description="half-cheetah, run forward or backward",
        ),
        FamilySpec(
            "ant-fwd-back",
            "pearl/AntFwdBack-v0",
            "pearl.envs.ant:AntFwdBackEnv",
            horizon=200,
            n_train=2,
            n_test=2,
            sample_tasks=_fwd_back_angles,
            shared_train_test=True,
            description="ant, run along angle 0 or pi",
        ),
        FamilySpec(
            "ant-goal-2d",
            "pearl/AntGoal2D-v0",
            "pearl.envs.ant:AntGoal2DEnv",
            horizon=200,
            n_train=150,
            n_test=30,
            sample_tasks=_disk_goals,
            description="ant, reach a goal in the disk of radius 3 (L1 distance)",
        ),
        FamilySpec(
            "humanoid-dir-2d",
            "pearl/HumanoidDir2D-v0",
            "pearl.envs.humanoid:HumanoidDir2DEnv",
            horizon=200,
            n_train=100,
            n_test=30,
            sample_tasks=_direction_angles,
            description="humanoid, run in direction ~ U(0, 2pi)",
        ),
        FamilySpec(
            "walker-params",
            "pearl/WalkerParams-v0",
            "pearl.envs.walker:WalkerParamsEnv",
            horizon=200,
            n_train=40,
            n_test=10,
            sample_tasks=_walker_params,
            description="walker, randomised mass, inertia, friction and damping",
        ),
        FamilySpec(
            "point-robot",
            "pearl/PointRobot-v0",
            "pearl.envs.point_robot:PointRobotEnv",
            horizon=20,
            n_train=80,
            n_test=20,
            mujoco=False,
            sample_tasks=_square_goals,
            description="2-D point, dense reward to a goal in [-1, 1]^2",
        ),
        FamilySpec(
            "sparse-point-robot",
            "pearl/SparsePointRobot-v0",
            "pearl.envs.point_robot:SparsePointRobotEnv",
            horizon=20,
            n_train=80,
            n_test=20,
            mujoco=False,
            sample_tasks=_semicircle_goals,
            description="2-D point, sparse reward near a goal on the unit semicircle",
        ),
    ]
}

MUJOCO_FAMILIES: tuple[str, ...] = tuple(name for name, spec in FAMILIES.items() if spec.mujoco)


def get_family(name: str) -> FamilySpec:
    """Look a family up by its CLI name or gymnasium id."""
    if name in FAMILIES:
        return FAMILIES[name]
    for spec in FAMILIES.values():
        if spec.env_id == name:
            return spec
    raise ValueError(f"unknown task family {name!r}; valid families: {', '.join(FAMILIES)}")


def register_all() -> None:
    """Register every family with gymnasium (idempotent)."""
    for spec in FAMILIES.values():
        if spec.env_id not in gym.registry:
            gym.register(spec.env_id, entry_point=spec.entry_point, max_episode_steps=spec.horizon)


def make_env(family: str, task: Task | None = None, **kwargs) -> gym.Env:
    """``gym.make`` for a family by CLI name or id, with the task set on the env."""
    spec = get_family(family)
    register_all()
    return gym.make(spec.env_id, task=task, **{**spec.env_kwargs, **kwargs})


def _env_class(family: str) -> type:
    module_name, _, class_name = get_family(family).entry_point.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def family_env_defaults(family: str) -> dict[str, Any]:
    """Keyword arguments of the family's env constructor (besides ``task``) with their defaults."""
    klass = _env_class(family)
    return {
        p.name: p.default
        for p in inspect.signature(klass.__init__).parameters.values()
        if p.name not in ("self", "task") and p.default is not inspect.Parameter.empty
    }


def resolve_env_kwargs(family: str, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The family's env defaults updated with ``env_kwargs``; unknown keys and values outside the env
    class's ``KWARG_BOUNDS`` are a ValueError."""
    env_kwargs = env_kwargs or {}
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a dict, got {env_kwargs!r}")
    defaults = family_env_defaults(family)
    unknown = sorted(set(env_kwargs) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown env kwarg(s) {unknown} for family {family!r}; valid: {', '.join(defaults) or 'none'}"
        )
    for name, bounds in getattr(_env_class(family), "KWARG_BOUNDS", {}).items():
        if name in env_kwargs:
            bounds.check(f"env_kwargs.{name}", env_kwargs[name])
    return {**defaults, **env_kwargs}
