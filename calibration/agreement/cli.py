"""``calibrate agreement``: the agreement report for a long-format ratings CSV.

`agreement_command` is a plain Typer-annotated function; the main CLI registers it with
``app.command("agreement")(agreement_command)``. Bad input prints one line to stderr (file, and
line / column where relevant) and exits with code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from calibration.agreement.bootstrap import CI_METHODS
from calibration.agreement.krippendorff import LEVELS
from calibration.agreement.report import METRICS, agreement_report
from calibration.agreement.weights import WEIGHT_NAMES
from calibration.errors import InputError

FORMATS = ("table", "json")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _parse_categories(text: str | None, path: str) -> list[str] | None:
    if text is None:
        return None
    cats = text.split(",")
    if any(c == "" for c in cats):
        _fail(f"{path}: --categories: empty category in {text!r} (give c1,c2,... without empty entries)")
    return cats


def agreement_command(
    ratings: Annotated[
        Path,
        typer.Argument(
            help="Long-format ratings CSV (header item_id,rater_id,label; extra columns ignored; "
            "a missing rating is an absent row; .gz accepted).",
            show_default=False,
        ),
    ],
    format: Annotated[str, typer.Option("--format", help="Output: table (readable) or json.")] = "table",
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="nominal | ordinal | interval | ratio. Without --weights, non-nominal levels apply to "
            "Krippendorff's alpha only.",
        ),
    ] = "nominal",
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="identity | linear | quadratic | ordinal | radical | ratio | circular | bipolar "
            "(Gwet 2014 ch. 3); applies to every coefficient and overrides --level.",
            show_default=False,
        ),
    ] = None,
    categories: Annotated[
        str | None,
        typer.Option(
            "--categories",
            help="The scale in order, comma-separated (labels exactly as written). Default: the observed "
            "labels, sorted.",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Bootstrap resamples over items (0 = off).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    ci_method: Annotated[
        str, typer.Option("--ci-method", help="Bootstrap interval: percentile or bca.")
    ] = "percentile",
    field: Annotated[
        str | None,
        typer.Option(
            "--field",
            help="Only rows whose 'field' column equals this (the shared data sets keep the main label in "
            "rows with an empty field: --field '').",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Agreement statistics with confidence intervals: percent agreement, Cohen, Scott, Conger, Fleiss,
    Krippendorff's alpha, Gwet's AC1/AC2 and Brennan-Prediger."""
    path = str(ratings)
    if format not in FORMATS:
        _fail(f"{path}: --format: unknown format {format!r} (expected one of {', '.join(FORMATS)})")
    if level not in LEVELS:
        _fail(f"{path}: --level: unknown level {level!r} (expected one of {', '.join(LEVELS)})")
    if weights is not None and weights not in WEIGHT_NAMES:
        _fail(
            f"{path}: --weights: unknown weight name {weights!r} (expected one of {', '.join(WEIGHT_NAMES)})"
        )
    if ci_method not in CI_METHODS:
        _fail(f"{path}: --ci-method: unknown method {ci_method!r} (expected one of {', '.join(CI_METHODS)})")
    if bootstrap < 0:
        _fail(f"{path}: --bootstrap: expected a number of resamples >= 0, got {bootstrap}")
    cats = _parse_categories(categories, path)
    try:
        report = agreement_report(
            ratings,
            level=level,
            weights=weights,
            categories=cats,
            n_boot=bootstrap,
            seed=seed,
            ci_method=ci_method,
            field=field,
        )
    except InputError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"{path}: {exc}")
    if format == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    else:
        print_table(report, path)


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}"


def _ci(lo: Any, hi: Any) -> str:
    return "—" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]"


def print_table(report: dict[str, Any], path: str) -> None:
    """The readable report (Rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cats = ", ".join(report["categories"])
    console.print(
        f"[bold]{path}[/bold]: {report['n_items']} items, {report['n_raters']} raters, "
        f"{report['n_ratings']} ratings; scale: {cats}; level {report['level']}, "
        f"weights {report['weights'] or 'none'}"
    )
    boot = report["bootstrap"]
    table = Table(show_lines=False)
    table.add_column("metric")
    table.add_column("estimate", justify="right")
    table.add_column("SE", justify="right")
    table.add_column("95% CI analytic", justify="right")
    table.add_column(f"95% CI bootstrap ({boot['ci_method']})", justify="right")
    footnotes: list[str] = []
    for name in METRICS:
        m = report["metrics"][name]
        label = m.get("coefficient")
        shown = f"{name} ({label})" if label and name != "krippendorff_alpha" else name
        if name == "krippendorff_alpha" and label:
            shown = f"{name} ({label})"
        note = m.get("reason") or m.get("se_reason") or m.get("boot_reason")
        if note:
            footnotes.append(f"{name}: {note}")
            shown += f" [{len(footnotes)}]"
        table.add_row(
            shown,
            _fmt(m["estimate"]),
            _fmt(m["se"]),
            _ci(m["ci_low"], m["ci_high"]),
            _ci(m["boot_ci_low"], m["boot_ci_high"]),
        )
    console.print(table)
    for k, note in enumerate(footnotes, 1):
        console.print(f"[{k}] {note}", markup=False)
    cat_table = Table(title="per category")
    for col in ("category", "prevalence", "Fleiss kappa", "specific +", "specific −"):
        cat_table.add_column(col, justify="right" if col != "category" else "left")
    for row in report["per_category"]:
        cat_table.add_row(
            row["category"],
            _fmt(row["prevalence"]),
            _fmt(row["fleiss_kappa"]["estimate"]),
            _fmt(row["specific_positive_agreement"]["estimate"]),
            _fmt(row["specific_negative_agreement"]["estimate"]),
        )
    console.print(cat_table)
    raters = [r for r in report["per_rater"] if r["agreement"] is not None]
    if raters:
        raters.sort(key=lambda r: r["agreement"])
        low = raters[: min(5, len(raters))]

        def _one(r: dict[str, Any]) -> str:
            without = r.get("alpha_without")
            extra = f", alpha without them {without:.3f}" if without is not None else ""
            return f"{r['rater_id']} {r['agreement']:.3f} ({r['n_pairs']} pairs{extra})"

        console.print("lowest agreement with the other raters: " + "; ".join(_one(r) for r in low))
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(
        "analytic intervals: estimate +- t(n-1) SE (Gwet's variances; Cohen: Fleiss-Cohen-Everitt); "
        f"bootstrap: {boot['n_boot']} resamples of items, seed {boot['seed']}"
    )
