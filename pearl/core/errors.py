"""Errors every algorithm raises the same way, so callers handle one type."""

from __future__ import annotations

import math

import torch


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite."""


def check_finite(losses: dict[str, float | torch.Tensor], iteration: int, step: int | None = None) -> None:
    """Raise ``NonFiniteLossError`` naming every non-finite loss and the iteration (and step)."""
    values = {name: float(v.detach() if isinstance(v, torch.Tensor) else v) for name, v in losses.items()}
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    if bad:
        where = f"iteration {iteration}" + (f", optimisation step {step}" if step is not None else "")
        detail = ", ".join(f"{n}={v}" for n, v in values.items())
        raise NonFiniteLossError(f"non-finite {', '.join(bad)} ({detail}) at {where}")
