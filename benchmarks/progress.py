"""Progress bar of a single training run: iterations, env steps and the latest test return.

It listens to the run's metrics (``benchmarks.experiment.LISTENERS``); the bar is drawn on the
terminal's stderr, outside Sacred's output capture, and is off when stderr is not a terminal.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from pearl.core.logger import ITERATION_METRIC


class TrainProgress:
    """A ``(name, value, step)`` listener that drives a tqdm bar over iterations.

    Metrics are logged against env steps, so the iteration count comes from the ``iteration``
    metric (0-based), which every method logs once per iteration.
    """

    def __init__(
        self,
        iterations: int,
        env_steps_metric: str | None = None,
        return_metric: str | None = None,
        enabled: bool | None = None,
        desc: str = "train",
    ):
        from tqdm import tqdm

        self.env_steps_metric, self.return_metric = env_steps_metric, return_metric
        self.env_steps: float | None = None
        self.test_return: float | None = None
        self.iterations_done = 0
        disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self.bar = tqdm(total=iterations, unit="it", desc=desc, disable=disable, file=sys.stderr, dynamic_ncols=True)

    @classmethod
    def for_method(cls, method, config: Any, **kwargs) -> "TrainProgress":
        info = method.progress_info(config)
        return cls(info["iterations"], info.get("env_steps_metric"), info.get("return_metric"), **kwargs)

    def __call__(self, name: str, value: float, step: int) -> None:
        changed = False
        if name == ITERATION_METRIC and value + 1 > self.iterations_done:
            self.iterations_done, changed = int(value) + 1, True
        elif name == self.env_steps_metric:
            self.env_steps, changed = value, True
        elif name == self.return_metric and math.isfinite(value):
            self.test_return, changed = value, True
        if changed:
            self.bar.n = min(self.iterations_done, self.bar.total or self.iterations_done)
            postfix = {}
            if self.env_steps is not None:
                postfix["env_steps"] = f"{int(self.env_steps):,}"
            if self.test_return is not None:
                postfix["test_return"] = f"{self.test_return:.2f}"
            self.bar.set_postfix(postfix, refresh=True)

    def close(self) -> None:
        self.bar.close()
