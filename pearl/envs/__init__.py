"""Task families of the PEARL paper on gymnasium 1.x and the ``mujoco`` bindings."""

from pearl.envs.base import FamilySpec, MetaEnv, Task, task_to_jsonable
from pearl.envs.families import (
    FAMILIES,
    MUJOCO_FAMILIES,
    family_env_defaults,
    get_family,
    make_env,
    register_all,
    resolve_env_kwargs,
)
from pearl.envs.vector import TaskVectorEnv

register_all()

__all__ = [
    "FAMILIES",
    "FamilySpec",
    "MUJOCO_FAMILIES",
    "MetaEnv",
    "Task",
    "TaskVectorEnv",
    "family_env_defaults",
    "get_family",
    "make_env",
    "register_all",
    "resolve_env_kwargs",
    "task_to_jsonable",
]
