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
from analysis.report import write_report
from analysis.stats import interquartile_mean, stratified_bootstrap_ci
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
            cells.append(({"method": "pearl", "family": family, "seed": seed},
                          {RETURN_METRIC: (PEARL_STEPS, pearl_curve(PEARL_STEPS, seed) + offset)}, None))
            cells.append(({"method": "maml-trpo", "family": family, "seed": seed},
                          {RETURN_METRIC: (BASE_STEPS, baseline_curve(BASE_STEPS, seed, 20_000) + offset)}, None))
            cells.append(({"method": "rl2-ppo", "family": family, "seed": seed},
                          {RETURN_METRIC: (BASE_STEPS, baseline_curve(BASE_STEPS, seed, 5_000) + offset)}, None))
        for method in ("pearl-rnn-tran", "pearl-ctx-rlbatch"):
            cells.append(({"method": method, "family": "cheetah-vel", "seed": seed},
                          {RETURN_METRIC: (PEARL_STEPS, pearl_curve(PEARL_STEPS, seed) / 2)}, None))
        for method in ("pearl", "pearl-deterministic"):
            for radius in (0.2, 0.8):
                metrics = {RETURN_METRIC: (PEARL_STEPS, PEARL_STEPS / 1e4 * (radius + (method == "pearl")))}
                for k in range(1, 7):
                    metrics[f"{ADAPTATION_PREFIX}{k}"] = (PEARL_STEPS, np.full(len(PEARL_STEPS), k * radius + seed))
                paths = [{"goal": [np.cos(a), np.sin(a)],
                          "episodes": [[[0, 0], [0.5 * np.cos(a + e), 0.5 * np.sin(a + e)]] for e in (-0.5, 0, 0.5)]}
                         for a in (0.3, 1.5, 2.8)]
                cells.append(({"method": method, "family": "sparse-point-robot", "seed": seed,
                               "env_kwargs": {"goal_radius": radius}}, metrics, paths))
    return cells


_CURRENT: dict = {}  # the synthetic cell the next run logs


def make_experiment() -> Experiment:
    ex = Experiment("synthetic", save_git_info=False)

    @ex.config
    def config():
        method = "pearl"  # noqa: F841
        family = "cheetah-vel"  # noqa: F841
        seed = 0  # noqa: F841
        env_kwargs = {"goal_radius": 0.2}  # noqa: F841
        algo = {"kl_lambda": 0.1}  # noqa: F841
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
    assert {"run_id", "method", "family", "seed", "status", "host", "start_time", "stop_time",
            "config.algo.kl_lambda", "config.env_kwargs.goal_radius"} <= set(table.columns)
    assert (table["status"] == "COMPLETED").sum() == N_GOOD_RUNS
    failed = query.runs(store, status="FAILED")
    assert failed[["method", "family", "seed"]].values.tolist() == [["promp", "cheetah-vel", 0]]


def test_filters(store):
    table = query.runs(store, method=["pearl", "rl2-ppo"], family="cheetah-vel", seed=[0, 2])
    assert sorted(map(tuple, table[["method", "seed"]].values.tolist())) == [
        ("pearl", 0), ("pearl", 2), ("rl2-ppo", 0), ("rl2-ppo", 2)]
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
    maml = table.loc["maml-trpo"]
    assert maml["ref_final"] == pytest.approx(100.0)
    assert maml["baseline_best"] == pytest.approx(50.0)
    assert np.isnan(maml["baseline_steps_to_ref_final"])  # never reaches PEARL's 100
    assert maml["ref_steps_to_baseline_best"] == pytest.approx(50_000, rel=0.01)
    assert maml["speedup"] == pytest.approx(20.0, rel=0.01)
    assert "baseline: not reached" in maml["reached"]
    # rl2-ppo: step/5000 reaches PEARL's final 100 at 5e5 steps; its best (200) is beyond PEARL.
    rl2 = table.loc["rl2-ppo"]
    assert rl2["baseline_steps_to_ref_final"] == pytest.approx(500_000, rel=0.01)
    assert np.isnan(rl2["ref_steps_to_baseline_best"]) and np.isnan(rl2["speedup"])


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
    table = aggregate_iqm(store, family=["cheetah-vel", "ant-goal-2d"], method=["pearl", "maml-trpo", "rl2-ppo"],
                          reps=200).set_index("method")
    # per family, finals are: rl2 199..201 (best), pearl 99..101, maml 49..51; min-max normalised over
    # all runs: rl2 {1, .99, .98}-ish, maml {0, .0066, .0132}: the ordering must hold and be in [0, 1]
    assert table.loc["rl2-ppo", "iqm"] > table.loc["pearl", "iqm"] > table.loc["maml-trpo", "iqm"]
    low, high = 49.0, 201.0
    expected_pearl = interquartile_mean((np.array([99, 100, 101] * 2) - low) / (high - low))
    assert table.loc["pearl", "iqm"] == pytest.approx(expected_pearl)
    assert (table["n_families"] == 2).all()


def test_empty_store(tmp_path):
    empty = query.FileStore(tmp_path)
    assert query.runs(empty).empty and query.metrics(empty, RETURN_METRIC).empty
    results = make_figures(empty, tmp_path / "figs", only=["fig3"])
    assert results[0].empty and results[0].files[0].exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        query.FileStore(tmp_path / "nope")


def test_figures_render(file_store, tmp_path):
    results = {r.name: r for r in make_figures(file_store, tmp_path)}
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


def test_unknown_figure(file_store, tmp_path):
    with pytest.raises(ValueError, match="unknown figure.*valid figures: fig3"):
        make_figures(file_store, tmp_path, only=["fig8"])


def test_report(file_store, tmp_path):
    index = write_report(file_store, tmp_path / "report")
    text = index.read_text()
    assert "fig3.png" in text and "Sample efficiency" in text and "IQM" in text
    assert (tmp_path / "report" / "final_returns.csv").exists()
    finals = pd.read_csv(tmp_path / "report" / "final_returns.csv")
    assert len(finals) > 0


# ------------------------------------------------------------------------------ command line
def test_cli_query_runs_and_final_values(file_store, capsys):
    from benchmarks.cli import main

    assert main(["query", "--results", str(file_store.path), "--methods", "pearl", "--families", "cheetah-vel"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["run_id", "method", "family", "seed", "status"] and len(out) == 4
    assert main(["query", "--results", str(file_store.path), "--metric", RETURN_METRIC,
                 "--families", "cheetah-vel", "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out)).set_index("method")
    assert table.loc["pearl", "mean"] == pytest.approx(100.0) and table.loc["maml-trpo", "mean"] == pytest.approx(50.0)
    assert main(["query", "--results", str(file_store.path), "--where", "env_kwargs.goal_radius=0.8",
                 "--format", "json"]) == 0
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


@pytest.mark.parametrize("argv, message", [
    (["query", "--results", "/nonexistent/results"], "results directory '/nonexistent/results' does not exist"),
    (["query", "--mongo", "localhost:27017"], "malformed MongoDB URL 'localhost:27017'"),
    (["query", "--where", "seed"], "malformed --where 'seed'; expected KEY=VALUE"),
])
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
        ex.run(config_updates={"method": "pearl", "family": "cheetah-vel", "seed": 0, "profile": profile},
               options={"--loglevel": "ERROR"})
    store = query.FileStore(tmp_path / "results")
    with pytest.raises(ValueError, match=r"several profiles \(quick, smoke\); choose one with --profile"):
        query.for_profile(store, None)
    quick = query.for_profile(store, "quick")
    assert final_returns(quick)["mean"].tolist() == [5.0]
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "r")]) == 2
    assert "choose one with --profile" in capsys.readouterr().err
    assert main(["figures", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "f"),
                 "--profile", "smoke", "--only", "fig5"]) == 0
