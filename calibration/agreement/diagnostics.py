r"""Why a coefficient is what it is: design counts, prevalence and bias indices, the kappa paradox.

* Prevalence index (Byrt, Bishop & Carlin 1993), per category k, over rater pairs on the same
  item: PI_k = P(both say k) - P(both say not k). For two raters and a binary scale this is
  (a - d) / n; |PI| near 1 means one category dominates, which drags kappa down at a fixed
  percent agreement.
* Bias index (Byrt et al. 1993): how far the raters' marginal distributions differ. Two raters:
  BI = (1/2) sum_k |p_1k - p_2k| on the items both rated ((b - c) / n in absolute value for a
  binary scale). More raters: the mean of that distance over all rater pairs, each rater's
  marginals taken over all of their ratings.
* Kappa paradox (Feinstein & Cicchetti 1990): high percent agreement with a low kappa. Flagged
  when percent agreement >= 0.80 and the kappa (Cohen's with two raters, else Fleiss') is at
  least 0.30 below it; the message points to Gwet's AC1 and PABAK (Brennan-Prediger), which do
  not depend on prevalence in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.agreement._data import Ratings, as_ratings
from calibration.agreement._threads import blas_single_thread
from calibration.agreement.coefficients import pair_table

PARADOX_MIN_AGREEMENT = 0.80
PARADOX_MIN_GAP = 0.30


def prevalence_index(data: Ratings) -> dict[Any, float | None]:
    """PI_k = P(pair agrees on k) - P(pair agrees on not-k), over ordered rater pairs per item."""
    r = data.counts.astype(float)
    ri = r.sum(axis=1, keepdims=True)
    pairs = float((ri * (ri - 1)).sum())
    if pairs <= 0:
        return {c: None for c in data.categories}
    both = (r * (r - 1)).sum(axis=0) / pairs
    rest = ri - r
    neither = (rest * (rest - 1)).sum(axis=0) / pairs
    return {c: float(v) for c, v in zip(data.categories, both - neither, strict=True)}


def _mean_pairwise_tv(p: np.ndarray) -> float:
    """Mean over rater pairs of half the L1 distance between rows of p, in O(R log R) per column."""
    r = p.shape[0]
    total = 0.0
    for k in range(p.shape[1]):
        x = np.sort(p[:, k])
        total += float(np.sum(x * (2 * np.arange(1, r + 1) - r - 1)))
    return total / 2 / (r * (r - 1) / 2)


def bias_index(data: Ratings) -> tuple[float | None, str]:
    """(bias index, how it was computed); None with fewer than two raters."""
    if data.n_raters < 2:
        return None, "needs two raters"
    if data.n_raters == 2:
        pt = pair_table(data)
        n = pt.table.sum()
        if n == 0:
            return None, "no item rated by both raters"
        p1 = pt.table.sum(axis=1) / n
        p2 = pt.table.sum(axis=0) / n
        return float(np.abs(p1 - p2).sum() / 2), "two raters, items both rated: (1/2) sum_k |p_1k - p_2k|"
    rc = data.rater_counts.astype(float)
    p = rc / rc.sum(axis=1, keepdims=True)
    return (
        _mean_pairwise_tv(p),
        "mean over rater pairs of (1/2) sum_k |p_gk - p_hk|, each rater's own ratings",
    )


def kappa_paradox(percent_agreement: float | None, kappa: float | None) -> str | None:
    """A warning when agreement is high but kappa is low, else None."""
    if percent_agreement is None or kappa is None:
        return None
    if percent_agreement >= PARADOX_MIN_AGREEMENT and percent_agreement - kappa >= PARADOX_MIN_GAP:
        return (
            f"kappa paradox: percent agreement is {percent_agreement:.3f} but kappa is {kappa:.3f}. "
            "Kappa is low because one category dominates (see prevalence_index) or the raters' "
            "marginals differ (bias_index), not necessarily because raters disagree; read it with "
            "Gwet's AC1 (gwet_ac) and PABAK (brennan_prediger)."
        )
    return None


@blas_single_thread
def agreement_diagnostics(ratings: Any, *, categories: Sequence[Any] | None = None) -> dict[str, Any]:
    """Design counts, prevalence and bias indices (see the module docstring)."""
    data = as_ratings(ratings, categories)
    m = data.per_item
    shares = np.bincount(data.label, minlength=data.n_categories) / max(data.n_ratings, 1)
    pi = prevalence_index(data)
    bi, bi_method = bias_index(data)
    out: dict[str, Any] = {
        "n_items_pairable": int((m >= 2).sum()),
        "n_items_single": int((m == 1).sum()),
        "n_pairable_values": int(m[m >= 2].sum()),
        "ratings_per_item": {"min": int(m.min()), "mean": float(m.mean()), "max": int(m.max())},
        "prevalence": {str(c): float(s) for c, s in zip(data.categories, shares, strict=True)},
        "prevalence_index": {str(c): v for c, v in pi.items()},
        "bias_index": bi,
        "bias_index_method": bi_method,
    }
    if data.n_categories == 2:
        first = next(iter(pi.values()))
        out["prevalence_index_binary"] = None if first is None else abs(first)
    if data.n_raters == 2:
        out["n_items_both_rated"] = int(pair_table(data).table.sum())
    return out
