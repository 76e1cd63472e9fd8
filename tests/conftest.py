"""Shared fixtures: a store on SQLite and on the machine's PostgreSQL, and the shared data folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_SETS = ROOT / "golden_sets"
PG_URL = os.environ.get("CALIBRATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def shared_data_dir() -> Path:
    return Path(os.environ.get("CALIBRATE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as e:
        return f"PostgreSQL at {PG_URL} is not reachable: {e}"
    return None


@pytest.fixture(scope="session")
def pg_url_base() -> str:
    reason = _pg_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg_url(pg_url_base: str):
    """A fresh PostgreSQL schema per test (dropped afterwards), selected through search_path."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = pg_url_base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    sep = "&" if "?" in pg_url_base else "?"
    yield f"{pg_url_base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'drop schema "{schema}" cascade')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """The store URL on each backend: a SQLite file, and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url):
    from calibration.store import Store

    s = Store(db_url)
    yield s
    s.close()
