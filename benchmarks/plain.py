"""Plain Python values (what JSON, Sacred and the run key's hash take) from configs and summaries."""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """``value`` with dict keys as strings, tuples as lists, numpy/torch scalars and arrays as Python
    numbers and lists; any other object (a ``Path``, ...) as its ``str``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "tolist"):  # numpy and torch scalars and arrays
        return plain(value.tolist())
    if hasattr(value, "item"):
        return plain(value.item())
    return str(value)
