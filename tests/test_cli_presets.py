"""`calibrate import preset` on the real shared data sets, through the CLI."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from calibration.cli import app
from calibration.store import Store

from .conftest import shared_data_dir

runner = CliRunner()
DATA = shared_data_dir()
pytestmark = pytest.mark.skipif(
    not DATA.is_dir() and not os.environ.get("CI"), reason=f"shared data not found at {DATA}"
)


def test_import_preset_keeps_individual_raters_and_gold(tmp_path):
    db = str(tmp_path / "s.db")
    r = runner.invoke(app, ["import", "preset", "hatecheck", str(DATA / "hatecheck"), "--limit", "58", "--db", db])
    assert r.exit_code == 0, r.output
    store = Store(db)
    gs = store.golden_set("hatecheck")
    assert len(gs.items) == 58
    assert all(i.gold is not None and i.gold.label in ("hateful", "non-hateful") for i in gs.items)
    js = store.judgements("hatecheck")
    assert len(js) == 5 * 58  # five annotators per case
    assert {j.rater_kind for j in js} == {"human"}
    # Importing the same sample again changes nothing.
    again = runner.invoke(app, ["import", "preset", "hatecheck", str(DATA / "hatecheck"), "--limit", "58", "--db", db])
    assert again.exit_code == 0 and "0 items, 0 judgements" in again.output


def test_openai_moderation_unknown_categories_stay_unknown_in_the_store(tmp_path):
    db = str(tmp_path / "s.db")
    r = runner.invoke(app, ["import", "preset", "openai_moderation", str(DATA / "openai_moderation"), "--db", db])
    assert r.exit_code == 0, r.output
    items = Store(db).golden_set("openai_moderation").items
    assert len(items) == 1680
    assert sum("S" in i.gold.unknown_areas for i in items) == 696
    assert sum(i.gold.label is None for i in items) > 0  # unknown, not "allow"


def test_unknown_preset_and_missing_folder_exit_2(tmp_path):
    r = runner.invoke(app, ["import", "preset", "nope", str(tmp_path), "--db", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "unknown preset 'nope'" in r.output
    r = runner.invoke(app, ["import", "preset", "hatexplain", str(tmp_path / "missing"), "--db", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "missing" in r.output
