"""Tidy pandas tables from logged runs, in either store.

Two stores hold Sacred runs:

* the embedded store: a ``FileStorageObserver`` directory (``<dir>/<run_id>/run.json``,
  ``config.json``, ``metrics.json``, ``info.json``);
* MongoDB in Sacred's schema (``runs`` and ``metrics`` collections), as Omniboard and
  incense read it. Filters become database queries there instead of loading everything.

``runs(...)`` gives one row per run (every attempt); ``metrics(...)`` one row per (run, metric,
step, value); ``results(...)`` the same rows for the runs the analysis counts: one per (cell, seed),
the latest COMPLETED attempt. A *cell* is (method, family, env variant, profile): variants (e.g.
``goal_radius=0.8``) and budget profiles are never pooled.

A run file that cannot be read (missing, not JSON, not UTF-8, not a mapping) is recorded in the
store's ``problems`` (path -> reason) and the run is left out; the commands print them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmarks.store import DEFAULT_DB, DEFAULT_RESULTS, MONGO_URL_ENV

#: what makes two runs the same experiment, apart from the seed
CELL = ["method", "family", "variant", "profile"]
RUN_COLUMNS = ["run_id", *CELL, "seed", "status", "host", "cpu", "start_time", "stop_time"]
METRIC_COLUMNS = ["run_id", *CELL, "seed", "metric", "step", "value"]
COUNTED_STATUS = "COMPLETED"


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


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def variant(family: str | None, env_kwargs: dict[str, Any] | None) -> str:
    """The env variant of a run, e.g. ``goal_radius=0.8``: its env kwargs over the env's defaults.

    Defaults are filled in from the env constructor, so a run that leaves ``goal_radius`` at its
    default and one that sets it to the same value are the same variant. ``""`` when the env
    takes no keyword arguments.
    """
    given = {k: v for k, v in (env_kwargs or {}).items() if v is not None}  # None: not set
    kwargs = {**_env_defaults(family), **given}
    return ", ".join(f"{k}={_format_value(v)}" for k, v in sorted(kwargs.items()))


_ENV_DEFAULTS: dict[str, dict[str, Any]] = {}


def _env_defaults(family: str | None) -> dict[str, Any]:
    """Keyword defaults of a family's env constructor (other than the task)."""
    import importlib
    import inspect

    if family not in _ENV_DEFAULTS:
        from pearl.envs import FAMILIES

        defaults: dict[str, Any] = {}
        spec = FAMILIES.get(family)
        if spec is not None:
            module, _, name = spec.entry_point.partition(":")
            init = getattr(importlib.import_module(module), name).__init__
            defaults = {
                p.name: p.default
                for p in inspect.signature(init).parameters.values()
                if p.default is not inspect.Parameter.empty and p.name != "task"
            }
            defaults.update(spec.env_kwargs)
        _ENV_DEFAULTS[family] = defaults
    return _ENV_DEFAULTS[family]


def _run_row(run_id: Any, run: dict, config: dict) -> dict[str, Any]:
    env_kwargs = config.get("env_kwargs")
    row = {
        "run_id": run_id,
        "method": config.get("method"),
        "family": config.get("family"),
        "variant": variant(config.get("family"), env_kwargs if isinstance(env_kwargs, dict) else None),
        "profile": config.get("profile"),
        "seed": config.get("seed"),
        "status": run.get("status"),
        "host": (run.get("host") or {}).get("hostname"),
        "cpu": (run.get("host") or {}).get("cpu"),
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
    return table[RUN_COLUMNS + extra].sort_values([*CELL, "seed", "run_id"]).reset_index(drop=True)


class FileStore:
    """Sacred ``FileStorageObserver`` directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"results directory {str(self.path)!r} does not exist")
        self.problems: dict[str, str] = {}  # path -> why it could not be read
        self._cache: dict[Path, tuple[tuple[int, int], dict]] = {}

    def describe(self) -> str:
        return f"embedded store {self.path}"

    def _run_dirs(self) -> Iterable[Path]:
        for child in self.path.iterdir():
            if child.is_dir() and child.name.isdigit() and (child / "run.json").exists():
                yield child

    def _read(self, path: Path, required: bool = True) -> dict | None:
        """The JSON object in ``path``, or None (recorded in ``problems``) when it cannot be read.

        Parsed files are cached by (mtime, size), so a report reads each file once.
        """
        try:
            stat = path.stat()
        except FileNotFoundError:
            if required:
                self.problems[str(path)] = "missing"
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as err:
            self.problems[str(path)] = f"not UTF-8 ({err.reason} at byte {err.start})"
            return None
        except (OSError, ValueError) as err:
            self.problems[str(path)] = f"not valid JSON ({err})"
            return None
        if not isinstance(data, dict):
            self.problems[str(path)] = f"holds a JSON {type(data).__name__}, not an object"
            return None
        self.problems.pop(str(path), None)
        self._cache[path] = (stamp, data)
        return data

    def runs(self, flt: RunFilter) -> pd.DataFrame:
        rows = []
        for run_dir in self._run_dirs():
            run = self._read(run_dir / "run.json")
            config = self._read(run_dir / "config.json")
            if run is not None and config is not None:
                rows.append(_run_row(int(run_dir.name), run, config))
        return flt.keep(_runs_frame(rows)).reset_index(drop=True)

    def _metrics_file(self, run_id: Any) -> dict:
        path = self.path / str(run_id) / "metrics.json"
        metrics = self._read(path) or {}
        bad = [
            name
            for name, series in metrics.items()
            if not (
                isinstance(series, dict)
                and isinstance(series.get("steps"), list)
                and isinstance(series.get("values"), list)
                and len(series["steps"]) == len(series["values"])
            )
        ]
        if bad:
            self.problems[str(path)] = f"malformed series {', '.join(map(repr, bad))}"
        return {name: series for name, series in metrics.items() if name not in bad}

    def raw_metrics(self, run_ids: Sequence[Any], names: Sequence[str] | None) -> list[dict]:
        out = []
        for run_id in run_ids:
            for name, series in self._metrics_file(run_id).items():
                if names is None or name in names:
                    out.append({"run_id": run_id, "name": name, "steps": series["steps"], "values": series["values"]})
        return out

    def metric_names(self, run_ids: Sequence[Any]) -> set[str]:
        return {name for run_id in run_ids for name in self._metrics_file(run_id)}

    def info(self, run_id: Any) -> dict:
        return self._read(self.path / str(run_id) / "info.json", required=False) or {}

    def artifact(self, run_id: Any, name: str) -> bytes | None:
        path = self.path / str(run_id) / name
        return path.read_bytes() if path.exists() else None


class MongoStore:
    """MongoDB in Sacred's schema; filters run in the database."""

    def __init__(self, database):
        self.db = database
        self.problems: dict[str, str] = {}  # "runs/<id>" -> why it could not be read

    @classmethod
    def connect(cls, url: str, db_name: str = DEFAULT_DB) -> "MongoStore":
        """Connect and ping (``CONNECT_TIMEOUT_S``, 3 s); a bad URL or unreachable server is a one-line ValueError."""
        from benchmarks.store import StoreSpec, mongo_database

        return cls(mongo_database(StoreSpec(results="", mongo_url=url, db=db_name)))

    def describe(self) -> str:
        return f"MongoDB database {self.db.name!r}"

    def runs(self, flt: RunFilter) -> pd.DataFrame:
        projection = {"config": 1, "status": 1, "host": 1, "start_time": 1, "stop_time": 1}
        rows = []
        for doc in self.db.runs.find(flt.mongo_query(), projection):
            config = doc.get("config")
            if isinstance(config, dict):
                rows.append(_run_row(doc["_id"], doc, config))
            else:
                self.problems[f"runs/{doc['_id']}"] = f"config is a {type(config).__name__}, not a document"
        return _runs_frame(rows)

    def raw_metrics(self, run_ids: Sequence[Any], names: Sequence[str] | None) -> list[dict]:
        query: dict[str, Any] = {"run_id": {"$in": list(run_ids)}}
        if names is not None:
            query["name"] = {"$in": list(names)}
        return list(self.db.metrics.find(query, {"run_id": 1, "name": 1, "steps": 1, "values": 1}))

    def metric_names(self, run_ids: Sequence[Any]) -> set[str]:
        return set(self.db.metrics.distinct("name", {"run_id": {"$in": list(run_ids)}}))

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


def open_store(results: str | os.PathLike | None = None, mongo: str | None = None, db: str | None = None) -> Store:
    """The MongoDB store when a URL is given (or ``PEARL_BENCH_MONGO_URL`` is set), else the embedded one."""
    mongo = mongo or os.environ.get(MONGO_URL_ENV)
    if mongo:
        return MongoStore.connect(mongo, db or DEFAULT_DB)
    return FileStore(results if results is not None else DEFAULT_RESULTS)


def runs(store: Store, **filters) -> pd.DataFrame:
    """One row per run: method, family, seed, status, host, its CPU model, start/stop time and ``config.*``
    columns."""
    return store.runs(RunFilter.make(**filters))


def latest_completed(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counted, superseded): the latest COMPLETED attempt of each (cell, seed), and the other
    COMPLETED attempts of the same (cell, seed), which the analysis leaves out (issue 14: a cell
    run twice must not count one seed twice). "Latest" is the latest start time, then run id."""
    done = table[table["status"] == COUNTED_STATUS]
    if done.empty:
        return done, done
    ordered = done.sort_values(["start_time", "run_id"], na_position="first")
    latest = ordered.duplicated([*CELL, "seed"], keep="last")
    return ordered[~latest].sort_index(), ordered[latest].sort_index()


def counted_runs(store: Store, **filters) -> pd.DataFrame:
    """The runs the analysis counts: the latest COMPLETED attempt of each (cell, seed)."""
    return latest_completed(runs(store, **{**filters, "status": [COUNTED_STATUS]}))[0]


def check_metric(store: Store, metric: str, run_table: pd.DataFrame) -> None:
    """ValueError naming the metrics the store holds when ``metric`` is not one of them."""
    names = store.metric_names(run_table["run_id"].tolist()) if len(run_table) else set()
    if names and metric not in names:
        raise ValueError(f"unknown metric {metric!r}; the matching runs hold: {', '.join(sorted(names))}")


def results(store: Store, metric: str | Sequence[str] | None = None, **filters) -> pd.DataFrame:
    """``metrics`` of the counted runs only (``counted_runs``): one curve per (cell, seed)."""
    return _metrics_of(store, counted_runs(store, **filters), metric)


def metrics(store: Store, metric: str | Sequence[str] | None = None, **filters) -> pd.DataFrame:
    """One row per (run, metric, step, value) of every matching run, with the run's cell and seed."""
    return _metrics_of(store, runs(store, **filters), metric)


def _metrics_of(store: Store, run_table: pd.DataFrame, metric: str | Sequence[str] | None) -> pd.DataFrame:
    if run_table.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    names = [metric] if isinstance(metric, str) else (list(metric) if metric is not None else None)
    series = store.raw_metrics(run_table["run_id"].tolist(), names)
    if not series:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    frames = [
        pd.DataFrame({"run_id": s["run_id"], "metric": s["name"], "step": s["steps"], "value": s["values"]})
        for s in series
    ]
    table = pd.concat(frames, ignore_index=True)
    table = table.merge(run_table[["run_id", *CELL, "seed"]], on="run_id")
    return table[METRIC_COLUMNS].sort_values([*CELL, "seed", "metric", "step"]).reset_index(drop=True)


class ScopedStore:
    """A store seen through fixed extra config filters (e.g. one profile); same interface."""

    def __init__(self, store: Store, config: dict[str, Any]):
        self.store, self.config = store, dict(config)

    @property
    def problems(self) -> dict[str, str]:
        return self.store.problems

    def describe(self) -> str:
        scope = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return f"{self.store.describe()} ({scope})"

    def runs(self, flt: RunFilter) -> pd.DataFrame:
        return self.store.runs(RunFilter(flt.method, flt.family, flt.seed, flt.status, {**self.config, **flt.config}))

    def raw_metrics(self, run_ids: Sequence[Any], names: Sequence[str] | None) -> list[dict]:
        return self.store.raw_metrics(run_ids, names)

    def metric_names(self, run_ids: Sequence[Any]) -> set[str]:
        return self.store.metric_names(run_ids)

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
        raise ValueError(f"the store holds runs of several profiles ({', '.join(profiles)}); choose one with --profile")
    return ScopedStore(store, {"profile": profiles[0]}) if profiles else store
