"""Tidy pandas tables from logged runs, in either store.

Two stores hold Sacred runs:

* the embedded store: a ``FileStorageObserver`` directory (``<dir>/<run_id>/run.json``,
  ``config.json``, ``metrics.json``, ``info.json``);
* MongoDB in Sacred's schema (``runs`` and ``metrics`` collections), as Omniboard and
  incense read it. Filters become database queries there instead of loading everything.

``runs(...)`` gives one row per run; ``metrics(...)`` one row per (run, metric, step, value).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

RUN_COLUMNS = ["run_id", "method", "family", "seed", "status", "host", "start_time", "stop_time"]
METRIC_COLUMNS = ["run_id", "method", "family", "seed", "metric", "step", "value"]


class EmptyStoreError(LookupError):
    """The store holds no run matching the request."""


@dataclass
class RunFilter:
    """Which runs to load. ``None`` means any; sequences mean any of the values."""

    method: Sequence[str] | None = None
    family: Sequence[str] | None = None
    seed: Sequence[int] | None = None
    status: Sequence[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)  # dotted config key -> required value

    @classmethod
    def make(cls, method=None, family=None, seed=None, status=None, config=None) -> "RunFilter":
        def as_list(value):
            if value is None:
                return None
            return [value] if isinstance(value, (str, int, np.integer)) else list(value)

        return cls(as_list(method), as_list(family), as_list(seed), as_list(status), dict(config or {}))

    def mongo_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for key in ("method", "family", "seed"):
            values = getattr(self, key)
            if values is not None:
                query[f"config.{key}"] = {"$in": list(values)}
        if self.status is not None:
            query["status"] = {"$in": list(self.status)}
        for key, value in self.config.items():
            query[f"config.{key}"] = value
        return query

    def keep(self, table: pd.DataFrame) -> pd.DataFrame:
        mask = pd.Series(True, index=table.index)
        for key in ("method", "family", "seed", "status"):
            values = getattr(self, key)
            if values is not None:
                mask &= table[key].isin(values)
        for key, value in self.config.items():
            column = f"config.{key}"
            if column not in table:
                return table.iloc[0:0]
            mask &= table[column] == value
        return table[mask]


def _flatten(config: dict[str, Any], prefix: str = "config.") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, dict):
            continue
        else:
            out[f"{prefix}{key}"] = value
    return out


def _run_row(run_id: Any, run: dict, config: dict) -> dict[str, Any]:
    row = {
        "run_id": run_id,
        "method": config.get("method"),
        "family": config.get("family"),
        "seed": config.get("seed"),
        "status": run.get("status"),
        "host": (run.get("host") or {}).get("hostname"),
        "start_time": pd.to_datetime(run.get("start_time"), utc=True),
        "stop_time": pd.to_datetime(run.get("stop_time"), utc=True),
    }
    row.update(_flatten({k: v for k, v in config.items() if k not in ("method", "family", "seed")}))
    return row


def _runs_frame(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    extra = sorted(c for c in table.columns if c not in RUN_COLUMNS)
    return table[RUN_COLUMNS + extra].sort_values(["method", "family", "seed", "run_id"]).reset_index(drop=True)


class FileStore:
    """Sacred ``FileStorageObserver`` directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"results directory {str(self.path)!r} does not exist")

    def describe(self) -> str:
        return f"embedded store {self.path}"

    def _run_dirs(self) -> Iterable[Path]:
        for child in self.path.iterdir():
            if child.is_dir() and child.name.isdigit() and (child / "run.json").exists():
                yield child

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def runs(self, flt: RunFilter) -> pd.DataFrame:
        rows = []
        for run_dir in self._run_dirs():
            run = self._read(run_dir / "run.json")
            config = self._read(run_dir / "config.json")
            rows.append(_run_row(int(run_dir.name), run, config))
        return flt.keep(_runs_frame(rows)).reset_index(drop=True)

    def raw_metrics(self, run_ids: Sequence[Any], names: Sequence[str] | None) -> list[dict]:
        out = []
        for run_id in run_ids:
            metrics = self._read(self.path / str(run_id) / "metrics.json")
            for name, series in metrics.items():
                if names is None or name in names:
                    out.append({"run_id": run_id, "name": name, "steps": series["steps"], "values": series["values"]})
        return out

    def info(self, run_id: Any) -> dict:
        return self._read(self.path / str(run_id) / "info.json")

    def artifact(self, run_id: Any, name: str) -> bytes | None:
        path = self.path / str(run_id) / name
        return path.read_bytes() if path.exists() else None


class MongoStore:
    """MongoDB in Sacred's schema; filters run in the database."""

    def __init__(self, database):
        self.db = database

    @classmethod
    def connect(cls, url: str, db_name: str = "pearl_bench") -> "MongoStore":
        """Connect and ping (5 s limit); a bad URL or unreachable server is a one-line ValueError."""
        from benchmarks.store import StoreSpec, mongo_database

        return cls(mongo_database(StoreSpec(results="", mongo_url=url, db=db_name)))

    def describe(self) -> str:
        return f"MongoDB database {self.db.name!r}"

    def runs(self, flt: RunFilter) -> pd.DataFrame:
        projection = {"config": 1, "status": 1, "host": 1, "start_time": 1, "stop_time": 1}
        rows = [_run_row(doc["_id"], doc, doc.get("config", {}))
                for doc in self.db.runs.find(flt.mongo_query(), projection)]
        return _runs_frame(rows)

    def raw_metrics(self, run_ids: Sequence[Any], names: Sequence[str] | None) -> list[dict]:
        query: dict[str, Any] = {"run_id": {"$in": list(run_ids)}}
        if names is not None:
            query["name"] = {"$in": list(names)}
        return list(self.db.metrics.find(query, {"run_id": 1, "name": 1, "steps": 1, "values": 1}))

    def info(self, run_id: Any) -> dict:
        doc = self.db.runs.find_one({"_id": run_id}, {"info": 1})
        return (doc or {}).get("info", {})

    def artifact(self, run_id: Any, name: str) -> bytes | None:
        import gridfs

        doc = self.db.runs.find_one({"_id": run_id}, {"artifacts": 1})
        for artifact in (doc or {}).get("artifacts", []):
            if artifact.get("name") == name:
                return gridfs.GridFS(self.db).get(artifact["file_id"]).read()
        return None


Store = FileStore | MongoStore


def open_store(results: str | os.PathLike | None = None, mongo: str | None = None,
               db: str = "pearl_bench") -> Store:
    """The MongoDB store when a URL is given (or ``PEARL_BENCH_MONGO_URL`` is set), else the embedded one."""
    mongo = mongo or os.environ.get("PEARL_BENCH_MONGO_URL")
    if mongo:
        return MongoStore.connect(mongo, db)
    return FileStore(results if results is not None else "results")


def runs(store: Store, **filters) -> pd.DataFrame:
    """One row per run: method, family, seed, status, host, start/stop time and ``config.*`` columns."""
    return store.runs(RunFilter.make(**filters))


def metrics(store: Store, metric: str | Sequence[str] | None = None, **filters) -> pd.DataFrame:
    """One row per (run, metric, step, value), with the run's method, family and seed."""
    run_table = runs(store, **filters)
    if run_table.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    names = [metric] if isinstance(metric, str) else (list(metric) if metric is not None else None)
    series = store.raw_metrics(run_table["run_id"].tolist(), names)
    if not series:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    frames = [pd.DataFrame({"run_id": s["run_id"], "metric": s["name"], "step": s["steps"], "value": s["values"]})
              for s in series]
    table = pd.concat(frames, ignore_index=True)
    table = table.merge(run_table[["run_id", "method", "family", "seed"]], on="run_id")
    return table[METRIC_COLUMNS].sort_values(["method", "family", "seed", "metric", "step"]).reset_index(drop=True)


class ScopedStore:
    """A store seen through fixed extra config filters (e.g. one profile); same interface."""

    def __init__(self, store: Store, config: dict[str, Any]):
        self.store, self.config = store, dict(config)

    def describe(self) -> str:
        scope = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return f"{self.store.describe()} ({scope})"

    def runs(self, flt: RunFilter) -> pd.DataFrame:
        return self.store.runs(RunFilter(flt.method, flt.family, flt.seed, flt.status, {**self.config, **flt.config}))

    def raw_metrics(self, run_ids: Sequence[Any], names: Sequence[str] | None) -> list[dict]:
        return self.store.raw_metrics(run_ids, names)

    def info(self, run_id: Any) -> dict:
        return self.store.info(run_id)

    def artifact(self, run_id: Any, name: str) -> bytes | None:
        return self.store.artifact(run_id, name)


def for_profile(store: Store, profile: str | None) -> Store:
    """The store restricted to one budget profile, so smoke, quick and paper runs never mix.

    With ``profile=None`` the store must hold a single profile (or none recorded); several
    profiles without a choice is a ValueError that names them.
    """
    if profile is not None:
        return ScopedStore(store, {"profile": profile})
    table = runs(store)
    profiles = sorted(table["config.profile"].dropna().unique()) if "config.profile" in table else []
    if len(profiles) > 1:
        raise ValueError(f"the store holds runs of several profiles ({', '.join(profiles)}); "
                         f"choose one with --profile")
    return ScopedStore(store, {"profile": profiles[0]}) if profiles else store
