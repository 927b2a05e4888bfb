"""Names of the logged metrics and artifacts the analysis reads (written by every method)."""

from __future__ import annotations

#: the paper's metric: test-task return after adaptation (sparse return on the sparse point robot)
RETURN_METRIC = "test/return"
#: return of the k-th adaptation trajectory on the test tasks: f"{ADAPTATION_PREFIX}{k}", k = 1, 2, ...
ADAPTATION_PREFIX = "test/adaptation_return/"
#: JSON artifact with evaluation paths: [{"goal": [x, y], "episodes": [[[x, y], ...], ...]}, ...]
EVAL_PATHS_ARTIFACT = "eval_paths.json"


def adaptation_index(metric: str) -> int:
    return int(metric[len(ADAPTATION_PREFIX):])
