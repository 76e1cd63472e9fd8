"""Conventions (shared/AGREEMENT.md), known traps, undefined cases, breakdowns and the bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import calibration.agreement as A

KRIPPENDORFF_2011 = Path(__file__).parent / "data" / "agreement" / "krippendorff2011.csv"


def long(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "rater_id", "label"])


def two_rater_table(table: list[list[int]], names: list[str]) -> pd.DataFrame:
    rows, item = [], 0
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            for _ in range(table[i][j]):
                rows += [(item, "r1", a), (item, "r2", b)]
                item += 1
    return long(rows)


# --------------------------------------------------------------------------- scale (item 1)


def test_category_order_is_the_users_not_sorted() -> None:
    ratings = long(
        [
            (i, r, lab)
            for i, labs in enumerate(["aab", "bbc", "ccc", "abc", "bba"])
            for r, lab in zip("xyz", labs, strict=True)
        ]
    )
    data = A.as_ratings(ratings, categories=["c", "a", "b"])
    assert data.categories == ("c", "a", "b")
    given = A.krippendorff_alpha(ratings, categories=["c", "a", "b"], level="ordinal").estimate
    sorted_ = A.krippendorff_alpha(ratings, level="ordinal").estimate
    assert given != pytest.approx(sorted_)
    report = A.agreement_report(ratings, categories=["c", "a", "b"], n_boot=0)
    assert report["categories"] == ["c", "a", "b"]
    assert [row["category"] for row in report["per_category"]] == ["c", "a", "b"]


def test_labels_are_compared_exactly_as_written() -> None:
    ratings = long(
        [(1, "a", "Yes"), (1, "b", "yes"), (2, "a", " no"), (2, "b", "no"), (3, "a", "no"), (3, "b", "no")]
    )
    data = A.as_ratings(ratings)
    assert set(data.categories) == {"Yes", "yes", " no", "no"}
    assert A.percent_agreement(ratings).estimate == pytest.approx(1 / 3)


def test_labels_with_spaces_and_commas() -> None:
    ratings = long(
        [(1, "a", "hate speech"), (1, "b", "hate speech"), (2, "a", "not, hate"), (2, "b", "hate speech")]
    )
    assert A.percent_agreement(ratings).estimate == pytest.approx(0.5)


def test_numeric_labels_sort_numerically_and_weights_use_their_values() -> None:
    ratings = long(
        [(1, "a", "10"), (1, "b", "2"), (2, "a", "1"), (2, "b", "1"), (3, "a", "2"), (3, "b", "10")]
    )
    data = A.as_ratings(ratings)
    assert data.categories == ("1", "2", "10")
    assert data.values.tolist() == [1.0, 2.0, 10.0]
    w = A.weight_matrix("linear", data.categories)
    assert w[0, 1] == pytest.approx(1 - 1 / 9)
    # text scale: positions 1..q
    wt = A.weight_matrix("linear", ["low", "mid", "high"])
    assert wt[0, 1] == pytest.approx(0.5)


def test_unobserved_categories_count_for_ac1_and_bp_not_for_kappa() -> None:
    ratings = two_rater_table([[8, 2], [1, 9]], ["a", "b"])
    ac1_two, ac1_three = (
        A.gwet_ac(ratings).estimate,
        A.gwet_ac(ratings, categories=["a", "b", "c"]).estimate,
    )
    bp_two, bp_three = (
        A.brennan_prediger(ratings).estimate,
        A.brennan_prediger(ratings, categories=["a", "b", "c"]).estimate,
    )
    assert ac1_two != pytest.approx(ac1_three)
    assert bp_two == pytest.approx(2 * 0.85 - 1)
    assert bp_three == pytest.approx((3 * 0.85 - 1) / 2)
    assert A.cohen_kappa(ratings).estimate == pytest.approx(
        A.cohen_kappa(ratings, categories=list("abc")).estimate
    )


def test_label_outside_categories_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'z' is not one of the categories"):
        A.fleiss_kappa(long([(1, "a", "x"), (1, "b", "z")]), categories=["x", "y"])


# --------------------------------------------------------------------------- weights (item 2)


def test_identity_weights_equal_unweighted_everywhere() -> None:
    ratings = A.as_ratings(pd.read_csv(KRIPPENDORFF_2011, dtype=str))
    for fn in (
        A.percent_agreement,
        A.fleiss_kappa,
        A.conger_kappa,
        A.gwet_ac,
        A.brennan_prediger,
        A.krippendorff_alpha,
    ):
        assert fn(ratings, weights="identity").estimate == pytest.approx(fn(ratings).estimate, abs=1e-12)


def test_weight_matrices_have_unit_diagonal_and_are_symmetric() -> None:
    for name in A.WEIGHT_NAMES:
        w = A.weight_matrix(name, ["1", "2", "3", "5"])
        assert np.allclose(np.diag(w), 1) and np.allclose(w, w.T)
        assert (w >= -1e-12).all() and (w <= 1 + 1e-12).all()


def test_ratio_weights_with_a_zero_category_are_undefined_and_say_so() -> None:
    ratings = long([(1, "a", "0"), (1, "b", "1"), (2, "a", "2"), (2, "b", "2"), (3, "a", "1"), (3, "b", "1")])
    est = A.gwet_ac(ratings, weights="ratio")
    assert est.estimate is None and "ratio weights are undefined" in est.reason
    report = A.agreement_report(ratings, weights="ratio", n_boot=10)
    for metric in report["metrics"].values():
        assert metric["estimate"] is None and "ratio weights" in metric["reason"]
    # Krippendorff's own ratio metric is defined with a zero (0 vs 0 is distance 0).
    assert A.krippendorff_alpha(ratings, level="ratio").estimate is not None


def test_unknown_weight_name_names_the_argument() -> None:
    with pytest.raises(ValueError, match="weights: unknown weight name 'cubic'"):
        A.agreement_report(long([(1, "a", "x"), (1, "b", "x")]), weights="cubic")


def test_custom_weight_matrix_is_validated() -> None:
    ratings = long([(1, "a", "x"), (1, "b", "y")])
    with pytest.raises(ValueError, match="diagonal"):
        A.gwet_ac(ratings, weights=[[0.5, 0], [0, 1]])
    with pytest.raises(ValueError, match="2x2"):
        A.gwet_ac(ratings, weights=np.eye(3))


# --------------------------------------------------------------------------- level (item 3)


def test_non_nominal_level_without_weights_reports_only_alpha() -> None:
    ratings = pd.read_csv(KRIPPENDORFF_2011, dtype=str)
    report = A.agreement_report(ratings, level="ordinal", n_boot=20)
    assert round(report["metrics"]["krippendorff_alpha"]["estimate"], 3) == 0.815
    for name, metric in report["metrics"].items():
        if name != "krippendorff_alpha":
            assert metric["estimate"] is None and "ordinal" in metric["reason"]
    weighted = A.agreement_report(ratings, level="ordinal", weights="ordinal", n_boot=0)
    assert round(weighted["metrics"]["krippendorff_alpha"]["estimate"], 3) == 0.834
    assert weighted["metrics"]["gwet_ac"]["coefficient"] == "AC2"


def test_interval_level_needs_numeric_labels() -> None:
    with pytest.raises(ValueError, match="level: interval needs numeric labels; 'high' is not a number"):
        A.krippendorff_alpha(long([(1, "a", "low"), (1, "b", "high")]), level="interval")


def test_ratio_level_with_negative_values_is_undefined() -> None:
    est = A.krippendorff_alpha(
        long([(1, "a", "-1"), (1, "b", "2"), (2, "a", "2"), (2, "b", "2")]), level="ratio"
    )
    assert est.estimate is None and "non-negative" in est.reason


# --------------------------------------------------------------------------- missing data (item 4)


def test_single_rated_items_count_in_chance_not_in_agreement() -> None:
    rows = [(1, "a", "x"), (1, "b", "x"), (2, "a", "y"), (2, "b", "x"), (3, "a", "y"), (4, "b", "y")]
    ratings = long(rows)
    pa = A.percent_agreement(ratings)
    assert pa.estimate == pytest.approx(0.5) and pa.n_items == 4
    fleiss = A.fleiss_kappa(ratings)
    # pi over all 4 items: x = (1 + .5 + 0 + 0) / 4
    assert fleiss.pe == pytest.approx(0.375**2 + 0.625**2)
    alpha = A.krippendorff_alpha(ratings)
    assert alpha.n_items == 2
    report = A.agreement_report(ratings, n_boot=0)
    assert report["diagnostics"]["n_items_single"] == 2
    assert any("single rating" in w for w in report["warnings"])


def test_two_raters_with_one_side_missing_use_items_both_rated() -> None:
    rows = [
        (1, "a", "x"),
        (1, "b", "x"),
        (2, "a", "y"),
        (2, "b", "y"),
        (3, "a", "x"),
        (3, "b", "y"),
        (4, "a", "x"),
    ]
    cohen = A.cohen_kappa(long(rows))
    assert cohen.n_items == 3
    assert cohen.estimate == pytest.approx(A.cohen_kappa(long(rows[:-1])).estimate)
    report = A.agreement_report(long(rows), n_boot=0)
    assert report["diagnostics"]["n_items_both_rated"] == 3


def test_many_raters_per_item_and_unequal_counts() -> None:
    rng = np.random.default_rng(3)
    rows = [(i, f"r{g}", str(rng.integers(3))) for i in range(40) for g in range(60) if rng.random() < 0.8]
    report = A.agreement_report(long(rows), n_boot=50)
    assert report["n_raters"] == 60
    for name in ("fleiss_kappa", "conger_kappa", "gwet_ac", "krippendorff_alpha"):
        assert abs(report["metrics"][name]["estimate"]) < 0.1  # random labels


def test_large_contingency_table_two_raters() -> None:
    rng = np.random.default_rng(5)
    q = 40
    a = rng.integers(q, size=3000)
    b = np.where(rng.random(3000) < 0.7, a, rng.integers(q, size=3000))
    frame = np.column_stack([a, b]).astype(str)
    cats = [str(k) for k in range(q)]
    from sklearn.metrics import cohen_kappa_score

    assert A.cohen_kappa(frame, categories=cats).estimate == pytest.approx(
        cohen_kappa_score(a.astype(str), b.astype(str), labels=cats), abs=1e-12
    )


def test_negative_coefficients_are_reported_unclipped_below() -> None:
    ratings = two_rater_table([[1, 9], [9, 1]], ["a", "b"])
    est = A.cohen_kappa(ratings)
    assert est.estimate == pytest.approx(-0.8)
    assert est.ci_low < -0.8 < est.ci_high
    assert A.krippendorff_alpha(ratings).estimate < 0


# --------------------------------------------------------------------------- undefined cases


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([(1, "a", "x"), (2, "a", "y")], "only one rater"),
        ([(1, "a", "x"), (2, "b", "y")], "no item was rated by two or more raters"),
        ([(1, "a", "x"), (1, "b", "x"), (2, "a", "x"), (2, "b", "x")], "only one category"),
    ],
)
def test_undefined_cases_give_null_with_reason_and_valid_json(rows: list[tuple], fragment: str) -> None:
    report = A.agreement_report(long(rows), n_boot=20)
    text = json.dumps(report, allow_nan=False)
    assert "NaN" not in text
    for name in ("fleiss_kappa", "gwet_ac", "krippendorff_alpha", "conger_kappa", "brennan_prediger"):
        metric = report["metrics"][name]
        assert metric["estimate"] is None and fragment in metric["reason"], name


def test_one_category_percent_agreement_is_one() -> None:
    est = A.percent_agreement(long([(1, "a", "x"), (1, "b", "x"), (2, "a", "x"), (2, "b", "x")]))
    assert est.estimate == 1.0


def test_everyone_uses_one_of_two_categories() -> None:
    ratings = long([(i, r, "x") for i in range(5) for r in "ab"])
    fleiss = A.fleiss_kappa(ratings, categories=["x", "y"])
    assert fleiss.estimate is None and "chance agreement is 1" in fleiss.reason
    assert A.gwet_ac(ratings, categories=["x", "y"]).estimate == 1.0
    assert A.brennan_prediger(ratings, categories=["x", "y"]).estimate == 1.0


def test_cohen_needs_two_raters() -> None:
    ratings = long([(1, r, "x") for r in "abc"] + [(2, r, "y") for r in "abc"])
    est = A.cohen_kappa(ratings)
    assert est.estimate is None and "exactly two raters, found 3" in est.reason


def test_one_item_has_no_standard_error() -> None:
    est = A.fleiss_kappa(long([(1, "a", "x"), (1, "b", "y"), (1, "c", "x")]), categories=["x", "y"])
    assert est.estimate is not None and est.se is None and "two items" in est.se_reason


# --------------------------------------------------------------------------- input validation


def test_duplicate_rating_is_an_error() -> None:
    with pytest.raises(ValueError, match="rater 'a' rated item 1 twice"):
        A.fleiss_kappa(long([(1, "a", "x"), (1, "b", "x"), (1, "a", "y")]))


def test_empty_label_is_an_error_naming_the_rater() -> None:
    with pytest.raises(ValueError, match="empty label.*rater 'b'"):
        A.fleiss_kappa(long([(1, "a", "x"), (1, "b", "")]))


def test_matrix_input_with_missing_cells_and_empty_rater() -> None:
    m = pd.DataFrame({"r1": ["a", "b", ""], "r2": ["a", None, "b"], "r3": [np.nan, "b", "b"]})
    data = A.as_ratings(m)
    assert (data.n_items, data.n_raters, data.n_ratings) == (3, 3, 6)
    with pytest.raises(ValueError, match="rater column 'r4' has no ratings"):
        A.as_ratings(m.assign(r4=[None, None, None]))


def test_a_long_frame_missing_a_column_names_it() -> None:
    with pytest.raises(ValueError, match="missing required column"):
        A.fleiss_kappa(pd.DataFrame({"item_id": [1], "label": ["x"]}))


# --------------------------------------------------------------------------- breakdowns, diagnostics


def test_specific_agreement_and_byrt_indices_on_a_binary_table() -> None:
    a, b, c, d = 40, 9, 6, 45
    ratings = two_rater_table([[a, b], [c, d]], ["pos", "neg"])
    spec = A.specific_agreement(ratings, categories=["pos", "neg"])
    assert spec["pos"]["positive"].estimate == pytest.approx(2 * a / (2 * a + b + c))
    assert spec["pos"]["negative"].estimate == pytest.approx(2 * d / (2 * d + b + c))
    data = A.as_ratings(ratings, categories=["pos", "neg"])
    n = a + b + c + d
    assert A.prevalence_index(data)["pos"] == pytest.approx((a - d) / n)
    bi, _ = A.bias_index(data)
    assert bi == pytest.approx(abs(b - c) / n)


def test_kappa_paradox_is_flagged_and_points_to_ac1_and_pabak() -> None:
    ratings = two_rater_table([[90, 5], [5, 0]], ["ok", "bad"])
    report = A.agreement_report(ratings, n_boot=0)
    assert report["diagnostics"]["kappa_paradox"] is True
    assert any("AC1" in w and "PABAK" in w for w in report["warnings"])
    assert report["metrics"]["gwet_ac"]["estimate"] > 0.8
    balanced = A.agreement_report(two_rater_table([[45, 5], [5, 45]], ["ok", "bad"]), n_boot=0)
    assert balanced["diagnostics"]["kappa_paradox"] is False


def test_rater_agreement_finds_the_outlier() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(3, size=60)
    rows = [(i, g, str(t)) for i, t in enumerate(truth) for g in ("a", "b", "c")]
    rows += [(i, "odd", str((t + 1) % 3)) for i, t in enumerate(truth)]
    per = A.rater_agreement(long(rows))
    by_id = {r["rater_id"]: r for r in per}
    assert by_id["odd"]["agreement"] == 0.0
    assert by_id["a"]["agreement"] == pytest.approx(2 / 3)
    assert by_id["odd"]["kappa"] < by_id["a"]["kappa"]
    assert by_id["a"]["n_pairs"] == 180
    full = A.krippendorff_alpha(long(rows)).estimate
    assert by_id["odd"]["alpha_without"] > full > by_id["a"]["alpha_without"]
    assert by_id["odd"]["alpha_without"] == pytest.approx(1.0)  # the others agree perfectly


def test_fleiss_category_kappa_is_undefined_for_an_unused_category() -> None:
    kappas = A.fleiss_category_kappa(
        long([(1, "a", "x"), (1, "b", "y"), (2, "a", "x"), (2, "b", "x")]), categories=["x", "y", "z"]
    )
    assert kappas["z"].estimate is None and "never used" in kappas["z"].reason


# --------------------------------------------------------------------------- bootstrap


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    truth = rng.integers(3, size=150)
    return long(
        [
            (i, g, str(t if rng.random() < 0.7 else rng.integers(3)))
            for i, t in enumerate(truth)
            for g in "abcd"
        ]
    )


def test_report_is_reproducible_for_a_seed_and_changes_with_it() -> None:
    ratings = _data()
    one = json.dumps(A.agreement_report(ratings, n_boot=200, seed=3))
    two = json.dumps(A.agreement_report(ratings, n_boot=200, seed=3))
    other = json.dumps(A.agreement_report(ratings, n_boot=200, seed=4))
    assert one == two and one != other


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_intervals_bracket_the_estimate_and_resemble_the_analytic_ones(method: str) -> None:
    report = A.agreement_report(_data(), n_boot=400, seed=0, ci_method=method)
    for name in (
        "percent_agreement",
        "fleiss_kappa",
        "conger_kappa",
        "krippendorff_alpha",
        "gwet_ac",
        "brennan_prediger",
    ):
        m = report["metrics"][name]
        assert m["boot_ci_low"] < m["estimate"] < m["boot_ci_high"], name
        assert m["n_boot_valid"] == 400 and m["boot_method"] == method
        assert m["boot_se"] == pytest.approx(m["se"], rel=0.25), name


def test_bootstrap_off() -> None:
    m = A.agreement_report(_data(), n_boot=0)["metrics"]["fleiss_kappa"]
    assert m["boot_ci_low"] is None and m["n_boot"] == 0 and m["se"] is not None


def test_bootstrap_ci_function_for_one_statistic() -> None:
    data = A.as_ratings(_data())
    res = A.bootstrap_ci(A.krippendorff_statistic(data), data.n_items, n_boot=300, seed=1, method="bca")
    alpha = A.krippendorff_alpha(data).estimate
    assert res.estimate == pytest.approx(alpha)
    assert res.ci_low < alpha < res.ci_high
