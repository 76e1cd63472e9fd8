"""Importers: items and ratings from JSONL, CSV and Parquet, long and wide, and Hugging Face `datasets`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from calibration.cli import app
from calibration.errors import InputError
from calibration.golden import load_golden_set, read_items
from calibration.importers import detect_layout, items_from_hf, load_hf_dataset, read_ratings
from calibration.store import Store

from .conftest import ROOT

MINI = ROOT / "tests" / "data" / "mini"
runner = CliRunner()


@pytest.fixture
def mini():
    return load_golden_set(MINI)


def _flat_items(gs) -> pd.DataFrame:
    rows = []
    for it in gs.items:
        g = it.gold
        rows.append({"item_id": it.item_id, "text": it.text, "context": it.context or "",
                     "gold_label": g.label if g else "", "gold_areas": "|".join(g.areas) if g else "",
                     "gold_rationale": (g.rationale or "") if g else "", "tags": "|".join(it.tags)})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_items_from_csv_and_parquet_equal_the_jsonl(mini, tmp_path, fmt):
    df = _flat_items(mini)
    path = tmp_path / f"items.{fmt}"
    df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path, index=False)
    parsed = read_items(path)
    for a, b in zip(parsed.items, mini.items, strict=True):
        assert (a.item_id, a.text, a.context, a.tags) == (b.item_id, b.text, b.context, b.tags)
        assert (a.gold.label, a.gold.areas, a.gold.rationale) == (b.gold.label, b.gold.areas, b.gold.rationale)
    assert parsed.lines[0] == (2 if fmt == "csv" else 1)


def test_csv_item_with_embedded_newline_reports_the_right_line(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text('item_id,text\na,"two\nlines"\nb,"  "\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_items(path)
    assert f"{path}:4: text:" in str(e.value)


def test_ratings_long_csv_jsonl_parquet_agree(mini, tmp_path):
    csv_j = read_ratings(MINI / "ratings.csv", mini.policy, mini.item_ids())
    df = pd.read_csv(MINI / "ratings.csv", dtype=str, keep_default_na=False)
    jl = tmp_path / "ratings.jsonl"
    with jl.open("w") as f:
        for rec in df.to_dict("records"):
            rec["areas"] = [a for a in rec["areas"].split("|") if a]
            rec["confidence"] = float(rec["confidence"]) if rec["confidence"] else None
            f.write(json.dumps(rec) + "\n")
    pq = tmp_path / "ratings.parquet"
    df.to_parquet(pq, index=False)
    assert [j.model_dump() for j in read_ratings(jl, mini.policy, mini.item_ids())] == [j.model_dump() for j in csv_j]
    assert [j.model_dump() for j in read_ratings(pq, mini.policy, mini.item_ids())] == [j.model_dump() for j in csv_j]
    m1_kai = next(j for j in csv_j if j.item_id == "m1" and j.rater_id == "kai")
    assert m1_kai.areas == ["scam", "weapons"] and m1_kai.confidence == 0.5
    assert m1_kai.rationale == "looks bad, very bad"


def test_wide_ratings_skip_empty_cells_and_name_the_rater_column(mini, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("item_id,ana,ben\nm1,remove,remove\nm2,allow,\nm3,remove,remove\n", encoding="utf-8")
    assert detect_layout(path) == "wide"
    js = read_ratings(path, mini.policy, mini.item_ids())
    assert [(j.item_id, j.rater_id, j.label) for j in js] == [
        ("m1", "ana", "remove"), ("m1", "ben", "remove"), ("m2", "ana", "allow"),
        ("m3", "ana", "remove"), ("m3", "ben", "remove"),
    ]  # fmt: skip
    path.write_text("item_id,ana,ben\nm1,remove,nuke\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"wide.csv:2: ben: label 'nuke'"):
        read_ratings(path, mini.policy, mini.item_ids())


def test_cli_imports_wide_ratings_into_a_round(mini, tmp_path):
    db = str(tmp_path / "s.db")
    assert runner.invoke(app, ["import", "golden", str(MINI), "--db", db, "--no-with-ratings"]).exit_code == 0
    path = tmp_path / "wide.csv"
    path.write_text("item_id,ana,ben\nm1,remove,remove\nm2,allow,\n", encoding="utf-8")
    r = runner.invoke(app, ["import", "ratings", str(path), "-g", "mini", "--round", "r7", "--db", db])
    assert r.exit_code == 0, r.output
    assert "3 judgements added" in r.output
    assert len(Store(db).judgements("mini", round="r7")) == 3


# ---- Hugging Face datasets ------------------------------------------------------------------------
def _hf_dataset():
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"), "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["allow", "restrict", "remove"]), "source": datasets.Value("string"),
    })  # fmt: skip
    return datasets.Dataset.from_dict(
        {"id": ["a", "b", "c"], "text": ["fine lamp", "gift card only", "9mm magazine"],
         "label": [0, 2, 2], "source": ["x", "y", "z"]},  # fmt: skip
        features=features,
    )


def test_items_from_a_datasets_object_use_class_label_names(mini):
    items = items_from_hf(_hf_dataset(), mini.policy, id_column="id", label_column="label")
    assert [(i.item_id, i.gold.label) for i in items] == [("a", "allow"), ("b", "remove"), ("c", "remove")]
    assert items[0].metadata == {"source": "x"}


def test_datasetdict_split_and_label_map(mini):
    import datasets

    dd = datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": ["t1", "t2"], "y": ["0", "1"]})})
    items = items_from_hf(dd, mini.policy, label_column="y", split="test", label_map={"0": "allow", "1": "remove"})
    assert [(i.item_id, i.gold.label) for i in items] == [("1", "allow"), ("2", "remove")]
    with pytest.raises(InputError, match=r"<dataset>:2: y: label '1' is not in the policy"):
        items_from_hf(dd, mini.policy, label_column="y", split="test", label_map={"0": "allow"})
    with pytest.raises(InputError, match="no column 'body'"):
        items_from_hf(dd, mini.policy, text_column="body", split="test")


def test_load_from_disk_and_load_dataset_on_local_files(mini, tmp_path):
    ds = _hf_dataset()
    import datasets

    datasets.DatasetDict({"test": ds, "train": ds}).save_to_disk(str(tmp_path / "saved"))
    loaded = load_hf_dataset(str(tmp_path / "saved"), split="test")
    assert loaded.num_rows == 3
    with pytest.raises(InputError, match="choose a split"):
        load_hf_dataset(str(tmp_path / "saved"))
    # A folder of data files goes through `load_dataset`, the same path a hub id takes.
    folder = tmp_path / "files"
    folder.mkdir()
    pd.DataFrame({"text": ["a", "b"], "label": ["allow", "remove"]}).to_parquet(folder / "test.parquet")
    ds2 = load_hf_dataset(str(folder), split="test")
    assert ds2.num_rows == 2


def test_cli_import_hf_from_a_saved_dataset(tmp_path):
    _hf_dataset().save_to_disk(str(tmp_path / "saved"))
    db = str(tmp_path / "s.db")
    r = runner.invoke(app, ["import", "hf", str(tmp_path / "saved"), "--policy", str(MINI / "policy.yaml"),
                            "--name", "hfset", "--label-column", "label", "--id-column", "id", "--db", db])  # fmt: skip
    assert r.exit_code == 0, r.output
    gs = Store(db).golden_set("hfset")
    assert [i.gold.label for i in gs.items] == ["allow", "remove", "remove"]
    bad = runner.invoke(app, ["import", "hf", str(tmp_path / "saved"), "--policy", str(MINI / "policy.yaml"),
                              "--name", "x", "--label-column", "nope", "--db", db])  # fmt: skip
    assert bad.exit_code == 2 and "no column 'nope'" in bad.output


def test_unreachable_store_is_one_line_and_exit_1(tmp_path):
    r = runner.invoke(app, ["sets", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot open the store"), r.output


def test_demo_without_bundled_golden_sets_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("CALIBRATE_GOLDEN_SETS", str(tmp_path / "nowhere"))
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--no-llm"])
    assert r.exit_code == 1 and "bundled golden set 'marketplace' not found" in r.output
