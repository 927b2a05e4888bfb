"""``pearl-bench run --dry-run``: wall-time estimates from a short, cached calibration (benchmarks.estimate)."""

from __future__ import annotations

import importlib
import json
import time

import pytest

from benchmarks import estimate, runner
from benchmarks.cli import main
from benchmarks.matrix import format_plan, plan

DRY_RUN = [
    "run",
    "--dry-run",
    "--profile",
    "smoke",
    "--families",
    "point-robot",
    "--methods",
    "pearl",
    "promp",
    "--grid",
    "--seeds",
    "0",
    "1",
    "--jobs",
    "2",
]


def test_dry_run_estimates_every_cell_from_a_cached_calibration(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(estimate.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(estimate, "CALIBRATION_S", 0.05)
    monkeypatch.setattr(runner, "available_cores", lambda: 2)  # --jobs 2 on 2 cores: timed two side by side
    monkeypatch.setattr(estimate, "process_seconds", time.perf_counter)  # a whole core, whatever else runs here
    assert main(DRY_RUN) == 0
    captured = capsys.readouterr()
    assert captured.err.count("calibrating") == 2  # one per method x family, the seeds share it
    assert captured.err.count("1 copy beside it") == 2
    cache = json.loads((tmp_path / "calibration.json").read_text())
    assert len(cache) == 2 and all(v["env_step_s"] > 0 and v["setup_s"] > 0 for v in cache.values())
    assert all(0 < v["cpu_share"] <= 1.5 for v in cache.values())
    assert any(v.get("grad_step_s", 0) > 0 for v in cache.values())  # PEARL's gradient steps
    rows = captured.out.splitlines()[2:6]
    assert all(line.split()[9] == "s" for line in rows)  # "est. wall" column: "1.5 s"
    total = captured.out.splitlines()[-1]
    assert total.startswith("estimated wall time:") and "with --jobs 2" in total
    assert "An estimate" in total and "calibration took" in total and estimate.machine_tag() in total
    assert "with 2 copies of its work side by side, as --jobs 2 will run them" in total

    assert main(DRY_RUN) == 0  # second time: from the cache, no calibration
    captured = capsys.readouterr()
    assert "calibrating" not in captured.err and "calibration cached" in captured.out


def test_a_calibration_beside_other_work_says_so_is_not_cached_and_gives_the_time_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(estimate.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(estimate, "CALIBRATION_S", 0.05)
    monkeypatch.setattr(runner, "available_cores", lambda: 1)
    busy = time.process_time
    monkeypatch.setattr(estimate, "process_seconds", lambda: 0.25 * busy())  # at most a quarter of a core
    args = [*DRY_RUN[:-2], "--jobs", "1"]  # promp and pearl, seeds 0 and 1, one at a time
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.count("calibrating") == 2  # the seeds still share one timing
    assert captured.err.count("note: this calibration got") == 2 and "not cached" in captured.err
    assert not (tmp_path / "calibration.json").exists()
    total = captured.out.splitlines()[-1]
    busy_total = total.split(" with --jobs 1")[0].removeprefix("estimated wall time: ")
    assert "Other work was running on this machine while 4 of these cells were timed" in total
    alone = total.split("with the machine to itself, about ")[1].rstrip(".")
    assert alone != busy_total  # the same cells at a quarter of the time, or less

    (tmp_path / "calibration.json").write_text(  # a loaded calibration cached by an older version
        json.dumps({key: {"cpu_share": 0.2} for key in ("x",)})
    )
    monkeypatch.setattr(estimate, "process_seconds", time.perf_counter)  # now the machine is quiet
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.count("calibrating") == 2 and "note:" not in captured.err
    assert "Other work" not in captured.out
    cache = json.loads((tmp_path / "calibration.json").read_text())
    assert len(cache) == 3 and all(v["cpu_share"] >= estimate.LOADED_SHARE for k, v in cache.items() if k != "x")

    cached = {k: v for k, v in cache.items() if k != "x"}
    loaded = {k: {**v, "cpu_share": 0.3} for k, v in cached.items()}
    (tmp_path / "calibration.json").write_text(json.dumps(loaded))  # loaded ones in the cache are timed again
    assert main(args) == 0
    assert capsys.readouterr().err.count("calibrating") == 2


def test_side_by_side_copies_run_for_the_whole_block_and_stop_after_it():
    cell = plan("smoke", ["promp"], ["point-robot"], [0], grid=True)[0]
    with estimate.SideBySide(cell.method, cell.config, copies=1) as beside:
        time.sleep(1.0)  # the calibration would run here
        assert all(proc.is_alive() for proc in beside.procs)
    assert [proc.exitcode for proc in beside.procs] == [0]  # told to stop, not killed
    assert estimate.side_by_side_copies(jobs=4, cores=2) == 2 and estimate.side_by_side_copies(jobs=1, cores=2) == 1
    assert estimate.side_by_side_copies(jobs=4, cores=8, runs=3) == 3  # --jobs is lowered to the runs to do


def test_a_side_by_side_copy_that_fails_is_an_error_not_a_quiet_underestimate():
    cell = plan("smoke", ["promp"], ["point-robot"], [0], grid=True)[0]
    with pytest.raises(RuntimeError, match="side-by-side calibration process exited"):
        with estimate.SideBySide("no-such-method", cell.config, copies=1):
            pass


def test_estimate_follows_the_budget_and_the_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv(estimate.CACHE_ENV, str(tmp_path))
    short, long = (
        plan("smoke", ["pearl"], ["point-robot"], [0], {"num_train_steps_per_itr": n}, grid=True) for n in (5, 500)
    )
    for cells in (short, long):
        estimate.calibrate_cells(cells, seconds=0.05, log=lambda _: None)
    assert long[0].estimate_s > short[0].estimate_s
    assert estimate.makespan([4, 3, 3, 2], jobs=2) == 6 and estimate.makespan([4, 3, 3, 2], jobs=1) == 12
    assert estimate.duration(3 * 86400) == "3.0 days" and estimate.duration(7200) == "2.0 h"


def test_an_interrupted_cell_is_estimated_for_the_iterations_it_has_left(tmp_path):
    from benchmarks.registry import get_method

    cell = plan("quick", ["maml-trpo"], ["cheetah-vel"], [0], grid=True)[0]
    planned = get_method("maml-trpo").planned_iterations(get_method("maml-trpo").config_from_dict(cell.config))
    checkpoints = tmp_path / cell.run_key
    checkpoints.mkdir()
    for done in (planned // 4 - 5, planned // 4):  # the latest of the kept checkpoints counts
        (checkpoints / f"checkpoint_{done:06d}.pt").write_bytes(b"")
    cell.estimate_s = 1000.0
    untouched = plan("quick", ["maml-trpo"], ["cheetah-vel"], [1], grid=True)[0]  # no checkpoint: whole run
    untouched.estimate_s = 1000.0
    estimate.account_for_checkpoints([cell, untouched], tmp_path)
    assert cell.resume_iteration == planned // 4
    assert cell.estimate_s == 1000.0 * (1 - (planned // 4) / planned)
    assert untouched.resume_iteration is None and untouched.estimate_s == 1000.0


@pytest.mark.parametrize("method_name, package", [("pearl", "pearl"), ("promp", "baselines")])
def test_a_resuming_cell_is_estimated_at_its_own_pace(tmp_path, method_name, package):
    from benchmarks.journal import JournalLogger, read_journal
    from benchmarks.registry import get_method
    from pearl.core.logger import ITERATION_TIME_METRIC

    cell = plan("smoke", [method_name], ["point-robot"], [0], grid=True)[0]
    method = get_method(method_name)
    config = method.config_from_dict(cell.config)
    work_dir = tmp_path / cell.run_key  # where the harness keeps a run's checkpoints and journal
    train = importlib.import_module(f"{package}.trainer").train
    train(config, JournalLogger(work_dir / "metrics.jsonl"), work_dir, stop_after=1)  # then "killed"
    (_, seconds), *more = read_journal(work_dir / "metrics.jsonl")[ITERATION_TIME_METRIC]
    assert not more and seconds > 0  # the training loop logs each iteration's wall time, for every method

    planned = method.planned_iterations(config)
    cell.estimate_s, cell.loaded_share = 1e6, 0.25  # a calibration's, beside other work: both replaced
    estimate.account_for_checkpoints([cell], tmp_path)
    assert cell.resume_iteration == 1 and cell.paced and cell.loaded_share is None
    assert cell.estimate_s == pytest.approx(seconds * (planned - 1))
    assert "at its pace, resumes after iteration 1" in format_plan([cell])
    assert "1 resuming cell(s) at their own pace so far" in estimate.summary([cell], jobs=1, cores=1, calibration_s=0)


def test_baseline_iterations_are_extrapolated_with_their_fixed_cost():
    from benchmarks.baseline_method import iteration_seconds

    # 34 ms fixed + 9.35 ms a task (MAML-TRPO's shape): 20 tasks take 221 ms, not 10 x the 2-task time
    assert iteration_seconds({2: 0.0527, 4: 0.0714}, 20) == pytest.approx(0.034 + 9.35e-3 * 20)
    assert iteration_seconds({2: 0.05}, 20) == pytest.approx(0.5)  # one point: in proportion
    # noise giving no cost per task, or no fixed cost: in proportion to the larger point
    assert iteration_seconds({2: 0.06, 4: 0.05}, 20) == pytest.approx(0.25)
    assert iteration_seconds({2: 0.01, 4: 0.05}, 20) == pytest.approx(0.25)
