"""Coverage of the 95% intervals for Krippendorff's alpha and Gwet's AC1 on a known model.

Run: python bench/agreement_coverage.py [--reps 4000] [--boot-reps 4000] [--scenario all]

Generative model (exchangeable raters, so the population coefficients are well defined):
each item has a true category T ~ pi; each of r raters reports T with probability theta and
otherwise a category drawn uniformly from the q categories; each rating is then missing with
probability `missing` (completely at random). With P(k | T) = theta [T = k] + (1 - theta) / q:

    p_k   = theta pi_k + (1 - theta) / q                        (marginal of one rating)
    P_a   = sum_k E[P(k | T)^2]                                 (two raters agree on an item)
    alpha = (P_a - sum_k p_k^2) / (1 - sum_k p_k^2)             (nominal, infinitely many items)
    AC1   = (P_a - P_e) / (1 - P_e),  P_e = sum_k p_k (1 - p_k) / (q - 1)

Two scenarios: "moderate" (q = 3, pi = .5/.3/.2, theta = .6, 4 raters, 200 items, 15% missing) and
"skewed-high" (pi = .85/.10/.05, theta = .8, 3 raters, 150 items, complete): high agreement on a
dominant category, the kappa-paradox regime.

For each replication we draw n items, compute the analytic interval (estimate +- t(n-1) SE, Gwet's
variances) and, on a subset of replications, the bootstrap intervals (percentile and BCa), and
count how often they contain the population value. Target: 93-97%.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import calibration.agreement as A
from calibration.agreement.bootstrap import bootstrap
from calibration.agreement.coefficients import gwet_statistic


def population_values(pi: np.ndarray, theta: float) -> tuple[float, float]:
    q = len(pi)
    p = theta * pi + (1 - theta) / q
    hit, miss = theta + (1 - theta) / q, (1 - theta) / q
    pa = float(np.sum(pi * hit**2 + (1 - pi) * miss**2))
    se = float(np.sum(p**2))
    alpha = (pa - se) / (1 - se)
    pe_ac1 = float(np.sum(p * (1 - p)) / (q - 1))
    ac1 = (pa - pe_ac1) / (1 - pe_ac1)
    return alpha, ac1


def draw(
    rng: np.random.Generator, n: int, r: int, pi: np.ndarray, theta: float, missing: float
) -> np.ndarray:
    q = len(pi)
    truth = rng.choice(q, size=n, p=pi)
    m = np.where(rng.random((n, r)) < theta, truth[:, None], rng.integers(q, size=(n, r))).astype(float)
    m[rng.random((n, r)) < missing] = np.nan
    # every rater column keeps at least one rating (the matrix input requires it)
    for g in np.flatnonzero(np.isnan(m).all(axis=0)):
        m[0, g] = truth[0]
    return m


def share(hits: list[bool]) -> str:
    k, n = sum(hits), len(hits)
    p = k / n
    return f"{100 * p:.1f}% (+- {100 * 1.96 * math.sqrt(p * (1 - p) / n):.1f}, {n} replications)"


SCENARIOS = {
    # name: (pi, theta, raters, items, missing)
    "moderate": ([0.5, 0.3, 0.2], 0.6, 4, 200, 0.15),
    "skewed-high": ([0.85, 0.1, 0.05], 0.8, 3, 150, 0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="coverage of alpha and AC1 intervals")
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--boot-reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    args = parser.parse_args()
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in names:
        run(name, *SCENARIOS[name], reps=args.reps, boot_reps=args.boot_reps, seed=args.seed)


def run(
    name: str,
    pi_list: list[float],
    theta: float,
    raters: int,
    items: int,
    missing: float,
    *,
    reps: int,
    boot_reps: int,
    seed: int,
) -> None:
    pi = np.array(pi_list)
    cats = [float(k) for k in range(len(pi))]
    alpha_true, ac1_true = population_values(pi, theta)
    print(
        f"[{name}] q={len(pi)}, pi={pi.tolist()}, theta={theta}, r={raters}, n={items} items, "
        f"{missing:.0%} missing; population alpha={alpha_true:.4f}, AC1={ac1_true:.4f}"
    )
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    cover: dict[str, list[bool]] = {
        k: [] for k in ("alpha_t", "ac1_t", "alpha_pct", "ac1_pct", "alpha_bca", "ac1_bca")
    }
    estimates: dict[str, list[float]] = {"alpha": [], "ac1": []}
    for rep in range(reps):
        m = draw(rng, items, raters, pi, theta, missing)
        data = A.as_ratings(m, categories=cats)
        alpha = A.krippendorff_alpha(data)
        ac1 = A.gwet_ac(data)
        estimates["alpha"].append(alpha.estimate)
        estimates["ac1"].append(ac1.estimate)
        cover["alpha_t"].append(alpha.ci_low <= alpha_true <= alpha.ci_high)
        cover["ac1_t"].append(ac1.ci_low <= ac1_true <= ac1.ci_high)
        if rep < boot_reps:
            stats = {"alpha": A.krippendorff_statistic(data), "ac1": gwet_statistic(data, np.eye(len(pi)))}
            for method, key in (("percentile", "pct"), ("bca", "bca")):
                res = bootstrap(stats, data.n_items, n_boot=1000, seed=rep, method=method)
                cover[f"alpha_{key}"].append(res["alpha"].ci_low <= alpha_true <= res["alpha"].ci_high)
                cover[f"ac1_{key}"].append(res["ac1"].ci_low <= ac1_true <= res["ac1"].ci_high)
    elapsed = time.perf_counter() - start
    print(
        f"mean estimate: alpha {np.mean(estimates['alpha']):.4f}, AC1 {np.mean(estimates['ac1']):.4f}; "
        f"empirical SD: alpha {np.std(estimates['alpha'], ddof=1):.4f}, AC1 {np.std(estimates['ac1'], ddof=1):.4f}"
    )
    print(f"coverage of 95% analytic intervals (t(n-1), Gwet's variance): alpha {share(cover['alpha_t'])}")
    print(f"                                                                AC1   {share(cover['ac1_t'])}")
    print(
        f"coverage of 95% bootstrap percentile intervals (1,000 resamples): alpha {share(cover['alpha_pct'])}"
    )
    print(
        f"                                                                  AC1   {share(cover['ac1_pct'])}"
    )
    print(
        f"coverage of 95% bootstrap BCa intervals (1,000 resamples):        alpha {share(cover['alpha_bca'])}"
    )
    print(
        f"                                                                  AC1   {share(cover['ac1_bca'])}"
    )
    print(f"target 93-97%; {elapsed:.1f} s")


if __name__ == "__main__":
    main()
