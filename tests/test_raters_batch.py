"""The Batch API path against the fake server (real `openai` SDK, real HTTP): one judgement per item, the
answers shared with online runs through the cache, resume of a submitted batch, expired batches and
unusable lines."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from calibration.cli import app
from calibration.errors import InputError
from calibration.raters import run_rater
from calibration.raters.batch import STATE_DONE, STATE_OPEN, run_batch
from calibration.schema import LLMCallRow
from tests import fakeserver as fs
from tests.raters_fixtures import MINI, add_set, config, fake_server, make_items, sqlite_store

__all__ = ["fake_server", "sqlite_store"]


def _calls(store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(LLMCallRow.__table__).order_by(LLMCallRow.id))]


def _by_item(store, name="toy", round="r1"):
    return {j.item_id: j for j in store.judgements(name, round=round)}


def _batch(store, server, cfg, **kw):
    kw.setdefault("round", "r1")
    return run_batch(store, "toy", cfg, poll_interval=0.01, max_poll_interval=0.02, **kw)


def test_batch_run_end_to_end_then_an_online_run_makes_no_request(store, fake_server):
    items = make_items(12)
    add_set(store, items)
    fake_server.script("item-0004", fs.ok({"label": "remove", "areas": ["scam"], "confidence": 0.8,
                                           "rationale": "gift card"}))  # fmt: skip
    cfg = config(fake_server.base_url)
    polls: list[str] = []
    s = _batch(store, fake_server, cfg, status=polls.append)
    assert (s.total, s.ok, s.errors, s.skipped, s.requests, s.cached) == (12, 12, 0, 0, 0, 0)
    assert len(fake_server.batch_creates()) == 1 and fake_server.chat_requests() == []
    assert len(fake_server.batch_log) == 12  # every item sent once
    assert any("in_progress" in p for p in polls)
    batch = next(iter(fake_server.batches.values()))
    assert batch["status"] == "completed" and batch["endpoint"] == "/v1/chat/completions"
    # the uploaded input: custom_id = cache key, POST /v1/chat/completions, the body the online path sends
    lines = [json.loads(x) for x in fake_server.files[batch["input_file_id"]]["content"].splitlines()]
    assert fake_server.files[batch["input_file_id"]]["purpose"] == "batch"
    assert {ln["method"] for ln in lines} == {"POST"} and {ln["url"] for ln in lines} == {
        "/v1/chat/completions"
    }
    js = _by_item(store)
    assert len(js) == 12 and all(j.status == "ok" for j in js.values())
    j = js["item-0004"]
    assert (j.label, j.areas, j.confidence, j.rationale) == ("remove", ["scam"], 0.8, "gift card")
    calls = [c for c in _calls(store) if c["status"] == "ok"]
    assert len(calls) == 12 and {c["cache_key"] for c in calls} == {ln["custom_id"] for ln in lines}
    c = calls[0]
    assert (
        c["model"] == "fake-model"
        and c["template_hash"] == j.prompt_hash
        and c["policy_hash"] == j.policy_hash
    )
    assert c["tokens_in"] > 0 and c["request"] == next(
        ln["body"] for ln in lines if ln["custom_id"] == c["cache_key"]
    )
    online_cost = (c["tokens_in"] * 1.0 + c["tokens_out"] * 2.0) / 1e6
    assert c["cost"] == pytest.approx(online_cost * 0.5)  # batch_discount 0.5
    assert json.loads(c["response"])["choices"][0]["message"]["content"]
    state = [c for c in _calls(store) if c["status"] in (STATE_OPEN, STATE_DONE)]
    assert (
        len(state) == 1
        and state[0]["status"] == STATE_DONE
        and state[0]["request"]["batch_id"] == batch["id"]
    )
    assert json.loads(state[0]["response"])["status"] == "completed"
    # the same config online, another round: every answer from the cache, zero requests
    online = run_rater(store, "toy", cfg, round="r2", progress=False)
    assert (online.ok, online.cached, online.requests) == (12, 12, 0)
    assert fake_server.chat_requests() == []
    assert {j.item_id: (j.label, j.areas) for j in _by_item(store, round="r2").values()} == {
        i: (j.label, j.areas) for i, j in js.items()
    }
    # a batch re-run of a finished round: nothing to submit
    again = _batch(store, fake_server, cfg)
    assert (again.ok, again.skipped) == (12, 12) and len(fake_server.batch_creates()) == 1


def test_online_first_then_batch_submits_only_the_uncached_items(store, fake_server):
    add_set(store, make_items(10))
    cfg = config(fake_server.base_url)
    run_rater(store, "toy", cfg, round="r1", progress=False, limit=4)
    assert len(fake_server.chat_requests()) == 4
    s = _batch(store, fake_server, cfg, round="r2")
    assert (s.total, s.ok, s.errors, s.cached, s.requests) == (10, 10, 0, 4, 0)
    assert len(fake_server.batch_log) == 6  # only the 6 items the online run did not ask about
    sent = {e["prompt"] for e in fake_server.batch_log}
    assert not any(f"item-{i:04d}" in p for p in sent for i in range(4))
    assert len(fake_server.chat_requests()) == 4
    assert len([c for c in _calls(store) if c["status"] == "ok"]) == 10


def test_an_interrupted_run_resumes_the_same_batch(sqlite_store, fake_server):
    store = sqlite_store
    add_set(store, make_items(8))
    cfg = config(fake_server.base_url)
    fake_server.batch_polls = 3
    first = _batch(store, fake_server, cfg, wait=False)  # submit, look once, stop
    assert first.ok == 0 and first.errors == 0 and any("run the same command again" in n for n in first.notes)
    assert len(fake_server.batch_creates()) == 1 and store.judgements("toy", round="r1") == []
    open_rows = [c for c in _calls(store) if c["status"] == STATE_OPEN]
    assert len(open_rows) == 1 and len(open_rows[0]["request"]["keys"]) == 8
    batch_id = open_rows[0]["request"]["batch_id"]
    # still running: the second run stops too, without a second batch
    second = _batch(store, fake_server, cfg, wait=False)
    assert second.ok == 0 and len(fake_server.batch_creates()) == 1
    third = _batch(store, fake_server, cfg)
    assert (third.ok, third.errors) == (8, 0) and len(fake_server.batch_creates()) == 1
    assert any(batch_id in n for n in third.notes)
    assert len(fake_server.batch_log) == 8 and fake_server.chat_requests() == []
    assert [c["status"] for c in _calls(store) if c["cache_key"] == open_rows[0]["cache_key"]] == [STATE_DONE]


def test_expired_batch_gives_error_judgements_for_the_missing_lines_then_a_rerun_sends_them(
    store, fake_server
):
    add_set(store, make_items(6))
    cfg = config(fake_server.base_url)
    fake_server.script_batch("expired", missing=("item-0001", "item-0004"))
    s = _batch(store, fake_server, cfg)
    assert (s.total, s.ok, s.errors) == (6, 4, 2)
    js = _by_item(store)
    assert len(js) == 6
    for i in ("item-0001", "item-0004"):
        assert (
            js[i].status == "error" and "missing from the output" in js[i].error and "expired" in js[i].error
        )
    assert fake_server.chat_requests() == []
    # a re-run submits only the two lost requests, in a new batch
    again = _batch(store, fake_server, cfg)
    assert (again.ok, again.errors, again.skipped) == (6, 0, 4)
    assert len(fake_server.batch_creates()) == 2 and len(fake_server.batch_log) == 6 + 2
    assert all(j.status == "ok" for j in _by_item(store).values())


def test_unusable_lines_become_error_judgements_with_the_raw_text(sqlite_store, fake_server):
    store = sqlite_store
    add_set(store, make_items(6))
    cfg = config(fake_server.base_url)
    # item 1: not JSON, and the online repair is not JSON either -> error with both answers
    fake_server.script("item-0001", fs.ok("label: remove, sure"), fs.ok("still not json"))
    # item 2: not JSON, the online repair is valid -> ok after one online request
    fake_server.script("item-0002", fs.ok("nope"), fs.ok({"label": "restrict", "areas": ["scam"]}))
    # item 3: the output line itself is broken JSON
    fake_server.script("item-0003", fs.raw("{broken line"))
    # item 4: the line failed (an error-file line)
    fake_server.script("item-0004", fs.status(400, {"error": {"message": "bad request body", "type": "x"}}))
    s = _batch(store, fake_server, cfg)
    assert (s.total, s.ok, s.errors, s.requests) == (6, 3, 3, 2)
    js = _by_item(store)
    assert js["item-0001"].status == "error" and "after one repair attempt" in js["item-0001"].error
    assert (
        "label: remove, sure" in js["item-0001"].raw_response
        and "still not json" in js["item-0001"].raw_response
    )
    assert js["item-0002"].status == "ok" and js["item-0002"].label == "restrict"
    assert js["item-0003"].status == "error" and "no answer" in js["item-0003"].error
    assert js["item-0004"].status == "error" and "HTTP 400" in js["item-0004"].error
    assert "bad request body" in js["item-0004"].error and "bad request body" in js["item-0004"].raw_response
    calls = _calls(store)
    bad = [c for c in calls if c["status"] == "error"]
    assert len(bad) == 1 and bad[0]["item_id"] == "item-0004"
    # the online repairs carry the batch answer in the conversation
    repairs = fake_server.chat_requests()
    assert len(repairs) == 2 and all(e["body"]["messages"][-2]["role"] == "assistant" for e in repairs)


def test_a_line_that_is_not_json_but_names_its_request_keeps_the_raw_line(sqlite_store, fake_server):
    store = sqlite_store
    add_set(store, make_items(3))
    cfg = config(fake_server.base_url)
    s0 = _batch(store, fake_server, cfg, wait=False)
    assert s0.ok == 0
    key = next(c for c in _calls(store) if c["status"] == STATE_OPEN)["request"]["keys"][1]
    fake_server.script("item-0001", fs.raw('{"custom_id": "' + key + '", "response": {"status_code": 200, '))
    s = _batch(store, fake_server, cfg)
    assert (s.ok, s.errors) == (2, 1)
    j = _by_item(store)["item-0001"]
    assert j.status == "error" and "not valid JSON" in j.error and key in j.raw_response


def test_failed_batch_and_yes_no_mode(sqlite_store, fake_server):
    store = sqlite_store
    add_set(store, make_items(3))
    fake_server.script_batch("failed", fail_message="the input file is bad")
    s = _batch(store, fake_server, config(fake_server.base_url))
    assert (s.ok, s.errors) == (0, 3)
    assert all("the input file is bad" in j.error for j in _by_item(store).values())
    with pytest.raises(InputError, match="yes_no mode is not supported"):
        _batch(store, fake_server, config(fake_server.base_url, template="area_yes_no.j2"))


def test_cli_batch_flag(tmp_path, fake_server):
    cfg = tmp_path / "rater.yaml"
    cfg.write_text(f"kind: openai\nid: cli-llm\nmodel: fake\nbase_url: {fake_server.base_url}\n"
                   "response_format: json_schema\n")  # fmt: skip
    db = tmp_path / "c.db"
    args = ["classify", str(MINI), "--rater", str(cfg), "--db", str(db), "--limit", "4", "--round", "r1",
            "--batch", "--poll-interval", "0.01", "--no-progress"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "4 items, 4 ok, 0 error" in r.output and "batch" in r.output
    assert len(fake_server.batch_creates()) == 1 and fake_server.chat_requests() == []
    bad = tmp_path / "yn.yaml"
    bad.write_text(cfg.read_text() + "template: area_yes_no.j2\n")
    r = CliRunner().invoke(app, [*args[:3], str(bad), *args[4:]])
    assert r.exit_code == 2 and "yes_no" in r.output


def test_ctrl_c_while_polling_then_the_rerun_polls_the_same_batch(sqlite_store, fake_server):
    store = sqlite_store
    add_set(store, make_items(5))
    cfg = config(fake_server.base_url)
    fake_server.batch_polls = 3

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _batch(store, fake_server, cfg, sleep=interrupt)
    assert len(fake_server.batch_creates()) == 1
    assert len([c for c in _calls(store) if c["status"] == STATE_OPEN]) == 1
    s = _batch(store, fake_server, cfg)
    assert (s.ok, s.errors) == (5, 0) and len(fake_server.batch_creates()) == 1
    assert len(fake_server.batch_log) == 5
