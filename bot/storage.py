"""Storage for residents, unanswered questions, wishes, staff replies and stats events.

By default one SQLite file opened through aiosqlite; with a postgresql:// URL, a PostgreSQL
database shared by several worker processes (bot/pg.py translates the SQL). The schema is
built and upgraded by the numbered migrations in MIGRATIONS on either, so an old database
upgrades itself when the bot starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import re
import secrets
import socket
import sqlite3
import statistics
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiosqlite

from bot.pooling import pooling_key

KINDS = ("question", "wish")
STATUSES = {
    "question": ("open", "answered", "resolved", "closed"),
    "wish": ("open", "accepted", "in_progress", "done", "declined"),
}
# statuses that still need staff attention (open_items) and finished ones (retention)
ACTIVE_STATUSES = {"question": ("open",), "wish": ("open", "accepted", "in_progress")}
FINISHED_STATUSES = {"question": ("answered", "resolved", "closed"), "wish": ("done", "declined")}
# event kinds the core records; stats read these
EVENT_KINDS = ("answer", "suggest", "none", "suggestion_click", "wish")
# what the bot did with a saved question, as the web console filters it (inbox_page)
OUTCOMES = ("answer", "suggest", "none", "thumbs_down")
SEARCH_COUNT_CAP = 1000  # an inbox search counts this many matches at most ("1000+")
PREFIXES = {"question": "Q", "wish": "W"}
_KIND_OF_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}
_TABLES = {"question": "questions", "wish": "wishes"}
_ITEM_COLUMNS = {"question": "question_id", "wish": "wish_id"}
_REF_NOISE = re.compile(r"[\s\-_#.:：]+")
_REF_SHAPE = re.compile(r"([QW])0*(\d{1,12})")
# Telegram redelivers an update for a day at most; a week of handled ids is plenty
HANDLED_KEPT_DAYS = 7  # handled incoming and sent outgoing messages, whatever the retention
_OUTBOX_CLAIMS = 0x57A7_0B0C  # advisory lock: one worker at a time claims outgoing rows
_IN_CHUNK = 500  # ids per "IN (...)" query; well under SQLite's variable limit
# the best stored candidate's score of a question (the console filters by what the bot did)
_TOP_SCORE = "COALESCE(json_extract(candidates, '$[0][1]'), 0)"
# questions whose resident said 👎 to the bot's answer (the web console's inbox filter)
_THUMBS_DOWN_IDS = (
    "SELECT q2.id FROM feedback f JOIN questions q2"
    " ON q2.user_id = f.user_id AND q2.text = f.question WHERE f.helpful = 0"
)

Clock = Callable[[], datetime]
T = TypeVar("T")


class StorageError(Exception):
    """A database operation failed; str() says what was attempted and why."""


@dataclass
class Resident:
    """A resident as stored: `user_id` is the internal id; (channel, external_id) is who they
    are on their channel (a Telegram user id, a WeChat openid)."""

    user_id: int
    language: str | None  # chosen with /language (None: not chosen)
    display_name: str | None
    first_seen: str
    last_seen: str
    channel: str = "telegram"
    external_id: str = ""
    last_language: str | None = None  # of the last reply, for messages with no words
    awaiting_wish_at: str | None = None  # when the wish prompt was shown (None: not waiting)
    station_id: str | None = None  # their home station in a district (None: not chosen)


_RESIDENT_COLUMNS = (
    "user_id, language, display_name, first_seen, last_seen, channel, external_id,"
    " last_language, awaiting_wish_at, station_id"
)


class PoolingRow(NamedTuple):
    """An item as pooling sees it (bot.pooling.pool_items); sorts chronologically."""

    created_at: str
    kind: str
    id: int
    ref: str
    text: str
    status: str
    user_id: int
    pool_key: str | None


@dataclass
class StaffReply:
    text: str
    staff_id: int | None
    created_at: str
    actor: str | None = None  # who replied, as shown to staff ("web:wang", "telegram:12345")


class Change(NamedTuple):
    """One entry of an item's status history."""

    status: str
    note: str
    at: str
    actor: str | None = None


@dataclass
class Item:
    """A saved question or wish, with its staff replies and status history."""

    ref: str  # "Q0012" / "W0007"
    kind: str  # "question" | "wish"
    text: str
    status: str
    user_id: int
    chat_id: int
    created_at: str  # ISO 8601 UTC, e.g. "2026-11-28T23:50:01Z"
    updated_at: str = ""
    candidates: list[tuple[str, float]] = field(default_factory=list)
    replies: list[StaffReply] = field(default_factory=list)
    history: list[Change] = field(default_factory=list)
    display_name: str | None = None
    channel: str = "telegram"  # where the resident asked, and where replies go
    address: str = ""  # the chat there (Telegram chat id, WeChat openid)
    flag: str | None = None  # "fraud": the resident described a fraud attempt
    station_id: str | None = None  # the station it was saved for (None: one station, or
    # a resident of a district who had not chosen theirs: district staff see it)

    @property
    def id(self) -> int:
        return int(self.ref[1:])


@dataclass
class Stats:
    """What happened between start (inclusive) and end (exclusive); None means unbounded."""

    start: str | None
    end: str | None
    questions_received: int  # answer + suggest + none events
    answered_by_bot: int  # "answer" events
    suggested: int  # "suggest" events
    not_understood: int  # "none" events
    suggestion_clicks: int
    saved_for_staff: int  # questions saved in the window
    wishes: int  # wishes saved in the window
    answered_by_staff: int  # questions whose first staff reply falls in the window
    reply_seconds: list[int]  # question saved -> first staff reply, for those
    helpful: int  # 👍 feedback
    not_helpful: int  # 👎 feedback
    residents: int  # distinct residents with any event
    top_entries: list[tuple[str, int]]  # most answered / clicked entry ids

    @property
    def median_reply_seconds(self) -> float | None:
        return statistics.median(self.reply_seconds) if self.reply_seconds else None


@dataclass
class StaffAccount:
    """A staff member's web console account."""

    id: int
    name: str
    created_at: str
    station_id: str | None = None  # the station whose items it sees (None: every station)


@dataclass
class WebSession:
    """A signed-in web console session: whose, its CSRF token, until when."""

    account_id: int
    name: str
    csrf: str
    expires_at: str
    station_id: str | None = None  # the account's station (None: the whole district)


@dataclass
class FeedbackRow:
    """A resident's 👎 on an answer of the bot."""

    id: int
    user_id: int
    entry_id: str
    question: str
    created_at: str


@dataclass
class InboxPage:
    """One page of the console's inbox, what the bot did with each question, the total."""

    items: list[Item]
    outcomes: dict[str, str]  # ref -> "answer" | "suggest" | "none" | "thumbs_down"
    total: int
    capped: bool = False  # a search found more than `total` (SEARCH_COUNT_CAP); not counted


# ---------------------------------------------------------------------------------------------
# migrations: append new functions at the end; never edit or reorder applied ones


async def m001_create_tables(db: aiosqlite.Connection) -> None:
    """Residents, questions, wishes, staff replies, status history and seen update ids."""
    await db.execute(
        """CREATE TABLE residents (
            user_id INTEGER PRIMARY KEY,
            language TEXT,
            display_name TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL)"""
    )
    for table, extra in (("questions", "candidates TEXT NOT NULL DEFAULT '[]',"), ("wishes", "")):
        # AUTOINCREMENT so a purged item's reference number is never handed out again
        await db.execute(
            f"""CREATE TABLE {table} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL,
                chat_id INTEGER NOT NULL,
                text TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'open',
                {extra}
                update_id INTEGER UNIQUE,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL)"""
        )
        await db.execute(f"CREATE INDEX {table}_user ON {table}(user_id)")
        await db.execute(f"CREATE INDEX {table}_status ON {table}(status, created_at)")
        await db.execute(f"CREATE INDEX {table}_created ON {table}(created_at)")
    # replies and history belong to exactly one question or one wish
    owner = """question_id INTEGER REFERENCES questions(id) ON DELETE CASCADE,
            wish_id INTEGER REFERENCES wishes(id) ON DELETE CASCADE"""
    one_owner = "CHECK ((question_id IS NULL) <> (wish_id IS NULL))"
    await db.execute(
        f"""CREATE TABLE staff_replies (
            id INTEGER PRIMARY KEY,
            {owner},
            staff_id INTEGER,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL,
            {one_owner})"""
    )
    await db.execute(
        f"""CREATE TABLE status_history (
            id INTEGER PRIMARY KEY,
            {owner},
            status TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            staff_id INTEGER,
            at TEXT NOT NULL,
            {one_owner})"""
    )
    for table in ("staff_replies", "status_history"):
        await db.execute(f"CREATE INDEX {table}_question ON {table}(question_id)")
        await db.execute(f"CREATE INDEX {table}_wish ON {table}(wish_id)")
    await db.execute(
        "CREATE TABLE processed_updates (update_id INTEGER PRIMARY KEY, seen_at TEXT NOT NULL)"
    )


async def m002_feedback_and_events(db: aiosqlite.Connection) -> None:
    """👍/👎 on answers and one row per decision, for /stats."""
    await db.execute(
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            entry_id TEXT NOT NULL,
            question TEXT NOT NULL DEFAULT '',
            helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
            created_at TEXT NOT NULL)"""
    )
    await db.execute("CREATE INDEX feedback_created ON feedback(created_at)")
    await db.execute("CREATE INDEX feedback_user ON feedback(user_id)")
    await db.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            user_id INTEGER NOT NULL,
            entry_id TEXT,
            at TEXT NOT NULL)"""
    )
    await db.execute("CREATE INDEX events_at ON events(at)")
    await db.execute("CREATE INDEX events_user ON events(user_id)")


async def m003_staff_messages(db: aiosqlite.Connection) -> None:
    """Which staff notification is about which item, so a Telegram reply finds it."""
    await db.execute(
        """CREATE TABLE staff_messages (
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            question_id INTEGER REFERENCES questions(id) ON DELETE CASCADE,
            wish_id INTEGER REFERENCES wishes(id) ON DELETE CASCADE,
            PRIMARY KEY (chat_id, message_id),
            CHECK ((question_id IS NULL) <> (wish_id IS NULL)))"""
    )
    await db.execute("CREATE INDEX staff_messages_question ON staff_messages(question_id)")
    await db.execute("CREATE INDEX staff_messages_wish ON staff_messages(wish_id)")


async def m004_channels_inbox_outbox(db: aiosqlite.Connection) -> None:
    """Residents keyed by (channel, id on that channel); the durable inbox and outbox; button
    state and the wish prompt in the database instead of process memory; who did what."""
    for column in (
        "channel TEXT NOT NULL DEFAULT 'telegram'",
        "external_id TEXT",
        "last_language TEXT",
        "awaiting_wish_at TEXT",
    ):
        await db.execute(f"ALTER TABLE residents ADD COLUMN {column}")
    # existing residents are Telegram users whose internal id was their Telegram id
    await db.execute("UPDATE residents SET external_id = CAST(user_id AS TEXT)")
    await db.execute("CREATE UNIQUE INDEX residents_channel ON residents(channel, external_id)")
    for table in ("questions", "wishes"):
        await db.execute(f"ALTER TABLE {table} ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram'")
        await db.execute(f"ALTER TABLE {table} ADD COLUMN address TEXT")
        await db.execute(f"UPDATE {table} SET address = CAST(chat_id AS TEXT)")
    await db.execute("ALTER TABLE questions ADD COLUMN flag TEXT")
    for table in ("staff_replies", "status_history"):
        await db.execute(f"ALTER TABLE {table} ADD COLUMN actor TEXT")
    await db.execute(
        """CREATE TABLE inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel TEXT NOT NULL,
            external_id TEXT NOT NULL,
            resident_key TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            received_at TEXT NOT NULL,
            handled_at TEXT,
            UNIQUE (channel, external_id))"""
    )
    await db.execute("CREATE INDEX inbox_pending ON inbox(status, id)")
    await db.execute(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before TEXT,
            error TEXT,
            inbox_id INTEGER,
            created_at TEXT NOT NULL,
            sent_at TEXT)"""
    )
    await db.execute("CREATE INDEX outbox_pending ON outbox(status, id)")
    await db.execute("CREATE INDEX outbox_inbox ON outbox(inbox_id)")
    await db.execute(
        """CREATE TABLE pending (
            token TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL,
            question TEXT NOT NULL,
            suggestions TEXT NOT NULL DEFAULT '[]',
            candidates TEXT NOT NULL DEFAULT '[]',
            entry_id TEXT,
            saved_ref TEXT,
            created_at TEXT NOT NULL)"""
    )
    await db.execute("CREATE INDEX pending_user ON pending(user_id, created_at)")
    await db.execute("CREATE INDEX pending_created ON pending(created_at)")
    await db.execute("DROP TABLE processed_updates")  # the inbox keeps incoming ids now


async def m005_web_console(db: aiosqlite.Connection) -> None:
    """The staff web console: accounts, server-side sessions, failed sign-ins (rate limit)
    and 👎 answers already reviewed. (Who did what is m004's actor on replies and history.)"""
    # COLLATE NOCASE: "Wang" and "wang" are one account
    await db.execute(
        """CREATE TABLE staff_accounts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL)"""
    )
    # only a hash of the session token is stored: a copied database opens no session
    await db.execute(
        """CREATE TABLE web_sessions (
            token_hash TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES staff_accounts(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL)"""
    )
    await db.execute("CREATE INDEX web_sessions_account ON web_sessions(account_id)")
    await db.execute("CREATE TABLE login_failures (key TEXT NOT NULL, at TEXT NOT NULL)")
    await db.execute("CREATE INDEX login_failures_key ON login_failures(key, at)")
    await db.execute(
        """CREATE TABLE feedback_reviewed (
            feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
            outcome TEXT NOT NULL,
            actor_name TEXT NOT NULL,
            at TEXT NOT NULL)"""
    )
    # the review page reads 👎 answers by time; the inbox's 👎 filter finds them by resident
    await db.execute("CREATE INDEX feedback_unhelpful ON feedback(helpful, created_at)")
    await db.execute("CREATE INDEX feedback_user_question ON feedback(user_id, question)")
    # the inbox's filter by what the bot did: the best stored score of the open questions.
    # Partial, and without status as a column: an index on (status, score) made SQLite read
    # every open question for the core's "open questions of this resident" (150 ms, not 0.1)
    await db.execute(
        f"CREATE INDEX questions_open_score ON questions({_TOP_SCORE}) WHERE status = 'open'"
    )


async def m006_channel_choices(db: aiosqlite.Connection) -> None:
    """The choices a channel without buttons (WeChat) last offered each resident as a
    numbered list, so that replying "2" presses the second."""
    await db.execute(
        """CREATE TABLE choices (
            resident_key TEXT PRIMARY KEY,
            choices TEXT NOT NULL,
            created_at TEXT NOT NULL)"""
    )


async def m007_pooling_keys(db: aiosqlite.Connection) -> None:
    """Each question's and wish's pooling key (bot.pooling), made once when it is saved, so
    that pooling 100,000 of them after a restart does not normalise every text again."""
    for table in _TABLES.values():
        await db.execute(f"ALTER TABLE {table} ADD COLUMN pool_key TEXT")
        rows = await db.execute_fetchall(f"SELECT id, text FROM {table}")
        keys = {text: pooling_key(text) for text in {text for _, text in rows}}
        await db.executemany(
            f"UPDATE {table} SET pool_key = ? WHERE id = ?",
            [(keys[text], item_id) for item_id, text in rows],
        )


async def m008_stations(db: aiosqlite.Connection) -> None:
    """Several stations in one deployment: a resident's home station, the station each
    question and wish was saved for, and the station a web account is limited to (NULL: not
    chosen / saved before / the whole district)."""
    for table in ("residents", *_TABLES.values(), "staff_accounts"):
        await db.execute(f"ALTER TABLE {table} ADD COLUMN station_id TEXT")
    for table in _TABLES.values():
        await db.execute(f"CREATE INDEX {table}_station ON {table}(station_id, status)")


async def m009_worker_leases(db: aiosqlite.Connection) -> None:
    """Several worker processes on one PostgreSQL database: which worker holds an incoming or
    outgoing message since when, and each worker's last heartbeat with its backlog. A claim
    holds while its worker's heartbeat is recent (a lease: a killed worker's rows go to the
    others once it runs out); the backlog is for operators (`SELECT * FROM workers`)."""
    for table in ("inbox", "outbox"):
        await db.execute(f"ALTER TABLE {table} ADD COLUMN claimed_by TEXT")
        await db.execute(f"ALTER TABLE {table} ADD COLUMN claimed_at TEXT")
    await db.execute("CREATE INDEX inbox_resident ON inbox(resident_key, status, id)")
    await db.execute(
        """CREATE TABLE workers (
            name TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL,
            backlog INTEGER NOT NULL DEFAULT 0)"""
    )


async def m010_send_schedule(db: aiosqlite.Connection) -> None:
    """Several workers on one PostgreSQL database: the next free send time of each channel
    whose limit they share (Telegram's 30 messages a second), reserved a few at a time."""
    await db.execute(
        """CREATE TABLE send_schedule (
            channel TEXT PRIMARY KEY,
            next_at DOUBLE PRECISION NOT NULL)"""
    )


Migration = Callable[[aiosqlite.Connection], Awaitable[None]]
MIGRATIONS: list[Migration] = [
    m001_create_tables,
    m002_feedback_and_events,
    m003_staff_messages,
    m004_channels_inbox_outbox,
    m005_web_console,
    m006_channel_choices,
    m007_pooling_keys,
    m008_stations,
    m009_worker_leases,
    m010_send_schedule,
]


async def apply_migrations(
    db: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS, *, at: str = ""
) -> list[str]:
    """Applies the migrations not yet recorded in `migrations`, each in its own transaction.

    Returns the names applied now. `db` must be in autocommit mode (isolation_level=None).
    """
    await db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in await db.execute_fetchall("SELECT name FROM migrations")}
    applied = []
    for migration in migrations:
        if migration.__name__ in done:
            continue
        # IMMEDIATE: a second process starting at the same time waits instead of migrating twice
        await db.execute("BEGIN IMMEDIATE")
        try:
            recorded = await db.execute_fetchall(
                "SELECT 1 FROM migrations WHERE name = ?", (migration.__name__,)
            )
            if not recorded:
                await migration(db)
                await db.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                    (migration.__name__, at or _iso(datetime.now(UTC))),
                )
                applied.append(migration.__name__)
            await db.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
            raise
    return applied


# ---------------------------------------------------------------------------------------------
# references and time


def format_ref(kind: str, item_id: int) -> str:
    """("question", 12) -> "Q0012"."""
    return f"{PREFIXES[kind]}{item_id:04d}"


def parse_ref(ref: str) -> tuple[str, int] | None:
    """Reads a reference leniently ("q12", "Q-0012", "Ｑ１２") -> ("question", 12); else None."""
    text = _REF_NOISE.sub("", unicodedata.normalize("NFKC", str(ref))).upper()
    found = _REF_SHAPE.fullmatch(text)
    if not found or int(found[2]) == 0:
        return None
    return _KIND_OF_PREFIX[found[1]], int(found[2])


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # naive datetimes are taken as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bound(moment: datetime | str | None) -> str | None:
    if moment is None or isinstance(moment, str):
        return moment
    return _iso(moment)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from storage, as an aware UTC datetime (naive means UTC)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")


def _check_statuses(kind: str | None, status: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if status is None:
        return None
    wanted = (status,) if isinstance(status, str) else tuple(status)
    allowed = (
        STATUSES[kind] if kind else tuple(dict.fromkeys(s for k in KINDS for s in STATUSES[k]))
    )
    for name in wanted:
        if name not in allowed:
            raise ValueError(f"unknown status {name!r}; expected one of: {', '.join(allowed)}")
    return wanted


# ---------------------------------------------------------------------------------------------


@dataclass
class _NewItem:
    """A question or wish about to be inserted."""

    kind: str
    user_id: int
    chat_id: int
    text: str
    update_id: int | None
    candidates: list[list[Any]] | None
    at: str
    channel: str = "telegram"
    address: str = ""
    flag: str | None = None
    station_id: str | None = None

    def statement(self) -> tuple[str, list[Any]]:
        """The INSERT for this item. NOT EXISTS skips a redelivered update before it uses up an
        id; ON CONFLICT covers another process inserting the same update in between."""
        table = _TABLES[self.kind]
        columns = (
            "user_id, chat_id, text, update_id, created_at, updated_at, channel, address,"
            " pool_key, station_id"
        )
        values: list[Any] = [
            self.user_id,
            self.chat_id,
            self.text,
            self.update_id,
            self.at,
            self.at,
            self.channel,
            self.address or str(self.chat_id),
            pooling_key(self.text),
            self.station_id,
        ]
        if self.candidates is not None:
            columns += ", candidates, flag"
            values += [json.dumps(self.candidates, ensure_ascii=False), self.flag]
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT {', '.join('?' * len(values))}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE update_id = ?)"
            " ON CONFLICT (update_id) DO NOTHING RETURNING id,"
            f" (SELECT display_name FROM residents r WHERE r.user_id = {table}.user_id)"
        )
        return sql, [*values, self.update_id]

    def item(self, item_id: int, display_name: str | None) -> Item:
        return Item(
            ref=format_ref(self.kind, item_id),
            kind=self.kind,
            text=self.text,
            status="open",
            user_id=self.user_id,
            chat_id=self.chat_id,
            created_at=self.at,
            updated_at=self.at,
            candidates=[(entry_id, score) for entry_id, score in self.candidates or []],
            display_name=display_name,
            channel=self.channel,
            address=self.address or str(self.chat_id),
            flag=self.flag,
            station_id=self.station_id,
        )


@dataclass
class _PendingWrite:
    """One unit of work waiting for the next group commit, and its caller's future."""

    action: str  # for the error message: "could not <action>: <why>"
    work: Callable[[aiosqlite.Connection], Awaitable[Any]]
    done: asyncio.Future[Any]

    def fail(self, error: BaseException) -> None:
        if self.done.done():  # the caller gave up (cancelled)
            return
        if isinstance(error, sqlite3.Error):
            failure = StorageError(f"could not {self.action}: {error}")
            failure.__cause__ = error
            error = failure
        elif not isinstance(error, Exception):  # the writer itself was cancelled
            error = StorageError(f"could not {self.action}: interrupted")
        self.done.set_exception(error)


@dataclass(frozen=True)
class InboxRow:
    """An incoming message as received: handled once, in order per resident."""

    id: int
    channel: str
    external_id: str
    resident_key: str
    payload: str


@dataclass(frozen=True)
class OutboxRow:
    """A message waiting to be delivered (payload: the channel-neutral message as JSON)."""

    id: int
    channel: str
    address: str
    kind: str
    payload: str
    attempts: int
    not_before: str | None


@dataclass
class PendingQuestion:
    """A question behind buttons (suggestions, 👍/👎, "pass to staff"): the button carries only
    its token."""

    token: str
    user_id: int
    question: str
    suggestions: list[str]
    candidates: list[tuple[str, float]]
    created_at: str
    entry_id: str | None = None  # the answer shown for it, if any
    saved_ref: str | None = None  # set once it was passed to staff


class _Opening:
    """What Storage.open returns: await it, or use it directly in `async with`."""

    def __init__(self, opener: Callable[[], Awaitable[Storage]]) -> None:
        self._opener = opener
        self._storage: Storage | None = None

    def __await__(self) -> Generator[Any, None, Storage]:
        return self._opener().__await__()

    async def __aenter__(self) -> Storage:
        self._storage = await self._opener()
        return self._storage

    async def __aexit__(self, *exc_info: object) -> None:
        if self._storage is not None:
            await self._storage.close()


class Storage:
    """All reads and writes of the bot's database, as named async methods.

    SQLite: one connection; an asyncio lock gives each operation the connection to itself, so
    a transaction of one task never swallows statements of another. PostgreSQL: a pool, each
    read on a connection of its own. Units of work from many tasks are batched into one
    commit (_unit) on both; every method that writes returns only once its data is
    committed, and raises StorageError if it could not be.
    """

    def __init__(self, db: aiosqlite.Connection | None, *, now: Clock, pool: Any = None) -> None:
        self._db = db  # SQLite: the one connection; None on PostgreSQL
        self._pool = pool  # PostgreSQL: a psycopg_pool.AsyncConnectionPool
        self._now = now
        # who this process is among the workers sharing a PostgreSQL database
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._lock = asyncio.Lock()
        self._pending: list[_PendingWrite] = []  # writes waiting for the next group commit
        self._flushes: set[asyncio.Task[None]] = set()
        self._queued = False  # a message was queued in the batch being written
        self._queue_listeners: list[Callable[[], None]] = []

    def on_queued(self, listener: Callable[[], None]) -> None:
        """Calls `listener` after every commit that queued an outgoing message (the sender)."""
        self._queue_listeners.append(listener)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        now: Clock | None = None,
        busy_timeout: float = 5.0,
        pool_size: int = 10,
    ) -> _Opening:
        """Opens (creating if needed) the database at `path`, in WAL mode, fully migrated;
        `path` may instead be a postgresql:// URL (a database several processes share).

        `now` is the clock for timestamps (tests inject one); `busy_timeout` is how many seconds
        a write waits for another process (e.g. a staff CLI command) before failing;
        `pool_size` is how many connections to PostgreSQL this process keeps at most.
        """
        clock = now or (lambda: datetime.now(UTC))
        if pg_url(path):
            return _Opening(lambda: cls._open_pg(str(path), clock, busy_timeout, pool_size))
        return _Opening(lambda: cls._open(path, clock, busy_timeout))

    @classmethod
    async def _open_pg(cls, url: str, now: Clock, busy_timeout: float, pool_size: int) -> Storage:
        from bot import pg  # psycopg is needed only by a station on PostgreSQL

        try:
            pool = await pg.open_pool(url, busy_timeout=busy_timeout, size=pool_size)
        except Exception as error:
            raise StorageError(f"could not open database {pg.safe(url)}: {error}") from error
        try:
            async with pool.connection() as connection:
                await pg.prepare(connection, lambda db: apply_migrations(db, at=_iso(now())))
        except Exception as error:  # sqlite3.Error as the PostgreSQL connection raises it
            await pool.close()
            raise StorageError(f"could not open database {pg.safe(url)}: {error}") from error
        return cls(None, now=now, pool=pool)

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return "postgresql" if self._pool is not None else "sqlite"

    @classmethod
    async def _open(cls, path: str | Path, now: Clock, busy_timeout: float) -> Storage:
        target = str(path)
        try:
            if target != ":memory:":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                _owner_only(Path(target))
                # probe first: when aiosqlite's own connect fails, its worker thread outlives
                # the call and can report into an event loop that is already closed
                await asyncio.to_thread(_probe, target)
            db = await aiosqlite.connect(target, timeout=busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StorageError(f"could not open database {target}: {error}") from error
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            await db.execute("PRAGMA journal_mode = WAL")
            # FULL: a saved question survives even a power cut; group commit (see _write)
            # keeps it fast when many residents write at once
            await db.execute("PRAGMA synchronous = FULL")
            await db.execute("PRAGMA foreign_keys = ON")
            # deleted rows are overwritten with zeros, whatever SQLite's compile-time default
            await db.execute("PRAGMA secure_delete = ON")
            await apply_migrations(db, at=_iso(now()))
        except sqlite3.Error as error:
            await db.close()
            raise StorageError(f"could not open database {target}: {error}") from error
        return cls(db, now=now)

    async def close(self) -> None:
        """Finishes queued writes, then closes the connection."""
        while self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        async with self._lock:
            if self._pool is not None:
                await self._pool.close()
            else:
                await self._db.close()

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _stamp(self) -> str:
        return _iso(self._now())

    @asynccontextmanager
    async def _using(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """Gives one operation the connection; a database error becomes a StorageError."""
        if self._pool is not None:  # PostgreSQL: a connection of the pool, no lock
            async with self._pg_connection(action) as db:
                try:
                    yield db
                except sqlite3.Error as error:
                    raise StorageError(f"could not {action}: {error}") from error
            return
        async with self._lock:
            try:
                yield self._db
            except sqlite3.Error as error:
                raise StorageError(f"could not {action}: {error}") from error

    @asynccontextmanager
    async def _transaction(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """Like _using, for several statements that must be committed together or not at all."""
        async with self._using(action) as db:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                raise

    # --- updates and residents ----------------------------------------------------------------

    # --- inbox: every incoming message, stored before the channel is told it arrived -------

    async def receive(self, rows: Sequence[tuple[str, str, str, str]]) -> list[InboxRow]:
        """Stores incoming messages (channel, external_id, resident_key, payload) in one commit;
        returns the rows new to the inbox (a redelivered message is there already)."""

        async def insert(db: aiosqlite.Connection) -> list[InboxRow]:
            fresh = []
            now = self._stamp()
            for channel, external_id, resident_key, payload in rows:
                found = await db.execute_fetchall(
                    "INSERT INTO inbox (channel, external_id, resident_key, payload, received_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, external_id) DO NOTHING"
                    " RETURNING id",
                    (channel, external_id, resident_key, payload, now),
                )
                if found:
                    fresh.append(InboxRow(found[0][0], channel, external_id, resident_key, payload))
            return fresh

        return await self._unit("store incoming messages", insert)

    async def unhandled(self) -> list[InboxRow]:
        """Incoming messages not yet handled (after a crash), oldest first."""
        async with self._using("read the inbox") as db:
            rows = await db.execute_fetchall(
                "SELECT id, channel, external_id, resident_key, payload FROM inbox"
                " WHERE status = 'pending' ORDER BY id"
            )
        return [InboxRow(*row) for row in rows]

    async def inbox_status(self, channel: str, external_id: str) -> str | None:
        """'pending', 'done', or None for a message never received."""
        async with self._using("read the inbox") as db:
            rows = await db.execute_fetchall(
                "SELECT status FROM inbox WHERE channel = ? AND external_id = ?",
                (channel, external_id),
            )
        return rows[0][0] if rows else None

    async def inbox_row(self, channel: str, external_id: str) -> tuple[int, str] | None:
        """(id, status) of a stored incoming message, or None for one never received."""
        async with self._using("read the inbox") as db:
            rows = await db.execute_fetchall(
                "SELECT id, status FROM inbox WHERE channel = ? AND external_id = ?",
                (channel, external_id),
            )
        return (rows[0][0], rows[0][1]) if rows else None

    async def finish(self, inbox_id: int) -> None:
        """Marks an incoming message handled (when its handling queued nothing itself)."""
        await self.transact("mark the message handled", lambda tx: tx.finish(inbox_id))

    # --- outbox: every message the bot sends, delivered by the sender ------------------------

    async def queue(self, channel: str, address: str, kind: str, payload: str) -> int:
        """Queues one message on its own (Tx.queue queues it with the change that causes it)."""
        return await self.transact(
            "queue a message", lambda tx: tx.queue(channel, address, kind, payload)
        )

    async def due_messages(self, after: int = 0, limit: int = 1000) -> list[OutboxRow]:
        """Messages waiting to be sent with an id above `after`, oldest first (those waiting
        for a retry time too). Ids only grow, so a reader that remembers the last id it saw
        reads each row once."""
        async with self._using("read the outbox") as db:
            rows = await db.execute_fetchall(
                "SELECT id, channel, address, kind, payload, attempts, not_before FROM outbox"
                " WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
        return [OutboxRow(*row) for row in rows]

    async def mark_sent(self, ids: Sequence[int]) -> None:
        """Records that these messages reached their channel."""
        await self.transact("mark messages sent", lambda tx: tx.mark_sent(ids))

    async def retry_later(self, ids: Sequence[int], not_before: datetime, error: str) -> None:
        """Puts messages back to wait until `not_before` (a 429, a network failure)."""
        marks = ", ".join("?" * len(ids))
        await self._write(
            "postpone messages",
            f"UPDATE outbox SET attempts = attempts + 1, not_before = ?, error = ?"
            f" WHERE id IN ({marks})",
            (_iso(not_before), error[:500], *ids),
        )

    async def give_up(self, ids: Sequence[int], error: str) -> None:
        """Marks messages that their channel refused for good (blocked bot, closed window)."""
        await self.transact("mark messages failed", lambda tx: tx.give_up(ids, error))

    async def outbox_counts(self) -> dict[str, int]:
        """Messages per status (pending, sent, failed)."""
        async with self._using("count the outbox") as db:
            rows = await db.execute_fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return dict(rows)

    # --- several workers on one PostgreSQL database (docs/scale.md) -----------------------------

    @property
    def shared(self) -> bool:
        """True when other worker processes may use the same database (PostgreSQL): incoming
        and outgoing rows are then claimed with a lease before they are handled or sent."""
        return self._pool is not None

    async def heartbeat(self, lease_seconds: float, backlog: int = 0) -> list[int]:
        """This worker is alive with `backlog` messages waiting to be sent (which renews the
        lease of every row it holds); forgets workers silent for long; returns the backlogs
        of the live workers (heard from within the lease), this one's first."""
        now = self._now()
        alive_since = _iso(now - timedelta(seconds=lease_seconds))
        async with self._transaction("record the heartbeat") as db:
            await db.execute(
                "INSERT INTO workers (name, seen_at, backlog) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at,"
                " backlog = excluded.backlog",
                (self.worker, _iso(now), backlog),
            )
            await db.execute(
                "DELETE FROM workers WHERE seen_at < ?",
                (_iso(now - timedelta(seconds=lease_seconds * 10)),),
            )
            others = await db.execute_fetchall(
                "SELECT backlog FROM workers WHERE seen_at >= ? AND name <> ?",
                (alive_since, self.worker),
            )
        return [backlog, *(row[0] for row in others)]

    async def leave(self) -> None:
        """This worker stops: its unfinished rows go to the others at once."""
        async with self._transaction("hand the leases back") as db:
            for table in ("inbox", "outbox"):
                await db.execute(
                    f"UPDATE {table} SET claimed_by = NULL, claimed_at = NULL"
                    " WHERE claimed_by = ? AND status = 'pending'",
                    (self.worker,),
                )
            await db.execute("DELETE FROM workers WHERE name = ?", (self.worker,))

    async def reserve_sends(self, channel: str, count: int, spacing: float) -> list[float]:
        """Reserves `count` send times `spacing` seconds apart on `channel`, after every time
        any worker reserved before; returns them as seconds from now (the database's clock,
        so workers' clocks need not agree). Holding the channel's row for one statement, not
        one per message sent, is what lets the workers share a limit exactly."""
        now = "EXTRACT(EPOCH FROM clock_timestamp())::float8"
        async with self._transaction("reserve send times") as db:
            await db.execute(
                "INSERT INTO send_schedule (channel, next_at) VALUES (?, 0)"
                " ON CONFLICT (channel) DO NOTHING",
                (channel,),
            )
            rows = await db.execute_fetchall(
                f"UPDATE send_schedule SET next_at = GREATEST(next_at, {now}) + ?"
                f" WHERE channel = ? RETURNING next_at - {now}",
                (count * spacing, channel),
            )
        end = float(rows[0][0])
        return [end - (count - slot) * spacing for slot in range(count)]

    async def claim_messages(self, lease_seconds: float, limit: int = 1000) -> list[OutboxRow]:
        """Outgoing messages for this worker to send, oldest first: the pending ones nobody
        holds (or whose holder's lease ran out), except where an earlier message to the same
        destination is held by another worker (order per destination). Claims are taken one
        worker at a time (a transaction-scoped advisory lock), so two never split a
        destination between them."""
        now = self._now()
        alive_since = _iso(now - timedelta(seconds=lease_seconds))
        live = "(SELECT name FROM workers WHERE seen_at >= ?)"
        async with self._transaction("claim outgoing messages") as db:
            await db.execute("SELECT pg_advisory_xact_lock(?)", (_OUTBOX_CLAIMS,))
            rows = await db.execute_fetchall(
                "UPDATE outbox SET claimed_by = ?, claimed_at = ? WHERE id IN ("
                " SELECT o.id FROM outbox o WHERE o.status = 'pending'"
                f" AND (o.claimed_by IS NULL OR o.claimed_by NOT IN {live})"
                " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.status = 'pending'"
                " AND p.channel = o.channel AND p.address = o.address AND p.id < o.id"
                f" AND p.claimed_by <> ? AND p.claimed_by IN {live})"
                # rows another transaction holds (a send being recorded) are skipped, not
                # waited for: waiting, each holding rows the other wants, was a deadlock
                " ORDER BY o.id LIMIT ? FOR UPDATE OF o SKIP LOCKED)"
                " RETURNING id, channel, address, kind, payload, attempts, not_before",
                (self.worker, _iso(now), alive_since, self.worker, alive_since, limit),
            )
        return sorted((OutboxRow(*row) for row in rows), key=lambda row: row.id)

    async def claim_incoming(self, row: InboxRow, lease_seconds: float) -> str:
        """Whether this worker may handle `row` now: "mine" (claimed), "later" (an earlier
        message of the same resident is not handled yet: order per resident) or "taken"
        (handled already, or held by another live worker)."""
        now = self._now()
        alive_since = _iso(now - timedelta(seconds=lease_seconds))
        async with self._transaction("claim an incoming message") as db:
            await db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (row.resident_key,))
            found = await db.execute_fetchall(
                "SELECT id, claimed_by IS NOT NULL AND claimed_by <> ? AND claimed_by IN"
                " (SELECT name FROM workers WHERE seen_at >= ?) FROM inbox"
                " WHERE resident_key = ? AND status = 'pending' AND id <= ? ORDER BY id",
                (self.worker, alive_since, row.resident_key, row.id),
            )
            if not found or found[-1][0] != row.id or found[-1][1]:
                return "taken"  # handled already, or another live worker holds it
            if len(found) > 1:
                return "later"
            await db.execute(
                "UPDATE inbox SET claimed_by = ?, claimed_at = ? WHERE id = ?",
                (self.worker, _iso(now), row.id),
            )
        return "mine"

    async def orphaned_incoming(self, lease_seconds: float) -> list[InboxRow]:
        """Pending incoming messages no live worker holds: their worker died (lease run out),
        or none claimed them within a lease of their arrival."""
        stale = _iso(self._now() - timedelta(seconds=lease_seconds))
        async with self._using("read the inbox") as db:
            rows = await db.execute_fetchall(
                "SELECT id, channel, external_id, resident_key, payload FROM inbox"
                " WHERE status = 'pending' AND ((claimed_by IS NULL AND received_at < ?)"
                " OR claimed_by NOT IN (SELECT name FROM workers WHERE seen_at >= ?))"
                " ORDER BY id LIMIT 1000",
                (stale, stale),
            )
        return [InboxRow(*row) for row in rows]

    # --- numbered choices (channels without buttons) ------------------------------------------

    async def set_choices(self, resident_key: str, choices: str) -> None:
        """Remembers the choices (JSON) last offered to a resident."""
        await self.transact(
            "remember the choices", lambda tx: tx.set_choices(resident_key, choices)
        )

    async def choices(self, resident_key: str) -> str | None:
        """The choices (JSON) last offered to a resident, or None."""
        async with self._using("read the choices") as db:
            rows = await db.execute_fetchall(
                "SELECT choices FROM choices WHERE resident_key = ?", (resident_key,)
            )
        return rows[0][0] if rows else None

    # --- questions behind buttons --------------------------------------------------------------

    async def pending_question(self, token: str) -> PendingQuestion | None:
        async with self._using("read the buttons' question") as db:
            return await self._pending_question(db, token)

    async def _pending_question(
        self, db: aiosqlite.Connection, token: str
    ) -> PendingQuestion | None:
        rows = await db.execute_fetchall(
            "SELECT token, user_id, question, suggestions, candidates, created_at, entry_id,"
            " saved_ref FROM pending WHERE token = ?",
            (token,),
        )
        if not rows:
            return None
        token, user_id, question, suggestions, candidates, created, entry_id, saved = rows[0]
        return PendingQuestion(
            token,
            user_id,
            question,
            json.loads(suggestions),
            [(entry, score) for entry, score in json.loads(candidates)],
            created,
            entry_id,
            saved,
        )

    def after_forget(self) -> None:
        """Soon after a /forget: the deleted text leaves the write-ahead log too."""
        task = asyncio.create_task(self.checkpoint())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def checkpoint(self) -> None:
        """Copies the write-ahead log into the database file and empties it."""
        async with self._using("checkpoint the database") as db:
            await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def touch_resident(
        self, user_id: int, *, display_name: str | None = None, language: str | None = None
    ) -> Resident:
        """Creates or refreshes a resident by internal id (last seen now); None leaves a field
        unchanged. Channel adapters use Tx.resident, which keys by (channel, id there)."""
        return await self.transact(
            "save the resident",
            lambda tx: tx.touch_resident(user_id, display_name=display_name, language=language),
        )

    async def get_resident(self, user_id: int) -> Resident | None:
        async with self._using("read the resident") as db:
            rows = await db.execute_fetchall(
                f"SELECT {_RESIDENT_COLUMNS} FROM residents WHERE user_id = ?", (user_id,)
            )
        return Resident(*rows[0]) if rows else None

    async def find_resident(self, channel: str, external_id: str) -> Resident | None:
        """The resident who is `external_id` on `channel`, or None."""
        async with self._using("read the resident") as db:
            rows = await db.execute_fetchall(
                f"SELECT {_RESIDENT_COLUMNS} FROM residents WHERE channel = ? AND external_id = ?",
                (channel, str(external_id)),
            )
        return Resident(*rows[0]) if rows else None

    async def set_language(self, user_id: int, language: str) -> Resident:
        """Remembers the resident's chosen reply language."""
        return await self.touch_resident(user_id, language=language)

    # --- questions and wishes -----------------------------------------------------------------

    async def save_question(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        candidates: Iterable[tuple[str, float]] = (),
        *,
        update_id: int | None = None,
    ) -> Item:
        """Saves a question the bot could not answer; committed when this returns.

        The same update_id twice (Telegram redelivery) returns the first item, no second row.
        """
        return await self.transact(
            "save the question",
            lambda tx: tx.save_item(
                "question", user_id, text, chat_id=chat_id, candidates=candidates,
                update_id=update_id,
            ),
        )  # fmt: skip

    async def save_wish(
        self, user_id: int, chat_id: int, text: str, *, update_id: int | None = None
    ) -> Item:
        """Saves a micro-wish; committed when this returns; same update_id -> same item."""
        return await self.transact(
            "save the wish",
            lambda tx: tx.save_item("wish", user_id, text, chat_id=chat_id, update_id=update_id),
        )

    async def _write(self, action: str, sql: str, params: Sequence[Any]) -> list[Any]:
        """Runs one writing statement, committed when this returns; gives its RETURNING rows."""
        return await self._unit(action, lambda db: db.execute_fetchall(sql, params))

    async def transact(self, action: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Runs `work` with a Tx: every write it makes is committed together, or none is.

        This is how a state change and the messages it causes reach the database at once
        (the core queues its replies in the same unit as the question it saves).
        """
        return await self._unit(action, lambda db: work(Tx(self, db)))

    async def _unit(self, action: str, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Queues a unit of work for the next group commit and waits until it is committed.

        Units arriving while the connection is busy are committed together (group commit):
        one fsync per batch keeps many residents writing at once fast with synchronous=FULL.
        Each unit runs inside a savepoint, so one that fails leaves the others' writes intact.
        """
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_PendingWrite(action, work, done))
        if len(self._pending) == 1:  # first of a batch: start the task that will write it
            # a context of its own: units must not see the first caller's context variables
            flush = asyncio.create_task(self._flush_writes(), context=contextvars.Context())
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        return await done

    async def _flush_writes(self) -> None:
        """Commits every unit queued so far, then resolves each caller's future."""
        async with self._lock:
            batch, self._pending = self._pending, []
            try:
                outcomes = await self._run_batch(batch)
            except BaseException as error:  # never leave a caller waiting forever
                for write in batch:
                    write.fail(error)
                raise
            for write, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, _Failed):
                    write.fail(outcome.error)
                elif not write.done.done():
                    write.done.set_result(outcome)
            if self._queued:
                self._queued = False
                for listener in self._queue_listeners:
                    listener()

    @asynccontextmanager
    async def _pg_connection(self, action: str) -> AsyncIterator[Any]:
        """A PostgreSQL connection of the pool, as storage's code uses an aiosqlite one."""
        from bot import pg

        try:
            connection = await self._pool.getconn()
        except Exception as error:  # pool timeout, server gone
            raise StorageError(f"could not {action}: {error}") from error
        try:
            yield pg.Connection(connection)
        finally:
            await self._pool.putconn(connection)

    async def _run_batch(self, batch: list[_PendingWrite]) -> list[Any]:
        """Executes the batch in one transaction, in the connection's own thread in one hop
        (a statement at a time from the event loop costs a thread switch each)."""
        if self._pool is not None:
            return await self._run_batch_pg(batch)
        # aiosqlite runs functions queued with _execute in its thread, in order: this one
        # holds the connection for the whole batch
        return await self._db._execute(self._run_batch_here, batch)

    def _run_batch_here(self, batch: list[_PendingWrite]) -> list[Any]:
        """One outcome per unit: its result, or _Failed. A unit that raises is rolled back to
        its savepoint alone; a failure of the database itself (locked, disk full, the commit
        failing) fails every unit of the batch."""
        db = _InThread(self._db._conn)
        try:
            db.run("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            return [_Failed(error)] * len(batch)
        outcomes: list[Any] = []
        alone = len(batch) == 1  # the transaction itself is the unit's savepoint
        for write in batch:
            if not alone:
                db.run("SAVEPOINT unit")
            try:
                outcomes.append(_drive(write.work(db)))
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
                if not isinstance(error, sqlite3.IntegrityError):
                    with suppress(sqlite3.Error):
                        db.run("ROLLBACK")
                    return [_Failed(error)] * len(batch)
                db.run("ROLLBACK" if alone else "ROLLBACK TO unit")
                outcomes.append(_Failed(error))
            except Exception as error:  # this unit's own failure (a bad reference...)
                db.run("ROLLBACK" if alone else "ROLLBACK TO unit")
                outcomes.append(_Failed(error))
            if alone:
                if isinstance(outcomes[0], _Failed):
                    return outcomes
            else:
                db.run("RELEASE unit")
        try:
            db.run("COMMIT")
        except sqlite3.Error as error:
            with suppress(sqlite3.Error):
                db.run("ROLLBACK")
            return [_Failed(error)] * len(batch)
        return outcomes

    async def _run_batch_pg(self, batch: list[_PendingWrite]) -> list[Any]:
        """The same as _run_batch_here on a PostgreSQL connection of the pool, awaiting each
        statement: one transaction, a savepoint per unit when there are several."""
        try:
            async with self._pg_connection("write") as db:
                try:
                    await db.execute("BEGIN")
                except sqlite3.Error as error:
                    return [_Failed(error)] * len(batch)
                outcomes: list[Any] = []
                alone = len(batch) == 1
                for write in batch:
                    if not alone:
                        await db.execute("SAVEPOINT unit")
                    try:
                        outcomes.append(await write.work(db))
                    except sqlite3.IntegrityError as error:
                        await db.execute("ROLLBACK" if alone else "ROLLBACK TO unit")
                        outcomes.append(_Failed(error))
                    except sqlite3.Error as error:
                        with suppress(sqlite3.Error):
                            await db.execute("ROLLBACK")
                        return [_Failed(error)] * len(batch)
                    except Exception as error:
                        await db.execute("ROLLBACK" if alone else "ROLLBACK TO unit")
                        outcomes.append(_Failed(error))
                    if alone:
                        if isinstance(outcomes[0], _Failed):
                            return outcomes
                    else:
                        await db.execute("RELEASE unit")
                try:
                    await db.execute("COMMIT")
                except sqlite3.Error as error:
                    with suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                    return [_Failed(error)] * len(batch)
                return outcomes
        except StorageError as error:  # no connection to be had
            return [_Failed(error)] * len(batch)

    async def get_item(self, ref: str) -> Item | None:
        """The item with this reference ("Q0012", "q12", "Q-0012"), or None."""
        parsed = parse_ref(ref)
        if parsed is None:
            return None
        async with self._using("read the item") as db:
            return await self._get(db, *parsed)

    async def items_of(self, user_id: int) -> list[Item]:
        """A resident's questions and wishes, newest first."""
        async with self._using("read the resident's items") as db:
            return await self._select_items(db, where=["user_id = ?"], params=[user_id])

    async def items_on(self, channel: str, external_id: int | str) -> list[Item]:
        """The items of the resident who is `external_id` on `channel`, newest first."""
        resident = await self.find_resident(channel, str(external_id))
        return await self.items_of(resident.user_id) if resident else []

    async def open_items(
        self, kind: str | None = None, *, oldest_first: bool = False, station: str | None = None
    ) -> list[Item]:
        """Items that still need staff: open questions; open, accepted or in-progress wishes
        (of one station's, when given)."""
        _check_kind(kind)
        scope, scope_params = _station_scope(station)
        async with self._using("read open items") as db:
            found: list[Item] = []
            for each in (kind,) if kind else KINDS:
                marks = ", ".join("?" * len(ACTIVE_STATUSES[each]))
                found += await self._select_items(
                    db,
                    kinds=(each,),
                    where=[f"status IN ({marks})", *scope],
                    params=[*ACTIVE_STATUSES[each], *scope_params],
                )
        return _ordered(found, oldest_first=oldest_first)

    async def all_items(
        self,
        kind: str | None = None,
        status: str | Iterable[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        *,
        oldest_first: bool = False,
        limit: int | None = None,
        station: str | None = None,
    ) -> list[Item]:
        """Items saved in [since, until), optionally of one kind / status(es) / station;
        newest first."""
        where, params = _item_filter(kind, status, since, until, station)
        async with self._using("read items") as db:
            return await self._select_items(
                db,
                kinds=(kind,) if kind else KINDS,
                where=where,
                params=params,
                oldest_first=oldest_first,
                limit=limit,
            )

    async def pooling_rows(
        self,
        kind: str,
        status: str | Iterable[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        *,
        station: str | None = None,
    ) -> list[PoolingRow]:
        """What pooling needs of the items of `kind` saved in [since, until), optionally of
        some status(es) and one station, oldest first: no replies, history or names, so
        100,000 of them are read in a fraction of a second."""
        where, params = _item_filter(kind, status, since, until, station)
        sql = (
            f"SELECT created_at, id, text, status, user_id, pool_key FROM {_TABLES[kind]}"
            f" {_where(where)} ORDER BY created_at, id"
        )
        async with self._using("read items to pool") as db:
            rows = await db.execute_fetchall(sql, params)
        return [
            PoolingRow(created_at, kind, item_id, format_ref(kind, item_id), *rest)
            for created_at, item_id, *rest in rows
        ]

    async def add_staff_reply(
        self, ref: str, staff_id: int | None, text: str, *, actor: str | None = None
    ) -> Item:
        """Stores a staff reply; an open question becomes "answered". Unknown ref -> ValueError."""
        return await self.transact(
            f"save the reply to {ref}",
            lambda tx: tx.add_staff_reply(ref, text, staff_id=staff_id, actor=actor),
        )

    async def set_status(
        self,
        ref: str,
        status: str,
        *,
        note: str = "",
        staff_id: int | None = None,
        actor: str | None = None,
    ) -> Item:
        """Changes the status and appends it to the history; ValueError for a bad ref/status."""
        return await self.transact(
            f"change the status of {ref}",
            lambda tx: tx.set_status(ref, status, note=note, staff_id=staff_id, actor=actor),
        )

    async def staff_replies_for(self, ref: str) -> list[StaffReply]:
        """Staff replies to an item, oldest first (empty for an unknown ref)."""
        item = await self.get_item(ref)
        return item.replies if item else []

    async def link_staff_message(self, ref: str, chat_id: int, message_id: int) -> None:
        """Remembers that staff message (chat_id, message_id) is about item `ref`."""
        await self.transact(
            f"link the staff message to {ref}",
            lambda tx: tx.link_staff_message(ref, chat_id, message_id),
        )

    async def ref_for_staff_message(self, chat_id: int, message_id: int) -> str | None:
        """The item a staff notification was about, or None."""
        async with self._using("read the staff message link") as db:
            rows = await db.execute_fetchall(
                "SELECT question_id, wish_id FROM staff_messages"
                " WHERE chat_id = ? AND message_id = ?",
                (chat_id, message_id),
            )
        if not rows:
            return None
        question_id, wish_id = rows[0]
        return format_ref("question", question_id) if question_id else format_ref("wish", wish_id)

    # --- feedback, events, stats --------------------------------------------------------------

    async def record_feedback(
        self, user_id: int, entry_id: str, question: str, helpful: bool
    ) -> None:
        """Stores a 👍 (helpful) or 👎 on the answer `entry_id` given to `question`."""
        await self.transact(
            "save the feedback", lambda tx: tx.record_feedback(user_id, entry_id, question, helpful)
        )

    async def record_event(self, kind: str, user_id: int, entry_id: str | None = None) -> None:
        """Counts one decision for /stats; kinds in EVENT_KINDS."""
        await self.transact("record the event", lambda tx: tx.record_event(kind, user_id, entry_id))

    async def event_counts(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        station: str | None = None,
    ) -> dict[str, int]:
        """Number of events of each kind in [start, end) (of one station's residents)."""
        conditions, params = _window("at", start, end)
        scope, scope_params = _residents_scope(station)
        conditions += scope
        params += scope_params
        async with self._using("count events") as db:
            rows = await db.execute_fetchall(
                f"SELECT kind, COUNT(*) FROM events {_where(conditions)} GROUP BY kind", params
            )
        return {kind: count for kind, count in rows}

    async def stats(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        station: str | None = None,
    ) -> Stats:
        """Figures for /stats over [start, end): the district's, or one station's (its items;
        the events and feedback of residents whose home it is)."""
        counts = await self.event_counts(start, end, station=station)
        residents_scope, residents_params = _residents_scope(station)
        items_scope, items_params = _station_scope(station)
        at_conditions, at_params = _window("at", start, end)
        at_conditions += residents_scope
        at_params += residents_params
        at_where = _where(at_conditions)
        created_conditions, created_params = _window("created_at", start, end)
        feedback_where = _where([*created_conditions, *residents_scope])
        feedback_params = [*created_params, *residents_params]
        created_conditions += items_scope
        created_params += items_params
        created_where = _where(created_conditions)
        reply_conditions, reply_params = _window("first_reply", start, end)
        if station is not None:
            reply_conditions.append("station_id = ?")
            reply_params.append(station)
        async with self._using("compute stats") as db:
            saved = {}
            for kind, table in _TABLES.items():
                rows = await db.execute_fetchall(
                    f"SELECT COUNT(*) FROM {table} {created_where}", created_params
                )
                saved[kind] = rows[0][0]
            replied = await db.execute_fetchall(
                f"""SELECT created_at, first_reply FROM (
                    SELECT q.created_at, MIN(r.created_at) AS first_reply, q.station_id
                    FROM questions q JOIN staff_replies r ON r.question_id = q.id
                    GROUP BY q.id) first_replies {_where(reply_conditions)}""",
                reply_params,
            )
            feedback = await db.execute_fetchall(
                f"SELECT helpful, COUNT(*) FROM feedback {feedback_where} GROUP BY helpful",
                feedback_params,
            )
            residents = await db.execute_fetchall(
                f"SELECT COUNT(DISTINCT user_id) FROM events {at_where}", at_params
            )
            chosen = [
                *at_conditions,
                "kind IN ('answer', 'suggestion_click')",
                "entry_id IS NOT NULL",
            ]
            top = await db.execute_fetchall(
                f"SELECT entry_id, COUNT(*) AS n FROM events {_where(chosen)}"
                " GROUP BY entry_id ORDER BY n DESC, entry_id LIMIT 10",
                at_params,
            )
        votes = {bool(helpful): count for helpful, count in feedback}
        return Stats(
            start=_bound(start),
            end=_bound(end),
            questions_received=sum(counts.get(k, 0) for k in ("answer", "suggest", "none")),
            answered_by_bot=counts.get("answer", 0),
            suggested=counts.get("suggest", 0),
            not_understood=counts.get("none", 0),
            suggestion_clicks=counts.get("suggestion_click", 0),
            saved_for_staff=saved["question"],
            wishes=saved["wish"],
            answered_by_staff=len(replied),
            reply_seconds=[
                int((parse_time(first) - parse_time(created)).total_seconds())
                for created, first in replied
            ],
            helpful=votes.get(True, 0),
            not_helpful=votes.get(False, 0),
            residents=residents[0][0],
            top_entries=[(entry_id, count) for entry_id, count in top],
        )

    # --- privacy and retention ----------------------------------------------------------------

    async def forget(self, user_id: int) -> int:
        """Deletes a resident and everything of theirs; returns the number of rows removed.

        Replies, history and staff-message links of their items go with the items (cascade).
        """
        removed = await self.transact("forget the resident", lambda tx: tx.forget(user_id))
        # the deleted text is still in the write-ahead log: copy the zeroed pages into the
        # database and empty the log (best effort: a long reader in another process can
        # hold it up; SQLite's own checkpoints then finish the job)
        with suppress(StorageError):
            await self.checkpoint()
        return removed

    async def purge_closed_older_than(self, days: int) -> dict[str, int]:
        """Retention: deletes finished items untouched for `days`, and older feedback/events.

        Returns rows deleted per table. Open items are kept whatever their age.
        """
        if days < 0:
            raise ValueError(f"days must be 0 or more, not {days}")
        cutoff = _iso(self._now() - timedelta(days=days))
        # Telegram redelivers only for a day: a week of handled message ids is plenty for
        # dedup, whatever the retention of items; delivered messages likewise
        week = _iso(self._now() - timedelta(days=HANDLED_KEPT_DAYS))
        day = _iso(self._now() - timedelta(days=1))
        removed: dict[str, int] = {}
        async with self._transaction("purge old records") as db:
            for kind, table in _TABLES.items():
                finished = FINISHED_STATUSES[kind]
                cursor = await db.execute(
                    f"DELETE FROM {table} WHERE updated_at < ?"
                    f" AND status IN ({', '.join('?' * len(finished))})",
                    (cutoff, *finished),
                )
                removed[table] = cursor.rowcount
            for table, condition, before in (
                ("feedback", "created_at < ?", cutoff),
                ("events", "at < ?", cutoff),
                ("inbox", "status = 'done' AND received_at < ?", week),
                ("outbox", "status != 'pending' AND created_at < ?", week),
                ("pending", "created_at < ?", day),
            ):
                cursor = await db.execute(f"DELETE FROM {table} WHERE {condition}", (before,))
                removed[table] = cursor.rowcount
        return removed

    # --- helpers (caller holds the lock) ------------------------------------------------------

    async def _get(self, db: aiosqlite.Connection, kind: str, item_id: int) -> Item | None:
        found = await self._select_items(db, kinds=(kind,), where=["id = ?"], params=[item_id])
        return found[0] if found else None

    async def _existing(self, db: aiosqlite.Connection, kind: str, item_id: int) -> Item:
        item = await self._get(db, kind, item_id)
        if item is None:
            raise ValueError(f"no {kind} {format_ref(kind, item_id)}")
        return item

    async def _change_status(
        self,
        db: aiosqlite.Connection,
        kind: str,
        item_id: int,
        status: str,
        note: str,
        staff_id: int | None,
        at: str,
    ) -> None:
        await db.execute(
            f"UPDATE {_TABLES[kind]} SET status = ?, updated_at = ? WHERE id = ?",
            (status, at, item_id),
        )
        await db.execute(
            f"INSERT INTO status_history ({_ITEM_COLUMNS[kind]}, status, note, staff_id, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (item_id, status, note, staff_id, at),
        )

    async def _select_items(
        self,
        db: aiosqlite.Connection,
        *,
        kinds: Sequence[str] = KINDS,
        where: Sequence[str] = (),
        params: Sequence[Any] = (),
        oldest_first: bool = False,
        limit: int | None = None,
    ) -> list[Item]:
        """Items of `kinds` matching `where` (SQL on the item table), with replies and history."""
        condition = _where(where)
        parts = []
        for kind in kinds:
            candidates = "t.candidates" if kind == "question" else "'[]'"
            flag = "t.flag" if kind == "question" else "NULL"
            parts.append(
                f"""SELECT '{kind}', t.id, t.text, t.status, t.user_id, t.chat_id, t.created_at,
                    t.updated_at, {candidates}, r.display_name, t.channel, t.address, {flag},
                    t.station_id
                FROM (SELECT * FROM {_TABLES[kind]} {condition}) t
                LEFT JOIN residents r ON r.user_id = t.user_id"""
            )
        direction = "" if oldest_first else "DESC"
        sql = (
            " UNION ALL ".join(parts)
            + f" ORDER BY 7 {direction}, 1 {direction}, 2 {direction}"
            + (" LIMIT ?" if limit is not None else "")
        )
        all_params = list(params) * len(kinds) + ([limit] if limit is not None else [])
        rows = await db.execute_fetchall(sql, all_params)
        items = [
            Item(
                ref=format_ref(kind, item_id),
                kind=kind,
                text=text,
                status=status,
                user_id=user_id,
                chat_id=chat_id,
                created_at=created_at,
                updated_at=updated_at,
                candidates=_candidates(candidates),
                display_name=display_name,
                channel=channel,
                address=address or str(chat_id),
                flag=flag,
                station_id=station_id,
            )
            for (kind, item_id, text, status, user_id, chat_id, created_at, updated_at,
                 candidates, display_name, channel, address, flag, station_id) in rows
        ]  # fmt: skip
        await self._attach_children(db, items)
        return items

    async def _attach_children(self, db: aiosqlite.Connection, items: list[Item]) -> None:
        by_key = {(item.kind, item.id): item for item in items}
        for kind in KINDS:
            ids = [item.id for item in items if item.kind == kind]
            column = _ITEM_COLUMNS[kind]
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                for owner, staff_id, text, at, actor in await db.execute_fetchall(
                    f"SELECT {column}, staff_id, text, created_at, actor FROM staff_replies"
                    f" WHERE {column} IN ({marks}) ORDER BY id",
                    chunk,
                ):
                    by_key[kind, owner].replies.append(StaffReply(text, staff_id, at, actor))
                for owner, status, note, at, actor in await db.execute_fetchall(
                    f"SELECT {column}, status, note, at, actor FROM status_history"
                    f" WHERE {column} IN ({marks}) ORDER BY id",
                    chunk,
                ):
                    by_key[kind, owner].history.append(Change(status, note, at, actor))

    # --- staff web console (issue 12): accounts, sessions, paged inbox, review, figures ------

    async def add_staff_account(
        self, name: str, password_hash: str, station_id: str | None = None
    ) -> StaffAccount:
        """Creates a web account (limited to `station_id`'s items when given); ValueError if
        the name is taken (case-insensitive)."""
        now = self._stamp()
        async with self._transaction(f"add the staff account {name}") as db:
            taken = await db.execute_fetchall(
                "SELECT 1 FROM staff_accounts WHERE name = ?", (name,)
            )
            if taken:
                raise ValueError(f"a staff account named {name!r} exists already")
            rows = await db.execute_fetchall(
                "INSERT INTO staff_accounts (name, password_hash, created_at, station_id)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (name, password_hash, now, station_id),
            )
        return StaffAccount(rows[0][0], name, now, station_id)

    async def remove_staff_account(self, name: str) -> bool:
        """Deletes the account and its sessions; False if there was none."""
        rows = await self._write(
            f"remove the staff account {name}",
            "DELETE FROM staff_accounts WHERE name = ? RETURNING id",
            (name,),
        )
        return bool(rows)

    async def staff_accounts(self) -> list[StaffAccount]:
        async with self._using("list staff accounts") as db:
            rows = await db.execute_fetchall(
                "SELECT id, name, created_at, station_id FROM staff_accounts ORDER BY name"
            )
        return [StaffAccount(*row) for row in rows]

    async def staff_password_hash(self, name: str) -> tuple[StaffAccount, str] | None:
        """The account and its stored password hash, or None."""
        async with self._using("read the staff account") as db:
            rows = await db.execute_fetchall(
                "SELECT id, name, created_at, password_hash, station_id FROM staff_accounts"
                " WHERE name = ?",
                (name,),
            )
        if not rows:
            return None
        account_id, real_name, created_at, password_hash, station_id = rows[0]
        return StaffAccount(account_id, real_name, created_at, station_id), password_hash

    async def create_web_session(
        self, token_hash: str, account_id: int, csrf: str, expires_at: datetime
    ) -> None:
        await self._write(
            "create the session",
            "INSERT INTO web_sessions (token_hash, account_id, csrf, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token_hash, account_id, csrf, self._stamp(), _iso(expires_at)),
        )

    async def web_session(self, token_hash: str) -> WebSession | None:
        """The live session with this token hash (None when unknown or expired)."""
        async with self._using("read the session") as db:
            rows = await db.execute_fetchall(
                "SELECT a.id, a.name, s.csrf, s.expires_at, a.station_id FROM web_sessions s"
                " JOIN staff_accounts a ON a.id = s.account_id"
                " WHERE s.token_hash = ? AND s.expires_at > ?",
                (token_hash, self._stamp()),
            )
        return WebSession(*rows[0]) if rows else None

    async def delete_web_session(self, token_hash: str) -> None:
        await self._write(
            "end the session", "DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,)
        )

    async def record_login_failure(self, keys: Sequence[str]) -> None:
        """One failed sign-in, counted under each key ("account:wang", "address:10.0.0.5");
        failures older than a day are dropped on the way."""
        now = self._stamp()
        day_ago = _iso(self._now() - timedelta(days=1))
        async with self._transaction("record the failed sign-in") as db:
            await db.execute("DELETE FROM login_failures WHERE at < ?", (day_ago,))
            await db.executemany(
                "INSERT INTO login_failures (key, at) VALUES (?, ?)", [(k, now) for k in keys]
            )

    async def login_failures_since(self, key: str, since: datetime) -> int:
        async with self._using("count failed sign-ins") as db:
            rows = await db.execute_fetchall(
                "SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?",
                (key, _iso(since)),
            )
        return rows[0][0]

    async def clear_login_failures(self, key: str) -> None:
        await self._write(
            "clear failed sign-ins", "DELETE FROM login_failures WHERE key = ?", (key,)
        )

    async def inbox_page(
        self,
        *,
        kind: str | None = None,
        status: str = "open",
        outcome: str | None = None,
        patterns: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
        answer_threshold: float,
        suggest_threshold: float,
        thumbs_down_ids: Sequence[int] = (),
        station: str | None = None,
    ) -> InboxPage:
        """One page of items, oldest first, and how many match in all.

        `status` "open" means still needing staff (ACTIVE_STATUSES), "all" any, else one
        status. `outcome` (questions only) is what the bot did: "answer", "suggest", "none"
        (judged from the best stored candidate score) or "thumbs_down" (the resident said 👎
        to the bot's answer: `thumbs_down_ids`, from thumbs_down_question_ids()). `patterns`
        are LIKE patterns, any of which the text matches. `station`: that station's only.
        """
        unhelpful_json = json.dumps(sorted(set(thumbs_down_ids)))
        _check_kind(kind)
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of: {', '.join(OUTCOMES)}")
        kinds = [k for k in ((kind,) if kind else KINDS) if not (outcome and k == "wish")]
        parts, params, counts = [], [], []
        for each in kinds:
            wanted = self._statuses_for(each, status)
            if not wanted:
                continue
            where = [f"status IN ({', '.join('?' * len(wanted))})"]
            where_params: list[Any] = list(wanted)
            # a search reads every row of the status: in created_at order (questions_status),
            # not in score order, which SQLite might pick and which is three times slower
            table = _TABLES[each]
            source = f"{table} INDEXED BY {table}_status" if patterns and not outcome else table
            if patterns:
                where.append("(" + " OR ".join("text LIKE ? ESCAPE '\\'" for _ in patterns) + ")")
                where_params += list(patterns)
            if station is not None:
                where.append("station_id = ?")
                where_params.append(station)
            if each == "question" and outcome:
                score = _TOP_SCORE
                if wanted == ("open",) and outcome != "thumbs_down":
                    # the literal 'open' lets SQLite use the partial index questions_open_score
                    where[0] = "status = 'open'"
                    where_params = where_params[1:]
                    source = f"{table} INDEXED BY questions_open_score"
                if outcome == "thumbs_down":
                    where.append("id IN (SELECT value FROM json_each(?))")
                else:
                    where.append("id NOT IN (SELECT value FROM json_each(?))")
                where_params.append(unhelpful_json)
                if outcome != "thumbs_down":
                    if outcome == "answer":
                        where.append(f"{score} >= ?")
                        where_params.append(answer_threshold)
                    elif outcome == "suggest":
                        where += [f"{score} >= ?", f"{score} < ?"]
                        where_params += [suggest_threshold, answer_threshold]
                    else:
                        where.append(f"{score} < ?")
                        where_params.append(suggest_threshold)
            parts.append(f"SELECT '{each}' AS kind, id, created_at FROM {source} {_where(where)}")
            params += where_params
            if patterns:  # a search counts to SEARCH_COUNT_CAP: it reads every row to count
                counts.append(
                    (
                        f"SELECT COUNT(*) FROM (SELECT 1 FROM {source} {_where(where)}"
                        " LIMIT ?) found",
                        [*where_params, SEARCH_COUNT_CAP + 1],
                    )
                )
            else:
                counts.append((f"SELECT COUNT(*) FROM {source} {_where(where)}", where_params))
        if not parts:
            return InboxPage([], {}, 0)
        async with self._using("read the inbox") as db:
            total = 0
            for sql, count_params in counts:
                total += (await db.execute_fetchall(sql, count_params))[0][0]
            rows = await db.execute_fetchall(
                " UNION ALL ".join(parts) + " ORDER BY created_at, kind, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            items: list[Item] = []
            for each in KINDS:
                ids = [item_id for k, item_id, _ in rows if k == each]
                if ids:
                    marks = ", ".join("?" * len(ids))
                    items += await self._select_items(
                        db, kinds=(each,), where=[f"id IN ({marks})"], params=ids
                    )
        by_ref = {item.ref: item for item in items}
        ordered = [by_ref[format_ref(k, item_id)] for k, item_id, _ in rows]
        unhelpful = set(thumbs_down_ids)
        outcomes = {}
        for item in ordered:
            if item.kind != "question":
                continue
            best = item.candidates[0][1] if item.candidates else 0.0
            if item.id in unhelpful:
                outcomes[item.ref] = "thumbs_down"
            elif best >= answer_threshold:
                outcomes[item.ref] = "answer"
            else:
                outcomes[item.ref] = "suggest" if best >= suggest_threshold else "none"
        if patterns and total > SEARCH_COUNT_CAP:
            return InboxPage(ordered, outcomes, SEARCH_COUNT_CAP, capped=True)
        return InboxPage(ordered, outcomes, total)

    async def thumbs_down_question_ids(self) -> list[int]:
        """Questions whose resident said 👎 to the bot's answer (same resident, same text)."""
        async with self._using("read the unhelpful questions") as db:
            rows = await db.execute_fetchall(_THUMBS_DOWN_IDS)
        return [row[0] for row in rows]

    async def thumbs_down_fingerprint(self) -> tuple[Any, ...]:
        """Changes when thumbs_down_question_ids() may (a new question or new feedback)."""
        async with self._using("read the newest ids") as db:
            rows = await db.execute_fetchall(
                "SELECT (SELECT MAX(id) FROM questions), (SELECT MAX(id) FROM feedback)"
            )
        return tuple(rows[0])

    @staticmethod
    def _statuses_for(kind: str, status: str) -> tuple[str, ...]:
        if status == "open":
            return ACTIVE_STATUSES[kind]
        if status == "all":
            return STATUSES[kind]
        if status not in {s for k in KINDS for s in STATUSES[k]}:
            raise ValueError(f"unknown status {status!r}")
        return (status,) if status in STATUSES[kind] else ()

    async def open_counts(self, station: str | None = None) -> dict[str, int]:
        """Items still needing staff, per kind (the console's navigation)."""
        counts = {}
        scope, scope_params = _station_scope(station)
        async with self._using("count open items") as db:
            for kind, table in _TABLES.items():
                wanted = ACTIVE_STATUSES[kind]
                where = [f"status IN ({', '.join('?' * len(wanted))})", *scope]
                rows = await db.execute_fetchall(
                    f"SELECT COUNT(*) FROM {table} {_where(where)}", [*wanted, *scope_params]
                )
                counts[kind] = rows[0][0]
        return counts

    async def recent_items_of(self, user_id: int, limit: int = 10) -> list[Item]:
        """A resident's latest items (with replies), newest first."""
        async with self._using("read the resident's items") as db:
            return await self._select_items(
                db, where=["user_id = ?"], params=[user_id], limit=limit
            )

    async def latest_open_questions(
        self, since: datetime | str, limit: int, *, station: str | None = None
    ) -> list[Item]:
        """Open questions saved since `since`, newest first, at most `limit` (review page)."""
        scope, scope_params = _station_scope(station)
        async with self._using("read open questions") as db:
            return await self._select_items(
                db,
                kinds=("question",),
                where=["status = 'open'", "created_at >= ?", *scope],
                params=[_bound(since), *scope_params],
                limit=limit,
            )

    async def unhelpful_answers(
        self, since: datetime | str, limit: int, *, station: str | None = None
    ) -> list[FeedbackRow]:
        """👎 answers given since `since` and not yet reviewed, newest first (of the residents
        whose home is `station`, when given)."""
        scope, scope_params = _residents_scope(station)
        residents = f" AND f.{scope[0]}" if scope else ""
        async with self._using("read unhelpful answers") as db:
            rows = await db.execute_fetchall(
                "SELECT f.id, f.user_id, f.entry_id, f.question, f.created_at FROM feedback f"
                " WHERE f.helpful = 0 AND f.created_at >= ? AND f.question <> ''"
                " AND NOT EXISTS (SELECT 1 FROM feedback_reviewed r WHERE r.feedback_id = f.id)"
                f"{residents} ORDER BY f.created_at DESC, f.id DESC LIMIT ?",
                (_bound(since), *scope_params, limit),
            )
        return [FeedbackRow(*row) for row in rows]

    async def mark_feedback_reviewed(
        self, feedback_ids: Sequence[int], outcome: str, actor_name: str
    ) -> None:
        """👎 answers handled on the review page (taught or dismissed) leave it."""
        if not feedback_ids:
            return
        now = self._stamp()
        async with self._transaction("mark answers reviewed") as db:
            await db.executemany(
                "INSERT INTO feedback_reviewed (feedback_id, outcome, actor_name, at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(feedback_id, outcome, actor_name, now) for feedback_id in feedback_ids],
            )

    async def review_fingerprint(self, since: datetime | str) -> tuple[Any, ...]:
        """Changes whenever the review page's input does (new, closed or reviewed rows)."""
        async with self._using("read the review fingerprint") as db:
            questions = await db.execute_fetchall(
                "SELECT COUNT(*), MAX(id), MAX(updated_at) FROM questions"
                " WHERE status = 'open' AND created_at >= ?",
                (_bound(since),),
            )
            feedback = await db.execute_fetchall(
                "SELECT (SELECT COUNT(*) FROM feedback WHERE helpful = 0 AND created_at >= ?),"
                " (SELECT MAX(id) FROM feedback), (SELECT COUNT(*) FROM feedback_reviewed)",
                (_bound(since),),
            )
        return (*questions[0], *feedback[0])

    async def daily_counts(
        self, since: datetime | str, utc_offset_minutes: int = 0, *, station: str | None = None
    ) -> list[Any]:
        """(day, what, count) since `since`, days in local time (the offset from UTC):
        what is an event kind (answer, suggest, none...) or "saved" (questions saved)."""
        shift = f"{utc_offset_minutes:+d} minutes"
        residents, residents_params = _residents_scope(station)
        items, items_params = _station_scope(station)
        async with self._using("count per day") as db:
            events = await db.execute_fetchall(
                "SELECT date(at, ?) AS day, kind, COUNT(*) FROM events"
                f" {_where(['at >= ?', *residents])} GROUP BY day, kind ORDER BY day",
                (shift, _bound(since), *residents_params),
            )
            saved = await db.execute_fetchall(
                "SELECT date(created_at, ?) AS day, 'saved', COUNT(*) FROM questions"
                f" {_where(['created_at >= ?', *items])} GROUP BY day ORDER BY day",
                (shift, _bound(since), *items_params),
            )
        return [tuple(row) for row in [*events, *saved]]

    async def open_item_ages(
        self, bounds: Sequence[datetime], *, station: str | None = None
    ) -> list[int]:
        """Items still needing staff, counted by age: saved after bounds[0], between bounds[0]
        and bounds[1], ..., and before the last bound (len(bounds) + 1 counts)."""
        edges = [_iso(bound) for bound in bounds]
        cases = " ".join(f"WHEN created_at >= ? THEN {index}" for index in range(len(edges)))
        bucket = f"CASE {cases} ELSE {len(edges)} END"
        counts = [0] * (len(edges) + 1)
        scope, scope_params = _station_scope(station)
        async with self._using("count open items by age") as db:
            for kind, table in _TABLES.items():
                wanted = ACTIVE_STATUSES[kind]
                where = [f"status IN ({', '.join('?' * len(wanted))})", *scope]
                rows = await db.execute_fetchall(
                    f"SELECT {bucket} AS bucket, COUNT(*) FROM {table} {_where(where)}"
                    " GROUP BY bucket",
                    [*edges, *wanted, *scope_params],
                )
                for index, count in rows:
                    counts[index] += count
        return counts

    async def feedback_rows(
        self, feedback_ids: Sequence[int], *, station: str | None = None
    ) -> list[FeedbackRow]:
        """The 👎 answers with these ids (unknown ids, and with `station` those of residents
        of other stations, are skipped)."""
        found: list[FeedbackRow] = []
        scope, scope_params = _residents_scope(station)
        async with self._using("read feedback") as db:
            for start in range(0, len(feedback_ids), _IN_CHUNK):
                chunk = list(feedback_ids[start : start + _IN_CHUNK])
                where = ["helpful = 0", f"id IN ({', '.join('?' * len(chunk))})", *scope]
                rows = await db.execute_fetchall(
                    "SELECT id, user_id, entry_id, question, created_at FROM feedback"
                    f" {_where(where)}",
                    [*chunk, *scope_params],
                )
                found += [FeedbackRow(*row) for row in rows]
        return found


class _Cursor:
    """A finished statement, as aiosqlite's cursor looks to the code that reads rowcount."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.rowcount = cursor.rowcount
        cursor.close()

    async def close(self) -> None:
        """Closed already."""


class _InThread:
    """The connection as units of work see it, inside its own thread: the same awaitable
    methods as an aiosqlite connection, answered at once (a unit never really waits)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def run(self, sql: str) -> None:
        self._connection.execute(sql)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        return _Cursor(self._connection.execute(sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return self._connection.execute(sql, parameters).fetchall()


def _drive(work: Awaitable[T]) -> T:
    """Runs a unit of work that waits for nothing but the database (in its thread, where the
    database answers at once) to its end."""
    coroutine = work.__await__()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a unit of work waited for something other than the database")


@dataclass(frozen=True)
class _Failed:
    """A unit of work that raised: its error goes to its caller alone."""

    error: BaseException


class Tx:
    """The named writes (and the reads they need) of one unit of work; see Storage.transact.

    Everything done through one Tx is committed together or not at all.
    """

    def __init__(self, storage: Storage, db: aiosqlite.Connection) -> None:
        self._storage = storage
        self._db = db
        self.now = storage._stamp()
        self.residents_changed: set[int] = set()  # user ids whose stored state this unit changed

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self._db.execute_fetchall(sql, params))

    # residents

    async def resident(
        self, channel: str, external_id: str, *, display_name: str | None = None
    ) -> Resident:
        """The resident who is `external_id` on `channel`, created on first contact."""
        rows = await self._rows(
            f"""INSERT INTO residents (channel, external_id, display_name, first_seen, last_seen)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (channel, external_id) DO UPDATE SET
                last_seen = excluded.last_seen,
                display_name = COALESCE(excluded.display_name, residents.display_name)
            RETURNING {_RESIDENT_COLUMNS}""",
            (channel, str(external_id), display_name, self.now, self.now),
        )
        return Resident(*rows[0])

    async def touch_resident(
        self, user_id: int, *, display_name: str | None = None, language: str | None = None
    ) -> Resident:
        rows = await self._rows(
            f"""INSERT INTO residents
                (user_id, language, display_name, first_seen, last_seen, external_id)
            VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT))
            ON CONFLICT (user_id) DO UPDATE SET
                last_seen = excluded.last_seen,
                language = COALESCE(excluded.language, residents.language),
                display_name = COALESCE(excluded.display_name, residents.display_name)
            RETURNING {_RESIDENT_COLUMNS}""",
            (user_id, language, display_name, self.now, self.now, user_id),
        )
        return Resident(*rows[0])

    async def resident_by_id(self, user_id: int) -> Resident | None:
        rows = await self._rows(
            f"SELECT {_RESIDENT_COLUMNS} FROM residents WHERE user_id = ?", (user_id,)
        )
        return Resident(*rows[0]) if rows else None

    async def open_questions(self, user_id: int) -> int:
        """How many of the resident's questions wait for staff."""
        rows = await self._rows(
            "SELECT COUNT(*) FROM questions WHERE user_id = ? AND status = 'open'", (user_id,)
        )
        return rows[0][0]

    async def notice_waiting(self, merge_key: str) -> bool:
        """True while a staff notice with this merge key is still waiting to be sent (a
        second one would only repeat it: staff find every follow-up on the item)."""
        rows = await self._rows(
            "SELECT 1 FROM outbox WHERE status = 'pending' AND kind = 'notice'"
            " AND json_extract(payload, '$.merge_key') = ? LIMIT 1",
            (merge_key,),
        )
        return bool(rows)

    async def pending_question(self, token: str) -> PendingQuestion | None:
        return await self._storage._pending_question(self._db, token)

    async def update_resident(self, user_id: int, **fields: Any) -> None:
        """Sets language, last_language, awaiting_wish_at or station_id (None clears the
        last two)."""
        allowed = {"language", "last_language", "awaiting_wish_at", "station_id"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"unknown resident fields: {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self._db.execute(
            f"UPDATE residents SET {assignments} WHERE user_id = ?", (*fields.values(), user_id)
        )
        self.residents_changed.add(user_id)

    async def set_last_language(self, user_id: int, language: str) -> None:
        """The language of the last reply (for a next message with no words to tell by)."""
        await self._db.execute(
            "UPDATE residents SET last_language = ? WHERE user_id = ?", (language, user_id)
        )

    # questions and wishes

    async def save_item(
        self,
        kind: str,
        user_id: int,
        text: str,
        *,
        chat_id: int = 0,
        channel: str = "telegram",
        address: str = "",
        candidates: Iterable[tuple[str, float]] = (),
        update_id: int | None = None,
        flag: str | None = None,
        station_id: str | None = None,
    ) -> Item:
        """Saves a question (with the matcher's best guesses) or a wish for `station_id`'s
        staff; the same update_id twice (a redelivery) gives back the first item, no second
        row."""
        guesses = (
            [[str(entry_id), round(float(score), 2)] for entry_id, score in candidates]
            if kind == "question"
            else None
        )
        new = _NewItem(
            kind,
            user_id,
            chat_id,
            text,
            update_id,
            guesses,
            self.now,
            channel,
            address,
            flag,
            station_id,
        )
        rows = await self._rows(*new.statement())
        if rows:
            return new.item(*rows[0])
        found = await self._storage._select_items(
            self._db, kinds=(kind,), where=["update_id = ?"], params=[update_id]
        )
        return found[0]

    async def get_item(self, ref: str) -> Item | None:
        parsed = parse_ref(ref)
        return await self._storage._get(self._db, *parsed) if parsed else None

    async def items_of(self, user_id: int) -> list[Item]:
        return await self._storage._select_items(self._db, where=["user_id = ?"], params=[user_id])

    async def add_staff_reply(
        self, ref: str, text: str, *, staff_id: int | None = None, actor: str | None = None
    ) -> Item:
        kind, item_id = _require_ref(ref)
        item = await self._storage._existing(self._db, kind, item_id)
        await self._db.execute(
            f"INSERT INTO staff_replies ({_ITEM_COLUMNS[kind]}, staff_id, text, created_at, actor)"
            " VALUES (?, ?, ?, ?, ?)",
            (item_id, staff_id, text, self.now, actor),
        )
        if kind == "question" and item.status != "answered":
            await self._change_status(kind, item_id, "answered", "", staff_id, actor)
        else:
            await self._db.execute(
                f"UPDATE {_TABLES[kind]} SET updated_at = ? WHERE id = ?", (self.now, item_id)
            )
        return await self._storage._existing(self._db, kind, item_id)

    async def set_status(
        self,
        ref: str,
        status: str,
        *,
        note: str = "",
        staff_id: int | None = None,
        actor: str | None = None,
    ) -> Item:
        kind, item_id = _require_ref(ref)
        if status not in STATUSES[kind]:
            raise ValueError(
                f"{status!r} is not a status for a {kind}; expected one of: "
                + ", ".join(STATUSES[kind])
            )
        await self._storage._existing(self._db, kind, item_id)
        await self._change_status(kind, item_id, status, note, staff_id, actor)
        return await self._storage._existing(self._db, kind, item_id)

    async def _change_status(
        self,
        kind: str,
        item_id: int,
        status: str,
        note: str,
        staff_id: int | None,
        actor: str | None,
    ) -> None:
        await self._db.execute(
            f"UPDATE {_TABLES[kind]} SET status = ?, updated_at = ? WHERE id = ?",
            (status, self.now, item_id),
        )
        await self._db.execute(
            f"INSERT INTO status_history ({_ITEM_COLUMNS[kind]}, status, note, staff_id, at,"
            " actor) VALUES (?, ?, ?, ?, ?, ?)",
            (item_id, status, note, staff_id, self.now, actor),
        )

    async def link_staff_message(self, ref: str, chat_id: int, message_id: int) -> None:
        kind, item_id = _require_ref(ref)
        await self._db.execute(
            f"INSERT INTO staff_messages (chat_id, message_id, {_ITEM_COLUMNS[kind]})"
            " VALUES (?, ?, ?) ON CONFLICT (chat_id, message_id) DO UPDATE SET"
            " question_id = excluded.question_id, wish_id = excluded.wish_id",
            (chat_id, message_id, item_id),
        )

    # feedback and events

    async def record_feedback(
        self, user_id: int, entry_id: str, question: str, helpful: bool
    ) -> None:
        await self._db.execute(
            "INSERT INTO feedback (user_id, entry_id, question, helpful, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (user_id, entry_id, question, int(helpful), self.now),
        )

    async def record_event(self, kind: str, user_id: int, entry_id: str | None = None) -> None:
        await self._db.execute(
            "INSERT INTO events (kind, user_id, entry_id, at) VALUES (?, ?, ?, ?)",
            (kind, user_id, entry_id, self.now),
        )

    # inbox and outbox

    async def finish(self, inbox_id: int | None) -> None:
        """Marks the incoming message handled: with this unit's commit, never handled again."""
        if inbox_id is not None:
            await self._db.execute(
                "UPDATE inbox SET status = 'done', handled_at = ?, payload = '{}'"
                " WHERE id = ? AND status = 'pending'",
                (self.now, inbox_id),
            )

    async def queue(
        self,
        channel: str,
        address: str,
        kind: str,
        payload: str,
        inbox_id: int | None = None,
        not_before: datetime | None = None,
    ) -> int:
        """Queues a message for the sender; it goes out once this unit is committed (and not
        before `not_before`: a channel that may answer in its own request holds it back)."""
        rows = await self._rows(
            "INSERT INTO outbox (channel, address, kind, payload, inbox_id, not_before,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (channel, str(address), kind, payload, inbox_id, _bound(not_before), self.now),
        )
        self._storage._queued = True
        return rows[0][0]

    async def take_passive(self, inbox_id: int, channel: str) -> tuple[OutboxRow, bool] | None:
        """The first message queued on `channel` for incoming message `inbox_id`, marked
        'passive' (delivered in the HTTP answer; its payload kept, so a retry of the request
        gets the same answer); True when this call took it. None: nothing left to take."""
        rows = await self._rows(
            "SELECT id, channel, address, kind, payload, attempts, not_before, status"
            " FROM outbox WHERE inbox_id = ? AND channel = ? AND kind = 'message'"
            " AND status IN ('pending', 'passive') ORDER BY id LIMIT 1",
            (inbox_id, channel),
        )
        if not rows:
            return None
        *fields, status = rows[0]
        if status == "passive":
            return OutboxRow(*fields), False
        await self._db.execute(
            "UPDATE outbox SET status = 'passive', sent_at = ? WHERE id = ?", (self.now, fields[0])
        )
        return OutboxRow(*fields), True

    async def set_choices(self, resident_key: str, choices: str) -> None:
        """Remembers the choices (JSON) last offered to a resident as a numbered list."""
        await self._db.execute(
            "INSERT INTO choices (resident_key, choices, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (resident_key) DO UPDATE SET choices = excluded.choices,"
            " created_at = excluded.created_at",
            (resident_key, choices, self.now),
        )

    async def add_note(self, ref: str, note: str, actor: str | None = None) -> None:
        """Records a note in an item's history without changing its status."""
        kind, item_id = _require_ref(ref)
        item = await self._storage._get(self._db, kind, item_id)
        if item is None:  # deleted meanwhile (a /forget): nothing to note on
            return
        await self._db.execute(
            f"INSERT INTO status_history ({_ITEM_COLUMNS[kind]}, status, note, at, actor)"
            " VALUES (?, ?, ?, ?, ?)",
            (item_id, item.status, note, self.now, actor),
        )

    async def mark_sent(self, ids: Sequence[int]) -> None:
        marks = ", ".join("?" * len(ids))
        await self._db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, payload = '{}'"
            f" WHERE id IN ({marks})",
            (self.now, *ids),
        )

    async def give_up(self, ids: Sequence[int], error: str) -> None:
        marks = ", ".join("?" * len(ids))
        await self._db.execute(
            f"UPDATE outbox SET status = 'failed', error = ?, attempts = attempts + 1"
            f" WHERE id IN ({marks})",
            (error[:500], *ids),
        )

    # questions behind buttons

    async def keep_question(
        self,
        token: str,
        user_id: int,
        question: str,
        suggestions: Sequence[str] = (),
        candidates: Iterable[tuple[str, float]] = (),
        entry_id: str | None = None,
    ) -> None:
        """Keeps the question behind a reply's buttons: in the database, so one resident
        asking all day expires nobody else's buttons; kept a day (purge_closed_older_than)."""
        await self._db.execute(
            "INSERT INTO pending (token, user_id, question, suggestions, candidates, entry_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                token,
                user_id,
                question,
                json.dumps(list(suggestions)),
                json.dumps([[e, round(float(s), 2)] for e, s in candidates]),
                entry_id,
                self.now,
            ),
        )

    async def update_question(self, token: str, **fields: Any) -> None:
        """Sets entry_id (the answer picked) or saved_ref (passed to staff)."""
        if not fields or not set(fields) <= {"entry_id", "saved_ref"}:
            raise ValueError(f"unknown pending fields: {sorted(fields)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await self._db.execute(
            f"UPDATE pending SET {assignments} WHERE token = ?", (*fields.values(), token)
        )

    # privacy

    async def forget(self, user_id: int) -> int:
        """Deletes a resident and everything of theirs; replies, history and staff-message
        links of their items go with the items (cascade)."""
        removed = 0
        await self._db.execute(  # the numbered choices last shown to them (WeChat)
            "DELETE FROM choices WHERE resident_key IN"
            " (SELECT channel || ':' || external_id FROM residents WHERE user_id = ?)",
            (user_id,),
        )
        self.residents_changed.add(user_id)
        for table in ("questions", "wishes", "feedback", "events", "pending", "residents"):
            cursor = await self._db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            removed += cursor.rowcount
            await cursor.close()
        return removed


def _candidates(stored: str) -> list[tuple[str, float]]:
    """The matcher's guesses stored with a question; none for a wish (no JSON to parse for
    each of 100,000 wishes in /wishes)."""
    if stored == "[]":
        return []
    return [(entry_id, score) for entry_id, score in json.loads(stored)]


def pg_url(target: object) -> bool:
    """True for a PostgreSQL URL (postgresql://… or postgres://…), False for a file path."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _probe(path: str) -> None:
    sqlite3.connect(path).close()


def _owner_only(path: Path) -> None:
    """Creates the database file readable and writable by its owner only (0600), and
    tightens an existing one and its -wal and -shm files; SQLite gives the -wal and -shm
    files it creates the database file's mode."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with suppress(OSError):  # missing, or not ours to change: SQLite reports what matters
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def _require_ref(ref: str) -> tuple[str, int]:
    parsed = parse_ref(ref)
    if parsed is None:
        raise ValueError(f"{ref!r} is not a reference number like Q0012 or W0007")
    return parsed


def chronological(item: Item) -> tuple[str, str, int]:
    """Sort key: saving time, then kind and number (items saved in the same second)."""
    return item.created_at, item.kind, item.id


def _ordered(items: list[Item], *, oldest_first: bool) -> list[Item]:
    return sorted(items, key=chronological, reverse=not oldest_first)


def _window(
    column: str, start: datetime | str | None, end: datetime | str | None
) -> tuple[list[str], list[Any]]:
    """Conditions and parameters for start <= column < end (either bound may be None)."""
    conditions, params = [], []
    if start is not None:
        conditions.append(f"{column} >= ?")
        params.append(_bound(start))
    if end is not None:
        conditions.append(f"{column} < ?")
        params.append(_bound(end))
    return conditions, params


def _station_scope(station: str | None) -> tuple[list[str], list[Any]]:
    """Condition on an item table for one station's items (none: every station)."""
    return (["station_id = ?"], [station]) if station is not None else ([], [])


def _residents_scope(station: str | None) -> tuple[list[str], list[Any]]:
    """Condition on a table with user_id for the residents whose home is `station`."""
    if station is None:
        return [], []
    return ["user_id IN (SELECT user_id FROM residents WHERE station_id = ?)"], [station]


def _item_filter(
    kind: str | None,
    status: str | Iterable[str] | None,
    since: datetime | str | None,
    until: datetime | str | None,
    station: str | None,
) -> tuple[list[str], list[Any]]:
    """Conditions and parameters for items saved in [since, until), of some status(es) and
    one station (each optional); checks the kind and statuses."""
    _check_kind(kind)
    statuses = _check_statuses(kind, status)
    where, params = _window("created_at", since, until)
    if statuses:
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        params += statuses
    scope, scope_params = _station_scope(station)
    return where + scope, params + scope_params


def _where(conditions: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""
