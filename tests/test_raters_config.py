"""Rater configs, prompt templates and limits: validation with file/line/field, template lookup, modes,
hashes, and the retry and rate-limit arithmetic."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from calibration.errors import InputError
from calibration.raters.base import load_rater_config
from calibration.raters.limits import Failure, RetryPolicy, TokenBucket, describe_failure, parse_retry_after
from calibration.raters.openai_rater import OpenAIRater
from calibration.raters.prompts import PromptTemplate, prompts_dir
from tests.raters_fixtures import POLICY, ROOT, config, make_items


@pytest.mark.parametrize("path", sorted((ROOT / "raters").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_are_valid(path):
    cfg = load_rater_config(path)
    assert cfg.id and cfg.kind in ("openai", "langchain", "baseline")
    if cfg.kind != "baseline":
        PromptTemplate.load(cfg.template)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "kind: openai\nid: x\nmodel: m\nbase_url: http://h/v1\ntemprature: 0\n",
            ":5: temprature: unknown setting",
        ),
        ("kind: openai\nid: x\nmodel: m\nbase_url: http://h/v1\nconcurrency: 0\n", ":5: concurrency:"),
        ("kind: openai\nid: x\nbase_url: http://h/v1\n", "model: an openai rater needs a model"),
        ("kind: gemini\nid: x\n", ":1: kind:"),
        (
            "kind: openai\nid: x\nmodel: m\nbase_url: http://h/v1\nprices: {input_per_mtok: -1}\n",
            ":5: prices.input_per_mtok:",
        ),
        ("kind: openai\nid: [x\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_config_is_one_line_naming_file_line_and_field(tmp_path, text, where):
    path = tmp_path / "rater.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_rater_config(path)
    msg = str(e.value)
    assert str(path) in msg and where in msg and "\n" not in msg


def test_templates_declare_their_mode_and_hash_their_source():
    t = PromptTemplate.load("area_yes_no.j2")
    assert t.mode == "yes_no" and PromptTemplate.load("classify_json.j2").mode == "json"
    import hashlib

    assert t.hash == hashlib.sha256(t.path.read_text().encode()).hexdigest()
    msgs = PromptTemplate.load("policy_as_prompt.j2").messages(POLICY, make_items(1)[0])
    assert [m["role"] for m in msgs] == ["system", "user"]
    for section in ("# Instructions", "# Definitions", "# Violates", "# Safe", "# Examples"):
        assert section in msgs[0]["content"]
    assert "Pay by gift card first" in msgs[0]["content"] and "item-0000" in msgs[1]["content"]


def test_user_template_by_path_or_env_needs_no_code(tmp_path, monkeypatch):
    own = tmp_path / "my_yes_no.j2"
    own.write_text(
        "{#\nmode: yes_no\n#}\nDoes this break {{ area.title }}? {{ item.text }} Answer yes or no."
    )
    t = PromptTemplate.load(str(own))
    assert t.mode == "yes_no"
    assert t.messages(POLICY, make_items(1)[0], area=POLICY.areas[0]) == [
        {
            "role": "user",
            "content": "Does this break Scams? Listing item-0000: a used thing for sale, number 0. Answer yes or no.",
        }
    ]
    # a folder of one's own: CALIBRATE_PROMPTS, and templates there may extend the bundled ones
    (tmp_path / "strict.j2").write_text(
        '{% extends "classify_json.j2" %}{% block system %}{{ super() }}\nBe strict.{% endblock %}'
    )
    monkeypatch.setenv("CALIBRATE_PROMPTS", str(tmp_path))
    assert prompts_dir() == tmp_path
    with pytest.raises(InputError, match="no template 'classify_json.j2'"):
        PromptTemplate.load("classify_json.j2")  # not in the overriding folder
    monkeypatch.delenv("CALIBRATE_PROMPTS")
    strict = PromptTemplate.load(str(tmp_path / "strict.j2"))
    msgs = strict.messages(POLICY, make_items(1)[0])
    assert msgs[0]["content"].endswith("Be strict.") and "Policy areas:" in msgs[0]["content"]
    assert msgs[1]["role"] == "user" and "item-0000" in msgs[1]["content"]
    base = PromptTemplate.load("classify_json.j2")
    assert strict.hash not in (base.hash, PromptTemplate.load("area_yes_no.j2").hash)


def test_template_errors_and_mode_conflicts_are_reported(tmp_path):
    bad = tmp_path / "bad.j2"
    bad.write_text("Hello {{ item.text ")
    with pytest.raises(InputError, match="bad.j2:1: template: Jinja2 syntax error"):
        PromptTemplate.load(str(bad))
    typo = tmp_path / "typo.j2"
    typo.write_text("{{ item.txt }}")
    with pytest.raises(InputError, match="cannot render"):
        PromptTemplate.load(str(typo)).messages(POLICY, make_items(1)[0])
    with pytest.raises(InputError, match="mode 'json' but the template declares 'yes_no'"):
        OpenAIRater(config("http://127.0.0.1:9/v1", template="area_yes_no.j2", mode="json"))
    with pytest.raises(InputError, match="no template 'nope.j2'"):
        PromptTemplate.load("nope.j2")


def test_retry_after_parsing():
    assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert parse_retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # past
    assert parse_retry_after(httpx.Headers({})) is None


def test_backoff_is_exponential_capped_jittered_and_retry_after_wins():
    p = RetryPolicy(max_attempts=6, base=1.0, max_delay=8.0)
    rng = random.Random(0)
    plain = Failure(True, "HTTP 500")
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        d = [p.delay(attempt, plain, rng) for _ in range(50)]
        assert all(cap / 2 <= x <= cap for x in d) and len(set(d)) > 1
    told = Failure(True, "HTTP 429", retry_after=30.0)
    assert all(30.0 <= p.delay(1, told, rng) <= 31.6 for _ in range(20))


def test_failures_are_classified():
    def status_error(code):
        req = httpx.Request("POST", "http://x")
        return httpx.HTTPStatusError(
            "x", request=req, response=httpx.Response(code, request=req, text="body")
        )

    assert describe_failure(status_error(429)).retryable
    assert describe_failure(status_error(503)).retryable
    assert not describe_failure(status_error(400)).retryable
    assert not describe_failure(status_error(401)).retryable
    assert describe_failure(TimeoutError()).retryable
    assert describe_failure(httpx.ConnectError("refused")).retryable
    assert not describe_failure(ValueError("bug")).retryable


def test_token_bucket_spaces_requests():
    async def go():
        bucket = TokenBucket(rate=50.0, capacity=1.0)
        t0 = time.monotonic()
        for _ in range(6):
            await bucket.acquire(1)
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 5 / 50 * 0.9  # five waits of 1/50 s after the first
