"""Agreement coefficients reproduce published values (sources: tests/data/agreement/SOURCES.md)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import calibration.agreement as A

DATA = Path(__file__).parent / "data" / "agreement"


def shared_data() -> Path:
    env = os.environ.get("CALIBRATE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def read_text(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name, dtype=str, keep_default_na=False)


def wide(name: str) -> pd.DataFrame:
    return read_text(name).set_index("item_id")


def long_from_table(name: str) -> tuple[pd.DataFrame, list[str]]:
    """Two raters' long ratings from a contingency table (first,second,count)."""
    t = read_text(name)
    cats = list(dict.fromkeys(t["first"]))
    first = np.repeat(t["first"].to_numpy(), t["count"].astype(int))
    second = np.repeat(t["second"].to_numpy(), t["count"].astype(int))
    items = np.arange(len(first)).astype(str)
    frame = pd.concat(
        [
            pd.DataFrame({"item_id": items, "rater_id": "first", "label": first}),
            pd.DataFrame({"item_id": items, "rater_id": "second", "label": second}),
        ]
    )
    return frame, cats


FUNCTIONS = {
    "percent_agreement": A.percent_agreement,
    "cohen_kappa": A.cohen_kappa,
    "scott_pi": A.scott_pi,
    "conger_kappa": A.conger_kappa,
    "fleiss_kappa": A.fleiss_kappa,
    "krippendorff_alpha": A.krippendorff_alpha,
    "gwet_ac": A.gwet_ac,
    "brennan_prediger": A.brennan_prediger,
}


# --------------------------------------------------------------------------- Krippendorff (2011)


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_example_with_missing_data(level: str, expected: float) -> None:
    est = A.krippendorff_alpha(read_text("krippendorff2011.csv"), level=level)
    assert round(est.estimate, 3) == expected
    assert est.n_items == 11  # unit 12 was coded once and cannot be paired


def test_krippendorff_2011_through_the_csv_reader() -> None:
    ratings = A.load_ratings(DATA / "krippendorff2011.csv")
    assert ratings.categories == ("1", "2", "3", "4", "5")
    assert round(A.krippendorff_alpha(ratings, level="nominal").estimate, 3) == 0.743


def test_gwet_ordinal_weights_are_not_krippendorff_ordinal_metric() -> None:
    # AGREEMENT.md item 2: .834 (Gwet's ordinal weights) vs .815 (Krippendorff's rank metric).
    data = read_text("krippendorff2011.csv")
    assert round(A.krippendorff_alpha(data, weights="ordinal").estimate, 3) == 0.834
    assert round(A.krippendorff_alpha(data, level="ordinal").estimate, 3) == 0.815
    # while quadratic weights are interval alpha and ratio weights ratio alpha
    assert A.krippendorff_alpha(data, weights="quadratic").estimate == pytest.approx(
        A.krippendorff_alpha(data, level="interval").estimate, abs=1e-12
    )
    assert A.krippendorff_alpha(data, weights="ratio").estimate == pytest.approx(
        A.krippendorff_alpha(data, level="ratio").estimate, abs=1e-12
    )


# --------------------------------------------------------------------------- Fleiss (1971)


def test_fleiss_1971_kappa() -> None:
    est = A.fleiss_kappa(read_text("fleiss1971.csv"))
    assert round(est.estimate, 3) == 0.430
    assert est.estimate == pytest.approx(0.4302445, abs=1e-7)  # R irr::kappam.fleiss


def test_fleiss_1971_per_category_kappas() -> None:
    order = ["Depression", "Personality disorder", "Schizophrenia", "Neurosis", "Other"]
    kappas = A.fleiss_category_kappa(read_text("fleiss1971.csv"), categories=order)
    assert [round(kappas[c].estimate, 3) for c in order] == [0.245, 0.245, 0.520, 0.471, 0.566]


# --------------------------------------------------------------------------- Cohen (1968)


def test_cohen_1968_kappa_and_weighted_kappa() -> None:
    frame, cats = long_from_table("cohen1968.csv")
    assert round(A.cohen_kappa(frame, categories=cats).estimate, 3) == 0.492
    disagreement = np.array([[0, 1, 3], [1, 0, 6], [3, 6, 0]])
    weights = 1 - disagreement / disagreement.max()  # kappa_w is invariant to this rescaling
    assert round(A.cohen_kappa(frame, categories=cats, weights=weights).estimate, 3) == 0.348


def test_sas_proc_freq_kappa_and_ase() -> None:
    frame, cats = long_from_table("sas_procfreq_table10.csv")
    simple = A.cohen_kappa(frame, categories=cats)
    assert (round(simple.estimate, 4), round(simple.se, 4)) == (0.4842, 0.1380)
    weighted = A.cohen_kappa(frame, categories=cats, weights="linear")
    assert (round(weighted.estimate, 4), round(weighted.se, 4)) == (0.4701, 0.1457)


# --------------------------------------------------------------------------- Gwet (2014) / irrCAC


def _expected_rows() -> list[dict]:
    table = pd.read_csv(DATA / "gwet2014_expected.csv")
    return table.to_dict("records")


def _gwet_data(dataset: str) -> tuple[object, list[str] | None]:
    if dataset.startswith("table"):
        return long_from_table(f"gwet_{dataset}.csv")
    return wide(f"gwet_{dataset}.csv"), None


@pytest.mark.parametrize(
    "row", _expected_rows(), ids=lambda r: f"{r['dataset']}-{r['coefficient']}-{r['weights']}"
)
def test_gwet_handbook_values(row: dict) -> None:
    data, cats = _gwet_data(row["dataset"])
    weights = None if row["weights"] == "identity" else row["weights"]
    est = FUNCTIONS[row["coefficient"]](data, categories=cats, weights=weights)
    for field in ("estimate", "pa", "pe", "se", "ci_low", "ci_high"):
        if pd.isna(row[field]):
            continue
        got = getattr(est, field)
        assert got is not None, field
        assert round(got, 3) == pytest.approx(row[field], abs=1e-9), (field, got, row[field])


def test_gwet_ac1_four_raters_full_precision() -> None:
    # irrCAC documentation, raw.py docstring: AC1 0.77544, se 0.14295, CI (0.46081, 1).
    est = A.gwet_ac(wide("gwet_raw4raters.csv"))
    assert est.coefficient == "AC1"
    assert (round(est.estimate, 5), round(est.se, 5), round(est.ci_low, 5), est.ci_high) == (
        0.77544,
        0.14295,
        0.46081,
        1.0,
    )
    ac2 = A.gwet_ac(wide("gwet_raw4raters.csv"), weights="bipolar")
    assert ac2.coefficient == "AC2"
    assert (round(ac2.estimate, 5), round(ac2.se, 5), round(ac2.ci_low, 5)) == (0.90037, 0.10582, 0.66747)


def test_gwet_table_ac1_se_differs_from_raw_data_se_by_n_over_n_minus_1() -> None:
    # Documented difference: Gwet's contingency-table variance (irrCAC table.gwet: AC1 .84933, se .04322)
    # versus the raw-data variance of AGREEMENT.md item 5, which we use for two raters as well.
    table = pytest.importorskip("irrCAC.table")
    frame, cats = long_from_table("gwet_table3x3abstractors.csv")
    est = A.gwet_ac(frame, categories=cats)
    counts = read_text("gwet_table3x3abstractors.csv")["count"].astype(int).to_numpy().reshape(3, 3)
    peer = table.CAC(pd.DataFrame(counts, index=cats, columns=cats), digits=15).gwet()["est"]
    n = counts.sum()
    assert round(est.estimate, 5) == 0.84933
    peer_se = float(np.ravel(peer["se"])[0])  # irrCAC returns a 1-element array here
    assert round(peer_se, 5) == 0.04322
    assert est.se == pytest.approx(peer_se * np.sqrt(n / (n - 1)), rel=1e-10)


# --------------------------------------------------------------------------- HateXplain (shared data)


def _hatexplain() -> Path:
    path = shared_data() / "hatexplain" / "ratings.csv.gz"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing under CI: {path}")
        pytest.skip(f"shared data not found at {path} (set CALIBRATE_SHARED_DATA)")
    return path


def test_hatexplain_alpha_matches_readme_nominal_and_ordinal() -> None:
    path = _hatexplain()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    main = frame[frame["field"] == ""]
    assert len(main) == 11538
    nominal = A.krippendorff_alpha(main, level="nominal")
    assert round(nominal.estimate, 6) == 0.502519
    ordinal = A.krippendorff_alpha(main, level="ordinal", categories=["normal", "offensive", "hatespeech"])
    assert round(ordinal.estimate, 6) == 0.659992


def test_hatexplain_report_from_the_file_with_field_filter() -> None:
    path = _hatexplain()
    report = A.agreement_report(path, field="", n_boot=50)
    assert (report["n_items"], report["n_raters"], report["n_ratings"]) == (3846, 236, 11538)
    alpha = report["metrics"]["krippendorff_alpha"]
    assert round(alpha["estimate"], 6) == 0.502519
    assert alpha["ci_low"] < alpha["estimate"] < alpha["ci_high"]
    assert alpha["boot_ci_low"] < alpha["estimate"] < alpha["boot_ci_high"]


@pytest.mark.parametrize(
    ("folder", "field", "level", "order", "expected"),
    [
        ("hatecheck", None, "nominal", None, 0.9390),
        ("dices_350", None, "nominal", None, 0.160860),
        ("dices_990", None, "nominal", None, 0.143250),
        ("davidson", None, "nominal", None, 0.542799),
        ("convabuse", "", "nominal", None, 0.437374),
        ("convabuse", "", "ordinal", ["-3", "-2", "-1", "0", "1"], 0.659766),
    ],
)
def test_shared_data_alphas_match_their_readmes(
    folder: str, field: str | None, level: str, order: list[str] | None, expected: float
) -> None:
    path = shared_data() / folder / "ratings.csv.gz"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing under CI: {path}")
        pytest.skip(f"shared data not found at {path}")
    ratings = A.load_ratings(path, order, field=field)
    digits = len(str(expected).split(".")[1])
    assert round(A.krippendorff_alpha(ratings, level=level).estimate, digits) == expected
