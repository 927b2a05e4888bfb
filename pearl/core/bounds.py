"""Valid ranges of numeric config values, declared once next to each field and checked by one function.

A config field declares its range with ``bounded(default, ...)`` (dataclass field metadata);
``check_bounds(config)`` walks a config tree (nested dataclasses included) and raises a
``ValueError`` naming the field, the value and the valid range. The PEARL and baseline configs
and the task families' env keyword arguments all use it, so every numeric value is refused the
same way: not a number, not finite, out of range, or not an integer where one is needed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

SEED_MAX = 2**32 - 1  # numpy's SeedSequence takes any non-negative int; gymnasium's reset seeds are uint32


@dataclass(frozen=True)
class Bounds:
    """``lo <= value <= hi`` (open ends with ``lo_open``/``hi_open``); an integer when ``integer``;
    ``None`` allowed when ``optional``; a non-empty list of such values when ``sequence``."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    optional: bool = False
    sequence: bool = False

    def describe(self) -> str:
        """E.g. "a positive integer", "in [0, 1] (a finite number)", "a finite number > 0 or None"."""
        kind = "integer" if self.integer else "finite number"
        if self.integer and self.hi is None and self.lo in (0, 1) and not self.lo_open:
            text = f"a {'positive' if self.lo == 1 else 'non-negative'} integer"
        elif self.lo is not None and self.hi is not None:
            text = (
                f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'} "
                f"(a{'n' if self.integer else ''} {kind})"
            )
        elif self.lo is not None:
            text = f"a {kind} {'>' if self.lo_open else '>='} {_num(self.lo)}"
        elif self.hi is not None:
            text = f"a {kind} {'<' if self.hi_open else '<='} {_num(self.hi)}"
        else:
            text = f"a{'n' if self.integer else ''} {kind}"
        if self.sequence:
            text = f"a non-empty list, each {text}"
        return text + (" or None" if self.optional else "")

    def accepts_one(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.sequence:
            return isinstance(value, (list, tuple)) and len(value) > 0 and all(self.accepts_one(v) for v in value)
        return self.accepts_one(value)

    def check(self, name: str, value: Any) -> None:
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def bounded(
    default: Any = dataclasses.MISSING, *, default_factory: Callable[[], Any] | Any = dataclasses.MISSING, **bounds: Any
) -> Any:
    """A dataclass field whose valid range is ``Bounds(**bounds)``."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"bounds": Bounds(**bounds)})


# the common ranges, by what they mean
def count(default: Any, **kw: Any) -> Any:
    """A positive integer (sizes, budgets, periods)."""
    return bounded(default, lo=1, integer=True, **kw)


def non_negative_count(default: Any, **kw: Any) -> Any:
    return bounded(default, lo=0, integer=True, **kw)


def positive(default: Any, **kw: Any) -> Any:
    """A finite number > 0 (learning rates, scales)."""
    return bounded(default, lo=0, lo_open=True, **kw)


def non_negative(default: Any, **kw: Any) -> Any:
    return bounded(default, lo=0, **kw)


def unit(default: Any, **kw: Any) -> Any:
    """A finite number in [0, 1] (discounts, GAE lambda, Polyak tau)."""
    return bounded(default, lo=0, hi=1, **kw)


def seed_field(default: int = 0) -> Any:
    return bounded(default, lo=0, hi=SEED_MAX, integer=True)


def check_bounds(config: Any, prefix: str = "") -> None:
    """ValueError for the first field of ``config`` (a dataclass, walked recursively) outside its bounds."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        bounds = f.metadata.get("bounds")
        if bounds is not None:
            bounds.check(prefix + f.name, value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_bounds(value, prefix + f.name + ".")
