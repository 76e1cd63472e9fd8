"""The scikit-learn baseline: cross-validated (never graded on items it trained on), folds lowered for small
labels and reported, one-vs-rest areas only where there are enough positives, seeded."""

from __future__ import annotations

import random

import pytest

from calibration.models import Gold, Item, Policy
from calibration.raters import RaterConfig, run_rater
from calibration.raters.baseline import BaselineRater
from tests.raters_fixtures import MINI, POLICY, add_set, sqlite_store

__all__ = ["sqlite_store"]


def _items(spec: list[tuple[str, str, list[str]]]) -> list[Item]:
    return [
        Item(item_id=f"b{i}", text=t, gold=Gold(label=lab, areas=areas))
        for i, (t, lab, areas) in enumerate(spec)
    ]


def _learnable(n_per_label: int = 12) -> list[Item]:
    rng = random.Random(0)
    words = {"allow": ["lamp", "chair", "sofa", "table", "books"], "restrict": ["replica", "inspired", "lookalike"],
             "remove": ["giftcard", "deposit", "wire", "western"]}  # fmt: skip
    spec = []
    for label, vocab in words.items():
        for i in range(n_per_label):
            text = " ".join(rng.choice(vocab) for _ in range(6)) + f" listing {label[:2]}{i}"
            spec.append((text, label, [] if label == "allow" else ["scam"]))
    rng.shuffle(spec)
    return _items(spec)


def test_learns_a_learnable_set_with_cross_validated_predictions():
    items = _learnable()
    rater = BaselineRater()
    js = rater.rate(items, POLICY)
    assert len(js) == len(items) and all(j.status == "ok" and j.rater_kind == "model" for j in js)
    acc = sum(j.label == it.gold.label for j, it in zip(js, items, strict=True)) / len(items)
    assert acc >= 0.9
    assert all("5-fold cross-validated" in j.rationale for j in js)
    assert all(0 <= j.confidence <= 1 and j.model == "tfidf-logreg" for j in js)
    cited = [j for j in js if j.label != "allow"]
    assert cited and all(j.areas == ["scam"] for j in cited if j.area_scores["scam"] >= 0.5)
    assert all(j.areas == [] for j in js if j.label == "allow")
    assert any("area 'weapons'" in n and "no classifier" in n for n in rater.notes)


def test_never_graded_on_items_it_trained_on():
    # Each item's text is unique noise and its label random: a model that saw the item would recall it
    # (training accuracy ~1), cross-validated predictions can only guess (about 1/3).
    rng = random.Random(1)
    spec = [(" ".join(f"tok{rng.randrange(10**6)}" for _ in range(8)), rng.choice(POLICY.labels), [])
            for _ in range(90)]  # fmt: skip
    items = _items(spec)
    js = BaselineRater().rate(items, POLICY)
    acc = sum(j.label == it.gold.label for j, it in zip(js, items, strict=True)) / len(items)
    assert acc < 0.6


def test_small_labels_lower_the_folds_and_are_reported():
    items = _learnable(12)
    spec = [(it.text, it.gold.label, it.gold.areas) for it in items if it.gold.label != "restrict"]
    spec += [("replica inspired lookalike one", "restrict", ["scam"]), ("replica lookalike two", "restrict", ["scam"]),
             ("replica inspired three", "restrict", ["scam"])]  # fmt: skip
    rater = BaselineRater()
    js = rater.rate(_items(spec), POLICY)
    assert all(j.status == "ok" for j in js)
    assert any("folds lowered from 5 to 3" in n and "'restrict'" in n for n in rater.notes)
    assert all("3-fold" in j.rationale for j in js)


def test_singleton_label_and_items_without_gold_are_predicted_by_a_model_that_never_saw_them():
    items = _learnable(8)
    items.append(Item(item_id="lonely", text="replica replica", gold=Gold(label="restrict")))
    items = [it for it in items if it.gold.label != "restrict" or it.item_id == "lonely"]
    items.append(Item(item_id="nogold", text="giftcard deposit wire"))
    rater = BaselineRater()
    js = {j.item_id: j for j in rater.rate(items, POLICY)}
    assert any("label 'restrict' has 1 gold item" in n for n in rater.notes)
    for iid in ("lonely", "nogold"):
        assert js[iid].status == "ok" and "trained on all" in js[iid].rationale
    assert js["lonely"].label != "restrict"  # it could not have been learned without seeing it


def test_not_enough_gold_gives_error_judgements_never_guesses():
    items = [Item(item_id=f"n{i}", text=f"text {i}") for i in range(5)]
    rater = BaselineRater()
    js = rater.rate(items, POLICY)
    assert all(j.status == "error" and j.label is None and "at least two labels" in j.error for j in js)


def test_seeded_and_deterministic():
    items = _learnable()
    a = BaselineRater().rate(items, POLICY)
    b = BaselineRater().rate(items, POLICY)
    assert [(j.label, j.confidence, j.area_scores) for j in a] == [
        (j.label, j.confidence, j.area_scores) for j in b
    ]


@pytest.mark.parametrize("name", ["marketplace", "hatecheck_sample"])
def test_runs_on_bundled_golden_sets_through_run_rater(sqlite_store, name):
    from calibration.golden import load_golden_set
    from tests.raters_fixtures import ROOT

    path = ROOT / "golden_sets" / name
    if not path.is_dir():
        pytest.skip(f"bundled golden set {name} not present")
    gs = load_golden_set(path)
    add_set(sqlite_store, gs.items, name=gs.name, policy=gs.policy)
    cfg = RaterConfig(kind="baseline", id="baseline-tfidf-lr")
    s = run_rater(sqlite_store, gs.name, cfg, round="r1", progress=False)
    assert s.ok + s.errors == len(gs.items) == s.total and s.requests == 0
    js = sqlite_store.judgements(gs.name, round="r1")
    assert len(js) == len(gs.items) and {j.rater_kind for j in js} == {"model"}
    # a re-run gives the same judgements (nothing replaced, nothing added)
    s2 = run_rater(sqlite_store, gs.name, cfg, round="r1", progress=False)
    assert s2.ok == s.ok and len(sqlite_store.judgements(gs.name, round="r1")) == len(gs.items)


def test_mini_policy_file_roundtrip(sqlite_store):
    from calibration.golden import load_golden_set

    gs = load_golden_set(MINI)
    assert isinstance(gs.policy, Policy)
    js = BaselineRater().rate(gs.items, gs.policy)
    assert len(js) == len(gs.items)
