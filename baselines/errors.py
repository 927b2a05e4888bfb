"""Non-finite loss detection, raising PEARL's ``NonFiniteLossError`` so callers handle one error type."""

from __future__ import annotations

import math

import torch

from pearl.sac import NonFiniteLossError


def check_finite(losses: dict[str, float | torch.Tensor], iteration: int, step: int | None = None) -> None:
    """Raise ``NonFiniteLossError`` naming every non-finite loss and the iteration (and step)."""
    values = {name: float(v.detach() if isinstance(v, torch.Tensor) else v) for name, v in losses.items()}
    bad = [name for name, v in values.items() if not math.isfinite(v)]
    if bad:
        where = f"iteration {iteration}" + (f", optimisation step {step}" if step is not None else "")
        detail = ", ".join(f"{n}={v}" for n, v in values.items())
        raise NonFiniteLossError(f"non-finite {', '.join(bad)} ({detail}) at {where}")


__all__ = ["NonFiniteLossError", "check_finite"]
