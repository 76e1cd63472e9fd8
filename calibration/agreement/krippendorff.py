r"""Krippendorff's alpha for any number of raters, missing ratings and four levels (or weights).

alpha = 1 - D_o / D_e = 1 - (N - 1) sum_ck o_ck delta_ck / sum_ck n_c n_k delta_ck  (Krippendorff 2011)

over the pairable items (rated at least twice; the others are dropped): o_ck = sum_i r_ic
(r_ik - [c = k]) / (r_i - 1) is the coincidence matrix, n_c = sum_k o_ck and N = sum_c n_c the
pairable values. One vectorised pass over the items x categories count matrix.

Distances delta_ck (Krippendorff 2011, sec. "difference functions"):

* nominal: [c != k]
* ordinal: (sum_{g=c}^{k} n_g - (n_c + n_k) / 2)^2, ranks in scale order (his rank-frequency metric)
* interval: (x_c - x_k)^2
* ratio: ((x_c - x_k) / (x_c + x_k))^2 (non-negative values)
* with `weights` W (Gwet 2014 ch. 3): delta = 1 - W. Quadratic weights give interval alpha, ratio
  weights ratio alpha; Gwet's *ordinal weights* are not Krippendorff's ordinal metric (.834 vs
  .815 on Krippendorff's 2011 example).

Standard error (AGREEMENT.md item 5): Gwet's linearised variance for alpha (Gwet 2014 sec. 5.4,
irrCAC ``krippendorff``) over the n' pairable items, with W = 1 - delta / max(delta); for the
ordinal metric delta is held at its observed value. Interval alpha +- t(n' - 1) se, upper limit 1.

Reference: Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School
for Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from calibration.agreement._data import Ratings, as_ratings
from calibration.agreement._results import Estimate, undefined, with_se
from calibration.agreement._threads import blas_single_thread
from calibration.agreement.bootstrap import Statistic
from calibration.agreement.coefficients import common_reason, resolve_weights
from calibration.agreement.weights import UndefinedWeightsError

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def check_level(level: str, data: Ratings) -> None:
    """Raise ValueError when `level` is unknown or needs numbers the labels are not."""
    if level not in LEVELS:
        raise ValueError(f"level: unknown level {level!r} (expected one of {', '.join(LEVELS)})")
    if level in ("interval", "ratio") and data.values is None:
        from calibration.agreement._data import label_value

        bad = next(c for c in data.categories if label_value(c) is None)
        raise ValueError(f"level: {level} needs numeric labels; {bad!r} is not a number")


def ordinal_distances(nc: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric for marginals `nc` (..., q) -> (..., q, q)."""
    nc = np.asarray(nc, dtype=float)
    cs = np.cumsum(nc, axis=-1)
    # between[c, k] = sum_{g=c}^{k} n_g for k >= c
    between = cs[..., None, :] - cs[..., :, None] + nc[..., :, None]
    upper = (between - (nc[..., :, None] + nc[..., None, :]) / 2) ** 2
    q = nc.shape[-1]
    mask = np.triu(np.ones((q, q), dtype=bool))
    return np.where(mask, upper, np.swapaxes(upper, -1, -2))


def distance_matrix(level: str, data: Ratings, nc: np.ndarray | None = None) -> np.ndarray:
    """delta_ck for a Krippendorff level on the ratings' scale (ordinal needs marginals `nc`)."""
    q = data.n_categories
    if level == "nominal":
        return 1.0 - np.eye(q)
    if level == "ordinal":
        if nc is None:
            raise ValueError("ordinal distances need the pairable marginals")
        return ordinal_distances(nc)
    x = data.values
    diff = x[:, None] - x[None, :]
    if level == "interval":
        return diff**2
    total = x[:, None] + x[None, :]
    return np.divide(diff, total, out=np.zeros((q, q)), where=total != 0) ** 2


def _pairable_counts(data: Ratings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, ratings per item, mask) of the items rated at least twice (cached per Ratings)."""
    cached = data.__dict__.get("_pairable")
    if cached is not None:
        return cached
    counts = data.counts
    m = data.per_item
    keep = m >= 2
    if keep.all():
        out = counts.astype(float), m.astype(float), keep
    else:
        out = counts[keep].astype(float), m[keep].astype(float), keep
    data.__dict__["_pairable"] = out
    return out


def coincidences(data: Ratings) -> np.ndarray:
    """Krippendorff's coincidence matrix o (q x q) over the pairable items."""
    rp, m, _ = _pairable_counts(data)
    scaled = rp / (m - 1)[:, None]
    o = scaled.T @ rp
    o[np.diag_indices_from(o)] -= scaled.sum(axis=0)
    return o


def _alpha_from(o: np.ndarray, delta: np.ndarray) -> tuple[float, float, float]:
    nc = o.sum(axis=1)
    total = nc.sum()
    observed = float(np.sum(o * delta))
    expected = float(nc @ delta @ nc)
    return observed, expected, total


def _level_label(level: str, wlabel: str | None) -> str:
    return f"weights={wlabel}" if wlabel else f"level={level}"


@blas_single_thread
def krippendorff_alpha(
    ratings: Any,
    *,
    categories: Sequence[Any] | None = None,
    weights: Any = None,
    level: str = "nominal",
) -> Estimate:
    """Krippendorff's alpha (see the module docstring); `weights` overrides `level`.

    Items rated once are dropped (they cannot be paired). Undefined (estimate None with a reason)
    when no item is rated twice, or when all pairable values are the same (D_e = 0).
    """
    name = "krippendorff_alpha"
    data = as_ratings(ratings, categories)
    check_level(level, data)
    wlabel = None
    if weights is not None:
        wlabel = weights if isinstance(weights, str) else "custom"
        try:
            w, wlabel = resolve_weights(data, weights)
        except UndefinedWeightsError as exc:
            return undefined(name, str(exc), weights=wlabel)
    reason = common_reason(data)
    if reason:
        return undefined(name, reason, weights=wlabel, coefficient=_level_label(level, wlabel))
    if weights is None and level == "ratio" and (data.values < 0).any():
        return undefined(
            name,
            "ratio level needs non-negative values (a ratio scale has an absolute zero)",
            coefficient=_level_label(level, wlabel),
        )
    o = coincidences(data)
    nc = o.sum(axis=1)
    delta = 1.0 - w if weights is not None else distance_matrix(level, data, nc)
    observed, expected, total = _alpha_from(o, delta)
    n_pairable = int((data.per_item >= 2).sum())
    label = _level_label(level, wlabel)
    if expected <= 0:
        return undefined(
            name,
            "no variation among the pairable values (expected disagreement is 0): alpha is 0/0",
            n_items=n_pairable,
            coefficient=label,
            weights=wlabel,
        )
    alpha = 1.0 - (total - 1) * observed / expected
    se, pa, pe = _gwet_alpha_se(data, 1.0 - delta / delta.max())
    est = with_se(
        name,
        alpha,
        se,
        n_pairable,
        method="Gwet linearised variance (pairable items)",
        pa=pa,
        pe=pe,
        coefficient=label,
        weights=wlabel,
    )
    if weights is None and level == "ordinal":
        est = est.with_notes("se holds the ordinal metric at its observed value")
    return est


def _gwet_alpha_se(data: Ratings, w: np.ndarray) -> tuple[float | None, float, float]:
    """Gwet's (2014 sec. 5.4) variance of alpha over the pairable items; returns (se, pa, pe)."""
    rp, m, _ = _pairable_counts(data)
    n = len(m)
    rbar = m.mean()
    eps = 1.0 / m.sum()
    rstar = rp @ w.T
    agree = (rp * (rstar - 1)).sum(axis=1) / (rbar * (m - 1))
    paprime = agree.mean()
    pa = (1 - eps) * paprime + eps
    pi = rp.sum(axis=0) / (n * rbar)
    pe = float(pi @ w @ pi)
    if n < 2 or abs(1 - pe) < 1e-12:
        return None, float(pa), pe
    alpha_prime = (paprime - pe) / (1 - pe)
    pa_i = agree - pa * (m - rbar) / rbar
    kappa_i = (pa_i - pe) / (1 - pe)
    pibar = (w @ pi + w.T @ pi) / 2
    pe_i = rp @ pibar / rbar - pe * (m - rbar) / rbar
    c = kappa_i - 2 * (1 - alpha_prime) * (pe_i - pe) / (1 - pe)
    var = np.sum((c - alpha_prime) ** 2) / (n * (n - 1))
    return float(np.sqrt(var)), float(pa), pe


def krippendorff_statistic(
    data: Ratings, *, level: str = "nominal", w: np.ndarray | None = None
) -> Statistic:
    """alpha as a function of per-item sums, for the bootstrap."""
    counts = data.counts.astype(float)
    m = data.per_item.astype(float)
    keep = m >= 2
    rp = np.where(keep[:, None], counts, 0.0)
    if w is None and level == "ordinal":
        return _ordinal_statistic(data, rp, m, keep)
    delta = 1.0 - w if w is not None else distance_matrix(level, data)
    d = np.einsum("ik,kl,il->i", rp, delta, rp)
    d = np.divide(d, m - 1, out=np.zeros_like(d), where=keep)
    block = np.column_stack([d, rp])

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        s = sums[0]
        nc = s[:, 1:]
        total = nc.sum(axis=1)
        expected = np.einsum("bk,kl,bl->b", nc, delta, nc)
        return 1.0 - (total - 1) * s[:, 0] / expected

    return Statistic((block,), reduce)


def _ordinal_statistic(data: Ratings, rp: np.ndarray, m: np.ndarray, keep: np.ndarray) -> Statistic:
    q = data.n_categories
    item, cat = np.nonzero(rp)  # row-major: grouped by item
    cnt = rp[item, cat]
    nnz = np.bincount(item, minlength=data.n_items)
    start = np.concatenate([[0], np.cumsum(nnz)[:-1]])
    reps = nnz[item]
    left = np.repeat(np.arange(len(item)), reps)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps)
    right = start[item[left]] + offset
    i = item[left]
    c, k = cat[left], cat[right]
    value = cnt[left] * (cnt[right] - (c == k)) / (m[i] - 1)
    block = sparse.csr_matrix((value, (i, c * q + k)), shape=(data.n_items, q * q))

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        o = sums[0].reshape(-1, q, q)
        nc = o.sum(axis=2)
        delta = ordinal_distances(nc)
        total = nc.sum(axis=1)
        observed = np.einsum("bkl,bkl->b", o, delta)
        expected = np.einsum("bk,bkl,bl->b", nc, delta, nc)
        return 1.0 - (total - 1) * observed / expected

    return Statistic((block,), reduce)
