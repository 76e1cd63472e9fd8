"""How fast the LLM rater pipeline is, apart from the model: prints figures, asserts nothing.

1. 1,000 items against the fake OpenAI-compatible server (a separate process) answering every request
   after 200 ms, at concurrency 32. The ideal is 1000 / 32 x 0.2 s = 6.25 s; the target is within 1.25x.
2. The same items again in a new round: every answer from the store's cache (target: under 3 s, 0 requests),
   and once more in the same round (everything already judged: skipped).
3. The local model (SmolLM2-135M via llama.cpp) on a few dozen marketplace items: items per second
   (skipped when the `local` extra is not installed).

    python bench/raters_speed.py [--items 1000] [--concurrency 32] [--latency 0.2] [--local-items 24]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _start_fake_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def _stats(root: str) -> dict:
    with urllib.request.urlopen(f"{root}/_admin/stats", timeout=10) as r:
        return json.load(r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--local-items", type=int, default=24)
    args = ap.parse_args()

    t_import = time.perf_counter()
    import calibration.raters.openai_rater  # noqa: F401 - the SDK import is start-up, not per-item work
    from calibration.golden import load_golden_set
    from calibration.models import Item
    from calibration.raters import RaterConfig, run_rater
    from calibration.store import Store

    t_import = time.perf_counter() - t_import

    policy = load_golden_set(ROOT / "golden_sets" / "marketplace").policy  # a real, long policy prompt
    items = [Item(item_id=f"b{i:05d}", text=f"Listing {i}: used item for sale, pick up only, {i % 97} EUR.")
             for i in range(args.items)]  # fmt: skip
    n, c, lat = args.items, args.concurrency, args.latency
    ideal = n / c * lat

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        store.import_golden_set("bench", policy, items)
        proc, root = _start_fake_server(lat)
        try:
            cfg = RaterConfig(kind="openai", id="bench-llm", model="fake", base_url=f"{root}/v1",
                              response_format="json_schema", concurrency=c, timeout=30, write_batch=100,
                              prices={"input_per_mtok": 0.15, "output_per_mtok": 0.6})  # fmt: skip
            s1 = run_rater(store, "bench", cfg, round="r1", progress=False)
            req1 = _stats(root)["requests"]
            s2 = run_rater(store, "bench", cfg, round="r2", progress=False)
            req2 = _stats(root)["requests"] - req1
            s3 = run_rater(store, "bench", cfg, round="r1", progress=False)
            req3 = _stats(root)["requests"] - req1 - req2
        finally:
            proc.terminate()
            proc.wait(10)
        store.close()

    overhead_ms = (s1.seconds - ideal) / n * 1000
    print(
        f"fake server: {n} items, latency {lat * 1000:.0f} ms, concurrency {c} "
        f"(importing the raters and the openai SDK took {t_import:.2f} s before the timer)"
    )
    print(
        f"  first run      {s1.seconds:6.2f} s   ideal {ideal:.2f} s   ratio {s1.seconds / ideal:.3f} (target <= 1.25)"
        f"   {req1} requests, {s1.ok} ok, {s1.errors} errors, cost {s1.cost:.4f}"
    )
    print(
        f"  per-item overhead: {overhead_ms:.2f} ms of wall time per item beyond the ideal "
        f"(rendering, cache keys, SDK, HTTP, call log, judgement writes)"
    )
    print(
        f"  cached re-run  {s2.seconds:6.2f} s   (new round, all answers from the cache; target < 3 s)"
        f"   {req2} requests, {s2.cached} from cache, {s2.seconds / n * 1000:.2f} ms per item"
    )
    print(
        f"  resume re-run  {s3.seconds:6.2f} s   (same round, all already judged)   {req3} requests, "
        f"{s3.skipped} skipped"
    )

    if args.local_items <= 0:
        return
    from calibration.raters.local import local_extra_installed, local_llm_server, local_rater_config

    if not local_extra_installed():
        print("local model: skipped (pip install -e '.[local]')")
        return
    market = load_golden_set(ROOT / "golden_sets" / "marketplace")
    with tempfile.TemporaryDirectory() as tmp, local_llm_server() as url:
        store = Store(Path(tmp) / "local.db")
        store.import_golden_set(market.name, market.policy, market.items)
        cfg = local_rater_config(url, max_tokens=120)
        t0 = time.perf_counter()
        s = run_rater(store, market.name, cfg, round="local", progress=False, limit=args.local_items)
        wall = time.perf_counter() - t0
        store.close()
    print(
        f"local model (SmolLM2-135M-Instruct Q4_1, llama.cpp, {cfg.concurrency} concurrent, classify_json.j2, "
        f"max_tokens {cfg.max_tokens}):"
    )
    print(
        f"  {s.total} marketplace items in {wall:.1f} s = {s.total / wall:.2f} items/s   {s.ok} ok, {s.errors} errors, "
        f"{s.tokens_in} tokens in, {s.tokens_out} out ({s.tokens_out / wall:.1f} generated tokens/s)"
    )


if __name__ == "__main__":
    main()
