"""Judge a large golden set through the OpenAI Batch API, with the same response cache as online runs.

Every item's request is rendered exactly as the online path renders it (`LLMRater.first_requests`,
`OpenAIRater._wire`), so it has the same cache key. Keys that already have an `ok` call in `llm_calls`
are not sent; the others become the lines of a batch input file (`custom_id` = the cache key), uploaded
with `files.create(purpose="batch")` and submitted with `batches.create(endpoint="/v1/chat/completions",
completion_window="24h")`. When the batch ends (completed, failed, expired or cancelled), every line of
its output and error files is logged with the store's call log exactly like an online call (a later
online run of the same config is served from the cache, and the other way round), and the judgements
are made by the online code (`LLMRater.rate_item`) reading those cached answers: the same answer checks,
the same judgement fields. An answer that arrived but is unusable gets its one repair attempt **online**
(a chat-completions request, so only the few invalid items cost a live call). An item whose line is an
error, unreadable or missing from the output (an expired batch) is judged `error` with the reason and
the raw line: nothing is lost, and a re-run sends those items again.

Resume without a schema change: each submitted batch is remembered as an `llm_calls` row with status
`batch_open` (10 characters: the column is `String(10)`), the batch id, input file id and cache keys in
`request`, and a `cache_key` derived from (rater id, golden set, round). It is never a cache hit (only
`ok` rows are). A later invocation for the same rater, set and round finds that row and polls the same
batch instead of submitting another; once the batch's lines are logged the row becomes `batch_done`
with the final batch object in `response`. Nothing secret is in it (no key, no headers).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from calibration.errors import InputError
from calibration.models import Item, Judgement, Policy, sha256_json
from calibration.raters.base import RaterConfig, make_rater
from calibration.raters.limits import InvalidResponse
from calibration.raters.llm import CallContext, CallResult, RunStats, _public_url
from calibration.raters.runner import RunSummary, _store_config, items_to_judge, plan_items
from calibration.schema import LLMCallRow
from calibration.store import DEFAULT_ROUND, Store

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
STATE_OPEN = "batch_open"
STATE_DONE = "batch_done"
MAX_BATCH_REQUESTS = 50_000  # OpenAI's limit per batch
_CUSTOM_ID = re.compile(r'"custom_id"\s*:\s*"([0-9a-f]{64})"')


class BatchPending(Exception):
    """The batch was submitted (or is still running); run again to collect it."""


def state_key(config: RaterConfig, golden_set: str, round: str) -> str:
    """The `cache_key` of the rows that remember this rater's batches for a golden set and round."""
    return sha256_json({"batch_state": 1, "rater": config.id, "golden_set": golden_set, "round": round})


def open_batches(store: Store, key: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(LLMCallRow.__table__)
            .where(LLMCallRow.cache_key == key, LLMCallRow.status == STATE_OPEN)
            .order_by(LLMCallRow.id)
        )
        return [dict(r._mapping) for r in rows]


def run_batch(
    store: Store,
    golden_set_name: str,
    config: RaterConfig,
    *,
    round: str = DEFAULT_ROUND,
    limit: int | None = None,
    poll_interval: float = 30.0,
    max_poll_interval: float = 600.0,
    wait: bool = True,
    max_wait: float | None = None,
    rater: Any = None,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    status: Callable[[str], None] | None = None,
) -> RunSummary:
    """Judge the items in scope (as `run_rater` chooses them) through the Batch API and store the
    judgements. With `wait=False` (or when `max_wait` seconds pass) it returns once the batch is
    submitted (or still running), judging nothing; calling it again polls the same batch."""
    from calibration.raters.openai_rater import OpenAIRater

    t0 = time.perf_counter()
    say = status or (lambda _msg: None)
    if config.kind != "openai":
        raise InputError.at(f"rater {config.id}", 0, "kind", "the Batch API needs a rater of kind openai")
    rater = rater or make_rater(config)
    if not isinstance(rater, OpenAIRater):
        raise InputError.at(f"rater {config.id}", 0, "kind", "the Batch API needs an OpenAI rater")
    if rater.mode != "json":
        raise InputError.at(
            f"rater {config.id}", 0, "mode",
            "yes_no mode is not supported with the Batch API (its answers need one call per area); "
            "use a json-mode template or run without --batch",
        )  # fmt: skip

    gs, items, round_state = plan_items(store, golden_set_name, round, limit)
    policy = gs.policy
    rater.check_policy(policy)
    summary = RunSummary(rater_id=config.id, golden_set=golden_set_name, round=round, total=len(items))
    todo = items_to_judge(store, golden_set_name, round, round_state, config.id, items)
    summary.skipped = len(items) - len(todo)

    # The requests, rendered as online: same payload, same cache key.
    plan: dict[str, tuple[Item, dict[str, Any]]] = {}
    item_key: dict[str, str] = {}
    for it in todo:
        payload = rater.first_requests(it, policy)[0]
        key = rater.cache_key(payload)
        plan.setdefault(key, (it, payload))
        item_key[it.item_id] = key
    cached = store.cached_calls(plan) if plan else {}
    cached_before = set(cached)
    skey = state_key(config, golden_set_name, round)
    pending_rows = open_batches(store, skey)
    if not pending_rows and all(k in cached for k in plan):
        pass  # everything is cached: no client needed for the batch part
    elif client is None:
        import openai

        client = openai.OpenAI(
            api_key=rater._api_key,
            base_url=config.base_url,
            max_retries=config.max_retries,
            timeout=config.timeout,
        )

    stats = RunStats()
    errors: dict[str, tuple[str, str | None]] = {}  # cache key -> (error, raw text) for lines not usable
    attempted: set[str] = set()
    log = store.call_log()
    try:
        # 1. batches submitted earlier for this rater, set and round: poll them, do not submit again
        for row in pending_rows:
            req = row["request"] or {}
            say(f"resuming batch {req.get('batch_id')} ({len(req.get('keys') or [])} requests)")
            _collect(store, client, row, plan, rater, policy, log, stats, errors, summary,
                     poll_interval, max_poll_interval, wait, max_wait, sleep, say, t0)  # fmt: skip
            attempted.update(req.get("keys") or [])
        cached = store.cached_calls(plan) if plan else {}
        # 2. what is neither cached nor answered by those batches: submit it
        missing = [k for k in plan if k not in cached and k not in attempted]
        rows = []
        for start in range(0, len(missing), MAX_BATCH_REQUESTS):
            chunk = missing[start : start + MAX_BATCH_REQUESTS]
            rows.append(_submit(client, chunk, plan, rater, policy, config, log, skey))
            summary.notes.append(f"submitted batch {rows[-1]['request']['batch_id']}: {len(chunk)} requests")
            say(summary.notes[-1])
        for row in rows:
            _collect(store, client, row, plan, rater, policy, log, stats, errors, summary,
                     poll_interval, max_poll_interval, wait, max_wait, sleep, say, t0)  # fmt: skip
            attempted.update(row["request"]["keys"])
    except BatchPending as e:
        log.close()
        summary.notes.append(f"{e}; run the same command again to collect the answers")
        summary.seconds = time.perf_counter() - t0
        return summary
    except BaseException:
        log.close()
        raise

    # 3. judge: answered items through the online code (cache hits; one online repair if unusable)
    cached = store.cached_calls(plan) if plan else {}
    sent_before = rater.sent
    try:
        judgements = asyncio.run(_judge(rater, todo, policy, item_key, cached, errors, store, log, stats))
    finally:
        log.close()
    rater_configs = {config.id: _store_config(config, rater)}
    for start in range(0, len(judgements), config.write_batch):
        store.add_judgements(golden_set_name, judgements[start : start + config.write_batch], round=round,
                             rater_configs=rater_configs, replace=True)  # fmt: skip
    summary.ok = summary.skipped + sum(j.status == "ok" for j in judgements)
    summary.errors = sum(j.status == "error" for j in judgements)
    # judged from answers cached before this run (not those the batch just brought)
    summary.cached = sum(
        j.status == "ok" and item_key[j.item_id] in cached_before and item_key[j.item_id] not in attempted
        for j in judgements
    )
    summary.requests = rater.sent - sent_before
    summary.cost += stats.cost
    summary.tokens_in += stats.tokens_in
    summary.tokens_out += stats.tokens_out
    if summary.requests:
        summary.notes.append(f"{summary.requests} online request(s) to repair unusable batch answers")
    summary.seconds = time.perf_counter() - t0
    return summary


def _record_base(rater: Any, policy: Policy, item: Item, payload: dict[str, Any], key: str) -> dict[str, Any]:
    """The fields an online call logs (see `LLMRater._call_fresh`), for one batch line."""
    c = rater.config
    return {
        "cache_key": key, "rater_id": c.id, "model": c.model or rater.provider, "base_url": _public_url(c.base_url),
        "template_hash": rater.template.hash, "policy_hash": rater.policy_hash(policy), "item_id": item.item_id,
        "request": rater.request_log(payload), "latency_ms": None, "attempts": 1,
    }  # fmt: skip


def _submit(client, keys, plan, rater, policy, config, log, skey) -> dict[str, Any]:
    lines = [
        json.dumps({"custom_id": k, "method": "POST", "url": ENDPOINT, "body": rater._wire(plan[k][1])},
                   ensure_ascii=False, separators=(",", ":"))
        for k in keys
    ]  # fmt: skip
    data = ("\n".join(lines) + "\n").encode("utf-8")
    f = client.files.create(file=("calibrate-batch.jsonl", data, "application/jsonl"), purpose="batch")
    b = client.batches.create(input_file_id=f.id, endpoint=ENDPOINT, completion_window="24h",
                              metadata={"rater": config.id[:500]})  # fmt: skip
    row = {
        "cache_key": skey, "rater_id": config.id, "model": config.model or rater.provider,
        "base_url": _public_url(config.base_url), "template_hash": rater.template.hash,
        "policy_hash": rater.policy_hash(policy), "item_id": None, "status": STATE_OPEN,
        "request": {"batch_id": b.id, "input_file_id": f.id, "endpoint": ENDPOINT, "keys": list(keys)},
        "response": None, "attempts": 1,
    }  # fmt: skip
    row["id"] = log.record(dict(row))  # committed now: an interrupted run resumes this batch
    return row


def _poll(client, batch_id, interval, max_interval, wait, max_wait, sleep, say, t0):
    delay = max(interval, 0.0)
    while True:
        b = client.batches.retrieve(batch_id)
        if b.status in TERMINAL:
            return b
        counts = getattr(b, "request_counts", None)
        done = f" ({counts.completed + counts.failed}/{counts.total})" if counts else ""
        say(f"batch {batch_id}: {b.status}{done}")
        if not wait or (max_wait is not None and time.perf_counter() - t0 + delay > max_wait):
            raise BatchPending(f"batch {batch_id} is {b.status}")
        sleep(delay)
        delay = min(max(delay * 1.5, 0.01), max_interval)


def _file_text(client, file_id: str | None) -> str:
    if not file_id:
        return ""
    return client.files.content(file_id).text


def _collect(store, client, row, plan, rater, policy, log, stats, errors, summary,
             interval, max_interval, wait, max_wait, sleep, say, t0) -> None:  # fmt: skip
    """Poll one batch to its end, log every line like an online call, mark the batch done."""
    req = row["request"]
    batch_id = req["batch_id"]
    b = _poll(client, batch_id, interval, max_interval, wait, max_wait, sleep, say, t0)
    keys = [k for k in req.get("keys") or [] if k in plan]
    already = store.cached_calls(keys) if keys else {}  # lines logged by an earlier, interrupted collect
    seen: set[str] = set()
    discount = 1.0 - rater.config.batch_discount
    counts = {"ok": 0, "error": 0}

    def record(key: str, **fields: Any) -> None:
        seen.add(key)
        if key in already:
            return
        item, payload = plan[key]
        log.record({**_record_base(rater, policy, item, payload, key), **fields})
        counts["ok" if fields["status"] == "ok" else "error"] += 1

    def line_error(key: str, message: str, raw: str) -> None:
        errors[key] = (message, raw)
        record(key, status="error", error=message[:2000], response=raw)

    for text in (_file_text(client, b.output_file_id), _file_text(client, b.error_file_id)):
        for raw in text.splitlines():
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                m = _CUSTOM_ID.search(raw)
                if m and m.group(1) in plan and m.group(1) not in seen:
                    line_error(m.group(1), f"the batch output line is not valid JSON ({e.msg})", raw)
                else:
                    summary.notes.append(f"batch {batch_id}: an output line names no request: {raw[:120]!r}")
                continue
            key = obj.get("custom_id") if isinstance(obj, dict) else None
            if key not in plan or key in seen:
                continue
            resp = obj.get("response") or {}
            code = resp.get("status_code")
            body = resp.get("body")
            if obj.get("error") or code != 200:
                err = obj.get("error") or (body.get("error") if isinstance(body, dict) else None)
                msg = err.get("message") if isinstance(err, dict) else (str(err) if err else None)
                line_error(key, f"batch line failed: HTTP {code}: {msg or str(body)[:300]}", raw)
                continue
            body_text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            try:
                answer = rater._read(body_text)
            except InvalidResponse as e:
                line_error(key, f"batch line unreadable: {e}", raw)
                continue
            cost = rater._cost(answer.tokens_in, answer.tokens_out)
            if cost is not None:
                cost *= discount
            if key not in already:
                stats.cost += cost or 0.0
                stats.tokens_in += answer.tokens_in or 0
                stats.tokens_out += answer.tokens_out or 0
            record(key, status="ok", response=body_text, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out,
                   cost=cost)  # fmt: skip
    why = ""
    if b.errors is not None and getattr(b.errors, "data", None):
        why = ": " + "; ".join(str(e.message) for e in b.errors.data if e.message)[:500]
    for key in keys:
        if key not in seen and key not in already:
            errors[key] = (f"no answer: the request is missing from the output of batch {batch_id} "
                           f"(status {b.status}{why})", None)  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(
            update(LLMCallRow).where(LLMCallRow.id == row["id"])
            .values(status=STATE_DONE, response=b.model_dump_json())
        )  # fmt: skip
    lost = len([k for k in keys if k not in seen and k not in already])
    summary.notes.append(
        f"batch {batch_id} {b.status}: {counts['ok']} answered, {counts['error']} failed, {lost} missing"
    )
    say(summary.notes[-1])


async def _judge(rater, todo, policy, item_key, cached, errors, store, log, stats) -> list[Judgement]:
    ctx = CallContext.for_config(rater.config, cache=cached, lookup=store.cached_call, record=log.record,
                                 stats=stats)  # fmt: skip
    answered = [it for it in todo if item_key[it.item_id] in cached]
    await rater._open()
    try:
        results = await asyncio.gather(*(rater.rate_item(ctx, it, policy) for it in answered))
    finally:
        await rater._close()
    by_id = {}
    for it, (j, from_cache) in zip(answered, results, strict=True):
        if from_cache:
            stats.cached_judgements += 1
        by_id[it.item_id] = j
    for it in todo:
        if it.item_id in by_id:
            continue
        key = item_key[it.item_id]
        msg, raw = errors.get(key) or ("no answer: the request was not answered by any batch", None)
        call = CallResult(key=key, error=msg, error_body=raw)
        by_id[it.item_id] = rater._judgement(it, policy, [call], status="error", error=msg, raw_response=raw)
    return [by_id[it.item_id] for it in todo]
