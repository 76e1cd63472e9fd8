"""Crash safety: `kill -9` in the middle of a 500-item run, then the same command again. Every item ends
with exactly one judgement, and no prompt is answered twice (the fake server's log proves it)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from calibration.store import Store
from tests.fakeserver import FakeServer
from tests.raters_fixtures import POLICY, make_items

N_ITEMS = 500


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _count(db, table: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


def _classify(db, cfg) -> list[str]:
    return [sys.executable, "-c", "from calibration.cli import app; app()", "classify", "toy", "--rater", str(cfg),
            "--db", str(db), "--round", "r1", "--no-progress"]  # fmt: skip


def test_kill_9_midway_then_rerun_judges_every_item_once_and_repeats_no_request(tmp_path):
    db = tmp_path / "resume.db"
    with Store(db) as store:
        store.import_golden_set("toy", POLICY, make_items(N_ITEMS))
    with FakeServer(latency=0.03) as server:
        cfg = tmp_path / "rater.yaml"
        cfg.write_text(
            f"kind: openai\nid: resumable\nmodel: fake\nbase_url: {server.base_url}\nresponse_format: json_schema\n"
            "concurrency: 8\nwrite_batch: 50\ntimeout: 30\n"
        )
        proc = subprocess.Popen(
            _classify(db, cfg), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            _wait(
                lambda: len(server.answered()) > 100 or proc.poll() is not None, 120, "100 answered requests"
            )
            assert proc.poll() is None, proc.stdout.read()
            # Freeze the server (requests in flight stay unanswered), let the client log what it received,
            # then kill it: the crash lands with requests in flight and judgements not yet written.
            server.hold()
            _wait(
                lambda: _count(db, "llm_calls") == len(server.answered()), 30, "the client to log its answers"
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        server.drop_held()
        server.settle()
        first = server.answered()
        judged_before = _count(db, "judgements")
        assert 100 < len(first) < N_ITEMS
        assert judged_before < len(first)  # some answers were logged but their judgements not yet written
        in_flight = [e for e in server.chat_requests() if e["outcome"] == "dropped"]
        assert in_flight  # the kill happened with requests on the wire

        done = subprocess.run(_classify(db, cfg), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        server.settle()

    with Store(db) as store:
        js = store.judgements("toy", round="r1")
    per_item = Counter(j.item_id for j in js)
    assert len(per_item) == N_ITEMS and set(per_item.values()) == {1}
    assert all(j.status == "ok" for j in js)
    answered = Counter(e["prompt_key"] for e in server.answered())
    assert len(answered) == N_ITEMS and max(answered.values()) == 1  # no prompt answered twice
    second = len(server.answered()) - len(first)
    assert second == N_ITEMS - len(first)
    assert f"{second} requests" in done.stdout and f"{N_ITEMS} ok" in done.stdout
    assert _count(db, "llm_calls") == N_ITEMS


def test_ctrl_c_keeps_what_was_judged_and_exits_130(tmp_path):
    db = tmp_path / "int.db"
    with Store(db) as store:
        store.import_golden_set("toy", POLICY, make_items(200))
    with FakeServer(latency=0.05) as server:
        cfg = tmp_path / "rater.yaml"
        cfg.write_text(
            f"kind: openai\nid: interruptible\nmodel: fake\nbase_url: {server.base_url}\n"
            "response_format: json_schema\nconcurrency: 4\nwrite_batch: 1000\n"
        )
        proc = subprocess.Popen(
            _classify(db, cfg), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        _wait(lambda: len(server.answered()) > 40 or proc.poll() is not None, 120, "40 answered requests")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out
        assert "interrupted" in out and "run again to resume" in out
        server.settle()
    # write_batch is larger than the run: everything judged was written on the way out
    judged = _count(db, "judgements")
    logged_items = sqlite3.connect(db).execute("select count(distinct item_id) from llm_calls").fetchone()[0]
    assert 40 < judged < 200 and judged == logged_items
