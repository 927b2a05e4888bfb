"""The suite's reference set: the runs behind the README's "Results" (issue 11), at the ``quick`` profile.

* Figure 3 subset: PEARL, RL2-PPO, MAML-TRPO and ProMP on cheetah-vel and cheetah-fwd-back;
* Figures 4 and 7: PEARL and deterministic-z PEARL on sparse-point-robot, goal radius 0.2;
* Figures 5 and 6: the four encoder/context ablations on cheetah-vel (PEARL's cheetah-vel runs
  above are their reference);

seeds 0, 1 and 2 (the ablations seed 0). ``pearl-bench run --reference`` runs it; the finished
runs are shipped, without weights, in ``benchmarks/reference/runs`` (``pearl-bench export``);
``python -m benchmarks.reference_set`` then rewrites the README blocks that mirror them (PEARL vs
each baseline, the final-return table and the list of cells still pending; ``tests/test_reference_results.py``
fails when they disagree).
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.matrix import Cell, plan

PROFILE = "quick"
SHIPPED = Path(__file__).resolve().parent / "reference" / "runs"
REPORT = Path(__file__).resolve().parent / "reference" / "report"

# (figures, methods, families, seeds, overrides)
GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[int, ...], dict], ...] = (
    ("fig3", ("pearl", "rl2-ppo", "maml-trpo", "promp"), ("cheetah-vel", "cheetah-fwd-back"), (0, 1, 2), {}),
    (
        "fig4 fig7",
        ("pearl", "pearl-deterministic"),
        ("sparse-point-robot",),
        (0, 1, 2),
        {"env_kwargs": {"goal_radius": 0.2}},
    ),
    (
        "fig5 fig6",
        ("pearl-rnn-tran", "pearl-rnn-traj", "pearl-ctx-offpolicy", "pearl-ctx-rlbatch"),
        ("cheetah-vel",),
        (0,),
        {},
    ),
)


def reference_cells(profile: str = PROFILE) -> list[Cell]:
    """Every cell of the reference set, each with its config and run key."""
    cells: list[Cell] = []
    for figures, methods, families, seeds, overrides in GROUPS:
        for cell in plan(profile, methods, families, seeds, overrides, grid=True):
            cell.figures = figures.split()
            cell.env_kwargs = dict(overrides.get("env_kwargs") or {})  # shown in the cell's label
            cells.append(cell)
    return cells


README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = ("reference-answer", "reference-final-returns", "reference-pending")


def readme_blocks() -> dict[str, str]:
    """The README blocks that mirror the shipped runs: PEARL vs each baseline, the final-return table and
    the cells still pending."""
    from analysis import query
    from analysis.report import answer_block, final_returns_block
    from benchmarks.store import StoreSpec, completed_runs

    shipped = completed_runs(StoreSpec(results=str(SHIPPED)))
    pending = [f"- {c.label}" for c in reference_cells() if c.run_key not in shipped]
    store = query.open_store(results=SHIPPED)
    return {
        "reference-answer": answer_block(store).strip(),
        "reference-final-returns": final_returns_block(store).strip(),
        "reference-pending": "\n".join(pending or ["- none"]),
    }


def _block_pattern(name: str) -> re.Pattern:
    """``<!-- name:begin -->`` (group 1), the block's body (group 2), ``<!-- name:end -->`` (group 3)."""
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)", re.S)


def readme_block(name: str, readme: Path = README) -> str:
    """The body of the README's block ``name``, stripped; ValueError when the README has no such block."""
    match = _block_pattern(name).search(readme.read_text())
    if not match:
        raise ValueError(f"{readme} has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
    return match.group(2).strip()


def write_readme_blocks(readme: Path = README) -> None:
    """Rewrite the README's reference blocks from the shipped runs (run after ``pearl-bench export``)."""
    text = readme.read_text()
    for name, body in readme_blocks().items():
        readme_block(name, readme)  # the block must exist
        text = _block_pattern(name).sub(lambda m: m.group(1) + body + "\n" + m.group(3), text)
    readme.write_text(text)


if __name__ == "__main__":
    write_readme_blocks()
    print(f"updated {', '.join(BLOCKS)} in {README}")
