"""Env throughput per family: a single env, the lockstep vector env, and raw MuJoCo.

    python -m benchmarks.env_speed [--families ...] [--steps N] [--num-tasks 16] [--json FILE]

Columns (all env steps per second of wall clock, one process, actions pre-sampled):
  single   gym.make(...) with gymnasium's wrappers (TimeLimit, OrderEnforcing, env checker)
  unwrap   env.unwrapped.step, our env code only
  vector   TaskVectorEnv over --num-tasks tasks (env steps summed over tasks)
  raw      bare mujoco.mj_step(model, data, nstep=frame_skip) replaying the same controls and
           reset states as an unwrapped run: the physics floor
Resets are included in the first three (episodes end at the horizon or on termination).
"""

from __future__ import annotations

import argparse
import json
import time

import mujoco
import numpy as np


def _time_single(env, actions: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def _time_vector(venv, actions: np.ndarray) -> float:
    venv.reset(seed=0)
    steps, start = 0, time.perf_counter()
    for a in actions:
        if venv.done.all():
            venv.reset()
        _, _, _, _, info = venv.step(a)
        steps += int(info["active"].sum())
    return steps / (time.perf_counter() - start)


def time_raw(env, actions: np.ndarray, clock=time.perf_counter) -> float | None:
    """Replay the exact physics of an env run (same controls, same reset states) with bare mj_step."""
    if not hasattr(env, "model"):
        return None
    controls, resets = [], {}
    env.reset(seed=0)
    resets[0] = (env.data.qpos.copy(), env.data.qvel.copy())
    for t, a in enumerate(actions):
        ctrl = env.scale_action(a)
        controls.append(ctrl)
        _, _, terminated, _, _ = env._step(ctrl)
        if terminated or (t + 1) % env.family.horizon == 0:
            env.reset()
            resets[t + 1] = (env.data.qpos.copy(), env.data.qvel.copy())
    model, data = env.model, mujoco.MjData(env.model)
    start = clock()
    for t, ctrl in enumerate(controls):
        if t in resets:
            data.qpos[:], data.qvel[:] = resets[t]
            mujoco.mj_forward(model, data)
        data.ctrl[:] = ctrl
        mujoco.mj_step(model, data, nstep=env.frame_skip)
    return len(controls) / (clock() - start)


def measure(family: str, n_steps: int, num_tasks: int) -> dict:
    from pearl.envs import TaskVectorEnv, get_family, make_env

    spec = get_family(family)
    rng = np.random.default_rng(0)
    env = make_env(family)
    act_dim = env.action_space.shape[0]
    single = _time_single(env, rng.uniform(-1, 1, (n_steps, act_dim)).astype(np.float32))
    unwrapped = _time_single(env.unwrapped, rng.uniform(-1, 1, (n_steps, act_dim)))
    tasks = (spec.train_tasks * num_tasks)[:num_tasks]
    venv = TaskVectorEnv(family, tasks, seed=0)
    vector = _time_vector(venv, rng.uniform(-1, 1, (max(n_steps // num_tasks, 1), num_tasks, act_dim)))
    raw = time_raw(env.unwrapped, rng.uniform(-1, 1, (n_steps, act_dim)))
    return {
        "family": family,
        "single": single,
        "unwrapped": unwrapped,
        "vector": vector,
        "raw": raw,
        "num_tasks": num_tasks,
        "steps": n_steps,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    from pearl.envs import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES), metavar="FAMILY")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per measurement (default: 20000)")
    parser.add_argument("--num-tasks", type=int, default=16, help="tasks in the vector env (default: 16)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    results = []
    print(f"{'family':<20}{'single':>10}{'unwrap':>10}{'vector':>10}{'raw':>10}{'vector/raw':>12}")
    for family in args.families:
        r = measure(family, args.steps, args.num_tasks)
        ratio = f"{r['vector'] / r['raw']:.2f}" if r["raw"] else "-"
        raw = f"{r['raw']:,.0f}" if r["raw"] else "-"
        print(f"{family:<20}{r['single']:>10,.0f}{r['unwrapped']:>10,.0f}{r['vector']:>10,.0f}{raw:>10}{ratio:>12}")
        results.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
