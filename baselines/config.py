"""Typed configs of the on-policy baselines, with the reference hyperparameters per family and profiles.

Mirrors ``pearl.config``: ``make_config(method, family, profile, overrides)`` applies defaults, then
the family preset, then the profile, then ``overrides`` (flat field names, unique within a
method's config, or dotted ``group.field``); every bad input is a ``ValueError`` naming the bad
value and the valid choices. ``to_dict`` / ``BaselineConfig.from_dict`` round-trip through plain dicts.

Sources (``shared/reference/baselines.md``): ProMP Section 2.3 table, MAML-TRPO Section 3.2 (ProMP
run script column), RL2 Section 4.2 (ProMP sweep used for PEARL, GRU instead of LSTM, as in garage
and the RL2 paper), shared sampling Section 1. All PEARL tasks have horizon 200 (paper Section 6.1).

Budget: ``num_iterations`` and/or ``max_env_steps``; training stops at whichever comes first. The
``paper`` profile carries the 1e8-step budget of Figure 3's dashed asymptotes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from pearl.config import FAMILIES, PROFILES, check_choices  # noqa: F401  (PROFILES re-exported)

METHODS = ("rl2-ppo", "maml-trpo", "promp")
INNER_LOSSES = ("log_likelihood", "likelihood_ratio")
_MUJOCO = {f for f in FAMILIES if "point-robot" not in f}


@dataclass
class SamplingConfig:
    """What one iteration collects (reference Section 1.3)."""

    meta_batch: int = 40  # tasks per iteration (RL2: trials, one task each)
    episodes_per_task: int = 20  # MAML/ProMP: episodes per task per sampling phase; RL2: episodes per trial
    max_path_length: int | None = None  # None: the family's horizon
    discount: float = 0.99
    gae_lambda: float = 1.0
    normalize_advantages: bool = True  # MAML/ProMP: per task batch; RL2: over the whole batch
    action_scale: float = 10.0  # env action = clip(a / action_scale, -1, 1): ProMP's [-10, 10] wrapper
    sparse_rewards: bool = False  # adaptation signal (inner step / RL2 reward input) and reported return: sparse


@dataclass
class MAMLTRPOConfig:
    """MAML-TRPO (reference Section 3.1, ProMP repo ``trpo_maml`` + ``maml_run_mujoco``)."""

    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    init_log_std: float = 0.0
    inner_lr: float = 0.1
    num_inner_steps: int = 1
    inner_loss: str = "log_likelihood"  # original MAML; "likelihood_ratio" = LVC-TRPO
    max_kl: float = 0.01
    cg_iters: int = 10
    cg_damping: float = 1e-5
    backtrack_ratio: float = 0.8
    max_backtracks: int = 15


@dataclass
class ProMPConfig:
    """ProMP (reference Section 2, ProMP repo ``pro_mp`` + ``pro-mp_run_mujoco``)."""

    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    init_log_std: float = 0.0
    inner_lr: float = 0.1
    num_inner_steps: int = 1
    inner_loss: str = "likelihood_ratio"  # the LVC estimator
    outer_lr: float = 1e-3
    num_promp_steps: int = 5
    clip_eps: float = 0.3
    init_inner_kl_penalty: float = 5e-4
    adaptive_inner_kl_penalty: bool = False
    target_inner_kl: float = 0.01


@dataclass
class RL2Config:
    """RL2 with PPO (reference Section 4; GRU as in the RL2 paper and garage)."""

    hidden_size: int = 64
    init_log_std: float = 0.0
    lr: float = 1e-3
    ppo_epochs: int = 5
    num_minibatches: int = 1  # full batch, one Adam step per epoch (ProMP)
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float | None = None
    returns_across_episodes: bool = True  # RL2/garage objective; False: per-episode returns (ProMP's code)


ALGO_CONFIGS = {"maml-trpo": MAMLTRPOConfig, "promp": ProMPConfig, "rl2-ppo": RL2Config}


@dataclass
class EvalConfig:
    """Meta-test on the held-out test tasks (see ``baselines.trainer``)."""

    eval_every: int = 10  # iterations between evaluations (the last iteration is always evaluated)
    runs_per_task: int = 20  # MAML/ProMP: episodes per adaptation phase per test task; RL2: trials per test task
    num_episodes: int | None = None  # RL2: episodes per test trial (None: sampling.episodes_per_task)
    deterministic: bool = False  # act with the mean in the measured episodes (MAML: post-update only)


@dataclass
class BaselineConfig:
    method: str = "promp"
    family: str = "cheetah-vel"
    profile: str = "paper"
    seed: int = 0
    num_threads: int = 1  # torch intra-op threads (0: leave torch's default)
    device: str = "cpu"  # cpu | cuda | auto, of the networks and updates (pearl.hardware; not in the run key)
    num_iterations: int | None = 1000
    max_env_steps: int | None = None  # meta-training env-step budget
    max_train_tasks: int | None = None
    max_test_tasks: int | None = None
    checkpoint_every: int = 10
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    algo: Any = field(default_factory=ProMPConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BaselineConfig":
        d = dict(d)
        method = d.get("method", cls.method)
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
        groups = {"sampling": SamplingConfig, "algo": ALGO_CONFIGS[method], "eval": EvalConfig}
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            value = d.pop(f.name)
            if f.name in groups:
                value = _build(groups[f.name], value, f.name + ".")
            kwargs[f.name] = value
        if d:
            raise ValueError(f"unknown config key(s) {sorted(d)}; valid keys: {[f.name for f in dataclasses.fields(cls)]}")
        if "algo" not in kwargs:
            kwargs["algo"] = ALGO_CONFIGS[method]()
        cfg = cls(**kwargs)
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


def _build(klass, values: dict[str, Any], prefix: str):
    if dataclasses.is_dataclass(values):
        values = dataclasses.asdict(values)
    names = [f.name for f in dataclasses.fields(klass)]
    bad = [k for k in values if k not in names]
    if bad:
        raise ValueError(f"unknown config key(s) {[prefix + b for b in bad]}; valid keys: {[prefix + n for n in names]}")
    return klass(**values)


# ---- per-family presets (reference tables; point robots are not in the references) ------------
def _family_preset(method: str, family: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"sampling": {}, "algo": {}}
    if family == "sparse-point-robot":
        out["sampling"]["sparse_rewards"] = True
    if family not in _MUJOCO:  # not in the references: no x10 wrapper, std 1 spans the action range
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
    if profile == "smoke":  # seconds on 2 cores; MuJoCo horizons cut to 10 steps
        horizon = 10 if family in _MUJOCO else 20
        algo = {"rl2-ppo": dict(hidden_size=16, ppo_epochs=2),
                "maml-trpo": dict(hidden_sizes=[16, 16], cg_iters=5),
                "promp": dict(hidden_sizes=[16, 16], num_promp_steps=2)}[method]
        return {"top": dict(num_iterations=2, max_env_steps=None, max_train_tasks=4, max_test_tasks=2,
                            checkpoint_every=1),
                "sampling": dict(meta_batch=3, episodes_per_task=2, max_path_length=horizon),
                "algo": algo,
                "eval": dict(eval_every=1, runs_per_task=2)}
    if profile == "quick":  # the reference recipe at a quarter of the batch, 100 iterations
        # RL2: minibatches of 5 trials (50 Adam steps per iteration instead of 5). With the full-batch
        # recipe RL2 sat at -17 on point-robot after 1e6 steps; with minibatches it reached -11.7.
        return {"top": dict(num_iterations=100, max_env_steps=None, checkpoint_every=5, max_test_tasks=10),
                "sampling": dict(meta_batch=50) if method == "rl2-ppo" else dict(meta_batch=20, episodes_per_task=10),
                "algo": dict(num_minibatches=10) if method == "rl2-ppo" else {},
                "eval": dict(eval_every=10, runs_per_task=5)}
    # paper: the reference per-iteration recipe up to 1e8 meta-training steps (Figure 3)
    return {"top": dict(num_iterations=None, max_env_steps=100_000_000, checkpoint_every=10),
            "sampling": {}, "algo": {}, "eval": dict(eval_every=10)}


def _keys(method: str) -> dict[str, str]:
    """Flat key -> group ('' for top level) for ``method``'s config."""
    keys = {f.name: "" for f in dataclasses.fields(BaselineConfig) if f.name not in ("sampling", "algo", "eval")}
    for group, klass in (("sampling", SamplingConfig), ("algo", ALGO_CONFIGS[method]), ("eval", EvalConfig)):
        for f in dataclasses.fields(klass):
            assert f.name not in keys, f"config key {f.name} is not unique"
            keys[f.name] = group
    return keys


def _apply(cfg: BaselineConfig, group: str, values: dict[str, Any]) -> None:
    target = cfg if group in ("", "top") else getattr(cfg, group)
    for key, value in values.items():
        setattr(target, key, list(value) if isinstance(value, tuple) else value)


def make_config(method: str = "promp", family: str = "cheetah-vel", profile: str = "paper",
                overrides: dict[str, Any] | None = None) -> BaselineConfig:
    check_choices(method, family, profile, METHODS)
    cfg = BaselineConfig(method=method, family=family, profile=profile, algo=ALGO_CONFIGS[method]())
    for group, values in _family_preset(method, family).items():
        _apply(cfg, group, values)
    for group, values in _profile(method, family, profile).items():
        _apply(cfg, group, values)
    keys = _keys(method)
    for key, value in (overrides or {}).items():
        group, _, name = key.rpartition(".")
        if name not in keys or (group and group != (keys[name] or "top")) or name in ("method", "family", "profile"):
            valid = sorted(k for k in keys if k not in ("method", "family", "profile"))
            raise ValueError(f"unknown override key {key!r} for method {method!r}; valid keys: {', '.join(valid)}")
        _apply(cfg, keys[name], {name: value})
    validate(cfg)
    return cfg


# ---- validation --------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(cfg: BaselineConfig) -> None:
    """Raise ValueError for choices or values that cannot run."""
    check_choices(cfg.method, cfg.family, cfg.profile, METHODS)
    expected = ALGO_CONFIGS[cfg.method]
    if not isinstance(cfg.algo, expected):
        raise ValueError(f"algo config of {cfg.method!r} must be {expected.__name__}, got {type(cfg.algo).__name__}")
    s, a, e = cfg.sampling, cfg.algo, cfg.eval

    def positive_int(name, v, allow_none=False):
        if (v is None and allow_none) or (_is_int(v) and v > 0):
            return
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {v!r}")

    def number(name, v, lo=None, hi=None, lo_open=False, allow_none=False):
        if v is None and allow_none:
            return
        ok = _is_num(v) and (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or v <= hi)
        if not ok:
            rng = f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            raise ValueError(f"{name} must be a number in {rng}, got {v!r}")

    def boolean(name, v):
        if not isinstance(v, bool):
            raise ValueError(f"{name} must be true or false, got {v!r}")

    positive_int("num_iterations", cfg.num_iterations, allow_none=True)
    positive_int("max_env_steps", cfg.max_env_steps, allow_none=True)
    if cfg.num_iterations is None and cfg.max_env_steps is None:
        raise ValueError("num_iterations and max_env_steps are both None: the run would never end")
    positive_int("max_train_tasks", cfg.max_train_tasks, allow_none=True)
    positive_int("max_test_tasks", cfg.max_test_tasks, allow_none=True)
    positive_int("checkpoint_every", cfg.checkpoint_every)
    if not _is_int(cfg.seed):
        raise ValueError(f"seed must be an int, got {cfg.seed!r}")
    if not _is_int(cfg.num_threads) or cfg.num_threads < 0:
        raise ValueError(f"num_threads must be a non-negative integer, got {cfg.num_threads!r}")
    if not isinstance(cfg.env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a dict, got {type(cfg.env_kwargs).__name__}")
    from pearl.hardware import check_device  # torch, on first use

    check_device(cfg.device)

    positive_int("sampling.meta_batch", s.meta_batch)
    positive_int("sampling.episodes_per_task", s.episodes_per_task)
    positive_int("sampling.max_path_length", s.max_path_length, allow_none=True)
    number("sampling.discount", s.discount, 0.0, 1.0)
    number("sampling.gae_lambda", s.gae_lambda, 0.0, 1.0)
    number("sampling.action_scale", s.action_scale, 0.0, lo_open=True)
    boolean("sampling.normalize_advantages", s.normalize_advantages)
    boolean("sampling.sparse_rewards", s.sparse_rewards)

    number("algo.init_log_std", a.init_log_std, math.log(1e-6), 5.0)
    if cfg.method == "rl2-ppo":
        positive_int("algo.hidden_size", a.hidden_size)
        number("algo.lr", a.lr, 0.0, lo_open=True)
        positive_int("algo.ppo_epochs", a.ppo_epochs)
        positive_int("algo.num_minibatches", a.num_minibatches)
        if a.num_minibatches > s.meta_batch:
            raise ValueError(f"algo.num_minibatches ({a.num_minibatches}) must be <= sampling.meta_batch "
                             f"({s.meta_batch}): minibatches are made of whole trials")
        number("algo.clip_eps", a.clip_eps, 0.0, 1.0, lo_open=True)
        number("algo.vf_coef", a.vf_coef, 0.0)
        number("algo.entropy_coef", a.entropy_coef, 0.0)
        number("algo.max_grad_norm", a.max_grad_norm, 0.0, lo_open=True, allow_none=True)
        boolean("algo.returns_across_episodes", a.returns_across_episodes)
        positive_int("eval.num_episodes", e.num_episodes, allow_none=True)
    else:
        if not isinstance(a.hidden_sizes, list) or not a.hidden_sizes or not all(
                _is_int(h) and h > 0 for h in a.hidden_sizes):
            raise ValueError(f"algo.hidden_sizes must be a non-empty list of positive integers, got {a.hidden_sizes!r}")
        number("algo.inner_lr", a.inner_lr, 0.0)
        positive_int("algo.num_inner_steps", a.num_inner_steps)
        if a.inner_loss not in INNER_LOSSES:
            raise ValueError(f"unknown algo.inner_loss {a.inner_loss!r}; valid choices: {', '.join(INNER_LOSSES)}")
        if cfg.method == "maml-trpo":
            number("algo.max_kl", a.max_kl, 0.0, lo_open=True)
            positive_int("algo.cg_iters", a.cg_iters)
            number("algo.cg_damping", a.cg_damping, 0.0)
            number("algo.backtrack_ratio", a.backtrack_ratio, 0.0, 1.0, lo_open=True)
            positive_int("algo.max_backtracks", a.max_backtracks)
        else:
            number("algo.outer_lr", a.outer_lr, 0.0, lo_open=True)
            positive_int("algo.num_promp_steps", a.num_promp_steps)
            number("algo.clip_eps", a.clip_eps, 0.0, 1.0, lo_open=True)
            number("algo.init_inner_kl_penalty", a.init_inner_kl_penalty, 0.0)
            boolean("algo.adaptive_inner_kl_penalty", a.adaptive_inner_kl_penalty)
            number("algo.target_inner_kl", a.target_inner_kl, 0.0, lo_open=True)
    positive_int("eval.eval_every", e.eval_every)
    positive_int("eval.runs_per_task", e.runs_per_task)
    boolean("eval.deterministic", e.deterministic)
