"""Presets: the real moderation data sets of the shared data folder as policies, items and judgements.

Each preset reads one folder in the shared format (`items.jsonl.gz` + `ratings.csv.gz`, see
`../shared/data/README.md`) and returns a `Preset`: the policy the raters worked under, the items (with
gold where the source has one) and the human ratings as `Judgement`s.

    >>> p = load_preset("hatecheck", "../shared/data", limit=290, seed=0)   # doctest: +SKIP
    >>> len(p.items), len(p.judgements)                                    # doctest: +SKIP

`data_dir` is either the folder that holds the sets (`../shared/data`) or the set's own folder.
Plain `items.jsonl` / `ratings.csv` are read too when the `.gz` files are absent.

Bad input raises `calibration.errors.InputError` naming the file, the 1-based line (0 = the file as a
whole) and the field. The CSV files are read with every column as text (`0`, `1`, `None` are labels).

`limit` draws a *balanced* stratified sample: the strata (HateXplain: majority label; HateCheck:
functionality; OpenAI: rarest positive category, else `allow` / `unknown`; see `sample_stratum`) get
equal shares of `limit` (a stratum smaller than its share gives its leftover to the others; the
remainder goes to the strata first in name order), and the items of each stratum are drawn with
`random.Random(seed)`, which is stable across Python versions. Items keep their source order; judgements are those of the drawn items.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from calibration.errors import InputError, Issue
from calibration.models import Area, Gold, Item, Judgement, Policy
from calibration.textio import iter_jsonl, read_text

__all__ = [
    "PRESETS",
    "Preset",
    "hatecheck_policy",
    "hatexplain_policy",
    "load_hatecheck",
    "load_hatexplain",
    "load_openai_moderation",
    "load_preset",
    "openai_moderation_policy",
    "sample_stratum",
]

# Stop collecting issues after this many; one bad column would otherwise list thousands of rows.
_MAX_ISSUES = 20


@dataclass
class Preset:
    """A real data set as the toolkit sees it. `judgements` are human ratings (`rater_kind` "human")."""

    name: str
    policy: Policy
    items: list[Item]
    judgements: list[Judgement]


# --------------------------------------------------------------------------------------------------
# Reading files


def _set_folder(data_dir: str | Path, name: str) -> Path:
    base = Path(data_dir)
    if (base / name).is_dir():
        return base / name
    if base.is_dir():
        return base
    raise InputError.at(
        base, 0, None, f"data folder not found (expected the shared data folder or its {name}/)"
    )


def _data_file(folder: Path, stem: str) -> Path:
    """`stem` + `.gz` if present, else the plain file; a missing file names the `.gz` it expected."""
    gz = folder / f"{stem}.gz"
    if gz.is_file():
        return gz
    plain = folder / stem
    if plain.is_file():
        return plain
    raise InputError.at(gz, 0, None, f"file not found (expected {gz.name} or {plain.name} in {folder})")


def _read_jsonl(path: Path, issues: list[Issue]) -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of the file with their line numbers; bad lines go to `issues` (checked by the caller
    together with the field checks, so one run reports both)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    start = len(issues)
    for lineno, obj, issue in iter_jsonl(str(path), read_text(path)):
        if issue is not None:
            issues.append(issue)
        elif isinstance(obj, dict):
            rows.append((lineno, obj))
        else:
            issues.append(Issue(str(path), lineno, None, f"expected a JSON object, got {type(obj).__name__}"))
        if len(issues) - start >= _MAX_ISSUES:
            break
    if not rows and len(issues) == start:
        raise InputError.at(path, 0, None, "no items: the file is empty")
    return rows


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    text = read_text(path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError.at(path, 1, None, f"file is empty; expected header {','.join(required)}") from exc
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise InputError.at(path, int(m.group(1)) if m else 0, None, f"not valid CSV: {exc}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            [
                Issue(
                    str(path),
                    1,
                    c,
                    f"missing column {c!r}; header is {','.join(df.columns)}, expected {','.join(required)}",
                )
                for c in missing
            ]
        )
    return df


def _row_issues(path: Path, df: pd.DataFrame, bad: pd.Series, field: str, what: str) -> list[Issue]:
    """One issue per offending row (up to the cap); CSV line = index + 2 (header is line 1)."""
    rows = df.index[bad.to_numpy()][:_MAX_ISSUES]
    return [Issue(str(path), int(i) + 2, field, f"{df.at[i, field]!r}: {what}") for i in rows]


def _raise_if(issues: list[Issue]) -> None:
    if issues:
        raise InputError(issues[: _MAX_ISSUES * 2])


def _str_field(path: Path, lineno: int, obj: dict[str, Any], key: str, issues: list[Issue]) -> str | None:
    value = obj.get(key)
    if key not in obj:
        issues.append(Issue(str(path), lineno, key, "missing"))
        return None
    if isinstance(value, int) and not isinstance(value, bool) and key == "item_id":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        issues.append(Issue(str(path), lineno, key, f"expected a non-empty string, got {value!r}"))
        return None
    return value


def _make_item(path: Path, lineno: int, issues: list[Issue], **fields: Any) -> Item | None:
    try:
        return Item(**fields)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or None
            issues.append(Issue(str(path), lineno, loc, err["msg"]))
        return None


def _check_unique_ids(path: Path, rows: list[tuple[int, str]], issues: list[Issue]) -> None:
    first: dict[str, int] = {}
    for lineno, item_id in rows:
        if item_id in first:
            issues.append(
                Issue(str(path), lineno, "item_id", f"{item_id!r} already used on line {first[item_id]}")
            )
        else:
            first[item_id] = lineno


def _check_rating_keys(path: Path, df: pd.DataFrame, item_ids: set[str], issues: list[Issue]) -> None:
    issues += _row_issues(
        path, df, ~df["item_id"].isin(item_ids), "item_id", "no item with this id in items.jsonl"
    )
    issues += _row_issues(path, df, df["rater_id"].str.strip() == "", "rater_id", "empty rater id")


def _balanced_sample(strata: list[str], limit: int | None, seed: int) -> list[int]:
    """Positions of a balanced stratified sample, in source order (see module docstring)."""
    n = len(strata)
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    groups: dict[str, list[int]] = {}
    for pos, s in enumerate(strata):
        groups.setdefault(s, []).append(pos)
    names = sorted(groups)
    quota = dict.fromkeys(names, 0)
    left = limit
    while left:
        for s in names:
            if left and quota[s] < len(groups[s]):
                quota[s] += 1
                left -= 1
    rng = random.Random(seed)
    chosen: list[int] = []
    for s in names:
        chosen += rng.sample(groups[s], quota[s])
    return sorted(chosen)


def _human_judgements(
    item_ids: list[str], rater_ids: list[str], labels: list[str], areas: list[list[str]]
) -> list[Judgement]:
    # Plain validated construction: measured at ~6 us per judgement (11,538 in 0.07 s), faster than
    # `model_construct`, which resolves every default in Python (~0.4 s for the same rows).
    return [
        Judgement(item_id=i, rater_id=r, rater_kind="human", label=lab, areas=a)
        for i, r, lab, a in zip(item_ids, rater_ids, labels, areas, strict=True)
    ]


def _validate_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")


# --------------------------------------------------------------------------------------------------
# HateXplain

HATEXPLAIN_CITATION = """@inproceedings{mathew2021hatexplain,
  title={HateXplain: A Benchmark Dataset for Explainable Hate Speech Detection},
  author={Mathew, Binny and Saha, Punyajoy and Yimam, Seid Muhie and Biemann, Chris and Goyal, Pawan and Mukherjee, Animesh},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence},
  volume={35}, number={17}, pages={14867--14875},
  year={2021}
}"""

# Target communities in the order of the shared README (by frequency); `None` is "no target", not an area.
_HATEXPLAIN_TARGETS = [
    ("African", "people of African descent or Black people"),
    ("Islam", "Muslims or Islam"),
    ("Women", "women"),
    ("Jewish", "Jewish people"),
    ("Homosexual", "gay and lesbian people"),
    ("Other", "a community not in the list (the annotator chose 'Other')"),
    ("Refugee", "refugees and immigrants"),
    ("Arab", "Arab people"),
    ("Caucasian", "white (Caucasian) people"),
    ("Men", "men"),
    ("Hispanic", "Hispanic and Latino people"),
    ("Asian", "people of Asian descent"),
    ("Disability", "people with disabilities"),
    ("Minority", "minorities in general"),
    ("Christian", "Christians"),
    ("Heterosexual", "heterosexual people"),
    ("Nonreligious", "non-religious people (atheists, agnostics)"),
    ("Indian", "Indian people"),
    ("Indigenous", "Indigenous peoples"),
    ("Economic", "people defined by economic status (e.g. the poor)"),
    ("Hindu", "Hindus"),
    ("Bisexual", "bisexual people"),
    ("Asexual", "asexual people"),
    ("Buddhism", "Buddhists"),
]
HATEXPLAIN_LABELS = ["normal", "offensive", "hatespeech"]


def hatexplain_policy() -> Policy:
    """The HateXplain annotation scheme as a policy: three classes, target communities as areas."""
    areas = [
        Area(
            id=name.lower(),
            title=name,
            definition=(
                f"Target community '{name}': the post is aimed at {who}. In HateXplain an annotator selects "
                "the communities a post targets; the selection is recorded whatever the class label."
            ),
        )
        for name, who in _HATEXPLAIN_TARGETS
    ]
    return Policy(
        id="hatexplain",
        version="01d742279dac",
        title="HateXplain: hate speech, offensive language and target communities",
        instructions=(
            "Classify the post as `hatespeech`, `offensive` or `normal` (neither), and select every community "
            "the post targets (areas; none when it targets no community). The source treats the three classes "
            "as nominal, hence `ordinal: false`; the labels are listed in the order normal < offensive < "
            "hatespeech, and that ordinal reading is possible (the shared README reports an ordinal alpha as a "
            "supplementary figure). Areas here are target communities, not separate rules: annotators also "
            "selected communities for posts they labelled normal, so read an area as violated only together "
            "with a non-normal label. HateXplain has no expert label; its class label is the majority of the "
            "same three crowd annotators, kept as item metadata `majority_label`, not as gold."
        ),
        labels=list(HATEXPLAIN_LABELS),
        ordinal=False,
        allow_label="normal",
        areas=areas,
        source=(
            "HateXplain, GitHub hate-alert/HateXplain, commit 01d742279dac941981f53806154481c0e15ee686 "
            "(Data/dataset.json, test and val posts of Data/post_id_divisions.json)"
        ),
        license="MIT License, Copyright (c) 2020 Punyajoy Saha",
        citation=HATEXPLAIN_CITATION,
    )


def load_hatexplain(data_dir: str | Path, *, limit: int | None = None, seed: int = 0) -> Preset:
    """HateXplain test + val: 3,846 posts, 3 annotators each (11,538 ratings, 236 annotators).

    Items: `text`, metadata `split`, `platform`, `majority_label`; `gold` is null (no expert label).
    Judgements: each annotator's class label; `areas` = the target communities they selected, lower-cased
    (`None` dropped, duplicate target rows merged, in policy order).
    """
    _validate_limit(limit)
    policy = hatexplain_policy()
    folder = _set_folder(data_dir, "hatexplain")
    items_path = _data_file(folder, "items.jsonl")
    ratings_path = _data_file(folder, "ratings.csv")

    issues: list[Issue] = []
    parsed: list[tuple[int, str, str, dict[str, Any]]] = []
    for lineno, obj in _read_jsonl(items_path, issues):
        item_id = _str_field(items_path, lineno, obj, "item_id", issues)
        text = _str_field(items_path, lineno, obj, "text", issues)
        if item_id is None or text is None:
            continue
        majority = obj.get("majority_label")
        if majority is not None and majority not in HATEXPLAIN_LABELS:
            issues.append(
                Issue(
                    str(items_path),
                    lineno,
                    "majority_label",
                    f"{majority!r} is not one of {HATEXPLAIN_LABELS}",
                )
            )
        meta = {"split": obj.get("split"), "platform": obj.get("platform"), "majority_label": majority}
        parsed.append((lineno, item_id, text, meta))
    _check_unique_ids(items_path, [(ln, i) for ln, i, _, _ in parsed], issues)
    _raise_if(issues)

    keep = _balanced_sample([m["majority_label"] or "" for _, _, _, m in parsed], limit, seed)
    items: list[Item] = []
    for pos in keep:
        lineno, item_id, text, meta = parsed[pos]
        item = _make_item(items_path, lineno, issues, item_id=item_id, text=text, metadata=meta, gold=None)
        if item is not None:
            items.append(item)
    _raise_if(issues)
    all_ids = {i for _, i, _, _ in parsed}

    df = _read_csv(ratings_path, ["item_id", "rater_id", "field", "label"])
    _check_rating_keys(ratings_path, df, all_ids, issues)
    field = df["field"]
    issues += _row_issues(
        ratings_path, df, ~field.isin(["", "target"]), "field", "expected '' (class label) or 'target'"
    )
    main = df[field == ""]
    issues += _row_issues(
        ratings_path,
        main,
        ~main["label"].isin(HATEXPLAIN_LABELS),
        "label",
        f"expected one of {HATEXPLAIN_LABELS}",
    )
    issues += _row_issues(
        ratings_path,
        main,
        main.duplicated(["item_id", "rater_id"]),
        "rater_id",
        "second class label for this item and rater",
    )
    targets = df[field == "target"]
    area_index = {a: k for k, a in enumerate(policy.area_ids)}
    target_key = targets["label"].str.strip().str.lower()
    issues += _row_issues(
        ratings_path,
        targets,
        ~(target_key.isin(area_index) | (target_key == "none")),
        "label",
        f"unknown target community; expected None or one of {[t for t, _ in _HATEXPLAIN_TARGETS]}",
    )
    rated = pd.MultiIndex.from_frame(main[["item_id", "rater_id"]])
    orphan = ~pd.MultiIndex.from_frame(targets[["item_id", "rater_id"]]).isin(rated)
    issues += _row_issues(
        ratings_path,
        targets,
        pd.Series(orphan, index=targets.index),
        "rater_id",
        "target row without a class label row for this item and rater",
    )
    _raise_if(issues)

    selected = {it.item_id for it in items}
    main = main[main["item_id"].isin(selected)] if limit is not None else main
    t = targets.assign(area=target_key)
    t = t[(t["area"] != "none") & t["item_id"].isin(selected)].drop_duplicates(
        ["item_id", "rater_id", "area"]
    )
    t = t.assign(order=t["area"].map(area_index)).sort_values(["item_id", "rater_id", "order"], kind="stable")
    by_pair: dict[tuple[str, str], list[str]] = {}
    for key_item, key_rater, area in zip(t["item_id"], t["rater_id"], t["area"], strict=True):
        by_pair.setdefault((key_item, key_rater), []).append(area)
    area_lists = [by_pair.get(k, []) for k in zip(main["item_id"], main["rater_id"], strict=True)]
    judgements = _human_judgements(
        main["item_id"].tolist(), main["rater_id"].tolist(), main["label"].tolist(), area_lists
    )
    return Preset("hatexplain", policy, items, judgements)


# --------------------------------------------------------------------------------------------------
# HateCheck

HATECHECK_CITATION = """@inproceedings{rottger-etal-2021-hatecheck,
  title = "{H}ate{C}heck: Functional Tests for Hate Speech Detection Models",
  author = {R{\\"o}ttger, Paul and Vidgen, Bertie and Nguyen, Dong and Waseem, Zeerak and Margetts, Helen and Pierrehumbert, Janet},
  booktitle = "Proceedings of the 59th Annual Meeting of the Association for Computational Linguistics and the 11th International Joint Conference on Natural Language Processing (Volume 1: Long Papers)",
  year = "2021", address = "Online", publisher = "Association for Computational Linguistics",
  url = "https://aclanthology.org/2021.acl-long.4", doi = "10.18653/v1/2021.acl-long.4", pages = "41--58"
}"""
HATECHECK_LABELS = ["non-hateful", "hateful"]

# The 29 functional tests, in the order of the HateCheck paper (Röttger et al. 2021, Table 1), with short
# descriptions in our words. `_h` tests are hateful by construction, `_nh` tests non-hateful.
_HATECHECK_FUNCTIONALITIES = [
    (
        "derog_neg_emote_h",
        "Derogation: strong negative emotions",
        "Explicit expression of strong negative emotions (hate, disgust, contempt) about a protected group or its members.",
    ),
    (
        "derog_neg_attrib_h",
        "Derogation: very negative attributes",
        "Explicit description of a protected group or its members with very negative attributes (e.g. disgusting, repulsive).",
    ),
    (
        "derog_dehum_h",
        "Derogation: dehumanisation",
        "Explicit dehumanisation of a protected group or its members, e.g. comparing them to filth, vermin or objects.",
    ),
    (
        "derog_impl_h",
        "Derogation: implicit",
        "Implicit derogation of a protected group: the insult is implied (e.g. 'belong in a zoo') rather than stated.",
    ),
    (
        "threat_dir_h",
        "Threat: direct",
        "A direct threat of violence or harm against a protected group or its members, in the first person.",
    ),
    (
        "threat_norm_h",
        "Threat: normative statement",
        "A threat phrased as a normative statement or wish, e.g. that the group should be killed or should suffer.",
    ),
    ("slur_h", "Slur: hateful use", "Hate expressed with a slur for a protected group, used as an insult."),
    (
        "slur_homonym_nh",
        "Slur: non-hateful homonym",
        "Non-hateful contrast: a word that is also a slur used in an unrelated, innocent sense (a homonym).",
    ),
    (
        "slur_reclaimed_nh",
        "Slur: reclaimed",
        "Non-hateful contrast: a slur reclaimed by members of the group it targets, used in a positive or neutral way.",
    ),
    ("profanity_h", "Profanity: hateful use", "Hate against a protected group expressed with profanity."),
    (
        "profanity_nh",
        "Profanity: non-hateful use",
        "Non-hateful contrast: profanity that is not aimed at a protected group (emphasis, frustration, praise).",
    ),
    (
        "ref_subs_clause_h",
        "Pronoun reference: subsequent clause",
        "Hate in which the group is named in one clause and the hateful statement refers back to it in a later clause.",
    ),
    (
        "ref_subs_sent_h",
        "Pronoun reference: subsequent sentence",
        "Hate in which the group is named in one sentence and the hateful statement refers back to it in the next.",
    ),
    (
        "negate_pos_h",
        "Negation: negated positive statement",
        "Hate expressed by negating a positive statement about a protected group (e.g. 'their lives do not matter').",
    ),
    (
        "negate_neg_nh",
        "Negation: negated hateful statement",
        "Non-hateful contrast: a hateful statement that is negated, so that it expresses no hate (e.g. 'I don't hate ...').",
    ),
    ("phrase_question_h", "Phrasing: question", "Hate against a protected group phrased as a question."),
    (
        "phrase_opinion_h",
        "Phrasing: opinion",
        "Hate against a protected group phrased as an opinion ('I think ...', 'I find ...').",
    ),
    (
        "ident_neutral_nh",
        "Identity term: neutral statement",
        "Non-hateful contrast: a neutral statement that mentions a protected group.",
    ),
    (
        "ident_pos_nh",
        "Identity term: positive statement",
        "Non-hateful contrast: a positive statement about a protected group.",
    ),
    (
        "counter_quote_nh",
        "Counter speech: quoting hate",
        "Non-hateful contrast: a denouncement of hate that quotes the hateful statement it denounces.",
    ),
    (
        "counter_ref_nh",
        "Counter speech: referencing hate",
        "Non-hateful contrast: a denouncement of hate that refers to the hateful statement without quoting it.",
    ),
    (
        "target_obj_nh",
        "Abuse against objects",
        "Non-hateful contrast: abuse or strong negative emotion aimed at objects, food or situations, not people.",
    ),
    (
        "target_indiv_nh",
        "Abuse against individuals",
        "Non-hateful contrast: abuse aimed at an individual, not as a member of a protected group.",
    ),
    (
        "target_group_nh",
        "Abuse against non-protected groups",
        "Non-hateful contrast: abuse aimed at a group that is not protected (e.g. a profession or political group).",
    ),
    (
        "spell_char_swap_h",
        "Spelling: swapped characters",
        "Hate against a protected group with two adjacent characters swapped in a key word.",
    ),
    (
        "spell_char_del_h",
        "Spelling: missing characters",
        "Hate against a protected group with a character left out of a key word.",
    ),
    (
        "spell_space_del_h",
        "Spelling: missing word boundaries",
        "Hate against a protected group with the space between words removed.",
    ),
    (
        "spell_space_add_h",
        "Spelling: added spaces",
        "Hate against a protected group with spaces added between the characters of a key word.",
    ),
    (
        "spell_leet_h",
        "Spelling: leet speak",
        "Hate against a protected group with key words in leet speak (digits or symbols for letters).",
    ),
]
_HATECHECK_IDS = [f for f, _, _ in _HATECHECK_FUNCTIONALITIES]


def hatecheck_policy() -> Policy:
    """HateCheck as a policy: hateful / non-hateful, the 29 functional tests as areas."""
    areas = [
        Area(
            id=f,
            title=title,
            definition=definition
            + (
                " Cases of this test violate the policy (gold hateful)."
                if f.endswith("_h")
                else " Cases of this test do not violate the policy (gold non-hateful); the area is cited only "
                "by raters who judged such a case hateful."
            ),
        )
        for f, title, definition in _HATECHECK_FUNCTIONALITIES
    ]
    return Policy(
        id="hatecheck",
        version="d84302298cee",
        title="HateCheck: functional tests for hate speech detection",
        instructions=(
            "Label the text `hateful` or `non-hateful`. Hate speech is abuse that is targeted at a protected "
            "group or at its members for being a part of that group (protected characteristics such as race, "
            "religion, disability, gender identity, sex and sexual orientation, national or ethnic origin). "
            "Abuse of individuals, of non-protected groups or of objects is not hate speech, nor are counter "
            "speech, reclaimed slurs or neutral and positive mentions of a group. Areas are the HateCheck "
            "functional tests: an item's gold areas are its own functionality when the gold label is hateful. "
            "The source has no per-annotator area: an annotator's areas are derived as the item's "
            "functionality when that annotator said hateful, and none otherwise."
        ),
        labels=list(HATECHECK_LABELS),
        ordinal=False,
        allow_label="non-hateful",
        areas=areas,
        source=(
            "HateCheck, GitHub paul-rottger/hatecheck-data, commit d84302298ceeb34f4b0dde2d8a1f4932c2caa612 "
            "(test_suite_cases.csv, test_suite_annotations.csv)"
        ),
        license="Creative Commons Attribution 4.0 International (CC BY 4.0)",
        citation=HATECHECK_CITATION,
    )


def _optional_int(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def load_hatecheck(data_dir: str | Path, *, limit: int | None = None, seed: int = 0) -> Preset:
    """HateCheck test suite: 3,728 cases, 5 of 10 annotators each (18,640 ratings).

    Items: gold label = `label_gold`; gold areas = [functionality] when gold is hateful, else none;
    tags = [functionality, target_ident or "none"]; metadata functionality, target_ident, direction,
    templ_id, case_templ, ref_case_id, ref_templ_id, focus_words, focus_lemma.
    Judgements: the annotators' labels; their areas are *derived* ([functionality] when they said
    hateful), since the source records no per-annotator area.
    """
    _validate_limit(limit)
    policy = hatecheck_policy()
    titles = {f: t for f, t, _ in _HATECHECK_FUNCTIONALITIES}
    folder = _set_folder(data_dir, "hatecheck")
    items_path = _data_file(folder, "items.jsonl")
    ratings_path = _data_file(folder, "ratings.csv")

    issues: list[Issue] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    for lineno, obj in _read_jsonl(items_path, issues):
        item_id = _str_field(items_path, lineno, obj, "item_id", issues)
        text = _str_field(items_path, lineno, obj, "text", issues)
        func = obj.get("functionality")
        if func not in titles:
            issues.append(
                Issue(
                    str(items_path),
                    lineno,
                    "functionality",
                    f"{func!r} is not one of the 29 HateCheck functionalities",
                )
            )
        gold = obj.get("gold")
        if gold not in HATECHECK_LABELS:
            issues.append(
                Issue(str(items_path), lineno, "gold", f"{gold!r}: expected one of {HATECHECK_LABELS}")
            )
        target = obj.get("target_ident")
        if target is not None and not isinstance(target, str):
            issues.append(
                Issue(str(items_path), lineno, "target_ident", f"expected a string or null, got {target!r}")
            )
        for key in ("templ_id", "ref_case_id", "ref_templ_id"):
            if not _optional_int(obj.get(key)):
                issues.append(
                    Issue(str(items_path), lineno, key, f"expected an integer or null, got {obj.get(key)!r}")
                )
        if item_id is not None and text is not None:
            parsed.append((lineno, {**obj, "item_id": item_id}))
        if len(issues) >= _MAX_ISSUES:
            break
    _check_unique_ids(items_path, [(ln, o["item_id"]) for ln, o in parsed], issues)
    _raise_if(issues)

    keep = _balanced_sample([o["functionality"] for _, o in parsed], limit, seed)
    items: list[Item] = []
    functionality_of: dict[str, str] = {}
    for pos in keep:
        lineno, o = parsed[pos]
        func, gold = o["functionality"], o["gold"]
        functionality_of[o["item_id"]] = func
        meta = {
            k: o.get(k)
            for k in (
                "functionality",
                "target_ident",
                "direction",
                "templ_id",
                "case_templ",
                "ref_case_id",
                "ref_templ_id",
                "focus_words",
                "focus_lemma",
            )
        }
        item = _make_item(
            items_path,
            lineno,
            issues,
            item_id=o["item_id"],
            text=o["text"],
            metadata=meta,
            tags=[func, o.get("target_ident") or "none"],
            gold=Gold(
                label=gold,
                areas=[func] if gold == "hateful" else [],
                rationale=f"HateCheck functional test {func} ({titles[func]}): the authors set the gold label "
                f"'{gold}' for every case of this test.",
            ),
        )
        if item is not None:
            items.append(item)
    _raise_if(issues)

    df = _read_csv(ratings_path, ["item_id", "rater_id", "label"])
    if "field" in df.columns:  # tolerate the multi-field layout: main-label rows only
        df = df[df["field"] == ""]
    _check_rating_keys(ratings_path, df, {o["item_id"] for _, o in parsed}, issues)
    issues += _row_issues(
        ratings_path, df, ~df["label"].isin(HATECHECK_LABELS), "label", f"expected one of {HATECHECK_LABELS}"
    )
    issues += _row_issues(
        ratings_path,
        df,
        df.duplicated(["item_id", "rater_id"]),
        "rater_id",
        "second rating for this item and rater",
    )
    _raise_if(issues)

    df = df[df["item_id"].isin(functionality_of)] if limit is not None else df
    funcs = df["item_id"].map(functionality_of)
    areas = [[f] if lab == "hateful" else [] for f, lab in zip(funcs, df["label"], strict=True)]
    judgements = _human_judgements(
        df["item_id"].tolist(), df["rater_id"].tolist(), df["label"].tolist(), areas
    )
    return Preset("hatecheck", policy, items, judgements)


# --------------------------------------------------------------------------------------------------
# OpenAI moderation

OPENAI_MODERATION_CITATION = """@article{openai2022moderation,
  title={A Holistic Approach to Undesired Content Detection},
  author={Todor Markov and Chong Zhang and Sandhini Agarwal and Tyna Eloundou and Teddy Lee and Steven Adler and Angela Jiang and Lilian Weng},
  journal={arXiv preprint arXiv:2208.03274},
  year={2022}
}"""
OPENAI_MODERATION_LABELS = ["allow", "flag"]

# Category definitions quoted from the source README (GitHub openai/moderation-api-release).
_OPENAI_CATEGORIES = [
    (
        "S",
        "sexual",
        (
            "Content meant to arouse sexual excitement, such as the description of sexual activity, or "
            "that promotes sexual services (excluding sex education and wellness)."
        ),
    ),
    (
        "H",
        "hate",
        (
            "Content that expresses, incites, or promotes hate based on race, gender, ethnicity, religion, "
            "nationality, sexual orientation, disability status, or caste."
        ),
    ),
    (
        "V",
        "violence",
        "Content that promotes or glorifies violence or celebrates the suffering or humiliation of others.",
    ),
    (
        "HR",
        "harassment",
        (
            "Content that may be used to torment or annoy individuals in real life, or make "
            "harassment more likely to occur."
        ),
    ),
    (
        "SH",
        "self-harm",
        (
            "Content that promotes, encourages, or depicts acts of self-harm, such as suicide, "
            "cutting, and eating disorders."
        ),
    ),
    ("S3", "sexual/minors", "Sexual content that includes an individual who is under 18 years old."),
    (
        "H2",
        "hate/threatening",
        "Hateful content that also includes violence or serious harm towards the targeted group.",
    ),
    (
        "V2",
        "violence/graphic",
        "Violent content that depicts death, violence, or serious physical injury in extreme graphic detail.",
    ),
]
_OPENAI_CODES = [c for c, _, _ in _OPENAI_CATEGORIES]


def openai_moderation_policy() -> Policy:
    """The OpenAI moderation taxonomy: flag if any of the 8 categories applies."""
    return Policy(
        id="openai_moderation",
        version="f4ab51b5edd3",
        title="OpenAI moderation taxonomy (evaluation set of 'A Holistic Approach to Undesired Content Detection')",
        instructions=(
            "Decide for each of the eight categories whether it applies (areas), and label the text `flag` if "
            "any applies, `allow` if none does. Category definitions are quoted from the source README. In the "
            "source a category may be unlabelled ('if it does not include in the JSON, it means we do not know "
            "the label'): such categories are gold `unknown_areas`, never 'does not apply', and an item with no "
            "positive category and at least one unknown one has an unknown gold label (null)."
        ),
        labels=list(OPENAI_MODERATION_LABELS),
        ordinal=False,
        allow_label="allow",
        areas=[Area(id=c, title=t, definition=d) for c, t, d in _OPENAI_CATEGORIES],
        source=(
            "OpenAI moderation evaluation set, GitHub openai/moderation-api-release, commit "
            "f4ab51b5edd3bfbcb349a56324274235b674e0e4 (data/samples-1680.jsonl.gz)"
        ),
        license="MIT License, Copyright (c) 2022 OpenAI",
        citation=OPENAI_MODERATION_CITATION,
    )


# Sampling strata: the rarest positive category (by count of 1s in the full set: V2 24, H2 41, SH 51, HR 76,
# S3 85, V 94, H 162, S 237), so that a small sample still has positives of every category.
_OPENAI_STRATUM_ORDER = ["V2", "H2", "SH", "HR", "S3", "V", "H", "S"]


def _openai_stratum(positive: list[str], label: str | None) -> str:
    return next((c for c in _OPENAI_STRATUM_ORDER if c in positive), None) or label or "unknown"


def _openai_label(codes: dict[str, int | None]) -> str | None:
    values = [codes.get(c) for c in _OPENAI_CODES]
    if 1 in values:
        return "flag"
    if all(v == 0 for v in values):
        return "allow"
    return None


def load_openai_moderation(
    data_dir: str | Path, *, limit: int | None = None, seed: int = 0, include_source_rater: bool = False
) -> Preset:
    """OpenAI moderation evaluation set: 1,680 items, per-category gold with unknowns kept unknown.

    gold.areas = categories coded 1; gold.unknown_areas = categories coded null (or absent);
    gold.label = `flag` if any category is 1, `allow` if all eight are 0, null (unknown) otherwise.

    No judgements by default: the only rater in `ratings.csv.gz`, `openai`, is the data set's own label,
    which repeats `gold` row for row. Counting it as a rater would compare gold with itself (perfect
    "agreement", perfect accuracy) and add nothing. With `include_source_rater=True` its rows are returned
    as judgements of rater `openai` (label and areas derived as for gold); items whose label is unknown get
    no judgement, because a judgement cannot carry unknown areas or an unknown label.
    """
    _validate_limit(limit)
    policy = openai_moderation_policy()
    folder = _set_folder(data_dir, "openai_moderation")
    items_path = _data_file(folder, "items.jsonl")

    issues: list[Issue] = []
    parsed: list[tuple[int, str, str, dict[str, int | None], Any]] = []
    for lineno, obj in _read_jsonl(items_path, issues):
        item_id = _str_field(items_path, lineno, obj, "item_id", issues)
        text = _str_field(items_path, lineno, obj, "text", issues)
        gold = obj.get("gold")
        if not isinstance(gold, dict):
            issues.append(
                Issue(str(items_path), lineno, "gold", f"expected an object of category codes, got {gold!r}")
            )
            continue
        unknown_keys = sorted(set(gold) - set(_OPENAI_CODES))
        if unknown_keys:
            issues.append(
                Issue(
                    str(items_path),
                    lineno,
                    "gold",
                    f"unknown category codes {unknown_keys}; expected {_OPENAI_CODES}",
                )
            )
        codes: dict[str, int | None] = {}
        for c in _OPENAI_CODES:
            v = gold.get(c)  # an absent key is unknown, like null
            if v not in (0, 1, None) or isinstance(v, bool):
                issues.append(
                    Issue(str(items_path), lineno, f"gold.{c}", f"expected 0, 1 or null, got {v!r}")
                )
            codes[c] = v
        if item_id is not None and text is not None:
            parsed.append((lineno, item_id, text, codes, obj.get("source_line")))
        if len(issues) >= _MAX_ISSUES:
            break
    _check_unique_ids(items_path, [(ln, i) for ln, i, _, _, _ in parsed], issues)
    _raise_if(issues)

    keep = _balanced_sample(
        [
            _openai_stratum([k for k in _OPENAI_CODES if c[k] == 1], _openai_label(c))
            for _, _, _, c, _ in parsed
        ],
        limit,
        seed,
    )
    items: list[Item] = []
    for pos in keep:
        lineno, item_id, text, codes, source_line = parsed[pos]
        gold = Gold(
            label=_openai_label(codes),
            areas=[c for c in _OPENAI_CODES if codes[c] == 1],
            unknown_areas=[c for c in _OPENAI_CODES if codes[c] is None],
        )
        item = _make_item(
            items_path,
            lineno,
            issues,
            item_id=item_id,
            text=text,
            metadata={"source_line": source_line},
            gold=gold,
        )
        if item is not None:
            items.append(item)
    _raise_if(issues)

    judgements: list[Judgement] = []
    if include_source_rater:
        ratings_path = _data_file(folder, "ratings.csv")
        df = _read_csv(ratings_path, ["item_id", "rater_id", "field", "label"])
        _check_rating_keys(ratings_path, df, {i for _, i, _, _, _ in parsed}, issues)
        issues += _row_issues(
            ratings_path,
            df,
            ~df["field"].isin(_OPENAI_CODES),
            "field",
            f"expected a category code {_OPENAI_CODES}",
        )
        issues += _row_issues(ratings_path, df, ~df["label"].isin(["0", "1"]), "label", "expected 0 or 1")
        issues += _row_issues(
            ratings_path,
            df,
            df.duplicated(["item_id", "rater_id", "field"]),
            "field",
            "second label for this item, rater and category",
        )
        _raise_if(issues)
        selected = {it.item_id for it in items}
        df = df[df["item_id"].isin(selected)]
        wide = df.assign(v=df["label"].astype(int)).pivot(
            index=["item_id", "rater_id"], columns="field", values="v"
        )
        order = {it.item_id: k for k, it in enumerate(items)}
        wide = wide.reindex(columns=_OPENAI_CODES)
        rows = sorted(wide.iterrows(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
        for (item_id, rater_id), row in rows:
            codes = {c: (None if pd.isna(row[c]) else int(row[c])) for c in _OPENAI_CODES}
            label = _openai_label(codes)
            if label is None:
                continue
            judgements.append(
                Judgement(
                    item_id=item_id,
                    rater_id=rater_id,
                    rater_kind="human",
                    label=label,
                    areas=[c for c in _OPENAI_CODES if codes[c] == 1],
                )
            )
    return Preset("openai_moderation", policy, items, judgements)


# --------------------------------------------------------------------------------------------------


def sample_stratum(name: str, item: Item) -> str:
    """The stratum `limit` sampling puts an item of preset `name` in (see the module docstring)."""
    if name == "hatexplain":
        return item.metadata.get("majority_label") or ""
    if name == "hatecheck":
        return item.metadata["functionality"]
    if name == "openai_moderation":
        gold = item.gold or Gold()
        return _openai_stratum(gold.areas, gold.label)
    raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")


PRESETS: dict[str, Callable[..., Preset]] = {
    "hatexplain": load_hatexplain,
    "hatecheck": load_hatecheck,
    "openai_moderation": load_openai_moderation,
}


def load_preset(
    name: str,
    data_dir: str | Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    include_source_rater: bool = False,
) -> Preset:
    """Load preset `name` from `data_dir` (the shared data folder or the set's own folder).

    `limit` draws a balanced stratified sample with `seed` (see the module docstring).
    `include_source_rater` applies to `openai_moderation` only (see `load_openai_moderation`).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    if name == "openai_moderation":
        return load_openai_moderation(
            data_dir, limit=limit, seed=seed, include_source_rater=include_source_rater
        )
    if include_source_rater:
        raise ValueError(f"include_source_rater applies to openai_moderation only, not {name!r}")
    return PRESETS[name](data_dir, limit=limit, seed=seed)
