"""`stationbot migrate --from sqlite:PATH --to postgresql://…`: a station's SQLite data moves
to PostgreSQL with every row of every table kept, and numbering goes on past it."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import committed_rows

from bot.storage import Storage, Tx
from handlers.cli import main


async def fill(path: Path) -> None:
    """A little of everything a station stores, with a purged wish (its number used up)."""
    async with Storage.open(path) as storage:
        await storage.touch_resident(5_123_456_789, display_name="王阿姨", language="zh")
        question = await storage.save_question(
            5_123_456_789, 5_123_456_789, "食堂几点开门？", [("canteen.hours", 71.5)], update_id=7
        )
        await storage.add_staff_reply(question.ref, 42, "早上七点", actor="telegram:42")
        await storage.link_staff_message(question.ref, -100, 55)
        old_wish = await storage.save_wish(5_123_456_789, 1, "希望多开一班公交")
        await storage.set_status(old_wish.ref, "done", note="已开通")
        await storage.save_wish(5_123_456_789, 1, "想学用智能手机")
        await storage.record_feedback(5_123_456_789, "canteen.hours", "食堂几点开门？", False)
        await storage.record_event("answer", 5_123_456_789, "canteen.hours")
        [row] = await storage.receive([("wechat", "m1", "wechat:o-abc", '{"text": "你好"}')])

        async def wechat(tx: Tx) -> None:
            resident = await tx.resident("wechat", "o-abc", display_name="小李")
            await tx.keep_question("tok1", resident.user_id, "你好", ["a", "b"], [("a", 50.0)])
            await tx.queue("wechat", "o-abc", "message", '{"text": "您好"}', inbox_id=row.id)
            await tx.set_choices("wechat:o-abc", '["a", "b"]')

        await storage.transact("test", wechat)
        account = await storage.add_staff_account("Wang", "scrypt$hash")
        await storage.create_web_session(
            "hash1", account.id, "csrf", datetime.now(UTC) + timedelta(hours=1)
        )
        await storage.record_login_failure(["account:li"])
        [feedback] = await storage.unhelpful_answers("2000-01-01T00:00:00Z", 10)
        await storage.mark_feedback_reviewed([feedback.id], "dismissed", "Wang")
    with sqlite3.connect(path) as db:  # the purge of a finished wish, as retention does it
        db.execute("DELETE FROM wishes WHERE id = 2")


def tables(path: Path) -> list[str]:
    return [
        name
        for (name,) in committed_rows(
            path,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
    ]


def migrate(source: Path, target: str) -> int:
    """`stationbot migrate` from the SQLite file `source` to the database `target`."""
    return main(["migrate", "--from", f"sqlite:{source}", "--to", target])


def test_every_row_of_every_table_moves_to_postgresql(
    tmp_path: Path, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "station.db"
    asyncio.run(fill(source))

    assert migrate(source, pg_database) == 0

    assert "moved" in capsys.readouterr().out
    for table in tables(source):
        if table == "migrations":
            continue
        order = "ORDER BY 1, 2"
        kept = committed_rows(source, f"SELECT * FROM {table} {order}")
        moved = committed_rows(pg_database, f"SELECT * FROM {table} {order}")
        assert moved == kept, table
        # workers and send_schedule are several workers' state on PostgreSQL: none in a file
        assert kept or table in ("workers", "send_schedule"), f"the test fills {table}"

    async def numbering_goes_on() -> tuple[str, int]:
        async with Storage.open(pg_database) as storage:
            wish = await storage.save_wish(1, 1, "new")

            async def newcomer(tx: Tx) -> int:
                return (await tx.resident("wechat", "o-new")).user_id

            return wish.ref, await storage.transact("test", newcomer)

    ref, user_id = asyncio.run(numbering_goes_on())
    assert ref == "W0003", "the purged W0002's number is never handed out again"
    assert user_id > 5_123_456_789


def test_a_target_holding_data_is_refused(
    tmp_path: Path, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "station.db"
    asyncio.run(fill(source))
    assert migrate(source, pg_database) == 0
    capsys.readouterr()

    assert migrate(source, pg_database) == 1
    assert "already holds data" in capsys.readouterr().err


def test_bad_arguments_say_what_is_expected(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--from", "station.db", "--to", "postgresql://x/y"]) == 2
    assert "sqlite:PATH" in capsys.readouterr().err
