"""The whole agreement report: every coefficient, analytic and bootstrap intervals, breakdowns.

`agreement_report` returns the dict that ``calibrate agreement --format json`` prints (the contract
in DESIGN.md and AGREEMENT.md)::

    {"n_items", "n_raters", "n_ratings",
     "metrics": {NAME: {"estimate", "se", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high", ...}},
     "per_category": [...], "per_rater": [...], "diagnostics": {...}, "warnings": [...], ...}

Every float is finite or None (never NaN) and rounded to 10 decimals, so the same input and seed
give the same JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.agreement import coefficients as coef
from calibration.agreement._data import Ratings, as_ratings, label_value, load_ratings
from calibration.agreement._results import Estimate, undefined
from calibration.agreement._threads import blas_single_thread
from calibration.agreement.bootstrap import CI_METHODS, Statistic, bootstrap
from calibration.agreement.breakdown import fleiss_category_kappa, rater_agreement, specific_agreement
from calibration.agreement.diagnostics import agreement_diagnostics, kappa_paradox
from calibration.agreement.krippendorff import LEVELS, check_level, krippendorff_alpha, krippendorff_statistic
from calibration.agreement.weights import WEIGHT_NAMES, UndefinedWeightsError
from calibration.errors import InputError

METRICS = (
    "percent_agreement",
    "cohen_kappa",
    "scott_pi",
    "conger_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac",
    "brennan_prediger",
)

_FUNCTIONS: dict[str, Callable[..., Estimate]] = {
    "percent_agreement": coef.percent_agreement,
    "cohen_kappa": coef.cohen_kappa,
    "scott_pi": coef.scott_pi,
    "conger_kappa": coef.conger_kappa,
    "fleiss_kappa": coef.fleiss_kappa,
    "gwet_ac": coef.gwet_ac,
    "brennan_prediger": coef.brennan_prediger,
}

_STATISTICS: dict[str, Callable[[Ratings, np.ndarray], Statistic]] = {
    "percent_agreement": coef.percent_agreement_statistic,
    "cohen_kappa": coef.cohen_statistic,
    "scott_pi": coef.scott_statistic,
    "conger_kappa": coef.conger_statistic,
    "fleiss_kappa": coef.fleiss_statistic,
    "gwet_ac": coef.gwet_statistic,
    "brennan_prediger": coef.brennan_prediger_statistic,
}

_DIGITS = 10


def check_options(level: str, weights: Any, ci_method: str, n_boot: int) -> None:
    """Validate the options that do not depend on the data (ValueError names the option)."""
    if level not in LEVELS:
        raise ValueError(f"level: unknown level {level!r} (expected one of {', '.join(LEVELS)})")
    if isinstance(weights, str) and weights not in WEIGHT_NAMES:
        raise ValueError(
            f"weights: unknown weight name {weights!r} (expected one of {', '.join(WEIGHT_NAMES)})"
        )
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method: unknown method {ci_method!r} (expected one of {', '.join(CI_METHODS)})")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot: expected a number of resamples >= 0, got {n_boot!r}")


def _level_error(data: Ratings, level: str) -> InputError:
    """InputError at the first rating whose label is not a number."""
    numeric = np.array([label_value(c) is not None for c in data.categories])
    bad = np.flatnonzero(~numeric[data.label])
    if len(bad):
        pos = int(bad[0])
        row = int(data.row[pos]) if data.row is not None else pos
        label = data.categories[data.label[pos]]
        return InputError.at(
            data.source or "ratings",
            row + 2,
            "label",
            f"{label!r} is not a number; --level {level} needs numeric labels",
        )
    label = next(c for c in data.categories if label_value(c) is None)
    return InputError.at(
        data.source or "ratings",
        0,
        "--categories",
        f"{label!r} is not a number; --level {level} needs numeric labels",
    )


def load(ratings: Any, *, categories: Sequence[Any] | None = None, field: str | None = None) -> Ratings:
    """Ratings from a path (InputError with file/line) or from Python data (ValueError)."""
    if isinstance(ratings, (str, Path)):
        return load_ratings(ratings, categories, field=field)
    if isinstance(ratings, Ratings):
        return ratings.with_categories(categories)
    if field is not None and isinstance(ratings, pd.DataFrame) and "field" in ratings.columns:
        ratings = ratings[ratings["field"] == field]
    return as_ratings(ratings, categories)


def _not_for_level(name: str, level: str) -> Estimate:
    return undefined(
        name,
        f"level {level!r} without weights: only Krippendorff's alpha has a {level} form; give weights "
        "(e.g. ordinal, linear or quadratic) to get the other coefficients weighted",
    )


def compute_metrics(
    data: Ratings, *, level: str, weights: Any
) -> tuple[dict[str, Estimate], np.ndarray | None]:
    """Point estimates and analytic SEs of every contract metric (AGREEMENT.md items 2-5)."""
    w = None
    if weights is not None:
        try:
            w, _ = coef.resolve_weights(data, weights)
        except UndefinedWeightsError as exc:
            label = weights if isinstance(weights, str) else "custom"
            return {name: undefined(name, str(exc), weights=label) for name in METRICS}, None
    metrics: dict[str, Estimate] = {}
    for name in METRICS:
        if name == "krippendorff_alpha":
            metrics[name] = krippendorff_alpha(data, weights=weights, level=level)
        elif w is None and level != "nominal":
            metrics[name] = _not_for_level(name, level)
        else:
            metrics[name] = _FUNCTIONS[name](data, weights=weights)
    return metrics, w


def _statistics(
    data: Ratings, metrics: dict[str, Estimate], level: str, w: np.ndarray | None
) -> dict[str, Statistic]:
    stats: dict[str, Statistic] = {}
    eye = np.eye(data.n_categories)
    for name, est in metrics.items():
        if est.estimate is None:
            continue
        if name == "krippendorff_alpha":
            stats[name] = krippendorff_statistic(data, level=level, w=w)
        else:
            stats[name] = _STATISTICS[name](data, w if w is not None else eye)
    return stats


def _clean(value: Any) -> Any:
    """JSON-safe: finite floats rounded, numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None
        x = round(x, _DIGITS)
        return 0.0 if x == 0 else x  # no "-0.0"
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _metric_dict(est: Estimate, boot: Any | None, n_boot: int, ci_method: str) -> dict[str, Any]:
    out = {
        "estimate": est.estimate,
        "se": est.se,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "ci_method": est.ci_method,
        "df": est.df,
        "boot_se": None,
        "boot_ci_low": None,
        "boot_ci_high": None,
        "boot_method": ci_method if n_boot else None,
        "n_boot": n_boot,
        "n_boot_valid": 0,
        "coefficient": est.coefficient,
        "weights": est.weights,
        "pa": est.pa,
        "pe": est.pe,
        "n_items_used": est.n_items,
    }
    if boot is not None:
        out.update(boot.to_dict())
    if est.reason:
        out["reason"] = est.reason
    if est.se_reason:
        out["se_reason"] = est.se_reason
    if est.notes:
        out["notes"] = list(est.notes)
    return out


@blas_single_thread
def agreement_report(
    ratings_df_or_path: Any,
    *,
    level: str = "nominal",
    weights: Any = None,
    categories: Sequence[Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci_method: str = "percentile",
    field: str | None = None,
) -> dict[str, Any]:
    """Every agreement coefficient with analytic and bootstrap 95% intervals, as a JSON-ready dict.

    Parameters
    ----------
    ratings_df_or_path : path, DataFrame, matrix or Ratings
        A long-format CSV (``item_id,rater_id,label``; every column read as text), a long frame, an
        items x raters matrix, or `Ratings`.
    level : {"nominal", "ordinal", "interval", "ratio"}
        Without `weights`: nominal gives every coefficient unweighted; the other levels give
        Krippendorff's alpha with his metric and report the rest as undefined (AGREEMENT.md item 3).
    weights : str or q x q matrix, optional
        One of `WEIGHT_NAMES`; overrides `level` and applies to every coefficient (item 2).
    categories : sequence, optional
        The scale in order (item 1); default the observed labels sorted.
    n_boot, seed, ci_method : bootstrap over items (0 resamples turns it off); percentile or bca.
    field : str, optional
        Use only rows whose ``field`` column equals this (the shared data sets' main label is ``""``).

    Raises
    ------
    InputError
        Bad file (names the file, and line / column where relevant).
    ValueError
        A bad option or bad Python data (names the argument).
    """
    check_options(level, weights, ci_method, n_boot)
    data = load(ratings_df_or_path, categories=categories, field=field)
    try:
        check_level(level, data)
    except ValueError:
        if data.source is None:
            raise
        raise _level_error(data, level) from None
    metrics, w = compute_metrics(data, level=level, weights=weights)
    boots: dict[str, Any] = {}
    if n_boot > 0:
        stats = _statistics(data, metrics, level, w)
        if stats:
            boots = bootstrap(
                stats,
                data.n_items,
                n_boot=n_boot,
                seed=seed,
                method=ci_method,
                estimates={k: metrics[k].estimate for k in stats},
            )
    report_metrics = {
        name: _metric_dict(est, boots.get(name), n_boot, ci_method) for name, est in metrics.items()
    }
    diagnostics = agreement_diagnostics(data)
    warnings = []
    kappa_name = "cohen_kappa" if data.n_raters == 2 else "fleiss_kappa"
    paradox = kappa_paradox(metrics["percent_agreement"].estimate, metrics[kappa_name].estimate)
    diagnostics["kappa_paradox"] = paradox is not None
    if paradox:
        warnings.append(paradox)
    if diagnostics["n_items_single"]:
        warnings.append(
            f"{diagnostics['n_items_single']} item(s) have a single rating: they count in the chance terms "
            "of percent agreement, Fleiss, Gwet and Brennan-Prediger (Gwet's raw-data convention) and are "
            "dropped by Krippendorff's alpha"
        )
    out = {
        "n_items": data.n_items,
        "n_raters": data.n_raters,
        "n_ratings": data.n_ratings,
        "categories": [str(c) for c in data.categories],
        "level": level,
        "weights": weights if isinstance(weights, str) or weights is None else "custom",
        "bootstrap": {"n_boot": n_boot, "seed": seed, "ci_method": ci_method, "unit": "item"},
        "metrics": report_metrics,
        "per_category": _per_category(data, diagnostics),
        "per_rater": rater_agreement(data, weights=w, level=level),
        "diagnostics": diagnostics,
        "warnings": warnings,
    }
    return _clean(out)


def _short(est: Estimate) -> dict[str, Any]:
    out = {"estimate": est.estimate, "se": est.se, "ci_low": est.ci_low, "ci_high": est.ci_high}
    if est.reason:
        out["reason"] = est.reason
    return out


def _per_category(data: Ratings, diagnostics: dict[str, Any]) -> list[dict[str, Any]]:
    kappas = fleiss_category_kappa(data)
    specific = specific_agreement(data)
    rows = []
    for c in data.categories:
        rows.append(
            {
                "category": str(c),
                "prevalence": diagnostics["prevalence"][str(c)],
                "prevalence_index": diagnostics["prevalence_index"][str(c)],
                "fleiss_kappa": _short(kappas[c]),
                "specific_positive_agreement": _short(specific[c]["positive"]),
                "specific_negative_agreement": _short(specific[c]["negative"]),
            }
        )
    return rows
