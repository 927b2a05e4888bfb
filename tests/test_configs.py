"""One config builder (pearl.core.configs) for PEARL and the baselines: the same keys, checks and messages."""

from __future__ import annotations

import pytest

from baselines.config import make_config as baseline_config
from pearl.config import make_config as pearl_config

BUILDERS = [("pearl", pearl_config), ("promp", baseline_config), ("rl2-ppo", baseline_config)]


@pytest.mark.parametrize("method, make", BUILDERS)
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"top.seed": 3}, "unknown override key 'top.seed'"),  # dotted keys are config-dict paths; seed is top level
        ({"eval.discount": 0.5}, "unknown override key 'eval.discount'"),  # a field of another group
        ({"method": "pearl"}, "unknown override key 'method'"),
        ({"num_threads": -1}, "num_threads must be a non-negative integer, got -1"),
        ({"seed": -1}, "seed must be in [0, 4294967295]"),
        ({"env_kwargs": [1]}, "env_kwargs must be a dict"),
        ({"device": "tpu"}, "tpu"),
        ({"deterministic": "yes"}, "eval.deterministic must be true or false, got 'yes'"),
    ],
)
def test_every_algorithm_refuses_the_same_inputs_the_same_way(method, make, overrides, message):
    with pytest.raises(ValueError) as err:
        make(method, "point-robot", "smoke", overrides)
    assert message in str(err.value)


@pytest.mark.parametrize("method, make", BUILDERS)
def test_flat_and_dotted_keys_set_the_same_field(method, make):
    flat = make(method, "point-robot", "smoke", {"seed": 7, "max_test_tasks": 1})
    assert (flat.seed, flat.max_test_tasks) == (7, 1)
    group = "algo" if method == "pearl" else "sampling"  # where each algorithm keeps its discount
    for key in ("discount", f"{group}.discount"):
        assert getattr(make(method, "point-robot", "smoke", {key: 0.5}), group).discount == 0.5


@pytest.mark.parametrize("method, make", BUILDERS)
def test_unknown_choices_list_the_valid_ones(method, make):
    with pytest.raises(ValueError, match="unknown profile 'huge'; valid profiles: smoke, quick, paper"):
        make(method, "point-robot", "huge")
    with pytest.raises(ValueError, match="unknown family 'cheetah'; valid families: cheetah-vel, "):
        make(method, "cheetah", "smoke")
