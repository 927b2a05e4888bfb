"""Conjugate gradient for A x = b with A symmetric positive definite, given only x -> A x.

Hestenes & Stiefel (1952); TRPO (Schulman et al. 2015, Appendix C) uses 10 iterations from x = 0 and
a residual tolerance of 1e-10, as the ProMP optimizer does (reference Section 3.1).
"""

from __future__ import annotations

from typing import Callable

import torch


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int = 10, residual_tol: float = 1e-10
) -> torch.Tensor:
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - A x
    p = r.clone()
    rr = torch.dot(r, r)
    for _ in range(iters):
        if rr < residual_tol:
            break
        Ap = matvec(p)
        alpha = rr / (torch.dot(p, Ap) + 1e-12)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x
