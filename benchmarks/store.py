"""Where runs are recorded: the embedded store (a Sacred FileStorageObserver directory) or MongoDB.

``StoreSpec`` is a plain, picklable description that travels to workers; each worker builds its
own observers from it (``make_observers``). ``check_store`` runs in the parent before any run
starts, so a malformed or unreachable MongoDB URL is a one-line error within seconds, not a hang.
Checkpoints always live on a local (or shared) disk under ``<results>/checkpoints``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.runkey import run_key

MONGO_URL_ENV = "PEARL_BENCH_MONGO_URL"
DEFAULT_DB = "pearl_bench"
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


def resolve_store(results: str | None = None, mongo: str | None = None, db: str | None = None,
                  checkpoints: str | None = None) -> StoreSpec:
    """The MongoDB store when a URL is given (argument or ``PEARL_BENCH_MONGO_URL``), else the embedded one."""
    mongo = mongo or os.environ.get(MONGO_URL_ENV) or None
    results_dir = os.path.abspath(results if results is not None else "results")
    return StoreSpec(results=results_dir, mongo_url=mongo, db=db or DEFAULT_DB,
                     checkpoints=os.path.abspath(checkpoints) if checkpoints else None)


def redact(url: str) -> str:
    """``mongodb://user:secret@host`` -> ``mongodb://user:***@host``."""
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


# ---- MongoDB connections ------------------------------------------------------------------
def _mongo_client(url: str, timeout_ms: int):
    """A client for ``url`` (tests replace this with a mongomock factory)."""
    import pymongo

    return pymongo.MongoClient(url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                               socketTimeoutMS=max(timeout_ms, 20_000))


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
        raise StoreError(f"cannot reach MongoDB at {redact(url)} within {timeout_s:g} s "
                         f"({type(err).__name__}: {_first_line(err, 100)})") from None
    return client[spec.db]


def check_store(spec: StoreSpec, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, with a one-line StoreError, when the store or the checkpoint root is unusable."""
    for path in ([] if spec.mongo_url else [Path(spec.results)]) + [spec.checkpoint_root]:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create directory {str(path)!r}: {err.strerror or err}") from None
        if not os.access(path, os.W_OK):
            raise StoreError(f"directory {str(path)!r} is not writable")
    if spec.mongo_url:
        mongo_database(spec, timeout_s)


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
        db["runs"], gridfs.GridFS(db), metrics_collection=db["metrics"], failure_dir=str(spill_dir))
    return [RetryingObserver(covered, retry_interval=RETRY_INTERVAL_S, flush_timeout=FLUSH_TIMEOUT_S,
                             spill_dir=str(spill_dir))]


# ---- finding earlier runs -----------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def recorded_runs(spec: StoreSpec) -> list[dict[str, Any]]:
    """Every run in the store as ``{"run_id", "status", "run_key"}`` (runs without a config are left out)."""
    out = []
    if spec.mongo_url:
        db = mongo_database(spec)
        for doc in db["runs"].find({"config.method": {"$exists": True}}, {"config": 1, "status": 1}):
            config = doc.get("config") or {}
            if {"method", "family", "seed"} <= set(config):
                out.append({"run_id": doc["_id"], "status": doc.get("status"), "run_key": run_key(config)})
        return out
    root = Path(spec.results)
    if not root.is_dir():
        return out
    for child in root.iterdir():
        if not (child.is_dir() and child.name.isdigit()):
            continue
        config = _read_json(child / "config.json")
        if {"method", "family", "seed"} <= set(config):
            out.append({"run_id": int(child.name), "status": _read_json(child / "run.json").get("status"),
                        "run_key": run_key(config)})
    return out


def completed_runs(spec: StoreSpec) -> dict[str, Any]:
    """run key -> id of a COMPLETED run with that key."""
    return {r["run_key"]: r["run_id"] for r in sorted(recorded_runs(spec), key=lambda r: str(r["run_id"]))
            if r["status"] == "COMPLETED"}
