"""Tests for bot/storage.py: migrations, saving and reading items, staff queries, privacy."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest
from conftest import committed_rows

from bot import pg
from bot.pooling import pooling_key
from bot.storage import (
    MIGRATIONS,
    Storage,
    StorageError,
    Tx,
    _InThread,
    apply_migrations,
    parse_ref,
)

START = datetime(2026, 11, 28, 23, 50, 1, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "station.db"


@pytest.fixture
async def storage(database: str | Path, clock: FakeClock):
    """Storage on each backend: SQLite, and PostgreSQL (tests/conftest.py)."""
    async with Storage.open(database, now=clock) as opened:
        yield opened


@pytest.fixture
async def sqlite_storage(db_path: Path, clock: FakeClock):
    """Storage on SQLite, for what only SQLite has (its files, its pragmas)."""
    async with Storage.open(db_path, now=clock) as opened:
        yield opened


def raw_rows(database: str | Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Reads through a separate connection: sees only what was committed."""
    return committed_rows(database, sql, params)


def count(database: str | Path, table: str, where: str = "1=1", params: tuple = ()) -> int:
    return raw_rows(database, f"SELECT COUNT(*) FROM {table} WHERE {where}", params)[0][0]


# --- schema and migrations --------------------------------------------------------------------


async def test_migrations_create_schema_and_reopening_changes_nothing(db_path: Path) -> None:
    async with Storage.open(db_path) as storage:
        await storage.save_question(1, 1, "食堂几点开门")
    tables = {name for (name,) in raw_rows(db_path, "SELECT name FROM sqlite_master")}
    assert {"residents", "questions", "wishes", "staff_replies", "status_history"} <= tables
    assert {"feedback", "events", "staff_messages", "migrations"} <= tables
    assert {"inbox", "outbox", "pending"} <= tables and "processed_updates" not in tables
    applied = raw_rows(db_path, "SELECT name FROM migrations ORDER BY name")
    assert [name for (name,) in applied] == [m.__name__ for m in MIGRATIONS]

    async with Storage.open(db_path) as storage:
        assert (await storage.get_item("Q0001")).text == "食堂几点开门"
    assert count(db_path, "migrations") == len(MIGRATIONS)


async def test_a_database_of_the_last_release_keys_its_residents_by_channel(
    db_path: Path,
) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as old:
        await apply_migrations(old, MIGRATIONS[:3])
        await old.execute(
            "INSERT INTO residents (user_id, language, display_name, first_seen, last_seen)"
            " VALUES (4242, 'en', 'Ann', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')"
        )
        await old.execute(
            "INSERT INTO questions (user_id, chat_id, text, update_id, created_at, updated_at)"
            " VALUES (4242, 4242, 'old question', 9, '2025-01-01T00:00:00Z',"
            " '2025-01-01T00:00:00Z')"
        )
        await old.execute("INSERT INTO processed_updates VALUES (9, '2025-01-01T00:00:00Z')")
    async with Storage.open(db_path) as storage:
        ann = await storage.find_resident("telegram", "4242")
        assert ann is not None and ann.language == "en" and ann.display_name == "Ann"
        [item] = await storage.items_on("telegram", 4242)
        assert (item.text, item.channel, item.address) == ("old question", "telegram", "4242")

        async def arrive(tx: Tx) -> int:  # a WeChat resident is a new, separate resident
            return (await tx.resident("wechat", "o-abc")).user_id

        assert await storage.transact("test", arrive) != ann.user_id
        assert await storage.items_on("wechat", "o-abc") == []


async def test_old_database_upgrades_itself(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as old:
        assert await apply_migrations(old, MIGRATIONS[:1]) == ["m001_create_tables"]
        await old.execute(
            "INSERT INTO questions (user_id, chat_id, text, created_at, updated_at)"
            " VALUES (7, 7, 'old question', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')"
        )
    assert count(db_path, "sqlite_master", "name = 'staff_messages'") == 0

    async with Storage.open(db_path) as storage:
        await storage.link_staff_message("Q1", -100, 55)  # needs m003's table
        assert await storage.ref_for_staff_message(-100, 55) == "Q0001"
        await storage.record_event("none", 7)  # needs m002's table
        assert (await storage.get_item("Q0001")).text == "old question"
    assert count(db_path, "migrations") == len(MIGRATIONS)


async def test_items_saved_before_pooling_keys_get_theirs_when_upgrading(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as old:
        await apply_migrations(old, MIGRATIONS[:6])
        for table in ("questions", "wishes"):
            await old.execute(
                f"INSERT INTO {table} (user_id, chat_id, text, created_at, updated_at)"
                " VALUES (7, 7, '想上烹飪課！', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')"
            )
    async with Storage.open(db_path) as storage:
        await storage.save_wish(8, 8, "希望开烹饪课")
        rows = await storage.pooling_rows("wish") + await storage.pooling_rows("question")
    assert [(row.ref, row.text, row.pool_key) for row in rows] == [
        ("W0001", "想上烹飪課！", pooling_key("想上烹飪課！")),
        ("W0002", "希望开烹饪课", pooling_key("希望开烹饪课")),
        ("Q0001", "想上烹飪課！", pooling_key("想上烹飪課！")),
    ]
    assert rows[0].pool_key == "上 烹 课 饪"  # Simplified, no particles, characters sorted


async def test_database_uses_wal_and_foreign_keys(sqlite_storage: Storage, db_path: Path) -> None:
    storage = sqlite_storage
    assert raw_rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert await storage._db.execute_fetchall("PRAGMA foreign_keys") == [(1,)]
    assert (await storage._db.execute_fetchall("PRAGMA busy_timeout"))[0][0] > 0


async def test_unusable_path_gives_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="could not open database"):
        await Storage.open(tmp_path)  # a directory, not a database file


# --- saving and reading -----------------------------------------------------------------------


async def test_saved_question_is_committed_and_reads_back(
    storage: Storage, database: str | Path
) -> None:
    await storage.touch_resident(42, display_name="王阿姨", language="zh")
    item = await storage.save_question(42, 4200, "食唐几点开", [("canteen.hours", 71.25)])

    assert item.ref == "Q0001"
    assert item.kind == "question" and item.status == "open"
    assert item.created_at == "2026-11-28T23:50:01Z"
    assert item.display_name == "王阿姨"
    # committed: another connection sees it while ours is still open
    assert raw_rows(database, "SELECT text FROM questions") == [("食唐几点开",)]

    again = await storage.get_item("Q0001")
    assert again == item
    assert again.candidates == [("canteen.hours", 71.25)]
    assert (await storage.items_of(42)) == [item]


async def test_wishes_and_questions_are_numbered_separately(storage: Storage) -> None:
    question = await storage.save_question(1, 1, "几点开门")
    first_wish = await storage.save_wish(1, 1, "希望多开一班公交")
    second_wish = await storage.save_wish(2, 2, "想学用智能手机")
    assert (question.ref, first_wish.ref, second_wish.ref) == ("Q0001", "W0001", "W0002")
    assert (await storage.get_item("w2")).text == "想学用智能手机"


async def test_same_update_twice_saves_one_row(storage: Storage, database: str | Path) -> None:
    first = await storage.save_question(1, 1, "食堂几点开", update_id=900)
    again = await storage.save_question(1, 1, "食堂几点开", update_id=900)
    wish = await storage.save_wish(1, 1, "想要轮椅", update_id=901)
    wish_again = await storage.save_wish(1, 1, "想要轮椅", update_id=901)

    assert again.ref == first.ref and wish_again.ref == wish.ref
    assert count(database, "questions") == 1
    assert count(database, "wishes") == 1
    assert (await storage.save_question(1, 1, "另一个", update_id=902)).ref == "Q0002"


async def test_incoming_messages_are_stored_once_and_handled_once(storage: Storage) -> None:
    rows = [("telegram", "10", "telegram:7", "{}"), ("telegram", "11", "telegram:7", "{}")]
    fresh = await storage.receive(rows)
    assert [row.external_id for row in fresh] == ["10", "11"]
    assert await storage.receive(rows[:1]) == [], "a redelivered update is there already"
    assert [row.external_id for row in await storage.unhandled()] == ["10", "11"]
    await storage.finish(fresh[0].id)
    assert [row.external_id for row in await storage.unhandled()] == ["11"]
    assert await storage.inbox_status("telegram", "10") == "done"


async def test_a_message_is_queued_only_with_the_change_that_causes_it(storage: Storage) -> None:
    async def save_and_fail(tx: Tx) -> None:
        await tx.save_item("question", 1, "食堂几点开门")
        await tx.queue("telegram", "7", "message", "{}")
        raise ValueError("the decision failed half way")

    with pytest.raises(ValueError):
        await storage.transact("test", save_and_fail)
    assert await storage.due_messages() == [] and await storage.all_items() == []

    async def save_and_queue(tx: Tx) -> None:
        item = await tx.save_item("question", 1, "食堂几点开门")
        await tx.queue("telegram", "7", "message", json.dumps({"ref": item.ref}))

    await storage.transact("test", save_and_queue)
    [message] = await storage.due_messages()
    [saved] = await storage.all_items()
    # Q0001 on SQLite; PostgreSQL's sequences may skip the number the failed unit drew
    assert json.loads(message.payload) == {"ref": saved.ref}
    await storage.mark_sent([message.id])
    assert await storage.due_messages() == []
    assert await storage.outbox_counts() == {"sent": 1}


async def test_one_failing_unit_does_not_sink_the_others_in_its_group_commit(
    storage: Storage,
) -> None:
    async def good(tx: Tx) -> str:
        return (await tx.save_item("wish", 1, "书法班")).ref

    async def bad(tx: Tx) -> None:
        await tx.save_item("wish", 2, "会被撤回")
        raise ValueError("no")

    results = await asyncio.gather(
        storage.transact("a", good), storage.transact("b", bad), storage.transact("c", good),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] == "W0001" and isinstance(results[1], ValueError)
    assert [item.text for item in await storage.all_items(oldest_first=True)] == ["书法班"] * 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Q0012", ("question", 12)),
        ("q12", ("question", 12)),
        ("Q-0012", ("question", 12)),
        (" q 0012 ", ("question", 12)),
        ("#W7", ("wish", 7)),
        ("Ｑ００１２", ("question", 12)),  # full-width, as a Chinese keyboard types it
        ("Q0", None),
        ("12", None),
        ("X0012", None),
        ("Q12a", None),
        ("", None),
    ],
)
def test_refs_are_read_leniently(text: str, expected: tuple[str, int] | None) -> None:
    assert parse_ref(text) == expected


async def test_get_item_finds_refs_typed_loosely(storage: Storage) -> None:
    await storage.save_question(1, 1, "q")
    for typed in ("Q0001", "q1", "Q-0001", " q 01 "):
        assert (await storage.get_item(typed)).ref == "Q0001"
    assert await storage.get_item("W0001") is None  # no wish 1
    assert await storage.get_item("nonsense") is None


async def test_resident_keeps_first_seen_and_updates_the_rest(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.touch_resident(5, display_name="Li", language="zh")
    clock.advance(days=2)
    resident = await storage.touch_resident(5)
    assert resident.display_name == "Li" and resident.language == "zh"
    assert resident.first_seen == "2026-11-28T23:50:01Z"
    assert resident.last_seen == "2026-11-30T23:50:01Z"
    assert (await storage.set_language(5, "en")).language == "en"
    assert (await storage.get_resident(5)).language == "en"
    assert await storage.get_resident(6) is None


# --- staff work -------------------------------------------------------------------------------


async def test_wish_status_changes_are_kept_as_history(storage: Storage, clock: FakeClock) -> None:
    await storage.save_wish(3, 3, "希望装扶手")
    clock.advance(hours=1)
    await storage.set_status("W1", "accepted", note="下周装", staff_id=900)
    clock.advance(days=3)
    wish = await storage.set_status("w0001", "done", staff_id=900)

    assert wish.status == "done"
    assert [change[:3] for change in wish.history] == [
        ("accepted", "下周装", "2026-11-29T00:50:01Z"),
        ("done", "", "2026-12-02T00:50:01Z"),
    ]
    assert wish.updated_at == "2026-12-02T00:50:01Z"


async def test_bad_status_or_ref_is_refused_clearly(storage: Storage) -> None:
    await storage.save_question(1, 1, "q")
    await storage.save_wish(1, 1, "w")
    with pytest.raises(ValueError, match="'accepted' is not a status for a question"):
        await storage.set_status("Q1", "accepted")
    with pytest.raises(ValueError, match="expected one of: open, accepted"):
        await storage.set_status("W1", "answerd")
    with pytest.raises(ValueError, match="no question Q0009"):
        await storage.set_status("Q9", "resolved")
    with pytest.raises(ValueError, match="not a reference number"):
        await storage.add_staff_reply("hello", 1, "text")
    assert (await storage.get_item("Q1")).history == []


async def test_staff_reply_marks_question_answered(storage: Storage, clock: FakeClock) -> None:
    await storage.save_question(8, 8, "能代收快递吗")
    clock.advance(minutes=30)
    item = await storage.add_staff_reply("q1", 900, "可以，放前台")

    assert item.status == "answered"
    assert [change[:3] for change in item.history] == [("answered", "", "2026-11-29T00:20:01Z")]
    assert [reply.text for reply in item.replies] == ["可以，放前台"]
    assert await storage.staff_replies_for("Q-1") == item.replies
    assert await storage.open_items() == []

    wish = await storage.save_wish(8, 8, "希望有理发服务")
    replied = await storage.add_staff_reply(wish.ref, 900, "在考虑")
    assert replied.status == "open"  # a wish keeps its own status
    assert replied.replies[0].staff_id == 900


async def test_reply_to_staff_notification_finds_item(storage: Storage) -> None:
    wish = await storage.save_wish(1, 1, "w")
    await storage.link_staff_message(wish.ref, -1001, 77)
    assert await storage.ref_for_staff_message(-1001, 77) == "W0001"
    assert await storage.ref_for_staff_message(-1001, 78) is None


async def test_open_items_lists_what_staff_still_owe(storage: Storage, clock: FakeClock) -> None:
    first = await storage.save_question(1, 1, "first")
    clock.advance(minutes=1)
    wish = await storage.save_wish(2, 2, "second")
    clock.advance(minutes=1)
    third = await storage.save_question(3, 3, "third")
    clock.advance(minutes=1)
    done = await storage.save_question(4, 4, "resolved one")
    await storage.set_status(done.ref, "resolved")
    await storage.set_status(wish.ref, "in_progress")

    assert [i.ref for i in await storage.open_items()] == [third.ref, wish.ref, first.ref]
    oldest = await storage.open_items(oldest_first=True)
    assert [i.ref for i in oldest] == [first.ref, wish.ref, third.ref]
    assert [i.ref for i in await storage.open_items("wish")] == [wish.ref]


async def test_all_items_filters_by_kind_status_and_time(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.save_question(1, 1, "old")
    clock.advance(days=1)
    since = clock()
    new_question = await storage.save_question(1, 1, "new")
    clock.advance(seconds=1)
    new_wish = await storage.save_wish(1, 1, "new wish")
    await storage.set_status(new_wish.ref, "declined", note="超出范围")

    assert [i.ref for i in await storage.all_items(since=since)] == ["W0001", "Q0002"]
    assert [i.ref for i in await storage.all_items(since=since, oldest_first=True)] == [
        new_question.ref,
        new_wish.ref,
    ]
    assert [i.ref for i in await storage.all_items(kind="question")] == ["Q0002", "Q0001"]
    assert [i.ref for i in await storage.all_items(status="declined")] == ["W0001"]
    assert [i.ref for i in await storage.all_items(limit=1)] == ["W0001"]
    with pytest.raises(ValueError, match="unknown status 'finished'"):
        await storage.all_items(status="finished")


async def test_stats_count_only_the_window(storage: Storage, clock: FakeClock) -> None:
    await storage.record_event("answer", 1, "canteen.hours")  # before the window
    clock.advance(days=1)
    start = clock()
    for kind, user, entry in [
        ("answer", 1, "canteen.hours"),
        ("answer", 2, "canteen.hours"),
        ("suggest", 2, None),
        ("suggestion_click", 2, "hours.open"),
        ("none", 3, None),
        ("none", 3, None),
    ]:
        await storage.record_event(kind, user, entry)
    await storage.record_feedback(1, "canteen.hours", "食堂几点", helpful=True)
    await storage.record_feedback(2, "canteen.hours", "饭堂", helpful=False)
    first = await storage.save_question(3, 3, "能带宠物吗")
    second = await storage.save_question(3, 3, "几钿")
    await storage.save_wish(3, 3, "w")
    clock.advance(minutes=10)
    await storage.add_staff_reply(first.ref, 900, "不行")
    clock.advance(minutes=20)
    await storage.add_staff_reply(second.ref, 900, "免费")
    await storage.add_staff_reply(second.ref, 900, "真的免费")  # only the first reply counts
    end = clock() + timedelta(seconds=1)

    stats = await storage.stats(start, end)
    assert stats.questions_received == 5
    assert (stats.answered_by_bot, stats.suggested, stats.not_understood) == (2, 1, 2)
    assert stats.suggestion_clicks == 1
    assert (stats.saved_for_staff, stats.wishes, stats.answered_by_staff) == (2, 1, 2)
    assert sorted(stats.reply_seconds) == [600, 1800]
    assert stats.median_reply_seconds == 1200
    assert (stats.helpful, stats.not_helpful, stats.residents) == (1, 1, 3)
    assert stats.top_entries == [("canteen.hours", 2), ("hours.open", 1)]
    assert (await storage.event_counts())["answer"] == 3
    assert (await storage.stats(end=start)).questions_received == 1


# --- privacy and retention --------------------------------------------------------------------


async def fill_for(storage: Storage, user_id: int) -> None:
    """Everything one resident can leave behind."""
    await storage.touch_resident(user_id, display_name=f"resident {user_id}")
    question = await storage.save_question(user_id, user_id, "question")
    wish = await storage.save_wish(user_id, user_id, "wish")
    await storage.add_staff_reply(question.ref, 900, "reply")
    await storage.set_status(wish.ref, "accepted")
    await storage.link_staff_message(question.ref, -100, user_id * 10)
    await storage.record_feedback(user_id, "canteen.hours", "q", helpful=True)
    await storage.record_event("none", user_id)


async def test_forget_removes_that_resident_and_nobody_else(
    storage: Storage, database: str | Path
) -> None:
    await fill_for(storage, 1)
    await fill_for(storage, 2)

    assert await storage.forget(1) == 5  # resident, question, wish, feedback, event

    assert await storage.get_resident(1) is None
    assert await storage.items_of(1) == []
    for table in ("residents", "questions", "wishes", "feedback", "events"):
        assert count(database, table, "user_id = 1") == 0
        assert count(database, table, "user_id = 2") == 1
    # children of the deleted items went with them; the other resident's stayed
    left = {table: count(database, table) for table in ("staff_replies", "status_history")}
    assert left == {"staff_replies": 1, "status_history": 2}  # answered + accepted
    assert count(database, "staff_messages") == 1
    assert await storage.ref_for_staff_message(-100, 10) is None
    assert await storage.ref_for_staff_message(-100, 20) is not None


async def test_purge_removes_only_old_finished_items(
    storage: Storage, clock: FakeClock, database: str | Path
) -> None:
    old_open = await storage.save_question(1, 1, "still waiting")
    old_done = await storage.save_wish(1, 1, "done long ago")
    await storage.set_status(old_done.ref, "done")
    await storage.link_staff_message(old_done.ref, -100, 1)
    await storage.record_event("none", 1)
    clock.advance(days=40)
    recent_done = await storage.save_question(1, 1, "resolved yesterday")
    await storage.set_status(recent_done.ref, "resolved")
    clock.advance(days=1)

    removed = await storage.purge_closed_older_than(30)

    assert removed["wishes"] == 1 and removed["questions"] == 0 and removed["events"] == 1
    assert await storage.get_item(old_done.ref) is None
    assert await storage.get_item(old_open.ref) is not None
    assert await storage.get_item(recent_done.ref) is not None
    assert count(database, "status_history", "wish_id IS NOT NULL") == 0
    assert count(database, "staff_messages") == 0
    # a purged number is never reused
    assert (await storage.save_wish(1, 1, "new")).ref == "W0002"


async def test_forgotten_text_is_in_neither_the_database_nor_its_log_while_open(
    sqlite_storage: Storage, db_path: Path
) -> None:
    storage = sqlite_storage
    secret = "我家住在幸福小区7号楼302室电话13812345678"
    question = await storage.save_question(1, 1, secret)
    await storage.add_staff_reply(question.ref, 42, "回复" + secret)
    await storage.record_feedback(1, "canteen.hours", secret, helpful=False)
    await storage.save_wish(2, 2, "别人的心愿")
    needle = secret.encode("utf-8")
    wal = Path(f"{db_path}-wal")
    assert needle in db_path.read_bytes() + wal.read_bytes()  # the test can see it at all

    await storage.forget(1)

    # the bot is still running (connection open): nothing of it left in either file
    assert needle not in db_path.read_bytes()
    assert not wal.exists() or needle not in wal.read_bytes()
    assert [item.text for item in await storage.all_items()] == ["别人的心愿"]


async def test_secure_delete_is_on_whatever_sqlite_was_built_with(sqlite_storage: Storage) -> None:
    storage = sqlite_storage
    async with storage._using("read the pragma") as db:
        assert (await db.execute_fetchall("PRAGMA secure_delete"))[0][0] == 1


async def test_database_and_its_log_files_are_owner_only(db_path: Path) -> None:
    """0600 even for a process with a lax umask (root in CI included: the mode is checked,
    not access)."""
    old_umask = os.umask(0o022)
    try:
        async with Storage.open(db_path) as storage:
            await storage.save_question(1, 1, "text")
            files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
            assert [stat.S_IMODE(file.stat().st_mode) for file in files] == [0o600] * 3
    finally:
        os.umask(old_umask)


async def test_an_existing_readable_database_is_tightened_at_open(db_path: Path) -> None:
    async with Storage.open(db_path) as storage:
        await storage.save_question(1, 1, "text")
    db_path.chmod(0o644)
    async with Storage.open(db_path) as storage:
        await storage.save_question(1, 1, "more")
        for file in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


async def test_events_and_feedback_follow_the_retention_period(
    storage: Storage, clock: FakeClock, database: str | Path
) -> None:
    await storage.record_event("answer", 1, "canteen.hours")
    await storage.record_feedback(1, "canteen.hours", "食堂几点开门", helpful=True)
    clock.advance(days=20)
    await storage.record_event("answer", 2, "canteen.hours")
    clock.advance(days=20)

    removed = await storage.purge_closed_older_than(30)

    assert (removed["events"], removed["feedback"]) == (1, 1)
    assert raw_rows(database, "SELECT user_id FROM events") == [(2,)]


# --- concurrency and failures -----------------------------------------------------------------


async def test_ten_thousand_concurrent_saves_are_all_kept_with_unique_refs(
    storage: Storage, database: str | Path
) -> None:
    async def resident(user_id: int) -> list[str]:
        refs = []
        for n in range(10):
            item = await storage.save_question(
                user_id, user_id, f"{user_id}-{n}", update_id=user_id * 100 + n
            )
            refs.append(item.ref)
        return refs

    refs = [ref for batch in await asyncio.gather(*map(resident, range(1000))) for ref in batch]

    assert len(refs) == len(set(refs)) == 10_000
    assert count(database, "questions") == 10_000
    saved = {item.text for item in await storage.all_items(kind="question")}
    assert saved == {f"{u}-{n}" for u in range(1000) for n in range(10)}


async def test_concurrent_status_changes_do_not_mix_transactions(storage: Storage) -> None:
    wishes = [await storage.save_wish(u, u, f"w{u}") for u in range(50)]
    await asyncio.gather(
        *(storage.set_status(w.ref, "accepted", note=w.text) for w in wishes),
        *(storage.save_question(u, u, "q") for u in range(50)),
    )
    for wish in wishes:
        assert (await storage.get_item(wish.ref)).history[0][:2] == ("accepted", wish.text)
    assert len(await storage.all_items(kind="question")) == 50


async def test_locked_database_raises_storage_error(db_path: Path) -> None:
    async with Storage.open(db_path, busy_timeout=0.05) as storage:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # e.g. a stuck staff command holding the write lock
        try:
            with pytest.raises(StorageError, match=r"could not save the question: .*locked"):
                await storage.save_question(1, 1, "lost?")
            with pytest.raises(StorageError, match="could not change the status"):
                await storage.set_status("W1", "done")
            # a whole batch of concurrent saves fails together, after one timeout, not one each
            started = asyncio.get_running_loop().time()
            outcomes = await asyncio.gather(
                *(storage.save_wish(u, u, "w") for u in range(30)), return_exceptions=True
            )
            assert all(isinstance(outcome, StorageError) for outcome in outcomes)
            assert asyncio.get_running_loop().time() - started < 1
        finally:
            other.execute("ROLLBACK")
            other.close()
        # the connection is usable again once the lock is gone
        assert (await storage.save_question(1, 1, "saved")).ref == "Q0001"


async def test_failed_write_raises_storage_error_and_rolls_back(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await storage.save_question(1, 1, "q")
    # what units of work write through, on each backend
    writer = _InThread if storage.backend == "sqlite" else pg.Connection
    real_execute = writer.execute

    async def failing_execute(self: _InThread, sql: str, *args: object):
        if sql.startswith("INSERT INTO status_history"):
            raise sqlite3.OperationalError("disk I/O error")
        return await real_execute(self, sql, *args)

    monkeypatch.setattr(writer, "execute", failing_execute)
    with pytest.raises(StorageError, match="could not save the reply to Q1: disk I/O error"):
        await storage.add_staff_reply("Q1", 900, "reply")
    monkeypatch.undo()

    item = await storage.get_item("Q1")
    assert item.status == "open" and item.replies == []  # nothing half-saved

    async def failing_fetch(*args: object):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(writer, "execute_fetchall", failing_fetch)
    with pytest.raises(StorageError, match="could not save the wish: database or disk is full"):
        await storage.save_wish(1, 1, "w")


async def test_one_bad_save_does_not_sink_the_others(storage: Storage) -> None:
    good = [storage.save_question(u, u, f"q{u}") for u in range(20)]
    bad = storage.save_question(None, 99, "q")  # type: ignore[arg-type]  # NOT NULL column
    outcomes = await asyncio.gather(*good, bad, return_exceptions=True)

    assert isinstance(outcomes[-1], StorageError)
    assert "not null" in str(outcomes[-1]).lower().replace("-", " ")
    assert sorted(item.text for item in outcomes[:-1]) == sorted(f"q{u}" for u in range(20))
    assert len(await storage.all_items()) == 20
