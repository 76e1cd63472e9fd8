"""The LangChain rater: a langchain_core chat model through with_structured_output, over real HTTP to the
fake server (tool calls), and a GenericFakeChatModel unit test."""

from __future__ import annotations

import json

import pytest

from calibration.raters import run_rater
from calibration.raters.base import RaterConfig
from calibration.raters.langchain_rater import LangChainRater, judgement_schema
from tests import fakeserver as fs
from tests.raters_fixtures import POLICY, add_set, fake_server, http_chat_model, make_items, sqlite_store

__all__ = ["fake_server", "sqlite_store"]


def lc_config(**kw) -> RaterConfig:
    values = {"kind": "langchain", "id": "lc-rater", "model": "fake-lc-model", "concurrency": 4,
              "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0,
              "prices": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}}  # fmt: skip
    values.update(kw)
    return RaterConfig.model_validate(values)


def test_structured_output_over_http_tool_calls(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(6))
    fake_server.script("item-0002", fs.Action("ok", tool_args={"label": "remove", "areas": ["weapons"],
                                                              "confidence": 0.7, "rationale": "rifle"}))  # fmt: skip
    rater = LangChainRater(lc_config(), chat_model=http_chat_model(fake_server.base_url))
    s = run_rater(sqlite_store, "toy", rater.config, round="r1", progress=False, rater=rater)
    assert (s.ok, s.errors, s.requests) == (6, 0, 6)
    req = fake_server.chat_requests()[0]["body"]
    params = req["tools"][0]["function"]["parameters"]
    assert params["properties"]["label"]["enum"] == POLICY.labels  # the pydantic schema from the policy
    assert req["messages"][0]["role"] == "system" and "Scams" in req["messages"][0]["content"]
    js = {j.item_id: j for j in sqlite_store.judgements("toy", round="r1")}
    j = js["item-0002"]
    assert (j.label, j.areas, j.confidence, j.rationale, j.rater_kind) == (
        "remove",
        ["weapons"],
        0.7,
        "rifle",
        "llm",
    )
    assert j.tokens_in > 0 and j.cost > 0 and j.prompt_hash == rater.template.hash
    # cached: a new round makes no request
    again = run_rater(sqlite_store, "toy", rater.config, round="r2", progress=False, rater=rater)
    assert (again.cached, again.requests) == (6, 0) and len(fake_server.chat_requests()) == 6


def test_cache_key_never_holds_the_models_secret_params(fake_server):
    rater = LangChainRater(
        lc_config(), chat_model=http_chat_model(fake_server.base_url, api_key="sk-lc-SECRET")
    )
    payload = rater.first_requests(make_items(1)[0], POLICY)[0]
    assert "sk-lc-SECRET" not in json.dumps(payload) and payload["model_params"]["model"] == "fake-lc-model"


def test_errors_retries_and_repair_through_langchain(sqlite_store, fake_server):
    add_set(sqlite_store, make_items(4))
    good = {"label": "restrict", "areas": ["scam"], "confidence": 0.5, "rationale": "ok"}
    fake_server.script("item-0000", fs.status(429, retry_after_ms=200), fs.Action("ok", tool_args=good))
    fake_server.script("item-0001", fs.Action("ok", tool_args={"label": "ban", "areas": []}),
                       fs.Action("ok", tool_args=good))  # fmt: skip
    fake_server.script("item-0002", fs.Action("ok", tool_args={"label": "ban", "areas": []}),
                       fs.Action("ok", content="no idea"))  # fmt: skip
    fake_server.script("item-0003", *[fs.status(500)] * 4)
    rater = LangChainRater(lc_config(), chat_model=http_chat_model(fake_server.base_url))
    s = run_rater(sqlite_store, "toy", rater.config, round="r1", progress=False, rater=rater)
    assert (s.total, s.ok, s.errors) == (4, 2, 2)
    js = {j.item_id: j for j in sqlite_store.judgements("toy", round="r1")}
    reqs0 = [e for e in fake_server.chat_requests() if "item-0000" in e["prompt"]]
    assert reqs0[1]["t_start"] - reqs0[0]["t_end"] >= 0.2  # Retry-After honoured
    assert js["item-0001"].status == "ok" and js["item-0001"].label == "restrict"  # repaired
    assert js["item-0002"].status == "error" and "label 'ban'" in js["item-0002"].error
    assert "no idea" in js["item-0002"].raw_response
    assert js["item-0003"].status == "error" and "HTTP 500" in js["item-0003"].error


def test_generic_fake_chat_model_unit():
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class ToolFake(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    answers = iter([
        AIMessage(content="", tool_calls=[{"name": "ModerationJudgement", "id": "1", "args": {
            "label": "allow", "areas": [], "confidence": 0.9, "rationale": "fine"}}]),
        AIMessage(content=json.dumps({"label": "remove", "areas": ["scam"], "confidence": 0.6, "rationale": "json"})),
    ])  # fmt: skip
    rater = LangChainRater(lc_config(), chat_model=ToolFake(messages=answers))
    js = rater.rate(make_items(2), POLICY)
    assert sorted((j.label, tuple(j.areas)) for j in js) == [("allow", ()), ("remove", ("scam",))]


def test_schema_restricts_labels_and_areas():
    from pydantic import ValidationError

    Schema = judgement_schema(POLICY.labels, POLICY.area_ids)
    Schema(label="remove", areas=["scam"], confidence=0.5, rationale="x")
    with pytest.raises(ValidationError):
        Schema(label="ban", areas=[], confidence=0.5, rationale="x")
    with pytest.raises(ValidationError):
        Schema(label="allow", areas=["spam"], confidence=0.5, rationale="x")


def test_class_path_builds_the_model_and_reports_import_errors(fake_server, monkeypatch):
    from calibration.errors import InputError

    monkeypatch.setenv("LC_TEST_KEY", "sk-from-env")
    cfg = lc_config(base_url=fake_server.base_url, api_key_env="LC_TEST_KEY", langchain={
        "class_path": "tests.raters_fixtures:http_chat_model", "param_names": {
            "temperature": "", "max_tokens": "", "timeout": ""}})  # fmt: skip
    rater = LangChainRater(cfg)
    assert rater.chat_model.api_key == "sk-from-env" and rater.chat_model.model == "fake-lc-model"
    js = rater.rate(make_items(1), POLICY)
    assert js[0].status == "ok"
    with pytest.raises(InputError, match="langchain.class_path"):
        LangChainRater(lc_config(langchain={"class_path": "no_such_module_xyz:Chat"}))
