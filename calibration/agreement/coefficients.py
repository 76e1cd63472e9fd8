r"""Chance-corrected agreement coefficients, weighted or not, with Gwet's analytic variances.

All functions share one signature, scikit-learn style::

    coefficient(ratings, *, categories=None, weights=None) -> Estimate

`ratings` is a long frame (``item_id, rater_id, label``), an items x raters matrix, or a `Ratings`
(see `calibration.agreement.as_ratings`). `weights` is None (unweighted), a name from
`WEIGHT_NAMES` or a q x q matrix. The result is an `Estimate`; an undefined coefficient has
``estimate is None`` and a `reason`, never NaN.

Notation (Gwet 2014, ch. 2-5): n items rated at least once, r_ik the number of raters who put
item i in category k, r_i = sum_k r_ik, n2 the items with r_i >= 2, w_kl the weights and
r*_ik = sum_l w_kl r_il.

* Weighted percent agreement: p_a = (1/n2) sum_{i: r_i>=2} sum_k r_ik (r*_ik - 1) / (r_i (r_i - 1)).
* Chance agreement p_e, with pi_k = (1/n) sum_i r_ik / r_i over all n items (single-rated too):

  - Fleiss (1971): p_e = sum_kl w_kl pi_k pi_l;
  - Gwet AC1/AC2 (Gwet 2008; 2014 ch. 4): p_e = T_w / (q (q - 1)) sum_k pi_k (1 - pi_k), T_w = sum w_kl;
  - Brennan-Prediger (1981): p_e = T_w / q^2;
  - Conger (1980): p_e = sum_kl w_kl (pbar_k pbar_l - s2_kl / r), rater marginals p_gk over each
    rater's own ratings, pbar their mean over the r raters, s2 their covariance (divisor r - 1).

* Coefficient: (p_a - p_e) / (1 - p_e).
* Variance (Gwet 2014 sec. 5.4; 2008): v = sum_i (c_i - kappa)^2 / (n (n - 1)) with
  c_i = (n / n2)(p_a|i - p_e [r_i >= 2]) / (1 - p_e) - 2 (1 - kappa)(p_e|i - p_e) / (1 - p_e),
  p_e|i the item's share of p_e (per coefficient, below). No finite-population correction.
  Intervals: kappa +- t(n - 1) sqrt(v), upper limit clipped at 1 (as irrCAC).

Two-rater coefficients (Cohen 1960/1968, Scott 1955) use the items both raters rated. Cohen's SE is
Fleiss, Cohen & Everitt (1969) (as SAS PROC FREQ and statsmodels); Scott's is Gwet's contingency
table formula (Gwet 2014 sec. 5.3, irrCAC ``table.scott``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from calibration.agreement._data import Ratings, as_ratings
from calibration.agreement._results import Estimate, undefined, with_se
from calibration.agreement._threads import blas_single_thread
from calibration.agreement.bootstrap import Statistic
from calibration.agreement.weights import UndefinedWeightsError, is_identity, weight_matrix

GWET_VARIANCE = "Gwet linearised variance"
_EPS = 1e-12


def resolve_weights(ratings: Ratings, weights: Any) -> tuple[np.ndarray, str]:
    """(W, label) for `weights` on the ratings' scale; raises UndefinedWeightsError / ValueError."""
    if weights is None:
        return np.eye(ratings.n_categories), "identity"
    w = weight_matrix(weights, ratings.categories)
    return w, weights if isinstance(weights, str) else "custom"


def _prepare(
    ratings: Any, categories: Sequence[Any] | None, weights: Any, name: str
) -> tuple[Ratings, np.ndarray | None, str, Estimate | None]:
    data = as_ratings(ratings, categories)
    wlabel = weights if isinstance(weights, str) else ("identity" if weights is None else "custom")
    try:
        w, wlabel = resolve_weights(data, weights)
    except UndefinedWeightsError as exc:
        return data, None, wlabel, undefined(name, str(exc), weights=wlabel)
    return data, w, wlabel, None


def common_reason(data: Ratings, *, chance: bool = True) -> str | None:
    """Why no coefficient can be computed (None when it can)."""
    if data.n_raters < 2:
        return "only one rater: agreement needs at least two raters"
    if not (data.per_item >= 2).any():
        return "no item was rated by two or more raters"
    if chance and data.n_categories < 2:
        return (
            f"only one category on the scale ({data.categories[0]!r}): chance agreement is 1 and "
            "the coefficient is 0/0; give the full scale with categories"
        )
    return None


@dataclass(frozen=True, eq=False)
class RawTerms:
    """Per-item terms of Gwet's raw-data formulas (all items rated at least once)."""

    r: np.ndarray  # (n, q) counts, float
    ri: np.ndarray  # (n,)
    pairable: np.ndarray  # (n,) bool, r_i >= 2
    n: int
    n2: int
    w: np.ndarray
    pa_i: np.ndarray  # (n,), 0 where not pairable
    pa: float
    pi: np.ndarray  # (q,)
    features: np.ndarray  # (n, q + 3): 1, pairable, pa_i, r_ik / r_i

    @property
    def q(self) -> int:
        return self.r.shape[1]


def raw_terms(data: Ratings, w: np.ndarray) -> RawTerms:
    """Gwet's raw-data building blocks for `data` under weights `w` (cached per object)."""
    # Cached on the Ratings object: a report asks for the same terms for several coefficients.
    cached = data.__dict__.get("_raw_terms", {}).get(w.tobytes())
    if cached is not None:
        return cached
    r = data.counts.astype(float)
    ri = r.sum(axis=1)
    pairable = ri >= 2
    rstar = r @ w.T
    den = ri * (ri - 1)
    agree = (r * (rstar - 1)).sum(axis=1)
    pa_i = np.divide(agree, den, out=np.zeros_like(agree), where=pairable)
    n = len(ri)
    n2 = int(pairable.sum())
    share = r / ri[:, None]
    pa = float(pa_i.sum() / n2) if n2 else float("nan")
    pi = share.mean(axis=0)
    features = np.column_stack([np.ones(n), pairable.astype(float), pa_i, share])
    terms = RawTerms(r, ri, pairable, n, n2, w, pa_i, pa, pi, features)
    data.__dict__.setdefault("_raw_terms", {})[w.tobytes()] = terms
    return terms


def _split_raw(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, n2 = s[:, 0], s[:, 1]
    return n, s[:, 2] / n2, s[:, 3:] / n[:, None]


def _gwet_se(t: RawTerms, kappa: float, pe: float, pe_i: np.ndarray | float) -> float | None:
    if t.n < 2:
        return None
    c = (t.n / t.n2) * (t.pa_i - pe * t.pairable) / (1 - pe) - 2 * (1 - kappa) * (pe_i - pe) / (1 - pe)
    return float(np.sqrt(np.sum((c - kappa) ** 2) / (t.n * (t.n - 1))))


def _chance_corrected(
    name: str, label: str, wlabel: str, t: RawTerms, pe: float, pe_i: np.ndarray | float
) -> Estimate:
    if abs(1 - pe) < _EPS:
        return undefined(
            name,
            "chance agreement is 1 (all ratings in one category): the coefficient is 0/0",
            pa=t.pa,
            pe=pe,
            n_items=t.n,
            coefficient=label,
            weights=wlabel,
        )
    kappa = (t.pa - pe) / (1 - pe)
    se = _gwet_se(t, kappa, pe, pe_i)
    return with_se(
        name, kappa, se, t.n, method=GWET_VARIANCE, pa=t.pa, pe=pe, coefficient=label, weights=wlabel
    )


# --------------------------------------------------------------------------- percent agreement


@blas_single_thread
def percent_agreement(
    ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None
) -> Estimate:
    r"""Percent agreement (weighted when `weights` is given), Gwet's raw-data form.

    p_a = (1/n2) sum_{i: r_i >= 2} sum_k r_ik (r*_ik - 1) / (r_i (r_i - 1)): the share of agreeing
    ordered rater pairs, averaged over items rated at least twice. SE (Gwet 2014 sec. 5.4):
    sqrt(sum_i ((n/n2) p_a|i - p_a)^2 / (n (n - 1))) over the n rated items; t(n - 1) interval
    clipped to [0, 1].
    """
    name = "percent_agreement"
    data, w, wlabel, bad = _prepare(ratings, categories, weights, name)
    if bad is not None:
        return bad
    reason = common_reason(data, chance=False)
    if reason:
        return undefined(name, reason, weights=wlabel)
    t = raw_terms(data, w)
    se = None
    if t.n >= 2:
        c = (t.n / t.n2) * t.pa_i
        se = float(np.sqrt(np.sum((c - t.pa) ** 2) / (t.n * (t.n - 1))))
    label = "percent agreement" if is_identity(w) else "weighted percent agreement"
    return with_se(
        name, t.pa, se, t.n, low=0.0, method=GWET_VARIANCE, pa=t.pa, coefficient=label, weights=wlabel
    )


def percent_agreement_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    t = raw_terms(data, w)
    return Statistic((t.features,), lambda s: _split_raw(s[0])[1])


# --------------------------------------------------------------------------- Fleiss


@blas_single_thread
def fleiss_kappa(ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None) -> Estimate:
    r"""Fleiss' (1971) kappa, generalised to weights and missing ratings (Gwet 2014 ch. 2, 5).

    p_e = sum_kl w_kl pi_k pi_l with pi_k = (1/n) sum_i r_ik / r_i; p_e|i = sum_k (r_ik / r_i)
    pibar_k with pibar = (W pi + W' pi) / 2. With two raters and no missing rating it equals Scott's
    pi. Reference: Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
    Psychological Bulletin 76(5), 378-382.
    """
    name = "fleiss_kappa"
    data, w, wlabel, bad = _prepare(ratings, categories, weights, name)
    if bad is not None:
        return bad
    reason = common_reason(data)
    if reason:
        return undefined(name, reason, weights=wlabel)
    t = raw_terms(data, w)
    pe = float(t.pi @ w @ t.pi)
    pibar = (w @ t.pi + w.T @ t.pi) / 2
    pe_i = (t.r / t.ri[:, None]) @ pibar
    return _chance_corrected(name, "Fleiss' kappa", wlabel, t, pe, pe_i)


def fleiss_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    t = raw_terms(data, w)

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        _, pa, pi = _split_raw(sums[0])
        pe = np.einsum("bk,kl,bl->b", pi, w, pi)
        return (pa - pe) / (1 - pe)

    return Statistic((t.features,), reduce)


# --------------------------------------------------------------------------- Gwet AC1 / AC2


@blas_single_thread
def gwet_ac(ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None) -> Estimate:
    r"""Gwet's AC1 (unweighted) or AC2 (weighted) coefficient.

    p_e = T_w / (q (q - 1)) sum_k pi_k (1 - pi_k), T_w = sum_kl w_kl, q the size of the whole scale
    (unobserved categories count); p_e|i = T_w / (q (q - 1)) sum_k (r_ik / r_i)(1 - pi_k).
    References: Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the
    presence of high agreement. BJMSP 61, 29-48; Gwet (2014) Handbook, 4th ed., ch. 4-5.
    """
    name = "gwet_ac"
    data, w, wlabel, bad = _prepare(ratings, categories, weights, name)
    if bad is not None:
        return bad
    reason = common_reason(data)
    if reason:
        return undefined(name, reason, weights=wlabel)
    t = raw_terms(data, w)
    q = t.q
    factor = w.sum() / (q * (q - 1))
    pe = float(factor * np.sum(t.pi * (1 - t.pi)))
    pe_i = factor * ((t.r / t.ri[:, None]) @ (1 - t.pi))
    label = "AC1" if is_identity(w) else "AC2"
    return _chance_corrected(name, label, wlabel, t, pe, pe_i)


def gwet_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    t = raw_terms(data, w)
    q = t.q
    factor = w.sum() / (q * (q - 1))

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        _, pa, pi = _split_raw(sums[0])
        pe = factor * np.sum(pi * (1 - pi), axis=1)
        return (pa - pe) / (1 - pe)

    return Statistic((t.features,), reduce)


# --------------------------------------------------------------------------- Brennan-Prediger


@blas_single_thread
def brennan_prediger(
    ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None
) -> Estimate:
    r"""Brennan & Prediger's (1981) coefficient: chance agreement p_e = T_w / q^2.

    Unweighted on two categories this is PABAK (Byrt, Bishop & Carlin 1993), 2 p_a - 1; in general
    (q p_a - 1) / (q - 1). q is the size of the whole scale. SE as Gwet 2014 sec. 5.4 with
    p_e|i = p_e. Reference: Brennan, R. L. & Prediger, D. J. (1981). Coefficient kappa: some uses,
    misuses, and alternatives. Educational and Psychological Measurement 41, 687-699.
    """
    name = "brennan_prediger"
    data, w, wlabel, bad = _prepare(ratings, categories, weights, name)
    if bad is not None:
        return bad
    reason = common_reason(data)
    if reason:
        return undefined(name, reason, weights=wlabel)
    t = raw_terms(data, w)
    pe = float(w.sum() / t.q**2)
    return _chance_corrected(name, "Brennan-Prediger", wlabel, t, pe, pe)


def brennan_prediger_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    t = raw_terms(data, w)
    pe = w.sum() / t.q**2
    return Statistic((t.features,), lambda s: (_split_raw(s[0])[1] - pe) / (1 - pe))


# --------------------------------------------------------------------------- Conger


def _conger_pe(p: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    r = p.shape[0]
    pbar = p.mean(axis=0)
    s2 = (p.T @ p - r * np.outer(pbar, pbar)) / (r - 1)
    return float(np.sum(w * (np.outer(pbar, pbar) - s2 / r))), pbar


@blas_single_thread
def conger_kappa(ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None) -> Estimate:
    r"""Conger's (1980) kappa: Fleiss' agreement, chance from the raters' own marginals.

    p_gk = share of rater g's ratings in category k (over all of g's ratings); pbar_k its mean over
    the r raters; s2_kl = sum_g (p_gk - pbar_k)(p_gl - pbar_l) / (r - 1);
    p_e = sum_kl w_kl (pbar_k pbar_l - s2_kl / r). With two raters and no missing rating it equals
    Cohen's kappa. SE: Gwet 2014 sec. 5.4 (as irrCAC ``conger``), p_e|i = sum_g lambda_ig / (r (r-1)).
    Reference: Conger, A. J. (1980). Integration and generalization of kappas for multiple raters.
    Psychological Bulletin 88(2), 322-328.
    """
    name = "conger_kappa"
    data, w, wlabel, bad = _prepare(ratings, categories, weights, name)
    if bad is not None:
        return bad
    reason = common_reason(data)
    if reason:
        return undefined(name, reason, weights=wlabel)
    t = raw_terms(data, w)
    ngk = data.rater_counts.astype(float)
    ng = ngk.sum(axis=1)
    p = ngk / ng[:, None]
    r = data.n_raters
    pe, pbar = _conger_pe(p, w)
    # lambda_ig (Gwet 2014 sec. 5.4) summed over raters, via one pass over the ratings.
    a = r * pbar[None, :] - p  # (R, q)
    b = a @ w  # b_gl = sum_k w_kl a_gk
    c = np.sum(p * b, axis=1)  # (R,)
    g, lab, item = data.rater, data.label, data.item
    contrib = (t.n / ng[g]) * (b[g, lab] - c[g])
    lam = np.bincount(item, weights=contrib, minlength=t.n) + c.sum()
    pe_i = lam / (r * (r - 1))
    return _chance_corrected(name, "Conger's kappa", wlabel, t, pe, pe_i)


def conger_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    t = raw_terms(data, w)
    q = data.n_categories
    rcount = data.n_raters
    rater_block = sparse.csr_matrix(
        (np.ones(data.n_ratings), (data.item, data.rater * q + data.label)),
        shape=(data.n_items, rcount * q),
    )

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        _, pa, _ = _split_raw(sums[0])
        ngk = sums[1].reshape(len(pa), rcount, q)
        ng = ngk.sum(axis=2)
        valid = ng > 0
        p = np.divide(ngk, ng[:, :, None], out=np.zeros_like(ngk), where=valid[:, :, None])
        r = valid.sum(axis=1).astype(float)
        pbar = p.sum(axis=1) / r[:, None]
        outer = pbar[:, :, None] * pbar[:, None, :]
        s2 = (np.einsum("bgk,bgl->bkl", p, p) - r[:, None, None] * outer) / (r - 1)[:, None, None]
        pe = np.einsum("kl,bkl->b", w, outer - s2 / r[:, None, None])
        return (pa - pe) / (1 - pe)

    return Statistic((t.features, rater_block), reduce)


# --------------------------------------------------------------------------- two raters


@dataclass(frozen=True, eq=False)
class PairTable:
    """Contingency table of the two raters on the items both rated."""

    table: np.ndarray  # (q, q) counts, rows = first rater
    items: np.ndarray  # item codes both rated
    first: np.ndarray  # label codes of the first rater on those items
    second: np.ndarray


def pair_table(data: Ratings) -> PairTable:
    """Table of raters 0 and 1 (first appearance order) on the items both rated."""
    n, q = data.n_items, data.n_categories
    lab = np.full((2, n), -1, dtype=np.int64)
    lab[data.rater, data.item] = data.label
    both = np.flatnonzero((lab[0] >= 0) & (lab[1] >= 0))
    first, second = lab[0, both], lab[1, both]
    table = np.bincount(first * q + second, minlength=q * q).reshape(q, q)
    return PairTable(table, both, first, second)


def _two_rater_reason(data: Ratings) -> str | None:
    if data.n_raters != 2:
        return (
            f"needs exactly two raters, found {data.n_raters}; see conger_kappa and fleiss_kappa "
            "for more raters"
        )
    return None


def _two_rater_prepare(
    ratings: Any, categories: Sequence[Any] | None, weights: Any, name: str
) -> tuple[Ratings, np.ndarray, str, PairTable] | Estimate:
    data, w, wlabel, bad = _prepare(ratings, categories, weights, name)
    if bad is not None:
        return bad
    reason = common_reason(data) or _two_rater_reason(data)
    if reason:
        return undefined(name, reason, weights=wlabel)
    pt = pair_table(data)
    if pt.table.sum() == 0:
        return undefined(name, "no item was rated by both raters", weights=wlabel)
    return data, w, wlabel, pt


@blas_single_thread
def cohen_kappa(ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None) -> Estimate:
    r"""Cohen's kappa (1960), weighted (Cohen 1968) when `weights` is given; exactly two raters.

    On the n items both raters rated, p_kl the table proportions, p_k. and p_.l the margins:
    p_a = sum w_kl p_kl, p_e = sum w_kl p_k. p_.l, kappa = (p_a - p_e) / (1 - p_e).
    SE (Fleiss, Cohen & Everitt 1969; SAS PROC FREQ; statsmodels ``cohens_kappa``):
    v = [sum_kl p_kl (w_kl - (wbar_k. + wbar_.l)(1 - kappa))^2 - (kappa - p_e (1 - kappa))^2]
    / (n (1 - p_e)^2), wbar_k. = sum_l p_.l w_kl, wbar_.l = sum_k p_k. w_kl; interval t(n - 1).
    References: Cohen, J. (1960). A coefficient of agreement for nominal scales. EPM 20, 37-46.
    Cohen, J. (1968). Weighted kappa. Psychological Bulletin 70(4), 213-220.
    """
    name = "cohen_kappa"
    prep = _two_rater_prepare(ratings, categories, weights, name)
    if isinstance(prep, Estimate):
        return prep
    _, w, wlabel, pt = prep
    nb = int(pt.table.sum())
    p = pt.table / nb
    prow, pcol = p.sum(axis=1), p.sum(axis=0)
    pa = float(np.sum(w * p))
    pe = float(prow @ w @ pcol)
    label = "Cohen's kappa" if is_identity(w) else "Cohen's weighted kappa"
    if abs(1 - pe) < _EPS:
        return undefined(
            name,
            "chance agreement is 1 (both raters used one category): kappa is 0/0",
            pa=pa,
            pe=pe,
            n_items=nb,
            coefficient=label,
            weights=wlabel,
        )
    kappa = (pa - pe) / (1 - pe)
    wrow = w @ pcol  # wbar_k.
    wcol = prow @ w  # wbar_.l
    term = np.sum(p * (w - (wrow[:, None] + wcol[None, :]) * (1 - kappa)) ** 2)
    var = (term - (kappa - pe * (1 - kappa)) ** 2) / (nb * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    return with_se(
        name,
        kappa,
        se,
        nb,
        method="Fleiss-Cohen-Everitt (1969) variance",
        pa=pa,
        pe=pe,
        coefficient=label,
        weights=wlabel,
    )


@blas_single_thread
def scott_pi(ratings: Any, *, categories: Sequence[Any] | None = None, weights: Any = None) -> Estimate:
    r"""Scott's (1955) pi, weighted when `weights` is given; exactly two raters.

    On the items both rated: pi_k = (p_k. + p_.k) / 2, p_e = sum w_kl pi_k pi_l. SE: Gwet 2014
    sec. 5.3 (irrCAC ``table.scott``): v = [sum p_kl (w_kl - (1 - pi)(pibar_k + pibar_l))^2 -
    (p_a - 2 (1 - pi) p_e)^2] / (n (1 - p_e)^2), pibar_k = sum_l w_kl pi_l.
    Reference: Scott, W. A. (1955). Reliability of content analysis: the case of nominal scale
    coding. Public Opinion Quarterly 19(3), 321-325.
    """
    name = "scott_pi"
    prep = _two_rater_prepare(ratings, categories, weights, name)
    if isinstance(prep, Estimate):
        return prep
    _, w, wlabel, pt = prep
    nb = int(pt.table.sum())
    p = pt.table / nb
    pik = (p.sum(axis=1) + p.sum(axis=0)) / 2
    pa = float(np.sum(w * p))
    pe = float(pik @ w @ pik)
    label = "Scott's pi" if is_identity(w) else "Scott's weighted pi"
    if abs(1 - pe) < _EPS:
        return undefined(
            name,
            "chance agreement is 1 (both raters used one category): pi is 0/0",
            pa=pa,
            pe=pe,
            n_items=nb,
            coefficient=label,
            weights=wlabel,
        )
    pi_hat = (pa - pe) / (1 - pe)
    pibar = w @ pik
    term = np.sum(p * (w - (1 - pi_hat) * (pibar[:, None] + pibar[None, :])) ** 2)
    var = (term - (pa - 2 * (1 - pi_hat) * pe) ** 2) / (nb * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    return with_se(
        name,
        pi_hat,
        se,
        nb,
        method="Gwet contingency-table variance",
        pa=pa,
        pe=pe,
        coefficient=label,
        weights=wlabel,
    )


def _pair_block(data: Ratings) -> sparse.csr_matrix:
    pt = pair_table(data)
    q = data.n_categories
    return sparse.csr_matrix(
        (np.ones(len(pt.items)), (pt.items, pt.first * q + pt.second)), shape=(data.n_items, q * q)
    )


def cohen_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    q = data.n_categories

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        c = sums[0].reshape(-1, q, q)
        p = c / c.sum(axis=(1, 2))[:, None, None]
        pa = np.einsum("kl,bkl->b", w, p)
        pe = np.einsum("bk,kl,bl->b", p.sum(axis=2), w, p.sum(axis=1))
        return (pa - pe) / (1 - pe)

    return Statistic((_pair_block(data),), reduce)


def scott_statistic(data: Ratings, w: np.ndarray) -> Statistic:
    q = data.n_categories

    def reduce(sums: list[np.ndarray]) -> np.ndarray:
        c = sums[0].reshape(-1, q, q)
        p = c / c.sum(axis=(1, 2))[:, None, None]
        pa = np.einsum("kl,bkl->b", w, p)
        pik = (p.sum(axis=2) + p.sum(axis=1)) / 2
        pe = np.einsum("bk,kl,bl->b", pik, w, pik)
        return (pa - pe) / (1 - pe)

    return Statistic((_pair_block(data),), reduce)
