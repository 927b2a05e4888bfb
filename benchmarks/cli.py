"""The ``pearl-bench`` command line.

Subcommands:
  envs                 table of task families (observation/action sizes, horizon, task counts)
  envs --rollout       also step every family for one episode on a few tasks, in lockstep
  tasks FAMILY         list a family's task parameters (train or test split)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _families_table(rollout: bool, n_tasks: int) -> str:
    from pearl.envs import FAMILIES, TaskVectorEnv, make_env

    header = ["family", "gymnasium id", "obs", "act", "horizon", "train", "test"]
    if rollout:
        header += ["return (random)", "steps/s"]
    rows = []
    for name, spec in FAMILIES.items():
        env = make_env(name)
        row = [name, spec.env_id, env.observation_space.shape[0], env.action_space.shape[0],
               spec.horizon, spec.n_train, spec.n_test]
        env.close()
        if rollout:
            tasks = spec.test_tasks[:n_tasks]
            venv = TaskVectorEnv(name, tasks, seed=0)
            rng = np.random.default_rng(0)
            venv.reset()
            ret, steps, start = np.zeros(len(tasks)), 0, time.perf_counter()
            while not venv.done.all():
                _, reward, _, _, info = venv.step(rng.uniform(-1, 1, (venv.num_envs, venv.act_dim)))
                ret += reward
                steps += int(info["active"].sum())
            row += [f"{ret.mean():.1f}", f"{steps / (time.perf_counter() - start):,.0f}"]
        rows.append([str(c) for c in row])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def cmd_envs(args: argparse.Namespace) -> int:
    print(_families_table(args.rollout, args.tasks))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from pearl.envs import get_family, task_to_jsonable

    spec = get_family(args.family)
    tasks = [task_to_jsonable(t) for t in spec.tasks(args.split)]
    if args.format == "json":
        print(json.dumps(tasks, indent=1))
    else:
        for i, task in enumerate(tasks):
            print(i, json.dumps(task))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pearl.envs import FAMILIES

    parser = argparse.ArgumentParser(prog="pearl-bench", description="PEARL meta-RL benchmark suite")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list the task families", description=_families_table.__doc__)
    p.add_argument("--rollout", action="store_true",
                   help="also run one random-action episode per family on a few test tasks, in lockstep")
    p.add_argument("--tasks", type=int, default=4, help="tasks per family for --rollout (default: 4)")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("tasks", help="list a family's task parameters")
    p.add_argument("family", choices=list(FAMILIES), metavar="FAMILY",
                   help=f"one of: {', '.join(FAMILIES)}")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--format", choices=["lines", "json"], default="lines")
    p.set_defaults(func=cmd_tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, IndexError) as err:
        print(f"pearl-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
