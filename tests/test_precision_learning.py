"""bf16 against float32 on PEARL's learning (issue #12, item 1): the launcher refuses emulated bf16
before any work, a real run lands in the store with its precision, and the comparison pairs the two
precisions over the evaluations both reached."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks import precision_learning as pl
from pearl.core.hardware import cpu_has_bf16


def _curve(run_id, precision, family, seed, returns, iteration_s, status="COMPLETED", cpu="Xeon"):
    rows = [(run_id, RET, 1000 * (i + 1), v) for i, v in enumerate(returns)]
    rows += [(run_id, pl.ITERATION_S, i + 1, iteration_s) for i in range(len(returns))]
    t = pd.DataFrame(rows, columns=["run_id", "metric", "step", "value"])
    return t.assign(
        method="pearl",
        family=family,
        variant="",
        profile="quick",
        seed=seed,
        status=status,
        precision=precision,
        cpu=cpu,
    )


RET = pl.RETURN
ROOT = Path(__file__).resolve().parent.parent


def test_compare_uses_only_the_evaluations_both_precisions_reached():
    table = pd.concat(
        [
            _curve(1, "float32", "point-robot", 0, [-30, -20, -10, -5], 2.0),  # finished
            _curve(2, "bfloat16", "point-robot", 0, [-28, -22], 1.0, status="INTERRUPTED"),  # cut after 2
            _curve(3, "float32", "point-robot", 1, [-40, -30], 2.0),
            _curve(4, "bfloat16", "point-robot", 1, [-20, -10], 0.5),
            _curve(5, "float32", "cheetah-vel", 0, [-300], 4.0),  # no bf16 partner: left out
        ]
    )
    pairs = pl.compare(table).set_index("seed")
    assert list(pairs.index) == [0, 1] and set(pairs["family"]) == {"point-robot"}
    assert pairs.loc[0, "evals"] == 2 and pairs.loc[0, "env_steps"] == 2000
    assert pairs.loc[0, "last_f32"] == -20 and pairs.loc[0, "last_bf16"] == -22  # not float32's -5 at 4000
    assert pairs.loc[0, "mean_f32"] == -25 and pairs.loc[0, "mean_bf16"] == -25
    assert pairs.loc[0, "status_bf16"] == "INTERRUPTED"
    s = pl.summary(pairs.reset_index()).iloc[0]
    assert s["seeds"] == 2 and s["evals"] == 2
    assert s["d_last"] == pytest.approx(((-22 + 20) + (-10 + 30)) / 2)
    assert s["d_mean"] == pytest.approx((0 + (-15 + 35)) / 2)
    assert s["speedup"] == pytest.approx((2.0 + 4.0) / 2)


@pytest.mark.skipif(cpu_has_bf16(), reason="this CPU has native bf16, so nothing is refused")
def test_launcher_refuses_emulated_bf16_before_running_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        pl.main(
            ["--results", str(tmp_path / "store"), "--profile", "smoke", "--families", "point-robot", "--seeds", "0"]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "bfloat16" in err and "precision=float32" in err
    assert not (tmp_path / "store").exists()


def test_a_real_run_lands_in_the_store_with_its_precision(tmp_path):
    """The launcher's matrix (float32 side only, so it runs on any CPU) writes a run the comparison reads."""
    codes = pl.run_matrices(tmp_path, ["point-robot"], [0], "smoke", 1, None, precisions=("float32",))
    assert codes == {"float32": 0}
    table = pl.curves(tmp_path)
    assert set(table["precision"]) == {"float32"} and set(table["status"]) == {"COMPLETED"}
    assert {pl.RETURN, pl.ITERATION_S} <= set(table["metric"])
    assert pl.compare(table).empty  # no bf16 partner yet


def test_readme_numbers_are_the_shipped_precision_runs():
    """The README's bf16 paragraph quotes ``compare``/``summary`` of ``benchmarks/reference/precision``;
    they cannot drift apart."""
    pairs = pl.compare(pl.curves(ROOT / "benchmarks" / "reference" / "precision")).sort_values("seed")
    assert set(pairs["family"]) == {"point-robot", "cheetah-vel", "sparse-point-robot"}
    readme = " ".join((ROOT / "README.md").read_text().split())
    by_family = pl.summary(pairs).set_index("family")

    def signed(x: float, digits: int = 1) -> str:
        return pl.readme_number(x, digits, signed=True)

    def seeds(family: str, kind: str) -> str:
        rows = pairs[pairs["family"] == family]
        return ", ".join(signed(v) for v in rows[f"{kind}_bf16"] - rows[f"{kind}_f32"])

    pr, cv, sp = (by_family.loc[f] for f in ("point-robot", "cheetah-vel", "sparse-point-robot"))
    for phrase in (
        f"point-robot {signed(pr['d_last'])} at the last common evaluation (seeds {seeds('point-robot', 'last')};",
        f"and {signed(pr['d_mean'])} in mean return over all of them ({seeds('point-robot', 'mean')});",
        f"cheetah-vel {signed(cv['d_last'])} ({seeds('cheetah-vel', 'last')};",
        f"and {signed(cv['d_mean'])} ({seeds('cheetah-vel', 'mean')}); sparse",
        f"sparse {signed(sp['d_last'], 2)} and {signed(sp['d_mean'], 2)}.",
        f"({pr['speedup']:.2f}\u00d7 and {cv['speedup']:.2f}\u00d7 of float32's seconds per iteration",
        f"and {sp['speedup']:.1f}\u00d7 on sparse-point-robot;",
    ):
        assert phrase in readme, phrase


def test_markdown_rows_give_mean_and_seeds_and_no_speed_ratio_across_cpus():
    table = pd.concat(
        [
            _curve(1, "float32", "point-robot", 0, [-30, -20], 2.0),
            _curve(2, "bfloat16", "point-robot", 0, [-28, -22], 1.0),
            _curve(3, "float32", "point-robot", 1, [-40, -30], 2.0),
            _curve(4, "bfloat16", "point-robot", 1, [-20, -10], 0.5),
            _curve(5, "float32", "sparse-point-robot", 0, [0.5, 1.25], 4.0, cpu="EPYC"),
            _curve(6, "bfloat16", "sparse-point-robot", 0, [0.0, 1.0], 2.0),
        ]
    )
    rows = pl.markdown_rows(pl.compare(table))
    assert rows == [
        "| point-robot | 0, 1 | 2, to 2,000 | −25.0 (−20.0, −30.0) | −16.0 (−22.0, −10.0) "
        "| +9.0 (−2.0, +20.0) | +10.0 (+0.0, +20.0) | 3.00× |",
        "| sparse-point-robot | 0 | 2, to 2,000 | 1.25 (1.25) | 1.00 (1.00) | −0.25 (−0.25) "
        "| −0.38 (−0.38) | not side by side (float32 on EPYC) |",
    ]
    assert pl.MARKDOWN_HEADER.count("|---") == rows[0].count(" | ") + 1


def test_readme_table_is_the_shipped_full_length_precision_runs():
    """The README's full-length bf16 table is ``--markdown`` of ``benchmarks/reference/precision_full``: every
    run there COMPLETED, both precisions on seeds 0-2 of the three families, compared over all evaluations."""
    table = pl.curves(ROOT / "benchmarks" / "reference" / "precision_full")
    assert set(table["status"]) == {"COMPLETED"}
    pairs = pl.compare(table)
    assert set(pairs["family"]) == set(pl.DEFAULT_FAMILIES)
    assert all(sorted(fam["seed"]) == [0, 1, 2] for _, fam in pairs.groupby("family"))
    readme = (ROOT / "README.md").read_text()
    for line in [*pl.MARKDOWN_HEADER.splitlines(), *pl.markdown_rows(pairs)]:
        assert line in readme, line
