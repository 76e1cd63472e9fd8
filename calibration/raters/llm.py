"""What the LLM raters share: the call context (cache, call log, limits, retries), cache keys, reading
and checking answers, the one repair attempt, and turning per-area yes/no answers into a decision.

A provider adapter (`OpenAIRater`, `LangChainRater`) only says how to send one request and how to read
one response body; everything that decides what a judgement says is here, once.

Cache key: SHA-256 of the canonical JSON of what determines the answer: the model name, the optional
`cache_namespace`, the template hash, the rendered messages, the requested output format (schema) and
the sampling parameters (temperature, seed, max_tokens, logprobs, extra_body). The base URL is *not*
part of it: the same model behind another URL (a local server on another port, a second replica, a
proxy) gives a cache hit. Set `cache_namespace` to keep two endpoints with the same model name apart.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calibration.models import Area, Item, Judgement, Policy, sha256_json
from calibration.raters.base import Rater, RaterConfig, run_sync
from calibration.raters.limits import RateLimiter, RetryPolicy, call_with_retries
from calibration.raters.prompts import PromptTemplate

CACHE_KEY_VERSION = 1
YES_NO_MAX_TOKENS = 8
TOP_LOGPROBS = 5

REPAIR_JSON = (
    "Your answer could not be used: {error}. Reply again with only one JSON object of the form "
    '{{"label": ..., "areas": [...], "confidence": ..., "rationale": ...}}, where label is one of {labels} '
    "and areas lists only ids from {areas}."
)
REPAIR_YES_NO = "Your answer could not be used: {error}. Answer with exactly one word: yes or no."


class AnswerError(ValueError):
    """A response that arrived but cannot be used (invalid JSON, unknown label, refusal, ...)."""


@dataclass
class RunStats:
    """Running totals for the progress bar and the run summary."""

    cost: float = 0.0  # spent in this run (cached answers cost nothing now)
    tokens_in: int = 0
    tokens_out: int = 0
    errors: int = 0
    cached_judgements: int = 0


@dataclass
class CallContext:
    """Where calls come from and go to: a cache preloaded from the store, the store lookup for keys not
    preloaded (repair calls), the call log, the limits shared by every worker of a run."""

    limiter: RateLimiter
    retry: RetryPolicy
    semaphore: asyncio.Semaphore
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    lookup: Callable[[str], dict[str, Any] | None] | None = None
    record: Callable[[dict[str, Any]], None] | None = None
    stats: RunStats = field(default_factory=RunStats)
    inflight: dict[str, asyncio.Future] = field(default_factory=dict)

    @classmethod
    def for_config(cls, config: RaterConfig, **kwargs: Any) -> CallContext:
        return cls(
            limiter=RateLimiter(config.rpm, config.tpm),
            retry=RetryPolicy(
                max_attempts=config.max_retries + 1, base=config.backoff_base, max_delay=config.backoff_max
            ),
            semaphore=asyncio.Semaphore(config.concurrency),
            **kwargs,
        )


@dataclass
class Answer:
    """One response, read into the parts the raters use (the same for a fresh call and a cached one)."""

    content: str | None
    refusal: str | None = None
    finish_reason: str | None = None
    # Top log-probabilities of the first non-blank answer token: [(token, logprob), ...]; None if absent.
    top_logprobs: list[tuple[str, float]] | None = None
    payload: Any = None  # structured output a provider already extracted (LangChain tool-call args)
    tokens_in: int | None = None
    tokens_out: int | None = None


@dataclass
class CallResult:
    key: str
    answer: Answer | None = None
    error: str | None = None  # the call failed for good (after retries); no answer
    error_body: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    cached: bool = False

    @property
    def text(self) -> str:
        """The answer as text, for error messages, repair prompts and `raw_response`."""
        if self.answer is None:
            return self.error_body or ""
        a = self.answer
        if a.content:
            return a.content
        if a.refusal:
            return a.refusal
        if a.payload is not None:
            return json.dumps(a.payload, ensure_ascii=False)
        return ""


def first_token_top_logprobs(logprobs: dict | None) -> list[tuple[str, float]] | None:
    """[(token, logprob), ...] of the first non-blank answer token, from an OpenAI-style `logprobs`
    object (`{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}`); None when absent."""
    for tok in (logprobs or {}).get("content") or []:
        if str(tok.get("token", "")).strip():
            top = [(t["token"], float(t["logprob"])) for t in tok.get("top_logprobs") or []]
            return top or [(tok["token"], float(tok["logprob"]))]
    return None


def _strip_fence(text: str) -> str:
    m = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, re.S)
    return m.group(1) if m else text


def check_answer(data: Any, policy: Policy) -> dict[str, Any]:
    """Validate a decoded answer against the policy; raises AnswerError naming what is wrong."""
    if not isinstance(data, dict):
        raise AnswerError(f"expected a JSON object, got {type(data).__name__}")
    label = data.get("label")
    if not isinstance(label, str):
        raise AnswerError("no label")
    if label not in policy.labels:
        raise AnswerError(f"label {label!r} is not one of {policy.labels}")
    areas = data.get("areas", [])
    if areas is None:
        areas = []
    if not isinstance(areas, list) or not all(isinstance(a, str) for a in areas):
        raise AnswerError("areas must be a list of area ids")
    unknown = [a for a in areas if a not in policy.area_ids]
    if unknown:
        raise AnswerError(f"unknown area(s) {unknown}; expected ids from {policy.area_ids}")
    conf = data.get("confidence")
    if conf is not None:
        if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0.0 <= float(conf) <= 1.0:
            raise AnswerError(f"confidence {conf!r} is not a number between 0 and 1")
        conf = float(conf)
    rationale = data.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise AnswerError("rationale must be text")
    return {"label": label, "areas": list(dict.fromkeys(areas)), "confidence": conf, "rationale": rationale}


def read_json_answer(answer: Answer, policy: Policy) -> dict[str, Any]:
    """The checked decision in a JSON-mode answer, or AnswerError (refusal, truncation, bad JSON, ...)."""
    if answer.refusal:
        raise AnswerError(f"refusal: {answer.refusal}")
    if answer.finish_reason == "content_filter":
        raise AnswerError("the provider's content filter stopped the answer")
    if answer.payload is not None:
        return check_answer(answer.payload, policy)
    text = (answer.content or "").strip()
    if not text:
        raise AnswerError("empty answer")
    try:
        data = json.loads(_strip_fence(text))
    except json.JSONDecodeError as e:
        if answer.finish_reason == "length":
            raise AnswerError("the answer was cut off at max_tokens (truncated JSON)") from None
        raise AnswerError(f"not valid JSON ({e.msg} at char {e.pos})") from None
    return check_answer(data, policy)


_WORD = re.compile(r"[a-z]+")


def _yes_no_word(token: str) -> str | None:
    m = _WORD.match(token.strip().lower())
    return m.group(0) if m and m.group(0) in ("yes", "no") else None


def read_yes_no(answer: Answer) -> tuple[float, bool]:
    """(P(yes), from_logprobs). P(yes) sums the probability of "yes"-like tokens ("yes", "Yes", " yes",
    "YES") among the top log-probabilities of the first answer token, over the yes + no mass. Without
    usable log-probabilities the text is read ("yes..." -> 1, "no..." -> 0). Neither: AnswerError."""
    if answer.refusal:
        raise AnswerError(f"refusal: {answer.refusal}")
    if answer.top_logprobs:
        mass = {"yes": 0.0, "no": 0.0}
        for token, lp in answer.top_logprobs:
            word = _yes_no_word(token)
            if word is not None:
                mass[word] += math.exp(lp)
        total = mass["yes"] + mass["no"]
        if total > 0:
            return mass["yes"] / total, True
    word = _yes_no_word(answer.content or "")
    if word is None:
        raise AnswerError(f"expected yes or no, got {(answer.content or '')[:80]!r}")
    return (1.0 if word == "yes" else 0.0), False


class LLMRater(Rater):
    """A rater that asks a chat model, through a provider adapter. Subclasses implement `_open`,
    `_close`, `_payload`, `_send` and `_read`."""

    provider = "llm"
    # Whether `timeout` must be enforced here (the OpenAI SDK enforces it per request itself).
    enforce_timeout = True

    def __init__(self, config: RaterConfig, *, template: PromptTemplate | None = None):
        self.config = config
        self.template = template or PromptTemplate.load(config.template)
        declared = self.template.mode
        if config.mode and declared and config.mode != declared:
            from calibration.errors import InputError

            raise InputError.at(
                self.template.path, 1, "mode",
                f"rater {config.id!r} asks for mode {config.mode!r} but the template declares {declared!r}",
            )  # fmt: skip
        self.mode = config.mode or declared or "json"
        self._policy_hashes: dict[int, str] = {}
        self.sent = 0  # requests sent by `_send` (retries, repairs and format fallbacks included)

    # ---- provider adapter -------------------------------------------------------------------------
    async def _open(self) -> None:
        """Create the client (inside the running event loop)."""

    async def _close(self) -> None:
        """Release the client."""

    @abstractmethod
    def _payload(self, messages: list[dict[str, str]], policy: Policy, *, yes_no: bool) -> dict[str, Any]:
        """The request, as JSON-able data: what the cache key hashes and what the call log keeps."""

    @abstractmethod
    async def _send(self, payload: dict[str, Any]) -> str:
        """Send one request (no retries here; count it in `self.sent`); return the raw response body."""

    @abstractmethod
    def _read(self, body: str) -> Answer:
        """Read a raw response body (fresh or from the cache)."""

    def request_log(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The request as sent, for the call log (differs from the keyed payload when a fallback applies)."""
        return payload

    # ---- keys and calls ---------------------------------------------------------------------------
    def policy_hash(self, policy: Policy) -> str:
        h = self._policy_hashes.get(id(policy))
        if h is None:
            h = self._policy_hashes[id(policy)] = policy.content_hash()
        return h

    def cache_key(self, payload: dict[str, Any]) -> str:
        return sha256_json(
            {"v": CACHE_KEY_VERSION, "provider": self.provider, "namespace": self.config.cache_namespace,
             "template": self.template.hash, "request": payload}
        )  # fmt: skip

    def first_requests(self, item: Item, policy: Policy) -> list[dict[str, Any]]:
        """The requests an item needs before any repair (one in JSON mode, one per area in yes/no)."""
        if self.mode == "yes_no":
            return [
                self._payload(self.template.messages(policy, item, area=a), policy, yes_no=True)
                for a in policy.areas
            ]
        return [self._payload(self.template.messages(policy, item), policy, yes_no=False)]

    def planned_keys(self, item: Item, policy: Policy) -> list[str]:
        return [self.cache_key(p) for p in self.first_requests(item, policy)]

    def _cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        p = self.config.prices
        return p.cost(tokens_in, tokens_out) if p is not None else None

    async def call(self, ctx: CallContext, item: Item, policy: Policy, payload: dict[str, Any]) -> CallResult:
        key = self.cache_key(payload)
        hit = ctx.cache.get(key)
        if hit is None and ctx.lookup is not None:
            hit = ctx.lookup(key)
        if hit is not None:
            return CallResult(
                key=key, answer=self._read(hit["response"]), tokens_in=hit.get("tokens_in"),
                tokens_out=hit.get("tokens_out"), cost=hit.get("cost"), latency_ms=hit.get("latency_ms"),
                cached=True,
            )  # fmt: skip
        pending = ctx.inflight.get(key)
        if pending is not None:  # the same request is already on its way (a duplicate item): share it
            return await asyncio.shield(pending)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        ctx.inflight[key] = fut
        try:
            result = await self._call_fresh(ctx, item, policy, payload, key)
            fut.set_result(result)
            return result
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            ctx.inflight.pop(key, None)

    async def _call_fresh(
        self, ctx: CallContext, item: Item, policy: Policy, payload: dict[str, Any], key: str
    ) -> CallResult:
        est = sum(len(str(m.get("content", ""))) for m in payload.get("messages", [])) // 4
        est += int(payload.get("max_tokens") or self.config.max_tokens)
        latency = [0.0]

        async def attempt() -> tuple[str, Answer]:
            async with ctx.semaphore:
                t0 = time.perf_counter()
                try:
                    timeout = self.config.timeout if self.enforce_timeout else None
                    body = await asyncio.wait_for(self._send(payload), timeout)
                finally:
                    latency[0] = (time.perf_counter() - t0) * 1000.0
            return body, self._read(body)  # an unreadable body raises here and is retried

        out = await call_with_retries(attempt, ctx.retry, ctx.limiter, est_tokens=est)
        rec: dict[str, Any] = {
            "cache_key": key, "rater_id": self.config.id, "model": self.config.model or self.provider,
            "base_url": _public_url(self.config.base_url), "template_hash": self.template.hash,
            "policy_hash": self.policy_hash(policy), "item_id": item.item_id, "request": self.request_log(payload),
            "latency_ms": round(latency[0], 3), "attempts": out.attempts,
        }  # fmt: skip
        if out.failure is not None:
            err = out.failure.message
            if out.attempts > 1:
                err = f"{err} (after {out.attempts} attempts: {'; '.join(out.failures or [])})"[:2000]
            rec.update(status="error", error=err, response=out.failure.body)
            if ctx.record is not None:
                ctx.record(rec)
            return CallResult(key=key, error=err, error_body=out.failure.body, latency_ms=rec["latency_ms"])
        body, answer = out.value
        cost = self._cost(answer.tokens_in, answer.tokens_out)
        ctx.limiter.settle(
            est, (answer.tokens_in or 0) + (answer.tokens_out or 0) if answer.tokens_in else None
        )
        ctx.stats.cost += cost or 0.0
        ctx.stats.tokens_in += answer.tokens_in or 0
        ctx.stats.tokens_out += answer.tokens_out or 0
        rec.update(
            status="ok", response=body, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out, cost=cost
        )
        if ctx.record is not None:
            ctx.record(rec)  # committed now: a crash after this line does not repeat the request
        else:
            ctx.cache[key] = rec
        return CallResult(
            key=key, answer=answer, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out, cost=cost,
            latency_ms=rec["latency_ms"],
        )  # fmt: skip

    # ---- judging ----------------------------------------------------------------------------------
    def _judgement(self, item: Item, policy: Policy, calls: Sequence[CallResult], **values: Any) -> Judgement:
        def total(name: str) -> Any:
            vals = [getattr(c, name) for c in calls if getattr(c, name) is not None]
            return sum(vals) if vals else None

        return Judgement(
            item_id=item.item_id, rater_id=self.config.id, rater_kind=self.rater_kind,
            model=self.config.model or self.provider, prompt_hash=self.template.hash,
            policy_hash=self.policy_hash(policy), tokens_in=total("tokens_in"), tokens_out=total("tokens_out"),
            cost=total("cost"), latency_ms=total("latency_ms"), **values,
        )  # fmt: skip

    async def rate_item(self, ctx: CallContext, item: Item, policy: Policy) -> tuple[Judgement, bool]:
        """(judgement, served wholly from the cache)."""
        if self.mode == "yes_no":
            j, calls = await self._rate_yes_no(ctx, item, policy)
        else:
            j, calls = await self._rate_json(ctx, item, policy)
        cached = all(c.cached for c in calls)
        return j, cached

    async def _rate_json(
        self, ctx: CallContext, item: Item, policy: Policy
    ) -> tuple[Judgement, list[CallResult]]:
        messages = self.template.messages(policy, item)
        first = await self.call(ctx, item, policy, self._payload(messages, policy, yes_no=False))
        if first.error is not None:
            return self._judgement(item, policy, [first], status="error", error=first.error,
                                   raw_response=first.error_body), [first]  # fmt: skip
        try:
            decision = read_json_answer(first.answer, policy)
            return self._judgement(item, policy, [first], raw_response=first.text, **decision), [first]
        except AnswerError as e:
            problem = str(e)
        repair_msgs = [
            *messages,
            {"role": "assistant", "content": first.text},
            {"role": "user", "content": REPAIR_JSON.format(
                error=problem, labels=json.dumps(policy.labels), areas=json.dumps(policy.area_ids))},
        ]  # fmt: skip
        second = await self.call(ctx, item, policy, self._payload(repair_msgs, policy, yes_no=False))
        calls = [first, second]
        raw_both = f"{first.text}\n\n--- repair ---\n\n{second.text}"
        if second.error is not None:
            return self._judgement(
                item,
                policy,
                calls,
                status="error",
                raw_response=raw_both,
                error=f"invalid answer: {problem}; the repair call failed: {second.error}",
            ), calls
        try:
            decision = read_json_answer(second.answer, policy)
        except AnswerError as e2:
            return self._judgement(
                item,
                policy,
                calls,
                status="error",
                raw_response=raw_both,
                error=f"invalid answer: {problem}; after one repair attempt: {e2}",
            ), calls
        return self._judgement(item, policy, calls, raw_response=raw_both, **decision), calls

    def _area_label(self, policy: Policy, area_id: str) -> str:
        if area_id in self.config.area_labels:
            return self.config.area_labels[area_id]
        if self.config.violation_label:
            return self.config.violation_label
        others = [lab for lab in policy.labels if lab != policy.negative_label]
        return others[-1]  # the most severe label of the scale

    async def _ask_area(
        self, ctx: CallContext, item: Item, policy: Policy, area: Area
    ) -> tuple[float | None, bool, str | None, list[CallResult], str]:
        """(P(yes), from_logprobs, error, calls, raw text) for one area."""
        messages = self.template.messages(policy, item, area=area)
        first = await self.call(ctx, item, policy, self._payload(messages, policy, yes_no=True))
        if first.error is not None:
            return None, False, first.error, [first], first.text
        try:
            p, from_lp = read_yes_no(first.answer)
            return p, from_lp, None, [first], first.text
        except AnswerError as e:
            problem = str(e)
        repair_msgs = [*messages, {"role": "assistant", "content": first.text},
                       {"role": "user", "content": REPAIR_YES_NO.format(error=problem)}]  # fmt: skip
        second = await self.call(ctx, item, policy, self._payload(repair_msgs, policy, yes_no=True))
        raw = f"{first.text}\n--- repair ---\n{second.text}"
        if second.error is not None:
            return None, False, f"{problem}; the repair call failed: {second.error}", [first, second], raw
        try:
            p, from_lp = read_yes_no(second.answer)
            return p, from_lp, None, [first, second], raw
        except AnswerError as e2:
            return None, False, f"{problem}; after one repair attempt: {e2}", [first, second], raw

    async def _rate_yes_no(
        self, ctx: CallContext, item: Item, policy: Policy
    ) -> tuple[Judgement, list[CallResult]]:
        results = await asyncio.gather(*(self._ask_area(ctx, item, policy, a) for a in policy.areas))
        calls = [c for r in results for c in r[3]]
        raw = json.dumps({a.id: r[4] for a, r in zip(policy.areas, results, strict=True)}, ensure_ascii=False)
        errors = [f"{a.id}: {r[2]}" for a, r in zip(policy.areas, results, strict=True) if r[2] is not None]
        if errors:
            return self._judgement(item, policy, calls, status="error", error="; ".join(errors),
                                   raw_response=raw), calls  # fmt: skip
        probs = {a.id: r[0] for a, r in zip(policy.areas, results, strict=True)}
        from_lp = {a.id: r[1] for a, r in zip(policy.areas, results, strict=True)}
        violated = [a for a, p in probs.items() if p >= self.config.threshold]
        if violated:
            label = max((self._area_label(policy, a) for a in violated), key=policy.labels.index)
        else:
            label = policy.negative_label
        scores = {a: round(p, 6) for a, p in probs.items() if from_lp[a]}
        confidence = None
        if len(scores) == len(probs):
            confidence = max(probs[a] for a in violated) if violated else min(1 - p for p in probs.values())
        text_only = [a for a in probs if not from_lp[a]]
        rationale = "P(yes) per area: " + ", ".join(f"{a} {p:.2f}" for a, p in probs.items())
        if text_only:
            rationale += f"; no logprobs, read from the text answer for: {', '.join(text_only)}"
        return self._judgement(
            item, policy, calls, label=label, areas=violated, confidence=confidence, rationale=rationale,
            raw_response=raw, area_scores=scores or None,
        ), calls  # fmt: skip

    # ---- the Rater interface ------------------------------------------------------------------------
    def check_policy(self, policy: Policy) -> None:
        """Settings that name labels or areas must match the policy (checked before any call)."""
        from calibration.errors import InputError

        wrong = [x for x in [self.config.violation_label, *self.config.area_labels.values()]
                 if x is not None and x not in policy.labels]  # fmt: skip
        if wrong:
            raise InputError.at(f"rater {self.config.id}", 0, "violation_label",
                                f"label(s) {wrong} are not in the policy's labels {policy.labels}")  # fmt: skip
        bad_areas = [a for a in self.config.area_labels if a not in policy.area_ids]
        if bad_areas:
            raise InputError.at(f"rater {self.config.id}", 0, "area_labels",
                                f"unknown area(s) {bad_areas}; the policy has {policy.area_ids}")  # fmt: skip

    async def arate(
        self, items: Sequence[Item], policy: Policy, ctx: CallContext | None = None
    ) -> list[Judgement]:
        self.check_policy(policy)
        ctx = ctx or CallContext.for_config(self.config)
        await self._open()
        try:
            results = await asyncio.gather(*(self.rate_item(ctx, it, policy) for it in items))
        finally:
            await self._close()
        return [j for j, _ in results]

    def rate(self, items: Sequence[Item], policy: Policy) -> list[Judgement]:
        """Judge items without a store (answers are cached for this call only). For runs that log every
        call, resume after a crash and write judgements, use `calibration.raters.run_rater`."""
        return run_sync(self.arate(items, policy))


def _public_url(url: str | None) -> str | None:
    """The base URL without user:password (a URL may carry credentials; the log must not)."""
    if not url:
        return url
    return re.sub(r"//[^/@]*@", "//", url)
