"""The LLM rater for any OpenAI-compatible endpoint (OpenAI, Azure OpenAI's v1 API, vLLM, Ollama, the
llama.cpp server), on the official `openai` SDK's `AsyncOpenAI`.

The SDK's own retries are off (`max_retries=0`): `limits.call_with_retries` does every retry, honouring
`Retry-After`. Requests go through the SDK's generic `client.post("/chat/completions", cast_to=str, ...)`
(its documented way to send a request body as is): the same authentication, base URL, timeouts and
error types as `chat.completions.create`, without re-validating our own JSON payload into typed dicts,
which cost more client time per request than everything else together (1.3 ms of ~3 ms). The exact
response body is what the call log keeps and what a cache hit reads back.
"""

from __future__ import annotations

import json
from typing import Any

import openai

from calibration.models import Policy
from calibration.raters.base import RaterConfig
from calibration.raters.limits import InvalidResponse
from calibration.raters.llm import TOP_LOGPROBS, YES_NO_MAX_TOKENS, Answer, LLMRater, first_token_top_logprobs
from calibration.raters.prompts import PromptTemplate, response_schema


class OpenAIRater(LLMRater):
    """`rate(items, policy)` with chat completions at `config.base_url`."""

    provider = "openai"
    enforce_timeout = False  # the SDK's own per-request timeout (`timeout`) applies

    def __init__(
        self, config: RaterConfig, *, template: PromptTemplate | None = None, api_key: str | None = None
    ):
        super().__init__(config, template=template)
        # Read now so that a missing variable stops the run before any call; kept in memory only.
        self._api_key = api_key or config.api_key()
        self.client: Any = None
        # What goes on the wire for a JSON-schema request; `auto` switches it when the endpoint says no.
        self._wire_format = "json_schema"

    async def _open(self) -> None:
        self.client = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.config.base_url, max_retries=0, timeout=self.config.timeout
        )

    async def _close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def _response_format(self, policy: Policy) -> dict[str, Any] | None:
        fmt = self.config.response_format
        if fmt == "none":
            return None
        if fmt == "json_object":
            return {"type": "json_object"}
        schema = response_schema(policy)
        if fmt == "json_object_with_schema":
            return {"type": "json_object", "schema": schema}
        # `auto` is keyed as json_schema: both ask for the same schema-constrained answer.
        return {"type": "json_schema", "json_schema": {"name": "judgement", "strict": True, "schema": schema}}

    def _payload(self, messages: list[dict[str, str]], policy: Policy, *, yes_no: bool) -> dict[str, Any]:
        c = self.config
        p: dict[str, Any] = {"model": c.model, "messages": messages}
        if c.temperature is not None:
            p["temperature"] = c.temperature
        if c.seed is not None:
            p["seed"] = c.seed
        if yes_no:
            p["max_tokens"] = min(c.max_tokens, YES_NO_MAX_TOKENS)
            if c.logprobs:
                p["logprobs"] = True
                p["top_logprobs"] = TOP_LOGPROBS
        else:
            p["max_tokens"] = c.max_tokens
            fmt = self._response_format(policy)
            if fmt is not None:
                p["response_format"] = fmt
        if c.extra_body:
            p["extra_body"] = c.extra_body
        return p

    def _wire(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The request body as sent: `extra_body` merged in, the `auto` format fallback applied."""
        body = payload
        if "extra_body" in payload:
            body = {k: v for k, v in payload.items() if k != "extra_body"} | payload["extra_body"]
        rf = payload.get("response_format")
        if self.config.response_format != "auto" or not rf or rf.get("type") != "json_schema":
            return body
        if self._wire_format == "json_object_with_schema":
            return {**body, "response_format": {"type": "json_object", "schema": rf["json_schema"]["schema"]}}
        return body

    def request_log(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._wire(payload)

    async def _send(self, payload: dict[str, Any]) -> str:
        if self.client is None:
            await self._open()
        self.sent += 1
        try:
            return await self.client.post("/chat/completions", cast_to=str, body=self._wire(payload))
        except openai.APIStatusError as exc:
            if not self._rejects_json_schema(exc):
                raise
            # llama-cpp-python's server (0.3.x) only knows {"type": "json_object", "schema": ...}.
            self._wire_format = "json_object_with_schema"
            self.sent += 1
            return await self.client.post("/chat/completions", cast_to=str, body=self._wire(payload))

    def _rejects_json_schema(self, exc: Exception) -> bool:
        if self.config.response_format != "auto" or self._wire_format != "json_schema":
            return False
        status = getattr(exc, "status_code", None)
        response = getattr(exc, "response", None)
        try:
            body = response.text if response is not None else ""
        except Exception:
            body = ""
        return status in (400, 422, 500) and "json_schema" in body

    def _read(self, body: str) -> Answer:
        try:
            data = json.loads(body)
        except json.JSONDecodeError as e:
            raise InvalidResponse(f"not JSON ({e.msg}): {body[:200]!r}", body=body) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise InvalidResponse(f"no choices in the response: {body[:200]!r}", body=body)
        choice = choices[0]
        msg = choice.get("message") or {}
        usage = data.get("usage") or {}
        return Answer(
            content=msg.get("content"),
            refusal=msg.get("refusal"),
            finish_reason=choice.get("finish_reason"),
            top_logprobs=first_token_top_logprobs(choice.get("logprobs")),
            tokens_in=usage.get("prompt_tokens"),
            tokens_out=usage.get("completion_tokens"),
        )
