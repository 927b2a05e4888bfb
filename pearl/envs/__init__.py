"""Task families of the PEARL paper on gymnasium 1.x and the ``mujoco`` bindings."""

from pearl.envs.base import FamilySpec, MetaEnv, Task, task_to_jsonable
from pearl.envs.families import FAMILIES, get_family, make_env, register_all
from pearl.envs.vector import TaskVectorEnv

register_all()

__all__ = [
    "FAMILIES",
    "FamilySpec",
    "MetaEnv",
    "Task",
    "TaskVectorEnv",
    "get_family",
    "make_env",
    "register_all",
    "task_to_jsonable",
]
