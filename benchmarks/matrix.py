"""The benchmark matrix: the paper's experiments as (method, family, env kwargs, seed) cells.

* Figure 3: PEARL, RL2-PPO, MAML-TRPO and ProMP on the six MuJoCo families;
* Figures 4 and 7: PEARL and deterministic-z PEARL on sparse-point-robot, goal radius 0.2 and 0.8;
* Figures 5 and 6: PEARL and its four ablations on cheetah-vel;

each over seeds 0, 1, 2, with duplicate cells merged. Filters select a subset of that matrix;
``grid=True`` instead takes the cross product of the given methods, families and seeds.
Every cell gets its full config and run key up front (so bad overrides fail before anything
runs).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

from benchmarks.registry import get_method, known_methods
from benchmarks.runkey import run_key
from pearl.core.configs import DEFAULT_PROFILE, PROFILES  # one list of budget profiles for every method
from pearl.envs import FAMILIES, MUJOCO_FAMILIES

PAPER_SEEDS = (0, 1, 2)

# (figures, methods, family, env kwargs)
PAPER_EXPERIMENTS: tuple[tuple[tuple[str, ...], tuple[str, ...], str, dict[str, Any]], ...] = (
    *((("fig3",), ("pearl", "rl2-ppo", "maml-trpo", "promp"), family, {}) for family in MUJOCO_FAMILIES),
    (("fig4", "fig7"), ("pearl", "pearl-deterministic"), "sparse-point-robot", {"goal_radius": 0.2}),
    (("fig4", "fig7"), ("pearl", "pearl-deterministic"), "sparse-point-robot", {"goal_radius": 0.8}),
    (
        ("fig5", "fig6"),
        ("pearl", "pearl-rnn-tran", "pearl-rnn-traj", "pearl-ctx-offpolicy", "pearl-ctx-rlbatch"),
        "cheetah-vel",
        {},
    ),
)


@dataclass
class Cell:
    """One run of the matrix."""

    method: str
    family: str
    seed: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None  # set by ``plan``
    run_key: str | None = None
    env_steps: dict[str, int] | None = None
    estimate_s: float | None = None  # wall-time estimate (benchmarks.estimate), when calibrated
    resume_iteration: int | None = None  # iterations an interrupted run's checkpoint holds (dry run)
    loaded_share: float | None = None  # share of a core its calibration got, when other work held the rest
    paced: bool = False  # estimate_s is a resuming run's own pace times its iterations left (dry run)
    command: str | None = None  # the ``pearl-bench train`` command that reproduces this run alone

    @property
    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in sorted(self.env_kwargs.items()))
        return f"{self.method} {self.family}{extra} seed={self.seed}"


def _check_names(kind: str, plural: str, given: Sequence[str] | None, valid: Sequence[str]) -> None:
    for name in given or ():
        if name not in valid:
            raise ValueError(f"unknown {kind} {name!r}; valid {plural}: {', '.join(valid)}")


def plan(
    profile: str = DEFAULT_PROFILE,
    methods: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    overrides: dict[str, Any] | None = None,
    grid: bool = False,
) -> list[Cell]:
    """The cells to run, each with its config, run key and env-step estimate."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    _check_names("method", "methods", methods, known_methods())
    _check_names("family", "families", families, list(FAMILIES))
    seeds = list(PAPER_SEEDS if seeds is None else seeds)
    if grid:
        if not methods or not families:
            raise ValueError("--grid needs --methods and --families")
        experiments = [((), tuple(methods), family, {}) for family in families]
    else:
        experiments = [
            (figs, tuple(m for m in ms if not methods or m in methods), family, kwargs)
            for figs, ms, family, kwargs in PAPER_EXPERIMENTS
            if not families or family in families
        ]
    cells: dict[tuple, Cell] = {}
    for figures, exp_methods, family, env_kwargs in experiments:
        for method in exp_methods:
            for seed in seeds:
                ident = (method, family, tuple(sorted(env_kwargs.items())), seed)
                cell = cells.setdefault(ident, Cell(method, family, int(seed), dict(env_kwargs)))
                cell.figures += [f for f in figures if f not in cell.figures]
    if not cells:
        raise ValueError("no cell of the paper's matrix matches these filters (use --grid for any combination)")
    if not grid:
        _check_all_requested(cells.values(), methods, families, overrides or {})
    by_key: dict[str, Cell] = {}
    out = []
    for cell in cells.values():
        _configure(cell, profile, overrides or {})
        if cell.run_key in by_key:  # same config reached twice
            by_key[cell.run_key].figures += [f for f in cell.figures if f not in by_key[cell.run_key].figures]
            continue
        by_key[cell.run_key] = cell
        out.append(cell)
    return out


def _check_all_requested(
    cells, methods: Sequence[str] | None, families: Sequence[str] | None, overrides: dict[str, Any]
) -> None:
    """ValueError when a filter or env kwarg the user asked for would be silently left out of the paper's cells."""
    cells = list(cells)
    for kind, given, present in (
        ("method", methods, {c.method for c in cells}),
        ("family", families, {c.family for c in cells}),
    ):
        missing = [name for name in given or () if name not in present]
        if missing:
            raise ValueError(
                f"{kind} {', '.join(map(repr, missing))} has no cell in the paper's matrix together "
                f"with the other filters; add --grid to run every combination of --methods x --families"
            )
    for name, value in (overrides.get("env_kwargs") or {}).items():
        fixed = sorted({c.env_kwargs[name] for c in cells if name in c.env_kwargs})
        if fixed:
            raise ValueError(
                f"--set env_kwargs.{name}={value!r} conflicts with the paper's cells, which fix {name} "
                f"to {', '.join(map(repr, fixed))}; to run {name}={value!r}, add --grid (with --methods "
                f"and --families)"
            )


def resolve_config(
    method: str, family: str, profile: str, overrides: dict[str, Any] | None, seed: int
) -> tuple[Any, dict[str, Any], str]:
    """``(typed config, its dict, run key)`` of one cell: the one path from arguments to a run key
    (``train``, the matrix and ``run_key_of_command`` all use it, so they cannot disagree)."""
    spec = get_method(method)
    typed = spec.make_config(family, profile, overrides, seed)
    config = spec.config_to_dict(typed)
    return typed, config, run_key(config)


def _configure(cell: Cell, profile: str, overrides: dict[str, Any]) -> None:
    merged = dict(overrides)
    if cell.env_kwargs:
        merged["env_kwargs"] = {**(overrides.get("env_kwargs") or {}), **cell.env_kwargs}
    typed, cell.config, cell.run_key = resolve_config(cell.method, cell.family, profile, merged, cell.seed)
    cell.env_steps = get_method(cell.method).estimate_env_steps(typed)
    cell.command = train_command(cell.method, cell.family, profile, cell.seed, merged)


def _flatten(overrides: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in overrides.items():
        if key == "env_kwargs" and not prefix and isinstance(value, dict):
            items += [(f"env_kwargs.{k}", v) for k, v in value.items()]
        else:
            items.append((prefix + key, value))
    return sorted(items)


def train_command(method: str, family: str, profile: str, seed: int, overrides: dict[str, Any]) -> str:
    """The ``pearl-bench train`` command line that builds the same config (and run key) as this cell."""
    words = ["pearl-bench", "train", method, family, "--profile", profile, "--seed", str(seed)]
    pairs = _flatten(overrides)
    if pairs:
        words += ["--set", *(f"{key}={json.dumps(value)}" for key, value in pairs)]
    return shlex.join(words)


def run_key_of_command(command: str) -> str:
    """The run key a recorded ``pearl-bench train ...`` command line builds (to check it reproduces its run)."""
    from benchmarks.cli import build_parser, parse_overrides

    words = shlex.split(command)
    if words[:2] != ["pearl-bench", "train"]:
        raise ValueError(f"not a pearl-bench train command: {command!r}")
    args = build_parser().parse_args(words[1:])
    return resolve_config(args.method, args.family, args.profile, parse_overrides(args.set), args.seed)[2]


def _estimate_text(cell: Cell) -> str:
    """``17 min``, ``6 min, resumes after iteration 55``, ``6 min at its pace, resumes after iteration 55``
    (a resuming run's own pace), or ``-`` (not calibrated, nothing to resume)."""
    from benchmarks.estimate import duration

    parts = [] if cell.estimate_s is None else [duration(cell.estimate_s) + (" at its pace" if cell.paced else "")]
    if cell.resume_iteration is not None:
        parts.append(f"resumes after iteration {cell.resume_iteration}")
    return ", ".join(parts) or "-"


def format_plan(cells: list[Cell], profile: str = "", done: dict[str, Any] | None = None) -> str:
    """The ``--dry-run`` table: one line per cell with its env steps (and wall-time estimate), then totals
    (on ``profile``, a description of the profile the cells were planned with). ``done`` maps the run keys
    COMPLETED in the store to their run ids: those cells are listed as done and left out of the totals."""
    done = done or {}

    header = [
        "#",
        "method",
        "family",
        "env kwargs",
        "seed",
        "figures",
        "train env steps",
        "eval env steps",
        "est. wall",
        "run key",
    ]
    rows = []
    for i, cell in enumerate(cells, 1):
        kwargs = ",".join(f"{k}={v}" for k, v in sorted(cell.env_kwargs.items())) or "-"
        rows.append(
            [
                str(i),
                cell.method,
                cell.family,
                kwargs,
                str(cell.seed),
                ",".join(cell.figures) or "-",
                f"{cell.env_steps['train']:,}",
                f"{cell.env_steps['eval']:,}",
                f"done (run {done[cell.run_key]})" if cell.run_key in done else _estimate_text(cell),
                cell.run_key,
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    todo = [c for c in cells if c.run_key not in done]
    total_train = sum(c.env_steps["train"] for c in todo)
    total_eval = sum(c.env_steps["eval"] for c in todo)
    finished = len(cells) - len(todo)
    lines.append(
        f"{len(cells)} cells: {len(todo)} to run"
        + (f", {finished} completed in the store" if finished else "")
        + f" ({total_train:,} meta-training env steps, {total_eval:,} evaluation env steps to run)"
        + (f" on {profile}" if profile else "")
    )
    return "\n".join(lines)
