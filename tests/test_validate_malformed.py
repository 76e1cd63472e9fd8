"""Malformed inputs: `validate` and `import golden` give one line naming file:line and field, exit 2,
and the store is left byte-for-byte (SQLite) or row-for-row (PostgreSQL) as it was."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calibration.cli import app

MINI = Path(__file__).parent / "data" / "mini"
runner = CliRunner()


def _lines(p: Path) -> list[str]:
    return p.read_text(encoding="utf-8").splitlines()


def _write_lines(p: Path, lines: list[str]) -> None:
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _edit_line(name: str, lineno: int, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        p = folder / name
        lines = _lines(p)
        lines[lineno - 1] = fn(lines[lineno - 1])
        _write_lines(p, lines)

    return mutate


def _replace_file(name: str, data: bytes) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        (folder / name).write_bytes(data)

    return mutate


def _append(name: str, line: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        p = folder / name
        _write_lines(p, [*_lines(p), line])

    return mutate


def _latin1(folder: Path) -> None:
    p = folder / "items.jsonl"
    lines = p.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"WhatsApp", "WhatsApp caf\u00e9".encode("latin-1"))
    p.write_bytes(b"\n".join(lines))


def _big_line(folder: Path) -> None:
    # A 50 MB file: one record far beyond any real item (e.g. a dump pasted into one line).
    p = folder / "items.jsonl"
    head = p.read_bytes()
    filler = b'{"item_id": "huge", "text": "' + b"x" * (50 * 1024 * 1024) + b'"}\n'
    p.write_bytes(head + filler)


def _utf16(folder: Path) -> None:
    p = folder / "items.jsonl"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16"))


# (case id, mutation, expected file, expected line, expected field or None, words in the message)
CASES = [
    ("truncated_json_line", _edit_line("items.jsonl", 3, lambda s: s[: len(s) // 2]), "items.jsonl", 3, None, "invalid JSON"),
    ("unknown_gold_label", _edit_line("items.jsonl", 2, lambda s: s.replace('"allow"', '"approve"')), "items.jsonl", 2, "gold.label", "not in the policy"),
    ("unknown_gold_area", _edit_line("items.jsonl", 3, lambda s: s.replace('["weapons"]', '["guns"]')), "items.jsonl", 3, "gold.areas", "not in the policy"),
    ("duplicate_item_id", _edit_line("items.jsonl", 4, lambda s: s.replace('"m4"', '"m2"')), "items.jsonl", 4, "item_id", "duplicate"),
    ("empty_text", _edit_line("items.jsonl", 6, lambda s: s.replace('"Kids bike, 16 inch, blue."', '""')), "items.jsonl", 6, "text", "empty"),
    ("whitespace_text", _edit_line("items.jsonl", 6, lambda s: s.replace('"Kids bike, 16 inch, blue."', '"  \\t "')), "items.jsonl", 6, "text", "whitespace"),
    ("latin1_bytes", _latin1, "items.jsonl", 5, None, "UTF-8"),
    ("utf16_bom", _utf16, "items.jsonl", 1, None, "UTF-16"),
    ("zero_byte_items", _replace_file("items.jsonl", b""), "items.jsonl", 1, None, "empty"),
    ("binary_garbage", _replace_file("items.jsonl", bytes(range(256)) * 40), "items.jsonl", 1, None, "binary"),
    ("fifty_megabytes", _big_line, "items.jsonl", 7, None, "bytes long"),
    ("json_array_not_object", _append("items.jsonl", '["m7", "text"]'), "items.jsonl", 7, None, "JSON object"),
    ("missing_item_id", _append("items.jsonl", '{"text": "no id here"}'), "items.jsonl", 7, "item_id", "required"),
    ("text_not_string", _append("items.jsonl", '{"item_id": "m7", "text": 42}'), "items.jsonl", 7, "text", "string"),
    ("unknown_item_field", _append("items.jsonl", '{"item_id": "m7", "text": "ok", "lable": "x"}'), "items.jsonl", 7, "lable", "unknown field"),
    ("policy_duplicate_area_id", _edit_line("policy.yaml", 13, lambda s: s.replace("weapons", "scam")), "policy.yaml", 13, "areas.1.id", "already defined"),
    ("policy_duplicate_key", _edit_line("policy.yaml", 4, lambda s: "version: \"2\""), "policy.yaml", 4, "version", "twice"),
    ("policy_bad_yaml", _edit_line("policy.yaml", 5, lambda s: "labels: [allow, restrict"), "policy.yaml", 6, None, "invalid YAML"),
    ("policy_missing_labels", _edit_line("policy.yaml", 5, lambda s: "# no labels"), "policy.yaml", 2, "labels", "required"),
    ("policy_example_bad_label", _edit_line("policy.yaml", 18, lambda s: s.replace("remove", "delete")), "policy.yaml", 18, "areas.1.examples.0.label", "expected one of"),
    ("policy_empty", _replace_file("policy.yaml", b""), "policy.yaml", 1, None, "empty"),
    ("ratings_missing_column", _edit_line("ratings.csv", 1, lambda s: s.replace("label,", "decision,")), "ratings.csv", 1, "label", "lacks column"),
    ("ratings_unknown_label", _edit_line("ratings.csv", 5, lambda s: s.replace("allow", "approve")), "ratings.csv", 5, "label", "not in the policy"),
    ("ratings_unknown_item", _append("ratings.csv", "m99,ana,allow,,,"), "ratings.csv", 19, "item_id", "not in the golden set"),
    ("ratings_duplicate", _append("ratings.csv", "m1,ana,allow,,,"), "ratings.csv", 19, "rater_id", "already rated"),
    ("ratings_confidence_text", _edit_line("ratings.csv", 2, lambda s: s.replace("0.9", "high")), "ratings.csv", 2, "confidence", "not a number"),
    ("ratings_confidence_range", _edit_line("ratings.csv", 2, lambda s: s.replace("0.9", "1.5")), "ratings.csv", 2, "confidence", "less than or equal"),
    ("ratings_unknown_area", _edit_line("ratings.csv", 3, lambda s: s.replace("scam", "fraud")), "ratings.csv", 3, "areas", "not in the policy"),
    ("ratings_extra_field", _append("ratings.csv", "m6,kai,allow,,,why,extra"), "ratings.csv", 19, None, "more fields"),
]  # fmt: skip


def _make_case(tmp_path: Path, mutate: Callable[[Path], None]) -> Path:
    folder = tmp_path / "golden"
    shutil.copytree(MINI, folder)
    mutate(folder)
    return folder


def _check_error_line(output: str, folder: Path, fname: str, line: int, field: str | None, words: str) -> None:
    errors = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert errors, output
    first = errors[0]
    assert f"{folder / fname}:{line}:" in first, first
    if field is not None:
        assert f" {field}:" in first, first
    assert words.lower() in first.lower(), first
    assert len(first) < 400  # one readable line, not a dump of the 50 MB record


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_validate_names_file_line_field_and_exits_2(case, tmp_path):
    _, mutate, fname, line, field, words = case
    folder = _make_case(tmp_path, mutate)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    _check_error_line(result.output, folder, fname, line, field, words)


def _sqlite_bytes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("store.db*"))}


def test_import_of_each_malformed_input_leaves_sqlite_store_byte_identical(tmp_path):
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    db = str(db_dir / "store.db")
    assert runner.invoke(app, ["import", "golden", str(MINI), "--db", db]).exit_code == 0
    before = _sqlite_bytes(db_dir)
    assert before
    for case_id, mutate, fname, line, field, words in CASES:
        folder = _make_case(tmp_path / case_id, mutate)
        # Same name as the stored set and a new name: neither may write anything.
        for extra in ([], ["--name", "other"]):
            result = runner.invoke(app, ["import", "golden", str(folder), "--db", db, *extra])
            assert result.exit_code == 2, (case_id, result.output)
            _check_error_line(result.output, folder, fname, line, field, words)
            assert _sqlite_bytes(db_dir) == before, case_id


@pytest.mark.postgres
def test_import_of_each_malformed_input_leaves_postgres_store_unchanged(tmp_path, pg_url):
    from calibration.store import Store

    assert runner.invoke(app, ["import", "golden", str(MINI), "--db", pg_url]).exit_code == 0
    store = Store(pg_url)
    before = store.counts()
    snapshot = [j.model_dump() for j in store.judgements("mini")]
    for case_id, mutate, *_ in CASES:
        folder = _make_case(tmp_path / case_id, mutate)
        result = runner.invoke(app, ["import", "golden", str(folder), "--db", pg_url, "--name", "other"])
        assert result.exit_code == 2, (case_id, result.output)
    assert store.counts() == before
    assert [j.model_dump() for j in store.judgements("mini")] == snapshot
    store.close()


def test_utf8_bom_is_accepted(tmp_path):
    folder = _make_case(tmp_path, lambda f: None)
    for name in ("items.jsonl", "policy.yaml", "ratings.csv"):
        p = folder / name
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert re.search(r"6 items, 17 ratings", result.output)


def test_duplicate_texts_and_thin_areas_are_warnings_not_errors(tmp_path):
    folder = _make_case(tmp_path, _append("items.jsonl", '{"item_id": "m7", "text": "vintage LAMP, works  fine, pick up downtown."}'))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "same text as the item at line 2" in result.output
    assert "policy area 'scam' has 2 gold item(s)" in result.output
