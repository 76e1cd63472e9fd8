"""Fixtures and helpers for the rater tests (imported by tests/test_raters_*.py; conftest is shared)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from calibration.models import Gold, Item, Policy
from calibration.raters.base import RaterConfig
from tests.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"

POLICY = Policy.model_validate(
    {
        "id": "toy",
        "version": "1",
        "title": "Toy marketplace policy",
        "labels": ["allow", "restrict", "remove"],
        "ordinal": True,
        "areas": [
            {"id": "scam", "title": "Scams", "definition": "Taking payment by deception.",
             "violates": ["Pay by gift card first"], "safe": ["Pay at checkout"]},
            {"id": "weapons", "title": "Weapons", "definition": "Sale of firearms or parts."},
        ],
    }
)  # fmt: skip


def make_items(n: int, prefix: str = "item") -> list[Item]:
    """`n` items with distinct texts (the fake server is scripted by text)."""
    labels = ["allow", "restrict", "remove"]
    return [
        Item(
            item_id=f"{prefix}-{i:04d}",
            text=f"Listing {prefix}-{i:04d}: a used thing for sale, number {i}.",
            gold=Gold(label=labels[i % 3], areas=[] if i % 3 == 0 else ["scam"]),
        )
        for i in range(n)
    ]


def config(base_url: str, **kw: Any) -> RaterConfig:
    """A rater config for the fake server: fast backoff, short timeout."""
    values: dict[str, Any] = {
        "kind": "openai", "id": "fake-llm", "model": "fake-model", "base_url": base_url,
        "template": "classify_json.j2", "response_format": "json_schema", "temperature": 0.0, "seed": 1,
        "max_tokens": 100, "concurrency": 8, "timeout": 2.0, "max_retries": 3, "backoff_base": 0.01,
        "backoff_max": 0.05, "prices": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}, "write_batch": 10,
    }  # fmt: skip
    values.update(kw)
    return RaterConfig.model_validate(values)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def sqlite_store(tmp_path):
    from calibration.store import Store

    s = Store(tmp_path / "store.db")
    yield s
    s.close()


def add_set(store, items: list[Item], name: str = "toy", policy: Policy = POLICY) -> str:
    store.import_golden_set(name, policy, items)
    return name


def sqlite_bytes(db_path: Path) -> bytes:
    """Every byte SQLite may have written: the database, its WAL and shared-memory files."""
    out = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(db_path) + suffix)
        if p.exists():
            out += p.read_bytes()
    return out


# ---- a LangChain chat model that speaks HTTP to the fake server ---------------------------------------
def http_chat_model(base_url: str, **kw: Any):
    """A small `BaseChatModel` that posts OpenAI-style chat requests with httpx (tools included), so that
    `with_structured_output` goes through real HTTP."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.utils.function_calling import convert_to_openai_tool

    def role(m) -> str:
        return {"human": "user", "ai": "assistant", "system": "system"}.get(m.type, m.type)

    class HTTPChatModel(BaseChatModel):
        base_url: str
        model: str = "fake-lc-model"
        temperature: float = 0.0
        api_key: str = "sk-test"

        @property
        def _llm_type(self) -> str:
            return "http-test-chat"

        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model": self.model, "temperature": self.temperature, "api_key": self.api_key}

        def bind_tools(self, tools, *, tool_choice=None, **kwargs):
            formatted = [convert_to_openai_tool(t) for t in tools]
            if tool_choice in ("any", "required") or tool_choice is True:
                tool_choice = {"type": "function", "function": {"name": formatted[0]["function"]["name"]}}
            return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

        def _body(self, messages, kwargs) -> dict[str, Any]:
            body = {"model": self.model, "temperature": self.temperature,
                    "messages": [{"role": role(m), "content": m.content} for m in messages]}  # fmt: skip
            for k in ("tools", "tool_choice"):
                if kwargs.get(k) is not None:
                    body[k] = kwargs[k]
            return body

        def _result(self, data: dict) -> ChatResult:
            msg = data["choices"][0]["message"]
            calls = [{"name": c["function"]["name"], "args": json.loads(c["function"]["arguments"]), "id": c["id"]}
                     for c in msg.get("tool_calls") or []]  # fmt: skip
            usage = data.get("usage") or {}
            ai = AIMessage(
                content=msg.get("content") or "", tool_calls=calls,
                additional_kwargs={"refusal": msg.get("refusal")} if msg.get("refusal") else {},
                response_metadata={"finish_reason": data["choices"][0].get("finish_reason")},
                usage_metadata={"input_tokens": usage.get("prompt_tokens", 0),
                                "output_tokens": usage.get("completion_tokens", 0),
                                "total_tokens": usage.get("total_tokens", 0)},
            )  # fmt: skip
            return ChatResult(generations=[ChatGeneration(message=ai)])

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            r = httpx.post(f"{self.base_url}/chat/completions", json=self._body(messages, kwargs),
                           headers={"Authorization": f"Bearer {self.api_key}"}, timeout=5)  # fmt: skip
            r.raise_for_status()
            return self._result(r.json())

        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            async with httpx.AsyncClient(timeout=5) as client:
                r = await client.post(f"{self.base_url}/chat/completions", json=self._body(messages, kwargs),
                                      headers={"Authorization": f"Bearer {self.api_key}"})  # fmt: skip
            r.raise_for_status()
            return self._result(r.json())

    return HTTPChatModel(base_url=base_url, **kw)


def run(coro):
    return asyncio.run(coro)
