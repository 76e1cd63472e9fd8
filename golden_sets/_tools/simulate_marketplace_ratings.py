"""Simulate six moderators rating the marketplace golden set (seeded; reruns give identical files).

    python golden_sets/_tools/simulate_marketplace_ratings.py [--set-dir golden_sets/marketplace] [--out DIR]

The ratings are SIMULATED, not collected from people. Each rater copies the gold decision except when an
error is drawn; error rates are low on the clear policy areas and high on the deliberately ambiguous ones
(on their borderline items), each rater scales them by a personal factor and errs upwards (stricter) or
downwards (more lenient) with a personal probability; the junior rater also over-enforces on allowed items.
The exact procedure is `simulate()` below and is described in the set's README.

Writes `DIR/ratings.csv` (default: the set folder), prints per-area and per-rater agreement tables, and
when `DIR/README.md` has the markers `<!-- simulated-agreement:start -->` / `<!-- simulated-agreement:end -->`
replaces the text between them with the same tables.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from calibration.models import Item, Policy  # noqa: E402 (after the sys.path line)

SEED = 20240611
AMBIGUOUS_AREAS = ("counterfeit", "fraud_offplatform", "health_claims")
# P(error) before the rater's factor, by (kind of the item's area, item difficulty in metadata).
# "clear" kind = the four clear areas and the items that probe no area.
ERROR_RATE = {
    ("clear", "clear"): 0.04,
    ("clear", "borderline"): 0.10,
    ("ambiguous", "clear"): 0.12,
    ("ambiguous", "borderline"): 0.50,
}
MAX_ERROR_RATE = 0.95
CONFIDENCE_SHARE = 0.7  # share of rows with a confidence
RATIONALE_SHARE = 0.4  # share of rows with a short rationale
CONFIDENCE_RANGE = {  # uniform range by (area kind, difficulty)
    ("clear", "clear"): (0.80, 0.97),
    ("clear", "borderline"): (0.65, 0.90),
    ("ambiguous", "clear"): (0.70, 0.92),
    ("ambiguous", "borderline"): (0.50, 0.80),
}
ERROR_CONFIDENCE_DROP = 0.10


@dataclass(frozen=True)
class Rater:
    rater_id: str
    error_factor: float  # multiplies ERROR_RATE
    p_stricter: float  # P(an error moves one step up the scale) ; else one step down
    over_enforce: float  # extra P(restrict) on gold-allow items where no error was drawn
    confidence_shift: float  # added to confidences (over/under-confidence)
    profile: str


RATERS = [
    Rater("mod_ana", 0.6, 0.50, 0.0, 0.00, "senior, most accurate"),
    Rater("mod_ben", 1.0, 0.25, 0.0, 0.00, "lenient"),
    Rater("mod_chen", 1.0, 0.75, 0.0, 0.00, "strict"),
    Rater("mod_dara", 1.2, 0.50, 0.0, -0.05, "least consistent moderator, under-confident"),
    Rater("mod_eli", 0.9, 0.35, 0.0, 0.00, "slightly lenient"),
    Rater("junior_kai", 1.6, 0.90, 0.15, 0.08, "junior, over-enforces, over-confident"),
]

ALLOW_NOTES = [
    "No violation.",
    "Nothing against policy here.",
    "Fine as it is.",
    "Ordinary content, allowed.",
]
AREA_NOTES = {
    "counterfeit": [
        "Looks like a replica sold on the brand.",
        "Brand name used for a lookalike.",
        "Authenticity doubtful.",
    ],
    "prohibited_items": ["Prohibited or age-restricted item.", "Restricted goods."],
    "harassment": ["Attacks the person, not the product.", "Threat or insult to the other party."],
    "fraud_offplatform": ["Moves contact or payment off the platform.", "Off-platform steering."],
    "adult_content": ["Adult content.", "Belongs in the adult category at best."],
    "health_claims": ["Health claim goes too far.", "Medical claim."],
    "fake_engagement": ["Manipulates reviews.", "Spam / fake engagement."],
}


def area_kind(item: Item) -> str:
    return "ambiguous" if item.metadata.get("probe_area") in AMBIGUOUS_AREAS else "clear"


def simulate(policy: Policy, items: list[Item], seed: int = SEED) -> list[dict[str, str]]:
    """One row per (item, rater), items in file order, raters in RATERS order, one random.Random(seed)."""
    rng = random.Random(seed)
    labels = policy.labels
    rows: list[dict[str, str]] = []
    for item in items:
        assert item.gold is not None and item.gold.label is not None
        gold = item.gold.label
        probe = item.metadata.get("probe_area")
        key = (area_kind(item), item.metadata.get("difficulty", "clear"))
        for r in RATERS:
            label, erred = gold, False
            if rng.random() < min(MAX_ERROR_RATE, ERROR_RATE[key] * r.error_factor):
                step = 1 if rng.random() < r.p_stricter else -1
                k = labels.index(gold)
                if not 0 <= k + step < len(labels):
                    step = -step  # nowhere to go that way: the error goes the other way
                label, erred = labels[k + step], True
            elif gold == policy.negative_label and r.over_enforce and rng.random() < r.over_enforce:
                label, erred = labels[1], True
            if label == policy.negative_label:
                areas: list[str] = []
            elif item.gold.areas:
                areas = list(item.gold.areas)
            else:  # flagged an allowed item: cites the area the item probes, else a random one
                areas = [probe] if probe else [rng.choice(policy.area_ids)]
            confidence = ""
            if rng.random() < CONFIDENCE_SHARE:
                lo, hi = CONFIDENCE_RANGE[key]
                c = rng.uniform(lo, hi) + r.confidence_shift - (ERROR_CONFIDENCE_DROP if erred else 0.0)
                confidence = f"{min(0.99, max(0.30, c)):.2f}"
            rationale = ""
            if rng.random() < RATIONALE_SHARE:
                if label == policy.negative_label:
                    rationale = rng.choice(ALLOW_NOTES)
                else:
                    rationale = f"{rng.choice(AREA_NOTES[areas[0]])} {label.capitalize()}."
            rows.append({
                "item_id": item.item_id, "rater_id": r.rater_id, "label": label, "areas": "|".join(areas),
                "confidence": confidence, "rationale": rationale,
            })  # fmt: skip
    return rows


def ratings_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["item_id", "rater_id", "label", "areas", "confidence", "rationale"],
                       lineterminator="\n")  # fmt: skip
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def pairwise_agreement(values: list[str]) -> float:
    pairs = list(combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs)


def agreement_tables(policy: Policy, items: list[Item], rows: list[dict[str, str]]) -> str:
    """Markdown: per probed area, mean pairwise agreement on the label and on 'violates this area'."""
    by_item: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_item.setdefault(row["item_id"], []).append(row)
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(it.metadata.get("probe_area") or "(no area: clear allow items)", []).append(it)
    order = [a for a in policy.area_ids if a in groups] + [g for g in groups if g not in policy.area_ids]
    out = [
        "| probed area | kind | items | label agreement | 'violates area' agreement | raters = gold |",
        "|---|---|---|---|---|---|",
    ]
    for g in order:
        its = groups[g]
        lab = sum(pairwise_agreement([r["label"] for r in by_item[it.item_id]]) for it in its) / len(its)
        if g in policy.area_ids:
            viol = sum(
                pairwise_agreement([str(g in r["areas"].split("|")) for r in by_item[it.item_id]])
                for it in its
            ) / len(its)
            viol_s = f"{viol:.3f}"
        else:
            viol_s = "n/a"
        acc = sum(r["label"] == it.gold.label for it in its for r in by_item[it.item_id]) / sum(
            len(by_item[it.item_id]) for it in its
        )
        kind = "ambiguous" if g in AMBIGUOUS_AREAS else "clear"
        out.append(f"| `{g}` | {kind} | {len(its)} | {lab:.3f} | {viol_s} | {acc:.3f} |")
    gold = {it.item_id: it.gold.label for it in items}
    labels = policy.labels
    out += [
        "",
        (
            "| rater | profile | error factor | P(error is stricter) | extra restrict on allowed items "
            "| confidence shift | label = gold | stricter than gold | more lenient than gold |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in RATERS:
        mine = [row for row in rows if row["rater_id"] == r.rater_id]
        diff = [labels.index(row["label"]) - labels.index(gold[row["item_id"]]) for row in mine]
        n = len(diff)
        out.append(
            f"| `{r.rater_id}` | {r.profile} | {r.error_factor:g} | {r.p_stricter:g} | {r.over_enforce:g} | "
            f"{r.confidence_shift:+g} | {sum(d == 0 for d in diff) / n:.3f} | "
            f"{sum(d > 0 for d in diff) / n:.3f} | {sum(d < 0 for d in diff) / n:.3f} |"
        )
    return "\n".join(out)


def load_set(set_dir: Path) -> tuple[Policy, list[Item]]:
    policy = Policy.model_validate(yaml.safe_load((set_dir / "policy.yaml").read_text(encoding="utf-8")))
    lines = (set_dir / "items.jsonl").read_text(encoding="utf-8").splitlines()
    items = [Item.model_validate(json.loads(line)) for line in lines if line.strip()]
    return policy, items


START, END = "<!-- simulated-agreement:start -->", "<!-- simulated-agreement:end -->"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set-dir", type=Path, default=ROOT / "golden_sets" / "marketplace")
    ap.add_argument("--out", type=Path, default=None, help="folder for ratings.csv (default: the set folder)")
    args = ap.parse_args(argv)
    out = args.out or args.set_dir
    policy, items = load_set(args.set_dir)
    rows = simulate(policy, items)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ratings.csv").write_text(ratings_csv(rows), encoding="utf-8")
    tables = agreement_tables(policy, items, rows)
    print(tables)
    readme = out / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            readme.write_text(f"{head}{START}\n{tables}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
