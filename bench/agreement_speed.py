"""Speed of calibration.agreement against the peer packages, in the same process.

Run: python bench/agreement_speed.py [--quick]

Prints wall-clock medians and ratios (peer time / our time; > 1 means we are faster):

1. Krippendorff's alpha, nominal, 100,000 items x 10 raters, 20% missing, vs ``krippendorff.alpha``
   on the same matrix (targets: at least as fast).
2. Gwet's AC1 with its standard error, 100,000 items x 5 raters, vs ``irrCAC.raw.CAC(...).gwet()``
   (at least as fast).
3. A 1,000-resample bootstrap interval for alpha on 10,000 items x 5 raters, vs looping
   ``krippendorff.alpha`` over resamples (at least 10x faster, under 0.5 s).
4. The whole ``calibrate agreement`` CLI on a 1,000,000-row CSV (100,000 items x 10 raters), every
   coefficient, analytic SEs and a 1,000-resample bootstrap (under 10 s).

Timings are not asserted anywhere in the test suite; this script only prints them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import calibration.agreement as A


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def ratings_matrix(n: int, r: int, q: int, missing: float, seed: int) -> np.ndarray:
    """items x raters, values 0..q-1 as float, NaN = missing; raters agree with a latent truth 70%."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(q, size=n)
    m = np.where(rng.random((n, r)) < 0.7, truth[:, None], rng.integers(q, size=(n, r))).astype(float)
    m[rng.random((n, r)) < missing] = np.nan
    return m


def line(label: str, ours: float, theirs: float, target: str) -> None:
    print(f"{label}: ours {ours:.4f} s, peer {theirs:.4f} s, ratio {theirs / ours:.1f}x  ({target})")


def bench_alpha(repeat: int) -> None:
    import krippendorff

    m = ratings_matrix(100_000, 10, 4, 0.2, seed=1)
    reliability = np.ascontiguousarray(m.T)  # the package wants raters x items
    theirs_t, theirs = timed(lambda: krippendorff.alpha(reliability, level_of_measurement="nominal"), repeat)
    ours_t, ours = timed(lambda: A.krippendorff_alpha(m, level="nominal"), repeat)
    assert abs(ours.estimate - theirs) < 1e-9, (ours.estimate, theirs)
    line("alpha nominal 100,000 x 10, 20% missing (with its analytic SE)", ours_t, theirs_t, "target >= 1x")


def bench_ac1(repeat: int) -> None:
    from irrCAC.raw import CAC

    m = ratings_matrix(100_000, 5, 4, 0.0, seed=2)
    frame = pd.DataFrame(m)
    cats = [0.0, 1.0, 2.0, 3.0]
    theirs_t, theirs = timed(lambda: CAC(frame, categories=cats, digits=15).gwet(), repeat)
    ours_t, ours = timed(lambda: A.gwet_ac(m, categories=cats), repeat)
    assert abs(ours.estimate - theirs["est"]["coefficient_value"]) < 1e-9
    assert abs(ours.se - theirs["est"]["se"]) < 1e-9
    line("AC1 + SE 100,000 x 5", ours_t, theirs_t, "target >= 1x")


def bench_bootstrap(n_loop: int) -> None:
    import krippendorff

    m = ratings_matrix(10_000, 5, 4, 0.2, seed=3)
    n_boot = 1000

    def ours() -> A.BootstrapResult:
        data = A.as_ratings(m)
        return A.bootstrap_ci(A.krippendorff_statistic(data), data.n_items, n_boot=n_boot, seed=0)

    ours_t, res = timed(ours, 3)
    rng = np.random.default_rng(0)
    reliability = m.T

    def loop() -> list[float]:
        out = []
        for _ in range(n_loop):
            pick = rng.integers(0, m.shape[0], m.shape[0])
            out.append(krippendorff.alpha(reliability[:, pick], level_of_measurement="nominal"))
        return out

    start = time.perf_counter()
    loop()
    per_resample = (time.perf_counter() - start) / n_loop
    theirs_t = per_resample * n_boot
    print(
        f"bootstrap 1,000 resamples, alpha 10,000 x 5: ours {ours_t:.4f} s "
        f"(CI [{res.ci_low:.4f}, {res.ci_high:.4f}]), looping krippendorff.alpha {theirs_t:.2f} s "
        f"(timed {n_loop} resamples, x{n_boot // n_loop}), ratio {theirs_t / ours_t:.0f}x  "
        "(target >= 10x and < 0.5 s)"
    )


def bench_cli(n_items: int, raters: int) -> None:
    rng = np.random.default_rng(4)
    labels = np.array(["allow", "restrict", "remove", "escalate"])
    truth = rng.integers(4, size=n_items)
    lab = np.where(
        rng.random((n_items, raters)) < 0.7, truth[:, None], rng.integers(4, size=(n_items, raters))
    )
    frame = pd.DataFrame(
        {
            "item_id": np.repeat(np.char.add("item-", np.arange(n_items).astype(str)), raters),
            "rater_id": np.tile(np.char.add("mod-", np.arange(raters).astype(str)), n_items),
            "label": labels[lab.ravel()],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.csv"
        frame.to_csv(path, index=False)
        exe = shutil.which("calibrate")
        cmd = [exe] if exe else [sys.executable, "-c", "from calibration.cli import app; app()"]
        args = [*cmd, "agreement", str(path), "--format", "json", "--bootstrap", "1000"]
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            print("CLI failed:", done.stderr.strip())
            return
        start = time.perf_counter()
        A.agreement_report(path, n_boot=1000)
        in_process = time.perf_counter() - start
    print(
        f"calibrate agreement, {len(frame):,}-row CSV ({n_items:,} items x {raters} raters), all metrics, "
        f"SEs, 1,000 bootstrap resamples: {elapsed:.2f} s wall incl. interpreter start "
        f"({in_process:.2f} s in-process)  (target < 10 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    print(f"numpy {np.__version__}, pandas {pd.__version__}, Python {sys.version.split()[0]}")
    bench_alpha(repeat)
    bench_ac1(repeat)
    bench_bootstrap(20 if args.quick else 50)
    bench_cli(100_000, 10)


if __name__ == "__main__":
    main()
