"""Typed PEARL configuration: reference Section 1.1 defaults, 1.2 per-family presets, and profiles.

A config is a tree of dataclasses (``PEARLConfig`` with ``algo``, ``net`` and ``eval`` groups) that
round-trips through plain dicts (``to_dict`` / ``from_dict``) for logging. Build one with
``make_config(method, family, profile, overrides)``: the shared builder (``pearl.core.configs``)
applies this module's tables; every bad input is a ``ValueError`` naming the bad value and the
valid choices.

Methods are switches of one implementation (paper Section 6.3):

=====================  ==================  ====================  =================
method                 encoder q(z|c)      context sampler S_c   RL batch
=====================  ==================  ====================  =================
pearl                  product of Gauss.   recent (enc buffer)   transitions
pearl-rnn-tran         GRU over sequences  recent (enc buffer)   transitions
pearl-rnn-traj         GRU over sequences  recent (enc buffer)   trajectory windows
pearl-ctx-offpolicy    product of Gauss.   whole RL buffer       transitions
pearl-ctx-rlbatch      product of Gauss.   the RL batch itself   transitions
pearl-deterministic    mean, no KL         recent (enc buffer)   transitions
=====================  ==================  ====================  =================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pearl.core import configs
from pearl.core.bounds import count, non_negative, non_negative_count, positive, seed_field, unit
from pearl.core.configs import DEFAULT_PROFILE, PROFILES
from pearl.envs import MUJOCO_FAMILIES

METHODS = (
    "pearl",
    "pearl-rnn-tran",
    "pearl-rnn-traj",
    "pearl-ctx-offpolicy",
    "pearl-ctx-rlbatch",
    "pearl-deterministic",
)


@dataclass
class AlgoConfig:
    """Algorithm 1 budgets and SAC hyperparameters (reference Section 1.1 defaults)."""

    num_iterations: int = count(500)
    num_initial_steps: int = non_negative_count(2000)  # per train task, z ~ prior, iteration 0 only
    num_tasks_sample: int = count(5)  # tasks that get fresh data each iteration
    num_steps_prior: int = non_negative_count(400)  # z ~ prior -> RL and context buffers
    num_steps_posterior: int = non_negative_count(0)  # z ~ posterior -> RL and context buffers
    num_extra_rl_steps_posterior: int = non_negative_count(400)  # z ~ posterior -> RL buffer only
    num_train_steps_per_itr: int = count(2000)
    meta_batch: int = count(16)  # tasks per gradient step (with replacement)
    batch_size: int = count(256)  # RL transitions per task
    embedding_batch_size: int = count(64)  # context transitions per task
    max_path_length: int | None = count(None, optional=True)  # None: the family's horizon
    discount: float = unit(0.99)
    soft_target_tau: float = unit(0.005)
    policy_lr: float = positive(3e-4)
    qf_lr: float = positive(3e-4)
    vf_lr: float = positive(3e-4)
    context_lr: float = positive(3e-4)
    reward_scale: float = positive(5.0)
    sparse_rewards: bool = False  # context (and reported return) uses info['sparse_reward']
    kl_lambda: float = non_negative(0.1)
    use_next_obs_in_context: bool = False
    policy_mean_reg_weight: float = non_negative(1e-3)
    policy_std_reg_weight: float = non_negative(1e-3)
    replay_buffer_size: int = count(1_000_000)  # per task, per buffer (FIFO)


@dataclass
class NetConfig:
    """Network sizes (reference Section 2.1)."""

    latent_size: int = count(5)
    net_size: int = count(300)  # hidden width of Q1, Q2, V, policy
    num_hidden_layers: int = count(3)
    encoder_hidden: int = count(200)  # hidden width of the context encoder MLP (and the GRU)
    encoder_hidden_layers: int = count(3)
    precision: str = "float32"  # "bfloat16": autocast the hidden layers in gradient steps; "auto" (pearl.core.hardware)


@dataclass
class EvalConfig:
    """Meta-test protocol (Algorithm 2, reference Section 3.1)."""

    num_evals: int = count(2)  # independent adaptation runs per test task
    num_steps_per_eval: int = count(600)  # transitions per run
    num_exp_traj_eval: int = non_negative_count(1)  # episodes with z ~ prior before posterior sampling
    eval_every: int = count(1)  # iterations between evaluations (the last iteration is always evaluated)
    deterministic: bool = True
    record_paths: bool = False  # keep evaluation observations (positions for point robots)


@dataclass
class PEARLConfig:
    method: str = "pearl"
    family: str = "cheetah-vel"
    profile: str = DEFAULT_PROFILE
    seed: int = seed_field(0)
    num_threads: int = non_negative_count(1)  # torch intra-op threads (0: leave torch's default)
    device: str = "cpu"  # cpu | cuda | auto, of networks and gradient steps (pearl.core.hardware; not in the run key)
    max_train_tasks: int | None = count(None, optional=True)  # use only the first k train tasks (None: all)
    max_test_tasks: int | None = count(None, optional=True)
    checkpoint_every: int = count(10)  # iterations between checkpoints (the last iteration always saves)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    net: NetConfig = field(default_factory=NetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    # ---- method switches (derived, not stored) -----------------------------------------
    @property
    def encoder_type(self) -> str:
        """'gaussian' (eq. 2 product), 'gru' (Section 6.3 RNN ablation) or 'deterministic'."""
        if self.method in ("pearl-rnn-tran", "pearl-rnn-traj"):
            return "gru"
        if self.method == "pearl-deterministic":
            return "deterministic"
        return "gaussian"

    @property
    def context_source(self) -> str:
        """'recent' (enc buffer, Section 5), 'replay' (whole RL buffer) or 'rl-batch'."""
        return {"pearl-ctx-offpolicy": "replay", "pearl-ctx-rlbatch": "rl-batch"}.get(self.method, "recent")

    @property
    def rl_batch_mode(self) -> str:
        """'transitions' (decorrelated) or 'trajectories' (windows of consecutive steps)."""
        return "trajectories" if self.method == "pearl-rnn-traj" else "transitions"

    @property
    def context_is_sequence(self) -> bool:
        return self.encoder_type == "gru"

    # ---- dict round trip --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return configs.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PEARLConfig":
        cfg = configs.from_dict(cls, d, {"algo": AlgoConfig, "net": NetConfig, "eval": EvalConfig})
        validate(cfg)
        return cfg


# ---- per-family presets (reference Section 1.2; blank cells = defaults) ------------------
FAMILY_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "cheetah-vel": {
        "algo": dict(num_steps_prior=400, num_extra_rl_steps_posterior=600, embedding_batch_size=100),
        "eval": dict(num_evals=1, num_steps_per_eval=600, num_exp_traj_eval=2),
    },
    "cheetah-fwd-back": {  # oyster's cheetah-dir
        "algo": dict(meta_batch=4, num_steps_prior=1000, num_extra_rl_steps_posterior=1000, embedding_batch_size=256),
        "eval": dict(num_evals=4, num_steps_per_eval=600, num_exp_traj_eval=2),
    },
    "ant-fwd-back": {  # oyster's ant-dir with forward_backward=True (paper-time script)
        "algo": dict(
            meta_batch=4,
            num_steps_prior=400,
            num_extra_rl_steps_posterior=600,
            num_train_steps_per_itr=4000,
            embedding_batch_size=256,
        ),
        "eval": dict(num_evals=4, num_steps_per_eval=600, num_exp_traj_eval=2),
    },
    "ant-goal-2d": {
        "algo": dict(
            meta_batch=10,
            num_steps_prior=400,
            num_extra_rl_steps_posterior=600,
            num_train_steps_per_itr=4000,
            embedding_batch_size=256,
            kl_lambda=1.0,
        ),
        "eval": dict(num_evals=1, num_steps_per_eval=600, num_exp_traj_eval=2),
    },
    "humanoid-dir-2d": {
        "algo": dict(
            num_steps_prior=400,
            num_extra_rl_steps_posterior=600,
            num_train_steps_per_itr=4000,
            embedding_batch_size=256,
        ),
        "eval": dict(num_evals=1, num_steps_per_eval=600, num_exp_traj_eval=2),
    },
    "walker-params": {
        "algo": dict(
            meta_batch=10,
            num_steps_prior=400,
            num_extra_rl_steps_posterior=600,
            num_train_steps_per_itr=4000,
            embedding_batch_size=100,
            use_next_obs_in_context=True,
        ),
        "eval": dict(num_evals=2, num_steps_per_eval=600, num_exp_traj_eval=2),
    },
    "point-robot": {
        "algo": dict(
            num_initial_steps=200,
            num_steps_prior=200,
            num_extra_rl_steps_posterior=200,
            num_train_steps_per_itr=1000,
            reward_scale=100.0,
            kl_lambda=0.1,
        ),
        "eval": dict(num_steps_per_eval=60, record_paths=True),
    },
    "sparse-point-robot": {
        "algo": dict(
            num_initial_steps=200,
            num_tasks_sample=10,
            num_steps_prior=100,
            num_steps_posterior=900,
            num_extra_rl_steps_posterior=0,
            num_train_steps_per_itr=1000,
            embedding_batch_size=1024,
            discount=0.90,
            reward_scale=100.0,
            kl_lambda=1.0,
            sparse_rewards=True,
        ),
        "eval": dict(num_steps_per_eval=400, num_exp_traj_eval=5, record_paths=True),
    },
}

# ---- profiles ---------------------------------------------------------------------------
# smoke: tiny nets and budgets so every method finishes in seconds on 2 CPU cores.
# quick: the reduced profile. It keeps every ratio that defines PEARL (gradient steps per collected
#        env step, meta-batch, KL weight relative to the critic loss, context size, a replay buffer that
#        holds the whole run) and shrinks only the network width (300 -> 64, encoder 200 -> 64), the RL
#        batch (256 -> 128) and the number of iterations (``QUICK_ITERATIONS``: at most about 2 hours per run
#        on one AVX2 core by `run --dry-run`'s estimate); evaluation every 2 iterations. README: "Reduced vs paper".
# paper: the reference budget (500 iterations, evaluation every iteration).
QUICK_ITERATIONS = {
    "cheetah-vel": 60,  # 200k initial + 60 x 5k = 500k env steps, 120k gradient steps
    "cheetah-fwd-back": 100,  # 4k + 100 x 10k = 1.0M env steps, 200k gradient steps (meta-batch 4)
    "ant-fwd-back": 50,
    "ant-goal-2d": 30,
    "humanoid-dir-2d": 20,
    "walker-params": 30,
    "point-robot": 60,
    "sparse-point-robot": 100,  # 16k + 100 x 10k = 1.0M env steps ("~1e6 steps", Section 6.2), 100k gradient steps
}
PROFILE_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "top": dict(max_train_tasks=4, max_test_tasks=2, checkpoint_every=1),
        "algo": dict(
            num_iterations=2,
            num_initial_steps=20,
            num_tasks_sample=2,
            num_steps_prior=20,
            num_steps_posterior=0,
            num_extra_rl_steps_posterior=20,
            num_train_steps_per_itr=5,
            meta_batch=3,
            batch_size=16,
            embedding_batch_size=8,
            replay_buffer_size=10_000,
        ),
        "net": dict(latent_size=2, net_size=16, num_hidden_layers=2, encoder_hidden=16, encoder_hidden_layers=2),
        "eval": dict(num_evals=1, num_exp_traj_eval=1, eval_every=1, record_paths=True),
    },
    "quick": {
        "top": dict(checkpoint_every=5),
        "algo": dict(batch_size=128),
        "net": dict(net_size=64, encoder_hidden=64),
        "eval": dict(eval_every=2),
    },
    "paper": {"top": {}, "algo": {}, "net": {}, "eval": {}},
}
assert tuple(PROFILE_SETTINGS) == PROFILES


def _smoke_family_settings(family: str) -> dict[str, dict[str, Any]]:
    """Short episodes for smoke runs: MuJoCo horizons cut to 10 steps, point robots keep 20."""
    horizon = 10 if family in MUJOCO_FAMILIES else 20
    out = {
        "algo": dict(
            max_path_length=horizon,
            num_initial_steps=horizon,
            num_steps_prior=horizon,
            num_extra_rl_steps_posterior=horizon,
        ),
        "eval": dict(num_steps_per_eval=3 * horizon),
    }
    if family == "sparse-point-robot":
        out["algo"].update(num_steps_posterior=horizon, num_extra_rl_steps_posterior=0)
        out["eval"].update(num_exp_traj_eval=2)
    return out


def _quick_budget(cfg: PEARLConfig) -> configs.Layer:
    """``QUICK_ITERATIONS``, and a replay buffer that holds the whole run, even for one task."""
    a = cfg.algo
    iterations = QUICK_ITERATIONS[cfg.family]
    run_steps = a.num_initial_steps + iterations * a.num_tasks_sample * (
        a.num_steps_prior + a.num_steps_posterior + a.num_extra_rl_steps_posterior
    )
    return {"algo": dict(num_iterations=iterations, replay_buffer_size=max(a.replay_buffer_size, run_steps))}


def make_config(
    method: str = "pearl",
    family: str = "cheetah-vel",
    profile: str = DEFAULT_PROFILE,
    overrides: dict[str, Any] | None = None,
) -> PEARLConfig:
    """Defaults, then the family preset, then the profile, then ``overrides`` (``pearl.core.configs.build``).

    Override keys are either flat field names (``kl_lambda``; every field name is unique across
    groups) or dotted (``algo.kl_lambda``). Overrides may not change ``method``, ``family`` or
    ``profile`` (pass them as arguments).
    """
    configs.check_choices(method, family, profile, METHODS)
    layers: list = [FAMILY_PRESETS[family], PROFILE_SETTINGS[profile]]
    if profile == "smoke":
        layers.append(_smoke_family_settings(family))
    if profile == "quick":
        layers.append(_quick_budget)
    cfg = configs.build(PEARLConfig(method=method, family=family, profile=profile), layers, overrides, validate)
    from pearl.core.hardware import resolve_precision  # torch, on first use

    cfg.net.precision = resolve_precision(cfg.net.precision, cfg.device)  # the run key records the resolved one
    return cfg


def validate(cfg: PEARLConfig) -> None:
    """Raise ValueError for choices or values that cannot run (ranges: the fields' ``pearl.core.bounds``)."""
    configs.check_choices(cfg.method, cfg.family, cfg.profile, METHODS)
    configs.check_common(cfg)
    if cfg.algo.num_initial_steps == 0:
        raise ValueError("algo.num_initial_steps must be > 0: the first gradient step needs data in every buffer")
    if cfg.algo.num_steps_prior + cfg.algo.num_steps_posterior == 0 and cfg.context_source == "recent":
        raise ValueError("num_steps_prior + num_steps_posterior must be > 0: the context buffer would stay empty")
    if cfg.algo.num_steps_prior + cfg.algo.num_steps_posterior + cfg.algo.num_extra_rl_steps_posterior == 0:
        raise ValueError(
            "num_steps_prior + num_steps_posterior + num_extra_rl_steps_posterior must be > 0: "
            "metrics are logged against env steps, which must grow every iteration"
        )
    from pearl.core.hardware import check_precision  # torch, on first use

    check_precision(cfg.net.precision, cfg.device)
