"""One folder with every figure and table and an ``index.md`` a person can open.

Every figure and table has a caption: what is plotted, over how many seeds, the band, the
profile and budget, and what is missing. Every table column is defined under its table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from analysis import query
from analysis.figures import SPARSE, FigureResult, make_figures
from analysis.metrics import RETURN_METRIC
from analysis.names import MAIN_METHODS, MUJOCO_FAMILIES, family_label, method_label
from analysis.query import CELL
from analysis.tables import aggregate_iqm, final_returns, pearl_vs_baselines, sample_efficiency

BAND = "the band is a bootstrap 95% CI of the mean over seeds (runs resampled onto the cell's shared env-step grid)"
BAND_FIG4 = "the band is a bootstrap 95% CI of the mean over seeds at each trajectory"
FIGURE_CAPTIONS = {
    "fig3": "Test-task average return (the last adaptation episode, after two context trajectories) vs env steps "
    "collected during meta-training, PEARL and the on-policy baselines on the six MuJoCo families. The x axis "
    "stops where PEARL's runs end; the dashed lines are each baseline's best mean return over its whole budget.",
    "fig9": "The data of Figure 3 over every baseline's full budget, log x.",
    "fig4": "Left: sparse return on test goals vs the number of adaptation trajectories collected, at the final "
    "checkpoint, one line per goal radius (shifted ±0.075 on x so that equal returns stay visible); the dotted "
    "line marks where the evaluation protocol switches from z ~ prior to z ~ q(z | c) (`eval.num_exp_traj_eval`). "
    "Right: the adaptation trajectories of one seed on the first test goal (not chosen for success), and on how "
    "many test goals that seed's last trajectory enters the goal radius.",
    "fig5": "PEARL's permutation-invariant encoder vs a recurrent encoder with RL batches of transitions (RNN tran) "
    "or trajectories (RNN traj) on Half-Cheetah-Vel: average test return vs meta-training env steps.",
    "fig6": "Context sampled from recent data (PEARL) vs the whole replay buffer (off-policy) vs the RL batch itself "
    "(off-policy RL-batch) on Half-Cheetah-Vel: average test return vs meta-training env steps.",
    "fig7": "Probabilistic vs deterministic latent context on sparse 2D navigation (goal radius 0.2): sparse test "
    "return vs meta-training env steps.",
}
FIGURE_SCOPE = {
    "fig3": (MUJOCO_FAMILIES, MAIN_METHODS),
    "fig9": (MUJOCO_FAMILIES, MAIN_METHODS),
    "fig4": ([SPARSE], ["pearl"]),
    "fig5": (["cheetah-vel"], ["pearl", "pearl-rnn-tran", "pearl-rnn-traj"]),
    "fig6": (["cheetah-vel"], ["pearl", "pearl-ctx-offpolicy", "pearl-ctx-rlbatch"]),
    "fig7": ([SPARSE], ["pearl", "pearl-deterministic"]),
}
FINAL_COLUMNS = {
    "method, family, variant, profile": "the cell (variant: the env's keyword arguments, e.g. the goal radius; "
    "empty when the env takes none)",
    "mean": f"mean over seeds of each run's {RETURN_METRIC} at its last evaluation",
    "ci_low, ci_high": "bootstrap 95% CI of that mean (2000 resamples of the seeds)",
    "n_seeds": "seeds counted (one run each)",
}
EFFICIENCY_COLUMNS = {
    "baseline": "the on-policy method compared with PEARL on the same task (family, variant, profile)",
    "pearl_final": "PEARL's mean final return",
    "baseline_best": "the highest point of the baseline's mean curve",
    "baseline_steps_to_pearl_final": "env steps at which the baseline's mean curve first reaches pearl_final "
    "(empty: never)",
    "pearl_steps_to_baseline_best": "env steps at which PEARL's mean curve first reaches baseline_best (empty: never)",
    "baseline_steps_to_best": "env steps at which the baseline reaches baseline_best",
    "speedup": "baseline_steps_to_best / pearl_steps_to_baseline_best: how many times fewer samples PEARL needs "
    "for the baseline's best (the paper's 20-100x)",
}
IQM_COLUMN_DEFS = {
    "iqm": "interquartile mean of the normalised final scores of all (seed, task) pairs: "
    "(return - low) / (high - low), 0 = random policy, 1 = the best main method's mean",
    "ci_low, ci_high": "stratified bootstrap 95% CI (seeds resampled within each task, 2000 resamples)",
    "n_tasks, n_runs, tasks": "tasks (family, variant) scored and runs counted",
}


def _markdown(table: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    if table.empty:
        return "_no data_\n"
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        cells = ["" if pd.isna(v) else floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _definitions(columns: dict[str, str]) -> list[str]:
    return ["Columns: " + "; ".join(f"**{k}**: {v}" for k, v in columns.items()) + ".", ""]


def final_returns_block(store: query.Store) -> str:
    """The final-return table as markdown (the report's, and the README's "Results" for the shipped runs)."""
    return _markdown(final_returns(store))


def _final(mean: float, low: float, high: float, seeds: int, steps: int) -> str:
    ci = f" [{low:.1f}, {high:.1f}]" if seeds > 1 else ""
    return f"{mean:.1f}{ci}, {int(seeds)} seed{'s' if seeds > 1 else ''}, {steps / 1e6:.1f}M steps"


def answer_block(store: query.Store) -> str:
    """PEARL vs each on-policy baseline in one table: the suite's question, answered by the runs in ``store``
    (the report's first table, and the README's "Results" for the shipped runs)."""
    table = pearl_vs_baselines(store)
    pearl = ["pearl_final", "pearl_ci_low", "pearl_ci_high", "pearl_seeds", "pearl_env_steps"]
    base = ["baseline_final", "baseline_ci_low", "baseline_ci_high", "baseline_seeds", "baseline_env_steps"]
    rows = pd.DataFrame(
        {
            "task": [family_label(f) + (f" ({v})" if v else "") for f, v in zip(table["family"], table["variant"])],
            "baseline": table["baseline"].map(method_label),
            "PEARL: final return [95% CI], seeds, env steps": [_final(*r) for r in table[pearl].itertuples(False)],
            "baseline: final return [95% CI], seeds, env steps": [_final(*r) for r in table[base].itertuples(False)],
            "final return": table["final_return"],
            "PEARL's sample efficiency": [
                f"{x:.1f}×" if pd.notna(x) else "PEARL never reaches the baseline's best" for x in table["speedup"]
            ],
        }
    )
    return _markdown(rows)


def runs_table(store: query.Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per cell: the seeds counted and every attempt by status; and the superseded attempts."""
    table = query.runs(store)
    if table.empty:
        return pd.DataFrame(columns=[*CELL, "seeds_counted", "attempts"]), table
    counted, superseded = query.latest_completed(table)
    rows = []
    for key, group in table.groupby(CELL, sort=True, dropna=False):
        seeds = sorted(counted.loc[counted[CELL].apply(tuple, axis=1) == key, "seed"].tolist())
        statuses = ", ".join(f"{n} {s}" for s, n in group["status"].value_counts().sort_index().items())
        rows.append([*key, ", ".join(map(str, seeds)) or "none", statuses])
    return pd.DataFrame(rows, columns=[*CELL, "seeds_counted", "attempts"]), superseded


def _budget(store: query.Store, families: list[str], methods: list[str] | None) -> str:
    finals = query.results(store, RETURN_METRIC, family=families, method=methods)
    if finals.empty:
        return ""
    last = finals.groupby(["method", "run_id"])["step"].max().groupby("method").max()
    return (
        "Budget (env steps at the last evaluation): "
        + ", ".join(f"{method_label(m)} {int(v):,}" for m, v in last.items())
        + "."
    )


def _seeds(store: query.Store, families: list[str], methods: list[str] | None) -> str:
    runs = query.counted_runs(store, family=families, method=methods)
    counts = runs.groupby(CELL, dropna=False)["seed"].nunique()
    if counts.empty:
        return "no seeds"
    return f"{counts.min()} seeds" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()} seeds per cell"


def _figure_section(store: query.Store, fig: FigureResult, profile: str) -> list[str]:
    families, methods = FIGURE_SCOPE[fig.name]
    lines = [f"### {fig.name}", ""]
    if fig.empty:
        lines += ["_No logged runs for this figure._", ""]
    else:
        lines += [f"![{fig.name}]({fig.files[0].name})", ""]
    caption = [FIGURE_CAPTIONS[fig.name]]
    if not fig.empty:
        band = BAND_FIG4 if fig.name == "fig4" else BAND
        caption.append(f"Each line is the mean over {_seeds(store, families, methods)}; {band}.")
        caption += [f"{note}." for note in fig.notes]
        caption.append(f"Profile: {profile}. {_budget(store, families, methods)}")
    caption.append("Missing: " + ("; ".join(fig.missing) if fig.missing else "nothing") + ".")
    return lines + ["_" + " ".join(c for c in caption if c).replace("_", "\\_") + "_", ""]


def write_report(
    store: query.Store,
    out_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    families: Sequence[str] | None = None,
) -> Path:
    """Render all figures and tables into ``out_dir``; returns the path of ``index.md``.

    ``families`` limits Figures 3 and 9 to those MuJoCo families' panels (the tables cover every run).
    """
    say = progress or (lambda line: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_table = query.runs(store)
    profiles = run_table["profile"].dropna().unique().tolist()
    profile = ", ".join(map(str, profiles)) or "not recorded"
    figures = make_figures(store, out, progress=say, families=families)

    start = time.perf_counter()
    say("computing tables ...")
    cells, superseded = runs_table(store)
    aggregate = aggregate_iqm(store)
    efficiency = sample_efficiency(store)
    finals = final_returns(store)
    say(f"  tables ok ({time.perf_counter() - start:.1f} s)")

    lines = ["# pearl-bench report", "", f"Source: {store.describe()}; profile {profile}; {len(run_table)} runs.", ""]
    lines += [
        "## Runs",
        "",
        _markdown(cells),
        "_Each cell is (method, family, variant, profile); cells are never pooled. Each (cell, seed) counts "
        "once in every figure and table: its latest COMPLETED attempt (latest start time). **seeds_counted**: "
        "the seeds counted; **attempts**: every logged attempt of the cell by status (FAILED, INTERRUPTED and "
        "RUNNING attempts are not counted; a resumed run's COMPLETED attempt carries its whole curve)._",
        "",
    ]
    if len(superseded):
        lines += [
            f"Earlier COMPLETED attempts not counted (a later attempt of the same cell and seed is): run ids "
            f"{', '.join(map(str, superseded['run_id']))}.",
            "",
        ]
    if store.problems:
        lines += ["## Unreadable run files (left out)", ""]
        lines += [f"- `{path}`: {why}" for path, why in store.problems.items()] + [""]
    lines += [
        "## PEARL vs on-policy meta-RL",
        "",
        "([pearl_vs_baselines.csv](pearl_vs_baselines.csv))",
        "",
        answer_block(store),
        "_One row per task and baseline: the final returns of the tables below, with the env steps each was "
        "trained for, which is higher where their 95% CIs do not overlap, and PEARL's sample efficiency "
        "(`speedup` of the sample-efficiency table: the baseline's env steps to its best mean return over "
        "PEARL's env steps to the same return; the paper claims 20-100×)._",
        "",
    ]
    lines += ["## Figures", ""]
    for fig in figures:
        lines += _figure_section(store, fig, profile)
    lines += ["## Tables", ""]
    tables = {
        "pearl_vs_baselines": pearl_vs_baselines(store),
        "final_returns": finals,
        "sample_efficiency": efficiency,
        "aggregate_iqm": aggregate.main,
        "aggregate_iqm_ablations": aggregate.ablations,
        "iqm_reference_scores": aggregate.references,
    }
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
    lines += [
        "### Final test return per cell",
        "",
        "([final_returns.csv](final_returns.csv))",
        "",
        final_returns_block(store),
        f"_Final return = {RETURN_METRIC} at each run's last evaluation; profile {profile}._",
        "",
        *_definitions(FINAL_COLUMNS),
    ]
    lines += [
        "### Sample efficiency: PEARL vs each baseline",
        "",
        "([sample_efficiency.csv](sample_efficiency.csv))",
        "",
        _markdown(efficiency),
        "_Computed from the mean-over-seeds curves (shared env-step grid) of each "
        f"task; PEARL is the reference; profile {profile}._",
        "",
        *_definitions(EFFICIENCY_COLUMNS),
    ]
    lines += [
        "### Aggregate: interquartile mean (IQM) of normalised final returns",
        "",
        "([aggregate_iqm.csv](aggregate_iqm.csv))",
        "",
        _markdown(aggregate.main),
        "_The main methods (PEARL, RL², MAML-TRPO, ProMP) over the tasks every one of them has, as rliable "
        "computes it, with the fixed per-task reference scores below._",
        "",
        *_definitions(IQM_COLUMN_DEFS),
        "#### Ablations vs PEARL on their own tasks",
        "",
        "([aggregate_iqm_ablations.csv](aggregate_iqm_ablations.csv))",
        "",
        _markdown(aggregate.ablations),
        "_Each ablation and PEARL, scored on the tasks the ablation ran, with the same references._",
        "",
        "#### Reference scores",
        "",
        "([iqm_reference_scores.csv](iqm_reference_scores.csv))",
        "",
        _markdown(aggregate.references),
        "_**low**: mean return of a uniform random policy over the first 5 test tasks at the runs' **horizon** "
        "(sparse reward on sparse 2D navigation); **high**: the best mean final return of the four main methods "
        "on that task. They depend only on the task, not on which methods are compared._",
        "",
    ]
    if aggregate.notes:
        lines += ["Left out of the aggregate:", ""] + [f"- {note}" for note in aggregate.notes] + [""]
    index = out / "index.md"
    index.write_text("\n".join(lines))
    return index
