"""Regenerate the paper's figures (3-7 and 9) from whatever runs are logged.

Every curve is the mean over seeds with a bootstrap 95% confidence band (seaborn), each run
first resampled onto a common step grid (``stats.align_curves``). Cells the figure expects
but the store lacks are listed on the figure and returned to the caller; nothing is invented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis import query  # noqa: E402
from analysis.metrics import ADAPTATION_PREFIX, EVAL_PATHS_ARTIFACT, RETURN_METRIC, STATUS, adaptation_index  # noqa: E402
from analysis.stats import align_curves  # noqa: E402

MUJOCO_FAMILIES = ["cheetah-vel", "cheetah-fwd-back", "ant-fwd-back", "ant-goal-2d", "humanoid-dir-2d", "walker-params"]
BASELINES = ["rl2-ppo", "maml-trpo", "promp"]
LABELS = {
    "pearl": "PEARL", "rl2-ppo": "RL²", "maml-trpo": "MAML-TRPO", "promp": "ProMP",
    "pearl-rnn-tran": "recurrent, transitions", "pearl-rnn-traj": "recurrent, trajectories",
    "pearl-ctx-offpolicy": "context off-policy", "pearl-ctx-rlbatch": "context = RL batch",
    "pearl-deterministic": "deterministic z",
}
RADIUS_COLUMN = "config.env_kwargs.goal_radius"

DEFAULT_RADIUS = 0.2


@dataclass
class FigureResult:
    name: str
    files: list[Path]
    missing: list[str]
    empty: bool


def _palette(methods: list[str]) -> dict[str, tuple]:
    colours = sns.color_palette("tab10", len(methods))
    return {LABELS.get(m, m): c for m, c in zip(methods, colours)}


def _with_radius(store: query.Store, table: pd.DataFrame) -> pd.DataFrame:
    """Attach each run's goal radius (sparse point robot), default 0.2 when not overridden."""
    run_table = query.runs(store, family="sparse-point-robot", status=STATUS)
    radius = run_table.set_index("run_id")[RADIUS_COLUMN] if RADIUS_COLUMN in run_table else pd.Series(dtype=float)
    out = table.copy()
    out["radius"] = out["run_id"].map(radius).fillna(DEFAULT_RADIUS).astype(float)
    return out


def _missing_cells(table: pd.DataFrame, cells: list[tuple], keys: list[str]) -> list[str]:
    present = set(map(tuple, table[keys].drop_duplicates().to_numpy().tolist())) if len(table) else set()
    return [" / ".join(str(c) for c in cell) for cell in cells if tuple(cell) not in present]


def _note_missing(fig, missing: list[str]) -> None:
    """List the missing cells under the figure, grouped by method."""
    if not missing:
        return
    groups: dict[str, list[str]] = {}
    for cell in missing:
        method, _, rest = cell.partition(" / ")
        groups.setdefault(LABELS.get(method, method), []).append(rest)
    lines = [f"{method}: {', '.join(rest)}" for method, rest in groups.items()]
    fig.text(0.01, -0.01, "no logged runs for\n" + "\n".join(lines), fontsize=7, color="firebrick",
             ha="left", va="top")


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for f in files:
        fig.savefig(f, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return files


def _empty_figure(out_dir: Path, name: str, title: str, missing: list[str]) -> FigureResult:
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.6, f"{title}\nno logged runs for this figure", ha="center", va="center", fontsize=11)
    ax.text(0.5, 0.15, "expected: " + "; ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""),
            ha="center", va="center", fontsize=7, wrap=True)
    return FigureResult(name, _save(fig, out_dir, name), missing, empty=True)


def _curve_panel(ax, data: pd.DataFrame, methods: list[str], log: bool, dashed_best: list[str] = ()) -> None:
    palette = _palette(methods)
    if data.empty:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes, color="grey")
        return
    aligned = align_curves(data, points=60, log=log)
    aligned["label"] = aligned["method"].map(lambda m: LABELS.get(m, m))
    sns.lineplot(data=aligned, x="step", y="value", hue="label", palette=palette, estimator="mean",
                 errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax, legend=False)
    for method in dashed_best:  # a baseline's best return, as in Figure 3
        runs = aligned[aligned["method"] == method]
        if len(runs):
            best = runs.groupby("step")["value"].mean().max()
            ax.axhline(best, ls="--", lw=1.2, color=palette[LABELS.get(method, method)])
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("meta-training env steps")
    ax.set_ylabel("average return")


def _legend(fig, methods: list[str]) -> None:
    palette = _palette(methods)
    handles = [plt.Line2D([], [], color=palette[LABELS.get(m, m)], lw=2) for m in methods]
    fig.legend(handles, [LABELS.get(m, m) for m in methods], loc="upper center", ncol=len(methods),
               frameon=False, bbox_to_anchor=(0.5, 1.04))


def _learning_curves(store, out_dir: Path, name: str, title: str, families: list[str], methods: list[str],
                     log: bool = False, dashed_best: list[str] = (), radius: float | None = None) -> FigureResult:
    table = query.metrics(store, RETURN_METRIC, method=methods, family=families, status=STATUS)
    if radius is not None and len(table):
        table = _with_radius(store, table)
        table = table[np.isclose(table["radius"], radius)].drop(columns="radius")
    cells = [(m, f) for f in families for m in methods]
    missing = _missing_cells(table, cells, ["method", "family"])
    if table.empty:
        return _empty_figure(out_dir, name, title, missing)
    cols = min(3, len(families))
    rows = int(np.ceil(len(families) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, family in zip(axes.flat, families):
        _curve_panel(ax, table[table["family"] == family], methods, log, dashed_best)
        ax.set_title(family)
    for ax in list(axes.flat)[len(families):]:
        ax.axis("off")
    _legend(fig, methods)
    fig.suptitle(title, y=1.09)
    fig.tight_layout()
    _note_missing(fig, missing)
    return FigureResult(name, _save(fig, out_dir, name), missing, empty=False)


def figure3(store, out_dir: Path) -> FigureResult:
    return _learning_curves(store, out_dir, "fig3", "Figure 3: test-task performance vs meta-training samples",
                            MUJOCO_FAMILIES, ["pearl", *BASELINES], dashed_best=BASELINES)


def figure9(store, out_dir: Path) -> FigureResult:
    return _learning_curves(store, out_dir, "fig9", "Figure 9: Figure 3 on a log scale over the full timescale",
                            MUJOCO_FAMILIES, ["pearl", *BASELINES], log=True, dashed_best=BASELINES)


def figure5(store, out_dir: Path) -> FigureResult:
    return _learning_curves(store, out_dir, "fig5", "Figure 5: recurrent encoder ablation (cheetah-vel)",
                            ["cheetah-vel"], ["pearl", "pearl-rnn-tran", "pearl-rnn-traj"])


def figure6(store, out_dir: Path) -> FigureResult:
    return _learning_curves(store, out_dir, "fig6", "Figure 6: context sampling ablation (cheetah-vel)",
                            ["cheetah-vel"], ["pearl", "pearl-ctx-offpolicy", "pearl-ctx-rlbatch"])


def figure7(store, out_dir: Path) -> FigureResult:
    return _learning_curves(store, out_dir, "fig7",
                            "Figure 7: deterministic vs probabilistic latent (sparse point robot, radius 0.2)",
                            ["sparse-point-robot"], ["pearl", "pearl-deterministic"], radius=DEFAULT_RADIUS)


def figure4(store, out_dir: Path) -> FigureResult:
    """Return vs number of adaptation trajectories (radius 0.2 and 0.8), and exploration paths."""
    title = "Figure 4: sparse point robot, adaptation and exploration"
    table = query.metrics(store, None, method="pearl", family="sparse-point-robot", status=STATUS)
    table = table[table["metric"].str.startswith(ADAPTATION_PREFIX)] if len(table) else table
    cells = [("pearl", "sparse-point-robot", f"radius {r}") for r in (0.2, 0.8)]
    if table.empty:
        return _empty_figure(out_dir, "fig4", title, [" / ".join(c) for c in cells])
    table = _with_radius(store, table)
    missing = [" / ".join(c) for c, r in zip(cells, (0.2, 0.8)) if not np.isclose(table["radius"], r).any()]
    finals = table.sort_values("step").groupby(["run_id", "metric"]).tail(1).copy()
    finals["trajectories"] = finals["metric"].map(adaptation_index)
    finals = finals.sort_values("radius")
    finals["radius"] = finals["radius"].map(lambda r: f"radius {r:g}")

    fig, (ax_curve, ax_paths) = plt.subplots(1, 2, figsize=(10, 3.8))
    sns.lineplot(data=finals, x="trajectories", y="value", hue="radius", marker="o", estimator="mean",
                 errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax_curve)
    ax_curve.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax_curve.set_xlabel("number of adaptation trajectories")
    ax_curve.set_ylabel("average sparse return")
    ax_curve.set_title("return after k trajectories (final checkpoint)")
    _plot_exploration(store, table, ax_paths)
    fig.suptitle(title)
    fig.tight_layout()
    _note_missing(fig, missing)
    return FigureResult("fig4", _save(fig, out_dir, "fig4"), missing, empty=False)


def _plot_exploration(store, table: pd.DataFrame, ax) -> None:
    """Exploration paths of one run's evaluation on a few test goals, around the goal semicircle."""
    theta = np.linspace(0, np.pi, 100)
    ax.plot(np.cos(theta), np.sin(theta), color="lightgrey", lw=1)
    ax.set_aspect("equal")
    ax.set_title("exploration trajectories (one seed)")
    run_ids = table.sort_values(["radius", "seed"])["run_id"].drop_duplicates().tolist()
    for run_id in run_ids:
        raw = store.artifact(run_id, EVAL_PATHS_ARTIFACT)
        if raw is None:
            continue
        paths = json.loads(raw)
        colours = sns.color_palette("husl", max(len(paths), 1))
        radius = table.loc[table["run_id"] == run_id, "radius"].iloc[0]
        for colour, task in zip(colours, paths[:6]):
            goal = np.asarray(task["goal"])
            ax.add_patch(plt.Circle(goal, radius, color=colour, alpha=0.15))
            for episode in task["episodes"]:
                xy = np.asarray(episode)
                ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=0.8, alpha=0.8)
        ax.set_title(f"exploration trajectories (run {run_id}, radius {radius:g})")
        return
    ax.text(0.5, 0.5, f"no '{EVAL_PATHS_ARTIFACT}' artifact logged", ha="center", va="center",
            transform=ax.transAxes, color="grey")


FIGURES: dict[str, Callable[[query.Store, Path], FigureResult]] = {
    "fig3": figure3, "fig4": figure4, "fig5": figure5, "fig6": figure6, "fig7": figure7, "fig9": figure9,
}


def make_figures(store: query.Store, out_dir: str | Path, only: list[str] | None = None) -> list[FigureResult]:
    """Render the requested figures (default: all) into ``out_dir`` as PNG and PDF."""
    names = only or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; valid figures: {', '.join(FIGURES)}")
    sns.set_theme(style="whitegrid", context="paper")
    return [FIGURES[n](store, Path(out_dir)) for n in names]
