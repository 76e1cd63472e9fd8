"""Property tests: our coefficients agree with krippendorff, irrCAC, statsmodels and scikit-learn.

Where the definitions coincide the values match to 1e-9; where they differ, a test pins the
documented difference (docs/agreement.md, "Where peers differ").
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import calibration.agreement as A
from calibration.agreement import coefficients as C
from calibration.agreement.bootstrap import jackknife, resample_counts
from calibration.agreement.krippendorff import krippendorff_statistic

krippendorff = pytest.importorskip("krippendorff")
irr_raw = pytest.importorskip("irrCAC.raw")
sm_ir = pytest.importorskip("statsmodels.stats.inter_rater")
sk_metrics = pytest.importorskip("sklearn.metrics")

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
TOL = 1e-9
WEIGHTS = list(A.WEIGHT_NAMES)


def random_matrix(
    seed: int, n: int, r: int, q: int, p_missing: float, *, agreement: float = 0.6
) -> np.ndarray:
    """items x raters matrix of category values 1..q (float, NaN = missing); every rater rates
    something and at least one item is rated twice."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, q + 1, n)
    noise = rng.integers(1, q + 1, (n, r))
    m = np.where(rng.random((n, r)) < agreement, truth[:, None], noise).astype(float)
    m[rng.random((n, r)) < p_missing] = np.nan
    for g in range(r):  # every rater rates at least one item
        if np.isnan(m[:, g]).all():
            m[rng.integers(n), g] = truth[0]
    if not ((~np.isnan(m)).sum(axis=1) >= 2).any():
        m[0, :2] = truth[0]
    return m


designs = st.tuples(
    st.integers(0, 2**31 - 1),  # seed
    st.integers(3, 25),  # items
    st.integers(2, 6),  # raters
    st.integers(2, 5),  # categories
    st.sampled_from([0.0, 0.15, 0.4]),  # missing share
)


# --------------------------------------------------------------------------- krippendorff


@SETTINGS
@given(designs, st.sampled_from(A.LEVELS))
def test_alpha_matches_krippendorff_package(design: tuple, level: str) -> None:
    seed, n, r, q, p = design
    m = random_matrix(seed, n, r, q, p)
    ours = A.krippendorff_alpha(m, level=level, categories=[float(k) for k in range(1, q + 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            theirs = krippendorff.alpha(
                reliability_data=m.T, level_of_measurement=level, value_domain=np.arange(1.0, q + 1)
            )
        except ValueError:  # the package refuses data without a pairable unit
            theirs = float("nan")
    if ours.estimate is None:
        assert not np.isfinite(theirs)
    else:
        assert ours.estimate == pytest.approx(theirs, abs=TOL)


# --------------------------------------------------------------------------- irrCAC (raw data)

IRR_METHODS = {
    "gwet_ac": "gwet",
    "fleiss_kappa": "fleiss",
    "conger_kappa": "conger",
    "brennan_prediger": "bp",
    "krippendorff_alpha": "krippendorff",
}


@SETTINGS
@given(designs, st.sampled_from(WEIGHTS), st.sampled_from(sorted(IRR_METHODS)))
def test_gwet_family_matches_irrcac_estimate_se_and_interval(design: tuple, weights: str, name: str) -> None:
    seed, n, r, q, p = design
    m = random_matrix(seed, n, r, q, p)
    scale = [float(k) for k in range(1, q + 1)]
    fn = {"krippendorff_alpha": A.krippendorff_alpha}.get(name) or getattr(A, name)
    ours = fn(m, categories=scale, weights=None if weights == "identity" else weights)
    frame = pd.DataFrame(m)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        theirs = getattr(
            irr_raw.CAC(frame, weights=weights, categories=scale, digits=15), IRR_METHODS[name]
        )()
    est = theirs["est"]
    value = float(np.ravel(est["coefficient_value"])[0])
    if ours.estimate is None:
        assert not np.isfinite(value) or ours.reason
        return
    assert ours.estimate == pytest.approx(value, abs=TOL)
    assert ours.pa == pytest.approx(float(est["pa"]), abs=TOL)
    assert ours.pe == pytest.approx(float(est["pe"]), abs=TOL)
    se = float(np.ravel(est["se"])[0])
    if ours.se is not None and se > 1e-12:  # irrCAC reports 1e-15 for a zero SE
        assert ours.se == pytest.approx(se, abs=TOL)
        lo, hi = est["confidence_interval"]
        assert ours.ci_low == pytest.approx(float(np.ravel(lo)[0]), abs=TOL)
        assert ours.ci_high == pytest.approx(float(np.ravel(hi)[0]), abs=TOL)


@SETTINGS
@given(designs)
def test_alpha_gwet_form_equals_krippendorff_form_with_weights(design: tuple) -> None:
    # Gwet's p_a / p_e formulation of alpha (irrCAC) equals Krippendorff's coincidence form for any
    # weights; we compute the latter and report Gwet's p_a and p_e beside it.
    seed, n, r, q, p = design
    m = random_matrix(seed, n, r, q, p)
    for weights in WEIGHTS:
        est = A.krippendorff_alpha(m, weights=None if weights == "identity" else weights)
        if est.estimate is not None and est.pe is not None and est.pe < 1:
            assert est.estimate == pytest.approx((est.pa - est.pe) / (1 - est.pe), abs=TOL)


# --------------------------------------------------------------------------- two raters


two_rater_designs = st.tuples(
    st.integers(0, 2**31 - 1), st.integers(4, 40), st.integers(2, 5), st.sampled_from([0.3, 0.6, 0.9])
)


def two_raters(seed: int, n: int, q: int, agreement: float) -> np.ndarray:
    return random_matrix(seed, n, 2, q, 0.0, agreement=agreement)


@SETTINGS
@given(two_rater_designs, st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_matches_statsmodels_kappa_and_fce_standard_error(design: tuple, weights: str | None) -> None:
    seed, n, q, agreement = design
    m = two_raters(seed, n, q, agreement)
    ours = A.cohen_kappa(m, categories=[float(k) for k in range(1, q + 1)], weights=weights)
    table = np.zeros((q, q))
    np.add.at(table, (m[:, 0].astype(int) - 1, m[:, 1].astype(int) - 1), 1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = sm_ir.cohens_kappa(table, wt=weights, weights=None if weights is None else np.arange(q))
    if ours.estimate is None:
        assert not np.isfinite(res.kappa)
        return
    assert ours.estimate == pytest.approx(res.kappa, abs=TOL)
    assert ours.se == pytest.approx(res.std_kappa, abs=TOL)


@SETTINGS
@given(two_rater_designs, st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_matches_sklearn_on_text_labels(design: tuple, weights: str | None) -> None:
    seed, n, q, agreement = design
    m = two_raters(seed, n, q, agreement)
    names = [f"c{k}" for k in range(q)]
    labels = np.array(names, dtype=object)[m.astype(int) - 1]
    ours = A.cohen_kappa(labels, categories=names, weights=weights)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        theirs = sk_metrics.cohen_kappa_score(labels[:, 0], labels[:, 1], labels=names, weights=weights)
    if ours.estimate is None:
        assert not np.isfinite(theirs)
    else:
        assert ours.estimate == pytest.approx(theirs, abs=TOL)


def test_sklearn_weights_use_positions_where_we_use_numeric_values() -> None:
    # Documented difference (AGREEMENT.md item 1): labels 1, 2, 5 are values to us, positions to sklearn.
    a = ["1", "2", "5", "5", "1", "2", "2", "5"]
    b = ["2", "2", "5", "1", "1", "5", "2", "2"]
    frame = np.array([a, b], dtype=object).T
    ours = A.cohen_kappa(frame, weights="linear").estimate
    sk = sk_metrics.cohen_kappa_score(a, b, labels=["1", "2", "5"], weights="linear")
    assert abs(ours - sk) > 1e-3
    text = A.cohen_kappa(frame, categories=["1", "2", "5"], weights="linear")
    positions = A.cohen_kappa(
        np.array([[{"1": "a", "2": "b", "5": "c"}[x] for x in row] for row in frame]), weights="linear"
    )
    assert text.estimate == pytest.approx(ours, abs=TOL)
    assert positions.estimate == pytest.approx(sk, abs=TOL)


def test_sklearn_scale_is_observed_labels_where_ours_can_be_the_full_scale() -> None:
    # Documented difference: an unobserved category inside the scale changes linear weights
    # (sklearn only knows the labels it is given or sees), and changes AC1 / BP even unweighted.
    a, b = ["a", "b", "d", "a", "d", "b"], ["a", "d", "d", "b", "d", "b"]
    frame = np.array([a, b], dtype=object).T
    sk = sk_metrics.cohen_kappa_score(a, b, weights="linear")
    observed = A.cohen_kappa(frame, weights="linear").estimate
    full = A.cohen_kappa(frame, categories=["a", "b", "c", "d"], weights="linear").estimate
    assert observed == pytest.approx(sk, abs=TOL)
    assert abs(full - sk) > 1e-3
    assert A.gwet_ac(frame).estimate != pytest.approx(A.gwet_ac(frame, categories=list("abcd")).estimate)
    assert A.cohen_kappa(frame).estimate == pytest.approx(
        A.cohen_kappa(frame, categories=list("abcd")).estimate
    )


@SETTINGS
@given(designs)
def test_fleiss_matches_statsmodels_on_complete_data(design: tuple) -> None:
    seed, n, r, q, _ = design
    m = random_matrix(seed, n, r, q, 0.0)
    counts = np.stack([(m == k).sum(axis=1) for k in range(1, q + 1)], axis=1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        theirs = sm_ir.fleiss_kappa(counts)
    ours = A.fleiss_kappa(m, categories=[float(k) for k in range(1, q + 1)])
    if ours.estimate is None:
        assert not np.isfinite(theirs)
    else:
        assert ours.estimate == pytest.approx(theirs, abs=TOL)


def test_statsmodels_fleiss_refuses_missing_ratings_where_we_follow_gwet() -> None:
    # Documented difference: statsmodels asserts a constant number of raters per item.
    m = random_matrix(7, 12, 4, 3, 0.3)
    counts = np.stack([(m == k).sum(axis=1) for k in range(1, 4)], axis=1)
    with pytest.raises(AssertionError):
        sm_ir.fleiss_kappa(counts)
    assert A.fleiss_kappa(m).estimate is not None


@SETTINGS
@given(two_rater_designs, st.sampled_from(WEIGHTS))
def test_two_complete_raters_conger_is_cohen_and_fleiss_is_scott(design: tuple, weights: str) -> None:
    seed, n, q, agreement = design
    m = two_raters(seed, n, q, agreement)
    scale = [float(k) for k in range(1, q + 1)]
    w = None if weights == "identity" else weights
    cohen, conger = (
        A.cohen_kappa(m, categories=scale, weights=w),
        A.conger_kappa(m, categories=scale, weights=w),
    )
    scott, fleiss = A.scott_pi(m, categories=scale, weights=w), A.fleiss_kappa(m, categories=scale, weights=w)
    if cohen.estimate is not None and conger.estimate is not None:
        assert conger.estimate == pytest.approx(cohen.estimate, abs=TOL)
    if scott.estimate is not None and fleiss.estimate is not None:
        assert fleiss.estimate == pytest.approx(scott.estimate, abs=TOL)


@SETTINGS
@given(two_rater_designs)
def test_brennan_prediger_is_pabak_on_a_binary_scale(design: tuple) -> None:
    seed, n, _, agreement = design
    m = two_raters(seed, n, 2, agreement)
    pa = A.percent_agreement(m, categories=[1.0, 2.0]).estimate
    assert A.brennan_prediger(m, categories=[1.0, 2.0]).estimate == pytest.approx(2 * pa - 1, abs=TOL)


# --------------------------------------------------------------------------- bootstrap algebra


def _metric_statistics(data: A.Ratings, w: np.ndarray) -> dict:
    stats = {
        "percent_agreement": C.percent_agreement_statistic(data, w),
        "fleiss_kappa": C.fleiss_statistic(data, w),
        "gwet_ac": C.gwet_statistic(data, w),
        "brennan_prediger": C.brennan_prediger_statistic(data, w),
        "conger_kappa": C.conger_statistic(data, w),
        "krippendorff_alpha": krippendorff_statistic(data, w=w),
    }
    if data.n_raters == 2:
        stats["cohen_kappa"] = C.cohen_statistic(data, w)
        stats["scott_pi"] = C.scott_statistic(data, w)
    return stats


def _direct(name: str, data: object, w: np.ndarray) -> float | None:
    fn = {"krippendorff_alpha": A.krippendorff_alpha}.get(name) or getattr(A, name)
    return fn(data, weights=w).estimate


def _resampled(data: A.Ratings, picks: np.ndarray) -> A.Ratings:
    """The ratings of items `picks` (with repeats, each copy a new item) as a new Ratings."""
    order = np.argsort(data.item, kind="stable")
    starts = np.searchsorted(data.item[order], np.arange(data.n_items))
    counts = data.per_item
    rows = np.concatenate([order[starts[i] : starts[i] + counts[i]] for i in picks])
    new_item = np.repeat(np.arange(len(picks)), counts[picks])
    return A.Ratings(
        item=new_item,
        rater=data.rater[rows],
        label=data.label[rows],
        item_ids=np.arange(len(picks)).astype(object),
        rater_ids=data.rater_ids,
        categories=data.categories,
        values=data.values,
    )


@SETTINGS
@given(designs, st.sampled_from(["identity", "quadratic"]), st.integers(0, 1000))
def test_sums_bootstrap_equals_recomputing_on_the_resampled_items(
    design: tuple, weights: str, rs: int
) -> None:
    seed, n, r, q, p = design
    data = A.as_ratings(random_matrix(seed, n, r, q, p), categories=[float(k) for k in range(1, q + 1)])
    w = A.weight_matrix(weights, data.categories)
    rng = np.random.default_rng(rs)
    counts = resample_counts(rng, data.n_items, 1)
    picks = np.repeat(np.arange(data.n_items), counts[0].astype(int))
    resampled = _resampled(data, picks)
    for name, stat in _metric_statistics(data, w).items():
        direct = _direct(name, data, w)
        with np.errstate(all="ignore"):
            value = stat.value()
        if direct is None:
            assert not np.isfinite(value), name
            continue
        assert value == pytest.approx(direct, abs=TOL), name
        with np.errstate(all="ignore"):
            fast = stat.reduce(
                [np.asarray(counts @ (b.toarray() if hasattr(b, "toarray") else b)) for b in stat.blocks]
            )[0]
        # A rater may lose all ratings in a resample: both sides then drop that rater.
        slow = _direct(name, _drop_empty_raters(resampled), w)
        if slow is None or not np.isfinite(fast):
            continue
        assert fast == pytest.approx(slow, abs=TOL), name


def _drop_empty_raters(data: A.Ratings) -> A.Ratings:
    used = np.unique(data.rater)
    recode = np.full(data.n_raters, -1)
    recode[used] = np.arange(len(used))
    return A.Ratings(
        item=data.item,
        rater=recode[data.rater],
        label=data.label,
        item_ids=data.item_ids,
        rater_ids=data.rater_ids[used],
        categories=data.categories,
        values=data.values,
    )


@SETTINGS
@given(designs)
def test_jackknife_on_sums_equals_leaving_each_item_out(design: tuple) -> None:
    seed, n, r, q, p = design
    data = A.as_ratings(random_matrix(seed, n, r, q, p), categories=[float(k) for k in range(1, q + 1)])
    stat = krippendorff_statistic(data, level="ordinal")
    jack = jackknife(stat, data.n_items)
    for i in range(data.n_items):
        keep = np.setdiff1d(np.arange(data.n_items), [i])
        est = A.krippendorff_alpha(_drop_empty_raters(_resampled(data, keep)), level="ordinal").estimate
        if est is None:
            assert not np.isfinite(jack[i])
        else:
            assert jack[i] == pytest.approx(est, abs=TOL)


@SETTINGS
@given(designs, st.sampled_from(["nominal", "interval", "ratio"]))
def test_alpha_without_each_rater_equals_dropping_the_rater(design: tuple, level: str) -> None:
    from calibration.agreement.breakdown import alpha_without_each_rater
    from calibration.agreement.krippendorff import distance_matrix

    seed, n, r, q, p = design
    data = A.as_ratings(random_matrix(seed, n, r, q, p), categories=[float(k) for k in range(1, q + 1)])
    fast = alpha_without_each_rater(data, distance_matrix(level, data))
    for g in range(r):
        keep = data.rater != g
        rest = A.Ratings(
            item=data.item[keep],
            rater=data.rater[keep],
            label=data.label[keep],
            item_ids=data.item_ids,
            rater_ids=data.rater_ids,
            categories=data.categories,
            values=data.values,
        )
        est = A.krippendorff_alpha(_drop_empty_raters(rest), level=level).estimate
        if est is None:
            assert not np.isfinite(fast[g])
        else:
            assert fast[g] == pytest.approx(est, abs=TOL)
