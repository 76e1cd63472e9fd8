"""`calibrate classify` through the main CLI: a golden-set folder or a stored name, rater YAML, errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from calibration.cli import app
from calibration.store import Store
from tests.raters_fixtures import MINI, ROOT, fake_server

__all__ = ["fake_server"]

runner = CliRunner()


def _write(tmp_path, text: str, name: str = "rater.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_classify_a_folder_with_the_baseline_then_by_name(tmp_path):
    db = tmp_path / "c.db"
    market = ROOT / "golden_sets" / "marketplace"
    if not market.is_dir():
        pytest.skip("bundled golden set marketplace not present")
    r = runner.invoke(app, ["classify", str(market), "--rater", str(ROOT / "raters" / "baseline.yaml"),
                            "--db", str(db), "--no-progress"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "baseline-tfidf-lr on marketplace (round default)" in r.output and " 0 error" in r.output
    with Store(db) as s:
        n = len(s.golden_set("marketplace").items)
        assert len(s.judgements("marketplace", raters=["baseline-tfidf-lr"])) == n
    r = runner.invoke(app, ["classify", "marketplace", "--rater", str(ROOT / "raters" / "baseline.yaml"),
                            "--db", str(db), "--round", "again", "--no-progress"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "(round again)" in r.output


def test_classify_with_an_llm_config_against_the_fake_server(tmp_path, fake_server):
    cfg = _write(tmp_path, f"kind: openai\nid: cli-llm\nmodel: fake\nbase_url: {fake_server.base_url}\n"
                           "response_format: json_schema\nconcurrency: 4\n")  # fmt: skip
    db = tmp_path / "c.db"
    args = ["classify", str(MINI), "--rater", str(cfg), "--db", str(db), "--limit", "4", "--round", "r1"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "4 items, 4 ok, 0 error" in r.output and "4 requests" in r.output
    r = runner.invoke(app, [*args, "--no-progress"])
    assert r.exit_code == 0 and "4 already judged" in r.output and "0 requests" in r.output
    assert len(fake_server.chat_requests()) == 4


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (
            "kind: openai\nid: x\nmodel: m\nbase_url: http://127.0.0.1:9/v1\nconcurency: 4\n",
            "rater.yaml:5: concurency: unknown setting",
        ),
        ("kind: openai\nid: x\nbase_url: http://127.0.0.1:9/v1\n", "rater.yaml: model:"),
        (
            "kind: openai\nid: x\nmodel: m\nbase_url: http://127.0.0.1:9/v1\napi_key_env: CLI_TEST_UNSET_KEY\n",
            "rater.yaml: api_key_env: environment variable CLI_TEST_UNSET_KEY is not set",
        ),
        (
            "kind: openai\nid: x\nmodel: m\nbase_url: http://127.0.0.1:9/v1\ntemplate: nope.j2\n",
            "template: no template 'nope.j2'",
        ),
    ],
)
def test_bad_rater_config_exits_2_with_one_line_naming_file_and_field(tmp_path, monkeypatch, text, expect):
    monkeypatch.delenv("CLI_TEST_UNSET_KEY", raising=False)
    cfg = _write(tmp_path, text)
    r = runner.invoke(app, ["classify", str(MINI), "--rater", str(cfg), "--db", str(tmp_path / "c.db")])
    assert r.exit_code == 2, r.output
    assert expect in r.output
    assert r.output.count("error:") == 1


def test_unknown_golden_set_name_exits_2(tmp_path):
    r = runner.invoke(app, ["classify", "no_such_set", "--rater", str(ROOT / "raters" / "baseline.yaml"),
                            "--db", str(tmp_path / "c.db")])  # fmt: skip
    assert r.exit_code == 2 and "no golden set named 'no_such_set'" in r.output
