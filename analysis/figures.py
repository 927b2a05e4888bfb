"""Regenerate the paper's figures (3-7 and 9) from the counted runs (one per (cell, seed)).

Every curve is the mean over seeds with a bootstrap 95% confidence band, each run first
resampled onto its cell's shared env-step grid (``stats.align_curves``: only where every seed
has data, never extrapolated). Methods differ in colour, line style and marker, so curves that
coincide stay distinguishable. Cells the figure expects but the store lacks are listed on the
figure and returned to the caller; nothing is invented.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from analysis import query
from analysis.metrics import ADAPTATION_PREFIX, EVAL_PATHS_ARTIFACT, RETURN_METRIC, adaptation_index
from analysis.names import BASELINES, MAIN_METHODS, MUJOCO_FAMILIES, family_label, method_label, return_label
from analysis.stats import align_curves, bootstrap_band, curve_band, mean_curve

SPARSE = "sparse-point-robot"
RADII = (0.2, 0.8)  # Figure 4's two goal radii; Figure 7 uses 0.2
PAPER_ADAPTATION_TRAJECTORIES = 20  # sparse navigation evaluation: 400 steps = 20 trajectories of 20
DODGE = 0.15  # Figure 4: radii shifted apart on the integer x axis, so equal returns stay visible
GRID_POINTS = 60

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#333333"]
_LINESTYLES = ["-", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (4, 1)), (0, (1, 2))]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h"]
_ORDER = [
    *MAIN_METHODS,
    "pearl-rnn-tran",
    "pearl-rnn-traj",
    "pearl-ctx-offpolicy",
    "pearl-ctx-rlbatch",
    "pearl-deterministic",
]


@dataclass
class FigureResult:
    name: str
    files: list[Path]
    missing: list[str]
    empty: bool
    notes: list[str] = field(default_factory=list)  # what a reader would otherwise look for in vain


def style(method: str, index: int | None = None) -> dict:
    """Colour, line style and marker of a method, the same in every figure."""
    i = _ORDER.index(method) if method in _ORDER else (index or 0) % len(_COLOURS)
    return {
        "color": _COLOURS[i % len(_COLOURS)],
        "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        "marker": _MARKERS[i % len(_MARKERS)],
    }


def _variant_of(radius: float) -> str:
    return query.variant(SPARSE, {"goal_radius": radius})


def _missing_cells(table: pd.DataFrame, cells: list[tuple], keys: list[str]) -> list[str]:
    present = set(map(tuple, table[keys].drop_duplicates().to_numpy().tolist())) if len(table) else set()
    return [" / ".join(str(c) for c in cell if c != "") for cell in cells if tuple(cell) not in present]


def _note_missing(fig, missing: list[str]) -> None:
    """List the missing cells under the figure, grouped by method."""
    if not missing:
        return
    groups: dict[str, list[str]] = {}
    for cell in missing:
        method, _, rest = cell.partition(" / ")
        groups.setdefault(method_label(method), []).append(rest)
    lines = [f"{method}: {', '.join(rest)}" for method, rest in groups.items()]
    fig.text(0.01, -0.01, "no logged runs for\n" + "\n".join(lines), fontsize=7, color="firebrick", ha="left", va="top")


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for f in files:  # no creation date in the PDF: the same runs give the same bytes, so git sees no change
        fig.savefig(f, dpi=120, bbox_inches="tight", metadata={"CreationDate": None} if f.suffix == ".pdf" else None)
    plt.close(fig)
    return files


def _empty_figure(out_dir: Path, name: str, title: str, missing: list[str]) -> FigureResult:
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.6, f"{title}\nno logged runs for this figure", ha="center", va="center", fontsize=11)
    ax.text(
        0.5,
        0.15,
        "expected: " + "; ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""),
        ha="center",
        va="center",
        fontsize=7,
        wrap=True,
    )
    return FigureResult(name, _save(fig, out_dir, name), missing, empty=True)


def _plot_band(
    ax, x: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray, method: str, label: str, offset: int
) -> None:
    """A mean line with its band; markers are staggered per method so coinciding lines both show."""
    s = style(method)
    ax.fill_between(x, low, high, color=s["color"], alpha=0.15, lw=0)
    every = max(len(x) // 5, 1)
    ax.plot(
        x,
        mean,
        color=s["color"],
        linestyle=s["linestyle"],
        marker=s["marker"],
        lw=1.6,
        ms=5,
        markevery=(min(offset * every // 4, len(x) - 1), every),
        label=label,
        mfc="white",
        mew=1.2,
    )


def _curve_panel(
    ax, data: pd.DataFrame, methods: list[str], log: bool, dashed_best: list[str] = (), truncate_at: str | None = None
) -> list[str]:
    """Learning curves of one task (family, variant); ``truncate_at``: cut the x axis where that
    method's curve ends (the paper's Figure 3 stops where PEARL has converged).

    Returns the methods with runs but no evaluation inside the cut x axis (also written in the panel)."""
    if data.empty:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes, color="grey")
        return []
    unseen = []
    x_max = None
    if truncate_at is not None and (data["method"] == truncate_at).any():
        x_max = float(align_curves(data[data["method"] == truncate_at], points=2)["step"].max())
    for i, method in enumerate(m for m in methods if (data["method"] == m).any()):
        aligned = align_curves(data[data["method"] == method], GRID_POINTS, log, x_max)
        if aligned.empty:
            unseen.append(method)
            continue
        band = curve_band(aligned)
        _plot_band(
            ax,
            band["step"].to_numpy(),
            band["mean"].to_numpy(),
            band["low"].to_numpy(),
            band["high"].to_numpy(),
            method,
            method_label(method),
            i,
        )
    for method in dashed_best:  # a baseline's best return over its whole budget, as in Figure 3
        runs = data[data["method"] == method]
        if len(runs):
            ax.axhline(
                float(mean_curve(runs).max()),
                ls="--",
                lw=1.0,
                color=style(method)["color"],
                label=f"{method_label(method)} best (full budget)",
            )
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, numticks=6))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        ax.set_xlim(left=0, right=x_max)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    if unseen:
        ax.annotate(  # under the axis label, clear of every curve and line
            "not drawn, first evaluated after this axis ends: " + ", ".join(method_label(m) for m in unseen),
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(0, -36),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color="dimgrey",
        )
    ax.set_xlabel("meta-training env steps")
    family = data["family"].iloc[0]
    ax.set_ylabel(return_label(family))
    return unseen


def _panels(table: pd.DataFrame, families: list[str]) -> list[tuple[str, str]]:
    """(family, variant) panels in the given family order; a family without runs gets one empty panel."""
    out = []
    for family in families:
        variants = sorted(table.loc[table["family"] == family, "variant"].unique()) if len(table) else []
        out += [(family, v) for v in variants] or [(family, "")]
    return out


def _learning_curves(
    store,
    out_dir: Path,
    name: str,
    title: str,
    families: list[str],
    methods: list[str],
    log: bool = False,
    dashed_best: list[str] = (),
    variants: list[str] | None = None,
    truncate_at: str | None = None,
) -> FigureResult:
    table = query.results(store, RETURN_METRIC, method=methods, family=families)
    if variants is not None and len(table):
        table = table[table["variant"].isin(variants)]
    if variants is None:
        missing = _missing_cells(table, [(m, f) for f in families for m in methods], ["method", "family"])
    else:
        cells = [(m, f, v) for f in families for v in variants for m in methods]
        missing = _missing_cells(table, cells, ["method", "family", "variant"])
    if table.empty:
        return _empty_figure(out_dir, name, title, missing)
    panels = _panels(table, families)
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.3 * rows + 0.8), squeeze=False)
    notes = []
    for ax, (family, variant) in zip(axes.flat, panels):
        data = table[(table["family"] == family) & (table["variant"] == variant)]
        unseen = _curve_panel(ax, data, methods, log, dashed_best, truncate_at)
        if unseen:
            where = family_label(family) + (f" ({variant})" if variant else "")
            notes.append(
                f"{where}: {', '.join(method_label(m) for m in unseen)} first evaluated after the x axis ends "
                "(no point to draw; see the dashed best line and Figure 9)"
            )
        if len(panels) > 1:
            ax.set_title(family_label(family) + (f" ({variant})" if variant else ""))
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = list(handles)
    if len(panels) > 1:
        fig.legend(
            [handles[lab] for lab in labels],
            labels,
            loc="upper center",
            ncol=min(len(labels), 4),
            frameon=False,
            bbox_to_anchor=(0.5, 1 - 0.55 / fig.get_figheight()),
            fontsize=8,
        )
        fig.suptitle(title, y=0.995)
        fig.tight_layout(rect=(0, 0, 1, 1 - (0.5 + 0.2 * np.ceil(len(labels) / 4)) / fig.get_figheight()))
    else:
        axes[0, 0].legend(loc="best", fontsize=8, framealpha=0.85)
        fig.suptitle(title)
        fig.tight_layout()
    _note_missing(fig, missing)
    return FigureResult(name, _save(fig, out_dir, name), missing, empty=False, notes=notes)


def figure3(store, out_dir: Path, families: Sequence[str] = MUJOCO_FAMILIES) -> FigureResult:
    return _learning_curves(
        store,
        out_dir,
        "fig3",
        "Figure 3. Meta-learning continuous control: test-task performance vs. samples collected during meta-training",
        list(families),
        MAIN_METHODS,
        dashed_best=BASELINES,
        truncate_at="pearl",
    )


def figure9(store, out_dir: Path, families: Sequence[str] = MUJOCO_FAMILIES) -> FigureResult:
    return _learning_curves(
        store,
        out_dir,
        "fig9",
        "Figure 9. Figure 3 over the baselines' full number of time steps (log x)",
        list(families),
        MAIN_METHODS,
        log=True,
        dashed_best=BASELINES,
    )


def figure5(store, out_dir: Path) -> FigureResult:
    return _learning_curves(
        store,
        out_dir,
        "fig5",
        "Figure 5. Recurrent encoder ablation (Half-Cheetah-Vel)",
        ["cheetah-vel"],
        ["pearl", "pearl-rnn-tran", "pearl-rnn-traj"],
    )


def figure6(store, out_dir: Path) -> FigureResult:
    return _learning_curves(
        store,
        out_dir,
        "fig6",
        "Figure 6. Context sampling ablation (Half-Cheetah-Vel)",
        ["cheetah-vel"],
        ["pearl", "pearl-ctx-offpolicy", "pearl-ctx-rlbatch"],
    )


def figure7(store, out_dir: Path) -> FigureResult:
    return _learning_curves(
        store,
        out_dir,
        "fig7",
        "Figure 7. Deterministic latent context (sparse 2D navigation, goal radius 0.2)",
        [SPARSE],
        ["pearl", "pearl-deterministic"],
        variants=[_variant_of(0.2)],
    )


def figure4(store, out_dir: Path) -> FigureResult:
    """Sparse return vs number of adaptation trajectories per goal radius, and exploration paths."""
    title = "Figure 4. Sparse 2D navigation: adaptation on unseen test goals"
    table = query.results(store, None, method="pearl", family=SPARSE)
    table = table[table["metric"].str.startswith(ADAPTATION_PREFIX)] if len(table) else table
    variants = [_variant_of(r) for r in RADII]
    missing = [f"pearl / {SPARSE} / {v}" for v in variants if not (len(table) and (table["variant"] == v).any())]
    if table.empty:
        return _empty_figure(out_dir, "fig4", title, missing)
    finals = table.sort_values("step").groupby(["run_id", "metric"]).tail(1).copy()
    finals["trajectories"] = finals["metric"].map(adaptation_index)

    fig, (ax_curve, ax_paths) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = list(finals.groupby("variant", sort=True))
    for i, (variant, group) in enumerate(groups):
        matrix = group.pivot_table(index="run_id", columns="trajectories", values="value")
        mean, low, high = bootstrap_band(matrix.dropna(axis=1).to_numpy())
        x = matrix.dropna(axis=1).columns.to_numpy(float) + DODGE * (i - (len(groups) - 1) / 2)
        s = {
            **style("pearl"),
            "color": _COLOURS[[0, 3, 2, 4][i % 4]],
            "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        }
        ax_curve.fill_between(x, low, high, color=s["color"], alpha=0.15, lw=0)
        ax_curve.plot(
            x, mean, lw=1.8, ms=6, mfc="white", mew=1.3, label=f"PEARL, {variant} ({matrix.shape[0]} seeds)", **s
        )
    logged = int(finals["trajectories"].max())
    ax_curve.set_xlim(0.5, max(logged, PAPER_ADAPTATION_TRAJECTORIES) + 0.5)
    ax_curve.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if logged < PAPER_ADAPTATION_TRAJECTORIES:
        ax_curve.text(
            0.98,
            0.04,
            f"runs logged {logged} of the paper's {PAPER_ADAPTATION_TRAJECTORIES} trajectories",
            transform=ax_curve.transAxes,
            ha="right",
            fontsize=7,
            color="dimgrey",
        )
    prior = _prior_trajectories(store, finals["run_id"].unique())
    if prior:  # the evaluation protocol: z ~ prior for the first trajectories, then z ~ q(z | c)
        ax_curve.axvline(prior + 0.5, color="grey", ls=":", lw=1.2)
        for text, side in (("\u2190 z ~ prior", -1), ("z ~ posterior \u2192", 1)):
            ax_curve.annotate(
                text,
                (prior + 0.5, 1.0),
                xycoords=ax_curve.get_xaxis_transform(),
                xytext=(5 * side, 3),
                textcoords="offset points",
                ha="left" if side > 0 else "right",
                va="bottom",
                fontsize=8,
                color="dimgrey",
            )
    ax_curve.set_xlabel("number of adaptation trajectories")
    ax_curve.set_ylabel("sparse return (final checkpoint)")
    ax_curve.legend(loc="upper left", fontsize=8)
    _plot_exploration(store, table, ax_paths)
    fig.suptitle(title)
    fig.tight_layout()
    _note_missing(fig, missing)
    return FigureResult("fig4", _save(fig, out_dir, "fig4"), missing, empty=False)


def _prior_trajectories(store, run_ids) -> int | None:
    """The runs' ``eval.num_exp_traj_eval`` (trajectories with z ~ prior before the posterior is
    used, Section 3.3 of the reference notes), when they agree; else None."""
    table = query.runs(store)
    column = "config.eval.num_exp_traj_eval"
    if column not in table:
        return None
    values = table.loc[table["run_id"].isin(list(run_ids)), column].dropna().unique()
    return int(values[0]) if len(values) == 1 else None


def goals_reached(paths: list, radius: float, trajectory: int = -1) -> int:
    """How many test goals of ``paths`` (``eval_paths.json``) the given adaptation trajectory (default:
    the last) enters, i.e. comes within ``radius`` of its goal at some step."""
    reached = 0
    for task in paths:
        xy = np.asarray(task["episodes"][trajectory], dtype=float).reshape(-1, 2)
        reached += bool((np.linalg.norm(xy - np.asarray(task["goal"], dtype=float), axis=1) <= radius).any())
    return reached


def _load_paths(store, run_id) -> list | None:
    raw = store.artifact(run_id, EVAL_PATHS_ARTIFACT)
    if raw is None:
        return None
    try:
        paths = json.loads(raw)
        if isinstance(paths, list) and all("goal" in t and "episodes" in t for t in paths):
            return paths
        reason = "not a list of {goal, episodes}"
    except (ValueError, TypeError) as err:
        reason = f"not valid JSON ({err})"
    store.problems[f"run {run_id}: {EVAL_PATHS_ARTIFACT}"] = reason
    return None


def _plot_exploration(store, table: pd.DataFrame, ax) -> None:
    """One test goal of one seed, as in the paper: the current goal dark, other test goals light,
    and the adaptation trajectories coloured by their order."""
    theta = np.linspace(0, np.pi, 100)
    ax.plot(np.cos(theta), np.sin(theta), color="lightgrey", lw=1, zorder=0)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    prefer = _variant_of(RADII[0])
    runs = table[["run_id", "variant", "seed"]].drop_duplicates()
    runs = runs.assign(other=runs["variant"] != prefer).sort_values(["other", "seed"])
    for run in runs.itertuples():
        paths = _load_paths(store, run.run_id)
        if not paths:
            continue
        radius = float(run.variant.partition("goal_radius=")[2] or RADII[0])
        current = paths[0]
        for task in paths[1:]:
            ax.add_patch(plt.Circle(task["goal"], radius, color="#9ecae1", alpha=0.5, lw=0))
        ax.add_patch(plt.Circle(current["goal"], radius, color="#08519c", alpha=0.6, lw=0))
        episodes = current["episodes"]
        colours = plt.get_cmap("autumn")(np.linspace(0, 0.85, max(len(episodes), 1)))
        for k, (episode, colour) in enumerate(zip(episodes, colours), start=1):
            xy = np.asarray(episode, dtype=float).reshape(-1, 2)
            ax.plot(
                xy[:, 0],
                xy[:, 1],
                color=colour,
                lw=1.6,
                alpha=0.9,
                label=f"trajectory {k}" if k in (1, len(episodes)) else None,
            )
            ax.plot(*xy[-1], marker="o", ms=3, color=colour)  # the end point, visible even for a short path
        handles = [
            plt.Line2D([], [], marker="o", ls="", ms=10, color="#08519c", alpha=0.6, label="current goal"),
            plt.Line2D([], [], marker="o", ls="", ms=10, color="#9ecae1", label="other test goals"),
        ]
        handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.85)
        ax.set_xlim(-1.4, 1.4)
        ax.set_ylim(-0.4, 1.4)
        ax.set_title(f"exploration on test goal 1 of {len(paths)} (seed {run.seed}, {run.variant})", fontsize=9)
        ax.text(
            0.98,
            0.03,
            f"last trajectory enters its goal on {goals_reached(paths, radius)} of {len(paths)} test goals",
            transform=ax.transAxes,
            ha="right",
            fontsize=7,
            color="dimgrey",
        )
        return
    ax.text(
        0.5,
        0.5,
        f"no readable '{EVAL_PATHS_ARTIFACT}' artifact logged",
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="grey",
    )


FIGURES: dict[str, Callable[[query.Store, Path], FigureResult]] = {
    "fig3": figure3,
    "fig4": figure4,
    "fig5": figure5,
    "fig6": figure6,
    "fig7": figure7,
    "fig9": figure9,
}


PANELLED = ("fig3", "fig9")  # the figures with one panel per MuJoCo family


def make_figures(
    store: query.Store,
    out_dir: str | Path,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    families: Sequence[str] | None = None,
) -> list[FigureResult]:
    """Render the requested figures (default: all) into ``out_dir`` as PNG and PDF.

    ``progress`` gets a line before and after each figure (the CLI prints them); ``families``
    limits Figures 3 and 9 to those MuJoCo families' panels (default: all six).
    """
    names = only or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; valid figures: {', '.join(FIGURES)}")
    bad = [f for f in families or () if f not in MUJOCO_FAMILIES]
    if bad:
        raise ValueError(
            f"--families {', '.join(bad)}: Figures 3 and 9 draw MuJoCo families only; valid "
            f"families: {', '.join(MUJOCO_FAMILIES)}"
        )
    profiles = query.runs(store)["profile"].dropna().unique()
    if len(profiles) > 1:
        raise ValueError(
            f"the store holds runs of several profiles ({', '.join(sorted(profiles))}); "
            "figures use one: pass query.for_profile(store, PROFILE)"
        )
    plt.style.use("seaborn-v0_8-whitegrid")
    out = []
    for name in names:
        start = time.perf_counter()
        if progress:
            progress(f"drawing {name} ...")
        panels = {"families": [f for f in MUJOCO_FAMILIES if f in families]} if families and name in PANELLED else {}
        result = FIGURES[name](store, Path(out_dir), **panels)
        if progress:
            progress(f"  {name}: {'NO DATA' if result.empty else 'ok'} ({time.perf_counter() - start:.1f} s)")
        out.append(result)
    return out
