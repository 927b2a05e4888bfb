"""Run keys of finished reference runs never change: a few quick-profile keys, pinned.

A run key (``benchmarks.runkey``) is how a finished run is found again; a refactoring that changes
a default, a preset or how configs become dicts would silently orphan every run logged before it.
"""

from __future__ import annotations

import pytest

from benchmarks.matrix import plan

PINNED = [  # (method, family, run key) of plan("quick", [method], [family], [0], grid=True, num_threads=1)
    ("pearl", "cheetah-vel", "pearl_cheetah-vel_s0_a40629d55b"),
    ("pearl-rnn-traj", "ant-goal-2d", "pearl-rnn-traj_ant-goal-2d_s0_2b6ade048d"),
    ("promp", "cheetah-vel", "promp_cheetah-vel_s0_a5111f1a46"),
    ("maml-trpo", "walker-params", "maml-trpo_walker-params_s0_d4ea030750"),
    ("rl2-ppo", "point-robot", "rl2-ppo_point-robot_s0_5ba58efa47"),
]


@pytest.mark.parametrize("method, family, key", PINNED)
def test_quick_profile_run_keys_are_pinned(method, family, key):
    [cell] = plan("quick", [method], [family], [0], grid=True, overrides={"num_threads": 1})
    assert cell.run_key == key


def test_papers_matrix_keys_of_figures_4_and_7_are_pinned():
    cells = plan("quick", ["pearl-deterministic"], ["sparse-point-robot"], [1])
    assert {c.env_kwargs["goal_radius"]: c.run_key for c in cells} == {
        0.2: "pearl-deterministic_sparse-point-robot_s1_8313981f15",
        0.8: "pearl-deterministic_sparse-point-robot_s1_4f6dccee1b",
    }
