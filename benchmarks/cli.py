"""The ``pearl-bench`` command line.

Subcommands:
  envs                 table of task families (observation/action sizes, horizon, task counts)
  envs --rollout       also step every family for one episode on a few tasks, in lockstep
  tasks FAMILY         list a family's task parameters (train or test split)
  train METHOD FAMILY  one run of a method on a family, recorded by Sacred (embedded store or MongoDB)
  run                  the paper's benchmark matrix (or a filtered part of it), in parallel, resumable
  run --dry-run        the cells of the matrix with their env steps and estimated wall time; runs nothing
  run --reference      the suite's reference set (README "Results"), at the quick profile
  export               copy COMPLETED runs to another embedded store without weights or checkpoints
  query                logged runs, or final metric values over seeds (``analysis.cli``)
  figures              the paper's figures from logged runs
  report               every figure and table in one folder, with an index.md

``train``, ``run`` and the Sacred experiment (``benchmarks.experiment``) default to the same profile,
``pearl.core.configs.DEFAULT_PROFILE`` (``paper``: the paper's budgets). Only bad input (a
``ValueError``) is reported as "pearl-bench: error: ..." with exit code 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pearl.core.configs import DEFAULT_PROFILE, PROFILES


def _families_table(rollout: bool, n_tasks: int) -> str:
    """The task families: gymnasium id, observation and action sizes, horizon, train and test task counts
    (with --rollout: the return of random actions and the env steps per second, in lockstep)."""
    from pearl.envs import FAMILIES, TaskVectorEnv, make_env

    header = ["family", "gymnasium id", "obs", "act", "horizon", "train", "test"]
    if rollout:
        header += ["return (random)", "steps/s"]
    rows = []
    for name, spec in FAMILIES.items():
        env = make_env(name)
        row = [
            name,
            spec.env_id,
            env.observation_space.shape[0],
            env.action_space.shape[0],
            spec.horizon,
            spec.n_train,
            spec.n_test,
        ]
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


# ---- harness: train / run ---------------------------------------------------------------
def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["algo.kl_lambda=0.5", "env_kwargs.goal_radius=0.8"]`` -> an overrides dict.

    Values are read as JSON, then as Python literals, else kept as strings (each config field then
    checks its own type and range).
    """
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        shown = item if len(item) <= 80 else item[:77] + "..."
        if not sep or not key or any(c.isspace() for c in key) or key.startswith(".") or key.endswith("."):
            raise ValueError(f"malformed override {shown!r}: expected KEY=VALUE, e.g. algo.kl_lambda=0.5")
        value: Any = raw
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(raw)
                break
            except (ValueError, SyntaxError):
                continue
            except (RecursionError, MemoryError):
                raise ValueError(f"malformed override {shown!r}: the value is nested too deeply to read") from None
        if key.startswith("env_kwargs."):
            overrides.setdefault("env_kwargs", {})[key[len("env_kwargs.") :]] = value
        else:
            overrides[key] = value
    return overrides


def _store_from_args(args: argparse.Namespace):
    from benchmarks.store import resolve_store

    return resolve_store(args.results, args.mongo, args.db, args.checkpoints)


def _show_progress(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress else None  # None: only on a terminal


def cmd_train(args: argparse.Namespace) -> int:
    from benchmarks import experiment
    from benchmarks.matrix import resolve_config, train_command
    from benchmarks.progress import TrainProgress
    from benchmarks.registry import get_method
    from benchmarks.runner import available_cores
    from benchmarks.store import check_store, completed_runs, repair_completed_run
    from benchmarks.worker import BUSY, COMPLETED, DONE_ELSEWHERE, INTERRUPTED, lock_owner, run_cell
    from pearl.core.files import check_not_symlink

    method = get_method(args.method)
    typed, config, key = resolve_config(args.method, args.family, args.profile, parse_overrides(args.set), args.seed)
    store = _store_from_args(args)
    check_store(store)
    work_dir = store.checkpoint_root / key
    check_not_symlink(work_dir)
    done = completed_runs(store).get(key)
    if done is not None:
        if args.fresh:  # one result per cell: a second COMPLETED run would be averaged in as another seed
            raise ValueError(
                f"run {key} is already COMPLETED as run {done} in {store.describe()}; --fresh only "
                f"restarts unfinished runs. To run it again, delete run {done} from the store first "
                f"(or change --seed or a --set value)"
            )
        repaired = repair_completed_run(store, key, done)
        print(f"{key}: already completed as run {done} in {store.describe()}" + (f"; {repaired}" if repaired else ""))
        return 0
    if args.fresh:
        if lock_owner(work_dir):
            raise ValueError(f"run {key} is running in another process; cannot start it fresh")
        if work_dir.exists():
            shutil.rmtree(work_dir)
    steps = method.estimate_env_steps(typed)
    print(
        f"{key}: {args.method} on {args.family} ({args.profile}, seed {args.seed}), about "
        f"{steps['train']:,} meta-training env steps, into {store.describe()}",
        flush=True,
    )
    progress = TrainProgress.for_method(method, typed, enabled=_show_progress(args), desc=args.method)
    experiment.LISTENERS.append(progress)
    try:
        result = run_cell(
            {
                "config": config,
                "store": store.to_dict(),
                "max_threads": available_cores(),
                "command": train_command(args.method, args.family, args.profile, args.seed, parse_overrides(args.set)),
            }
        )
    finally:
        experiment.LISTENERS.remove(progress)
        progress.close()
    where = (
        f"{store.results}/{result['run_id']}"
        if not store.mongo_url and result["run_id"] is not None
        else f"run {result['run_id']}"
    )
    if result["status"] == COMPLETED:
        summary = result.get("result") or {}
        last = (summary.get("last_eval") or {}).get("final_return")
        tail = f", test return {last:.2f}" if isinstance(last, (int, float)) else ""
        print(
            f"COMPLETED {where} in {result['seconds']:.1f} s: {summary.get('env_steps', '?')} env steps{tail}; "
            f"checkpoints in {work_dir}"
        )
        return 0
    if result["status"] == DONE_ELSEWHERE:
        print(f"{key}: {result['error']}")
        return 0
    print(f"{result['status']} {where}: {result['error']}", file=sys.stderr)
    return {INTERRUPTED: 130, BUSY: 1}.get(result["status"], 1)


def cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.matrix import format_plan, plan
    from benchmarks.runner import run_matrix

    if args.reference:
        from benchmarks.reference_set import PROFILE, reference_cells

        given = [
            flag
            for flag, value in (
                ("--methods", args.methods),
                ("--families", args.families),
                ("--seeds", args.seeds),
                ("--grid", args.grid),
                ("--set", args.set),
                ("--profile", args.profile_given),
            )
            if value
        ]
        if given:
            raise ValueError(f"--reference fixes the cells and the {PROFILE} profile; drop {', '.join(given)}")
        cells = reference_cells()
    else:
        cells = plan(args.profile, args.methods, args.families, args.seeds, parse_overrides(args.set), grid=args.grid)
    if args.dry_run:
        from benchmarks.estimate import account_for_checkpoints
        from benchmarks.store import completed_runs

        store = _store_from_args(args)
        done = completed_runs(store)  # listed as done, not estimated, not counted
        todo = [c for c in cells if c.run_key not in done]
        if not args.no_estimate:
            from benchmarks.estimate import calibrate_cells, side_by_side_copies, summary
            from benchmarks.runner import available_cores

            spent = calibrate_cells(
                todo,
                log=lambda line: print(line, file=sys.stderr, flush=True),
                side_by_side=side_by_side_copies(args.jobs, available_cores(), runs=len(todo)),
            )
        account_for_checkpoints(todo, store.checkpoint_root)  # interrupted runs: only what is left
        profile = PROFILE if args.reference else args.profile
        print(
            format_plan(
                cells,
                f"the {profile} profile"
                + ("" if args.profile_given or args.reference else f" (the default; --profile {' | '.join(PROFILES)})"),
                done,
            )
        )
        if not args.no_estimate and todo:
            print(summary(todo, args.jobs, available_cores(), spent))
        return 0
    if args.scheduler and args.backend != "dask":
        raise ValueError("--scheduler needs --backend dask")
    report = run_matrix(
        cells,
        _store_from_args(args),
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=_show_progress(args) is not False,
    )
    return report.exit_code


def export_doc() -> str:
    from benchmarks import export

    return export.__doc__


def cmd_export(args: argparse.Namespace) -> int:
    from benchmarks.export import export_runs, store_size

    copied = export_runs(args.results, args.out, args.profile, args.max_mb)
    for item in copied:
        print(f"run {item.source_id} -> {args.out}/{item.dest_id}: {item.run_key} ({item.nbytes / 1024:.0f} KB)")
    print(f"exported {len(copied)} run(s); {args.out} holds {store_size(Path(args.out)) / 2**20:.1f} MB")
    return 0


def add_store_args(p: argparse.ArgumentParser) -> None:
    """``--results DIR | --mongo URL`` and ``--db NAME``: where runs are recorded (``benchmarks.store``)."""
    from benchmarks.store import DEFAULT_DB, DEFAULT_RESULTS, MONGO_URL_ENV

    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--results",
        metavar="DIR",
        help=f"embedded store (Sacred FileStorageObserver directory; default: ./{DEFAULT_RESULTS})",
    )
    where.add_argument(
        "--mongo", metavar="URL", help=f"MongoDB URL, e.g. mongodb://localhost:27017 (default: ${MONGO_URL_ENV})"
    )
    p.add_argument("--db", metavar="NAME", default=None, help=f"MongoDB database (default: {DEFAULT_DB})")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """The store options, and what ``train`` and ``run`` add to them."""
    add_store_args(p)
    p.add_argument(
        "--checkpoints",
        metavar="DIR",
        default=None,
        help="per-run checkpoint directories (default: RESULTS/checkpoints, ./results/checkpoints with --mongo)",
    )
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="config overrides, e.g. algo.num_iterations=3 env_kwargs.goal_radius=0.8",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it is off anyway when not on a terminal)"
    )


class _ProfileAction(argparse.Action):
    """Stores ``--profile`` and notes that it was given (the dry run says when it used the default)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.profile_given = True


def _add_profile_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default=DEFAULT_PROFILE,
        action=_ProfileAction,
        help=f"budget: {' | '.join(PROFILES)} (default: {DEFAULT_PROFILE})",
    )
    p.set_defaults(profile_given=False)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from benchmarks.registry import known_methods
    from pearl.envs import FAMILIES

    parser = argparse.ArgumentParser(prog="pearl-bench", description="PEARL meta-RL benchmark suite")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list the task families", description=_families_table.__doc__)
    p.add_argument(
        "--rollout",
        action="store_true",
        help="also run one random-action episode per family on a few test tasks, in lockstep",
    )
    p.add_argument("--tasks", type=_positive_int, default=4, help="tasks per family for --rollout (default: 4)")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("tasks", help="list a family's task parameters")
    p.add_argument("family", choices=list(FAMILIES), metavar="FAMILY", help=f"one of: {', '.join(FAMILIES)}")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--format", choices=["lines", "json"], default="lines")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser(
        "train",
        help="one run of a method on a family, recorded by Sacred",
        description="Train METHOD on FAMILY through the Sacred experiment (benchmarks.experiment). "
        "A run with the same method, family, seed and config resumes from its checkpoints; "
        "one already COMPLETED in the store is not run again.",
    )
    p.add_argument("method", choices=known_methods(), metavar="METHOD", help=f"one of: {', '.join(known_methods())}")
    p.add_argument("family", choices=list(FAMILIES), metavar="FAMILY", help=f"one of: {', '.join(FAMILIES)}")
    _add_profile_arg(p)
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--fresh", action="store_true", help="discard this run's checkpoints and start over")
    _add_run_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "run",
        help="the paper's benchmark matrix (or part of it)",
        description="Run the paper's benchmark matrix (Figures 3-7) over seeds 0 1 2, or the part "
        "selected by --methods/--families/--seeds. Completed runs in the store are skipped; "
        "interrupted or failed ones resume from their checkpoints.",
    )
    _add_profile_arg(p)
    p.add_argument(
        "--reference",
        action="store_true",
        help="the suite's reference set (README 'Results'; benchmarks/reference_set.py) instead of a "
        "selection of the paper's matrix",
    )
    p.add_argument("--methods", nargs="+", metavar="METHOD", help=f"subset of: {', '.join(known_methods())}")
    p.add_argument("--families", nargs="+", metavar="FAMILY", help=f"subset of: {', '.join(FAMILIES)}")
    p.add_argument("--seeds", nargs="+", type=int, metavar="N", help="seeds (default: 0 1 2)")
    p.add_argument(
        "--grid", action="store_true", help="every combination of --methods x --families, instead of the paper's cells"
    )
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (default: 1)")
    p.add_argument(
        "--backend",
        choices=["loky", "dask"],
        default="loky",
        help="loky: local processes; dask: a Dask cluster (default: loky)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Dask scheduler address (with --backend dask; default: a local cluster of --jobs workers)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cells, their env steps and estimated wall time (from a few seconds of calibration "
        "per distinct cell on this machine, cached), run nothing",
    )
    p.add_argument("--no-estimate", action="store_true", help="with --dry-run: skip the wall-time calibration")
    _add_run_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "export", help="copy COMPLETED runs to another embedded store, without weights", description=export_doc()
    )
    p.add_argument("--results", metavar="DIR", required=True, help="the embedded store to copy from")
    p.add_argument("--out", metavar="DIR", required=True, help="the embedded store to copy into (made if missing)")
    p.add_argument(
        "--profile", choices=PROFILES, default=None, help="only runs of this profile (default: every profile)"
    )
    p.add_argument("--max-mb", type=float, default=25.0, help="refuse to grow --out past this size (default: 25)")
    p.set_defaults(func=cmd_export)
    from analysis.cli import add_subcommands

    add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except ValueError as err:  # bad input only; any other exception is a bug and keeps its traceback
        print(f"pearl-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
