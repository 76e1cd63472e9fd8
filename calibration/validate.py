"""`calibrate validate`: check a golden set, a policy, or a ratings file without writing anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from calibration.errors import InputError, Issue
from calibration.golden import check_items, find_items_file, read_items
from calibration.importers import read_ratings
from calibration.policy import load_policy

POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass
class ValidationReport:
    issues: list[Issue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _is_ratings_file(path: Path) -> bool:
    from calibration.importers import detect_layout

    if path.stem.startswith("ratings"):
        return True
    try:
        return detect_layout(path) == "long"
    except InputError:
        return False  # the items reader will report what is wrong with the file


def validate_path(
    path: str | Path,
    *,
    policy: str | Path | None = None,
    ratings: str | Path | None = None,
    min_gold_per_area: int = 5,
) -> ValidationReport:
    """Validate a golden-set folder, a policy file, an items file or a ratings file.

    A file other than a policy is checked against the `policy.yaml` beside it (or `policy`); a ratings
    file also against the items beside it.
    """
    report = ValidationReport()
    p = Path(path)
    try:
        if p.suffix.lower() in POLICY_SUFFIXES and policy is None:
            pol = load_policy(p)
            report.counts.update(labels=len(pol.labels), areas=len(pol.areas))
            return report
        folder = p if p.is_dir() else p.parent
        if not p.exists():
            raise InputError.at(p, 0, None, "file or folder not found")
        pol_path = Path(policy) if policy else folder / "policy.yaml"
        if not pol_path.exists():
            raise InputError.at(pol_path, 0, None, "policy file not found (pass --policy)")
        pol = load_policy(pol_path)
        report.counts.update(labels=len(pol.labels), areas=len(pol.areas))
        if p.is_dir():
            items_path = find_items_file(p)
            ratings_path = Path(ratings) if ratings else next(
                (p / f"ratings{s}" for s in (".csv", ".jsonl", ".parquet") if (p / f"ratings{s}").exists()), None
            )
        elif ratings is None and _is_ratings_file(p):
            items_path, ratings_path = find_items_file(folder), p
        else:
            items_path, ratings_path = p, Path(ratings) if ratings else None
        parsed = read_items(items_path)
        report.counts["items"] = len(parsed.items)
        report.issues.extend(check_items(parsed, pol, min_gold_per_area=min_gold_per_area))
        if ratings_path is not None and not report.errors:
            judgements = read_ratings(ratings_path, pol, [i.item_id for i in parsed.items])
            report.counts["ratings"] = len(judgements)
            report.counts["raters"] = len({j.rater_id for j in judgements})
    except InputError as e:
        report.issues.extend(e.issues)
    return report
