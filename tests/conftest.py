import os

os.environ.setdefault("MUJOCO_GL", "disable")

import torch

torch.set_num_threads(1)
