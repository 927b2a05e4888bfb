"""Which methods and families the paper's figures and tables compare, and their paper names."""

from __future__ import annotations

from baselines.config import METHODS as BASELINE_METHODS
from pearl.envs import MUJOCO_FAMILIES  # Figure 3's families

__all__ = [
    "BASELINES",
    "FAMILY_LABELS",
    "MAIN_METHODS",
    "METHOD_LABELS",
    "MUJOCO_FAMILIES",
    "family_label",
    "method_label",
    "return_label",
]

BASELINES = list(BASELINE_METHODS)
MAIN_METHODS = ["pearl", *BASELINES]  # Figure 3

METHOD_LABELS = {
    "pearl": "PEARL",
    "rl2-ppo": "RL²",
    "maml-trpo": "MAML-TRPO",
    "promp": "ProMP",
    "pearl-rnn-tran": "RNN tran",
    "pearl-rnn-traj": "RNN traj",
    "pearl-ctx-offpolicy": "off-policy",
    "pearl-ctx-rlbatch": "off-policy RL-batch",
    "pearl-deterministic": "deterministic",
}
FAMILY_LABELS = {  # the paper's names (Section 6.1, Appendix A)
    "cheetah-vel": "Half-Cheetah-Vel",
    "cheetah-fwd-back": "Half-Cheetah-Fwd-Back",
    "ant-fwd-back": "Ant-Fwd-Back",
    "ant-goal-2d": "Ant-Goal-2D",
    "humanoid-dir-2d": "Humanoid-Direc-2D",
    "walker-params": "Walker-2D-Params",
    "point-robot": "2D navigation",
    "sparse-point-robot": "Sparse 2D navigation",
}


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def family_label(family: str) -> str:
    return FAMILY_LABELS.get(family, family)


def return_label(family: str) -> str:
    """The y-axis name the paper uses: sparse return on the sparse navigation task."""
    return "sparse return" if family == "sparse-point-robot" else "average return"
