"""One folder with every figure and table and an index a person can open."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import query
from analysis.figures import make_figures
from analysis.tables import aggregate_iqm, final_returns, sample_efficiency


def _markdown(table: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    if table.empty:
        return "_no data_\n"
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(store: query.Store, out_dir: str | Path) -> Path:
    """Render all figures and tables into ``out_dir``; returns the path of ``index.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_table = query.runs(store)
    figures = make_figures(store, out)
    tables = {
        "final_returns": ("Final test return per method and family (mean over seeds, bootstrap 95% CI)",
                          final_returns(store)),
        "sample_efficiency": ("Sample efficiency: env steps to reach the other method's level "
                              "(NaN = not reached; speedup = baseline steps to its best / PEARL steps to it)",
                              sample_efficiency(store)),
        "aggregate_iqm": ("Aggregate: IQM of min-max normalised final returns across families "
                          "(stratified bootstrap 95% CI)", aggregate_iqm(store)),
    }
    lines = ["# pearl-bench report", "", f"Source: {store.describe()}; {len(run_table)} runs.", ""]
    if len(run_table):
        counts = run_table.groupby(["method", "family", "status"]).size().reset_index(name="runs")
        lines += ["## Runs", "", _markdown(counts)]
    lines += ["## Figures", ""]
    for fig in figures:
        png = fig.files[0].name
        lines.append(f"### {fig.name}")
        lines.append("")
        lines.append("_No logged runs for this figure._" if fig.empty else f"![{fig.name}]({png})")
        if fig.missing:
            lines.append("")
            lines.append("Missing cells: " + "; ".join(fig.missing))
        lines.append("")
    lines += ["## Tables", ""]
    for name, (title, table) in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
        lines += [f"### {title}", "", f"([{name}.csv]({name}.csv))", "", _markdown(table)]
    index = out / "index.md"
    index.write_text("\n".join(lines))
    return index
