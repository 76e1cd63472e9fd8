"""Grading raters against gold: accuracy with Wilson intervals, per rater (human or AI).

The first piece of the analysis layer (unclear policy areas, AI grading, QA scorecards build on it).
Judgements with status `error` count as wrong for accuracy (an AI tool that fails has not answered)
and are reported separately, so nothing is silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from calibration.models import Item, Judgement


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float | None, float | None]:
    """Wilson score interval for a binomial proportion (Wilson 1927); (None, None) when n == 0."""
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RaterAccuracy:
    rater_id: str
    rater_kind: str
    n: int  # items with gold that the rater judged (errors included)
    correct: int
    errors: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None


def accuracy_vs_gold(items: Sequence[Item], judgements: Sequence[Judgement]) -> list[RaterAccuracy]:
    """Per-rater label accuracy against gold, over the items that have a gold label (first sample only)."""
    gold = {i.item_id: i.gold.label for i in items if i.gold is not None and i.gold.label is not None}
    tally: dict[str, list[int]] = {}
    kinds: dict[str, str] = {}
    for j in judgements:
        if j.sample != 0 or j.item_id not in gold:
            continue
        t = tally.setdefault(j.rater_id, [0, 0, 0])
        kinds[j.rater_id] = j.rater_kind
        t[0] += 1
        if j.status != "ok":
            t[2] += 1
        elif j.label == gold[j.item_id]:
            t[1] += 1
    out = []
    for rater, (n, correct, errors) in sorted(tally.items()):
        lo, hi = wilson_interval(correct, n)
        out.append(RaterAccuracy(rater, kinds[rater], n, correct, errors, correct / n if n else None, lo, hi))
    return out
