"""Token and request buckets on a virtual clock: the limits hold exactly, with no wall-clock timing."""

from __future__ import annotations

import asyncio

import pytest

from calibration.raters import limits

_real_sleep = asyncio.sleep


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await _real_sleep(0)  # let other tasks run, but no real waiting


@pytest.fixture
def clock(monkeypatch):
    c = VirtualClock()
    monkeypatch.setattr(limits.time, "monotonic", c.monotonic)
    monkeypatch.setattr(limits.asyncio, "sleep", c.sleep)
    return c


def _starts(limiter: limits.RateLimiter, clock: VirtualClock, sizes: list[int]) -> list[float]:
    async def run() -> list[float]:
        out = []
        for n in sizes:
            await limiter.acquire(n)
            out.append(clock.now)
        return out

    return asyncio.run(run())


def test_tokens_per_minute_spaces_requests_by_their_token_estimate(clock):
    # 6,000 tokens per minute = 100 per second, a bucket of 100: 50-token requests go two per second.
    lim = limits.RateLimiter(tpm=6000)
    starts = _starts(lim, clock, [50] * 6)
    assert starts == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])
    tokens_by_time = {t: 50 * sum(1 for s in starts if s <= t) for t in (1.0, 2.0)}
    assert all(v <= 100 + 100 * t for t, v in tokens_by_time.items())  # never above rate x time + burst


def test_request_larger_than_the_bucket_goes_once_full_and_leaves_debt(clock):
    lim = limits.RateLimiter(tpm=6000)
    starts = _starts(lim, clock, [250, 50])
    # 250 > capacity 100: it waits for a full bucket (already full at t=0), then the debt of 150 tokens
    # plus the next 50 need 2 s to refill at 100 tokens/s.
    assert starts == pytest.approx([0.0, 2.0])


def test_reported_usage_corrects_the_estimate(clock):
    lim = limits.RateLimiter(tpm=6000)
    _starts(lim, clock, [100])
    lim.settle(est_tokens=100, used_tokens=20)  # the request used far fewer tokens: 80 come back
    starts = _starts(lim, clock, [80])
    assert starts == pytest.approx([0.0])


def test_requests_and_tokens_limits_both_apply(clock):
    lim = limits.RateLimiter(rpm=60, tpm=60000)  # 1 request/s binds before 1,000 tokens/s
    starts = _starts(lim, clock, [10, 10, 10])
    assert starts == pytest.approx([0.0, 1.0, 2.0])


def test_pause_after_retry_after_holds_every_request(clock):
    lim = limits.RateLimiter(rpm=6000)
    lim.pause(3.0)
    assert _starts(lim, clock, [0]) == pytest.approx([3.0])
