"""Typed configs of the on-policy baselines, with the reference hyperparameters per family and profiles.

Built as ``pearl.config`` is, by the shared builder (``pearl.core.configs``):
``make_config(method, family, profile, overrides)`` applies defaults, then the family preset, then
the profile, then ``overrides`` (flat field names, unique within a method's config, or dotted
``group.field``); every bad input is a ``ValueError`` naming the bad value and the valid choices.
``to_dict`` / ``BaselineConfig.from_dict`` round-trip through plain dicts.

Sources (``shared/reference/baselines.md``): ProMP Section 2.3 table, MAML-TRPO Section 3.2 (ProMP
run script column), RL2 Section 4.2 (ProMP sweep used for PEARL, GRU instead of LSTM, as in garage
and the RL2 paper), shared sampling Section 1. All PEARL tasks have horizon 200 (paper Section 6.1).

Budget: ``num_iterations`` and/or ``max_env_steps``; training stops at whichever comes first. The
``paper`` profile carries the 1e8-step budget of Figure 3's dashed asymptotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pearl.core import configs
from pearl.core.bounds import bounded, count, non_negative, non_negative_count, positive, seed_field, unit
from pearl.core.configs import DEFAULT_PROFILE, PROFILES
from pearl.envs import MUJOCO_FAMILIES

METHODS = ("rl2-ppo", "maml-trpo", "promp")
INNER_LOSSES = ("log_likelihood", "likelihood_ratio")
LOG_STD_RANGE = (math.log(1e-6), 5.0)  # initial log std of the Gaussian policies


@dataclass
class SamplingConfig:
    """What one iteration collects (reference Section 1.3)."""

    meta_batch: int = count(40)  # tasks per iteration (RL2: trials, one task each)
    episodes_per_task: int = count(20)  # MAML/ProMP: episodes per task per sampling phase; RL2: episodes per trial
    max_path_length: int | None = count(None, optional=True)  # None: the family's horizon
    discount: float = unit(0.99)
    gae_lambda: float = unit(1.0)
    normalize_advantages: bool = True  # MAML/ProMP: per task batch; RL2: over the whole batch
    action_scale: float = positive(10.0)  # env action = clip(a / action_scale, -1, 1): ProMP's [-10, 10] wrapper
    sparse_rewards: bool = False  # adaptation signal (inner step / RL2 reward input) and reported return: sparse


@dataclass
class MAMLTRPOConfig:
    """MAML-TRPO (reference Section 3.1, ProMP repo ``trpo_maml`` + ``maml_run_mujoco``)."""

    hidden_sizes: list[int] = bounded(default_factory=lambda: [64, 64], lo=1, integer=True, sequence=True)
    init_log_std: float = bounded(0.0, lo=LOG_STD_RANGE[0], hi=LOG_STD_RANGE[1])
    inner_lr: float = non_negative(0.1)
    num_inner_steps: int = count(1)
    inner_loss: str = "log_likelihood"  # original MAML; "likelihood_ratio" = LVC-TRPO
    max_kl: float = positive(0.01)
    cg_iters: int = count(10)
    cg_damping: float = non_negative(1e-5)
    backtrack_ratio: float = bounded(0.8, lo=0, hi=1, lo_open=True)
    max_backtracks: int = count(15)


@dataclass
class ProMPConfig:
    """ProMP (reference Section 2, ProMP repo ``pro_mp`` + ``pro-mp_run_mujoco``)."""

    hidden_sizes: list[int] = bounded(default_factory=lambda: [64, 64], lo=1, integer=True, sequence=True)
    init_log_std: float = bounded(0.0, lo=LOG_STD_RANGE[0], hi=LOG_STD_RANGE[1])
    inner_lr: float = non_negative(0.1)
    num_inner_steps: int = count(1)
    inner_loss: str = "likelihood_ratio"  # the LVC estimator
    outer_lr: float = positive(1e-3)
    num_promp_steps: int = count(5)
    clip_eps: float = bounded(0.3, lo=0, hi=1, lo_open=True)
    init_inner_kl_penalty: float = non_negative(5e-4)
    adaptive_inner_kl_penalty: bool = False
    target_inner_kl: float = positive(0.01)


@dataclass
class RL2Config:
    """RL2 with PPO (reference Section 4; GRU as in the RL2 paper and garage)."""

    hidden_size: int = count(64)
    init_log_std: float = bounded(0.0, lo=LOG_STD_RANGE[0], hi=LOG_STD_RANGE[1])
    lr: float = positive(1e-3)
    ppo_epochs: int = count(5)
    num_minibatches: int = count(1)  # full batch, one Adam step per epoch (ProMP)
    clip_eps: float = bounded(0.2, lo=0, hi=1, lo_open=True)
    vf_coef: float = non_negative(0.5)
    entropy_coef: float = non_negative(0.0)
    max_grad_norm: float | None = positive(None, optional=True)
    returns_across_episodes: bool = True  # RL2/garage objective; False: per-episode returns (ProMP's code)


ALGO_CONFIGS = {"maml-trpo": MAMLTRPOConfig, "promp": ProMPConfig, "rl2-ppo": RL2Config}


@dataclass
class EvalConfig:
    """Meta-test on the held-out test tasks (see ``baselines.trainer``)."""

    eval_every: int = count(10)  # iterations between evaluations (the last iteration is always evaluated)
    runs_per_task: int = count(20)  # MAML/ProMP: episodes per adaptation phase per test task; RL2: trials per test task
    num_episodes: int | None = count(
        None, optional=True
    )  # RL2: episodes per test trial (None: sampling.episodes_per_task)
    deterministic: bool = False  # act with the mean in the measured episodes (MAML: post-update only)


@dataclass
class BaselineConfig:
    method: str = "promp"
    family: str = "cheetah-vel"
    profile: str = DEFAULT_PROFILE
    seed: int = seed_field(0)
    num_threads: int = non_negative_count(1)  # torch intra-op threads (0: leave torch's default)
    device: str = "cpu"  # cpu | cuda | auto, of the networks and updates (pearl.core.hardware; not in the run key)
    num_iterations: int | None = count(1000, optional=True)
    max_env_steps: int | None = count(None, optional=True)  # meta-training env-step budget
    max_train_tasks: int | None = count(None, optional=True)
    max_test_tasks: int | None = count(None, optional=True)
    checkpoint_every: int = count(10)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    algo: Any = field(default_factory=ProMPConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return configs.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BaselineConfig":
        method = d.get("method", cls.method)
        configs.check_choice("method", "methods", method, METHODS)
        algo = ALGO_CONFIGS[method]
        cfg = configs.from_dict(
            cls, {"algo": algo(), **d}, {"sampling": SamplingConfig, "algo": algo, "eval": EvalConfig}
        )
        validate(cfg)
        return cfg

    # ---- derived -----------------------------------------------------------------------
    def horizon(self) -> int:
        from pearl.envs import get_family

        return self.sampling.max_path_length or get_family(self.family).horizon

    def phases(self) -> int:
        """Sampling phases per iteration: pre-update + one per inner step (RL2: 1)."""
        return 1 if self.method == "rl2-ppo" else self.algo.num_inner_steps + 1

    def nominal_steps_per_iteration(self) -> int:
        """Env steps of one iteration without early termination (an upper bound)."""
        s = self.sampling
        return self.phases() * s.meta_batch * s.episodes_per_task * self.horizon()

    def planned_iterations(self) -> int:
        """Iterations the budget allows at the nominal rate (early termination may need more)."""
        by_steps = math.ceil(self.max_env_steps / self.nominal_steps_per_iteration()) if self.max_env_steps else None
        candidates = [n for n in (self.num_iterations, by_steps) if n is not None]
        return min(candidates)


# ---- per-family presets (reference tables; point robots are not in the references) ------------
def _family_preset(method: str, family: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"sampling": {}, "algo": {}}
    if family == "sparse-point-robot":
        out["sampling"]["sparse_rewards"] = True
    if family not in MUJOCO_FAMILIES:  # not in the references: no x10 wrapper, std 1 spans the action range
        out["sampling"]["action_scale"] = 1.0
    if method == "rl2-ppo":
        # ProMP sweep for PEARL: 100 trials x 2 episodes, PPO clip 0.2, Adam 1e-3, 5 epochs; no action
        # wrapper (reference 1.2); lambda 0.95 as garage's RL2PPO (we learn a GRU value function).
        out["sampling"].update(meta_batch=100, episodes_per_task=2, action_scale=1.0, gae_lambda=0.95)
        return out
    if family == "humanoid-dir-2d":
        out["algo"]["hidden_sizes"] = [128, 128]
    if family == "ant-goal-2d":
        out["algo"]["num_inner_steps"] = 2
    if family == "walker-params":  # the Rand-Params rows
        out["algo"]["inner_lr"] = 0.05
        if method == "promp":
            out["algo"].update(num_promp_steps=3, init_inner_kl_penalty=1e-3, adaptive_inner_kl_penalty=True)
    return out


# ---- profiles ---------------------------------------------------------------------------------
def _profile(method: str, family: str, profile: str) -> dict[str, dict[str, Any]]:
    assert profile in PROFILES, profile
    if profile == "smoke":  # seconds on 2 cores; MuJoCo horizons cut to 10 steps
        horizon = 10 if family in MUJOCO_FAMILIES else 20
        algo = {
            "rl2-ppo": dict(hidden_size=16, ppo_epochs=2),
            "maml-trpo": dict(hidden_sizes=[16, 16], cg_iters=5),
            "promp": dict(hidden_sizes=[16, 16], num_promp_steps=2),
        }[method]
        return {
            "top": dict(num_iterations=2, max_env_steps=None, max_train_tasks=4, max_test_tasks=2, checkpoint_every=1),
            "sampling": dict(meta_batch=3, episodes_per_task=2, max_path_length=horizon),
            "algo": algo,
            "eval": dict(eval_every=1, runs_per_task=2),
        }
    if profile == "quick":  # the reference recipe at a quarter of the batch, 8M env steps on 200-step families
        # RL2: minibatches of 5 trials (50 Adam steps per iteration instead of 5). With the full-batch
        # recipe RL2 sat at -17 on point-robot after 1e6 steps; with minibatches it reached -11.7.
        # RL2 collects a quarter of MAML/ProMP's env steps per iteration here, so it gets 4x the iterations
        # (8M env steps for all three on the 200-step families).
        return {
            "top": dict(
                num_iterations=400 if method == "rl2-ppo" else 100,
                max_env_steps=None,
                checkpoint_every=5,
                max_test_tasks=10,
            ),
            "sampling": dict(meta_batch=50) if method == "rl2-ppo" else dict(meta_batch=20, episodes_per_task=10),
            "algo": dict(num_minibatches=10) if method == "rl2-ppo" else {},
            "eval": dict(eval_every=10, runs_per_task=5),
        }
    # paper: the reference per-iteration recipe up to 1e8 meta-training steps (Figure 3)
    return {
        "top": dict(num_iterations=None, max_env_steps=100_000_000, checkpoint_every=10),
        "sampling": {},
        "algo": {},
        "eval": dict(eval_every=10),
    }


def make_config(
    method: str = "promp",
    family: str = "cheetah-vel",
    profile: str = DEFAULT_PROFILE,
    overrides: dict[str, Any] | None = None,
) -> BaselineConfig:
    """Defaults, then the family preset, then the profile, then ``overrides`` (``pearl.core.configs.build``)."""
    configs.check_choices(method, family, profile, METHODS)
    return configs.build(
        BaselineConfig(method=method, family=family, profile=profile, algo=ALGO_CONFIGS[method]()),
        [_family_preset(method, family), _profile(method, family, profile)],
        overrides,
        validate,
        context=f" for method {method!r}",
    )


# ---- validation --------------------------------------------------------------------------------
def validate(cfg: BaselineConfig) -> None:
    """Raise ValueError for choices or values that cannot run (ranges: the fields' ``pearl.core.bounds``)."""
    configs.check_choices(cfg.method, cfg.family, cfg.profile, METHODS)
    expected = ALGO_CONFIGS[cfg.method]
    if not isinstance(cfg.algo, expected):
        raise ValueError(f"algo config of {cfg.method!r} must be {expected.__name__}, got {type(cfg.algo).__name__}")
    configs.check_common(cfg)
    s, a = cfg.sampling, cfg.algo
    if cfg.num_iterations is None and cfg.max_env_steps is None:
        raise ValueError("num_iterations and max_env_steps are both None: the run would never end")
    if cfg.method == "rl2-ppo":
        if a.num_minibatches > s.meta_batch:
            raise ValueError(
                f"algo.num_minibatches ({a.num_minibatches}) must be <= sampling.meta_batch "
                f"({s.meta_batch}): minibatches are made of whole trials"
            )
    elif a.inner_loss not in INNER_LOSSES:
        raise ValueError(f"unknown algo.inner_loss {a.inner_loss!r}; valid choices: {', '.join(INNER_LOSSES)}")
