"""The golden sets shipped in golden_sets/: valid models, consistent references, attribution, and the
marketplace set's simulated disagreement sitting where the policy is deliberately ambiguous."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from calibration.models import Item, Judgement, Policy

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "golden_sets"
SETS = sorted(p.parent.name for p in GOLDEN.glob("*/policy.yaml"))
RATINGS_HEADER = ["item_id", "rater_id", "label", "areas", "confidence", "rationale"]
THIRD_PARTY = {"hatexplain_sample", "hatecheck_sample", "openai_moderation_sample"}
MARKETPLACE = GOLDEN / "marketplace"


def load_policy(name: str) -> Policy:
    return Policy.model_validate(yaml.safe_load((GOLDEN / name / "policy.yaml").read_text(encoding="utf-8")))


def load_items(name: str) -> list[Item]:
    lines = (GOLDEN / name / "items.jsonl").read_text(encoding="utf-8").splitlines()
    return [Item.model_validate(json.loads(line)) for line in lines if line.strip()]


def load_ratings(name: str) -> list[Judgement]:
    with open(GOLDEN / name / "ratings.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == RATINGS_HEADER
        return [
            Judgement(
                item_id=row["item_id"],
                rater_id=row["rater_id"],
                label=row["label"],
                areas=[a for a in row["areas"].split("|") if a],
                confidence=float(row["confidence"]) if row["confidence"] else None,
                rationale=row["rationale"] or None,
            )
            for row in reader
        ]


def test_the_expected_sets_are_shipped():
    assert {"marketplace", *THIRD_PARTY} <= set(SETS)


@pytest.mark.parametrize("name", SETS)
def test_items_and_ratings_load_and_reference_the_policy(name):
    policy = load_policy(name)
    labels, areas = set(policy.labels), set(policy.area_ids)
    items = load_items(name)
    ids = [it.item_id for it in items]
    assert items and len(ids) == len(set(ids))
    for it in items:
        if it.gold is not None:
            assert it.gold.label is None or it.gold.label in labels, it.item_id
            assert set(it.gold.areas) <= areas and set(it.gold.unknown_areas) <= areas, it.item_id
    if (GOLDEN / name / "ratings.csv").exists():
        ratings = load_ratings(name)
        assert ratings
        for j in ratings:
            assert j.item_id in set(ids) and j.label in labels and set(j.areas) <= areas, j
        assert len({(j.item_id, j.rater_id) for j in ratings}) == len(ratings)
    else:
        assert name == "openai_moderation_sample"  # its only source rater repeats gold


@pytest.mark.parametrize("name", SETS)
def test_every_set_has_a_readme_and_third_party_sets_their_license_and_citation(name):
    readme = (GOLDEN / name / "README.md").read_text(encoding="utf-8")
    assert "Content warning" in readme
    if name in THIRD_PARTY:
        policy = load_policy(name)
        assert (GOLDEN / name / "LICENSE").is_file()
        assert policy.source and policy.license and policy.citation
        assert "How the sample was drawn" in readme
        for line in policy.citation.splitlines():  # the bibtex, line for line (indented in the README)
            assert line.strip() in readme
        assert "License:" in readme


# ---------------------------------------------------------------------------------------------- marketplace


@pytest.fixture(scope="module")
def market() -> tuple[Policy, list[Item], pd.DataFrame]:
    r = pd.read_csv(MARKETPLACE / "ratings.csv", dtype=str, keep_default_na=False)
    return load_policy("marketplace"), load_items("marketplace"), r


def ambiguous_areas(policy: Policy) -> set[str]:
    return {a.id for a in policy.areas if "Ambiguity" in a.definition}


def test_marketplace_set_shape(market):
    policy, items, r = market
    assert (
        policy.labels == ["allow", "restrict", "remove"] and policy.ordinal and policy.allow_label == "allow"
    )
    assert len(policy.areas) >= 6
    for a in policy.areas:
        assert a.violates and a.safe and len(a.examples) >= 2
    assert ambiguous_areas(policy) == {"counterfeit", "fraud_offplatform", "health_claims"}
    assert len(items) >= 72
    probes = pd.Series([it.metadata["probe_area"] for it in items])
    assert (probes.value_counts().reindex(policy.area_ids) >= 10).all()
    # Read probe_area from the items, not the Series: pandas 3 turns None into NaN there.
    assert sum(it.metadata["probe_area"] is None and it.gold.label == "allow" for it in items) >= 10
    for it in items:
        assert it.gold and it.gold.label and it.gold.rationale
        assert (it.gold.label == "allow") == (not it.gold.areas)
    raters = set(r["rater_id"])
    assert "junior_kai" in raters and len({x for x in raters if x.startswith("mod_")}) >= 5


def _pairwise_agreement_per_item(r: pd.DataFrame, column: pd.Series) -> pd.Series:
    """Share of rater pairs on an item that gave the same value."""
    counts = r.assign(v=column).groupby(["item_id", "v"]).size()
    n = r.groupby("item_id").size()
    same = (counts * (counts - 1)).groupby(level="item_id").sum()
    return same / (n * (n - 1))


def test_marketplace_disagreement_concentrates_on_the_ambiguous_areas(market):
    policy, items, r = market
    probe = pd.Series({it.item_id: it.metadata["probe_area"] for it in items})
    label_agreement = _pairwise_agreement_per_item(r, r["label"]).groupby(probe).mean()
    ambiguous = ambiguous_areas(policy)
    clear = set(policy.area_ids) - ambiguous
    assert label_agreement[list(ambiguous)].max() < label_agreement[list(clear)].min()
    # the same on the per-area question "does the rater cite this area?"
    area_agreement = {}
    for area in policy.area_ids:
        its = probe[probe == area].index
        sub = r[r["item_id"].isin(its)]
        cites = sub["areas"].str.split("|").apply(lambda xs, a=area: a in xs)
        area_agreement[area] = _pairwise_agreement_per_item(sub, cites).mean()
    assert max(area_agreement[a] for a in ambiguous) < min(area_agreement[a] for a in clear)


def test_marketplace_junior_over_enforces(market):
    policy, items, r = market
    gold = pd.Series({it.item_id: policy.labels.index(it.gold.label) for it in items})
    diff = r["label"].map(policy.labels.index) - r["item_id"].map(gold)
    stricter = (diff > 0).groupby(r["rater_id"]).mean()
    assert stricter.idxmax() == "junior_kai"
    accuracy = (diff == 0).groupby(r["rater_id"]).mean()
    assert accuracy.idxmin() == "junior_kai"


def test_marketplace_simulation_is_deterministic_and_the_readme_figures_are_current(tmp_path):
    shutil.copyfile(MARKETPLACE / "README.md", tmp_path / "README.md")
    script = GOLDEN / "_tools" / "simulate_marketplace_ratings.py"
    run = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True,
                         text=True)  # fmt: skip
    assert (tmp_path / "ratings.csv").read_bytes() == (MARKETPLACE / "ratings.csv").read_bytes()
    assert (tmp_path / "README.md").read_bytes() == (MARKETPLACE / "README.md").read_bytes()
    assert "| `counterfeit` | ambiguous |" in run.stdout
