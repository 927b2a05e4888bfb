"""The shipped reference runs (``benchmarks/reference/runs``) and the README's "Results" cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import query
from analysis.report import answer_block, final_returns_block
from benchmarks.export import export_runs, store_size
from benchmarks.matrix import run_key_of_command
from benchmarks.reference_set import PROFILE, SHIPPED, readme_block, readme_blocks, reference_cells
from benchmarks.runkey import run_key


def _shipped_runs() -> dict[int, dict]:
    runs = {}
    for run_dir in sorted(p for p in SHIPPED.iterdir() if p.name.isdigit()):
        runs[int(run_dir.name)] = {
            name: json.loads((run_dir / f"{name}.json").read_text()) for name in ("config", "run", "info")
        }
        runs[int(run_dir.name)]["files"] = sorted(p.name for p in run_dir.iterdir())
    return runs


def test_shipped_runs_are_completed_reference_cells_without_weights():
    cells = {c.run_key: c for c in reference_cells()}
    runs = _shipped_runs()
    assert runs, f"no runs shipped in {SHIPPED}"
    for run_id, run in runs.items():
        key = run_key(run["config"])
        assert key in cells, f"run {run_id} ({key}) is not a cell of the reference set"
        assert run["run"]["status"] == "COMPLETED" and run["config"]["profile"] == PROFILE
        assert run_key_of_command(run["info"]["command"]) == key  # its recorded command reproduces it
        assert not [f for f in run["files"] if f.endswith((".pt", ".npz"))], run["files"]
        if run["config"]["family"] == "sparse-point-robot":
            assert "eval_paths.json" in run["files"]  # Figure 4's paths
    assert len({run_key(r["config"]) for r in runs.values()}) == len(runs)  # each cell once
    assert store_size(SHIPPED) <= 25 * 2**20


def _cells_not_shipped() -> list[str]:
    shipped = {run_key(r["config"]) for r in _shipped_runs().values()}
    return [c.label for c in reference_cells() if c.run_key not in shipped]


def test_every_reference_cell_is_shipped():
    """The set is complete: each cell of ``reference_cells()`` (Figures 3-7, seeds as listed) has its
    COMPLETED run in the shipped store, so every figure and table is drawn from the whole set."""
    missing = _cells_not_shipped()
    assert not missing, f"reference cells without a shipped run: {missing}"
    assert len(reference_cells()) == 34


def test_readme_lists_exactly_the_reference_cells_not_shipped_yet():
    pending = [f"- {label}" for label in _cells_not_shipped()]
    assert readme_block("reference-pending").splitlines() == (pending or ["- none"]), (
        "run `python -m benchmarks.reference_set` to update README.md"
    )
    assert readme_blocks()["reference-pending"] == readme_block("reference-pending")


def test_readme_final_returns_are_the_shipped_runs():
    store = query.open_store(results=SHIPPED)
    assert not store.problems
    assert readme_block("reference-final-returns") == final_returns_block(store).strip(), (
        "run `python -m benchmarks.reference_set` to update README.md"
    )


def test_readme_answer_table_is_the_shipped_runs():
    store = query.open_store(results=SHIPPED)
    block = readme_block("reference-answer")
    assert block == answer_block(store).strip(), "run `python -m benchmarks.reference_set` to update README.md"
    counted = query.counted_runs(store)
    cells = set(zip(counted["method"], counted["family"]))
    compared = {(m, f) for m, f in cells if m in ("rl2-ppo", "maml-trpo", "promp") and ("pearl", f) in cells}
    assert len(compared) == 6  # the Figure 3 subset: three baselines on two families, all shipped
    assert len(block.splitlines()) == 2 + len(compared)  # a header, a rule and one row per pair


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory) -> Path:
    """A store with one COMPLETED smoke run (checkpoints, model and eval paths included) and one FAILED run."""
    from benchmarks.cli import main

    results = tmp_path_factory.mktemp("store")
    assert (
        main(["train", "pearl", "sparse-point-robot", "--profile", "smoke", "--results", str(results), "--no-progress"])
        == 0
    )
    failed = results / "99"
    failed.mkdir()
    (failed / "config.json").write_text((results / "1" / "config.json").read_text())
    (failed / "run.json").write_text(json.dumps({"status": "FAILED"}))
    return results


def test_export_copies_completed_runs_once_and_leaves_weights_behind(tmp_path, smoke_store):
    out = tmp_path / "shipped"
    assert {p.suffix for p in (smoke_store / "1").iterdir()} >= {".pt", ".npz"}
    first = export_runs(smoke_store, out, profile="smoke")
    assert [item.source_id for item in first] == [1]  # not the FAILED run
    assert export_runs(smoke_store, tmp_path / "none", profile="quick") == []
    assert export_runs(smoke_store, out, profile="smoke") == []  # already there: not copied again
    for run_dir in (out / str(item.dest_id) for item in first):
        names = {p.name for p in run_dir.iterdir()}
        assert names <= {"config.json", "run.json", "info.json", "metrics.json", "eval_paths.json"}
        assert "checkpoint_dir" not in json.loads((run_dir / "info.json").read_text())
    assert len(query.runs(query.open_store(results=out))) == len(first)
    with pytest.raises(ValueError, match="over --max-mb 0.001"):
        export_runs(smoke_store, tmp_path / "tiny", max_mb=0.001)
