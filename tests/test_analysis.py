"""Queries, tables and figures over runs written through real Sacred observers.

Synthetic runs with known metrics go through Sacred's FileStorageObserver (the embedded
store) and its MongoObserver backed by mongomock; the analysis must give back exactly
those numbers, and the hand-computed sample-efficiency and IQM values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sacred import Experiment
from sacred.observers import FileStorageObserver, MongoObserver

from analysis import query
from analysis.figures import make_figures
from analysis.metrics import ADAPTATION_PREFIX, EVAL_PATHS_ARTIFACT, RETURN_METRIC
from analysis.reference import random_policy_return
from analysis.report import write_report
from analysis.stats import align_curves, curve_band, interquartile_mean, stratified_bootstrap_ci
from analysis.tables import aggregate_iqm, final_returns, sample_efficiency

PEARL_STEPS = np.arange(0, 100_001, 10_000)
BASE_STEPS = np.arange(0, 1_000_001, 100_000)


def pearl_curve(steps, seed):
    return steps / 1000.0 + (seed - 1)  # final 100 (+/- 1 across seeds), mean final exactly 100


def baseline_curve(steps, seed, scale):
    return steps / scale + (seed - 1)


def synthetic_cells():
    """(config, metrics {name: (steps, values)}, artifact) for every synthetic run."""
    cells = []
    for seed in (0, 1, 2):
        for family in ("cheetah-vel", "ant-goal-2d"):
            offset = 0.0 if family == "cheetah-vel" else -200.0
            cells.append(
                (
                    {"method": "pearl", "family": family, "seed": seed},
                    {RETURN_METRIC: (PEARL_STEPS, pearl_curve(PEARL_STEPS, seed) + offset)},
                    None,
                )
            )
            cells.append(
                (
                    {"method": "maml-trpo", "family": family, "seed": seed},
                    {RETURN_METRIC: (BASE_STEPS, baseline_curve(BASE_STEPS, seed, 20_000) + offset)},
                    None,
                )
            )
            cells.append(
                (
                    {"method": "rl2-ppo", "family": family, "seed": seed},
                    {RETURN_METRIC: (BASE_STEPS, baseline_curve(BASE_STEPS, seed, 5_000) + offset)},
                    None,
                )
            )
        for method in ("pearl-rnn-tran", "pearl-ctx-rlbatch"):
            cells.append(
                (
                    {"method": method, "family": "cheetah-vel", "seed": seed},
                    {RETURN_METRIC: (PEARL_STEPS, pearl_curve(PEARL_STEPS, seed) / 2)},
                    None,
                )
            )
        for method in ("pearl", "pearl-deterministic"):
            for radius in (0.2, 0.8):
                metrics = {RETURN_METRIC: (PEARL_STEPS, PEARL_STEPS / 1e4 * (radius + (method == "pearl")))}
                for k in range(1, 7):
                    metrics[f"{ADAPTATION_PREFIX}{k}"] = (PEARL_STEPS, np.full(len(PEARL_STEPS), k * radius + seed))
                paths = [
                    {
                        "goal": [np.cos(a), np.sin(a)],
                        "episodes": [[[0, 0], [0.5 * np.cos(a + e), 0.5 * np.sin(a + e)]] for e in (-0.5, 0, 0.5)],
                    }
                    for a in (0.3, 1.5, 2.8)
                ]
                cells.append(
                    (
                        {
                            "method": method,
                            "family": "sparse-point-robot",
                            "seed": seed,
                            "env_kwargs": {"goal_radius": radius},
                        },
                        metrics,
                        paths,
                    )
                )
    return cells


_CURRENT: dict = {}  # the synthetic cell the next run logs


def make_experiment() -> Experiment:
    ex = Experiment("synthetic", save_git_info=False)

    @ex.config
    def config():
        method = "pearl"  # noqa: F841
        family = "cheetah-vel"  # noqa: F841
        seed = 0  # noqa: F841
        env_kwargs = {"goal_radius": None}  # noqa: F841  (None: not set; sparse runs set it)
        algo = {"kl_lambda": 0.1, "sparse_rewards": False}  # noqa: F841
        profile = "paper"  # noqa: F841

    @ex.main
    def main(_run, _config):
        if _CURRENT.get("fail"):
            raise RuntimeError("boom")
        for name, (steps, values) in _CURRENT["metrics"].items():
            for step, value in zip(steps, values):
                _run.log_scalar(name, float(value), int(step))
        if _CURRENT["paths"] is not None:
            path = Path(_CURRENT["tmp"]) / EVAL_PATHS_ARTIFACT
            path.write_text(json.dumps(_CURRENT["paths"]))
            _run.add_artifact(str(path), name=EVAL_PATHS_ARTIFACT)

    return ex


def write_runs(observer, tmp: Path) -> None:
    ex = make_experiment()
    ex.observers = [observer]
    for config, metrics, paths in synthetic_cells():
        _CURRENT.update(metrics=metrics, paths=paths, tmp=str(tmp), fail=False)
        ex.run(config_updates=config, options={"--loglevel": "ERROR"})
    _CURRENT["fail"] = True  # one failed run that the status filter must be able to separate
    with pytest.raises(RuntimeError):
        ex.run(config_updates={"method": "promp", "family": "cheetah-vel", "seed": 0}, options={"--loglevel": "ERROR"})


@pytest.fixture(scope="module")
def file_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("results")
    write_runs(FileStorageObserver(str(path)), tmp_path_factory.mktemp("artifacts"))
    return query.FileStore(path)


@pytest.fixture(scope="module")
def mongo_store(tmp_path_factory):
    import gridfs
    import mongomock
    import mongomock.gridfs

    mongomock.gridfs.enable_gridfs_integration()
    db = mongomock.MongoClient()["pearl_bench"]
    observer = MongoObserver.create_from(db["runs"], gridfs.GridFS(db), metrics_collection=db["metrics"])
    write_runs(observer, tmp_path_factory.mktemp("artifacts"))
    return query.MongoStore(db)


@pytest.fixture(params=["file", "mongo"])
def store(request, file_store, mongo_store):
    return file_store if request.param == "file" else mongo_store


N_GOOD_RUNS = len(synthetic_cells())


def test_runs_table(store):
    table = query.runs(store)
    assert len(table) == N_GOOD_RUNS + 1
    assert {
        "run_id",
        "method",
        "family",
        "seed",
        "status",
        "host",
        "cpu",
        "start_time",
        "stop_time",
        "config.algo.kl_lambda",
        "config.env_kwargs.goal_radius",
    } <= set(table.columns)
    assert (table["status"] == "COMPLETED").sum() == N_GOOD_RUNS
    failed = query.runs(store, status="FAILED")
    assert failed[["method", "family", "seed"]].values.tolist() == [["promp", "cheetah-vel", 0]]


def test_filters(store):
    table = query.runs(store, method=["pearl", "rl2-ppo"], family="cheetah-vel", seed=[0, 2])
    assert sorted(map(tuple, table[["method", "seed"]].values.tolist())) == [
        ("pearl", 0),
        ("pearl", 2),
        ("rl2-ppo", 0),
        ("rl2-ppo", 2),
    ]
    wide = query.runs(store, family="sparse-point-robot", config={"env_kwargs.goal_radius": 0.8})
    assert len(wide) == 6 and set(wide["config.env_kwargs.goal_radius"]) == {0.8}
    assert query.runs(store, method="nonexistent").empty


def test_metrics_are_exactly_what_was_logged(store):
    table = query.metrics(store, RETURN_METRIC, method="pearl", family="cheetah-vel")
    assert list(table.columns) == query.METRIC_COLUMNS
    assert len(table) == 3 * len(PEARL_STEPS)
    for seed, run in table.groupby("seed"):
        np.testing.assert_array_equal(run["step"].to_numpy(), PEARL_STEPS)
        np.testing.assert_array_equal(run["value"].to_numpy(), pearl_curve(PEARL_STEPS, seed))


def test_final_returns_table(store):
    table = final_returns(store, family="cheetah-vel").set_index("method")
    assert table.loc["pearl", "mean"] == pytest.approx(100.0)
    assert table.loc["maml-trpo", "mean"] == pytest.approx(50.0)
    assert table.loc["rl2-ppo", "mean"] == pytest.approx(200.0)
    assert table.loc["pearl", "ci_low"] <= 100.0 <= table.loc["pearl", "ci_high"]
    assert table.loc["pearl", "ci_low"] >= 99.0 and table.loc["pearl", "ci_high"] <= 101.0
    assert (table["n_seeds"] == 3).all()


def test_sample_efficiency_matches_hand_computation(store):
    table = sample_efficiency(store, family="cheetah-vel").set_index("baseline")
    # maml-trpo: mean curve step/20000 tops out at 50 at 1e6 steps; PEARL (step/1000) reaches 50 at 5e4.
    assert set(table.index) == {"maml-trpo", "rl2-ppo"}  # ablations are not baselines
    maml = table.loc["maml-trpo"]
    assert maml["pearl_final"] == pytest.approx(100.0)
    assert maml["baseline_best"] == pytest.approx(50.0)
    assert pd.isna(maml["baseline_steps_to_pearl_final"])  # never reaches PEARL's 100
    assert maml["pearl_steps_to_baseline_best"] == pytest.approx(50_000, rel=0.01)
    assert maml["speedup"] == pytest.approx(20.0, rel=0.01)
    assert str(table["pearl_steps_to_baseline_best"].dtype) == "Int64"  # env steps are integers
    # rl2-ppo: step/5000 reaches PEARL's final 100 at 5e5 steps; its best (200) is beyond PEARL.
    rl2 = table.loc["rl2-ppo"]
    assert rl2["baseline_steps_to_pearl_final"] == pytest.approx(500_000, rel=0.01)
    assert pd.isna(rl2["pearl_steps_to_baseline_best"]) and np.isnan(rl2["speedup"])


def test_iqm_estimator_hand_cases():
    assert interquartile_mean(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert interquartile_mean(np.array([[0.0, 10.0], [1.0, 2.0]])) == pytest.approx(1.5)  # 0 1 | 2 10 -> 1, 2
    constant = np.full((3, 2), 0.7)
    assert stratified_bootstrap_ci(constant, reps=50) == pytest.approx((0.7, 0.7, 0.7))
    scores = np.array([[0.0, 1.0], [0.5, 1.0], [1.0, 1.0]])
    point, low, high = stratified_bootstrap_ci(scores, reps=500)
    assert point == pytest.approx(interquartile_mean(scores))
    assert low <= point <= high and high <= 1.0


def test_iqm_table(store):
    result = aggregate_iqm(
        store, family=["cheetah-vel", "ant-goal-2d"], method=["pearl", "maml-trpo", "rl2-ppo"], reps=200
    )
    table = result.main.set_index("method")
    # per family, finals are: rl2 199..201 (mean 200: the high reference), pearl 99..101, maml 49..51, all
    # offset by -200 on ant-goal-2d; the low reference is a random policy's return on the family
    assert table.loc["rl2-ppo", "iqm"] > table.loc["pearl", "iqm"] > table.loc["maml-trpo", "iqm"]
    scores = []
    for family, offset in (("cheetah-vel", 0.0), ("ant-goal-2d", -200.0)):
        low = random_policy_return(family, (), 200, False)
        assert low < -50 + offset  # a random policy is far below every synthetic method
        scores += list((np.array([99.0, 100.0, 101.0]) + offset - low) / (200.0 + offset - low))
    assert table.loc["pearl", "iqm"] == pytest.approx(interquartile_mean(np.array(scores)))
    assert (table["n_tasks"] == 2).all()
    refs = result.references.set_index("family")
    assert refs.loc["cheetah-vel", "high"] == pytest.approx(200.0)  # the best main method's mean, fixed
    # the ablations sit in their own table, each next to PEARL on its own family
    ablations = aggregate_iqm(store, family="cheetah-vel", reps=50).ablations
    assert set(ablations["ablation"]) == {"pearl-rnn-tran", "pearl-ctx-rlbatch"}
    assert set(ablations["method"]) == {"pearl", "pearl-rnn-tran", "pearl-ctx-rlbatch"}


def test_empty_store(tmp_path):
    empty = query.FileStore(tmp_path)
    assert query.runs(empty).empty and query.metrics(empty, RETURN_METRIC).empty
    results = make_figures(empty, tmp_path / "figs", only=["fig3"])
    assert results[0].empty and results[0].files[0].exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        query.FileStore(tmp_path / "nope")


@pytest.fixture(scope="module")
def rendered(file_store, tmp_path_factory):
    """The report of the file store, written once: (its index.md, the figures it drew, in order).

    ``write_report`` draws every figure through ``make_figures``; a spy keeps what it returned, so the
    figures are rendered once for both the figure and the report checks."""
    import analysis.report

    drawn = []

    def spy(*args, **kwargs):
        figures = make_figures(*args, **kwargs)
        drawn.extend(figures)
        return figures

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analysis.report, "make_figures", spy)
        index = write_report(file_store, tmp_path_factory.mktemp("rendered") / "report")
    return index, drawn


def test_figures_render(rendered):
    results = {r.name: r for r in rendered[1]}
    assert set(results) == {"fig3", "fig4", "fig5", "fig6", "fig7", "fig9"}
    for result in results.values():
        assert not result.empty, result.name
        png, pdf = result.files
        assert png.stat().st_size > 10_000 and pdf.exists()
        width, height = Image.open(png).size
        assert width > 300 and height > 200
    # Figure 3 has data for two of six families and no ProMP at all: the gaps are listed, not invented
    assert "promp / cheetah-vel" in results["fig3"].missing
    assert "pearl / humanoid-dir-2d" in results["fig3"].missing
    assert "pearl / cheetah-vel" not in results["fig3"].missing
    assert results["fig5"].missing == ["pearl-rnn-traj / cheetah-vel"]
    assert results["fig4"].missing == [] and results["fig7"].missing == []


def test_figure3_panels_limited_to_the_given_families(file_store, tmp_path):
    (fig3,) = make_figures(file_store, tmp_path, only=["fig3"], families=["cheetah-vel"])
    assert not fig3.empty and fig3.missing == ["promp / cheetah-vel"]  # no other family is expected
    with pytest.raises(
        ValueError, match="sparse-point-robot: Figures 3 and 9 draw MuJoCo families only; valid families: cheetah-vel"
    ):
        make_figures(file_store, tmp_path, only=["fig3"], families=["sparse-point-robot"])


def test_the_same_runs_draw_the_same_bytes(file_store, tmp_path):
    """A regenerated report changes in git only where its runs changed (no creation date in the PDF)."""
    first, second = (make_figures(file_store, tmp_path / d, only=["fig3"], families=["cheetah-vel"])[0] for d in "ab")
    for a, b in zip(first.files, second.files):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_unknown_figure(file_store, tmp_path):
    with pytest.raises(ValueError, match="unknown figure.*valid figures: fig3"):
        make_figures(file_store, tmp_path, only=["fig8"])


def test_report(rendered):
    index = rendered[0]
    text = index.read_text()
    assert "fig3.png" in text and "Sample efficiency" in text and "IQM" in text
    assert (index.parent / "final_returns.csv").exists()
    finals = pd.read_csv(index.parent / "final_returns.csv")
    assert len(finals) > 0
    # the synthetic store has PEARL, RL² and MAML-TRPO on two families: four (task, baseline) rows
    answer = pd.read_csv(index.parent / "pearl_vs_baselines.csv")
    assert sorted(answer["baseline"].unique()) == ["maml-trpo", "rl2-ppo"] and len(answer) == 4
    assert "## PEARL vs on-policy meta-RL" in text


# ------------------------------------------------------------------------------ command line
def test_cli_query_runs_and_final_values(file_store, capsys):
    from benchmarks.cli import main

    assert main(["query", "--results", str(file_store.path), "--methods", "pearl", "--families", "cheetah-vel"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:7] == ["run_id", "method", "family", "variant", "profile", "seed", "status"]
    assert len(out) == 4
    assert (
        main(
            [
                "query",
                "--results",
                str(file_store.path),
                "--metric",
                RETURN_METRIC,
                "--families",
                "cheetah-vel",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out)).set_index("method")
    assert table.loc["pearl", "mean"] == pytest.approx(100.0) and table.loc["maml-trpo", "mean"] == pytest.approx(50.0)
    assert (
        main(["query", "--results", str(file_store.path), "--where", "env_kwargs.goal_radius=0.8", "--format", "json"])
        == 0
    )
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 6 and {r["family"] for r in records} == {"sparse-point-robot"}


def test_cli_figures_and_report(file_store, tmp_path, capsys):
    from benchmarks.cli import main

    assert main(["figures", "--results", str(file_store.path), "--out", str(tmp_path / "f"), "--only", "fig5"]) == 0
    out = capsys.readouterr().out
    assert "fig5: ok" in out and "missing cells: pearl-rnn-traj / cheetah-vel" in out
    assert (tmp_path / "f" / "fig5.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["figures", "--results", str(empty), "--out", str(tmp_path / "g"), "--only", "fig7"]) == 0
    captured = capsys.readouterr()
    assert "fig7: NO DATA" in captured.out and "no logged runs for any requested figure" in captured.err
    assert main(["query", "--results", str(empty)]) == 1
    assert "no runs match" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["query", "--results", "/nonexistent/results"], "results directory '/nonexistent/results' does not exist"),
        (["query", "--mongo", "localhost:27017"], "malformed MongoDB URL 'localhost:27017'"),
        (["query", "--where", "seed"], "malformed --where 'seed'; expected KEY=VALUE"),
    ],
)
def test_cli_bad_input(argv, message, capsys, tmp_path):
    from benchmarks.cli import main

    if "--where" in argv:
        argv = argv + ["--results", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pearl-bench: error: ") and message in err[0]


def test_profiles_never_mix(tmp_path, capsys):
    from benchmarks.cli import main

    ex = make_experiment()
    ex.observers = [FileStorageObserver(str(tmp_path / "results"))]
    steps = np.array([0, 10, 20])
    for profile, value in (("smoke", 1.0), ("quick", 5.0)):
        _CURRENT.update(metrics={RETURN_METRIC: (steps, np.full(3, value))}, paths=None, tmp=str(tmp_path), fail=False)
        ex.run(
            config_updates={"method": "pearl", "family": "cheetah-vel", "seed": 0, "profile": profile},
            options={"--loglevel": "ERROR"},
        )
    store = query.FileStore(tmp_path / "results")
    with pytest.raises(ValueError, match=r"several profiles \(quick, smoke\); choose one with --profile"):
        query.for_profile(store, None)
    quick = query.for_profile(store, "quick")
    assert final_returns(quick)["mean"].tolist() == [5.0]
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "r")]) == 2
    assert "choose one with --profile" in capsys.readouterr().err
    assert (
        main(
            [
                "figures",
                "--results",
                str(tmp_path / "results"),
                "--out",
                str(tmp_path / "f"),
                "--profile",
                "smoke",
                "--only",
                "fig5",
            ]
        )
        == 0
    )


# ------------------------------------------------------------------ cells, attempts, bad files (issues 10, 14)
def small_store(path: Path, runs) -> query.FileStore:
    """A store of ``(config, steps, values)`` runs of ``test/return``, logged in order through Sacred."""
    ex = make_experiment()
    ex.observers = [FileStorageObserver(str(path))]
    for config, steps, values in runs:
        _CURRENT.update(
            metrics={RETURN_METRIC: (np.asarray(steps), np.asarray(values, dtype=float))},
            paths=None,
            tmp=str(path),
            fail=False,
        )
        ex.run(config_updates={"profile": "smoke", **config}, options={"--loglevel": "ERROR"})
    return query.FileStore(path)


def test_two_variants_of_one_family_are_never_pooled(store, capsys):
    table = final_returns(store, family="sparse-point-robot", method="pearl").set_index("variant")
    # adaptation aside, pearl's return is steps/1e4 * (radius + 1): final 12 at radius 0.2, 18 at 0.8
    assert table.loc["goal_radius=0.2", "mean"] == pytest.approx(12.0)
    assert table.loc["goal_radius=0.8", "mean"] == pytest.approx(18.0)
    assert (table["n_seeds"] == 3).all() and (table["profile"] == "paper").all()


def test_cli_metric_is_per_cell_and_an_unknown_metric_is_bad_input(file_store, capsys):
    from benchmarks.cli import main

    assert (
        main(
            [
                "query",
                "--results",
                str(file_store.path),
                "--metric",
                RETURN_METRIC,
                "--methods",
                "pearl",
                "--families",
                "sparse-point-robot",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert table["variant"].tolist() == ["goal_radius=0.2", "goal_radius=0.8"] and (table["n_seeds"] == 3).all()
    assert main(["query", "--results", str(file_store.path), "--metric", "test/retrun"]) == 2
    err = capsys.readouterr().err
    assert "unknown metric 'test/retrun'" in err and RETURN_METRIC in err


def test_a_constant_return_method_does_not_score_one_by_construction(tmp_path):
    radius = {"family": "sparse-point-robot", "env_kwargs": {"goal_radius": 0.2}, "algo": {"sparse_rewards": True}}
    runs = [
        ({"method": m, "seed": s, **radius}, [0, 20, 40], [0.0, 0.0, 0.0])
        for m in ("pearl", "pearl-deterministic")
        for s in (0, 1)
    ]
    runs += [
        ({"method": m, "family": "cheetah-vel", "seed": s}, [0, 200, 400], [v, v, v])
        for m, v in (("pearl", -50.0), ("rl2-ppo", 0.0))
        for s in (0, 1)
    ]
    result = aggregate_iqm(small_store(tmp_path, runs), reps=50)
    # sparse: every return is 0, no better than a random policy: left out with a note, not scored 1.0
    assert any("sparse-point-robot goal_radius=0.2" in n and "cannot be normalised" in n for n in result.notes)
    assert result.ablations.empty
    # cheetah-vel: PEARL's constant -50 lies between the random policy and RL²'s 0, so strictly inside (0, 1)
    pearl = result.main.set_index("method").loc["pearl"]
    assert 0.0 < pearl["iqm"] < 1.0 and pearl["tasks"] == "cheetah-vel smoke"


def test_runs_with_different_eval_steps_share_one_monotone_grid():
    steps = {0: [0, 100, 200, 300], 1: [0, 90, 210, 280], 2: [10, 120, 190, 310]}  # e.g. early terminations
    table = pd.DataFrame(
        [
            {
                "run_id": seed,
                "method": "pearl",
                "family": "walker-params",
                "variant": "",
                "profile": "smoke",
                "seed": seed,
                "metric": RETURN_METRIC,
                "step": x,
                "value": x + seed,
            }
            for seed, xs in steps.items()
            for x in xs
        ]
    )
    aligned = align_curves(table, points=25)
    grids = [run["step"].to_numpy() for _, run in aligned.groupby("run_id")]
    assert all(np.array_equal(g, grids[0]) for g in grids)  # one grid shared by every seed
    assert np.all(np.diff(grids[0]) > 0) and grids[0][0] == 10 and grids[0][-1] == 280  # covered by every run
    band = curve_band(aligned)
    np.testing.assert_allclose(band["mean"], band["step"] + 1.0)  # the true mean: no zigzag, no drop
    assert (band["low"] <= band["mean"]).all() and (band["mean"] <= band["high"]).all()


def test_each_cell_and_seed_counts_once_the_latest_completed_attempt(tmp_path, capsys):
    from analysis.report import runs_table
    from benchmarks.cli import main

    cell = {"method": "pearl", "family": "cheetah-vel"}
    store = small_store(
        tmp_path,
        [
            ({**cell, "seed": 0}, [0, 10], [0.0, 0.0]),
            ({**cell, "seed": 1}, [0, 10], [0.0, 10.0]),
            ({**cell, "seed": 1}, [0, 10], [0.0, 40.0]),
        ],
    )  # run again: the later one counts
    assert query.counted_runs(store)["run_id"].tolist() == [1, 3]
    table = final_returns(store)
    assert table["mean"].tolist() == [20.0] and table["n_seeds"].tolist() == [2]
    cells, superseded = runs_table(store)
    assert cells["seeds_counted"].tolist() == ["0, 1"] and superseded["run_id"].tolist() == [2]
    assert main(["query", "--results", str(tmp_path), "--metric", RETURN_METRIC, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["mean"] == 20.0


def test_unreadable_run_files_are_reported_by_path_and_the_rest_goes_on(tmp_path, capsys):
    from benchmarks.cli import main

    cell = {"method": "pearl", "family": "cheetah-vel"}
    small_store(tmp_path, [({**cell, "seed": s}, [0, 10], [0.0, float(s)]) for s in range(5)])
    (tmp_path / "2" / "metrics.json").unlink()
    (tmp_path / "3" / "metrics.json").write_bytes(b"\xff\xfe garbage \x00")
    (tmp_path / "4" / "config.json").write_text("[]")
    bad = [
        str(tmp_path / "2" / "metrics.json"),
        str(tmp_path / "3" / "metrics.json"),
        str(tmp_path / "4" / "config.json"),
    ]
    assert main(["query", "--results", str(tmp_path), "--metric", RETURN_METRIC, "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["mean"] == pytest.approx(2.0)  # seeds 0 and 4 (runs 1 and 5) are readable
    for path, why in zip(bad, ("missing", "not UTF-8", "holds a JSON list")):
        assert f"left out unreadable {path}: {why}" in captured.err
    assert main(["report", "--results", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    captured = capsys.readouterr()
    assert all(path in captured.err for path in bad) and "drawing fig3" in captured.out
    index = (tmp_path / "report" / "index.md").read_text()
    assert "Unreadable run files" in index and all(path in index for path in bad)


def test_goals_reached_counts_trajectories_that_enter_their_goal():
    from analysis.figures import goals_reached

    paths = [
        {"goal": [1.0, 0.0], "episodes": [[[0, 0], [0.5, 0]], [[0, 0], [0.85, 0.05]]]},  # last one enters
        {"goal": [-1.0, 0.0], "episodes": [[[0, 0], [-0.9, 0]], [[0, 0], [0.5, 0.5]]]},  # only the first enters
    ]
    assert goals_reached(paths, 0.2) == 1
    assert goals_reached(paths, 0.2, trajectory=0) == 1
    assert goals_reached(paths, 0.05) == 0


def test_figure3_names_a_baseline_first_evaluated_after_pearls_axis_ends(tmp_path):
    """MAML-TRPO first evaluated at 0.8M, PEARL ends at 0.5M: Figure 3 cannot draw it, and says so."""
    runs = [
        ({"method": "pearl", "family": "cheetah-vel", "seed": s}, [0, 250_000, 500_000], [-300, -150, -90])
        for s in (0, 1)
    ]
    runs += [
        ({"method": m, "family": "cheetah-vel", "seed": s}, [800_000, 1_600_000], [-250, -110])
        for m in ("maml-trpo", "rl2-ppo")
        for s in (0, 1)
    ]
    runs += [({"method": "rl2-ppo", "family": "cheetah-vel", "seed": 2}, [200_000, 800_000], [-300, -200])]
    store = small_store(tmp_path / "runs", runs)
    (fig3,) = make_figures(store, tmp_path / "figs", only=["fig3"], families=["cheetah-vel"])
    # RL² seed 2 has an evaluation inside the axis but seeds 0-1 do not, so the cell's shared grid is empty too
    assert len(fig3.notes) == 1 and fig3.notes[0].startswith("Half-Cheetah-Vel: ")
    assert "MAML-TRPO" in fig3.notes[0] and "RL²" in fig3.notes[0] and "PEARL" not in fig3.notes[0]
    (fig9,) = make_figures(store, tmp_path / "figs", only=["fig9"], families=["cheetah-vel"])
    assert fig9.notes == []  # the full budget: every method drawn
    index = write_report(store, tmp_path / "report", families=["cheetah-vel"]).read_text()
    assert "RL², MAML-TRPO first evaluated after the x axis ends" in index


def test_pearl_vs_baselines_says_higher_only_where_the_cis_are_apart(tmp_path):
    from analysis.report import answer_block
    from analysis.tables import pearl_vs_baselines

    def runs(method, finals, steps=1000):
        return [
            ({"method": method, "family": "cheetah-vel", "seed": s}, [0, steps], [0.0, v]) for s, v in enumerate(finals)
        ]

    store = small_store(
        tmp_path / "mixed",
        runs("pearl", [10.0, 11.0, 12.0], 500)
        + runs("rl2-ppo", [0.0, 1.0, 2.0])  # far below PEARL: CIs apart
        + runs("maml-trpo", [9.0, 11.5, 14.0])  # overlaps PEARL
        + runs("promp", [20.0]),  # one seed: no CI
    )
    table = pearl_vs_baselines(store).set_index("baseline")
    assert table.loc["rl2-ppo", "final_return"] == "PEARL higher (CIs apart)"
    assert table.loc["maml-trpo", "final_return"] == "not separable (CIs overlap)"
    assert table.loc["promp", "final_return"] == "one seed: no CI to compare"
    assert table.loc["rl2-ppo", "pearl_final"] == 11.0 and table.loc["rl2-ppo", "baseline_final"] == 1.0
    assert table.loc["rl2-ppo", "pearl_env_steps"] == 500 and table.loc["rl2-ppo", "baseline_env_steps"] == 1000
    assert np.isnan(table.loc["promp", "speedup"])  # PEARL's mean curve never reaches ProMP's 20
    # RL²'s mean curve peaks at 1.0 at its last step (1000); PEARL's first reaches 1.0 at 500 * 1/11
    assert table.loc["rl2-ppo", "speedup"] == pytest.approx(1000 / (500 / 11), rel=0.05)
    block = answer_block(store)
    assert "| Half-Cheetah-Vel | RL² | 11.0 [10.0, 12.0], 3 seeds, 0.0M steps |" in block
    assert "20.0, 1 seed, 0.0M steps" in block and "PEARL never reaches the baseline's best" in block
    swapped = small_store(tmp_path / "swapped", runs("pearl", [0.0, 1.0, 2.0]) + runs("rl2-ppo", [10.0, 11.0, 12.0]))
    assert pearl_vs_baselines(swapped)["final_return"].tolist() == ["baseline higher (CIs apart)"]
