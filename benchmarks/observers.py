"""A Sacred observer wrapper that survives short database outages.

Sacred's own ``QueuedMongoObserver`` retries forever and can block the end of a run for good
when the database stays down (sacred#566). ``RetryingObserver`` keeps the same idea (events go
through a queue that a background thread delivers in order, retrying failed ones) but:

* heartbeats are coalesced while the database is down (only the newest is kept);
* the end of a run waits at most ``flush_timeout`` seconds for the queue to drain; what is
  still undelivered then is pickled to ``spill_dir`` and the run ends normally. The metrics are
  never lost either way: the harness also journals every scalar next to the run's checkpoints.

It wraps an observer with ``QueueCompatibleMongoObserver``'s interface (``log_metrics`` per
metric name, exceptions raised instead of swallowed); ``SourceOnceMongoObserver`` is that observer
storing each version of a source file once.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from collections import deque
from typing import Any

from sacred.observers.base import RunObserver
from sacred.observers.mongo import QueueCompatibleMongoObserver

log = logging.getLogger("pearl-bench.observer")


class RetryingObserver(RunObserver):
    def __init__(
        self,
        covered: RunObserver,
        retry_interval: float = 2.0,
        flush_timeout: float = 300.0,
        spill_dir: str | None = None,
    ):
        self.covered = covered
        self.priority = getattr(covered, "priority", 0)
        self.retry_interval = retry_interval
        self.flush_timeout = flush_timeout
        self.spill_dir = spill_dir
        self._queue: deque[tuple[str, tuple, dict]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.failures = 0  # delivery attempts that raised (for tests and diagnostics)

    # ---- events -----------------------------------------------------------------------
    def started_event(self, *args, **kwargs):
        deadline = time.monotonic() + self.flush_timeout
        while True:  # the run id comes from here, so it is delivered synchronously
            try:
                run_id = self.covered.started_event(*args, **kwargs)
                break
            except Exception as err:  # any database error is retried until the deadline
                self.failures += 1
                if time.monotonic() > deadline:
                    raise
                log.warning("observer: start not recorded yet (%s); retrying", err)
                time.sleep(self.retry_interval)
        self._closed = False
        self._thread = threading.Thread(target=self._deliver_loop, name="pearl-bench-observer", daemon=True)
        self._thread.start()
        return run_id

    def queued_event(self, *args, **kwargs):
        return self.covered.queued_event(*args, **kwargs)

    def heartbeat_event(self, *args, **kwargs):
        with self._cond:
            if self._queue and self._queue[-1][0] == "heartbeat_event":
                self._queue.pop()
            self._put("heartbeat_event", args, kwargs)

    def log_metrics(self, metrics_by_name: dict[str, Any], info: dict[str, Any]):
        with self._cond:
            for name, values in metrics_by_name.items():
                self._put("log_metrics", (name, values, info), {})

    def artifact_event(self, *args, **kwargs):
        self._put("artifact_event", args, kwargs)

    def resource_event(self, *args, **kwargs):
        self._put("resource_event", args, kwargs)

    def completed_event(self, *args, **kwargs):
        self._finish("completed_event", args, kwargs)

    def interrupted_event(self, *args, **kwargs):
        self._finish("interrupted_event", args, kwargs)

    def failed_event(self, *args, **kwargs):
        self._finish("failed_event", args, kwargs)

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    # ---- delivery ---------------------------------------------------------------------
    def _put(self, name: str, args: tuple, kwargs: dict) -> None:
        with self._cond:
            self._queue.append((name, args, kwargs))
            self._cond.notify_all()

    def _deliver_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(timeout=1.0)
                if not self._queue and self._closed:
                    return
                event = self._queue[0]
            name, args, kwargs = event
            try:
                getattr(self.covered, name)(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - retried after a pause
                self.failures += 1
                log.warning(
                    "observer: %s not delivered (%s: %s); retrying in %.1f s",
                    name,
                    type(err).__name__,
                    str(err).splitlines()[0] if str(err) else "",
                    self.retry_interval,
                )
                with self._cond:
                    if self._closed and self._give_up:
                        return
                    self._cond.wait(timeout=self.retry_interval)
                continue
            with self._cond:
                if self._queue and self._queue[0] is event:
                    self._queue.popleft()
                self._cond.notify_all()

    _give_up = False

    def _finish(self, name: str, args: tuple, kwargs: dict) -> None:
        self._put(name, args, kwargs)
        deadline = time.monotonic() + self.flush_timeout
        with self._cond:
            while self._queue and time.monotonic() < deadline:
                self._cond.wait(timeout=0.2)
            self._closed = True
            left = list(self._queue)
            if left:
                self._give_up = True
                self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_interval + 5.0)
        if left:
            self._spill(left)

    def _spill(self, events: list[tuple[str, tuple, dict]]) -> None:
        run_id = getattr(getattr(self.covered, "run_entry", None) or {}, "get", lambda k: None)("_id")
        message = f"observer: {len(events)} event(s) of run {run_id} could not be delivered"
        if self.spill_dir:
            os.makedirs(self.spill_dir, exist_ok=True)
            path = os.path.join(self.spill_dir, f"run_{run_id}_{int(time.time())}.pickle")
            with open(path, "wb") as f:
                pickle.dump(events, f)
            message += f"; saved to {path}"
        log.error(message)


class SourceOnceMongoObserver(QueueCompatibleMongoObserver):
    """Stores each version of a source file in GridFS once, however many runs use it.

    Sacred looks a stored source up by filename and GridFS's ``md5`` field, which pymongo 4 no
    longer writes, so every run uploaded fresh copies of all its sources. Here the md5 Sacred
    computed is written alongside the file, so the lookup finds it again.
    """

    def save_sources(self, ex_info):
        stored = []
        for name, md5 in ex_info["sources"]:
            path = os.path.join(ex_info["base_dir"], name)
            found = self.fs.find_one({"filename": path, "md5": md5})
            if found is not None:
                file_id = found._id
            else:
                with open(path, "rb") as f:
                    file_id = self.fs.put(f, filename=path, md5=md5)
            stored.append([name, file_id])
        return stored
