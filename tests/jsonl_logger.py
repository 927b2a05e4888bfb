"""A logger for tests: one JSON line per metric point, on disk, so a resumed run can be compared with
an uninterrupted one (``drop_after`` as ``pearl.core.logger.MemoryLogger``)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


class JSONLLogger:
    """Appends one ``{"name", "value", "step"}`` JSON object per line (non-finite values as strings)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log_scalar(self, name: str, value: float, step: int) -> None:
        value = float(value)
        record = {"name": name, "value": value if math.isfinite(value) else str(value), "step": int(step)}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open() as f:
            return [json.loads(line) for line in f if line.strip()]

    def drop_after(self, step: int) -> None:
        kept = [r for r in self.read() if r["step"] <= step]
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w") as f:
            for r in kept:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.path)
