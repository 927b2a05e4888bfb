"""Tables the paper's claims rest on, computed from logged runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import query
from analysis.metrics import RETURN_METRIC, STATUS
from analysis.stats import final_values, mean_curve, normalise_scores, stratified_bootstrap_ci, steps_to_reach, summarize


def final_returns(store: query.Store, metric: str = RETURN_METRIC, **filters) -> pd.DataFrame:
    """Final return per (method, family): mean over seeds and a bootstrap 95% CI."""
    finals = final_values(query.metrics(store, metric, **{"status": STATUS, **filters}))
    if finals.empty:
        return pd.DataFrame(columns=["method", "family", "mean", "ci_low", "ci_high", "n_seeds"])
    return summarize(finals)


def sample_efficiency(store: query.Store, reference: str = "pearl", metric: str = RETURN_METRIC,
                      **filters) -> pd.DataFrame:
    """The paper's "20-100x" claim, per (baseline, family), from the across-seed mean curves.

    ``baseline_steps_to_ref_final``: env steps the baseline needs to reach the reference
    method's final return; ``ref_steps_to_baseline_best``: env steps the reference needs to
    reach the baseline's best return; ``speedup`` = the ratio of the two when both are reached,
    i.e. how many times fewer samples the reference needs for the baseline's best. NaN means
    "not reached" (``reached`` says which).
    """
    table = query.metrics(store, metric, **{"status": STATUS, **filters})
    columns = ["baseline", "family", "ref_final", "baseline_best", "baseline_steps_to_ref_final",
               "ref_steps_to_baseline_best", "baseline_steps_to_best", "speedup", "reached"]
    rows = []
    for family, fam in table.groupby("family"):
        ref = fam[fam["method"] == reference]
        if ref.empty:
            continue
        ref_curve = mean_curve(ref)
        ref_final = float(final_values(ref)["value"].mean())
        for baseline, base in fam[fam["method"] != reference].groupby("method"):
            curve = mean_curve(base)
            best = float(curve.max())
            base_to_ref = steps_to_reach(curve, ref_final)
            ref_to_best = steps_to_reach(ref_curve, best)
            base_to_best = float(curve.idxmax())
            speedup = base_to_best / ref_to_best if np.isfinite(ref_to_best) and ref_to_best > 0 else np.nan
            reached = []
            reached.append("baseline reached ref final" if np.isfinite(base_to_ref) else "baseline: not reached")
            reached.append("ref reached baseline best" if np.isfinite(ref_to_best) else "ref: not reached")
            rows.append([baseline, family, ref_final, best, base_to_ref, ref_to_best, base_to_best, speedup,
                         "; ".join(reached)])
    return pd.DataFrame(rows, columns=columns)


def aggregate_iqm(store: query.Store, metric: str = RETURN_METRIC, reps: int = 2000, **filters) -> pd.DataFrame:
    """Interquartile mean of min-max normalised final scores across families, per method,
    with a stratified-bootstrap 95% CI (runs resampled within each family)."""
    finals = final_values(query.metrics(store, metric, **{"status": STATUS, **filters}))
    if finals.empty:
        return pd.DataFrame(columns=["method", "iqm", "ci_low", "ci_high", "n_families", "n_runs"])
    scored = normalise_scores(finals)
    rows = []
    for method, group in scored.groupby("method"):
        matrix = group.pivot_table(index="seed", columns="family", values="score", aggfunc="mean")
        iqm, low, high = stratified_bootstrap_ci(matrix.to_numpy(), reps=reps)
        rows.append([method, iqm, low, high, matrix.shape[1], len(group)])
    return pd.DataFrame(rows, columns=["method", "iqm", "ci_low", "ci_high", "n_families", "n_runs"])
