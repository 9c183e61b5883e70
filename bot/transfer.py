"""Moves a station's data from its SQLite file to PostgreSQL (`stationbot migrate`): every
row of every table, parents before children, in one transaction; then each id sequence is
set past the highest id ever handed out, so no reference number is given twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.storage import Storage, StorageError

_CHUNK = 5000  # rows read from SQLite at a time


@dataclass(frozen=True)
class Moved:
    """Rows per table: in the SQLite file, and in PostgreSQL after the move."""

    table: str
    source: int
    target: int


def _tables_in_order(db: sqlite3.Connection) -> list[str]:
    """The tables of the SQLite file (not `migrations`: both sides apply the same list),
    each after the tables its foreign keys point to."""
    names = [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name <> 'migrations' ORDER BY name"
        )
    ]
    parents = {
        name: {row[2] for row in db.execute(f"PRAGMA foreign_key_list({name})")} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise StorageError(
                f"foreign keys form a cycle among {sorted(set(names) - set(ordered))}"
            )
        ordered += ready
    return ordered


async def move(
    source: Path, target: str, *, progress: Callable[[str], None] = lambda line: None
) -> list[Moved]:
    """Copies every row of the SQLite database `source` into the PostgreSQL database at
    `target` (its schema made by the same migrations). Refuses a target that holds data."""
    if not source.is_file():
        raise StorageError(f"no SQLite database at {source}")
    # both brought to the latest migration first, so their tables and columns are the same
    async with Storage.open(source):
        pass
    async with Storage.open(target) as storage:
        if storage.backend != "postgresql":
            raise StorageError("the target must be a postgresql:// URL")
        pool = storage._pool
        async with pool.connection() as connection:
            return await _copy(source, connection, progress)


async def _copy(source: Path, connection, progress: Callable[[str], None]) -> list[Moved]:  # type: ignore[no-untyped-def]
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
        tables = _tables_in_order(db)
        async with connection.transaction():
            for table in tables:
                found = await (await connection.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
                if found[0]:
                    raise StorageError(
                        f"the target already holds data ({table}: {found[0]} rows); migrate"
                        " into an empty database"
                    )
            moved = []
            for table in tables:
                columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                listed = ", ".join(columns)
                rows = db.execute(f"SELECT {listed} FROM {table}")
                async with (
                    connection.cursor() as cursor,
                    cursor.copy(f"COPY {table} ({listed}) FROM STDIN") as copy,
                ):
                    while chunk := rows.fetchmany(_CHUNK):
                        for row in chunk:
                            await copy.write_row(row)
                await _keep_ids_ahead(db, connection, table)
                source_count = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                target_count = (
                    await (await connection.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
                )[0]
                if source_count != target_count:
                    raise StorageError(
                        f"{table}: {source_count} rows in SQLite but {target_count} copied"
                    )
                moved.append(Moved(table, source_count, target_count))
                progress(f"{table}: {target_count} rows")
    return moved


async def _keep_ids_ahead(db: sqlite3.Connection, connection, table: str) -> None:  # type: ignore[no-untyped-def]
    """The next id PostgreSQL hands out is past every id SQLite ever did (AUTOINCREMENT
    remembers purged ones in sqlite_sequence)."""
    identity = await (
        await connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " AND table_schema = current_schema() AND is_identity = 'YES'",
            (table,),
        )
    ).fetchall()
    for (column,) in identity:
        highest = db.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0] or 0
        has_sequence = db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
        ).fetchone()
        if has_sequence:
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
            highest = max(highest, seq[0] if seq else 0)
        if highest:
            await connection.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
                (table, column, highest),
            )
