"""Tables the paper's claims rest on, computed from the counted runs (one per (cell, seed))."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import query
from analysis.metrics import RETURN_METRIC
from analysis.names import BASELINES, MAIN_METHODS
from analysis.query import CELL
from analysis.reference import random_scores
from analysis.stats import (
    final_values,
    mean_curve,
    normalise_scores,
    steps_to_reach,
    stratified_bootstrap_ci,
    summarize,
)

TASK = ["family", "variant", "profile"]  # a cell without its method: what methods are compared on


def final_returns(store: query.Store, metric: str = RETURN_METRIC, **filters) -> pd.DataFrame:
    """Final return per cell: mean over seeds and a bootstrap 95% CI."""
    finals = final_values(query.results(store, metric, **filters))
    if finals.empty:
        return pd.DataFrame(columns=[*CELL, "mean", "ci_low", "ci_high", "n_seeds"])
    return summarize(finals)


SAMPLE_EFFICIENCY_COLUMNS = [
    "baseline",
    *TASK,
    "pearl_final",
    "baseline_best",
    "baseline_steps_to_pearl_final",
    "pearl_steps_to_baseline_best",
    "baseline_steps_to_best",
    "speedup",
]


def sample_efficiency(
    store: query.Store, reference: str = "pearl", metric: str = RETURN_METRIC, **filters
) -> pd.DataFrame:
    """The paper's "20-100x" claim, per (baseline, task), from the across-seed mean curves.

    ``pearl_final``: PEARL's mean final return; ``baseline_best``: the highest point of the
    baseline's mean curve; ``baseline_steps_to_pearl_final``: env steps the baseline's mean
    curve needs to reach ``pearl_final``; ``pearl_steps_to_baseline_best``: env steps PEARL's
    mean curve needs to reach ``baseline_best``; ``baseline_steps_to_best``: env steps at which
    the baseline reaches its best; ``speedup`` = ``baseline_steps_to_best /
    pearl_steps_to_baseline_best``. Empty step cells mean "never reached".
    """
    table = query.results(store, metric, **filters)
    rows = []
    for task, fam in table.groupby(TASK, sort=True, dropna=False):
        ref = fam[fam["method"] == reference]
        if ref.empty:
            continue
        ref_curve = mean_curve(ref)
        ref_final = float(final_values(ref)["value"].mean())
        for baseline, base in fam[fam["method"].isin(BASELINES)].groupby("method"):
            curve = mean_curve(base)
            if curve.empty:
                continue
            best = float(curve.max())
            ref_to_best = steps_to_reach(ref_curve, best)
            base_to_best = float(curve.idxmax())
            speedup = base_to_best / ref_to_best if np.isfinite(ref_to_best) and ref_to_best > 0 else np.nan
            rows.append(
                [baseline, *task, ref_final, best, steps_to_reach(curve, ref_final), ref_to_best, base_to_best, speedup]
            )
    out = pd.DataFrame(rows, columns=SAMPLE_EFFICIENCY_COLUMNS)
    for column in ("baseline_steps_to_pearl_final", "pearl_steps_to_baseline_best", "baseline_steps_to_best"):
        out[column] = out[column].round().astype("Int64")  # env steps are integers; <NA> = not reached
    return out


ANSWER_COLUMNS = [
    *TASK,
    "baseline",
    "pearl_final",
    "pearl_ci_low",
    "pearl_ci_high",
    "pearl_seeds",
    "pearl_env_steps",
    "baseline_final",
    "baseline_ci_low",
    "baseline_ci_high",
    "baseline_seeds",
    "baseline_env_steps",
    "speedup",
    "final_return",
]


def _compare_finals(pearl: pd.Series, baseline: pd.Series) -> str:
    """Which final return is higher, only where the two 95% CIs say so (two seeds or more each)."""
    if min(pearl["n_seeds"], baseline["n_seeds"]) < 2:
        return "one seed: no CI to compare"
    if pearl["ci_low"] > baseline["ci_high"]:
        return "PEARL higher (CIs apart)"
    if pearl["ci_high"] < baseline["ci_low"]:
        return "baseline higher (CIs apart)"
    return "not separable (CIs overlap)"


def pearl_vs_baselines(store: query.Store, metric: str = RETURN_METRIC, **filters) -> pd.DataFrame:
    """The suite's question, one row per (task, baseline): does PEARL beat it, and by how much?

    Final returns with their 95% CIs and seed counts (``final_returns``), the env steps each cell's
    runs were trained for (the last evaluation), PEARL's sample efficiency against the baseline
    (``sample_efficiency``'s ``speedup``; NaN where PEARL never reaches the baseline's best) and
    ``final_return``: which is higher where the CIs do not overlap (``_compare_finals``).
    """
    finals = final_values(query.results(store, metric, **filters))
    if finals.empty:
        return pd.DataFrame(columns=ANSWER_COLUMNS)
    cells = summarize(finals).set_index(CELL)
    env_steps = finals.groupby(CELL, dropna=False)["step"].max()
    speedups = sample_efficiency(store, metric=metric, **filters).set_index(["baseline", *TASK])["speedup"]
    rows = []
    for (method, *task), baseline in cells.iterrows():
        pearl_key = ("pearl", *task)
        if method not in BASELINES or pearl_key not in cells.index:
            continue
        pearl = cells.loc[pearl_key]
        rows.append(
            [
                *task,
                method,
                *pearl[["mean", "ci_low", "ci_high", "n_seeds"]],
                int(env_steps[pearl_key]),
                *baseline[["mean", "ci_low", "ci_high", "n_seeds"]],
                int(env_steps[(method, *task)]),
                float(speedups.get((method, *task), np.nan)),
                _compare_finals(pearl, baseline),
            ]
        )
    out = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    order = {m: i for i, m in enumerate(BASELINES)}
    return out.sort_values([*TASK, "baseline"], key=lambda c: c.map(order) if c.name == "baseline" else c)


@dataclass
class Aggregate:
    """The IQM tables: main methods, ablations vs PEARL, the reference scores and what was left out."""

    main: pd.DataFrame
    ablations: pd.DataFrame
    references: pd.DataFrame
    notes: list[str] = field(default_factory=list)


IQM_COLUMNS = ["method", "iqm", "ci_low", "ci_high", "n_tasks", "n_runs", "tasks"]


def _iqm_rows(scored: pd.DataFrame, methods: list[str], reps: int) -> pd.DataFrame:
    rows = []
    for method in methods:
        group = scored[scored["method"] == method]
        if group.empty:
            continue
        matrix = group.pivot_table(index="seed", columns=TASK, values="score", aggfunc="first")
        iqm, low, high = stratified_bootstrap_ci(matrix.to_numpy(), reps=reps)
        tasks = ", ".join(sorted({" ".join(str(v) for v in t if v) for t in matrix.columns}))
        rows.append([method, iqm, low, high, matrix.shape[1], len(group), tasks])
    return pd.DataFrame(rows, columns=IQM_COLUMNS)


def aggregate_iqm(store: query.Store, metric: str = RETURN_METRIC, reps: int = 2000, **filters) -> Aggregate:
    """Interquartile mean of normalised final returns (rliable), with stratified-bootstrap 95% CIs.

    Each task (family, variant, profile) is normalised by fixed reference scores
    (``analysis.reference``): ``low`` the return of a random policy, ``high`` the best
    mean final return of the four main methods. The main table compares the main methods over
    the tasks every one of them has; each ablation is scored with PEARL on its own tasks.
    Tasks that cannot be normalised (no reference, or ``high <= low``) are left out with a note.
    """
    runs = query.counted_runs(store, **filters)
    finals = final_values(query.results(store, metric, **filters))
    empty = pd.DataFrame(columns=IQM_COLUMNS)
    if finals.empty:
        return Aggregate(empty, empty, pd.DataFrame(columns=[*TASK, "low", "high"]), ["no completed runs"])
    notes = []
    means = finals.groupby(CELL, dropna=False)["value"].mean().reset_index()
    main_means = means[means["method"].isin(MAIN_METHODS)]
    high = main_means.groupby(TASK, dropna=False)["value"].max().rename("high").reset_index()
    references = random_scores(runs[runs["method"].isin(MAIN_METHODS)], TASK).merge(high, on=TASK, how="inner")
    for _, ref in references.iterrows():
        label = " ".join(str(ref[c]) for c in TASK if ref[c])
        if not np.isfinite(ref["low"]):
            notes.append(f"{label} left out: the methods ran different horizons or rewards, so no random reference")
        elif not ref["high"] > ref["low"]:
            notes.append(
                f"{label} left out: the best main method's return ({ref['high']:.4g}) is not above "
                f"the random policy's ({ref['low']:.4g}), so it cannot be normalised"
            )
    scored = normalise_scores(finals, references, TASK)

    present = [m for m in MAIN_METHODS if m in set(scored["method"])]
    per_method = [set(map(tuple, scored.loc[scored["method"] == m, TASK].to_numpy().tolist())) for m in present]
    shared = set.intersection(*per_method) if per_method else set()
    for method, tasks in zip(present, per_method):
        for task in sorted(tasks - shared, key=str):
            notes.append(
                f"{' '.join(str(v) for v in task if v)} not in the main table: "
                f"not every main method ({', '.join(present)}) has it"
            )
    in_shared = scored[TASK].apply(tuple, axis=1).isin(shared)
    main = _iqm_rows(scored[in_shared], present, reps)

    ablation_rows = []
    for method in sorted(set(scored["method"]) - set(MAIN_METHODS)):
        tasks = set(map(tuple, scored.loc[scored["method"] == method, TASK].to_numpy().tolist()))
        on_tasks = scored[scored[TASK].apply(tuple, axis=1).isin(tasks)]
        table = _iqm_rows(on_tasks, ["pearl", method], reps)
        table.insert(0, "ablation", method)
        ablation_rows.append(table)
    ablations = (
        pd.concat(ablation_rows, ignore_index=True)
        if ablation_rows
        else pd.DataFrame(columns=["ablation", *IQM_COLUMNS])
    )
    return Aggregate(main, ablations, references[[*TASK, "horizon", "low", "high"]], notes)
