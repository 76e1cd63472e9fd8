"""Run a rater over a golden set in the store: the cache, concurrency, progress, store writes and resume.

- Before the first request every planned cache key is looked up at once (`Store.cached_calls`), so a
  re-run of a finished run makes no request at all.
- Every call is logged in `llm_calls` (one small transaction, as `Store.record_call` does, on a connection
  held for the run) the moment it finishes: after a crash, even `kill -9`, a re-run reads those answers
  from the log instead of asking again.
- Judgements are written in batches (`write_batch`). Items that already have an `ok` judgement from this
  rater in this round are skipped; items whose judgement is an `error` are tried again (answers that
  arrived come from the cache, calls that failed are retried) and their judgement is replaced.
- Each item ends as exactly one judgement, `ok` or `error`: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from calibration.errors import StoreError
from calibration.models import Item, Judgement
from calibration.raters.base import Rater, RaterConfig, make_rater
from calibration.raters.llm import CallContext, LLMRater, RunStats
from calibration.schema import GoldenSetRow, ItemRow, RoundItemRow, RoundRow
from calibration.store import DEFAULT_ROUND, Store

FLUSH_SECONDS = 2.0


@dataclass
class RunSummary:
    """What a run did. `ok + errors == total`: every item in scope has one judgement."""

    rater_id: str
    golden_set: str
    round: str
    total: int = 0  # items in scope
    ok: int = 0
    errors: int = 0
    skipped: int = 0  # already judged `ok` by this rater in this round before the run
    cached: int = 0  # judged in this run from cached answers only (no request)
    requests: int = 0  # HTTP requests sent (retries and repairs included)
    cost: float = 0.0  # spent in this run; cached answers cost nothing now
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.rater_id} on {self.golden_set} (round {self.round}): {self.total} items, {self.ok} ok, "
            f"{self.errors} error, {self.skipped} already judged, {self.cached} from cache; "
            f"{self.requests} requests, cost {self.cost:.4f}, {self.seconds:.1f} s"
        )


def round_item_ids(store: Store, golden_set: str, round: str) -> tuple[list[str] | None, str | None]:
    """(item ids the round covers, its state), or (None, None) when the round does not exist yet."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(RoundRow.id, RoundRow.state)
            .join(GoldenSetRow, GoldenSetRow.id == RoundRow.golden_set_pk)
            .where(GoldenSetRow.name == golden_set, RoundRow.name == round)
        ).first()
        if row is None:
            return None, None
        ids = (
            conn.execute(
                select(ItemRow.item_id)
                .join(RoundItemRow, RoundItemRow.item_pk == ItemRow.id)
                .where(RoundItemRow.round_pk == row.id)
            )
            .scalars()
            .all()
        )
    return list(ids), row.state


def _progress(total: int, enabled: bool, label: str):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        TextColumn(
            "cost {task.fields[cost]:.4f}  errors {task.fields[errors]}  cached {task.fields[cached]}"
        ),
        disable=not enabled,
        transient=False,
    )
    task = progress.add_task(label, total=total, cost=0.0, errors=0, cached=0)
    return progress, task


def plan_items(
    store: Store, golden_set_name: str, round: str, limit: int | None
) -> tuple[Any, list[Item], str | None]:
    """(golden set, the items a run covers, round state): the round's sample if the round exists, the
    first `limit` of them if given. A closed round is refused before any work."""
    gs = store.golden_set(golden_set_name)
    in_round, state = round_item_ids(store, golden_set_name, round)
    if state == "closed":
        raise StoreError(
            f"round {round!r} of {golden_set_name!r} is closed; judgements cannot be added to it"
        )
    items = gs.items if in_round is None else [it for it in gs.items if it.item_id in set(in_round)]
    if limit is not None:
        items = items[: max(0, limit)]
    return gs, items, state


def items_to_judge(
    store: Store, golden_set_name: str, round: str, state: str | None, rater_id: str, items: list[Item]
) -> list[Item]:
    """The items without an `ok` judgement from this rater in this round (errors are tried again)."""
    existing = store.judgements(golden_set_name, round=round, raters=[rater_id]) if state else []
    done = {j.item_id for j in existing if j.status == "ok" and j.sample == 0}
    return [it for it in items if it.item_id not in done]


def run_rater(
    store: Store,
    golden_set_name: str,
    config: RaterConfig,
    *,
    round: str = DEFAULT_ROUND,
    progress: bool = True,
    limit: int | None = None,
    rater: Rater | None = None,
) -> RunSummary:
    """Judge the items of a stored golden set (those of the round's sample if the round exists; the
    first `limit` of them if given) with the rater `config` describes, and store the judgements."""
    t0 = time.perf_counter()
    gs, items, state = plan_items(store, golden_set_name, round, limit)
    rater = rater or make_rater(config)
    summary = RunSummary(rater_id=config.id, golden_set=golden_set_name, round=round, total=len(items))
    rater_configs = {config.id: _store_config(config, rater)}

    if not isinstance(rater, LLMRater):
        judgements = rater.rate(items, gs.policy)
        store.add_judgements(
            golden_set_name, judgements, round=round, rater_configs=rater_configs, replace=True
        )
        summary.notes.extend(getattr(rater, "notes", []))
        summary.ok = sum(j.status == "ok" for j in judgements)
        summary.errors = len(judgements) - summary.ok
        summary.seconds = time.perf_counter() - t0
        return summary

    rater.check_policy(gs.policy)
    todo = items_to_judge(store, golden_set_name, round, state, config.id, items)
    summary.skipped = len(items) - len(todo)
    keys = [k for it in todo for k in rater.planned_keys(it, gs.policy)]
    cache = store.cached_calls(keys) if keys else {}

    stats = RunStats()
    sent_before = rater.sent
    results = asyncio.run(
        _run_async(
            store, golden_set_name, round, rater, todo, gs.policy, cache, stats, rater_configs, progress
        )
    )
    summary.ok = summary.skipped + sum(j.status == "ok" for j in results)
    summary.errors = sum(j.status == "error" for j in results)
    summary.cached = stats.cached_judgements
    summary.requests = rater.sent - sent_before
    summary.cost = stats.cost
    summary.tokens_in, summary.tokens_out = stats.tokens_in, stats.tokens_out
    summary.seconds = time.perf_counter() - t0
    return summary


def _store_config(config: RaterConfig, rater: Rater) -> dict[str, Any]:
    cfg = config.store_config()
    template = getattr(rater, "template", None)
    if template is not None:
        cfg["template_hash"] = template.hash
        cfg["template_path"] = str(template.path)
        cfg["resolved_mode"] = getattr(rater, "mode", None)
    return cfg


async def _run_async(
    store: Store,
    golden_set: str,
    round: str,
    rater: LLMRater,
    items: Sequence[Item],
    policy: Any,
    cache: dict[str, dict[str, Any]],
    stats: RunStats,
    rater_configs: dict[str, dict],
    show_progress: bool,
) -> list[Judgement]:
    config = rater.config
    log = store.call_log()
    ctx = CallContext.for_config(
        config, cache=cache, lookup=store.cached_call, record=log.record, stats=stats
    )
    queue: asyncio.Queue[Item] = asyncio.Queue()
    for it in items:
        queue.put_nowait(it)
    results: list[Judgement] = []
    pending: list[Judgement] = []
    last_flush = [time.monotonic()]
    progress, task = _progress(len(items), show_progress and bool(items), f"{config.id}")

    def flush() -> None:
        if pending:
            store.add_judgements(
                golden_set, list(pending), round=round, rater_configs=rater_configs, replace=True
            )
            pending.clear()
        last_flush[0] = time.monotonic()

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            judgement, from_cache = await rater.rate_item(ctx, item, policy)
            if from_cache:
                stats.cached_judgements += 1
            if judgement.status != "ok":
                stats.errors += 1
            results.append(judgement)
            pending.append(judgement)
            if len(pending) >= config.write_batch or time.monotonic() - last_flush[0] > FLUSH_SECONDS:
                flush()
            progress.update(
                task, advance=1, cost=stats.cost, errors=stats.errors, cached=stats.cached_judgements
            )

    await rater._open()
    try:
        with progress:
            workers = [asyncio.create_task(worker()) for _ in range(min(config.concurrency, len(items)))]
            try:
                await asyncio.gather(*workers)
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                flush()  # also on Ctrl-C: what was judged is kept
    finally:
        await rater._close()
        log.close()
    return results
