import os

os.environ.setdefault("MUJOCO_GL", "disable")

from pearl.core.hardware import set_num_threads

set_num_threads(1)  # torch and numpy's BLAS
