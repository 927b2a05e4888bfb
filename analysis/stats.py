"""Statistics over seeds: final values, bootstrap intervals, aligned curves, IQM.

The interquartile mean and its stratified bootstrap follow Agarwal et al. (2021),
"Deep RL at the Edge of the Statistical Precipice" (the ``rliable`` method). rliable
itself needs ``pandas<3`` through its ``arch`` dependency, so the estimator lives here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd


def final_values(table: pd.DataFrame) -> pd.DataFrame:
    """The value at each run's last logged step: one row per (run, metric)."""
    if table.empty:
        return table.copy()
    last = table.sort_values("step").groupby(["run_id", "metric"], sort=False).tail(1)
    return last.sort_values(["method", "family", "seed", "metric"]).reset_index(drop=True)


def bootstrap_mean_ci(values, confidence: float = 0.95, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    if x.size == 1:
        return float(x[0]), float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(reps, x.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(x.mean()), float(low), float(high)


def summarize(finals: pd.DataFrame, by=("method", "family"), confidence: float = 0.95) -> pd.DataFrame:
    """Mean over seeds with a bootstrap CI, per group of final values."""
    rows = []
    for key, group in finals.groupby(list(by), sort=True):
        mean, low, high = bootstrap_mean_ci(group["value"], confidence)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                     "mean": mean, "ci_low": low, "ci_high": high, "n_seeds": int(group["seed"].nunique())})
    return pd.DataFrame(rows, columns=[*by, "mean", "ci_low", "ci_high", "n_seeds"])


def align_curves(table: pd.DataFrame, points: int = 50, log: bool = False) -> pd.DataFrame:
    """Resample each run's curve onto one grid of steps shared by its (method, family) group.

    Seeds collect different numbers of env steps between evaluations (episodes end early on
    termination), so raw steps rarely coincide; a run is interpolated only inside the range it
    covers, never extrapolated.
    """
    frames = []
    for (method, family, metric), group in table.groupby(["method", "family", "metric"], sort=False):
        lo, hi = group["step"].min(), group["step"].max()
        if log:
            lo = max(lo, 1)
            grid = np.unique(np.geomspace(lo, hi, points)) if hi > lo else np.array([hi])
        else:
            grid = np.unique(np.linspace(lo, hi, points)) if hi > lo else np.array([hi])
        for run_id, run in group.groupby("run_id", sort=False):
            run = run.sort_values("step")
            steps, values = run["step"].to_numpy(float), run["value"].to_numpy(float)
            inside = grid[(grid >= steps[0]) & (grid <= steps[-1])]
            frames.append(pd.DataFrame({
                "run_id": run_id, "method": method, "family": family, "seed": run["seed"].iloc[0],
                "metric": metric, "step": inside, "value": np.interp(inside, steps, values)}))
    if not frames:
        return table.iloc[0:0]
    return pd.concat(frames, ignore_index=True)


def mean_curve(table: pd.DataFrame, points: int = 200) -> pd.Series:
    """The across-seed mean of one (method, family, metric) group, indexed by step."""
    aligned = align_curves(table, points)
    counts = aligned.groupby("step")["run_id"].nunique()
    full = counts[counts == aligned["run_id"].nunique()].index  # steps every seed reached
    return aligned[aligned["step"].isin(full)].groupby("step")["value"].mean()


def steps_to_reach(curve: pd.Series, threshold: float) -> float:
    """The first step at which a mean curve reaches ``threshold`` (NaN if it never does)."""
    reached = curve[curve >= threshold]
    return float(reached.index[0]) if len(reached) else float("nan")


# ---------------------------------------------------------------- aggregate across families
def interquartile_mean(scores: np.ndarray) -> float:
    """Mean of the middle 50% of all scores (rliable's ``aggregate_iqm``: trim 25% per side)."""
    x = np.sort(np.asarray(scores, dtype=float).ravel())
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


def stratified_bootstrap_ci(scores: np.ndarray, statistic: Callable[[np.ndarray], float] = interquartile_mean,
                            confidence: float = 0.95, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Point estimate and percentile CI, resampling runs with replacement *within each task*.

    ``scores`` is (runs x tasks); NaN cells (a task with fewer runs) are dropped per task.
    """
    scores = np.asarray(scores, dtype=float)
    columns = [scores[:, j][np.isfinite(scores[:, j])] for j in range(scores.shape[1])]
    columns = [c for c in columns if c.size]
    point = statistic(np.concatenate(columns))
    rng = np.random.default_rng(seed)
    stats = np.empty(reps)
    for r in range(reps):
        stats[r] = statistic(np.concatenate([c[rng.integers(0, c.size, c.size)] for c in columns]))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return point, float(low), float(high)


def normalise_scores(finals: pd.DataFrame) -> pd.DataFrame:
    """Min-max normalise final returns per family over every logged run of every method.

    0 is the worst and 1 the best final return any run reached on that family; with no
    published random/expert reference scores for these tasks, this keeps families comparable.
    """
    out = finals.copy()
    grouped = out.groupby("family")["value"]
    low, high = grouped.transform("min"), grouped.transform("max")
    out["score"] = np.where(high > low, (out["value"] - low) / (high - low).where(high > low, 1.0), 1.0)
    return out
