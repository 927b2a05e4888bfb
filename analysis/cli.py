"""``pearl-bench query | figures | report``: the analysis subcommands."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from analysis import query
from analysis.stats import final_values, summarize
from benchmarks.cli import add_store_args
from pearl.core.configs import PROFILES


def _warn_problems(store: query.Store) -> None:
    """Unreadable run files, by path: the command went on without them."""
    for path, why in store.problems.items():
        print(f"pearl-bench: warning: left out unreadable {path}: {why}", file=sys.stderr)


def _add_profile_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="use the runs of this profile (needed when the store holds several)",
    )


def _open(args) -> query.Store:
    try:
        return query.open_store(args.results, args.mongo, args.db)
    except FileNotFoundError as err:
        raise ValueError(f"{err}; run `pearl-bench run` first or pass --results DIR") from None


def _parse_config_filters(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"malformed --where {item!r}; expected KEY=VALUE, e.g. algo.kl_lambda=0.1")
        try:
            import json

            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
        if key.startswith("$") or ".$" in key or isinstance(out[key], (dict, list)) or str(out[key]).startswith("$"):
            raise ValueError(
                f"--where {item!r}: only plain values are accepted (a number, string, true/false or "
                f"null), not MongoDB operators or documents, e.g. --where algo.kl_lambda=0.1"
            )
    return out


def _filters(args) -> dict:
    return {
        "method": args.methods,
        "family": args.families,
        "seed": args.seeds,
        "status": args.status,
        "config": _parse_config_filters(args.where),
    }


def _print(table: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        table.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(table.to_json(orient="records", date_format="iso", indent=1))
    else:
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
            print(table.to_string(index=False))


def cmd_query(args) -> int:
    store = _open(args)
    if args.metric is None:
        table = query.runs(store, **_filters(args))
        if not args.all_columns:
            table = table[query.RUN_COLUMNS]
    else:
        filters = _filters(args)
        if filters["status"] not in (None, [query.COUNTED_STATUS]):
            raise ValueError(
                f"--metric summarises the counted runs (status {query.COUNTED_STATUS}); "
                f"drop --status {' '.join(filters['status'])}"
            )
        filters.pop("status")
        counted = query.counted_runs(store, **filters)
        query.check_metric(store, args.metric, counted)
        finals = final_values(query.results(store, args.metric, **filters))
        table = summarize(finals) if not finals.empty else finals
    _warn_problems(store)
    if table.empty:
        print(f"no runs match in {store.describe()}", file=sys.stderr)
        return 1
    _print(table, args.format)
    return 0


def cmd_figures(args) -> int:
    from analysis.figures import make_figures

    store = query.for_profile(_open(args), args.profile)
    results = make_figures(
        store, args.out, args.only, progress=lambda line: print(line, flush=True), families=args.families
    )
    for r in results:
        state = "NO DATA" if r.empty else "ok"
        print(f"{r.name}: {state} -> {', '.join(str(f) for f in r.files)}")
        if r.missing:
            print(f"  missing cells: {'; '.join(r.missing)}")
    _warn_problems(store)
    if all(r.empty for r in results):
        print(f"no logged runs for any requested figure in {store.describe()}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from analysis.report import write_report

    store = query.for_profile(_open(args), args.profile)
    index = write_report(store, args.out, progress=lambda line: print(line, flush=True), families=args.families)
    _warn_problems(store)
    print(f"report written: {index}")
    return 0


def add_subcommands(sub) -> None:
    from analysis.figures import FIGURES

    p = sub.add_parser(
        "query",
        help="print logged runs, or final metric values over seeds",
        description="Without --metric: one row per run (every attempt). With --metric: the final "
        "value per cell (method, family, variant, profile), mean over seeds with a "
        "bootstrap 95%% CI, each (cell, seed) counted once (its latest COMPLETED "
        "attempt).",
    )
    add_store_args(p)
    p.add_argument("--methods", nargs="+", metavar="METHOD")
    p.add_argument("--families", nargs="+", metavar="FAMILY")
    p.add_argument("--seeds", nargs="+", type=int, metavar="SEED")
    p.add_argument("--status", nargs="+", metavar="STATUS", help="e.g. COMPLETED FAILED INTERRUPTED RUNNING")
    p.add_argument(
        "--where",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config filters with dotted keys, e.g. env_kwargs.goal_radius=0.8",
    )
    p.add_argument("--metric", metavar="NAME", help="e.g. test/return")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--all-columns", action="store_true", help="include every config column in the run table")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("figures", help="regenerate the paper's figures from logged runs")
    add_store_args(p)
    p.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: ./figures)")
    _add_profile_arg(p)
    p.add_argument("--only", nargs="+", choices=list(FIGURES), metavar="FIG", help=f"a subset of: {', '.join(FIGURES)}")
    p.add_argument(
        "--families",
        nargs="+",
        metavar="FAMILY",
        help="Figures 3 and 9: only these MuJoCo families' panels (default: all six)",
    )
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("report", help="all figures and tables in one folder with an index.md")
    add_store_args(p)
    p.add_argument("--out", default="report", metavar="DIR", help="output folder (default: ./report)")
    _add_profile_arg(p)
    p.add_argument(
        "--families",
        nargs="+",
        metavar="FAMILY",
        help="Figures 3 and 9: only these MuJoCo families' panels (default: all six)",
    )
    p.set_defaults(func=cmd_report)
