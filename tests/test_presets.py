"""The presets on the real shared data: counts as in the shared READMEs, valid models, errors that name the file."""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from calibration.errors import InputError
from calibration.models import Item, Judgement, Policy
from calibration.presets import PRESETS, Preset, load_preset

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(
    os.environ.get("CALIBRATE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)

pytestmark = pytest.mark.skipif(
    not all((SHARED / name / "items.jsonl.gz").is_file() for name in PRESETS),
    reason=f"shared data folder not found at {SHARED} (set CALIBRATE_SHARED_DATA to ../shared/data)",
)


@pytest.fixture(scope="module")
def hatexplain() -> Preset:
    return load_preset("hatexplain", SHARED)


@pytest.fixture(scope="module")
def hatecheck() -> Preset:
    return load_preset("hatecheck", SHARED)


@pytest.fixture(scope="module")
def openai_mod() -> Preset:
    return load_preset("openai_moderation", SHARED)


def _check_models_and_references(p: Preset) -> None:
    policy = Policy.model_validate(p.policy.model_dump())
    labels, areas = set(policy.labels), set(policy.area_ids)
    ids = [it.item_id for it in p.items]
    assert len(ids) == len(set(ids))
    for it in p.items:
        Item.model_validate(it.model_dump())
        if it.gold is not None:
            assert it.gold.label is None or it.gold.label in labels
            assert set(it.gold.areas) <= areas and set(it.gold.unknown_areas) <= areas
            assert not set(it.gold.areas) & set(it.gold.unknown_areas)
    known = set(ids)
    for j in p.judgements:
        Judgement.model_validate(j.model_dump())
        assert j.rater_kind == "human" and j.status == "ok"
        assert j.item_id in known and j.label in labels and set(j.areas) <= areas
    assert len({(j.item_id, j.rater_id) for j in p.judgements}) == len(p.judgements)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_item_and_judgement_validates_and_references_the_policy(name, request):
    fixture = {"hatexplain": "hatexplain", "hatecheck": "hatecheck", "openai_moderation": "openai_mod"}[name]
    _check_models_and_references(request.getfixturevalue(fixture))


# ---------------------------------------------------------------------------------------------- HateXplain


def test_hatexplain_counts_match_the_shared_readme(hatexplain):
    p = hatexplain
    assert len(p.items) == 3846
    assert len(p.judgements) == 11538
    assert len({j.rater_id for j in p.judgements}) == 236
    assert Counter(j.label for j in p.judgements) == {"hatespeech": 3412, "offensive": 3410, "normal": 4716}
    assert Counter(it.metadata["majority_label"] for it in p.items) == {
        "hatespeech": 1187, "offensive": 1096, "normal": 1563,
    }  # fmt: skip
    assert Counter(it.metadata["split"] for it in p.items) == {"test": 1924, "val": 1922}
    assert Counter(it.metadata["platform"] for it in p.items) == {"twitter": 1795, "gab": 2046, None: 5}
    assert all(it.gold is None for it in p.items)
    assert Counter(Counter(j.item_id for j in p.judgements).values()) == {3: 3846}


def test_hatexplain_policy_and_areas(hatexplain):
    pol = hatexplain.policy
    assert pol.labels == ["normal", "offensive", "hatespeech"] and pol.ordinal is False
    assert pol.allow_label == "normal"
    assert "normal < offensive < hatespeech" in pol.instructions
    assert len(pol.areas) == 24 and "none" not in pol.area_ids
    assert {"african", "islam", "women", "jewish", "homosexual", "other", "buddhism"} <= set(pol.area_ids)
    # every community is cited by someone; areas are in policy order without duplicates
    used = {a for j in hatexplain.judgements for a in j.areas}
    assert used == set(pol.area_ids)
    order = {a: k for k, a in enumerate(pol.area_ids)}
    assert all(
        [order[a] for a in j.areas] == sorted({order[a] for a in j.areas}) for j in hatexplain.judgements
    )


def test_hatexplain_judgements_carry_the_annotators_targets(hatexplain):
    by_key = {(j.item_id, j.rater_id): j for j in hatexplain.judgements}
    first = [by_key[("1178610029273976833_twitter", r)] for r in ("9", "17", "64")]
    assert [(j.label, j.areas) for j in first] == [("normal", [])] * 3  # target "None" -> no area
    j = by_key[("1165785686903009283_twitter", "200")]
    assert (j.label, j.areas) == ("offensive", ["refugee"])
    # target rows per community (README counts) minus the duplicate rows the shared file holds
    r = pd.read_csv(SHARED / "hatexplain" / "ratings.csv.gz", dtype=str, keep_default_na=False)
    t = r[r["field"] == "target"].drop_duplicates(["item_id", "rater_id", "label"])
    expected = Counter(t.loc[t["label"] != "None", "label"].str.lower())
    assert Counter(a for j in hatexplain.judgements for a in j.areas) == expected


def test_hatexplain_converts_in_well_under_two_seconds():
    best = min(_timed(lambda: load_preset("hatexplain", SHARED)) for _ in range(2))
    assert best < 2.0, f"HateXplain took {best:.2f} s"


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------- HateCheck


def test_hatecheck_counts_match_the_shared_readme(hatecheck):
    p = hatecheck
    assert len(p.items) == 3728 and len(p.judgements) == 18640
    assert len({j.rater_id for j in p.judgements}) == 10
    assert Counter(it.gold.label for it in p.items) == {"hateful": 2563, "non-hateful": 1165}
    assert Counter(j.label for j in p.judgements) == {"hateful": 12868, "non-hateful": 5772}
    assert len(p.policy.areas) == 29 and p.policy.labels == ["non-hateful", "hateful"]
    gold = {it.item_id: it.gold.label for it in p.items}
    agree = Counter()
    for j in p.judgements:
        agree[j.item_id] += j.label == gold[j.item_id]
    assert Counter(agree.values()) == {5: 3485, 4: 243}


def test_hatecheck_areas_tags_and_metadata(hatecheck):
    for it in hatecheck.items:
        f = it.metadata["functionality"]
        assert it.gold.areas == ([f] if it.gold.label == "hateful" else [])
        assert it.tags == [f, it.metadata["target_ident"] or "none"]
        assert {"target_ident", "direction", "templ_id"} <= set(it.metadata)
        assert (it.gold.label == "hateful") == f.endswith("_h")
    func = {it.item_id: it.metadata["functionality"] for it in hatecheck.items}
    for j in hatecheck.judgements:
        assert j.areas == ([func[j.item_id]] if j.label == "hateful" else [])


def test_hatecheck_balanced_sample_is_seeded(hatecheck):
    a = load_preset("hatecheck", SHARED, limit=290, seed=0)
    b = load_preset("hatecheck", SHARED, limit=290, seed=0)
    c = load_preset("hatecheck", SHARED, limit=290, seed=1)
    assert [it.item_id for it in a.items] == [it.item_id for it in b.items]
    assert [it.item_id for it in a.items] != [it.item_id for it in c.items]
    assert set(Counter(it.metadata["functionality"] for it in a.items).values()) == {10}
    assert {j.item_id for j in a.judgements} == {it.item_id for it in a.items}
    assert len(a.judgements) == 5 * 290
    assert len(load_preset("hatecheck", SHARED, limit=10**6).items) == len(hatecheck.items)


# ---------------------------------------------------------------------------------------------- OpenAI

# README table: code -> (1, 0, missing)
OPENAI_COUNTS = {
    "S": (237, 747, 696), "H": (162, 609, 909), "V": (94, 1356, 230), "HR": (76, 1368, 236),
    "SH": (51, 1396, 233), "S3": (85, 909, 686), "H2": (41, 720, 919), "V2": (24, 1423, 233),
}  # fmt: skip


def test_openai_counts_and_unknowns_stay_unknown(openai_mod):
    p = openai_mod
    assert len(p.items) == 1680
    assert p.judgements == []  # the only rater repeats gold
    for code, (pos, neg, missing) in OPENAI_COUNTS.items():
        assert sum(code in it.gold.areas for it in p.items) == pos
        assert sum(code in it.gold.unknown_areas for it in p.items) == missing
        assert sum(code not in it.gold.areas and code not in it.gold.unknown_areas for it in p.items) == neg
    assert sum("S" in it.gold.unknown_areas for it in p.items) == 696
    assert sum(not it.gold.unknown_areas for it in p.items) == 755
    labels = Counter(it.gold.label for it in p.items)
    assert labels == {"flag": 522, "allow": 337, None: 821}
    for it in p.items:  # unknown never read as "no": no positive + some unknown = unknown label
        if not it.gold.areas and it.gold.unknown_areas:
            assert it.gold.label is None


def test_openai_source_rater_repeats_gold_when_asked(openai_mod):
    p = load_preset("openai_moderation", SHARED, include_source_rater=True)
    gold = {it.item_id: it.gold for it in openai_mod.items}
    assert {j.rater_id for j in p.judgements} == {"openai"}
    assert len(p.judgements) == 522 + 337  # items whose label is known
    for j in p.judgements:
        assert (j.label, j.areas) == (gold[j.item_id].label, gold[j.item_id].areas)
    with pytest.raises(ValueError, match="openai_moderation only"):
        load_preset("hatecheck", SHARED, include_source_rater=True)


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="unknown preset"):
        load_preset("davidson", SHARED)


def test_citations_are_verbatim_from_the_shared_readmes(hatexplain, hatecheck, openai_mod):
    for p in (hatexplain, hatecheck, openai_mod):
        readme = (SHARED / p.name / "README.md").read_text(encoding="utf-8")
        block = re.search(r"```bibtex\n(.*?)```", readme, flags=re.DOTALL).group(1)
        assert p.policy.citation == textwrap.dedent(block).strip()
        assert p.policy.license and p.policy.license.split(";")[0].split(".")[0] in readme


# ---------------------------------------------------------------------------------------------- bad input


@pytest.fixture()
def copy_of(tmp_path):
    def make(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(SHARED / name, dest)
        for f in dest.iterdir():
            f.chmod(0o644)
        return dest

    return make


def _rewrite_csv_gz(path: Path, edit) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    buf = io.StringIO()
    edit(df).to_csv(buf, index=False)
    path.write_bytes(gzip.compress(buf.getvalue().encode("utf-8")))


def test_truncated_ratings_gz_names_the_file(copy_of):
    d = copy_of("hatexplain")
    f = d / "ratings.csv.gz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(InputError) as e:
        load_preset("hatexplain", d)
    issue = e.value.issues[0]
    assert issue.path == str(f) and issue.line > 1 and "truncated" in issue.message


def test_truncated_items_gz_names_the_file(copy_of):
    d = copy_of("openai_moderation")
    f = d / "items.jsonl.gz"
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(InputError, match=re.escape(str(f))):
        load_preset("openai_moderation", d)


def test_missing_column_names_file_line_and_field(copy_of):
    d = copy_of("hatecheck")
    _rewrite_csv_gz(d / "ratings.csv.gz", lambda df: df.drop(columns=["label"]))
    with pytest.raises(InputError) as e:
        load_preset("hatecheck", d)
    issue = e.value.issues[0]
    assert (issue.path, issue.line, issue.field) == (str(d / "ratings.csv.gz"), 1, "label")


def test_missing_file_names_the_file(copy_of):
    d = copy_of("hatecheck")
    (d / "ratings.csv.gz").unlink()
    with pytest.raises(InputError, match="ratings.csv.gz"):
        load_preset("hatecheck", d)


def test_bad_label_value_names_the_line(copy_of):
    d = copy_of("hatexplain")

    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[6, "label"] = "hateful"  # row 6 is CSV line 8; it is a main-label row
        return df

    _rewrite_csv_gz(d / "ratings.csv.gz", edit)
    with pytest.raises(InputError) as e:
        load_preset("hatexplain", d)
    issue = e.value.issues[0]
    assert (issue.line, issue.field) == (8, "label") and "hateful" in issue.message


def test_rating_for_unknown_item_names_the_field(copy_of):
    d = copy_of("hatecheck")

    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[3, "item_id"] = "no-such-case"
        return df

    _rewrite_csv_gz(d / "ratings.csv.gz", edit)
    with pytest.raises(InputError) as e:
        load_preset("hatecheck", d)
    assert (e.value.issues[0].line, e.value.issues[0].field) == (5, "item_id")


def test_malformed_items_line_names_the_line_and_field(copy_of):
    d = copy_of("openai_moderation")
    f = d / "items.jsonl.gz"
    lines = gzip.decompress(f.read_bytes()).decode("utf-8").splitlines()
    lines[2] = lines[2].replace('"S": 0', '"S": 2')
    lines[4] = lines[4][:-5]  # cut JSON
    f.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    with pytest.raises(InputError) as e:
        load_preset("openai_moderation", d)
    found = {(i.line, i.field) for i in e.value.issues}
    assert (3, "gold.S") in found and (5, None) in found
    assert all(i.path == str(f) for i in e.value.issues)


# ---------------------------------------------------------------------------------------------- samples


def test_make_samples_is_deterministic_and_matches_the_shipped_samples(tmp_path):
    script = ROOT / "golden_sets" / "_tools" / "make_samples.py"
    subprocess.run([sys.executable, str(script), "--data-dir", str(SHARED), "--out", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written
    for rel in written:
        shipped = ROOT / "golden_sets" / rel
        assert shipped.is_file(), f"{rel} is not shipped"
        assert (tmp_path / rel).read_bytes() == shipped.read_bytes(), f"{rel} differs from the shipped file"
    for name in ("hatexplain_sample", "hatecheck_sample", "openai_moderation_sample"):
        shipped = {p.name for p in (ROOT / "golden_sets" / name).iterdir()}
        assert shipped == {p.name for p in (tmp_path / name).iterdir()}
