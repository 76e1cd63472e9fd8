"""The store on SQLite and on the machine's PostgreSQL (the `db_url` fixture runs each test on both)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from calibration.errors import StoreError
from calibration.golden import load_golden_set
from calibration.importers import read_ratings
from calibration.models import Judgement
from calibration.store import Store

from .conftest import ROOT

MINI = ROOT / "tests" / "data" / "mini"


@pytest.fixture
def mini():
    gs = load_golden_set(MINI)
    return gs, read_ratings(MINI / "ratings.csv", gs.policy, gs.item_ids())


def test_migrations_create_every_table_and_stamp_head(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {"policies", "golden_sets", "items", "raters", "rounds", "round_items", "judgements",
            "llm_calls", "alembic_version"} <= tables  # fmt: skip
    # Opening again is a no-op migration, not an error.
    Store(store.url).close()


def test_golden_set_round_trips_with_gold_metadata_and_tags(store, mini):
    gs, _ = mini
    s = store.import_golden_set("mini", gs.policy, gs.items)
    assert s.items_added == 6
    back = store.golden_set("mini")
    assert back.policy == gs.policy
    assert [i.model_dump() for i in back.items] == [i.model_dump() for i in gs.items]


def test_same_import_twice_changes_nothing(store, mini):
    gs, ratings = mini
    store.import_golden_set("mini", gs.policy, gs.items, judgements=ratings)
    before = store.counts()
    again = store.import_golden_set("mini", gs.policy, gs.items, judgements=ratings)
    assert again.unchanged and again.judgements_added == 0 and again.judgements_unchanged == len(ratings)
    assert store.counts() == before


def test_conflicting_golden_set_is_refused_unless_replaced(store, mini):
    gs, ratings = mini
    store.import_golden_set("mini", gs.policy, gs.items, judgements=ratings)
    changed = [i.model_copy(update={"text": i.text + " (edited)"}) for i in gs.items]
    before = store.counts()
    with pytest.raises(StoreError, match="already exists"):
        store.import_golden_set("mini", gs.policy, changed)
    assert store.counts() == before
    store.import_golden_set("mini", gs.policy, changed, replace=True)
    assert store.golden_set("mini").items[0].text.endswith("(edited)")
    assert store.counts()["judgements"] == 0  # the old round went with the old set


def test_policy_versions_are_kept_by_content_hash(store, mini):
    gs, _ = mini
    h1 = store.add_policy(gs.policy)
    h2 = store.add_policy(gs.policy.model_copy(update={"version": "2"}))
    assert h1 != h2
    assert store.add_policy(gs.policy) == h1
    assert [v["version"] for v in store.policy_versions("mini")] == ["1", "2"]


def test_bad_judgement_in_a_batch_rolls_back_the_whole_batch(store, mini):
    gs, ratings = mini
    store.import_golden_set("mini", gs.policy, gs.items)
    before = store.counts()
    bad = [*ratings, Judgement(item_id="m1", rater_id="zed", label="approve")]
    with pytest.raises(StoreError, match="approve"):
        store.add_judgements("mini", bad)
    assert store.counts() == before
    bad_item = [*ratings, Judgement(item_id="nope", rater_id="zed", label="allow")]
    with pytest.raises(StoreError, match="nope"):
        store.add_judgements("mini", bad_item)
    assert store.counts() == before


def test_failure_inside_transaction_after_writes_rolls_back(store, mini):
    """A failure after rows were written (the rater kind clash is found in the database) undoes them."""
    gs, ratings = mini
    store.import_golden_set("mini", gs.policy, gs.items, judgements=ratings)
    before = store.counts()
    clash = [Judgement(item_id="m1", rater_id="newcomer", label="allow"),
             Judgement(item_id="m2", rater_id="ana", rater_kind="llm", label="allow")]  # fmt: skip
    with pytest.raises(StoreError, match="stored as kind 'human'"):
        store.add_judgements("mini", clash, round="round-2")
    assert store.counts() == before


def test_changed_judgement_needs_replace(store, mini):
    gs, ratings = mini
    store.import_golden_set("mini", gs.policy, gs.items, judgements=ratings)
    changed = ratings[0].model_copy(update={"label": "allow"})
    with pytest.raises(StoreError, match="different judgement"):
        store.add_judgements("mini", [changed])
    store.add_judgements("mini", [changed], replace=True)
    got = store.judgements("mini", raters=["ana"], items=["m1"])
    assert [j.label for j in got] == ["allow"]


def test_judgement_filters_and_rounds(store, mini):
    gs, ratings = mini
    store.import_golden_set("mini", gs.policy, gs.items, judgements=ratings, round="r1")
    ai = [Judgement(item_id=i, rater_id="gpt", rater_kind="llm", label="remove", model="m", tokens_in=10,
                    cost=0.001, latency_ms=12.5, raw_response='{"label": "remove"}', area_scores={"scam": 0.7})
          for i in ("m1", "m2")]  # fmt: skip
    ai.append(Judgement(item_id="m3", rater_id="gpt", rater_kind="llm", status="error", error="timeout", raw_response="{"))
    store.add_judgements("mini", ai, round="r2", rater_configs={"gpt": {"model": "m", "temperature": 0}})
    assert len(store.judgements("mini")) == len(ratings) + 3
    assert {j.rater_id for j in store.judgements("mini", round="r2")} == {"gpt"}
    assert len(store.judgements("mini", kinds=["human"])) == len(ratings)
    assert len(store.judgements("mini", items=["m1"], raters=["ana", "gpt"])) == 2
    errors = store.judgements("mini", status="error")
    assert len(errors) == 1 and errors[0].raw_response == "{" and errors[0].label is None
    got = store.judgements("mini", raters=["gpt"], items=["m1"])[0]
    assert got.area_scores == {"scam": 0.7} and got.cost == pytest.approx(0.001)
    assert [r["name"] for r in store.rounds("mini")] == ["r1", "r2"]
    store.close_round("mini", "r2")
    with pytest.raises(StoreError, match="closed"):
        store.add_judgements("mini", [Judgement(item_id="m4", rater_id="gpt", rater_kind="llm", label="allow")], round="r2")


def test_unknown_golden_set_names_what_the_store_has(store, mini):
    gs, _ = mini
    store.import_golden_set("mini", gs.policy, gs.items)
    with pytest.raises(StoreError, match="store has: mini"):
        store.golden_set("maxi")


def test_llm_call_cache_returns_newest_ok_call(store):
    store.record_call(cache_key="k1", model="m", status="error", error="500")
    assert store.cached_call("k1") is None
    store.record_call(cache_key="k1", model="m", status="ok", response="first", tokens_in=3)
    store.record_call(cache_key="k1", model="m", status="ok", response="second")
    store.record_call(cache_key="k2", model="m", status="ok", response="other", request={"messages": ["x"]})
    got = store.cached_calls(["k1", "k2", "k3"])
    assert got["k1"]["response"] == "second" and got["k2"]["request"] == {"messages": ["x"]}
    assert "k3" not in got


def test_default_store_location_follows_env(tmp_path, monkeypatch):
    from calibration.store import resolve_url

    monkeypatch.setenv("CALIBRATE_DB", str(tmp_path / "x.db"))
    assert resolve_url() == f"sqlite:///{tmp_path / 'x.db'}"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("CALIBRATE_DB")
    monkeypatch.chdir(tmp_path)
    assert resolve_url() == f"sqlite:///{tmp_path / 'calibrate.db'}"
