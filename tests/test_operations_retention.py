"""Retention: with retention.closed_items_days set, the running bot deletes finished
questions and wishes older than that, once at start-up and then daily; open ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import committed_rows
from fake_telegram import running_bot

from bot.config import Config
from bot.core import Station
from bot.storage import Storage
from handlers.telegram import PURGE_INTERVAL_SECONDS, build_application


def on(database: str | Path) -> dict[str, object]:
    """Config fields that put the bot's storage in `database` (a file or a URL)."""
    return {"storage_url": database} if isinstance(database, str) else {"storage_path": database}


async def seed(db_path: str | Path) -> None:
    """Items last touched 100 days ago (one closed, one open, one done wish) and one closed
    yesterday."""
    long_ago = datetime.now(UTC) - timedelta(days=100)
    async with Storage.open(db_path, now=lambda: long_ago) as old:
        closed = await old.save_question(1, 1, "old and resolved")
        await old.set_status(closed.ref, "resolved")
        await old.save_question(2, 2, "old but still open")
        wish = await old.save_wish(3, 3, "old wish, done")
        await old.set_status(wish.ref, "done")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with Storage.open(db_path, now=lambda: yesterday) as recent:
        item = await recent.save_question(4, 4, "resolved yesterday")
        await recent.set_status(item.ref, "resolved")


def texts(db_path: str | Path) -> set[str]:
    return {
        row[0]
        for table in ("questions", "wishes")
        for row in committed_rows(db_path, f"SELECT text FROM {table}")
    }


async def test_closed_items_older_than_the_setting_go_at_start_up(
    tmp_path: Path, database: str | Path
):
    db_path = database
    await seed(db_path)
    async with running_bot(tmp_path, retention_days=30, **on(database)) as (fake, _):
        await fake.wait_for(
            lambda: "old and resolved" not in texts(db_path), timeout=10, what="the purge"
        )
    assert texts(db_path) == {"old but still open", "resolved yesterday"}


async def test_the_purge_runs_daily_whatever_the_setting(tmp_path: Path):
    # handled messages and delivered ones go after a week even without retention_days
    for days, expected in ((None, [PURGE_INTERVAL_SECONDS]), (30, [PURGE_INTERVAL_SECONDS])):
        config = Config(storage_path=tmp_path / "station.db", token="1:x", retention_days=days)
        station = await Station.create(config)
        try:
            app = build_application(config, station)
            jobs = app.job_queue.get_jobs_by_name("retention")
            assert [job.trigger.interval.total_seconds() for job in jobs] == expected
        finally:
            await station.close()


async def test_handled_messages_and_sent_ones_go_after_a_week(database: str | Path):
    db_path = database
    long_ago = datetime.now(UTC) - timedelta(days=8)
    async with Storage.open(db_path, now=lambda: long_ago) as old:
        [row] = await old.receive([("telegram", "1", "telegram:7", "{}")])
        await old.finish(row.id)
        await old.receive([("telegram", "2", "telegram:7", "{}")])  # never handled: kept
        sent = await old.queue("telegram", "7", "message", "{}")
        await old.mark_sent([sent])
        await old.queue("telegram", "7", "message", "{}")  # not yet sent: kept
    async with Storage.open(db_path) as storage:
        removed = await storage.purge_closed_older_than(10**5)
        assert (removed["inbox"], removed["outbox"]) == (1, 1)
        assert [row.external_id for row in await storage.unhandled()] == ["2"]
        assert len(await storage.due_messages()) == 1
