"""Importers: ratings (long or wide; CSV, JSONL, Parquet) and Hugging Face `datasets` golden sets.

Long format: one row per (item, rater): `item_id,rater_id,label` plus optional `areas` (`|`-separated),
`confidence` (0..1), `rationale`, `rater_kind`, `sample`. Wide format: `item_id` plus one column per
rater whose cells are labels (empty = not rated). Everything is checked against the policy and the
golden set before anything is written, and every problem names file:line and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from calibration.errors import InputError, Issue
from calibration.golden import (
    MAX_ERRORS,
    _pydantic_issues,
    _split_list,
)
from calibration.models import Gold, Item, Judgement, Policy
from calibration.textio import iter_csv, iter_jsonl, iter_parquet, read_text

RATING_SUFFIXES = (".csv", ".jsonl", ".parquet")
LONG_REQUIRED = ("item_id", "rater_id", "label")
LONG_OPTIONAL = ("areas", "confidence", "rationale", "rater_kind", "sample")


def _text(path: Path) -> str | None:
    """The file's text for the text formats (read once per import), None for Parquet."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl"):
        return read_text(path)
    if suffix == ".parquet":
        return None
    raise InputError.at(path, 0, None, f"unsupported ratings file type {suffix!r}; expected .csv, .jsonl or .parquet")


def _rows(path: Path, text: str | None, required: Sequence[str]) -> Iterable[tuple[int, Any, Issue | None]]:
    if text is None:  # Parquet
        if not path.exists():
            raise InputError.at(path, 0, None, "file not found")
        return iter_parquet(str(path), required)
    if path.suffix.lower() == ".csv":
        return iter_csv(str(path), text, required)
    return iter_jsonl(str(path), text)


def _header(path: Path, text: str | None) -> list[str]:
    if text is None:  # Parquet
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as e:
            raise InputError.at(path, 0, None, f"not a readable Parquet file: {e}") from None
    if path.suffix.lower() == ".csv":
        import csv

        return next(csv.reader([text.splitlines()[0]]))
    for line in text.splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                return []  # the record iterator reports the bad line
            return list(rec) if isinstance(rec, dict) else []
    return []


def _layout(columns: list[str]) -> str:
    """'long' when there is a rater_id column (its other required columns are then checked), else 'wide'."""
    return "long" if "rater_id" in columns else "wide"


def detect_layout(path: str | Path) -> str:
    """The layout of a ratings file, from its header."""
    path = Path(path)
    return _layout(_header(path, _text(path)))


def _as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_ratings(
    path: str | Path,
    policy: Policy,
    item_ids: Iterable[str],
    *,
    layout: str | None = None,
    rater_kind: str = "human",
) -> list[Judgement]:
    """Parse a ratings file into judgements, validated against the policy and the items. All or nothing."""
    p = Path(path)
    spath = str(path)
    text = _text(p)
    layout = layout or _layout(_header(p, text))
    if layout not in ("long", "wide"):
        raise ValueError(f"layout must be 'long' or 'wide', not {layout!r}")
    known_items = set(item_ids)
    labels = set(policy.labels)
    areas = set(policy.area_ids)
    errors: list[Issue] = []
    out: list[Judgement] = []
    first: dict[tuple[str, str, int], int] = {}

    def add(line: int, rec: dict[str, Any]) -> None:
        try:
            j = Judgement.model_validate(rec)
        except ValidationError as e:
            errors.extend(_pydantic_issues(spath, line, e))
            return
        if j.item_id not in known_items:
            errors.append(Issue(spath, line, "item_id", f"item {j.item_id!r} is not in the golden set"))
        if j.label not in labels:
            errors.append(
                Issue(spath, line, "label" if layout == "long" else j.rater_id,
                      f"label {j.label!r} is not in the policy; expected one of {policy.labels}")  # fmt: skip
            )
        for a in j.areas:
            if a not in areas:
                errors.append(
                    Issue(spath, line, "areas", f"area {a!r} is not in the policy; expected one of {policy.area_ids}")
                )
        key = (j.item_id, j.rater_id, j.sample)
        if key in first:
            errors.append(
                Issue(spath, line, "rater_id",
                      f"rater {j.rater_id!r} already rated item {j.item_id!r} at line {first[key]}; "
                      "expected one rating per item and rater")  # fmt: skip
            )
        else:
            first[key] = line
            out.append(j)

    if layout == "long":
        for line, rec, issue in _rows(p, text, LONG_REQUIRED):
            if issue is not None:
                errors.append(issue)
            elif not isinstance(rec, dict):
                errors.append(Issue(spath, line, None, f"expected a JSON object, got {type(rec).__name__}"))
            else:
                missing = [c for c in LONG_REQUIRED if rec.get(c) in (None, "")]
                if missing:
                    errors.append(Issue(spath, line, missing[0], "value is empty; expected item_id, rater_id and label"))
                else:
                    add(line, _long_record(spath, line, rec, rater_kind, errors))
            if len(errors) >= MAX_ERRORS:
                break
    else:
        for line, rec, issue in _rows(p, text, ("item_id",)):
            if issue is not None:
                errors.append(issue)
                continue
            if not isinstance(rec, dict):
                errors.append(Issue(spath, line, None, f"expected a JSON object, got {type(rec).__name__}"))
                continue
            raters = [c for c in rec if c != "item_id"]
            if not raters:
                errors.append(Issue(spath, line, None, "wide ratings need item_id and at least one rater column"))
                break
            for rater in raters:
                label = _as_text(rec[rater])
                if label == "":
                    continue  # not rated
                add(line, {"item_id": _as_text(rec["item_id"]), "rater_id": rater, "label": label,
                           "rater_kind": rater_kind})  # fmt: skip
            if len(errors) >= MAX_ERRORS:
                break
    if not out and not errors:
        errors.append(Issue(spath, 0, None, "no ratings found"))
    if errors:
        raise InputError(errors)
    return out


def _long_record(path: str, line: int, rec: dict[str, Any], rater_kind: str, errors: list[Issue]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "item_id": _as_text(rec["item_id"]),
        "rater_id": _as_text(rec["rater_id"]),
        "label": _as_text(rec["label"]),
        "rater_kind": rec.get("rater_kind") or rater_kind,
    }
    areas = rec.get("areas")
    if isinstance(areas, list):
        out["areas"] = [str(a) for a in areas]
    elif areas not in (None, ""):
        out["areas"] = _split_list(str(areas))
    conf = rec.get("confidence")
    if conf not in (None, ""):
        try:
            out["confidence"] = float(conf)
        except (TypeError, ValueError):
            errors.append(Issue(path, line, "confidence", f"{conf!r} is not a number; expected 0..1 or empty"))
    if rec.get("rationale") not in (None, ""):
        out["rationale"] = str(rec["rationale"])
    if rec.get("sample") not in (None, ""):
        try:
            out["sample"] = int(rec["sample"])
        except (TypeError, ValueError):
            errors.append(Issue(path, line, "sample", f"{rec['sample']!r} is not an integer"))
    return out


# ---- Hugging Face datasets ------------------------------------------------------------------------
def load_hf_dataset(path: str, *, split: str | None = None, name: str | None = None) -> Any:
    """Load a `datasets` split through the library's real loading path.

    A folder written by `save_to_disk` is read with `load_from_disk`; anything else (a hub id, or a
    folder of data files) goes through `load_dataset`, which reads local folders without a network.
    """
    import datasets

    p = Path(path)
    if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        ds = datasets.load_from_disk(str(p))
    else:
        try:
            ds = datasets.load_dataset(str(path), name, split=split)
        except Exception as e:  # the library raises many types; the message is what the user needs
            raise InputError.at(path, 0, None, f"could not load the dataset: {type(e).__name__}: {e}") from None
        return ds
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise InputError.at(path, 0, "split", f"choose a split with --split; the dataset has {list(ds)}")
            split = next(iter(ds))
        if split not in ds:
            raise InputError.at(path, 0, "split", f"no split {split!r}; the dataset has {list(ds)}")
        ds = ds[split]
    return ds


def items_from_hf(
    dataset: Any,
    policy: Policy,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    id_column: str | None = None,
    areas_column: str | None = None,
    rationale_column: str | None = None,
    label_map: dict[str, str] | None = None,
    split: str | None = None,
    source: str = "<dataset>",
) -> list[Item]:
    """Golden-set items from a `datasets.Dataset` (or a `DatasetDict` with `split`).

    Class-label features are turned into their names; `label_map` maps dataset labels (as text) to
    policy labels. Rows are numbered from 1 in errors.
    """
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        if split is None or split not in dataset:
            raise InputError.at(source, 0, "split", f"choose a split; the dataset has {list(dataset)}")
        dataset = dataset[split]
    cols = dataset.column_names
    for fld, col in (("text_column", text_column), ("label_column", label_column), ("id_column", id_column),
                     ("areas_column", areas_column), ("rationale_column", rationale_column)):  # fmt: skip
        if col is not None and col not in cols:
            raise InputError.at(source, 0, fld, f"no column {col!r}; the dataset has {cols}")
    feature = dataset.features.get(label_column) if label_column else None
    names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    labels = set(policy.labels)
    areas = set(policy.area_ids)
    errors: list[Issue] = []
    items: list[Item] = []
    seen: dict[str, int] = {}
    for row_no, row in enumerate(dataset, start=1):
        item_id = _as_text(row[id_column]) if id_column else str(row_no)
        rec: dict[str, Any] = {"item_id": item_id, "text": row[text_column]}
        gold: dict[str, Any] = {}
        if label_column:
            raw = row[label_column]
            label = names[raw] if names is not None and isinstance(raw, int) and raw >= 0 else _as_text(raw)
            label = (label_map or {}).get(label, label)
            if label not in labels:
                errors.append(Issue(source, row_no, label_column,
                                    f"label {label!r} is not in the policy; expected one of {policy.labels} "
                                    "(map labels with --label-map)"))  # fmt: skip
            gold["label"] = label
        if areas_column:
            raw_areas = row[areas_column]
            lst = raw_areas if isinstance(raw_areas, list) else _split_list(_as_text(raw_areas))
            bad = [a for a in lst if a not in areas]
            if bad:
                errors.append(Issue(source, row_no, areas_column, f"area(s) {bad} are not in the policy"))
            gold["areas"] = [str(a) for a in lst]
        if rationale_column and row[rationale_column]:
            gold["rationale"] = str(row[rationale_column])
        if gold:
            rec["gold"] = Gold(**gold).model_dump()
        meta = {c: row[c] for c in cols if c not in {text_column, label_column, id_column, areas_column, rationale_column}}
        meta = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool) or v is None}
        if meta:
            rec["metadata"] = meta
        if item_id in seen:
            errors.append(Issue(source, row_no, id_column or "item_id", f"duplicate id {item_id!r} (first at row {seen[item_id]})"))
        seen[item_id] = row_no
        try:
            items.append(Item.model_validate(rec))
        except ValidationError as e:
            errors.extend(_pydantic_issues(source, row_no, e))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise InputError(errors)
    if not items:
        raise InputError.at(source, 0, None, "the dataset has no rows")
    return items
