"""Statistics over seeds: final values, bootstrap intervals, aligned curves, IQM.

The interquartile mean and its stratified bootstrap follow Agarwal et al. (2021),
"Deep RL at the Edge of the Statistical Precipice" (the ``rliable`` method). rliable
itself needs ``pandas<3`` through its ``arch`` dependency, so the estimator lives here.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from analysis.query import CELL


def final_values(table: pd.DataFrame) -> pd.DataFrame:
    """The value at each run's last logged step: one row per (run, metric)."""
    if table.empty:
        return table.copy()
    last = table.sort_values("step").groupby(["run_id", "metric"], sort=False).tail(1)
    return last.sort_values([*CELL, "seed", "metric"]).reset_index(drop=True)


def bootstrap_mean_ci(values, confidence: float = 0.95, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    mean, low, high = bootstrap_band(x[:, None], confidence, reps, seed)
    return float(mean[0]), float(low[0]), float(high[0])


def bootstrap_band(
    values: np.ndarray, confidence: float = 0.95, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over rows (seeds) and a percentile-bootstrap CI of it, for every column at once.

    ``values`` is (seeds x points); seeds are resampled with replacement, the same draw for
    every point, so a band is the CI of the mean curve. One seed gives a zero-width band.
    """
    x = np.asarray(values, dtype=float)
    mean = x.mean(axis=0)
    if x.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.shape[0], size=(reps, x.shape[0]))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha], axis=0)
    return mean, low, high


def _check_one_run_per_seed(table: pd.DataFrame, by: list[str]) -> None:
    runs_per_seed = table.groupby([*by, "seed"])["run_id"].nunique()
    twice = runs_per_seed[runs_per_seed > 1]
    if len(twice):
        raise ValueError(
            f"seeds counted more than once (use query.results, which keeps one run per "
            f"(cell, seed)): {twice.index.tolist()}"
        )


def summarize(finals: pd.DataFrame, by: Sequence[str] = tuple(CELL), confidence: float = 0.95) -> pd.DataFrame:
    """Mean over seeds with a bootstrap CI, per cell (default) of final values.

    ``by`` must keep cells apart; a seed with two runs in one group is a ValueError.
    """
    by = list(by)
    _check_one_run_per_seed(finals, by)
    rows = []
    for key, group in finals.groupby(by, sort=True, dropna=False):
        mean, low, high = bootstrap_mean_ci(group["value"], confidence)
        rows.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,))),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "n_seeds": int(group["seed"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=[*by, "mean", "ci_low", "ci_high", "n_seeds"])


def common_grid(runs: list[np.ndarray], points: int, log: bool = False, x_max: float | None = None) -> np.ndarray:
    """A step grid every run covers: from the latest first step to the earliest last step.

    Inside that range every run is interpolated, never extrapolated, and every grid point
    averages the same seeds, so the mean curve has no drops where one seed stops early.
    """
    lo = max(float(r[0]) for r in runs)
    hi = min(float(r[-1]) for r in runs)
    if x_max is not None:
        hi = min(hi, float(x_max))
    if hi < lo:
        return np.array([])
    if hi == lo:
        return np.array([lo])
    if log:
        lo = max(lo, 1.0)
        return np.unique(np.geomspace(lo, hi, points))
    return np.linspace(lo, hi, points)


def align_curves(table: pd.DataFrame, points: int = 50, log: bool = False, x_max: float | None = None) -> pd.DataFrame:
    """Resample each run's curve onto one step grid per (cell, metric) (``common_grid``).

    Seeds collect different numbers of env steps between evaluations (episodes end early on
    termination), so raw steps rarely coincide. ``x_max`` cuts the grid (Figure 3's axis).
    """
    frames = []
    for key, group in table.groupby([*CELL, "metric"], sort=False, dropna=False):
        runs = [(run_id, run.sort_values("step")) for run_id, run in group.groupby("run_id", sort=False)]
        grid = common_grid([r["step"].to_numpy(float) for _, r in runs], points, log, x_max)
        for run_id, run in runs:
            frames.append(
                pd.DataFrame(
                    {
                        "run_id": run_id,
                        **dict(zip([*CELL, "metric"], key)),
                        "seed": run["seed"].iloc[0],
                        "step": grid,
                        "value": np.interp(grid, run["step"].to_numpy(float), run["value"].to_numpy(float)),
                    }
                )
            )
    if not frames:
        return table.iloc[0:0]
    return pd.concat(frames, ignore_index=True)


def curve_band(aligned: pd.DataFrame, confidence: float = 0.95, reps: int = 1000) -> pd.DataFrame:
    """Mean curve and bootstrap band over the seeds of one aligned (cell, metric) group."""
    matrix = aligned.pivot_table(index="run_id", columns="step", values="value")
    mean, low, high = bootstrap_band(matrix.to_numpy(), confidence, reps)
    return pd.DataFrame(
        {"step": matrix.columns.to_numpy(float), "mean": mean, "low": low, "high": high, "n_seeds": matrix.shape[0]}
    )


def mean_curve(table: pd.DataFrame, points: int = 200) -> pd.Series:
    """The across-seed mean of one (cell, metric) group, indexed by step (steps every seed reached)."""
    return align_curves(table, points).groupby("step")["value"].mean()


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


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = interquartile_mean,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
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


def normalise_scores(finals: pd.DataFrame, references: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``score = (return - low) / (high - low)`` with fixed per-task reference scores.

    ``references`` has the ``by`` columns plus ``low`` and ``high`` (rliable's random and
    reference scores); tasks without a usable reference (missing, or ``high <= low``) are
    dropped, never scored by construction.
    """
    ok = references[
        np.isfinite(references["low"]) & np.isfinite(references["high"]) & (references["high"] > references["low"])
    ]
    out = finals.merge(ok[[*by, "low", "high"]], on=list(by), how="inner")
    out["score"] = (out["value"] - out["low"]) / (out["high"] - out["low"])
    return out
