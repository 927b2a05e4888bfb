"""Where runs are recorded: the embedded store (a Sacred FileStorageObserver directory) or MongoDB.

``StoreSpec`` is a plain, picklable description that travels to workers; each worker builds its
own observers from it (``make_observers``). ``check_store`` runs in the parent before any run
starts, so a malformed or unreachable MongoDB URL is a one-line error within seconds, not a hang.
Checkpoints always live on a local (or shared) disk under ``<results>/checkpoints``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.runkey import run_key
from pearl.core.files import write_atomic

MONGO_URL_ENV = "PEARL_BENCH_MONGO_URL"
DEFAULT_DB = "pearl_bench"
DEFAULT_RESULTS = "results"  # the embedded store, relative to the working directory
CONNECT_TIMEOUT_S = 3.0
RETRY_INTERVAL_S = 2.0  # pause before re-sending an event the database did not take
FLUSH_TIMEOUT_S = 300.0  # how long the end of a run waits for the database to come back


class StoreError(ValueError):
    """The store cannot be used (bad URL, unreachable server, unwritable directory)."""


@dataclass(frozen=True)
class StoreSpec:
    results: str  # absolute; the embedded store, and the parent of checkpoints/
    mongo_url: str | None = None
    db: str = DEFAULT_DB
    checkpoints: str | None = None  # default <results>/checkpoints

    @property
    def checkpoint_root(self) -> Path:
        return Path(self.checkpoints) if self.checkpoints else Path(self.results) / "checkpoints"

    def describe(self) -> str:
        if self.mongo_url:
            return f"MongoDB {redact(self.mongo_url)} (database {self.db!r})"
        return f"embedded store {self.results}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "StoreSpec":
        return cls(**values)


DB_NAME_FORBIDDEN = '/\\. "$'  # MongoDB database names (its "naming restrictions"), and at most 63 bytes


def check_db_name(db: str) -> None:
    """StoreError for a name MongoDB would refuse, before any connection is made."""
    bad = sorted({c for c in db if c in DB_NAME_FORBIDDEN or c == "\0"})
    if not db or bad or len(db.encode()) > 63:
        why = (
            f"it contains {' '.join(repr(c) for c in bad)}"
            if bad
            else "it is empty"
            if not db
            else f"it is {len(db.encode())} bytes long"
        )
        raise StoreError(
            f"invalid MongoDB database name {db!r}: {why}; use letters, digits, '_' and '-' "
            f"(at most 63 bytes), e.g. --db pearl_bench"
        )


def resolve_store(
    results: str | None = None, mongo: str | None = None, db: str | None = None, checkpoints: str | None = None
) -> StoreSpec:
    """The MongoDB store when a URL is given (``mongo``, else ``PEARL_BENCH_MONGO_URL`` unless ``results``
    names an embedded store explicitly: an explicit option beats the environment), else the embedded one."""
    if db is not None:
        check_db_name(db)
    mongo = mongo or (None if results is not None else os.environ.get(MONGO_URL_ENV)) or None
    results_dir = os.path.abspath(results if results is not None else DEFAULT_RESULTS)
    return StoreSpec(
        results=results_dir,
        mongo_url=mongo,
        db=db or DEFAULT_DB,
        checkpoints=os.path.abspath(checkpoints) if checkpoints else None,
    )


def redact(url: str) -> str:
    """``mongodb://user:secret@host`` -> ``mongodb://user:***@host``."""
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


# ---- MongoDB connections ------------------------------------------------------------------
def _mongo_client(url: str, timeout_ms: int):
    """A client for ``url`` (tests replace this with a mongomock factory)."""
    import pymongo

    return pymongo.MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, socketTimeoutMS=max(timeout_ms, 20_000)
    )


def _first_line(err: BaseException, limit: int = 160) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mongo_database(spec: StoreSpec, timeout_s: float = CONNECT_TIMEOUT_S):
    """The database of ``spec``, after a ping; raises StoreError with a one-line reason."""
    import pymongo.errors
    from pymongo import uri_parser

    url = spec.mongo_url
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise StoreError(f"malformed MongoDB URL {redact(url)!r}: it must start with mongodb:// or mongodb+srv://")
    try:
        uri_parser.parse_uri(url)
        client = _mongo_client(url, int(timeout_s * 1000))
    except (pymongo.errors.InvalidURI, pymongo.errors.ConfigurationError, ValueError, TypeError) as err:
        raise StoreError(f"malformed MongoDB URL {redact(url)!r}: {_first_line(err)}") from None
    try:
        client.admin.command("ping")
    except pymongo.errors.OperationFailure as err:
        raise StoreError(f"MongoDB at {redact(url)} refused access: {_first_line(err)}") from None
    except pymongo.errors.PyMongoError as err:
        raise StoreError(
            f"cannot reach MongoDB at {redact(url)} within {timeout_s:g} s "
            f"({type(err).__name__}: {_first_line(err, 100)})"
        ) from None
    return client[spec.db]


def check_store(spec: StoreSpec, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, with a one-line StoreError, when the store or the checkpoint root is unusable.
    The database is checked first, so a bad URL leaves no directory behind."""
    if spec.mongo_url:
        mongo_database(spec, timeout_s)
    for path in ([] if spec.mongo_url else [Path(spec.results)]) + [spec.checkpoint_root]:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create directory {str(path)!r}: {err.strerror or err}") from None
        if not os.access(path, os.W_OK):
            raise StoreError(f"directory {str(path)!r} is not writable")


# ---- observers ----------------------------------------------------------------------------
def make_observers(spec: StoreSpec) -> list:
    """Sacred observers for one run (called inside the worker that runs it)."""
    if not spec.mongo_url:
        from sacred.observers import FileStorageObserver

        return [FileStorageObserver(spec.results)]
    import gridfs

    from benchmarks.observers import RetryingObserver, SourceOnceMongoObserver

    db = mongo_database(spec)
    spill_dir = spec.checkpoint_root / "_unsent"
    covered = SourceOnceMongoObserver.create_from(
        db["runs"], gridfs.GridFS(db), metrics_collection=db["metrics"], failure_dir=str(spill_dir)
    )
    return [
        RetryingObserver(
            covered, retry_interval=RETRY_INTERVAL_S, flush_timeout=FLUSH_TIMEOUT_S, spill_dir=str(spill_dir)
        )
    ]


# ---- finding earlier runs -----------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return {}


def recorded_runs(spec: StoreSpec) -> list[dict[str, Any]]:
    """Every run in the store as ``{"run_id", "status", "run_key"}`` (runs without a config are left out)."""
    out = []
    if spec.mongo_url:
        db = mongo_database(spec)
        for doc in db["runs"].find({"config.method": {"$exists": True}}, {"config": 1, "status": 1}):
            config = doc.get("config") or {}
            if isinstance(config, dict) and {"method", "family", "seed"} <= set(config):
                out.append({"run_id": doc["_id"], "status": doc.get("status"), "run_key": run_key(config)})
        return out
    root = Path(spec.results)
    if not root.is_dir():
        return out
    for child in root.iterdir():
        if not (child.is_dir() and child.name.isdigit()):
            continue
        config = _read_json(child / "config.json")
        if isinstance(config, dict) and {"method", "family", "seed"} <= set(config):
            out.append(
                {
                    "run_id": int(child.name),
                    "status": _read_json(child / "run.json").get("status"),
                    "run_key": run_key(config),
                }
            )
    return out


def completed_runs(spec: StoreSpec) -> dict[str, Any]:
    """run key -> id of a COMPLETED run with that key."""
    return {
        r["run_key"]: r["run_id"]
        for r in sorted(recorded_runs(spec), key=lambda r: str(r["run_id"]))
        if r["status"] == "COMPLETED"
    }


# ---- attempts that died -------------------------------------------------------------------
DEAD_STATUS = "PROBABLY_DEAD"  # Omniboard's name for a RUNNING run whose heartbeat stopped


def mark_dead_attempts(spec: StoreSpec, key: str, work_dir: Path) -> list[Any]:
    """Mark the RUNNING runs of cell ``key`` that wrote to ``work_dir`` as ``PROBABLY_DEAD``; returns their ids.

    Call it while holding the cell's lock: then no live process is running the cell from ``work_dir``,
    so a RUNNING attempt recorded there was killed (e.g. SIGKILL) before it could report its end.
    """
    marked = []
    note = {
        "marked_dead_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "marked_dead_reason": "RUNNING in the store, but no process holds the cell's lock in "
        f"{work_dir} (killed without reporting its end)",
    }
    if spec.mongo_url:
        runs = mongo_database(spec)["runs"]
        for r in recorded_runs(spec):
            if r["run_key"] == key and r["status"] == "RUNNING":
                here = [{"info.checkpoint_dir": str(work_dir)}, {"info.checkpoint_dir": {"$exists": False}}]
                found = runs.update_one(
                    {"_id": r["run_id"], "status": "RUNNING", "$or": here},
                    {"$set": {"status": DEAD_STATUS, **{f"info.{k}": v for k, v in note.items()}}},
                )
                if found.modified_count:
                    marked.append(r["run_id"])
        return marked
    for r in recorded_runs(spec):
        if r["run_key"] != key or r["status"] != "RUNNING":
            continue
        run_dir = Path(spec.results) / str(r["run_id"])
        info = _read_json(run_dir / "info.json")  # written at the first heartbeat; before it, assume ours
        if info.get("checkpoint_dir", str(work_dir)) != str(work_dir):
            continue  # another checkpoint root (e.g. another machine): its lock is not ours to judge
        entry = _read_json(run_dir / "run.json")
        entry.update(status=DEAD_STATUS, **note)
        _write_json_atomic(run_dir / "run.json", entry)
        marked.append(r["run_id"])
    return marked


# ---- repairing an embedded run's metrics ---------------------------------------------------
def metrics_readable(spec: StoreSpec, run_id: Any) -> bool:
    """Whether a run of the embedded store has a readable ``metrics.json`` (MongoDB runs: always True)."""
    if spec.mongo_url:
        return True
    path = Path(spec.results) / str(run_id) / "metrics.json"
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False


def rebuild_metrics(spec: StoreSpec, run_id: Any, journal: dict[str, list[tuple[int, float]]]) -> Path:
    """Write an embedded run's ``metrics.json`` from its journal (``benchmarks.journal.read_journal``).

    The journal keeps steps and values, not times: every point gets the run's stop time, and
    ``run.json`` records that the metrics were rebuilt.
    """
    run_dir = Path(spec.results) / str(run_id)
    entry = _read_json(run_dir / "run.json")
    when = entry.get("stop_time") or entry.get("heartbeat")
    metrics = {
        name: {
            "steps": [s for s, _ in points],
            "timestamps": [when] * len(points),
            "values": [v if math.isfinite(v) else str(v) for _, v in points],
        }
        for name, points in journal.items()
    }
    _write_json_atomic(run_dir / "metrics.json", metrics)
    entry["metrics_rebuilt_from_journal"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    _write_json_atomic(run_dir / "run.json", entry)
    return run_dir / "metrics.json"


def _write_json_atomic(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2).encode())


def repair_completed_run(spec: StoreSpec, key: str, run_id: Any) -> str | None:
    """Rebuild a COMPLETED embedded run's missing or unreadable ``metrics.json`` from the journal in its
    checkpoint directory; returns what was done (None when nothing needed doing)."""
    if metrics_readable(spec, run_id):
        return None
    from benchmarks.journal import read_journal

    path = Path(spec.results) / str(run_id) / "metrics.json"
    journal = spec.checkpoint_root / key / "metrics.jsonl"
    points = read_journal(journal) if journal.is_file() and not journal.is_symlink() else {}
    if not points:
        return f"{path} is missing or unreadable and there is no journal to rebuild it from ({journal})"
    rebuild_metrics(spec, run_id, points)
    return f"rebuilt {path} from {journal} ({sum(map(len, points.values()))} points)"
