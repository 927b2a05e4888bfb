"""Names of the logged metrics and artifacts the analysis reads (written by every method)."""

from __future__ import annotations

from pearl.core.logger import ADAPTATION_PREFIX, ENV_STEPS_METRIC, ITERATION_METRIC, RETURN_METRIC

#: JSON artifact with evaluation paths: [{"goal": [x, y], "episodes": [[[x, y], ...], ...]}, ...]
EVAL_PATHS_ARTIFACT = "eval_paths.json"

#: figures and tables use finished runs only: an interrupted attempt's curve is partial, and the
#: attempt that resumed and completed it carries the whole curve (benchmarks/journal.py)
STATUS = "COMPLETED"

__all__ = [
    "ADAPTATION_PREFIX",
    "ENV_STEPS_METRIC",
    "EVAL_PATHS_ARTIFACT",
    "ITERATION_METRIC",
    "RETURN_METRIC",
    "STATUS",
    "adaptation_index",
]


def adaptation_index(metric: str) -> int:
    return int(metric[len(ADAPTATION_PREFIX) :])
