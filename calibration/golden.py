"""Load and validate golden sets: `policy.yaml` + items (JSONL, CSV or Parquet), errors with file:line.

A golden set on disk is a directory holding `policy.yaml` and `items.jsonl` (or `items.csv` /
`items.parquet`), optionally `ratings.csv` with human judgements. Every finding is an `Issue` with
the file, the line (the row for Parquet), the field and what was expected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from calibration.errors import InputError, Issue
from calibration.models import Item, Policy
from calibration.policy import load_policy
from calibration.store import GoldenSet
from calibration.textio import iter_csv, iter_jsonl, iter_parquet, read_text

__all__ = [
    "GoldenSet",
    "ParsedItems",
    "find_items_file",
    "load_golden_set",
    "read_items",
    "check_items",
    "MIN_GOLD_PER_AREA",
]

ITEM_SUFFIXES = (".jsonl", ".csv", ".parquet")
# Below this many gold items an area's precision/recall or agreement has an interval too wide to use.
MIN_GOLD_PER_AREA = 5
MAX_ERRORS = 50


@dataclass
class ParsedItems:
    path: str
    items: list[Item]
    lines: list[int]  # source line (row for Parquet) of each item
    issues: list[Issue] = field(default_factory=list)

    def line_of(self, item_id: str) -> int:
        for it, ln in zip(self.items, self.lines, strict=True):
            if it.item_id == item_id:
                return ln
        return 0


def _pydantic_issues(path: str, line: int, err: ValidationError, prefix: str = "") -> list[Issue]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"]
        if e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field; expected item_id, text, context, metadata, tags, gold"
        elif e["type"] == "string_type":
            msg = f"expected a string, got {type(e.get('input')).__name__}"
        out.append(Issue(path, line, prefix + loc if loc else None, msg))
    return out


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


_CSV_ITEM_COLUMNS = {
    "item_id", "text", "context", "tags", "gold_label", "gold_areas", "gold_rationale", "gold_unknown_areas",
}  # fmt: skip


def _record_from_flat(rec: dict[str, Any]) -> dict[str, Any]:
    """A flat CSV/Parquet row (gold_label, gold_areas as `a|b`, ...) as an item record."""
    out: dict[str, Any] = {"item_id": rec.get("item_id"), "text": rec.get("text")}
    if rec.get("context") not in (None, ""):
        out["context"] = rec["context"]
    if rec.get("tags") not in (None, ""):
        out["tags"] = _split_list(str(rec["tags"]))
    gold: dict[str, Any] = {}
    if rec.get("gold_label") not in (None, ""):
        gold["label"] = rec["gold_label"]
    if rec.get("gold_areas") not in (None, ""):
        gold["areas"] = _split_list(str(rec["gold_areas"]))
    if rec.get("gold_unknown_areas") not in (None, ""):
        gold["unknown_areas"] = _split_list(str(rec["gold_unknown_areas"]))
    if rec.get("gold_rationale") not in (None, ""):
        gold["rationale"] = rec["gold_rationale"]
    if gold:
        out["gold"] = gold
    meta = {k: v for k, v in rec.items() if k not in _CSV_ITEM_COLUMNS and v not in (None, "")}
    if meta:
        out["metadata"] = meta
    return out


def read_items(path: str | Path) -> ParsedItems:
    """Parse an items file (`.jsonl`, `.csv` or `.parquet`). Raises `InputError` listing every bad line."""
    p = Path(path)
    spath = str(path)
    suffix = p.suffix.lower()
    if suffix not in ITEM_SUFFIXES:
        raise InputError.at(path, 0, None, f"unsupported items file type {suffix!r}; expected .jsonl, .csv or .parquet")
    if suffix == ".parquet":
        if not p.exists():
            raise InputError.at(path, 0, None, "file not found")
        rows = iter_parquet(spath, ("item_id", "text"))
        flat = True
    else:
        text = read_text(p)
        if suffix == ".jsonl":
            rows = iter_jsonl(spath, text)
            flat = False
        else:
            rows = iter_csv(spath, text, ("item_id", "text"))
            flat = True
    parsed = ParsedItems(spath, [], [])
    errors: list[Issue] = []
    first_line: dict[str, int] = {}
    for lineno, rec, issue in rows:
        if issue is not None:
            errors.append(issue)
        elif not isinstance(rec, dict):
            errors.append(Issue(spath, lineno, None, f"expected a JSON object, got {type(rec).__name__}"))
        else:
            if flat and ("gold" not in rec or not isinstance(rec.get("gold"), dict)):
                rec = _record_from_flat(rec)
            try:
                item = Item.model_validate(rec)
            except ValidationError as e:
                errors.extend(_pydantic_issues(spath, lineno, e))
            else:
                if item.item_id in first_line:
                    errors.append(
                        Issue(spath, lineno, "item_id",
                              f"duplicate item_id {item.item_id!r} (first at line {first_line[item.item_id]}); "
                              "expected unique ids")  # fmt: skip
                    )
                else:
                    first_line[item.item_id] = lineno
                    parsed.items.append(item)
                    parsed.lines.append(lineno)
        if len(errors) >= MAX_ERRORS:
            break
    if not parsed.items and not errors:
        errors.append(Issue(spath, 0, None, "no items found; expected one record per line"))
    if errors:
        raise InputError(errors)
    return parsed


def check_items(
    parsed: ParsedItems, policy: Policy, *, min_gold_per_area: int = MIN_GOLD_PER_AREA
) -> list[Issue]:
    """Policy-level checks: labels and areas that exist (errors); duplicate texts, thin gold coverage (warnings)."""
    issues: list[Issue] = []
    labels = set(policy.labels)
    areas = set(policy.area_ids)
    path = parsed.path
    for item, line in zip(parsed.items, parsed.lines, strict=True):
        g = item.gold
        if g is None:
            continue
        if g.label is not None and g.label not in labels:
            issues.append(
                Issue(path, line, "gold.label", f"label {g.label!r} is not in the policy; expected one of {policy.labels}")
            )
        for fld, values in (("gold.areas", g.areas), ("gold.unknown_areas", g.unknown_areas)):
            for a in values:
                if a not in areas:
                    issues.append(
                        Issue(path, line, fld, f"area {a!r} is not in the policy; expected one of {policy.area_ids}")
                    )
        overlap = set(g.areas) & set(g.unknown_areas)
        if overlap:
            issues.append(Issue(path, line, "gold.unknown_areas", f"area(s) {sorted(overlap)} are both violated and unknown"))
    # Warnings.
    seen_text: dict[str, int] = {}
    for item, line in zip(parsed.items, parsed.lines, strict=True):
        key = " ".join(item.text.split()).casefold()
        if key in seen_text:
            issues.append(
                Issue(path, line, "text", f"same text as the item at line {seen_text[key]}", severity="warning")
            )
        else:
            seen_text[key] = line
    with_gold = [i for i in parsed.items if i.gold is not None and i.gold.label is not None]
    if with_gold:
        per_area = Counter(a for i in with_gold for a in i.gold.areas)
        for a in policy.area_ids:
            if per_area[a] < min_gold_per_area:
                issues.append(
                    Issue(path, 0, "gold.areas",
                          f"policy area {a!r} has {per_area[a]} gold item(s); at least {min_gold_per_area} "
                          "are needed to measure it", severity="warning")  # fmt: skip
                )
    else:
        issues.append(Issue(path, 0, "gold", "no item has a gold label; accuracy cannot be graded", severity="warning"))
    return issues


def find_items_file(directory: Path) -> Path:
    for suffix in ITEM_SUFFIXES:
        cand = directory / f"items{suffix}"
        if cand.exists():
            return cand
    raise InputError.at(directory, 0, None, "no items.jsonl, items.csv or items.parquet in this golden-set folder")


def resolve_golden_paths(path: str | Path, policy: str | Path | None = None) -> tuple[Path, Path, str]:
    """(policy file, items file, set name) for a golden-set folder or an items file."""
    p = Path(path)
    if p.is_dir():
        items = find_items_file(p)
        pol = Path(policy) if policy else p / "policy.yaml"
        name = p.resolve().name
    else:
        items = p
        pol = Path(policy) if policy else p.parent / "policy.yaml"
        name = p.resolve().parent.name if p.stem == "items" else p.stem
    if not pol.exists():
        raise InputError.at(pol, 0, None, "policy file not found; a golden set needs policy.yaml (or pass --policy)")
    return pol, items, name


def load_golden_set(
    path: str | Path, *, policy: str | Path | None = None, name: str | None = None
) -> GoldenSet:
    """Load and validate a golden set (folder, or items file with `policy`). Raises `InputError`."""
    pol_path, items_path, default_name = resolve_golden_paths(path, policy)
    pol = load_policy(pol_path)
    parsed = read_items(items_path)
    errors = [i for i in check_items(parsed, pol) if i.severity == "error"]
    if errors:
        raise InputError(errors)
    return GoldenSet(name=name or default_name, policy=pol, items=parsed.items)
