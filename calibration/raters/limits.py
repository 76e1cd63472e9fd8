"""Rate limits and retries for AI raters: token buckets for requests and tokens per minute, a shared
cool-down when the provider says "slow down", and exponential backoff with jitter that honours
`Retry-After`.

The SDKs' own retries are switched off (`max_retries=0`) so that every attempt goes through here: one
place decides what is retried, how long to wait, and counts attempts.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# HTTP statuses worth another attempt: rate limited, request timeout, conflict/lock, server errors.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


class TokenBucket:
    """`rate` units per second, at most `capacity` saved up. `acquire(n)` waits until `n` units are there.

    A request larger than the capacity is let through once the bucket is full (it could never fit
    otherwise) and leaves the bucket in debt, so the average rate still holds.
    """

    def __init__(self, rate: float, capacity: float):
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._level = float(capacity)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:  # first come, first served: waiters queue on the lock
            need = min(float(n), self.capacity)
            while True:
                self._refill()
                if self._level >= need:
                    self._level -= float(n)
                    return
                await asyncio.sleep((need - self._level) / self.rate)

    def adjust(self, delta: float) -> None:
        """Give back (`delta` > 0) or take more (`delta` < 0) once the real size of a request is known."""
        self._refill()
        self._level = min(self.capacity, self._level + delta)


class RateLimiter:
    """Requests per minute and tokens per minute, plus a cool-down shared by every worker.

    A 429 with `Retry-After` on one request pauses all of them: the limit is the account's, not the
    request's.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self.requests = TokenBucket(rpm / 60.0, max(1.0, rpm / 60.0)) if rpm else None
        self.tokens = TokenBucket(tpm / 60.0, max(1.0, tpm / 60.0)) if tpm else None
        self._pause_until = 0.0

    def pause(self, seconds: float) -> None:
        self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    async def acquire(self, est_tokens: int = 0) -> None:
        while (wait := self._pause_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None and est_tokens > 0:
            await self.tokens.acquire(est_tokens)

    def settle(self, est_tokens: int, used_tokens: int | None) -> None:
        """Correct the token bucket with the tokens the response reports."""
        if self.tokens is not None and used_tokens is not None:
            self.tokens.adjust(est_tokens - used_tokens)


class InvalidResponse(Exception):
    """A response whose body is not what the API promises (not JSON, no choices): worth a retry."""

    def __init__(self, message: str, body: str | None = None):
        super().__init__(message)
        self.body = body


@dataclass(frozen=True)
class Failure:
    """What went wrong with one attempt, and whether another attempt may help."""

    retryable: bool
    message: str
    retry_after: float | None = None
    status: int | None = None
    body: str | None = None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def describe_failure(exc: BaseException) -> Failure:
    """Classify an exception from the openai SDK, httpx, LangChain providers or asyncio.

    Duck-typed on `status_code` / `response` so that any provider SDK built on httpx is understood.
    """
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Failure(True, "timeout")
    if isinstance(exc, InvalidResponse):
        return Failure(True, f"invalid response body: {exc}", body=exc.body)
    name = type(exc).__name__
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    if isinstance(status, int):
        headers = getattr(response, "headers", None)
        body = None
        try:
            body = response.text if response is not None else None
        except Exception:  # a streamed or closed body
            body = None
        message = f"HTTP {status}"
        if body:
            message += f": {body[:300]}"
        return Failure(status in RETRYABLE_STATUS, message, parse_retry_after(headers), status, body)
    bases = {cls.__name__ for cls in type(exc).__mro__}
    if any("Timeout" in b for b in bases):
        return Failure(True, "timeout")
    # httpx / httpx2 transport errors, SDK connection errors, socket errors: the request may not have arrived
    if bases & {"TransportError", "NetworkError", "APIConnectionError", "ConnectionError"} or isinstance(
        exc, OSError
    ):
        return Failure(True, f"connection error: {exc}")
    if "ResponseValidation" in name or "JSONDecode" in name:
        # A 200 whose body is not the JSON the API promised: a proxy hiccup more often than not.
        return Failure(True, f"invalid response body: {exc}")
    return Failure(False, f"{name}: {exc}")


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `max_attempts` attempts; waits `Retry-After` when the server sends one, else exponential
    backoff `base * 2**(attempt-1)` capped at `max_delay`, with full jitter (a uniform draw in
    [delay/2, delay]) so that workers that failed together do not retry together."""

    max_attempts: int = 6
    base: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0

    def delay(self, attempt: int, failure: Failure, rng: random.Random | None = None) -> float:
        if failure.retry_after is not None:
            # Honour the server's word; a little jitter on top, never below it.
            jitter = (rng or random).uniform(0.0, 0.05 * failure.retry_after + 0.01)
            return min(failure.retry_after, self.max_retry_after) + jitter
        cap = min(self.max_delay, self.base * (2 ** (attempt - 1)))
        return (rng or random).uniform(cap / 2.0, cap)


@dataclass
class Attempts:
    """The result of `call_with_retries`: the value or the last failure, and how many attempts it took."""

    value: Any = None
    failure: Failure | None = None
    attempts: int = 0
    failures: list[str] | None = None


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    limiter: RateLimiter | None = None,
    *,
    est_tokens: int = 0,
) -> Attempts:
    """Call `fn` until it succeeds, fails for good, or runs out of attempts. Never raises for API errors
    (cancellation still propagates): the caller turns a failure into an `error` judgement."""
    out = Attempts(failures=[])
    for attempt in range(1, policy.max_attempts + 1):
        if limiter is not None:
            await limiter.acquire(est_tokens)
        out.attempts = attempt
        try:
            out.value = await fn()
            out.failure = None
            return out
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none is swallowed
            failure = describe_failure(exc)
            out.failure = failure
            out.failures.append(failure.message)
            if not failure.retryable or attempt == policy.max_attempts:
                return out
            wait = policy.delay(attempt, failure)
            if failure.retry_after is not None and limiter is not None:
                limiter.pause(wait)
            await asyncio.sleep(wait)
    return out
