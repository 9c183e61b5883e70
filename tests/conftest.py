"""Fixtures shared by the test modules: the storage backends (SQLite, and PostgreSQL when
STATIONBOT_TEST_PG names a server, as .ci/run and .ci/pg-cluster give one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

PG_VARIABLE = "STATIONBOT_TEST_PG"


def pg_server() -> str:
    """The test server's URL; skips the test without one, fails it on CI (CI=true)."""
    url = os.environ.get(PG_VARIABLE, "")
    if not url:
        why = (
            f"{PG_VARIABLE} is not set: PostgreSQL tests need a server"
            " (`.ci/pg-cluster start /tmp/pg` prints a URL to export)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return url


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A URL of an empty database of its own (a fresh schema), dropped afterwards."""
    import psycopg

    server = pg_server()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in server else "?"
    yield f"{server}{joiner}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where Storage.open puts a test's data: an SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "data" / "station.db"
    return request.getfixturevalue("pg_database")


def committed_rows(database: str | Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Reads through a separate connection (SQL written for SQLite): sees only what was
    committed."""
    if isinstance(database, str):
        import psycopg

        from bot.pg import translate

        with psycopg.connect(database, cursor_factory=psycopg.ClientCursor) as connection:
            return [tuple(row) for row in connection.execute(translate(sql), params).fetchall()]
    import sqlite3

    with sqlite3.connect(database) as connection:
        return connection.execute(sql, params).fetchall()
