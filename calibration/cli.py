"""The `calibrate` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 runtime failure, 2 bad input (the message names file:line and field).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from calibration.errors import InputError, StoreError

app = typer.Typer(
    name="calibrate",
    help="Moderation calibration: golden sets, human and AI raters, agreement reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Import golden sets and ratings into the store.", no_args_is_help=True)
app.add_typer(import_app, name="import")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store: a SQLite file path or a SQLAlchemy URL (default $CALIBRATE_DB or ./calibrate.db)"),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def fail_input(e: InputError, limit: int = 20) -> NoReturn:
    errors = e.errors or e.issues
    for issue in errors[:limit]:
        err_console.print(f"error: {issue}", markup=False)
    if len(errors) > limit:
        err_console.print(f"... and {len(errors) - limit} more errors", markup=False)
    raise typer.Exit(2)


def _open_store(db: str | None):
    from calibration.store import Store

    try:
        return Store(db)
    except Exception as e:  # connection refused, bad URL, missing driver: one line, not a traceback
        fail(f"cannot open the store {db or '(default)'}: {type(e).__name__}: {str(e).splitlines()[0]}", code=1)


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="A golden-set folder, policy.yaml, items file or ratings file")],
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: policy.yaml beside PATH)")] = None,
    ratings: Annotated[Path | None, typer.Option(help="Ratings file to check as well")] = None,
    min_gold_per_area: Annotated[int, typer.Option(help="Warn when an area has fewer gold items")] = 5,
) -> None:
    """Check a golden set, policy or ratings file. Writes nothing; exit code 2 on errors."""
    from calibration.validate import validate_path

    report = validate_path(path, policy=policy, ratings=ratings, min_gold_per_area=min_gold_per_area)
    for w in report.warnings:
        err_console.print(f"warning: {w}", markup=False)
    if not report.ok:
        fail_input(InputError(report.errors))
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    console.print(f"[green]ok[/] {path}: {counts}; {len(report.warnings)} warning(s)")


@import_app.command("golden")
def import_golden(
    path: Annotated[Path, typer.Argument(help="Golden-set folder (policy.yaml + items) or an items file")],
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: policy.yaml beside PATH)")] = None,
    name: Annotated[str | None, typer.Option(help="Name in the store (default: the folder name)")] = None,
    with_ratings: Annotated[bool, typer.Option(help="Also import ratings.csv from the folder")] = True,
    round: Annotated[str, typer.Option("--round", help="Round for the ratings")] = "default",
    replace: Annotated[bool, typer.Option(help="Replace a stored set of that name with other content")] = False,
    db: DbOption = None,
) -> None:
    """Import a golden set (and its ratings.csv) into the store, all or nothing."""
    from calibration.golden import load_golden_set
    from calibration.importers import read_ratings

    try:
        gs = load_golden_set(path, policy=policy, name=name)
        judgements = []
        ratings_path = path / "ratings.csv" if path.is_dir() else None
        if with_ratings and ratings_path is not None and ratings_path.exists():
            judgements = read_ratings(ratings_path, gs.policy, gs.item_ids())
    except InputError as e:
        fail_input(e)
    with _open_store(db) as store:
        try:
            s = store.import_golden_set(gs.name, gs.policy, gs.items, source=str(path), judgements=judgements,
                                        round=round, replace=replace)  # fmt: skip
        except StoreError as e:
            fail(str(e))
        what = "unchanged" if s.unchanged and not s.judgements_added else f"{s.items_added} items added"
        console.print(
            f"golden set [bold]{gs.name}[/]: {what}; {s.judgements_added} judgements added "
            f"({s.judgements_unchanged} already there) in {store.display_url}"
        )


@import_app.command("ratings")
def import_ratings(
    path: Annotated[Path, typer.Argument(help="Ratings file (.csv, .jsonl, .parquet), long or wide")],
    golden_set: Annotated[str, typer.Option("--golden-set", "-g", help="Name of the golden set in the store")],
    round: Annotated[str, typer.Option("--round", help="Round name")] = "default",
    layout: Annotated[str | None, typer.Option(help="long or wide (default: detect from the header)")] = None,
    rater_kind: Annotated[str, typer.Option(help="human, llm or model")] = "human",
    replace: Annotated[bool, typer.Option(help="Overwrite differing judgements")] = False,
    db: DbOption = None,
) -> None:
    """Import ratings into a round of a stored golden set, all or nothing."""
    from calibration.importers import read_ratings

    if layout not in (None, "long", "wide"):
        fail(f"--layout must be long or wide, not {layout!r}")
    if rater_kind not in ("human", "llm", "model"):
        fail(f"--rater-kind must be human, llm or model, not {rater_kind!r}")
    with _open_store(db) as store:
        try:
            gs = store.golden_set(golden_set)
            judgements = read_ratings(path, gs.policy, gs.item_ids(), layout=layout, rater_kind=rater_kind)
            s = store.add_judgements(golden_set, judgements, round=round, replace=replace)
        except InputError as e:
            fail_input(e)
        except StoreError as e:
            fail(str(e))
        console.print(
            f"{s.judgements_added} judgements added ({s.judgements_unchanged} already there) to round "
            f"[bold]{round}[/] of {golden_set} from {len(s.raters)} raters"
        )


def _parse_label_map(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    out = {}
    for part in value.split(","):
        if "=" not in part:
            fail(f"--label-map: expected DATASET_LABEL=POLICY_LABEL pairs separated by commas, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@import_app.command("hf")
def import_hf(
    path: Annotated[str, typer.Argument(help="A Hugging Face dataset id or a local dataset folder")],
    policy: Annotated[Path, typer.Option(help="policy.yaml the labels belong to")],
    name: Annotated[str, typer.Option(help="Golden-set name in the store")],
    split: Annotated[str | None, typer.Option(help="Split to import, e.g. test")] = None,
    text_column: Annotated[str, typer.Option(help="Column with the text")] = "text",
    label_column: Annotated[str | None, typer.Option(help="Column with the gold label")] = None,
    id_column: Annotated[str | None, typer.Option(help="Column with the item id (default: row number)")] = None,
    areas_column: Annotated[str | None, typer.Option(help="Column with gold areas (list or a|b)")] = None,
    label_map: Annotated[str | None, typer.Option(help="Map dataset labels: 0=allow,1=remove")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a stored set of that name")] = False,
    db: DbOption = None,
) -> None:
    """Import a golden set from Hugging Face `datasets` (hub id or local folder)."""
    from calibration.importers import items_from_hf, load_hf_dataset
    from calibration.policy import load_policy

    try:
        pol = load_policy(policy)
        ds = load_hf_dataset(path, split=split)
        items = items_from_hf(ds, pol, text_column=text_column, label_column=label_column, id_column=id_column,
                              areas_column=areas_column, label_map=_parse_label_map(label_map), source=path)  # fmt: skip
    except InputError as e:
        fail_input(e)
    with _open_store(db) as store:
        try:
            s = store.import_golden_set(name, pol, items, source=f"hf:{path}:{split}", replace=replace)
        except StoreError as e:
            fail(str(e))
        console.print(f"golden set [bold]{name}[/]: {s.items_added} items added from {path} ({split or 'all'})")


@import_app.command("preset")
def import_preset(
    preset: Annotated[str, typer.Argument(help="hatexplain, hatecheck or openai_moderation")],
    data_dir: Annotated[Path, typer.Argument(help="The data set's folder (items.jsonl.gz + ratings.csv.gz)")],
    name: Annotated[str | None, typer.Option(help="Golden-set name (default: the preset name)")] = None,
    limit: Annotated[int | None, typer.Option(help="Import only a seeded sample of this many items")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a stored set of that name")] = False,
    db: DbOption = None,
) -> None:
    """Import one of the real moderation data sets (items, gold and individual ratings)."""
    from calibration.presets import PRESETS, load_preset

    if preset not in PRESETS:
        fail(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    try:
        p = load_preset(preset, data_dir, limit=limit)
    except InputError as e:
        fail_input(e)
    with _open_store(db) as store:
        try:
            s = store.import_golden_set(name or preset, p.policy, p.items, source=str(data_dir), judgements=p.judgements,
                                        replace=replace)  # fmt: skip
        except StoreError as e:
            fail(str(e))
        console.print(f"golden set [bold]{name or preset}[/]: {s.items_added} items, {s.judgements_added} judgements")


@app.command("sets")
def list_sets(db: DbOption = None) -> None:
    """List the golden sets in the store."""
    with _open_store(db) as store:
        table = Table("golden set", "policy", "version", "items")
        for row in store.list_golden_sets():
            table.add_row(row["name"], row["policy_id"], row["version"], str(row["items"]))
        console.print(table)


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(help="Folder for the demo store and outputs (default: a new temp folder)")] = None,
    llm: Annotated[bool, typer.Option(help="Also run the local LLM when the `local` extra is installed")] = True,
    llm_items: Annotated[int, typer.Option(help="Items the local LLM classifies")] = 12,
) -> None:
    """Offline tour: load the bundled golden set and ratings into a fresh store, rate, report."""
    from calibration.demo import run_demo

    try:
        run_demo(out, console=console, llm=llm, llm_items=llm_items)
    except FileNotFoundError as e:
        fail(str(e), code=1)
    except InputError as e:
        fail_input(e)
    except StoreError as e:
        fail(str(e))


def _register_optional_commands() -> None:
    """Commands whose modules live in their own subpackages."""
    from calibration.agreement.cli import agreement_command

    app.command("agreement")(agreement_command)
    try:
        from calibration.raters.cli import classify_command, llm_serve_command
    except ImportError:  # pragma: no cover - raters are part of the package; guard for partial installs
        return
    app.command("classify")(classify_command)
    llm_app = typer.Typer(help="Local LLM server (llama.cpp).", no_args_is_help=True)
    llm_app.command("serve")(llm_serve_command)
    app.add_typer(llm_app, name="llm")


_register_optional_commands()


def main() -> None:  # pragma: no cover
    sys.exit(app())
