"""Import HateXplain test+val (3,846 posts, 11,538 ratings) into SQLite and PostgreSQL; print the times.

    python bench/import_speed.py [--data ../shared/data/hatexplain] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each backend gets a fresh store; the figure covers the whole import (one transaction: policy, items,
raters, round, judgements), after the files were parsed. Parsing is timed separately. The peer is a
plain `pandas.DataFrame.to_sql` of the same rows into the same kind of database, measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

from calibration.presets import load_preset
from calibration.store import Store

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "hatexplain"))
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()

    t0 = time.perf_counter()
    preset = load_preset("hatexplain", args.data)
    t_parse = time.perf_counter() - t0
    print(f"parse HateXplain: {len(preset.items):,} items, {len(preset.judgements):,} ratings in {t_parse:.2f} s")
    items_df = pd.DataFrame([{"item_id": i.item_id, "text": i.text} for i in preset.items])
    ratings_df = pd.DataFrame([{"item_id": j.item_id, "rater_id": j.rater_id, "label": j.label} for j in preset.judgements])

    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{tmp}/bench.db", None)]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        targets.append(("PostgreSQL", f"{args.pg}?options=-csearch_path%3D{schema}", schema))
        for name, url, pg_schema in targets:
            admin = create_engine(args.pg) if pg_schema else None
            if admin is not None:
                with admin.begin() as c:
                    c.execute(text(f'create schema "{pg_schema}"'))
            try:
                store = Store(url)
                t0 = time.perf_counter()
                s = store.import_golden_set("hatexplain", preset.policy, preset.items, judgements=preset.judgements)
                t_import = time.perf_counter() - t0
                assert s.items_added == len(preset.items) and s.judgements_added == len(preset.judgements)
                store.close()
                peer_engine = create_engine(url)
                t0 = time.perf_counter()
                with peer_engine.begin() as conn:
                    items_df.to_sql("peer_items", conn, index=False, if_exists="replace", method="multi", chunksize=1000)
                    ratings_df.to_sql("peer_ratings", conn, index=False, if_exists="replace", method="multi", chunksize=1000)
                t_peer = time.perf_counter() - t0
                peer_engine.dispose()
                print(f"{name:10s} calibrate import {t_import:6.2f} s   (peer: pandas.to_sql of the bare rows {t_peer:5.2f} s)")
            finally:
                if admin is not None:
                    with admin.begin() as c:
                        c.execute(text(f'drop schema "{pg_schema}" cascade'))
                    admin.dispose()


if __name__ == "__main__":
    main()
