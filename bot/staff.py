"""The staff core: replies, resolving, wishes (pooled), stats, CSV export and teaching the FAQ
new phrasings through the staff overlay file, with no front end in it.

`StaffDesk` owns every staff action; the Telegram handlers, the `stationbot` staff commands
and the web console only render what it returns.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import html
import io
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml
from rapidfuzz import process

from bot.inbox import current_turn
from bot.messages import LANGUAGES, has, t
from bot.outbox import Button, Outgoing
from bot.pooling import Pool, pool_items
from bot.stations import Site, all_staff, several, site_of, staff_station
from bot.storage import Item, Stats, Storage, Tx, chronological, format_ref, parse_time
from bot.storage import parse_ref as _parse_ref
from bot.text import clean_text, one_line
from faq.loader import FaqError, load
from faq.model import KnowledgeBase, MatchResult
from faq.normalize import detect_language

if TYPE_CHECKING:
    from bot.core import Station

WISH_STATUSES = ("accepted", "in_progress", "done", "declined")
STAFF_PREFIX = "st"  # callback data of staff buttons
MAX_TEXT = 4000  # Telegram allows 4096 characters per message
QUOTE_LIMIT = 1500
QUESTION_CLOSED = "resolved"
INBOX_PAGE_SIZE = 8


class StaffError(Exception):
    """A staff action that cannot be done; str() is one line for the staff member."""


@dataclass
class StaffStats:
    """The storage's figures for the last `days` days plus the unanswered questions pooled."""

    days: int
    figures: Stats
    top_unanswered: list[Pool]
    station: Site | None = None  # one station's figures; None: every station's

    @property
    def bot_share(self) -> float | None:
        received = self.figures.questions_received
        return self.figures.answered_by_bot / received if received else None

    def lines(self, language: str = "zh") -> list[str]:
        """The figures as lines; the questions received add up: answered + suggested + not
        understood."""
        figures = self.figures
        share = "–" if self.bot_share is None else f"{self.bot_share:.0%}"
        median = figures.median_reply_seconds
        lines = [
            t("stats.head", language, days=self.days, start=(figures.start or "")[:10],
              end=(figures.end or "")[:10]),
            t("stats.received", language, count=figures.questions_received),
            t("stats.answered", language, count=figures.answered_by_bot, share=share),
            t("stats.suggested", language, count=figures.suggested),
            t("stats.not_understood", language, count=figures.not_understood),
            t("stats.clicks", language, count=figures.suggestion_clicks),
            t("stats.saved", language, count=figures.saved_for_staff),
            t("stats.by_staff", language, count=figures.answered_by_staff),
            t("stats.median", language, age="–" if median is None else format_age(median)),
            t("stats.wishes", language, count=figures.wishes),
        ]  # fmt: skip
        if self.station is not None:
            lines.insert(1, t("staffui.station_label", language, name=self.station.name(language)))
        if self.top_unanswered:
            lines.append(t("stats.top", language))
            lines.extend(
                f"  {pool.describe()} [{', '.join(pool.refs[:5])}]" for pool in self.top_unanswered
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        figures = dataclasses.asdict(self.figures)
        figures.pop("reply_seconds")
        return {
            "days": self.days,
            **({"station": self.station.id} if self.station is not None else {}),
            **figures,
            "bot_share": None if self.bot_share is None else round(self.bot_share, 3),
            "median_reply_seconds": self.figures.median_reply_seconds,
            "top_unanswered": [pool.as_json() for pool in self.top_unanswered],
        }


@dataclass(frozen=True)
class TeachResult:
    """What teaching changed: the entry, the language and whether the text was new."""

    ref: str
    entry_id: str
    language: str
    text: str
    added: bool  # False when the overlay already had this phrasing
    now_answered: bool = False  # the matcher now answers the phrasing with the entry
    score: float = 0.0


# --- who is staff ----------------------------------------------------------------------


def parse_ref(text: str) -> str:
    """'q12', 'Q0012' -> 'Q0012'; raises StaffError for anything that is not a reference."""
    parsed = _parse_ref(text or "")
    if parsed is None:
        raise StaffError(f"not a reference: {text!r} (expected e.g. Q0012 or W0007)")
    return format_ref(*parsed)


# --- time and text --------------------------------------------------------------------


def format_age(seconds: float) -> str:
    """A short age: '45s', '12m', '5h', '3d'."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def age_of(item: Any, now: datetime) -> str:
    return format_age((now - parse_time(item.created_at)).total_seconds())


# --- export ----------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "ref",
    "kind",
    "status",
    "created_at",
    "user_id",
    "display_name",
    "text",
    "best_guesses",
    "replies",
    "first_reply_at",
    "history",
)


# A cell starting with one of these is a formula to Excel and LibreOffice (OWASP, "CSV Injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """`value` as a CSV cell that a spreadsheet shows and never runs: text starting like a
    formula gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(items: Iterable[Any], *, stations: bool = False) -> bytes:
    """Questions and wishes as CSV, UTF-8 with BOM so that Excel shows Chinese correctly.
    Every text cell goes through spreadsheet_cell: residents and staff write what they like.
    `stations`: a last column with the station each was saved for (a district's export)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*EXPORT_COLUMNS, "station"] if stations else EXPORT_COLUMNS)
    for item in sorted(items, key=chronological):
        replies = sorted(item.replies, key=lambda reply: reply.created_at)
        row = [
            item.ref,
            item.kind,
            item.status,
            item.created_at,
            item.user_id,
            item.display_name or "",
            item.text,
            "; ".join(f"{entry_id} ({score:.0f})" for entry_id, score in item.candidates),
            "\n".join(reply.text for reply in replies),
            replies[0].created_at if replies else "",
            "\n".join(
                f"{at} {status}" + (f": {note}" if note else "") + (f" ({actor})" if actor else "")
                for status, note, at, actor in item.history
            ),
        ]
        if stations:
            row.append(item.station_id or "")
        writer.writerow([spreadsheet_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


# --- the staff core -----------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """A staff member acting through one front end; `label` is what items record."""

    channel: str  # "telegram" | "web" | "cli"
    id: str
    name: str = ""
    language: str = "zh"
    # the station whose items they see and act on; None = every station (district staff,
    # or a deployment of one station). StaffDesk checks it for every front end.
    station: str | None = None

    @property
    def label(self) -> str:
        return f"{self.channel}:{self.name or self.id}"

    @property
    def staff_id(self) -> int | None:
        """The Telegram user id, for the staff_id columns (None on other front ends)."""
        return int(self.id) if self.channel == "telegram" and self.id.isdigit() else None


@dataclass(frozen=True)
class Confirm:
    """Where to tell the staff member their action was done (a Telegram chat), if anywhere."""

    channel: str
    address: str


def notices(station: Station, item: Item, follow_up: str | None = None) -> list[Outgoing]:
    """Staff notices about a saved item: to the staff group, else each staff member.

    HTML with every piece of resident text escaped; merged into a digest by the sender when
    several wait for the same chat.
    """
    config = station.config
    site = site_of(config.stations, item.station_id)
    targets = site.staff_targets if site is not None else []
    if not targets:  # one station, an item of no station, or a station without staff
        targets = (
            [config.staff_chat_id]
            if config.staff_chat_id is not None
            else sorted(config.staff_user_ids)
        )
    if not targets:
        return []
    language = config.staff_language
    head = "staffui.follow_up" if follow_up is not None else f"staffui.{item.kind}"
    if item.flag == "fraud":
        head = "staffui.fraud"
    lines = [
        f"<b>{html.escape(t(head, language, ref=item.ref))}</b>",
        html.escape(t("staffui.from", language, name=name_of(item), channel=item.channel)),
        html.escape(t("staffui.at", language, time=local_time(station, item.created_at))),
    ]
    if site is not None and several(config.stations):
        lines.append(html.escape(t("staffui.station_label", language, name=site.name(language))))
    if follow_up is not None:
        lines.append(html.escape(t("staffui.asked", language, text=clip(item.text, QUOTE_LIMIT))))
        lines.append(f"<blockquote>{html.escape(clip(follow_up, QUOTE_LIMIT))}</blockquote>")
    else:
        lines.append(f"<blockquote>{html.escape(clip(item.text, QUOTE_LIMIT))}</blockquote>")
    guesses = [
        f"· {html.escape(entry_id)} ({score:.0f}) {html.escape(entry_title(station, entry_id))}"
        for entry_id, score in item.candidates[:3]
    ]
    if guesses:
        lines += [html.escape(t("staffui.guesses", language)), *guesses]
    words = html.escape(one_line(follow_up if follow_up is not None else item.text, 40))
    return [
        Outgoing(
            "telegram",
            str(chat_id),
            "\n".join(lines),
            kind="notice",
            html=True,
            ref=item.ref,
            buttons=[notice_buttons(item, language)],
            digest_line=f"<b>{item.ref}</b> {words}",
            merge_key=f"follow_up:{item.ref}" if follow_up is not None else None,
        )
        for chat_id in targets
    ]


def notice_buttons(item: Item, language: str) -> list[Button]:
    """Reply / Resolve / Teach (questions) or Reply / Accept / Decline (wishes)."""
    if item.kind == "wish":
        return [
            Button(t("staffui.reply", language, ref=item.ref), staff_callback("r", item.ref)),
            Button(t("staffui.accept", language), staff_callback("w", item.ref, "accepted")),
            Button(t("staffui.decline", language), staff_callback("w", item.ref, "declined")),
        ]
    return [
        Button(t("staffui.reply", language, ref=item.ref), staff_callback("r", item.ref)),
        Button(t("staffui.resolve", language), staff_callback("x", item.ref)),
        Button(t("staffui.teach", language), staff_callback("t", item.ref)),
    ]


def staff_callback(action: str, *args: str) -> str:
    """Callback data of staff buttons: "st:<action>:<ref>[:<arg>]"."""
    return ":".join((STAFF_PREFIX, action, *args))


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def local_time(station: Station, created_at: str) -> str:
    moment = parse_time(created_at).astimezone(ZoneInfo(station.config.timezone))
    return f"{moment:%Y-%m-%d %H:%M}"


def name_of(item: Item) -> str:
    return item.display_name or "居民 resident"


def entry_title(station: Station, entry_id: str) -> str:
    entry = station.kb.get(entry_id)
    return entry.first_question("zh") if entry is not None else ""


class StaffDesk:
    """Every staff action (reply, resolve, teach, wish status, inbox, stats, export) for every
    staff front end: Telegram, the command line and the web console only render its results.

    Actions change state and queue the messages they cause in one unit of work.
    """

    def __init__(self, station: Station) -> None:
        self.station = station
        self.storage: Storage = station.storage

    def is_staff(self, channel: str, user_id: int | str | None) -> bool:
        """Telegram staff are the numeric ids in staff.user_ids and in each station's
        staff.user_ids (usernames can change)."""
        config = self.station.config
        return (
            channel == "telegram"
            and isinstance(user_id, int)
            and user_id in all_staff(config.stations, config.staff_user_ids)
        )

    def telegram_actor(self, user_id: int, name: str, language: str) -> Actor:
        """A Telegram staff member, with the station they work for (None: every station)."""
        config = self.station.config
        station = staff_station(config.stations, config.staff_user_ids, user_id)
        return Actor("telegram", str(user_id), name, language, station)

    def staff_chats(self, actor: Actor) -> set[int]:
        """The staff groups where `actor` may see items: the district's and their station's."""
        config = self.station.config
        chats = {config.staff_chat_id} if config.staff_chat_id is not None else set()
        for site in config.stations:
            if site.staff_chat_id is not None and self.scope(actor) in (None, site.id):
                chats.add(site.staff_chat_id)
        return chats

    def scope(self, actor: Actor | None) -> str | None:
        """The station whose items `actor` sees; None = every station. With fewer than two
        stations configured there is nothing to keep apart. `actor` None: the whole district
        (the bot itself)."""
        if actor is None or not several(self.station.config.stations):
            return None
        return actor.station

    # reading

    async def item(self, ref: str, *, actor: Actor | None = None) -> Item:
        """The item behind a reference, or StaffError naming it; StaffError too when it
        belongs to a station other than the actor's."""
        ref = parse_ref(ref)
        item = await self.storage.get_item(ref)
        if item is None:
            raise StaffError(t("staffui.no_item", "en", ref=ref))
        scope = self.scope(actor)
        if actor is not None and scope is not None and item.station_id != scope:
            site = site_of(self.station.config.stations, scope)
            name = site.name(actor.language) if site is not None else scope
            raise StaffError(t("staffui.other_station", actor.language, ref=ref, station=name))
        return item

    async def inbox(self, kind: str | None = None, *, actor: Actor | None = None) -> list[Item]:
        """Items waiting for staff (open questions; open, accepted or in-progress wishes) of
        the actor's station, oldest waiting first."""
        return await self.storage.open_items(kind, oldest_first=True, station=self.scope(actor))

    async def wishes(self, status: str | None = None, *, actor: Actor | None = None) -> list[Pool]:
        """Wishes of the actor's station pooled by similarity, optionally only those with one
        status."""
        if status is not None and status not in ("open", *WISH_STATUSES):
            raise StaffError(
                f"unknown wish status {status!r}: use open | {' | '.join(WISH_STATUSES)}"
            )
        items = await self.storage.pooling_rows("wish", status=status, station=self.scope(actor))
        # thousands of wishes take a moment: off the event loop, the bot keeps answering
        return await asyncio.to_thread(pool_items, items)

    async def stats(
        self,
        days: int = 7,
        *,
        now: datetime | None = None,
        top: int = 5,
        actor: Actor | None = None,
    ) -> StaffStats:
        """Figures for the `days` days before `now` (the actor's station's, else the
        district's), with the most frequent questions still waiting for staff, pooled by
        similarity."""
        if days < 1:
            raise StaffError("days must be at least 1")
        # stored times are whole seconds and the window's end is exclusive: keep this second in
        until = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=1)
        since = until - timedelta(days=days)
        station = self.scope(actor)
        figures = await self.storage.stats(since, until, station=station)
        waiting = await self.storage.pooling_rows(
            "question", status="open", since=since, until=until, station=station
        )
        pools = await asyncio.to_thread(pool_items, waiting)
        return StaffStats(
            days=days,
            figures=figures,
            top_unanswered=pools[:top],
            station=site_of(self.station.config.stations, station),
        )

    async def export_csv(self, *, actor: Actor | None = None) -> tuple[bytes, int]:
        """Every stored question and wish (of the actor's station) as CSV bytes, and how
        many rows."""
        items = await self.storage.all_items(station=self.scope(actor))
        return export_csv(items, stations=several(self.station.config.stations)), len(items)

    def try_question(self, text: str, station: str | None = None) -> MatchResult:
        """What the matcher decides for `text` (the web console's test pane), for the residents
        of `station` (its own entries on top of the shared) or of the whole district."""
        _, matcher = self.station.faq_of(station)
        return matcher.match(clean_text(text))

    # acting

    async def reply(
        self, ref: str, text: str, *, actor: Actor, confirm: Confirm | None = None
    ) -> Item:
        """Sends a staff answer to the resident on their channel (their question quoted) and
        records it; the item becomes answered."""
        text = (text or "").strip()
        if not text:
            raise StaffError(t("staffui.empty_reply", actor.language))
        item = await self.item(ref, actor=actor)

        async def unit(tx: Tx) -> Item:
            updated = await tx.add_staff_reply(
                item.ref, text, staff_id=actor.staff_id, actor=actor.label
            )
            language = await self._resident_language(tx, item)
            key = "staff.reply_wish" if item.kind == "wish" else "staff.reply_question"
            # the answer is never the part cut: the quoted question gives way first
            room = MAX_TEXT - len(text) - 300
            quote = clip(item.text, min(QUOTE_LIMIT, max(room, 60)))
            body = t(key, language, ref=item.ref, question=quote, answer=text)
            buttons = []
            if item.kind == "question":  # 👍 closes a question; a wish closes by its status
                buttons = [
                    [Button(t("staff.thanks_button", language), staff_callback("thx", item.ref))]
                ]
            # WeChat has no "reply to this message": there a new message is a new question
            hint = f"staff.reply_hint.{item.channel}"
            hint = hint if has(hint) else "staff.reply_hint"
            await self._to_resident(tx, item, f"{body}\n\n{t(hint, language)}", buttons, actor)
            await self._confirm(
                tx, confirm, t("staffui.sent", actor.language, name=name_of(item), ref=item.ref)
            )
            return updated

        return await self._act(f"reply to {item.ref}", unit)

    async def resolve(
        self, ref: str, note: str = "", *, actor: Actor, confirm: Confirm | None = None
    ) -> Item:
        """Closes a question without a reply; a note, if given, is shown to the resident."""
        item = await self.item(ref, actor=actor)
        if item.kind == "wish":
            raise StaffError(t("staffui.resolve_wish", actor.language, ref=item.ref))
        if item.status == QUESTION_CLOSED:
            raise StaffError(t("staffui.already_resolved", actor.language, ref=item.ref))
        note = note.strip()

        async def unit(tx: Tx) -> Item:
            updated = await tx.set_status(
                item.ref, QUESTION_CLOSED, note=note, staff_id=actor.staff_id, actor=actor.label
            )
            if note:
                language = await self._resident_language(tx, item)
                text = t(
                    "staff.resolved_note",
                    language,
                    ref=item.ref,
                    question=clip(item.text, 300),
                    note=note,
                )
                await self._to_resident(tx, item, text, [], actor)
            await self._confirm(tx, confirm, t("staffui.resolved", actor.language, ref=item.ref))
            return updated

        return await self._act(f"resolve {item.ref}", unit)

    async def set_wish_status(
        self,
        ref: str,
        status: str,
        note: str = "",
        *,
        actor: Actor,
        confirm: Confirm | None = None,
    ) -> Item:
        """Moves a wish to accepted / in_progress / done / declined and tells the resident."""
        if status not in WISH_STATUSES:
            raise StaffError(f"unknown wish status {status!r}: use {' | '.join(WISH_STATUSES)}")
        item = await self.item(ref, actor=actor)
        if item.kind != "wish":
            raise StaffError(t("staffui.not_wish", actor.language, ref=item.ref))
        note = note.strip()

        async def unit(tx: Tx) -> Item:
            updated = await tx.set_status(
                item.ref, status, note=note, staff_id=actor.staff_id, actor=actor.label
            )
            language = await self._resident_language(tx, item)
            text = t(f"staff.wish_{status}", language, ref=item.ref, text=clip(item.text, 300))
            if note:
                text += "\n" + t("staff.note", language, note=note)
            await self._to_resident(tx, item, text, [], actor)
            label = t(f"status.{status}", actor.language)
            await self._confirm(
                tx, confirm, t("staffui.wish_set", actor.language, ref=item.ref, status=label)
            )
            return updated

        return await self._act(f"change {item.ref}", unit)

    async def teach(
        self, ref: str, entry_id: str, *, actor: Actor, confirm: Confirm | None = None
    ) -> TeachResult:
        """Adds the question as a phrasing of `entry_id` (staff overlay), reloads the FAQ,
        checks that the phrasing is now answered with that entry, tells the resident the
        answer and marks the question answered."""
        station = self.station
        item = await self.item(ref, actor=actor)
        config = station.config
        result = await asyncio.to_thread(
            teach_overlay, item, entry_id, station.kb, config.overlay_path, config.faq_path
        )
        await self.reload()
        outcome = station.matcher.match(result.text)
        result = dataclasses.replace(
            result,
            now_answered=outcome.outcome == "answer" and outcome.id == entry_id,
            score=outcome.score,
        )
        entry = station.kb.get(entry_id)
        lines = [
            t(
                "staffui.taught" if result.added else "staffui.taught_already",
                actor.language,
                entry=entry_id,
                text=result.text,
            ),
            t("staffui.now_answered", actor.language, score=outcome.score)
            if result.now_answered
            else t(
                "staffui.not_yet_answered",
                actor.language,
                outcome=outcome.outcome,
                score=outcome.score,
            ),
        ]

        async def unit(tx: Tx) -> None:
            if item.status == "open" and entry is not None:
                language = await self._resident_language(tx, item)
                answer = entry.answer.get(language) or next(iter(entry.answer.values()))
                text = t(
                    "staff.taught",
                    language,
                    ref=item.ref,
                    question=clip(item.text, 300),
                    answer=answer,
                )
                await self._to_resident(tx, item, text, [], actor)
                await tx.set_status(
                    item.ref,
                    "answered",
                    note=f"taught: {entry_id}",
                    staff_id=actor.staff_id,
                    actor=actor.label,
                )
            await self._confirm(tx, confirm, "\n".join(lines))

        await self._act(f"teach {item.ref}", unit)
        return result

    async def reload(self) -> KnowledgeBase:
        """Reloads the FAQ after a hand edit; a broken file is refused (StaffError)."""
        return await asyncio.to_thread(reload_knowledge, self.station)

    async def say(
        self, confirm: Confirm, text: str, buttons: list[list[Button]] | None = None
    ) -> None:
        """Queues a message to a staff member (a listing, a usage line, an error)."""
        await self.send(
            Outgoing(confirm.channel, confirm.address, clip(text), buttons=buttons or [])
        )

    async def send(self, message: Outgoing) -> None:
        """Queues any message for staff (a document, a reply prompt)."""

        async def unit(tx: Tx) -> None:
            await tx.queue(message.channel, message.address, message.kind, message.to_json())

        await self._act("queue a staff message", unit)

    # helpers

    async def _act(self, action: str, unit: Callable[[Tx], Awaitable[Any]]) -> Any:
        """Runs `unit` and marks the incoming message it answers handled, in one commit."""
        # read here: units run in the group-commit task, whose context is another message's
        turn = current_turn.get()

        async def whole(tx: Tx) -> Any:
            result = await unit(tx)
            if turn is not None and not turn.finished:
                await tx.finish(turn.row.id)
            return result

        try:
            result = await self.storage.transact(action, whole)
        except ValueError as error:
            raise StaffError(str(error)) from None
        if turn is not None:
            turn.finished = True
        return result

    async def _resident_language(self, tx: Tx, item: Item) -> str:
        resident = await tx.resident_by_id(item.user_id)
        if resident is not None and resident.language in LANGUAGES:
            return resident.language
        if resident is not None and resident.last_language in LANGUAGES:
            return resident.last_language
        return detect_language(item.text)

    async def _to_resident(
        self, tx: Tx, item: Item, text: str, buttons: list[list[Button]], actor: Actor
    ) -> None:
        # a refusal is noted on the item (the web console and CLI show it) and reaches a
        # staff member who acted in Telegram there too
        failure = {
            "ref": item.ref,
            "text": t("staffui.unreachable", actor.language, ref=item.ref, channel=item.channel),
        }
        if actor.channel == "telegram":
            failure |= {"channel": "telegram", "address": actor.id}
        # never cut here: a channel splits a message longer than it takes
        message = Outgoing(
            item.channel, item.address, text, buttons=buttons, ref=item.ref, on_failure=failure
        )
        await tx.queue(message.channel, message.address, message.kind, message.to_json())

    @staticmethod
    async def _confirm(tx: Tx, confirm: Confirm | None, text: str) -> None:
        if confirm is not None:
            message = Outgoing(confirm.channel, confirm.address, clip(text))
            await tx.queue(message.channel, message.address, message.kind, message.to_json())


async def export_to_file(desk: StaffDesk, target: Path, *, actor: Actor | None = None) -> int:
    """Writes every stored question and wish (of the actor's station) to the CSV file
    `target`; returns the rows. A half-written export never replaces a good one."""
    if target.is_dir():
        raise StaffError(f"{target} is a folder; name a file")
    folder = target.parent
    if not folder.is_dir():
        raise StaffError(f"cannot write {target}: the folder {folder} does not exist")
    data, rows = await desk.export_csv(actor=actor)
    try:
        write_atomically(target, data, prefix=".export-")
    except OSError as error:
        # the error names the temporary file; staff only know the file they asked for
        raise StaffError(f"cannot write {target}: {error.strerror or error}") from None
    return rows


# --- teaching ----------------------------------------------------------------------------


def read_overlay(path: Path) -> dict[str, Any]:
    """The overlay's mapping ({} if the file is missing); StaffError if it is not valid."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise StaffError(f"{path}: cannot read the staff overlay: {one_line(str(error))}") from None
    if isinstance(data, dict) and data.get("teach") is None:
        data["teach"] = {}
    if not isinstance(data, dict) or not isinstance(data["teach"], dict):
        raise StaffError(f"{path}: the staff overlay must be a mapping with a 'teach' mapping")
    return data


def add_phrasing(data: dict[str, Any], entry_id: str, language: str, text: str) -> bool:
    """Adds `text` under teach[entry_id][language]; False if it was there already."""
    teach = data.setdefault("teach", {})
    entry = teach.setdefault(entry_id, {})
    if not isinstance(entry, dict):
        raise StaffError(f"overlay entry {entry_id} is not a mapping; fix the file by hand")
    phrasings = entry.setdefault(language, [])
    if not isinstance(phrasings, list):
        raise StaffError(f"overlay entry {entry_id}.{language} is not a list; fix it by hand")
    if text in phrasings:
        return False
    phrasings.append(text)
    return True


def write_atomically(
    path: Path, data: bytes, *, prefix: str, validate: Callable[[Path], object] | None = None
) -> None:
    """Writes `data` through a temporary file in the same folder, runs `validate` on that
    file, and only then replaces `path`, so a failure leaves the old file untouched."""
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if validate is not None:
            validate(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_overlay_atomically(
    path: Path, data: Mapping[str, Any], validate: Callable[[Path], object] | None = None
) -> None:
    """Writes the overlay (creating its folder) through write_atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Staff overlay: phrasings taught by staff (stationbot teach / Teach button)\n"
    text += yaml.safe_dump(dict(data), allow_unicode=True, sort_keys=True, width=1000)
    write_atomically(path, text.encode("utf-8"), prefix=".overlay-", validate=validate)


def teach_overlay(
    item: Item, entry_id: str, kb: KnowledgeBase, overlay_path: Path, faq_path: Path | None
) -> TeachResult:
    """Adds the question's text as an alternate question of `entry_id` in the staff overlay.

    The new overlay is first loaded on top of the FAQ at `faq_path` (None = bundled); if the
    loader finds a problem, the overlay stays as it was and StaffError carries the loader's
    message. The caller then reloads the running knowledge base.
    """
    if item.kind != "question":
        raise StaffError(f"{item.ref} is a wish; only questions can be taught")
    if kb.get(entry_id) is None:
        raise StaffError(f"no FAQ entry {entry_id!r}{_did_you_mean(entry_id, kb)}")
    text = " ".join(item.text.split())
    added = teach_phrasings([text], entry_id, overlay_path=overlay_path, faq_path=faq_path) > 0
    return TeachResult(item.ref, entry_id, detect_language(text), text, added)


def teach_phrasings(
    texts: list[str], entry_id: str, *, overlay_path: Path, faq_path: Path | None
) -> int:
    """Adds texts as phrasings of `entry_id` in the staff overlay, which is first loaded on
    top of the FAQ at `faq_path` (None = bundled): if the loader finds a problem, the overlay
    stays as it was and StaffError carries the loader's message. Returns how many were new.
    The caller then reloads the running knowledge base."""
    data = read_overlay(overlay_path)
    added = 0
    for text in texts:
        text = " ".join(text.split())
        if text and add_phrasing(data, entry_id, detect_language(text), text):
            added += 1
    if added:

        def validate(candidate: Path) -> None:
            try:
                load(faq_path, overlay=candidate)
            except FaqError as error:
                raise StaffError(str(error).replace(str(candidate), str(overlay_path))) from None

        write_overlay_atomically(overlay_path, data, validate)
    return added


class FileWatch:
    """Tells whether a file changed (appeared, vanished, new size or time) since last asked."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._seen = self._fingerprint()

    def _fingerprint(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def changed(self) -> bool:
        current = self._fingerprint()
        if current == self._seen:
            return False
        self._seen = current
        return True


def reload_knowledge(station: Any) -> KnowledgeBase:
    """Reloads the station's FAQ and overlay; on a broken file StaffError carries the
    loader's problems and the station keeps its last good knowledge base."""
    try:
        station.reload()
    except FaqError as error:
        raise StaffError(f"reload refused, the previous FAQ stays in use:\n{error}") from None
    return station.kb


def _did_you_mean(entry_id: str, kb: KnowledgeBase) -> str:
    best = process.extractOne(entry_id, [entry.id for entry in kb.entries], score_cutoff=60)
    return f"; did you mean {best[0]!r}?" if best else ""
