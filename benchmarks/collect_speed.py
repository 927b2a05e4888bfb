"""Collection speed of every method against bare ``mj_step`` on the same physics (issue #12, item 5).

    python -m benchmarks.collect_speed [--family cheetah-fwd-back ...] [--profile quick ...] [--methods ...]
                                       [--repeats 3] [--threads 1] [--json FILE]

Each method's real trainer is built for (method, family, profile); only the env-interaction loop
of one iteration's collection is timed (policy forwards, env steps, storing transitions):

  pearl*             ``Collector.collect_round``: prior, posterior and extra-RL episodes of
                     ``num_tasks_sample`` tasks (after a short initial pool, so posteriors exist),
                     a phase's episodes side by side where their z cannot depend on each other's data
  rl2-ppo            ``sample_trials``: one trial of E episodes per task of the meta-batch
  maml-trpo, promp   ``sample_meta_batch``: one sampling phase of K tasks x R episodes, pre-update

``bare`` replays 20,000 random-action env steps as bare ``mujoco.mj_step`` (``benchmarks.env_speed``).
Every repeat measures bare and then every method, interleaved; the table has one row per method,
family and profile: the median over repeats of env steps per second of wall clock, bare mj_step's,
and their fraction, then the same per second of this process's CPU time (less disturbed by other
processes on a shared machine). Target (issue #12): every method's collection >= 60% of bare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

BASELINE_METHODS = ("rl2-ppo", "maml-trpo", "promp")


def _pearl_collector(method: str, family: str, profile: str, threads: int):
    """A PEARL trainer with a small initial pool, and a closure timing one collection round."""
    from pearl.config import make_config
    from pearl.trainer import PEARLTrainer

    trainer = PEARLTrainer(make_config(method, family, profile, {"num_threads": threads}))
    a, rng = trainer.config.algo, trainer.rng
    trainer.collector.collect_initial(min(a.num_initial_steps, 2 * trainer.horizon), rng)

    def collect() -> int:
        task_ids = rng.integers(0, len(trainer.train_tasks), size=a.num_tasks_sample)
        return trainer.collector.collect_round(
            task_ids, a.num_steps_prior, a.num_steps_posterior, a.num_extra_rl_steps_posterior, rng
        )

    return trainer, collect


def _baseline_collector(method: str, family: str, profile: str, threads: int):
    from baselines.config import make_config
    from baselines.rollouts import sample_meta_batch, sample_trials
    from baselines.trainer import BaselineTrainer

    trainer = BaselineTrainer(make_config(method, family, profile, {"num_threads": threads}))
    s, algo, venv = trainer.config.sampling, trainer.algo, trainer.train_venv
    venv.set_tasks(trainer._repeat(trainer.sample_tasks(), algo.runs_per_train_task))
    if method == "rl2-ppo":

        def collect() -> int:
            return sample_trials(
                venv, algo.model, s.episodes_per_task, s.action_scale, sparse_reward_input=s.sparse_rewards
            ).num_steps
    else:
        params = algo.policy.per_task(s.meta_batch)

        def collect() -> int:
            return sample_meta_batch(venv, algo.policy, params, s.episodes_per_task, s.action_scale).num_steps

    return trainer, collect


def make_collector(method: str, family: str, profile: str, threads: int):
    """``(trainer, collect)``: ``collect()`` runs one iteration's collection and returns its env steps."""
    if method in BASELINE_METHODS:
        return _baseline_collector(method, family, profile, threads)
    return _pearl_collector(method, family, profile, threads)


def bare_mj_step(family: str, n_steps: int, seed: int = 0, clock=time.perf_counter) -> float:
    """Env steps/s of bare ``mj_step`` replaying ``n_steps`` random-action steps of ``family``."""
    from benchmarks.env_speed import time_raw
    from pearl.envs import make_env

    env = make_env(family).unwrapped
    act_dim = env.action_space.shape[0]
    rate = time_raw(env, np.random.default_rng(seed).uniform(-1, 1, (n_steps, act_dim)), clock)
    env.close()
    if rate is None:
        raise ValueError(f"{family} has no MuJoCo physics: there is no bare mj_step to compare with")
    return rate


def _timed(collect) -> tuple[float, float]:
    """(wall-clock, CPU-time) env steps/s of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    steps = collect()
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def measure(
    family: str, profile: str, methods: list[str], repeats: int, threads: int, bare_steps: int = 20_000
) -> dict:
    """Median env steps/s per method and of bare mj_step over ``repeats`` interleaved rounds."""
    from pearl.core.hardware import cpu_capability, set_num_threads

    set_num_threads(threads)
    collectors = {m: make_collector(m, family, profile, threads) for m in methods}
    for _, collect in collectors.values():
        collect()  # warm-up: first-call allocations, buffer growth
    names = ["bare mj_step", *methods]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        wall["bare mj_step"].append(bare_mj_step(family, bare_steps))
        cpu["bare mj_step"].append(bare_mj_step(family, bare_steps, clock=time.process_time))
        for m, (_, collect) in collectors.items():
            w, c = _timed(collect)
            wall[m].append(w)
            cpu[m].append(c)
    for trainer, _ in collectors.values():
        trainer.close()
    med = {name: statistics.median(r) for name, r in wall.items()}
    med_cpu = {name: statistics.median(r) for name, r in cpu.items()}
    return {
        "family": family,
        "profile": profile,
        "threads": threads,
        "repeats": repeats,
        "cpu_capability": cpu_capability(),
        "load_average": os.getloadavg(),
        "steps_per_s": med,
        "steps_per_cpu_s": med_cpu,
        "all": {"wall": wall, "cpu": cpu},
        "fraction_of_bare": {m: med[m] / med["bare mj_step"] for m in methods},
        "fraction_of_bare_cpu": {m: med_cpu[m] / med_cpu["bare mj_step"] for m in methods},
    }


def print_table(results: list[dict]) -> None:
    """One row per (method, family, profile): env steps/s, bare mj_step's, the fraction; wall clock and CPU time."""
    print(
        f"{'method':<21}{'family':<18}{'profile':<9}{'env steps/s':>12}{'bare mj_step':>13}{'fraction':>9}"
        f"{'| per CPU s':>12}{'bare':>8}{'fraction':>9}"
    )
    for r in results:
        bare, bare_cpu = r["steps_per_s"]["bare mj_step"], r["steps_per_cpu_s"]["bare mj_step"]
        for m in r["fraction_of_bare"]:
            print(
                f"{m:<21}{r['family']:<18}{r['profile']:<9}{r['steps_per_s'][m]:>12,.0f}{bare:>13,.0f}"
                f"{r['fraction_of_bare'][m]:>9.0%}{r['steps_per_cpu_s'][m]:>12,.0f}{bare_cpu:>8,.0f}"
                f"{r['fraction_of_bare_cpu'][m]:>9.0%}"
            )


def main(argv: list[str] | None = None) -> list[dict]:
    import os

    from baselines.config import METHODS as BASELINES
    from pearl.config import METHODS as PEARL_METHODS
    from pearl.core.configs import PROFILES
    from pearl.envs import MUJOCO_FAMILIES

    all_methods = list(PEARL_METHODS) + list(BASELINES)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--family",
        nargs="+",
        default=["cheetah-fwd-back"],
        choices=MUJOCO_FAMILIES,
        metavar="FAMILY",
        help="MuJoCo families (default: cheetah-fwd-back)",
    )
    parser.add_argument(
        "--profile",
        nargs="+",
        default=["quick"],
        choices=PROFILES,
        metavar="PROFILE",
        help=f"config profiles, of {', '.join(PROFILES)} (default: quick)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=all_methods,
        choices=all_methods,
        metavar="METHOD",
        help=f"methods to time (default: all of {', '.join(all_methods)})",
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds, median reported (default: 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the results (a list, one per family and profile)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")

    load = os.getloadavg()[0]
    results = [measure(f, p, args.methods, args.repeats, args.threads) for f in args.family for p in args.profile]
    print(
        f"collection against bare mj_step: CPU {results[0]['cpu_capability']}, {args.threads} torch thread(s), "
        f"median of {args.repeats} interleaved rounds, load average {load:.1f} -> {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
