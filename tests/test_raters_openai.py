"""The OpenAI-compatible LLM rater against a scripted fake server over real HTTP, with the real SDK:
rate limits, server errors, timeouts, malformed answers, repair, cache, call log and secrets."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from calibration.raters import run_rater
from calibration.raters.openai_rater import OpenAIRater
from calibration.schema import LLMCallRow
from tests import fakeserver as fs
from tests.raters_fixtures import POLICY, add_set, config, fake_server, make_items, sqlite_bytes, sqlite_store

__all__ = ["fake_server", "sqlite_store"]  # fixtures used by name below


def _calls(store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(LLMCallRow.__table__).order_by(LLMCallRow.id))]


def _by_item(store, name="toy", round="r1"):
    return {j.item_id: j for j in store.judgements(name, round=round)}


def _requests_for(server, item_id):
    return [e for e in server.chat_requests() if item_id in e["prompt"]]


def test_happy_path_stores_one_ok_judgement_per_item_with_provenance(store, fake_server):
    items = make_items(12)
    add_set(store, items)
    fake_server.script(
        "item-0004",
        fs.ok({"label": "remove", "areas": ["scam"], "confidence": 0.8, "rationale": "gift card"}),
    )
    s = run_rater(store, "toy", config(fake_server.base_url), round="r1", progress=False)
    assert (s.total, s.ok, s.errors, s.cached, s.skipped) == (12, 12, 0, 0, 0)
    assert s.requests == 12 and s.cost > 0
    js = _by_item(store)
    assert len(js) == 12 and all(j.status == "ok" and j.rater_kind == "llm" for j in js.values())
    j = js["item-0004"]
    assert (j.label, j.areas, j.confidence, j.rationale) == ("remove", ["scam"], 0.8, "gift card")
    assert j.model == "fake-model" and len(j.prompt_hash) == 64 and j.policy_hash == POLICY.content_hash()
    assert j.tokens_in > 0 and j.tokens_out > 0 and j.cost > 0 and j.latency_ms > 0
    assert json.loads(j.raw_response)["label"] == "remove"
    # the request carried the policy's labels and areas as a JSON schema
    req = _requests_for(fake_server, "item-0004")[0]["body"]
    schema = req["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == POLICY.labels
    assert schema["properties"]["areas"]["items"]["enum"] == POLICY.area_ids
    # every call is logged with model, template and policy hash, tokens, cost, latency, raw response
    calls = _calls(store)
    assert len(calls) == 12
    c = calls[0]
    assert c["status"] == "ok" and c["model"] == "fake-model" and c["template_hash"] == j.prompt_hash
    assert c["policy_hash"] == j.policy_hash and c["tokens_in"] > 0 and c["cost"] > 0 and c["latency_ms"] > 0
    assert json.loads(c["response"])["choices"][0]["message"]["content"]
    assert c["request"]["messages"] and c["attempts"] == 1


def test_rerun_makes_zero_requests_and_changes_nothing(store, fake_server):
    add_set(store, make_items(10))
    cfg = config(fake_server.base_url)
    run_rater(store, "toy", cfg, round="r1", progress=False)
    n = len(fake_server.chat_requests())
    before = store.counts()
    again = run_rater(store, "toy", cfg, round="r1", progress=False)
    assert len(fake_server.chat_requests()) == n and again.requests == 0
    assert (again.ok, again.skipped) == (10, 10)
    # another round: every item is judged again, every answer comes from the cache
    third = run_rater(store, "toy", cfg, round="r2", progress=False)
    assert len(fake_server.chat_requests()) == n
    assert (third.ok, third.cached, third.requests, third.cost) == (10, 10, 0, 0.0)
    after = store.counts()
    assert after["llm_calls"] == before["llm_calls"] and after["judgements"] == before["judgements"] + 10


def test_cache_key_ignores_base_url_but_not_prompt_or_parameters(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(4))
    run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r1", progress=False)
    n = len(fake_server.chat_requests())
    with fs.FakeServer() as other:  # the same model behind another URL: cache hits
        s = run_rater(sqlite_store, "toy", config(other.base_url), round="r2", progress=False)
        assert s.cached == 4 and other.chat_requests() == []
        # another temperature, or another template, is another request
        s = run_rater(
            sqlite_store, "toy", config(other.base_url, temperature=0.5), round="r3", progress=False
        )
        assert s.requests == 4
        s = run_rater(sqlite_store, "toy", config(other.base_url, template="policy_as_prompt.j2"), round="r4",
                      progress=False)  # fmt: skip
        assert s.requests == 4
    assert len(fake_server.chat_requests()) == n


def test_429_retry_after_is_honoured(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(3))
    fake_server.script(
        "item-0001", fs.status(429, retry_after=1), fs.status(429, retry_after_ms=300), fs.ok()
    )
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r1", progress=False)
    assert (s.ok, s.errors) == (3, 0)
    reqs = _requests_for(fake_server, "item-0001")
    assert [r["status"] for r in reqs] == [429, 429, 200]
    assert reqs[1]["t_start"] - reqs[0]["t_end"] >= 1.0
    assert reqs[2]["t_start"] - reqs[1]["t_end"] >= 0.3
    call = next(c for c in _calls(sqlite_store) if c["item_id"] == "item-0001")
    assert call["attempts"] == 3 and call["status"] == "ok"


def test_server_errors_and_dropped_connections_are_retried_then_reported(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(4))
    fake_server.script("item-0000", fs.status(500), fs.status(503), fs.ok())
    fake_server.script("item-0001", fs.drop(), fs.ok())
    fake_server.script("item-0002", *[fs.status(502)] * 4)  # max_retries=3: four attempts, all fail
    fake_server.script("item-0003", fs.status(400, {"error": {"message": "bad request"}}))  # not retried
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r1", progress=False)
    assert (s.total, s.ok, s.errors) == (4, 2, 2)
    js = _by_item(sqlite_store)
    assert js["item-0000"].status == "ok" and js["item-0001"].status == "ok"
    e = js["item-0002"]
    assert e.status == "error" and "HTTP 502" in e.error and "4 attempts" in e.error and e.label is None
    assert e.raw_response  # the error body is kept
    assert len(_requests_for(fake_server, "item-0002")) == 4
    assert len(_requests_for(fake_server, "item-0003")) == 1 and "HTTP 400" in js["item-0003"].error
    # failed calls are logged too, but are not cache hits: a re-run tries them again
    failed = [c for c in _calls(sqlite_store) if c["status"] == "error"]
    assert {c["item_id"] for c in failed} == {"item-0002", "item-0003"}
    again = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r1", progress=False)
    assert (again.skipped, again.ok, again.errors, again.requests) == (2, 4, 0, 2)
    assert len(sqlite_store.judgements("toy", round="r1")) == 4


def test_a_200_with_an_unreadable_body_is_retried_and_kept(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(2))
    fake_server.script("item-0000", fs.raw("<html>proxy error</html>"), fs.ok())
    fake_server.script("item-0001", *[fs.raw('{"object": "chat.completion", "choices": []}')] * 2)
    s = run_rater(
        sqlite_store, "toy", config(fake_server.base_url, max_retries=1), round="r1", progress=False
    )
    assert (s.ok, s.errors) == (1, 1)
    bad = _by_item(sqlite_store)["item-0001"]
    assert "no choices" in bad.error and bad.raw_response == '{"object": "chat.completion", "choices": []}'


def test_timeouts_and_slow_responses(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(3))
    fake_server.script("item-0000", fs.hang(1.5), fs.ok())  # longer than the 0.5 s timeout, then fine
    fake_server.script("item-0001", fs.ok(delay=0.3))  # slow, within the timeout
    fake_server.script("item-0002", *[fs.hang(1.0)] * 2)  # times out twice: max_retries=1
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url, timeout=0.5, max_retries=1), round="r1",
                  progress=False)  # fmt: skip
    assert (s.ok, s.errors) == (2, 1)
    js = _by_item(sqlite_store)
    assert js["item-0000"].status == "ok" and js["item-0001"].status == "ok"
    assert js["item-0001"].latency_ms >= 300
    assert js["item-0002"].status == "error" and "timeout" in js["item-0002"].error.lower()
    fake_server.settle()
    assert [r["outcome"] for r in _requests_for(fake_server, "item-0000")] == ["hung", "answered"]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (fs.ok('{"label": "remove", "areas": ["sc', finish_reason="length"), "truncated"),
        (fs.ok("Sure! The label is remove."), "not valid JSON"),
        (fs.ok(content="", refusal="I can't help with that."), "refusal"),
        (
            fs.ok({"label": "ban", "areas": [], "confidence": 0.5, "rationale": "x"}),
            "label 'ban' is not one of",
        ),
        (fs.ok({"label": "remove", "areas": ["spam"], "confidence": 0.5, "rationale": "x"}), "unknown area"),
        (fs.ok({"label": "remove", "areas": [], "confidence": 85, "rationale": "x"}), "confidence"),
    ],
)
def test_malformed_answer_gets_one_repair_then_an_error_with_the_raw_text(
    sqlite_store, fake_server, bad, problem
):
    add_set(sqlite_store, make_items(3))
    good = {"label": "restrict", "areas": ["scam"], "confidence": 0.6, "rationale": "fixed"}
    fake_server.script("item-0000", bad, fs.ok(good))  # repaired on the second try
    fake_server.script("item-0001", bad, bad)  # still wrong after the repair
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r1", progress=False)
    assert (s.total, s.ok, s.errors) == (3, 2, 1)
    js = _by_item(sqlite_store)
    fixed = js["item-0000"]
    assert (fixed.status, fixed.label, fixed.areas) == ("ok", "restrict", ["scam"])
    repair = _requests_for(fake_server, "item-0000")[1]["body"]["messages"]
    assert (
        repair[-2]["role"] == "assistant"
        and repair[-1]["role"] == "user"
        and problem in repair[-1]["content"]
    )
    failed = js["item-0001"]
    assert failed.status == "error" and failed.label is None and problem in failed.error
    assert "after one repair attempt" in failed.error
    assert failed.raw_response.count("--- repair ---") == 1  # both answers are kept
    assert len(_requests_for(fake_server, "item-0001")) == 2  # exactly one repair
    # the malformed answers are cached like any other: a re-run in a new round asks nothing
    n = len(fake_server.chat_requests())
    again = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r2", progress=False)
    assert (again.ok, again.errors, again.requests) == (2, 1, 0) and len(fake_server.chat_requests()) == n


def test_many_items_with_every_failure_mixed_nothing_lost(store, fake_server):
    items = make_items(60)
    add_set(store, items)
    script = [
        [fs.status(429, retry_after_ms=100), fs.ok()], [fs.status(500), fs.ok()], [fs.hang(1.0), fs.ok()],
        [fs.ok('{"label": "rem', finish_reason="length")] * 2, [fs.ok("not json")] * 2,
        [fs.ok(content="", refusal="no")] * 2, [fs.ok({"label": "ban", "areas": []})] * 2,
        [fs.ok({"label": "allow", "areas": ["nope"]})] * 2, [fs.ok(delay=0.2)], [fs.status(500)] * 5,
    ]  # fmt: skip
    for i, actions in enumerate(script * 3):
        fake_server.script(f"item-{i * 2:04d}", *actions)
    s = run_rater(
        store, "toy", config(fake_server.base_url, timeout=0.5, concurrency=16), round="r1", progress=False
    )
    js = store.judgements("toy", round="r1")
    assert len(js) == len(items) == s.ok + s.errors == s.total
    assert {j.item_id for j in js} == {it.item_id for it in items}
    assert s.errors == 3 * 6  # truncated, invalid, refusal, bad label, bad area, 500 x 5
    for j in js:
        assert (j.status == "ok" and j.label in POLICY.labels) or (
            j.status == "error" and j.error and j.label is None
        )


def test_auto_response_format_falls_back_for_llama_cpp(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(3))
    rejected = fs.status(500, "Input should be 'text' or 'json_object' ... 'input': 'json_schema'")

    def responder(req):
        if req.get("response_format", {}).get("type") == "json_schema":
            return rejected
        return fs.ok(fs.default_answer(req))

    fake_server.responder = responder
    cfg = config(fake_server.base_url, response_format="auto", concurrency=1)
    s = run_rater(sqlite_store, "toy", cfg, round="r1", progress=False)
    assert (s.ok, s.errors) == (3, 0)
    formats = [e["body"]["response_format"]["type"] for e in fake_server.chat_requests()]
    assert formats == ["json_schema", "json_object", "json_object", "json_object"]
    assert fake_server.chat_requests()[1]["body"]["response_format"]["schema"]["properties"]["label"]["enum"]
    logged = _calls(sqlite_store)[0]["request"]["response_format"]
    assert logged["type"] == "json_object"  # the call log shows what was sent
    # keyed like json_schema: an explicit json_schema config finds the same answers
    s2 = run_rater(sqlite_store, "toy", config(fake_server.base_url, response_format="json_schema"), round="r2",
                   progress=False)  # fmt: skip
    assert s2.cached == 3 and s2.requests == 0


def test_yes_no_mode_reads_p_yes_from_logprobs(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(3))
    fake_server.responder = lambda req: fs.yes_no("No", p_yes=0.1)
    fake_server.script("Scams", fs.yes_no("Yes", p_yes=0.9))  # first request mentioning the scam area
    cfg = config(fake_server.base_url, template="area_yes_no.j2", concurrency=1)
    s = run_rater(sqlite_store, "toy", cfg, round="r1", progress=False)
    assert (s.ok, s.errors, s.requests) == (3, 0, 6)  # one call per item and area
    body = fake_server.chat_requests()[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] <= 8
    assert "response_format" not in body
    js = sorted(sqlite_store.judgements("toy", round="r1"), key=lambda j: j.item_id)
    flagged = [j for j in js if j.areas]
    assert len(flagged) == 1
    j = flagged[0]
    assert j.label == "remove" and j.areas == ["scam"]  # the most severe label by default
    assert j.area_scores["scam"] == pytest.approx(0.9) and j.area_scores["weapons"] == pytest.approx(0.1)
    assert j.confidence == pytest.approx(0.9)
    clean = [j for j in js if not j.areas]
    assert all(j.label == "allow" and j.confidence == pytest.approx(0.9) for j in clean)


def test_yes_no_without_logprobs_reads_the_text_and_says_so(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(2))
    fake_server.responder = lambda req: fs.yes_no("no")
    fake_server.script(("item-0000", "Policy area: Scams"), fs.yes_no("Yes."))
    fake_server.script(("item-0000", "Policy area: Weapons"), fs.yes_no("maybe"), fs.yes_no("no"))
    fake_server.script(("item-0001", "Policy area: Scams"), fs.yes_no("perhaps"), fs.yes_no("unclear"))
    cfg = config(fake_server.base_url, template="area_yes_no.j2", concurrency=1,
                 violation_label="restrict")  # fmt: skip
    s = run_rater(sqlite_store, "toy", cfg, round="r1", progress=False)
    js = _by_item(sqlite_store)
    j = js["item-0000"]
    assert (j.status, j.label, j.areas) == ("ok", "restrict", ["scam"])  # "maybe" was repaired to "no"
    assert j.area_scores is None and j.confidence is None and "no logprobs" in j.rationale
    bad = js["item-0001"]
    assert bad.status == "error" and "scam" in bad.error and "after one repair attempt" in bad.error
    assert "perhaps" in bad.raw_response and "unclear" in bad.raw_response
    assert (s.ok, s.errors) == (1, 1)


def test_api_key_from_environment_is_sent_but_never_stored(tmp_path, fake_server, monkeypatch):
    from calibration.store import Store

    secret = "sk-test-DO-NOT-STORE-7f3a9c1e5b"
    monkeypatch.setenv("FAKE_PROVIDER_KEY", secret)
    db = tmp_path / "secret.db"
    store = Store(db)
    add_set(store, make_items(6))
    fake_server.script("item-0001", fs.status(500), fs.ok("garbage"), fs.ok())  # error paths are logged too
    fake_server.script("item-0002", *[fs.status(401, {"error": {"message": "bad key"}})])
    cfg = config(fake_server.base_url, api_key_env="FAKE_PROVIDER_KEY")
    s = run_rater(store, "toy", cfg, round="r1", progress=False)
    assert s.ok + s.errors == 6
    assert {e["auth"] for e in fake_server.chat_requests()} == {f"Bearer {secret}"}
    store.close()
    data = sqlite_bytes(db)
    assert secret.encode() not in data and b"DO-NOT-STORE" not in data
    assert b"FAKE_PROVIDER_KEY" in data  # the variable's name is kept, so the run can be repeated


def test_missing_api_key_stops_before_any_request(sqlite_store, fake_server, monkeypatch):
    from calibration.errors import InputError

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    add_set(sqlite_store, make_items(2))
    with pytest.raises(InputError, match="api_key_env.*NO_SUCH_KEY_VAR is not set"):
        run_rater(sqlite_store, "toy", config(fake_server.base_url, api_key_env="NO_SUCH_KEY_VAR"), round="r1",
                  progress=False)  # fmt: skip
    assert fake_server.chat_requests() == []


def test_rate_without_a_store_and_duplicate_texts_share_one_request(fake_server):
    items = make_items(3)
    twin = items[0].model_copy(update={"item_id": "twin"})
    rater = OpenAIRater(config(fake_server.base_url))
    js = rater.rate([*items, twin], POLICY)
    assert [j.item_id for j in js] == ["item-0000", "item-0001", "item-0002", "twin"]
    assert all(j.status == "ok" for j in js)
    assert len(fake_server.chat_requests()) == 3


def test_rate_limits_and_concurrency_are_respected(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(12))
    fake_server.latency = 0.05
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url, concurrency=3, rpm=600), round="r1",
                  progress=False)  # fmt: skip
    assert s.ok == 12
    reqs = fake_server.chat_requests()
    # never more than 3 requests in flight at once
    events = sorted([(e["t_start"], 1) for e in reqs] + [(e["t_end"], -1) for e in reqs])
    inflight = peak = 0
    for _, d in events:
        inflight += d
        peak = max(peak, inflight)
    assert peak <= 3
    # 600 rpm = 10 per second with a bucket of 10: the 12th request cannot start before ~0.2 s after the first
    starts = sorted(e["t_start"] for e in reqs)
    assert starts[-1] - starts[0] >= 0.15


def test_progress_bar_runs(sqlite_store, fake_server, capsys):
    add_set(sqlite_store, make_items(5))
    fake_server.script("item-0002", *[fs.status(500)] * 4)
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="r1", progress=True)
    assert (s.ok, s.errors) == (4, 1)


def test_an_existing_round_limits_the_run_to_its_sample_and_a_closed_round_is_refused(
    sqlite_store, fake_server
):
    from sqlalchemy import delete

    from calibration.errors import StoreError
    from calibration.schema import ItemRow, RoundItemRow

    add_set(sqlite_store, make_items(6))
    # the store creates the round (with every item) on first use; keep items 0-2, as a sampled round would
    run_rater(
        sqlite_store,
        "toy",
        config(fake_server.base_url, id="first"),
        round="sampled",
        progress=False,
        limit=1,
    )
    with sqlite_store.transaction() as conn:
        keep = [
            r.id
            for r in conn.execute(select(ItemRow.id).where(ItemRow.item_id.in_(["item-0000", "item-0002"])))
        ]
        conn.execute(delete(RoundItemRow).where(RoundItemRow.item_pk.not_in(keep)))
    s = run_rater(sqlite_store, "toy", config(fake_server.base_url), round="sampled", progress=False)
    judged = {j.item_id for j in sqlite_store.judgements("toy", round="sampled", raters=["fake-llm"])}
    assert s.total == 2 and judged == {"item-0000", "item-0002"}
    sqlite_store.close_round("toy", "sampled")
    n = len(fake_server.chat_requests())
    with pytest.raises(StoreError, match="closed"):
        run_rater(
            sqlite_store, "toy", config(fake_server.base_url, id="late"), round="sampled", progress=False
        )
    assert len(fake_server.chat_requests()) == n
