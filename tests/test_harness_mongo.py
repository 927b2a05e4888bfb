"""The MongoDB path: mongomock handed to Sacred's Mongo observer, a simulated outage during a run, and
(marked ``mongo``) a real server when PEARL_BENCH_TEST_MONGO_URL is set."""

import os
import uuid

import pytest

pytest.importorskip("mongomock")
import mongomock.gridfs
import pymongo.errors

from benchmarks import store as store_module
from benchmarks.cli import main

FAKE_URL = "mongodb://fake-host:27017"
CELLS = [
    "run",
    "--profile",
    "smoke",
    "--methods",
    "pearl",
    "--families",
    "sparse-point-robot",
    "--seeds",
    "0",
    "--no-progress",
]


@pytest.fixture
def fake_mongo(monkeypatch):
    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    monkeypatch.setattr(store_module, "_mongo_client", lambda url, timeout_ms: client)
    return client


def _check_database(db, n_runs: int) -> None:
    import gridfs

    runs = list(db.runs.find())
    assert len(runs) == n_runs and {r["status"] for r in runs} == {"COMPLETED"}
    for run in runs:
        assert run["config"]["env_kwargs"]["goal_radius"] in (0.2, 0.8)
        assert run["info"]["run_key"] and run["info"]["tasks"]["family"] == "sparse-point-robot"
        metric = db.metrics.find_one({"run_id": run["_id"], "name": "test/return"})
        env_steps = db.metrics.find_one({"run_id": run["_id"], "name": "env_steps"})
        assert metric["steps"] == env_steps["values"] and len(metric["steps"]) == 2
        names = {a["name"] for a in run["artifacts"]}
        assert {"model.pt", "checkpoint_000002.pt", "eval_paths.json"} <= names
        model = next(a for a in run["artifacts"] if a["name"] == "model.pt")
        assert len(gridfs.GridFS(db).get(model["file_id"]).read()) > 0


def test_matrix_into_mongodb_via_mongomock_then_rerun_skips(tmp_path, fake_mongo, capsys):
    argv = CELLS + ["--mongo", FAKE_URL, "--db", "bench", "--checkpoints", str(tmp_path / "ckpt")]
    assert main(argv) == 0
    assert "2 completed, 0 failed" in capsys.readouterr().out
    _check_database(fake_mongo["bench"], 2)
    assert main(argv) == 0
    assert "0 completed, 0 failed, 2 skipped (2 completed earlier)" in capsys.readouterr().out
    assert fake_mongo["bench"].runs.count_documents({}) == 2
    # Both runs share one stored copy of each source file.
    first, second = ([tuple(s) for s in r["experiment"]["sources"]] for r in fake_mongo["bench"].runs.find())
    assert first and first == second
    stored = [f["filename"] for f in fake_mongo["bench"]["fs.files"].find() if f["filename"].endswith(".py")]
    assert len(stored) == len(first)


def test_url_from_environment(tmp_path, fake_mongo, monkeypatch, capsys):
    monkeypatch.setenv("PEARL_BENCH_MONGO_URL", FAKE_URL)
    assert (
        main(
            [
                "train",
                "pearl",
                "point-robot",
                "--profile",
                "smoke",
                "--no-progress",
                "--checkpoints",
                str(tmp_path / "ckpt"),
            ]
        )
        == 0
    )
    assert "COMPLETED run 1" in capsys.readouterr().out
    assert fake_mongo["pearl_bench"].runs.find_one({"_id": 1})["status"] == "COMPLETED"


def test_metrics_survive_a_database_outage(tmp_path, fake_mongo, monkeypatch, capsys):
    """The first writes of metrics and heartbeats fail as if the server were down; nothing is lost."""
    from benchmarks import observers

    monkeypatch.setattr(store_module, "RETRY_INTERVAL_S", 0.05)
    failures = {"left": 6}
    real_update_one = mongomock.collection.Collection.update_one

    def flaky_update_one(self, *args, **kwargs):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise pymongo.errors.AutoReconnect("simulated outage")
        return real_update_one(self, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "update_one", flaky_update_one)
    seen = []
    real_init = observers.RetryingObserver.__init__

    def spy_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen.append(self)

    monkeypatch.setattr(observers.RetryingObserver, "__init__", spy_init)
    argv = CELLS + ["--mongo", FAKE_URL, "--checkpoints", str(tmp_path / "ckpt"), "--set", "algo.num_iterations=4"]
    assert main(argv) == 0
    assert failures["left"] == 0 and sum(o.failures for o in seen) == 6
    db = fake_mongo["pearl_bench"]
    for run in db.runs.find():
        assert run["status"] == "COMPLETED"
        env_steps = db.metrics.find_one({"run_id": run["_id"], "name": "env_steps"})["values"]
        assert len(env_steps) == 4 and env_steps == sorted(set(env_steps))
        for metric in db.metrics.find({"run_id": run["_id"]}):
            assert metric["steps"] == env_steps, metric["name"]


@pytest.mark.mongo
def test_real_mongodb_server(tmp_path, capsys):
    url = os.environ.get("PEARL_BENCH_TEST_MONGO_URL")
    if not url:
        pytest.skip("PEARL_BENCH_TEST_MONGO_URL is not set")
    db_name = f"pearl_bench_test_{uuid.uuid4().hex[:8]}"
    import pymongo

    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        argv = CELLS + ["--mongo", url, "--db", db_name, "--checkpoints", str(tmp_path / "ckpt")]
        assert main(argv) == 0
        _check_database(client[db_name], 2)
        assert main(argv) == 0
        assert "2 skipped (2 completed earlier)" in capsys.readouterr().out
    finally:
        client.drop_database(db_name)


def test_an_attempt_killed_while_running_is_marked_dead_in_mongodb(tmp_path, fake_mongo, capsys):
    """Issue 14: the next run of the cell marks a RUNNING attempt that lost its process."""
    from benchmarks.matrix import plan

    argv = CELLS + [
        "--mongo",
        FAKE_URL,
        "--db",
        "bench",
        "--checkpoints",
        str(tmp_path / "ckpt"),
        "--set",
        "num_iterations=1",
        "--grid",
    ]
    (cell,) = plan("smoke", ["pearl"], ["sparse-point-robot"], [0], {"num_iterations": 1}, grid=True)
    runs = fake_mongo["bench"].runs
    runs.insert_one({"_id": 7, "status": "RUNNING", "config": cell.config})  # killed before its first heartbeat
    runs.insert_one(
        {
            "_id": 8,
            "status": "RUNNING",
            "config": cell.config,  # a live run of another checkpoint root
            "info": {"checkpoint_dir": "/elsewhere/" + cell.run_key},
        }
    )
    assert main(argv) == 0
    assert "marked run(s) 7" in capsys.readouterr().err
    assert {r["_id"]: r["status"] for r in runs.find()} == {7: "PROBABLY_DEAD", 8: "RUNNING", 9: "COMPLETED"}
