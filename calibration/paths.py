"""Where the project's bundled folders are (golden_sets/, prompts/), with environment overrides."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def golden_sets_dir() -> Path:
    return Path(os.environ.get("CALIBRATE_GOLDEN_SETS", PROJECT_ROOT / "golden_sets"))


def bundled_golden_set(name: str) -> Path:
    path = golden_sets_dir() / name
    if not path.is_dir():
        raise FileNotFoundError(
            f"bundled golden set {name!r} not found under {golden_sets_dir()}; install the project with "
            "`pip install -e .` from a clone, or set CALIBRATE_GOLDEN_SETS"
        )
    return path
