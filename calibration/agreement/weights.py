"""Agreement weights (Gwet 2014, *Handbook of Inter-Rater Reliability*, 4th ed., ch. 3).

A weight matrix W (q x q) gives the credit w_kl in [0, 1] for one rater saying k and another l;
w_kk = 1. Weights are computed over the whole scale (AGREEMENT.md item 1), unobserved categories
included: x_k is the numeric value of category k when every category is a number, else its
position 1..q.

=========== ================================================================================
identity    w_kl = 1 if k == l else 0 (unweighted)
linear      1 - |x_k - x_l| / (x_max - x_min)
quadratic   1 - (x_k - x_l)^2 / (x_max - x_min)^2
ordinal     1 - M_kl / max M, M_kl = C(|k - l| + 1, 2) on positions k, l (ranks, not values)
radical     1 - sqrt|x_k - x_l| / sqrt(x_max - x_min)
ratio       1 - [(x_k - x_l) / (x_k + x_l)]^2 / [(x_max - x_min) / (x_max + x_min)]^2
circular    1 - sin^2(pi (x_k - x_l) / U) / max sin^2, U = x_max - x_min + 1
bipolar     1 - d_kl / max d, d_kl = (x_k - x_l)^2 / [(x_k + x_l - 2 x_min)(2 x_max - x_k - x_l)]
=========== ================================================================================

Where peers differ: scikit-learn's ``cohen_kappa_score(weights="linear"|"quadratic")`` always
uses positions 0..q-1 (never the label values) and only the labels it is given or observes;
statsmodels' ``cohens_kappa(wt=...)`` uses the scores you pass (default positions). irrCAC
(Python) matches the table above. Ratio weights need every value > 0 (a 0 makes 0/0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

WEIGHT_NAMES = ("identity", "linear", "quadratic", "ordinal", "radical", "ratio", "circular", "bipolar")


class UndefinedWeightsError(ValueError):
    """The weights cannot be computed on this scale (e.g. ratio weights with a 0 category)."""


def scale_values(categories: Sequence[Any]) -> np.ndarray:
    """x_k for each category: its numeric value when all categories are numbers, else 1..q."""
    from calibration.agreement._data import label_value

    values = [label_value(c) for c in categories]
    if values and all(v is not None for v in values):
        return np.array(values, dtype=float)
    return np.arange(1, len(values) + 1, dtype=float)


def weights_from_scale(name: str, x: np.ndarray) -> np.ndarray:
    """Weight matrix `name` for the category values `x` (see the module table)."""
    if name not in WEIGHT_NAMES:
        raise ValueError(f"weights: unknown weight name {name!r} (expected one of {', '.join(WEIGHT_NAMES)})")
    x = np.asarray(x, dtype=float)
    q = len(x)
    if name == "identity" or q < 2:
        return np.eye(q)
    diff = x[:, None] - x[None, :]
    span = x.max() - x.min()
    if name == "linear":
        return 1.0 - np.abs(diff) / span
    if name == "quadratic":
        return 1.0 - (diff / span) ** 2
    if name == "radical":
        return 1.0 - np.sqrt(np.abs(diff)) / np.sqrt(span)
    if name == "ordinal":
        pos = np.arange(q)
        gap = np.abs(pos[:, None] - pos[None, :]) + 1
        m = gap * (gap - 1) / 2.0
        return 1.0 - m / m.max()
    if name == "ratio":
        if (x <= 0).any():
            raise UndefinedWeightsError(
                "ratio weights are undefined on a scale with a category <= 0 "
                f"(value {x[x <= 0][0]:g}): (x_k - x_l) / (x_k + x_l) is 0/0 or changes sign"
            )
        total = x[:, None] + x[None, :]
        norm = (span / (x.max() + x.min())) ** 2
        return 1.0 - (diff / total) ** 2 / norm
    if name == "circular":
        u = span + 1.0
        s = np.sin(np.pi * diff / u) ** 2
        return 1.0 - s / s.max()
    # bipolar
    lo, hi = x.min(), x.max()
    total = x[:, None] + x[None, :]
    denom = (total - 2 * lo) * (2 * hi - total)
    off = ~np.eye(q, dtype=bool)
    d = np.zeros((q, q))
    d[off] = diff[off] ** 2 / denom[off]
    return 1.0 - d / d.max()


def weight_matrix(
    weights: str | np.ndarray | Sequence[Sequence[float]], categories: Sequence[Any]
) -> np.ndarray:
    """Weight matrix for `categories`: a name from `WEIGHT_NAMES` or a q x q matrix (validated).

    A custom matrix must be square q x q, symmetric, with entries in [0, 1] and ones on the
    diagonal.
    """
    q = len(categories)
    if isinstance(weights, str):
        return weights_from_scale(weights, scale_values(categories))
    w = np.asarray(weights, dtype=float)
    if w.shape != (q, q):
        raise ValueError(f"weights: expected a {q}x{q} matrix for {q} categories, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or (w > 1).any():
        raise ValueError("weights: entries must be finite and within [0, 1]")
    if not np.allclose(np.diag(w), 1.0):
        raise ValueError("weights: the diagonal must be 1 (full credit for exact agreement)")
    if not np.allclose(w, w.T):
        raise ValueError("weights: the matrix must be symmetric")
    return w


def is_identity(w: np.ndarray) -> bool:
    return bool(np.array_equal(w, np.eye(len(w))))
