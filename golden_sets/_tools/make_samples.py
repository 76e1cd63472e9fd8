"""Write the small samples of the real data sets shipped in golden_sets/ (seeded; reruns give identical files).

    python golden_sets/_tools/make_samples.py [--data-dir ../shared/data] [--out golden_sets]

For each preset of `calibration.presets` it writes `<out>/<name>_sample/` with `policy.yaml`, `items.jsonl`,
`ratings.csv` (not for openai_moderation, whose only rater repeats gold), `README.md` (with the source,
license and citation section copied verbatim from the shared folder's README) and `LICENSE` (copied).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from calibration.models import Item, Judgement, Policy  # noqa: E402 (after the sys.path line)
from calibration.presets import Preset, load_preset, sample_stratum  # noqa: E402

SEED = 0
# name -> (sample size, how the strata are defined, in words)
SAMPLES: dict[str, tuple[int, str]] = {
    "hatexplain": (300, "the majority label (`normal`, `offensive`, `hatespeech`): 100 posts each"),
    "hatecheck": (290, "the functionality: 10 cases from each of the 29 functional tests"),
    "openai_moderation": (
        200,
        (
            "the rarest positive category (order V2, H2, SH, HR, S3, V, H, S, rarest in the full set first), else "
            "`allow` (all eight categories 0) or `unknown` (no positive category, some unlabelled): up to 10 strata, "
            "equal shares (a stratum with fewer items gives its share to the others; counts per stratum below)"
        ),
    ),
}
RATINGS_HEADER = ["item_id", "rater_id", "label", "areas", "confidence", "rationale"]


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def policy_yaml(policy: Policy) -> str:
    data = policy.model_dump(mode="json", exclude_none=True)
    for area in data["areas"]:
        for key in ("violates", "safe", "examples"):
            if not area.get(key):
                area.pop(key, None)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def item_json(item: Item) -> str:
    obj: dict[str, Any] = {"item_id": item.item_id, "text": item.text}
    if item.context is not None:
        obj["context"] = item.context
    if item.metadata:
        obj["metadata"] = item.metadata
    if item.tags:
        obj["tags"] = item.tags
    if item.gold is not None:
        gold: dict[str, Any] = {"label": item.gold.label, "areas": item.gold.areas}
        if item.gold.unknown_areas:
            gold["unknown_areas"] = item.gold.unknown_areas
        if item.gold.rationale:
            gold["rationale"] = item.gold.rationale
        obj["gold"] = gold
    return json.dumps(obj, ensure_ascii=False)


def ratings_csv(judgements: list[Judgement]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RATINGS_HEADER)
    for j in judgements:
        conf = "" if j.confidence is None else f"{j.confidence:g}"
        w.writerow([j.item_id, j.rater_id, j.label, "|".join(j.areas), conf, j.rationale or ""])
    return buf.getvalue()


def _source_section(shared_readme: str) -> str:
    """The '## Source' section of the shared README, verbatim (source, license, citation)."""
    m = re.search(r"^## Source\n(.*?)(?=^## )", shared_readme, flags=re.DOTALL | re.MULTILINE)
    if not m:
        raise SystemExit("the shared README has no '## Source' section")
    return m.group(1).strip("\n")


def _counts(values: list[str]) -> str:
    return ", ".join(
        f"`{k}` {v:,}" for k, v in sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))
    )


def readme(name: str, preset: Preset, total: int, shared_readme: str, has_ratings: bool) -> str:
    size, strata = SAMPLES[name]
    p = preset.policy
    warning = re.search(r"^Content warning:.*$", shared_readme, flags=re.MULTILINE)
    lines = [
        f"# {name}_sample: {len(preset.items):,} items from {p.title}",
        "",
        (warning.group(0) if warning else "Content warning: offensive content.")
        + " The texts are reproduced unchanged from the source.",
        "",
        (
            "A small sample of a third-party data set, shipped for examples, tests and quick runs. The full set is in the "
            f"shared data folder (`../shared/data/{name}/`) and loads with "
            f'`calibration.presets.load_preset("{name}", data_dir)`.'
        ),
        "",
        "## How the sample was drawn",
        (
            f'`load_preset("{name}", data_dir, limit={size}, seed={SEED})` (run by `golden_sets/_tools/make_samples.py`; '
            "rerunning it writes identical files): a balanced stratified sample of "
            f"{size} of the {total:,} items, stratified by {strata}. Items within a stratum are drawn with Python's "
            f"`random.Random({SEED})`; items keep the source order."
        ),
        "",
        "## Counts",
        f"- Items: {len(preset.items):,}.",
    ]
    golds = [it.gold.label for it in preset.items if it.gold is not None]
    if golds:
        lines.append(f"- Gold labels: {_counts([g or 'unknown (null)' for g in golds])}.")
    if name == "hatexplain":
        lines.append(
            f"- Majority labels (metadata, not gold): {_counts([it.metadata['majority_label'] for it in preset.items])}."
        )
    if name == "openai_moderation":
        strata_counts = _counts([sample_stratum(name, it) for it in preset.items])
        lines.append(f"- Items per stratum: {strata_counts}.")
        for a in p.areas:
            pos = sum(a.id in it.gold.areas for it in preset.items if it.gold)
            unk = sum(a.id in it.gold.unknown_areas for it in preset.items if it.gold)
            lines.append(f"- `{a.id}` ({a.title}): 1 for {pos}, unknown for {unk}.")
    texts = Counter(it.text for it in preset.items)
    dup = sum(1 for n in texts.values() if n > 1)
    if dup:
        lines.append(
            f"- Texts that occur more than once: {dup} (each occurrence is its own item in the source, and here)."
        )
    if name == "hatecheck":
        lines.append(
            "- The 11 non-hateful functionalities (`_nh`) have no gold areas, by design: gold areas are violated "
            "areas, and their cases violate nothing."
        )
    if has_ratings:
        raters = {j.rater_id for j in preset.judgements}
        lines.append(
            f"- Ratings: {len(preset.judgements):,} by {len(raters):,} raters; labels {_counts([j.label for j in preset.judgements])}."
        )
    lines += [
        "",
        "## Files",
        "- `policy.yaml`: the policy (labels, areas, source, license, citation) from `calibration.presets`.",
    ]
    lines.append("- `items.jsonl`: one item per line (`item_id`, `text`, `metadata`, `tags`, `gold`).")
    if name == "hatexplain":
        lines.append(
            "  `gold` is absent: HateXplain has no expert label; `metadata.majority_label` is the majority of the "
            "three annotators."
        )
    if name == "hatecheck":
        lines.append(
            "  `gold.label` is `label_gold`; `gold.areas` is `[functionality]` for hateful cases; "
            "`tags` is `[functionality, target_ident or none]`."
        )
    if name == "openai_moderation":
        lines.append(
            "  `gold.areas`: categories coded 1; `gold.unknown_areas`: categories the source left unlabelled "
            "(unknown, never 'no'); `gold.label` is `flag` if any category is 1, `allow` if all eight are 0, "
            "null otherwise."
        )
    if has_ratings:
        lines.append(
            "- `ratings.csv`: one row per (item, rater), header `item_id,rater_id,label,areas,confidence,rationale`."
        )
        if name == "hatexplain":
            lines.append(
                "  `areas` = the target communities the annotator selected (`None` dropped), `|`-separated."
            )
        if name == "hatecheck":
            lines.append(
                "  `areas` is derived, not in the source: `[functionality]` when the annotator said hateful, "
                "empty otherwise (the source has no per-annotator area)."
            )
    else:
        lines.append(
            "- No `ratings.csv`: the only rater of the source, `openai`, is the data set's own label and repeats "
            "gold; it adds no second opinion (use `include_source_rater=True` on the full set if needed)."
        )
    lines += [
        "- `LICENSE`: the source license, copied from the shared folder.",
        "",
        "## Source, license and citation (verbatim from the shared data README)",
        "",
        _source_section(shared_readme),
        "",
    ]
    return "\n".join(lines)


def write_sample(name: str, data_dir: Path, out: Path) -> Path:
    size, _ = SAMPLES[name]
    full_count = len(load_preset(name, data_dir).items)
    preset = load_preset(name, data_dir, limit=size, seed=SEED)
    shared = data_dir / name
    target = out / f"{name}_sample"
    target.mkdir(parents=True, exist_ok=True)
    (target / "policy.yaml").write_text(policy_yaml(preset.policy), encoding="utf-8")
    (target / "items.jsonl").write_text(
        "".join(item_json(it) + "\n" for it in preset.items), encoding="utf-8"
    )
    has_ratings = bool(preset.judgements)
    if has_ratings:
        (target / "ratings.csv").write_text(ratings_csv(preset.judgements), encoding="utf-8")
    shared_readme = (shared / "README.md").read_text(encoding="utf-8")
    (target / "README.md").write_text(
        readme(name, preset, full_count, shared_readme, has_ratings), encoding="utf-8"
    )
    shutil.copyfile(shared / "LICENSE", target / "LICENSE")
    return target


def default_data_dir() -> Path:
    env = os.environ.get("CALIBRATE_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir(), help="the shared data folder")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "golden_sets", help="where the <name>_sample folders go"
    )
    args = ap.parse_args(argv)
    for name in SAMPLES:
        path = write_sample(name, args.data_dir, args.out)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
