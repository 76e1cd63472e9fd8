r"""Agreement per category and per rater: where the policy is unclear and who rates differently.

Same signature style as the coefficients: ``function(ratings, *, categories=None, ...)``.

* `fleiss_category_kappa`: Fleiss' (1971, eq. 20-21) kappa for each category k against the rest
  (the data dichotomised into "k" / "not k"), with Gwet's raw-data handling of missing ratings and
  his linearised SE. With the same number of raters on every item it is Fleiss' kappa_j.
* `specific_agreement`: proportions of specific positive and negative agreement per category
  (Spitzer & Fleiss 1974; Uebersax 1982; Cicchetti & Feinstein 1990), multi-rater form
  ps_k = sum_i r_ik (r_ik - 1) / sum_i r_ik (r_i - 1), ns_k the same for "not k". For two raters
  and a binary scale ps = 2a / (2a + b + c) and ns = 2d / (2d + b + c). SE by linearising the
  ratio over items (t(n2 - 1) interval, clipped to [0, 1]).
* `rater_agreement`: for each rater, the (weighted) share of agreeing pairs with the other raters
  on the same items, the chance agreement implied by the rater's own label mix against the others'
  labels on those items, and the kappa-type ratio of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.agreement._data import Ratings, as_ratings
from calibration.agreement._results import Estimate, undefined, with_se
from calibration.agreement._threads import blas_single_thread
from calibration.agreement.coefficients import GWET_VARIANCE, common_reason, resolve_weights


def _binary_terms(data: Ratings) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    r = data.counts.astype(float)
    ri = r.sum(axis=1)
    pairable = ri >= 2
    return r, ri[:, None], pairable, len(ri), int(pairable.sum())


@blas_single_thread
def fleiss_category_kappa(ratings: Any, *, categories: Sequence[Any] | None = None) -> dict[Any, Estimate]:
    """Per-category Fleiss kappa (category k versus all others), keyed by category.

    kappa_k = (p_a,k - p_e,k) / (1 - p_e,k) with p_a,k the agreement on the dichotomised data
    ("k" or "not k") over items rated at least twice and p_e,k = pi_k^2 + (1 - pi_k)^2. Undefined
    for a category nobody used (or everybody always used).
    Reference: Fleiss (1971), Psychological Bulletin 76(5), 378-382, eq. (20)-(21).
    """
    data = as_ratings(ratings, categories)
    name = "fleiss_category_kappa"
    reason = common_reason(data, chance=False)
    if reason:
        return {c: undefined(name, reason, coefficient=str(c)) for c in data.categories}
    r, ri, pairable, n, n2 = _binary_terms(data)
    rest = ri - r
    den = ri * (ri - 1)
    pa_i = np.divide(r * (r - 1) + rest * (rest - 1), den, out=np.zeros_like(r), where=pairable[:, None])
    share = r / ri
    pi = share.mean(axis=0)
    pa = pa_i.sum(axis=0) / n2
    pe = pi**2 + (1 - pi) ** 2
    out: dict[Any, Estimate] = {}
    for k, cat in enumerate(data.categories):
        if abs(1 - pe[k]) < 1e-12:
            used = "never" if pi[k] == 0 else "always"
            out[cat] = undefined(
                name, f"category {cat!r} is {used} used: kappa is 0/0", coefficient=str(cat), n_items=n
            )
            continue
        kappa = (pa[k] - pe[k]) / (1 - pe[k])
        pe_i = share[:, k] * pi[k] + (1 - share[:, k]) * (1 - pi[k])
        c = (n / n2) * (pa_i[:, k] - pe[k] * pairable) / (1 - pe[k]) - 2 * (1 - kappa) * (pe_i - pe[k]) / (
            1 - pe[k]
        )
        se = float(np.sqrt(np.sum((c - kappa) ** 2) / (n * (n - 1)))) if n >= 2 else None
        out[cat] = with_se(
            name, kappa, se, n, method=GWET_VARIANCE, pa=float(pa[k]), pe=float(pe[k]), coefficient=str(cat)
        )
    return out


def _ratio_estimate(name: str, num: np.ndarray, den: np.ndarray, label: str) -> Estimate:
    total = den.sum()
    if total <= 0:
        return undefined(name, f"no rater pair involves {label}", coefficient=label)
    ratio = float(num.sum() / total)
    n = len(num)
    se = None
    if n >= 2:
        resid = num - ratio * den
        se = float(np.sqrt(np.sum(resid**2) / (n * (n - 1))) / (total / n))
    return with_se(name, ratio, se, n, low=0.0, method="ratio linearisation", coefficient=label)


@blas_single_thread
def specific_agreement(
    ratings: Any, *, categories: Sequence[Any] | None = None
) -> dict[Any, dict[str, Estimate]]:
    """Specific positive and negative agreement per category: {category: {"positive", "negative"}}.

    positive: of all rater pairs on an item in which at least the first rater said k, the share in
    which the other said k too; negative: the same for "not k".
    """
    data = as_ratings(ratings, categories)
    reason = common_reason(data, chance=False)
    if reason:
        return {
            c: {
                "positive": undefined("specific_positive_agreement", reason, coefficient=str(c)),
                "negative": undefined("specific_negative_agreement", reason, coefficient=str(c)),
            }
            for c in data.categories
        }
    r, ri, pairable, _, _ = _binary_terms(data)
    r, ri = r[pairable], ri[pairable]
    rest = ri - r
    out: dict[Any, dict[str, Estimate]] = {}
    for k, cat in enumerate(data.categories):
        pos = _ratio_estimate(
            "specific_positive_agreement", r[:, k] * (r[:, k] - 1), r[:, k] * (ri[:, 0] - 1), str(cat)
        )
        neg = _ratio_estimate(
            "specific_negative_agreement",
            rest[:, k] * (rest[:, k] - 1),
            rest[:, k] * (ri[:, 0] - 1),
            f"not {cat}",
        )
        out[cat] = {"positive": pos, "negative": neg}
    return out


def alpha_without_each_rater(data: Ratings, delta: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha recomputed without each rater in turn (NaN where undefined), exactly.

    Removing rater g changes only the items g rated: an item rated m >= 3 times loses one value
    (its disagreement becomes (r' Delta r') / (m - 2) with r' = r - e_l), an item rated twice stops
    being pairable. The corrections are summed per rater with `bincount`, so all R values cost one
    pass over the ratings. `delta` is a fixed distance matrix (nominal, interval, ratio, 1 - W).
    """
    q = data.n_categories
    counts = data.counts.astype(float)
    m = data.per_item.astype(float)
    pairable = m >= 2
    rd = counts @ delta  # (n, q): (Delta r_i)_l
    quad = np.einsum("ik,ik->i", rd, counts)  # r' Delta r
    d_item = np.divide(quad, m - 1, out=np.zeros_like(quad), where=pairable)
    nc = counts[pairable].sum(axis=0)
    total_d = d_item.sum()
    item, lab, g = data.item, data.label, data.rater
    mi = m[item]
    diag = np.diag(delta)[lab]
    new_quad = quad[item] - 2 * rd[item, lab] + diag
    new_d = np.divide(new_quad, mi - 2, out=np.zeros_like(new_quad), where=mi >= 3)
    change_d = np.bincount(g, weights=new_d - d_item[item], minlength=data.n_raters)
    change_n = np.zeros((data.n_raters, q))
    for k in range(q):
        lose = np.where(mi >= 3, (lab == k).astype(float), np.where(mi == 2, counts[item, k], 0.0))
        change_n[:, k] = np.bincount(g, weights=lose, minlength=data.n_raters)
    d_g = total_d + change_d
    n_g = nc[None, :] - change_n
    big_n = n_g.sum(axis=1)
    expected = np.einsum("gk,kl,gl->g", n_g, delta, n_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - (big_n - 1) * d_g / expected
    out[~(expected > 1e-12)] = np.nan
    return out


@blas_single_thread
def rater_agreement(
    ratings: Any,
    *,
    categories: Sequence[Any] | None = None,
    weights: Any = None,
    level: str = "nominal",
) -> list[dict[str, Any]]:
    """Per rater: agreement with the other raters on the same items (raw material for outliers).

    For rater g over the items g rated that have at least one other rating:
    ``agreement`` = sum over g's pairs of w(g's label, other's label) / number of pairs;
    ``chance_agreement`` = sum_kl w_kl p_gk o_gl with p_g g's label mix (pair-weighted) and o_g the
    other raters' labels on those items; ``kappa`` = (agreement - chance) / (1 - chance)
    (None when chance is 1). ``alpha_without`` is Krippendorff's alpha of all the data without
    rater g (with `weights`, else the `level` metric; None for the ordinal metric, whose distances
    depend on the data, and where undefined): a rater whose removal raises alpha most disagrees most.
    Raters are listed in order of first appearance.
    """
    from calibration.agreement.krippendorff import check_level, distance_matrix

    data = as_ratings(ratings, categories)
    w, _ = resolve_weights(data, weights)
    check_level(level, data)
    alpha_without = None
    if data.n_raters >= 2 and data.n_categories >= 2:
        if weights is not None:
            alpha_without = alpha_without_each_rater(data, 1.0 - w)
        elif level != "ordinal" and not (level == "ratio" and (data.values < 0).any()):
            alpha_without = alpha_without_each_rater(data, distance_matrix(level, data))
    q = data.n_categories
    counts = data.counts.astype(float)
    ri = data.per_item.astype(float)
    item, lab, g = data.item, data.label, data.rater
    pairs = ri[item] - 1  # other ratings of the same item
    rstar = counts @ w.T
    agree = rstar[item, lab] - 1.0  # w_ll = 1 removes the rater's own rating
    n_r = data.n_raters
    n_pairs = np.bincount(g, weights=pairs, minlength=n_r)
    agreement = np.bincount(g, weights=agree, minlength=n_r)
    own = np.zeros((n_r, q))
    others = np.zeros((n_r, q))
    for k in range(q):
        own[:, k] = np.bincount(g, weights=pairs * (lab == k), minlength=n_r)
        others[:, k] = np.bincount(g, weights=counts[item, k] - (lab == k), minlength=n_r)
    n_ratings = np.bincount(g, minlength=n_r)
    n_items_paired = np.bincount(g, weights=(pairs > 0).astype(float), minlength=n_r)
    out = []
    for j in range(n_r):
        row: dict[str, Any] = {
            "rater_id": data.rater_ids[j],
            "n_ratings": int(n_ratings[j]),
            "n_items_paired": int(n_items_paired[j]),
            "n_pairs": int(n_pairs[j]),
            "agreement": None,
            "chance_agreement": None,
            "kappa": None,
            "alpha_without": None,
        }
        if alpha_without is not None and np.isfinite(alpha_without[j]):
            row["alpha_without"] = float(alpha_without[j])
        if n_pairs[j] > 0:
            pa = agreement[j] / n_pairs[j]
            pe = float(own[j] / n_pairs[j] @ w @ (others[j] / n_pairs[j]))
            row["agreement"] = float(pa)
            row["chance_agreement"] = pe
            row["kappa"] = float((pa - pe) / (1 - pe)) if abs(1 - pe) > 1e-12 else None
        out.append(row)
    return out
