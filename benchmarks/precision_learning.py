"""Does bf16 change what PEARL learns? float32 against bfloat16 on the same seeds (issue #12, item 1).

    python -m benchmarks.precision_learning --results DIR [--families point-robot ...] [--seeds 0 1 2]
                                            [--profile quick] [--jobs N] [--seconds S] [--json FILE]
    python -m benchmarks.precision_learning --results DIR --summarize [--json FILE] [--markdown]

Runs PEARL on every (family, seed) twice, at ``precision=float32`` and ``precision=bfloat16``, the
configs otherwise equal, as two ``pearl-bench run`` matrices side by side into one embedded store
(DIR; each run one torch thread, ``--jobs`` runs at a time in all). bf16 is refused up front (exit 2)
on a CPU without native bf16, where it is emulated and ~45x slower (``pearl.core.hardware``).

``--seconds`` stops both matrices after that many seconds of wall clock (SIGINT: runs in flight are
marked INTERRUPTED and keep their checkpoints, so the same command without ``--seconds`` resumes them).
Then each pair of runs is compared over the evaluations both precisions reached, so a cut run still
gives a like-for-like comparison, of the early part of training only.

The table, one row per (family, seed): the number of common evaluations and the env steps of the
last; test return at that evaluation for each precision; the mean test return over the common
evaluations (the area under the learning curve, less noisy than one point); median seconds per
iteration of each. Then per family the mean over seeds of bf16 minus float32 for both returns.
``--markdown`` also prints one table row per family, as the README quotes it; where the two
precisions of a family ran on different CPU models the speed column says so instead of a ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

PRECISIONS = ("float32", "bfloat16")
DEFAULT_FAMILIES = ("point-robot", "sparse-point-robot", "cheetah-vel")
RETURN, ITERATION_S = "test/return", "time/iteration_s"
STOP_GRACE_S = 180  # after the SIGINT, how long runs in flight get to save and stop


def run_matrices(
    results: Path,
    families: list[str],
    seeds: list[int],
    profile: str,
    jobs: int,
    seconds: float | None,
    precisions: tuple[str, ...] = PRECISIONS,
) -> dict[str, int]:
    """One ``pearl-bench run`` per precision, side by side; their exit codes by precision."""
    per_matrix = max(1, math.ceil(jobs / len(precisions)))
    procs = {}
    for precision in precisions:
        cmd = [sys.executable, "-m", "benchmarks.cli", "run", "--profile", profile, "--grid"]
        cmd += ["--methods", "pearl", "--families", *families, "--seeds", *map(str, seeds)]
        cmd += ["--jobs", str(per_matrix), "--results", str(results), "--no-progress"]
        cmd += ["--set", "num_threads=1", f"precision={precision}"]
        print("$", " ".join(cmd[1:]), flush=True)
        procs[precision] = subprocess.Popen(cmd)
    deadline = None if seconds is None else time.monotonic() + seconds
    while any(p.poll() is None for p in procs.values()):
        if deadline is not None and time.monotonic() > deadline:
            print(f"precision_learning: {seconds:.0f} s reached: interrupting the runs in flight", flush=True)
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            for p in procs.values():
                try:
                    p.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    p.kill()
            break
        time.sleep(1.0)
    return {precision: p.wait() for precision, p in procs.items()}


def curves(results: Path) -> pd.DataFrame:
    """Test return and seconds per iteration of every PEARL run in the store (interrupted ones too),
    with each run's precision and status."""
    from analysis import query

    store = query.open_store(results=results)
    runs = query.runs(store, method="pearl")
    if runs.empty:
        raise SystemExit(f"precision_learning: no PEARL runs in {results}")
    table = query.metrics(store, [RETURN, ITERATION_S], method="pearl")
    info = runs[["run_id", "status", "cpu", "config.net.precision"]].rename(
        columns={"config.net.precision": "precision"}
    )
    return table.merge(info, on="run_id")


def compare(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, variant, seed) run under both precisions: their returns over the evaluations
    both reached (module docstring). Where a (cell, seed, precision) has several attempts, the one with
    the most evaluations counts."""
    rows = []
    for (family, variant, seed), cell in table.groupby(["family", "variant", "seed"], sort=True):
        ret = cell[cell["metric"] == RETURN]
        best_run = {}
        for precision in PRECISIONS:
            runs = ret[ret["precision"] == precision].groupby("run_id")["step"].nunique()
            if len(runs):
                best_run[precision] = runs.idxmax()
        if len(best_run) < 2:
            continue
        series = {
            p: ret[ret["run_id"] == rid].drop_duplicates("step", keep="last").set_index("step")["value"]
            for p, rid in best_run.items()
        }
        common = series["float32"].index.intersection(series["bfloat16"].index).sort_values()
        if common.empty:
            continue
        row = {
            "family": family,
            "variant": variant,
            "seed": int(seed),
            "evals": len(common),
            "env_steps": int(common[-1]),
        }
        for p, rid in best_run.items():
            short = "f32" if p == "float32" else "bf16"
            row[f"last_{short}"] = float(series[p].loc[common[-1]])
            row[f"mean_{short}"] = float(series[p].loc[common].mean())
            its = cell[(cell["run_id"] == rid) & (cell["metric"] == ITERATION_S)]["value"]
            row[f"s_per_iter_{short}"] = float(its.median()) if len(its) else float("nan")
            row[f"status_{short}"] = cell.loc[cell["run_id"] == rid, "status"].iloc[0]
            row[f"cpu_{short}"] = cell.loc[cell["run_id"] == rid, "cpu"].iloc[0]
        rows.append(row)
    return pd.DataFrame(rows)


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (family, variant): seeds, and the mean over seeds of each return and of bf16 minus float32."""
    diff = pairs.assign(
        d_last=pairs["last_bf16"] - pairs["last_f32"],
        d_mean=pairs["mean_bf16"] - pairs["mean_f32"],
        speedup=pairs["s_per_iter_f32"] / pairs["s_per_iter_bf16"],
    )
    cols = ["last_f32", "last_bf16", "d_last", "mean_f32", "mean_bf16", "d_mean", "speedup"]
    out = diff.groupby(["family", "variant"])[cols].mean()
    out.insert(0, "seeds", diff.groupby(["family", "variant"])["seed"].nunique())
    out.insert(1, "evals", diff.groupby(["family", "variant"])["evals"].min())
    return out.reset_index()


MARKDOWN_HEADER = (
    "| family | seeds | evaluations, to env steps | final return, float32 (per seed) "
    "| final return, bf16 (per seed) | bf16 − float32, final | bf16 − float32, mean over the curve "
    "| speed, bf16 ÷ float32 |\n|---|---|---|---|---|---|---|---|"
)


def readme_number(x: float, digits: int, signed: bool = False) -> str:
    """A README number: a true minus, an explicit plus where ``signed``."""
    return (f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}").replace("-", "\u2212")


def markdown_rows(pairs: pd.DataFrame) -> list[str]:
    """One README table row per family and variant (``MARKDOWN_HEADER``): mean over seeds, then each seed in
    brackets. Two decimals where returns are below 10 in size (sparse rewards), else one. The speed
    column is float32's seconds per iteration over bf16's, only where both ran on one CPU model."""
    rows = []
    for (family, variant), fam in pairs.sort_values("seed").groupby(["family", "variant"], sort=True):
        digits = 2 if fam[["last_f32", "last_bf16"]].abs().to_numpy().max() < 10 else 1

        def cell(values: pd.Series, signed: bool = False) -> str:
            each = ", ".join(readme_number(v, digits, signed) for v in values)
            return f"{readme_number(values.mean(), digits, signed)} ({each})"

        cpus = set(fam["cpu_f32"]) | set(fam["cpu_bf16"])
        if len(cpus) == 1:
            speed = f"{(fam['s_per_iter_f32'] / fam['s_per_iter_bf16']).mean():.2f}×"
        else:
            speed = f"not side by side (float32 on {', '.join(sorted(set(fam['cpu_f32'])))})"
        cols = [
            f"{family} ({variant})" if variant else family,
            ", ".join(str(s) for s in fam["seed"]),
            f"{int(fam['evals'].min())}, to {int(fam['env_steps'].min()):,}",
            cell(fam["last_f32"]),
            cell(fam["last_bf16"]),
            cell(fam["last_bf16"] - fam["last_f32"], signed=True),
            cell(fam["mean_bf16"] - fam["mean_f32"], signed=True),
            speed,
        ]
        rows.append("| " + " | ".join(cols) + " |")
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    from pearl.core.configs import PROFILES
    from pearl.envs import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True, type=Path, help="the embedded store both matrices write into")
    parser.add_argument(
        "--families",
        nargs="+",
        default=list(DEFAULT_FAMILIES),
        choices=list(FAMILIES),
        metavar="FAMILY",
        help=f"task families (default: {' '.join(DEFAULT_FAMILIES)})",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--profile", default="quick", choices=PROFILES, help="config profile (default: quick)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time in all (default: all CPUs)"
    )
    parser.add_argument(
        "--seconds", type=float, help="stop after this many seconds of wall clock (default: run to the end)"
    )
    parser.add_argument("--summarize", action="store_true", help="only compare the runs already in --results")
    parser.add_argument("--json", metavar="FILE", help="also write the per-seed comparison (a list of rows)")
    parser.add_argument(
        "--markdown", action="store_true", help="also print the README's table, a row per family and variant"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.seconds is not None and args.seconds <= 0:
        parser.error(f"--seconds must be > 0, got {args.seconds}")

    if not args.summarize:
        from pearl.core.hardware import check_precision

        try:
            check_precision("bfloat16", "cpu")
        except ValueError as err:
            print(f"precision_learning: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        codes = run_matrices(args.results, args.families, args.seeds, args.profile, args.jobs, args.seconds)
        print("matrices ended:", ", ".join(f"{p} exit {c}" for p, c in codes.items()), flush=True)

    pairs = compare(curves(args.results))
    if pairs.empty:
        raise SystemExit(f"precision_learning: no (family, seed) in {args.results} has runs at both precisions")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(pairs.round(3).to_string(index=False))
        print()
        print(summary(pairs).round(3).to_string(index=False))
    if args.markdown:
        print()
        print(MARKDOWN_HEADER)
        print("\n".join(markdown_rows(pairs)))
    if args.json:
        Path(args.json).write_text(json.dumps(pairs.to_dict(orient="records"), indent=1))
    return pairs


if __name__ == "__main__":
    main()
