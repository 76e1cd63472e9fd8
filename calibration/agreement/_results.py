"""The result of one coefficient: estimate, standard error, interval, and why when undefined."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """One agreement coefficient with its uncertainty.

    `estimate` is None when the coefficient is undefined for the data; `reason` then says why.
    `se` / `ci_low` / `ci_high` are analytic (see `ci_method`); they are None where the
    literature gives no formula or the sample is too small (`se_reason`).
    """

    name: str
    estimate: float | None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    df: int | None = None
    pa: float | None = None
    pe: float | None = None
    n_items: int | None = None
    coefficient: str | None = None
    weights: str | None = None
    reason: str | None = None
    se_reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __float__(self) -> float:
        return math.nan if self.estimate is None else float(self.estimate)

    @property
    def defined(self) -> bool:
        return self.estimate is not None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "name"}
        out["notes"] = list(self.notes)
        return out

    def with_notes(self, *notes: str) -> Estimate:
        return replace(self, notes=self.notes + tuple(n for n in notes if n))


def undefined(name: str, reason: str, **extra: Any) -> Estimate:
    return Estimate(name=name, estimate=None, reason=reason, **extra)


def finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def t_interval(
    estimate: float, se: float, n: int, *, low: float | None = None, high: float | None = 1.0
) -> tuple[float, float, str]:
    """Two-sided 95% interval estimate +- t(n-1) se, clipped to the coefficient's range.

    Clipping follows irrCAC (upper limit 1); percent agreement is also clipped below at 0.
    """
    tq = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    lo, hi = estimate - tq * se, estimate + tq * se
    if high is not None:
        hi = min(hi, high)
    if low is not None:
        lo = max(lo, low)
    return lo, hi, f"t({n - 1})"


def with_se(
    name: str,
    estimate: float,
    se: float | None,
    n: int,
    *,
    low: float | None = None,
    method: str,
    **extra: Any,
) -> Estimate:
    """An Estimate with an analytic SE and its t(n-1) interval (or se_reason when unavailable)."""
    if se is None or not math.isfinite(se) or n < 2:
        reason = "needs at least two items" if n < 2 else "standard error is not finite"
        return Estimate(name=name, estimate=float(estimate), n_items=n, se_reason=reason, **extra)
    lo, hi, tlabel = t_interval(estimate, se, n, low=low)
    return Estimate(
        name=name,
        estimate=float(estimate),
        se=float(se),
        ci_low=float(lo),
        ci_high=float(hi),
        ci_method=f"{tlabel}, {method}",
        df=n - 1,
        n_items=n,
        **extra,
    )
