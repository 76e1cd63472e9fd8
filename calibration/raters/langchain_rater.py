"""The LangChain rater: any `langchain_core` chat model, asked for structured output with
`with_structured_output(schema, include_raw=True)`, where the schema is a pydantic model built from the
policy (label and areas restricted to the policy's values).

The same prompts, cache, call log, limits, retries and repair as the OpenAI rater (see `llm.py`). The
answer is read from the raw message (tool-call arguments, or JSON in the text) and checked against the
policy here, so a cached answer is read exactly like a fresh one. In yes/no mode the model is called
without structured output; log-probabilities are used when the provider puts them in
`response_metadata["logprobs"]` (as ChatOpenAI does with `logprobs=True`).

The chat model is given (`LangChainRater(config, chat_model=...)`) or built from the config:
`langchain.class_path: "langchain_openai:ChatOpenAI"` called with `langchain.init` plus the common
settings. Turn the model's own retries off (`max_retries: 0` in `init`): retries are ours.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from calibration.errors import InputError
from calibration.models import Policy
from calibration.raters.base import RaterConfig
from calibration.raters.limits import InvalidResponse
from calibration.raters.llm import Answer, LLMRater, first_token_top_logprobs
from calibration.raters.prompts import PromptTemplate, response_schema

_SECRET = re.compile(r"key|token|secret|password|auth|credential", re.I)


def judgement_schema(labels: Sequence[str], area_ids: Sequence[str]) -> type[BaseModel]:
    """The pydantic model of one answer: label and areas restricted to the policy's values."""
    label_type = Literal[tuple(labels)]  # type: ignore[valid-type]
    area_type = Literal[tuple(area_ids)]  # type: ignore[valid-type]
    return create_model(
        "ModerationJudgement",
        __doc__="A moderation decision under the policy.",
        label=(label_type, Field(description="The decision label")),
        areas=(list[area_type], Field(description="Ids of the violated policy areas; empty if none")),
        confidence=(float, Field(ge=0.0, le=1.0, description="Confidence in the label, 0 to 1")),
        rationale=(str, Field(description="One short sentence explaining the decision")),
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class LangChainRater(LLMRater):
    """`rate(items, policy)` with a LangChain chat model."""

    provider = "langchain"

    def __init__(
        self, config: RaterConfig, *, chat_model: Any = None, template: PromptTemplate | None = None
    ):
        super().__init__(config, template=template)
        self.chat_model = chat_model if chat_model is not None else self._build(config)
        self._structured: dict[str, Any] = {}
        params = getattr(self.chat_model, "_identifying_params", {}) or {}
        # What identifies the model in the cache key: its name and settings, never anything secret.
        self._model_params = {k: v for k, v in _jsonable(dict(params)).items() if not _SECRET.search(k)}
        self.model_name = (
            config.model
            or getattr(self.chat_model, "model_name", None)
            or getattr(self.chat_model, "model", None)
            or type(self.chat_model).__name__
        )

    @staticmethod
    def _build(config: RaterConfig) -> Any:
        lc = config.langchain
        if not lc.class_path or ":" not in lc.class_path:
            raise InputError.at(f"rater {config.id}", 0, "langchain.class_path",
                                "expected 'module:Class', e.g. langchain_openai:ChatOpenAI")  # fmt: skip
        module, _, name = lc.class_path.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise InputError.at(
                f"rater {config.id}",
                0,
                "langchain.class_path",
                f"cannot import {lc.class_path}: {e} (is the provider package installed?)",
            ) from None
        names = {f: f for f in ("model", "base_url", "temperature", "max_tokens", "timeout", "api_key")}
        names.update(lc.param_names)
        kwargs = dict(lc.init)
        for fld, value in (("model", config.model), ("base_url", config.base_url),
                           ("temperature", config.temperature), ("max_tokens", config.max_tokens),
                           ("timeout", config.timeout)):  # fmt: skip
            if value is not None and names.get(fld):
                kwargs.setdefault(names[fld], value)
        if config.api_key_env and names.get("api_key"):
            kwargs.setdefault(names["api_key"], config.api_key())
        return cls(**kwargs)

    def _payload(self, messages: list[dict[str, str]], policy: Policy, *, yes_no: bool) -> dict[str, Any]:
        p: dict[str, Any] = {
            "model": self.model_name,
            "model_params": self._model_params,
            "messages": messages,
        }
        if not yes_no:
            p["structured_output"] = response_schema(policy)
        return p

    def _runnable(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        runnable = self._structured.get(key)
        if runnable is None:
            props = schema["properties"]
            model = judgement_schema(props["label"]["enum"], props["areas"]["items"]["enum"])
            runnable = self.chat_model.with_structured_output(model, include_raw=True)
            self._structured[key] = runnable
        return runnable

    async def _send(self, payload: dict[str, Any]) -> str:
        messages = payload["messages"]
        self.sent += 1
        if "structured_output" in payload:
            out = await self._runnable(payload["structured_output"]).ainvoke(messages)
            msg = out["raw"]
        else:
            msg = await self.chat_model.ainvoke(messages)
        return json.dumps(
            {
                "content": msg.content,
                "tool_calls": [
                    {"name": t.get("name"), "args": t.get("args")} for t in getattr(msg, "tool_calls", [])
                ],
                "additional_kwargs": msg.additional_kwargs,
                "response_metadata": msg.response_metadata,
                "usage_metadata": getattr(msg, "usage_metadata", None),
            },
            default=str,
            ensure_ascii=False,
        )

    def _read(self, body: str) -> Answer:
        try:
            data = json.loads(body)
        except json.JSONDecodeError as e:
            raise InvalidResponse(f"not JSON ({e.msg})") from None
        content = data.get("content")
        if isinstance(content, list):  # content blocks
            content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
        calls = data.get("tool_calls") or []
        meta = data.get("response_metadata") or {}
        extra = data.get("additional_kwargs") or {}
        usage = data.get("usage_metadata") or {}
        return Answer(
            content=content or None,
            refusal=extra.get("refusal") or meta.get("refusal"),
            finish_reason=meta.get("finish_reason"),
            top_logprobs=first_token_top_logprobs(meta.get("logprobs")),
            payload=calls[0].get("args") if calls else None,
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
        )
