"""The one decision path for a resident's message, on every channel.

`Station` answers, suggests, or saves a question for staff, takes wishes, and returns plain
`Reply` objects. It never sends: each decision is one unit of work in which the state change
(a saved question, a wish, a language), the reply and any staff notices are written together,
and the incoming message (bot.inbox.current_turn) is marked handled; the outbox's sender
delivers the messages. Adapters in handlers/ only parse input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from bot.config import Config, load_station_faq
from bot.inbox import Turn, current_turn
from bot.live import (
    LIVE_ANSWERS,
    branches_by_distance,
    list_branches,
    nearest_branches,
    week_hours,
)
from bot.messages import LANGUAGES, all_variants, has, t
from bot.outbox import Button, Outgoing
from bot.stations import Site, home_of, several, site_of
from bot.storage import Item, PendingQuestion, Resident, Storage, StorageError, Tx, parse_time
from bot.text import clean_text, one_line
from bot.topics import KEYBOARD_ROWS, topic_of
from faq.matcher import Matcher
from faq.model import Entry, KnowledgeBase, MatchResult, StationInfo
from faq.normalize import detect_language

log = logging.getLogger(__name__)

# Callback data is "<version>:<action>:<args...>"; buttons from an older format read as expired.
CALLBACK_VERSION = "1"
MAX_CALLBACK_BYTES = 64  # Telegram's limit on callback_data
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8}$")

# A pending question (behind suggestion / feedback / "pass to staff" buttons) is kept this long.
PENDING_TTL_SECONDS = 24 * 3600
# "/wish" without text waits this long for the wish itself.
WISH_PROMPT_TTL_SECONDS = 15 * 60
MAX_SUGGESTIONS = 3
MINE_PAGE_CHARS = 3000  # one /mine page, well inside every channel's message limit
MINE_TEXT_CHARS = 120
# A resident may have this many questions waiting for staff; past it, new ones are not saved
# and the reply says so (and gives the phone number), so one resident cannot flood the inbox.
MAX_OPEN_QUESTIONS = 20
RESIDENT_CACHE = 10_000  # residents kept in memory between their messages (least recent go)
RESIDENT_TOUCH_SECONDS = 3600  # last_seen is written at most this often per resident

HUMAN_ENTRY = "smalltalk.human"  # asking for a person: answer and save for staff
FRAUD_ENTRY = "safety.fraud"  # a fraud attempt: the warning at once, and staff told
WISH_HOW_ENTRY = "wish.how"  # answering it offers a "make a wish now" button
SAVED_WITH_ANSWER = {HUMAN_ENTRY: "human.saved", FRAUD_ENTRY: "fraud.saved"}

# Typed instead of pressing "Cancel" under the wish prompt: not a wish.
WISH_CANCEL_WORDS = {"取消", "不许了", "不许", "算了", "不要了", "不用了", "cancel", "never mind"}
# In a district of several stations: what residents type to see or change their station
# (besides the 📍 button and /station), and the live answers that depend on it.
HOME_WORDS = {"换驿站", "我的驿站", "选驿站", "改驿站", "换站点", "change station", "my station"}
PER_STATION_LIVE = {"opening_hours", "canteen_hours", "canteen_menu"}
CANTEEN_LIVE = {"canteen_hours", "canteen_menu"}
# answers whose shared wording names one station's hours or address: in a district, a home
# station without its own entry gets them computed from its data instead
OWN_WORDS_LIVE = {"opening_hours", "branch_address"}
# Messages with nothing to act on: a friendly word back, nothing saved for staff.
ACKNOWLEDGEMENTS = {
    "嗯", "嗯嗯", "哦", "哦哦", "噢", "喔", "好", "好的", "好吧", "行", "知道了", "晓得了",
    "收到", "明白", "明白了", "ok", "okay", "k", "yes", "no", "是", "对", "hmm", "oh", "ah",
    # a particle alone (sent too early, or a voice slip): nothing asked yet
    "伐", "吗", "呢", "啊", "呀", "哈", "哈哈", "诶", "欸", "呃",
}  # fmt: skip


@dataclass
class Reply:
    """What to say back: adapters render it, nothing more.

    `buttons` (inline) and `keyboard` (big reply-keyboard buttons) are never both set.
    """

    text: str
    language: str
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[str]] | None = None
    saved: Item | None = None  # a question or wish saved by this message
    retire_buttons: bool = False  # the pressed message's buttons have done their job


@dataclass(frozen=True)
class Sender:
    """Who sent a message, and where: `user_id` is their id on `channel`."""

    user_id: int | str
    chat_id: int | str
    private: bool = True
    language_code: str | None = None  # Telegram's, e.g. "zh-hans", "en"
    display_name: str | None = None
    channel: str = "telegram"
    message_id: int | None = None  # the message (or pressed message) this is about

    @property
    def key(self) -> str:
        """The resident, whatever the channel: flood control and ordering use it."""
        return f"{self.channel}:{self.user_id}"


class FloodGuard:
    """Counts each resident's messages in a sliding window; idle residents are forgotten."""

    def __init__(self, max_messages: int, window_seconds: float, clock: Callable[[], float]):
        self.max_messages = max_messages
        self.window_seconds = window_seconds
        self._clock = clock
        self._times: dict[str, deque[float]] = {}
        self._warned: set[str] = set()
        self._next_sweep = 0.0

    def check(self, key: str) -> str:
        """Return "ok", "warn" (first message over the limit) or "silent" (the rest).

        A burst of `max_messages` in the window is a flood: the last of them is warned.
        """
        now = self._clock()
        self._sweep(now)
        times = self._times.setdefault(key, deque())
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        times.append(now)
        if len(times) < self.max_messages:
            self._warned.discard(key)
            return "ok"
        if key in self._warned:
            return "silent"
        self._warned.add(key)
        return "warn"

    def forget(self, key: str) -> None:
        self._times.pop(key, None)
        self._warned.discard(key)

    def __len__(self) -> int:
        return len(self._times)

    def _sweep(self, now: float) -> None:
        """Drops residents with nothing in the window (200,000 seen once cost no memory)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window_seconds
        idle = [
            k
            for k, times in self._times.items()
            if not times or now - times[-1] > self.window_seconds
        ]
        for key in idle:
            self.forget(key)


class MatchBatch:
    """Matches the messages being handled at the same moment in one bulk call.

    Scoring texts together (Matcher.match_many) costs a fraction per text of one match()
    each, which is what lets one process keep up with a burst of residents.
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[str, asyncio.Future[MatchResult]]] = []

    async def match(self, matcher: Matcher, text: str) -> MatchResult:
        """The matcher's decision for `text`, scored with any others asked for meanwhile."""
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[MatchResult] = loop.create_future()
        self._waiting.append((text, decided))
        if len(self._waiting) == 1:
            # after the handlers already ready to run have added their texts
            loop.call_soon(self._score, matcher)
        return await decided

    def _score(self, matcher: Matcher) -> None:
        batch, self._waiting = self._waiting, []
        try:
            if len(batch) == 1:
                results = [matcher.match(batch[0][0])]
            else:
                results = matcher.match_many([text for text, _ in batch])
        except Exception as error:  # the handlers waiting get it, as from match()
            for _, decided in batch:
                if not decided.done():
                    decided.set_exception(error)
            return
        for (_, decided), result in zip(batch, results, strict=True):
            if not decided.done():
                decided.set_result(result)


@dataclass
class Context:
    """What a decision knows about the resident: read before, written in the same unit."""

    sender: Sender
    language: str
    resident: Resident | None  # as stored before this message (None: first contact)
    tx: Tx | None = None
    user_id: int = 0  # the internal id, once the unit has created or refreshed the resident
    turn: Turn | None = None  # the incoming message being handled (read before the unit:
    # units run in the group-commit task, whose context is another message's)
    stored: Resident | None = None  # the resident as stored, once the unit has them
    forgotten: bool = False  # the unit deleted everything about the resident
    language_written: str | None = None  # the reply language the unit stored as last used
    station_id: str | None = None  # their home station as stored (or just chosen)

    @property
    def awaiting_wish(self) -> datetime | None:
        stamp = self.resident.awaiting_wish_at if self.resident else None
        return parse_time(stamp) if stamp else None


Decide = Callable[[Context], Awaitable["Reply | None"]]


def callback(*parts: str) -> str:
    """Callback data for `parts`: "<version>:<action>:<args...>"."""
    return ":".join((CALLBACK_VERSION, *parts))


def fits(data: str) -> bool:
    """True when callback data is within Telegram's 64 bytes (long entry ids may not be)."""
    return len(data.encode()) <= MAX_CALLBACK_BYTES


def has_words(text: str) -> bool:
    """True when text has letters or characters to tell its language by (not just "123" or 👍)."""
    return any(character.isalpha() for character in text)


def worth_reading(text: str) -> bool:
    """True when text could be a question or wish: a Chinese character or two Latin letters
    (a lone "g" or "A" is a slip of the finger, not something for staff)."""
    letters = [character for character in text if character.isalpha()]
    return len(letters) >= 2 or any(not character.isascii() for character in letters)


def is_acknowledgement(text: str) -> bool:
    """True for "嗯", "ok", "好的。": nothing to answer and nothing for staff."""
    return text.strip(" 。.!！~～?？,，").casefold() in ACKNOWLEDGEMENTS


class Station:
    """Decides what to say to a resident; holds the knowledge base, matcher and storage."""

    def __init__(
        self,
        config: Config,
        kb: KnowledgeBase,
        storage: Storage,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ):
        self.config = config
        self.kb = kb
        self.matcher = Matcher(kb, config.matching)
        self.storage = storage
        self.flood = FloodGuard(config.flood_max_messages, config.flood_window_seconds, clock)
        self._clock = clock
        self._now = now or (lambda: datetime.now(ZoneInfo(config.timezone)))
        self._storage_problems: set[str] = set()
        # residents as stored after their last message, by Sender.key, with when last_seen
        # was written: most messages then need no read and no write of the resident
        self._residents: OrderedDict[str, tuple[Resident, float]] = OrderedDict()
        self._refusals_logged: dict[str, float] = {}
        self._match_batch = MatchBatch()
        self._reply_holds: dict[str, float] = {}  # channel -> seconds (see hold_replies)
        self._station_infos = self._infos(kb)
        self._station_faqs = self._load_station_faqs()

    @classmethod
    async def create(
        cls,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> Station:
        """Loads the knowledge base (with the staff overlay) and opens storage."""
        kb = await asyncio.to_thread(load_station_faq, config)
        storage = await Storage.open(config.database, pool_size=config.storage_pool_size)
        return cls(config, kb, storage, clock=clock, now=now)

    async def close(self) -> None:
        await self.storage.close()

    def reload(self) -> None:
        """Reloads the knowledge base and overlay; on FaqError keeps the current one and raises."""
        kb = load_station_faq(self.config)
        station_faqs = self._load_station_faqs()
        self.kb, self.matcher = kb, Matcher(kb, self.config.matching)
        self._station_infos = self._infos(kb)
        self._station_faqs = station_faqs

    def _load_station_faqs(self) -> dict[str, tuple[KnowledgeBase, Matcher, MatchBatch]]:
        """The knowledge base of each station with entries of its own (`faq:`), its matcher
        and its batch: the others share the FAQ's. Raises FaqError."""
        faqs = {}
        for site in self.config.stations:
            if site.faq_path is not None:
                kb = load_station_faq(self.config, site)
                faqs[site.id] = (kb, Matcher(kb, self.config.matching), MatchBatch())
        return faqs

    def _infos(self, kb: KnowledgeBase) -> dict[str | None, StationInfo]:
        """Each configured station's data (the FAQ's station data with its own on top), and
        under None what a resident who has not chosen gets: in a district, its stations as
        the branches (nearest, by street); else the FAQ's station data as it is."""
        sites = self.config.stations
        infos: dict[str | None, StationInfo] = {
            site.id: site.info(kb.station, sites) for site in sites
        }
        infos[None] = (
            dataclasses.replace(kb.station, branches=tuple(site.place for site in sites))
            if several(sites)
            else kb.station
        )
        return infos

    # --- the decision for one text: what `stationbot match` reports too ---

    async def decide(self, text: str, station_id: str | None = None) -> MatchResult:
        """The matcher's decision for a cleaned text, scored with others asked meanwhile;
        with the FAQ of `station_id` when that station has entries of its own."""
        own = self._own_faq(station_id)
        if own is not None:
            _, matcher, batch = own
            return await batch.match(matcher, text)
        return await self._match_batch.match(self.matcher, text)

    def faq_of(self, station_id: str | None) -> tuple[KnowledgeBase, Matcher]:
        """The knowledge base and matcher of `station_id`'s residents: its own entries on top
        of the shared when it has a `faq:` folder, else the shared ones."""
        own = self._own_faq(station_id)
        return (own[0], own[1]) if own is not None else (self.kb, self.matcher)

    def _own_faq(self, station_id: str | None) -> tuple[KnowledgeBase, Matcher, MatchBatch] | None:
        """The station's own knowledge base, matcher and batch; None without a `faq:` folder."""
        return self._station_faqs.get(station_id) if station_id is not None else None

    async def _station_faq_of(self, sender: Sender) -> str | None:
        """The sender's home station when it has entries of its own (read before the unit:
        matching happens first); None otherwise, without reading anything."""
        if not self._station_faqs:
            return None
        cached = self._residents.get(sender.key)
        try:
            resident = (
                cached[0]
                if cached is not None
                else await self.storage.find_resident(sender.channel, str(sender.user_id))
            )
        except StorageError:
            return None
        home = home_of(self.config.stations, resident.station_id if resident else None)
        return home.id if home is not None and home.id in self._station_faqs else None

    # --- one unit of work per message ---

    async def _turn(
        self, sender: Sender, decide: Decide, *, text: str | None = None
    ) -> Reply | None:
        """Flood control, then `decide` in one unit of work with the reply it returns queued
        for the resident, staff told of what it saved, and the incoming message finished."""
        verdict = self.flood.check(sender.key)
        if verdict == "silent":
            return None
        cached = self._residents.get(sender.key)
        if cached is not None:
            resident, touched = cached
            self._residents.move_to_end(sender.key)
        else:
            touched = None
            try:
                resident = await self.storage.find_resident(sender.channel, str(sender.user_id))
            except StorageError as error:
                resident = None
                self._storage_problem("read resident", error)
        turn = current_turn.get()
        context = Context(sender, self._language(sender, resident, text), resident, turn=turn)
        if verdict == "warn":
            log.info("flood control: %s is over the limit", sender.key)
            decide = self._slow_down

        fresh = (
            resident is not None
            and touched is not None
            and self._clock() - touched < RESIDENT_TOUCH_SECONDS
            and sender.display_name in (None, resident.display_name)
        )

        async def unit(tx: Tx) -> Reply | None:
            context.tx = tx
            if fresh:  # seen lately as they are: last_seen is recent enough
                stored = resident
            else:
                stored = await tx.resident(
                    sender.channel, str(sender.user_id), display_name=sender.display_name
                )
            context.user_id = stored.user_id
            context.stored = stored
            context.station_id = stored.station_id
            reply = await decide(context)
            if reply is not None:
                await self._queue_reply(tx, sender, reply, turn)
                if reply.language != stored.last_language:
                    await tx.set_last_language(stored.user_id, reply.language)
                    context.language_written = reply.language
                if reply.saved is not None:
                    for notice in self.notices(reply.saved):
                        await tx.queue(
                            notice.channel, notice.address, notice.kind, notice.to_json()
                        )
            if turn is not None and not turn.finished:
                await tx.finish(turn.row.id)
            return reply

        try:
            reply = await self.storage.transact("handle a message", unit)
        except StorageError as error:
            self._residents.pop(sender.key, None)
            return await self._apologise(sender, context.language, error, turn)
        if turn is not None:
            turn.finished = True
        if context.forgotten:
            self.storage.after_forget()
            self.flood.forget(sender.key)
        self._remember(sender.key, context, fresh, touched)
        return reply

    def _remember(self, key: str, context: Context, fresh: bool, touched: float | None) -> None:
        """Keeps the resident as stored after this message, for the next one (a bounded LRU;
        a unit that changed the resident beyond the reply language leaves them out)."""
        stored = context.stored
        if stored is None or context.tx is None or stored.user_id in context.tx.residents_changed:
            self._residents.pop(key, None)
            return
        if context.language_written is not None:
            stored = dataclasses.replace(stored, last_language=context.language_written)
        self._residents[key] = (stored, touched if fresh else self._clock())
        self._residents.move_to_end(key)
        while len(self._residents) > RESIDENT_CACHE:
            self._residents.popitem(last=False)

    async def _apologise(
        self, sender: Sender, language: str, error: StorageError, turn: Turn | None
    ) -> Reply | None:
        """Nothing was saved: say so (never "saved"), with the phone number, and count the
        message as handled. If even that cannot be written, say nothing: the message stays
        in the inbox and is handled again once the database takes writes (Turn.failed)."""
        reply = self._save_failed("handle a message", error, language)

        async def unit(tx: Tx) -> None:
            await self._queue_reply(tx, sender, reply, turn)
            if turn is not None:
                await tx.finish(turn.row.id)

        try:
            await self.storage.transact("queue an apology", unit)
        except StorageError:
            if turn is not None:
                turn.failed = True
            return None
        if turn is not None:
            turn.finished = True
        return reply

    async def _slow_down(self, context: Context) -> Reply:
        return Reply(t("slow_down", context.language), context.language)

    def hold_replies(self, channel: str, seconds: float) -> None:
        """Replies to messages on `channel` wait `seconds` before the sender may take them:
        the channel answers in its own HTTP request if it can (WeChat's passive reply)."""
        self._reply_holds[channel] = seconds

    async def _queue_reply(
        self, tx: Tx, sender: Sender, reply: Reply, turn: Turn | None = None
    ) -> None:
        """Queues the reply, tied to the incoming message it answers (`turn`)."""
        inbox_id = turn.row.id if turn is not None else None
        hold = self._reply_holds.get(sender.channel) if inbox_id is not None else None
        not_before = parse_time(tx.now) + timedelta(seconds=hold) if hold else None
        address = str(sender.chat_id)
        if reply.retire_buttons and sender.message_id is not None:
            retire = Outgoing(sender.channel, address, kind="retire", message_id=sender.message_id)
            await tx.queue(retire.channel, retire.address, retire.kind, retire.to_json())
        message = Outgoing(
            sender.channel,
            address,
            reply.text,
            buttons=reply.buttons,
            keyboard=reply.keyboard,
            quote=None if sender.private else sender.message_id,
        )
        await tx.queue(
            message.channel,
            message.address,
            message.kind,
            message.to_json(),
            inbox_id=inbox_id,
            not_before=not_before,
        )

    def notices(self, item: Item, follow_up: str | None = None) -> list[Outgoing]:
        """Staff notices about a saved item (rendered by the staff core)."""
        from bot.staff import notices  # the staff core renders them; it imports this module

        return notices(self, item, follow_up)

    # --- language ---

    def _language(self, sender: Sender, resident: Resident | None, text: str | None) -> str:
        """The reply language: chosen with /language, else the script typed, else earlier use,
        else the channel's language code, else Chinese."""
        if resident is not None and resident.language in LANGUAGES:
            return resident.language
        if text and worth_reading(text) and has_words(text):
            return detect_language(text)
        if resident is not None and resident.last_language in LANGUAGES:
            return resident.last_language
        if sender.language_code and sender.language_code[:2].lower() in LANGUAGES:
            return sender.language_code[:2].lower()
        return "zh"

    # --- commands ---

    async def on_start(self, sender: Sender) -> Reply | None:
        """Greets the resident and shows the big topic buttons."""

        async def decide(c: Context) -> Reply:
            await self._end_wish_prompt(c)
            key = f"start.{sender.channel}"
            greeting = t(key if has(key) else "start", c.language)
            if self._needs_home(c):  # asked once: the big buttons come with the answer
                text = f"{greeting}\n\n{t('home.ask', c.language)}"
                return Reply(text, c.language, buttons=self._home_buttons(c.language))
            return Reply(greeting, c.language, keyboard=self._keyboard(sender, c.language))

        return await self._turn(sender, decide)

    async def on_home(self, sender: Sender) -> Reply | None:
        """Shows the resident's home station and the stations to change it to (one station:
        the help, as any unknown command)."""
        if not self._district():
            return await self.on_help(sender)
        return await self._turn(sender, self._home_choice)

    async def _home_choice(self, c: Context) -> Reply:
        await self._end_wish_prompt(c)
        home = self._home(c)
        lines = [t("home.current", c.language, name=home.name(c.language))] if home else []
        lines.append(t("home.ask", c.language))
        return Reply("\n".join(lines), c.language, buttons=self._home_buttons(c.language))

    async def on_help(self, sender: Sender) -> Reply | None:
        """Lists what the bot understands."""

        async def decide(c: Context) -> Reply:
            await self._end_wish_prompt(c)
            key = f"help.{sender.channel}"
            text = t(key if has(key) else "help", c.language)
            if self._district():
                text = f"{text}\n{t('home.help', c.language)}"
            return Reply(text, c.language, keyboard=self._keyboard(sender, c.language))

        return await self._turn(sender, decide)

    async def on_refused(self, sender: Sender, what: str) -> Reply | None:
        """A staff command or button from someone who is not staff: the same answer as any
        unknown command, flood-controlled, and logged once an hour per person."""
        now = self._clock()
        if now - self._refusals_logged.get(sender.key, -3600.0) >= 3600:
            if len(self._refusals_logged) > 10_000:
                self._refusals_logged.clear()
            self._refusals_logged[sender.key] = now
            log.warning("non-staff %s tried staff action %s", sender.key, what)

        async def decide(c: Context) -> Reply:
            return Reply(t("staff.not_allowed", c.language), c.language)

        return await self._turn(sender, decide)

    async def on_language(self, sender: Sender, choice: str | None = None) -> Reply | None:
        """Sets the language given as an argument, or offers both as buttons."""
        if choice and choice.lower()[:2] in LANGUAGES:
            code = choice.lower()[:2]
            return await self._turn(sender, lambda c: self._set_language(c, code))

        async def decide(c: Context) -> Reply:
            buttons = [
                Button(t(f"language.{code}", code), callback("lang", code)) for code in LANGUAGES
            ]
            return Reply(t("language.prompt", c.language), c.language, buttons=[buttons])

        return await self._turn(sender, decide)

    async def on_mine(self, sender: Sender, page: int = 0) -> Reply | None:
        """Lists the resident's own questions and wishes, with status and staff replies."""
        return await self._turn(sender, lambda c: self._mine(c, page))

    async def _mine(self, c: Context, page: int) -> Reply:
        await self._end_wish_prompt(c)
        language = c.language
        if not c.sender.private:
            return Reply(t("private_only", language), language)
        items = await c.tx.items_of(c.user_id)
        if not items:
            return Reply(t("mine.empty", language), language)
        pages = mine_pages(items, language)
        page = min(max(page, 0), len(pages) - 1)
        buttons = []
        if page + 1 < len(pages):
            buttons = [[Button(t("mine.more_button", language), callback("mine", str(page + 1)))]]
        return Reply(pages[page], language, buttons=buttons)

    async def on_forget(self, sender: Sender) -> Reply | None:
        """Asks for confirmation before deleting everything about the resident."""

        async def decide(c: Context) -> Reply:
            await self._end_wish_prompt(c)
            if not sender.private:
                return Reply(t("private_only", c.language), c.language)
            buttons = [
                Button(t("forget.yes", c.language), callback("forget", "yes")),
                Button(t("forget.no", c.language), callback("forget", "no")),
            ]
            return Reply(t("forget.confirm", c.language), c.language, buttons=[buttons])

        return await self._turn(sender, decide)

    async def on_wish(self, sender: Sender, text: str = "") -> Reply | None:
        """Saves the wish given with /wish, or asks for it."""
        text = clean_text(text)
        readable = worth_reading(text)

        async def decide(c: Context) -> Reply:
            if not readable:  # "/wish", "/wish 2", "/wish 👍": ask for the wish itself
                return await self._wish_prompt(c)
            return await self._save_wish(c, text)

        return await self._turn(sender, decide, text=text if readable else None)

    # --- messages ---

    async def on_text(self, sender: Sender, text: str) -> Reply | None:
        """Answers a typed message, suggests entries, or saves the question for staff."""
        text = clean_text(text)
        readable = worth_reading(text)  # a stray "g" does not switch a Chinese chat to English
        if readable and self._asks_for_home(text):
            return await self._turn(sender, self._home_choice, text=text)
        target = topic_of(text) if readable else None
        own_faq = await self._station_faq_of(sender) if readable and target is None else None
        result = await self.decide(text, own_faq) if readable and target is None else None

        async def decide(c: Context) -> Reply:
            if not readable:  # only emoji, digits, punctuation or one stray letter
                return Reply(t("empty_question", c.language), c.language)
            if target:
                await self._end_wish_prompt(c)
                return await self._open_topic(c, target)
            asked = c.awaiting_wish
            if asked is not None:
                await self._end_wish_prompt(c)
                if self._now() - asked <= timedelta(seconds=WISH_PROMPT_TTL_SECONDS):
                    return await self._wish_or_answer(c, text, result)
            return await self._respond(c, text, result)

        return await self._turn(sender, decide, text=text if readable else None)

    async def _respond(self, c: Context, text: str, result: MatchResult) -> Reply:
        """The answer, the suggestions, or the question saved for staff."""
        kb = self._kb(c)
        if result.outcome == "answer" and result.id and (entry := kb.get(result.id)):
            return await self._answer(c, text, result, entry)
        suggestions = [i for i in result.suggestions if kb.get(i)][:MAX_SUGGESTIONS]
        if result.outcome == "suggest" and suggestions:
            return await self._suggest(c, text, result, suggestions)
        if is_acknowledgement(text):
            return Reply(t("acknowledged", c.language), c.language)
        await c.tx.record_event("none", c.user_id)
        return await self._save_question(c, text, result.candidates, "question.saved")

    async def _wish_or_answer(self, c: Context, text: str, result: MatchResult) -> Reply:
        """After the wish prompt: a message the FAQ answers is answered (with a button to save
        it as the wish instead); anything else is the wish."""
        if text.strip("。.!！ ").casefold() in WISH_CANCEL_WORDS:
            return Reply(t("wish.cancelled", c.language), c.language)
        if result.outcome == "answer" and result.id not in (WISH_HOW_ENTRY, HUMAN_ENTRY):
            reply = await self._respond(c, text, result)
            token = await self._keep(c, text, [], [], None)
            reply.buttons.insert(
                0, [Button(t("wish.save_instead", c.language), callback("wsave", token))]
            )
            return reply
        return await self._save_wish(c, text)

    async def on_location(self, sender: Sender, latitude: float, longitude: float) -> Reply | None:
        """Tells the resident the nearest station, with distance and address."""

        async def decide(c: Context) -> Reply:
            if several(self.config.stations):
                return await self._home_from_location(c, latitude, longitude)
            station = self._info(c)
            if not station.branches:
                return Reply(t("no_branches", c.language), c.language)
            try:
                text = nearest_branches(station, latitude, longitude, c.language)
            except ValueError:  # not a place on the map (a forged update): list every branch
                text = list_branches(station, self._now(), c.language)
            return Reply(text, c.language)

        return await self._turn(sender, decide)

    async def _home_from_location(self, c: Context, latitude: float, longitude: float) -> Reply:
        """In a district: the nearest station becomes the resident's home station."""
        station = self._info(c)
        try:
            text = nearest_branches(station, latitude, longitude, c.language)
            nearest = branches_by_distance(station, latitude, longitude)[0][1]
        except ValueError:  # not a place on the map (a forged update): choose by name
            return await self._home_choice(c)
        site = site_of(self.config.stations, nearest.id)
        if site is None:
            return Reply(text, c.language)
        await self._set_home(c, site)
        text += "\n\n" + t("home.nearest_set", c.language, name=site.name(c.language))
        return Reply(text, c.language, keyboard=self._keyboard(c.sender, c.language))

    async def on_unsupported(self, sender: Sender) -> Reply | None:
        """Explains, for a sticker, photo, voice note or file, what the bot understands."""

        async def decide(c: Context) -> Reply:
            key = f"only_text.{sender.channel}"
            return Reply(t(key if has(key) else "only_text", c.language), c.language)

        return await self._turn(sender, decide)

    async def on_unheard(self, sender: Sender) -> Reply | None:
        """A voice message nobody transcribed: asks the resident to type, or to phone."""

        async def decide(c: Context) -> Reply:
            phone = self._contact_phone(self._info(c))
            if phone:
                return Reply(t("voice.unrecognised", c.language, phone=phone), c.language)
            return Reply(t("voice.unrecognised.no_phone", c.language), c.language)

        return await self._turn(sender, decide)

    async def on_follow_up(self, sender: Sender, ref: str, text: str) -> Reply | None:
        """A resident answering a staff reply: the item reopens with their words as a note and
        staff hear of it (one notice per item while one is still waiting to go out)."""
        text = clean_text(text)
        # matched before the unit of work, which runs in the database's thread
        own_faq = await self._station_faq_of(sender)
        result = await self.decide(text, own_faq) if worth_reading(text) else None

        async def decide(c: Context) -> Reply | None:
            item = await c.tx.get_item(ref)
            if item is None or item.user_id != c.user_id or result is None:
                return await self._respond(c, text, result) if result is not None else None
            updated = await c.tx.set_status(item.ref, "open", note=text)
            if not await c.tx.notice_waiting(f"follow_up:{item.ref}"):
                for notice in self.notices(updated, follow_up=text):
                    await c.tx.queue(notice.channel, notice.address, notice.kind, notice.to_json())
            return Reply(t("staff.follow_up_saved", c.language, ref=item.ref), c.language)

        return await self._turn(sender, decide, text=text)

    async def on_thanks(self, sender: Sender, ref: str) -> Reply | None:
        """A resident's 👍 under a staff reply closes their answered question (only their own)."""

        async def decide(c: Context) -> Reply | None:
            item = await c.tx.get_item(ref)
            if item is None or item.user_id != c.user_id or item.kind != "question":
                return Reply(t("expired", c.language), c.language)
            if item.status == "answered":
                await c.tx.set_status(item.ref, "resolved", note="👍", actor="resident")
            return Reply(t("staff.thanks_ack", c.language), c.language, retire_buttons=True)

        return await self._turn(sender, decide)

    # --- buttons ---

    async def on_callback(self, sender: Sender, data: str) -> Reply | None:
        """Acts on an inline button; unknown or outdated data gets a harmless reply."""
        version, _, rest = (data or "").partition(":")
        action, *args = rest.split(":")
        handler, arity = self._callbacks().get(action, (None, -1))
        if version != CALLBACK_VERSION or handler is None or len(args) != arity:
            return await self._turn(sender, lambda c: self._expired(c))
        return await self._turn(sender, lambda c: handler(c, *args))

    async def _expired(self, c: Context) -> Reply:
        return Reply(t("expired", c.language), c.language)

    def _callbacks(self) -> dict[str, tuple[Callable[..., Awaitable[Reply]], int]]:
        """Button action -> (what it does, how many arguments its data carries)."""
        return {
            "ans": (self._on_entry_button, 1),
            "sug": (self._on_suggestion_button, 2),
            "none": (self._on_pass_to_staff, 1),
            "fb": (self._on_feedback, 2),
            "staff": (self._on_pass_to_staff, 1),
            "lang": (self._on_language_button, 1),
            "forget": (self._on_forget_button, 1),
            "wish": (self._on_wish_button, 1),
            "wsave": (self._on_save_as_wish, 1),
            "mine": (self._on_mine_page, 1),
            "home": (self._on_home_button, 1),
        }

    async def _on_entry_button(self, c: Context, entry_id: str) -> Reply:
        """Shows the answer of an entry picked from a topic menu."""
        entry = self._kb(c).get(entry_id)
        if entry is None:
            return await self._expired(c)
        # not an "answer" event: stats count those as questions typed
        token = await self._keep(c, entry.first_question(c.language) or entry.id, [], [], entry.id)
        return self._answer_reply(entry, c, token)

    async def _on_suggestion_button(self, c: Context, token: str, index: str) -> Reply:
        """Shows the answer the resident picked from "did you mean"."""
        pending, problem = await self._pending_for(c, token)
        if problem:
            return problem
        if not index.isdigit() or int(index) >= len(pending.suggestions):
            return await self._expired(c)
        entry = self._kb(c).get(pending.suggestions[int(index)])
        if entry is None:
            return await self._expired(c)
        await c.tx.update_question(token, entry_id=entry.id)
        await c.tx.record_event("suggestion_click", c.user_id, entry.id)
        return self._answer_reply(entry, c, token, pending.question)

    async def _on_pass_to_staff(self, c: Context, token: str) -> Reply:
        """Saves the question for staff ("none of these", or after a 👎)."""
        return await self._save_pending(
            c,
            token,
            lambda pending: self._save_question(
                c, pending.question, pending.candidates, "question.passed"
            ),
        )

    async def _on_feedback(self, c: Context, verdict: str, token: str) -> Reply:
        """Records 👍 / 👎; after 👎 offers to pass the question to staff."""
        pending, problem = await self._pending_for(c, token)
        if problem:
            return problem
        if verdict not in "+-" or len(verdict) != 1 or pending.entry_id is None:
            return await self._expired(c)
        helpful = verdict == "+"
        await c.tx.record_feedback(c.user_id, pending.entry_id, pending.question, helpful)
        if helpful:
            return Reply(t("feedback.thanks", c.language), c.language, retire_buttons=True)
        button = Button(t("feedback.pass", c.language), callback("staff", token))
        return Reply(
            t("feedback.sorry", c.language), c.language, buttons=[[button]], retire_buttons=True
        )

    async def _on_language_button(self, c: Context, code: str) -> Reply:
        """Sets the language picked from the /language buttons."""
        if code not in LANGUAGES:
            return await self._expired(c)
        return await self._set_language(c, code)

    async def _on_forget_button(self, c: Context, answer: str) -> Reply:
        """Deletes everything about the resident once they confirm."""
        if answer != "yes":
            return Reply(t("forget.kept", c.language), c.language, retire_buttons=True)
        count = await c.tx.forget(c.user_id)
        c.forgotten = True  # memory is tidied after the commit, in the event loop
        return Reply(t("forget.done", c.language, count=count), c.language, retire_buttons=True)

    async def _on_wish_button(self, c: Context, choice: str) -> Reply:
        """Starts or cancels a wish."""
        if choice == "start":
            return await self._wish_prompt(c)
        if choice != "cancel":
            return await self._expired(c)
        await self._end_wish_prompt(c)
        return Reply(t("wish.cancelled", c.language), c.language, retire_buttons=True)

    async def _on_save_as_wish(self, c: Context, token: str) -> Reply:
        """Saves as the wish a message that was answered instead, once the resident says so."""
        return await self._save_pending(
            c, token, lambda pending: self._save_wish(c, pending.question)
        )

    async def _save_pending(
        self, c: Context, token: str, save: Callable[[PendingQuestion], Awaitable[Reply]]
    ) -> Reply:
        """Saves the question behind a button once (a second press names its reference)."""
        pending, problem = await self._pending_for(c, token)
        if problem:
            return problem
        if pending.saved_ref:
            return Reply(t("question.already", c.language, ref=pending.saved_ref), c.language)
        reply = await save(pending)
        reply.retire_buttons = True
        if reply.saved:
            await c.tx.update_question(token, saved_ref=reply.saved.ref)
        return reply

    async def _on_home_button(self, c: Context, station_id: str) -> Reply:
        """Sets the home station picked from the station buttons."""
        site = site_of(self.config.stations, station_id)
        if site is None:
            return await self._expired(c)
        await self._set_home(c, site)
        return Reply(
            t("home.set", c.language, name=site.name(c.language)),
            c.language,
            keyboard=self._keyboard(c.sender, c.language),
            retire_buttons=True,
        )

    async def _on_mine_page(self, c: Context, page: str) -> Reply:
        if not page.isdigit():
            return await self._expired(c)
        return await self._mine(c, int(page))

    # --- building replies ---

    async def _answer(self, c: Context, text: str, result: MatchResult, entry: Entry) -> Reply:
        await c.tx.record_event("answer", c.user_id, entry.id)
        if entry.id in SAVED_WITH_ANSWER:  # a person is wanted: answer and tell staff too
            flag = "fraud" if entry.id == FRAUD_ENTRY else None
            saved = await self._save_question(
                c, text, result.candidates, SAVED_WITH_ANSWER[entry.id], flag=flag
            )
            saved.text = f"{self._answer_text(entry, c, text)}\n\n{saved.text}"
            return saved
        token = await self._keep(c, text, [], result.candidates, entry.id)
        reply = self._answer_reply(entry, c, token, text)
        # a second question in the message (食堂几点开门还有送饭要多少钱): its answer is one
        # button away, on every channel (WeChat numbers the same buttons)
        also = self._kb(c).get(result.also) if result.also and result.also != entry.id else None
        if also is not None and fits(data := callback("ans", also.id)):
            label = self.closest_question(also, text, c.language) or also.id
            reply.text += "\n\n" + t("also_asked", c.language, question=label)
            reply.buttons.insert(0, [Button(label, data)])
        return reply

    def _answer_text(self, entry: Entry, c: Context, question: str = "") -> str:
        """The answer with its live line, which may depend on the question (a street names
        its branch, a holiday its dates) and on the resident's home station."""
        if entry.live in CANTEEN_LIVE and (no_canteen := self._no_canteen(c)):
            return no_canteen  # the shared answer describes a canteen theirs does not have
        text = answer_text(entry, c.language)
        station = self._info(c)
        home = self._home(c) if self._district() else None
        if entry.live in OWN_WORDS_LIVE and home is not None and not _from_folder(entry, home):
            # the shared wording describes another station's hours or address: theirs instead
            text = week_hours(station, c.language) if entry.live == "opening_hours" else ""
        live = self._live_line(entry, c.language, question, station)
        if not text:
            return live or answer_text(entry, c.language)
        return f"{text}\n\n{live}" if live else text

    def _answer_reply(self, entry: Entry, c: Context, token: str, question: str = "") -> Reply:
        language = c.language
        rows = [
            [
                Button(t("feedback.good", language), callback("fb", "+", token)),
                Button(t("feedback.bad", language), callback("fb", "-", token)),
            ]
        ]
        if entry.id == WISH_HOW_ENTRY:
            rows.insert(0, [Button(t("wish.start", language), callback("wish", "start"))])
        text = self._answer_text(entry, c, question)
        if entry.live in PER_STATION_LIVE and self._needs_home(c):
            # each station has its own hours and menu: which one is theirs?
            text = f"{text}\n\n{t('home.ask_first', language)}"
            rows = [*self._home_buttons(language), *rows]
        return Reply(text, language, buttons=rows)

    def _live_line(self, entry: Entry, language: str, question: str, station: StationInfo) -> str:
        live = LIVE_ANSWERS.get(entry.live) if entry.live else None
        if live is None or not station:
            return ""
        if entry.live in PER_STATION_LIVE and station.home is None and self._district():
            return ""  # the district's stations differ: no one station's hours for all
        try:
            return live(station, self._now(), language, question)
        except Exception:  # live data is a bonus: a bad station file must not cost the answer
            log.exception("live answer %r failed for entry %s", entry.live, entry.id)
            return ""

    async def _suggest(
        self, c: Context, text: str, result: MatchResult, suggestions: list[str]
    ) -> Reply:
        await c.tx.record_event("suggest", c.user_id)
        token = await self._keep(c, text, suggestions, result.candidates)
        rows = []
        for i, entry_id in enumerate(suggestions):
            label = self.closest_question(self._kb(c).get(entry_id), text, c.language) or entry_id
            rows.append([Button(label, callback("sug", token, str(i)))])
        rows.append([Button(t("none_of_these", c.language), callback("none", token))])
        return Reply(t("did_you_mean", c.language), c.language, buttons=rows)

    @staticmethod
    def closest_question(entry: Entry | None, text: str, language: str) -> str:
        """The entry's question nearest to what was asked (asked about lunch, offered the
        lunch question, not the entry's first one)."""
        if entry is None:
            return ""
        questions = entry.questions.get(language) or next(iter(entry.questions.values()), [])
        if not questions:
            return entry.first_question(language) or ""
        best = process.extractOne(text, questions, scorer=fuzz.WRatio)
        return best[0] if best else questions[0]

    async def _open_topic(self, c: Context, target: str) -> Reply:
        kind, _, name = target.partition(":")
        if kind == "wish":
            return await self._wish_prompt(c)
        if kind == "entry" and (entry := self._kb(c).get(name)):
            token = await self._keep(
                c, entry.first_question(c.language) or entry.id, [], [], entry.id
            )
            return self._answer_reply(entry, c, token)
        rows = []
        for entry in self._kb(c).entries:
            data = callback("ans", entry.id)
            if category_of(entry) == name and fits(data):
                rows.append([Button(entry.first_question(c.language) or entry.id, data)])
        if not rows:  # a knowledge base without this topic: nothing to show
            return Reply(t("help", c.language), c.language)
        return Reply(t("choose", c.language), c.language, buttons=rows)

    def _keyboard(self, sender: Sender, language: str) -> list[list[str]] | None:
        # a reply keyboard in a group would pop up for everyone
        if not sender.private:
            return None
        rows = [[t(key, language) for key in row] for row in KEYBOARD_ROWS]
        if self._district():
            rows.append([t("home.button", language)])
        return rows

    # --- the home station (a district of several stations) ---

    def _district(self) -> bool:
        return several(self.config.stations)

    def _home(self, c: Context) -> Site | None:
        """The resident's home station: chosen, or the only one; None when not chosen."""
        return home_of(self.config.stations, c.station_id)

    def _kb(self, c: Context) -> KnowledgeBase:
        """The entries the resident gets: their home station's own on top of the shared."""
        home = self._home(c)
        return self.faq_of(home.id if home is not None else None)[0]

    def _info(self, c: Context) -> StationInfo:
        """The station data the resident's answers use: their home station's, else the
        FAQ's (one station; or a district resident who has not chosen yet)."""
        home = self._home(c)
        return self._station_infos[home.id if home is not None else None]

    def _no_canteen(self, c: Context) -> str:
        """For a resident whose station has no canteen (`canteen: {}`): says so, and which
        stations have one; "" when theirs has one (or they have not chosen)."""
        home = self._home(c)
        if home is None or _has_canteen(self._station_infos[home.id]):
            return ""
        language = c.language
        lines = [t("live.no_canteen", language, name=home.name(language))]
        others = [
            site.name(language)
            for site in self.config.stations
            if _has_canteen(self._station_infos[site.id])
        ]
        if others:
            names = ("、" if language == "zh" else ", ").join(others)
            lines.append(t("home.canteens_at", language, names=names))
        return "\n".join(lines)

    def _needs_home(self, c: Context) -> bool:
        return self._district() and self._home(c) is None

    def _home_buttons(self, language: str) -> list[list[Button]]:
        """One big button per station of the district."""
        return [
            [Button(site.name(language), callback("home", site.id))]
            for site in self.config.stations
        ]

    def _asks_for_home(self, text: str) -> bool:
        """The 📍 button or a word asking to see or change the home station (a district)."""
        if not self._district():
            return False
        folded = text.strip(" 。.!！?？").casefold()
        return folded in HOME_WORDS or text.strip() in all_variants("home.button")

    async def _set_home(self, c: Context, site: Site) -> None:
        await c.tx.update_resident(c.user_id, station_id=site.id)
        c.station_id = site.id

    async def _wish_prompt(self, c: Context) -> Reply:
        await c.tx.update_resident(c.user_id, awaiting_wish_at=c.tx.now)
        cancel = Button(t("wish.cancel", c.language), callback("wish", "cancel"))
        return Reply(t("wish.prompt", c.language), c.language, buttons=[[cancel]])

    async def _end_wish_prompt(self, c: Context) -> None:
        if c.resident is not None and c.resident.awaiting_wish_at:
            await c.tx.update_resident(c.user_id, awaiting_wish_at=None)

    async def _set_language(self, c: Context, code: str) -> Reply:
        await c.tx.update_resident(c.user_id, language=code, last_language=code)
        return Reply(
            t("language.set", code),
            code,
            keyboard=self._keyboard(c.sender, code),
            retire_buttons=True,
        )

    # --- saving ---

    async def _save_question(
        self,
        c: Context,
        text: str,
        candidates: list[tuple[str, float]],
        message: str,
        *,
        flag: str | None = None,
    ) -> Reply:
        if flag is None and await c.tx.open_questions(c.user_id) >= MAX_OPEN_QUESTIONS:
            contact = self._contact_line(c.language, self._info(c))
            return Reply(t("too_many_open", c.language, contact=contact).strip(), c.language)
        item = await self._save_item(c, "question", text, candidates=candidates, flag=flag)
        return Reply(t(message, c.language, ref=item.ref), c.language, saved=item)

    async def _save_wish(self, c: Context, text: str) -> Reply:
        item = await self._save_item(c, "wish", text)
        await c.tx.record_event("wish", c.user_id)
        return Reply(t("wish.saved", c.language, ref=item.ref), c.language, saved=item)

    async def _save_item(self, c: Context, kind: str, text: str, **extra: Any) -> Item:
        """Saves a question or wish where the resident wrote it (replies go back there), for
        their home station's staff, with the Telegram update that brought it (a second guard
        against saving it twice)."""
        turn = c.turn
        update_id = (
            int(turn.row.external_id)
            if turn is not None
            and turn.row.channel == "telegram"
            and turn.row.external_id.isdigit()
            else None
        )
        return await c.tx.save_item(
            kind,
            c.user_id,
            text,
            chat_id=_int_or_zero(c.sender.chat_id),
            channel=c.sender.channel,
            address=str(c.sender.chat_id),
            update_id=update_id,
            station_id=home.id if (home := self._home(c)) is not None else None,
            **extra,
        )

    def _save_failed(self, action: str, error: StorageError, language: str) -> Reply:
        log.error("could not %s: %s", action, error)
        contact = self._contact_line(language)
        return Reply(t("save_failed", language, contact=contact).strip(), language)

    def _contact_line(self, language: str, station: StationInfo | None = None) -> str:
        """ "If it is urgent, call …" with the station's number, or nothing without one."""
        phone = self._contact_phone(station)
        return t("save_failed.contact", language, phone=phone) if phone else ""

    def _contact_phone(self, station: StationInfo | None = None) -> str | None:
        """The resident's station's number (`station`), else the FAQ's station's."""
        station = station or self.kb.station
        if station.phone:
            return station.phone
        branches = station.branches
        return branches[0].phone if branches and branches[0].phone else None

    def _storage_problem(self, action: str, error: Exception) -> None:
        """Logs a non-essential storage failure once per cause (the reply goes out anyway)."""
        cause = f"{action}: {error}"
        if cause not in self._storage_problems:
            self._storage_problems.add(cause)
            log.warning("storage problem (reply still sent): %s", cause)

    # --- pending questions behind buttons ---

    async def _keep(
        self,
        c: Context,
        question: str,
        suggestions: list[str],
        candidates: list[tuple[str, float]],
        entry_id: str | None = None,
    ) -> str:
        token = secrets.token_urlsafe(6)
        await c.tx.keep_question(token, c.user_id, question, suggestions, candidates, entry_id)
        return token

    async def _pending_for(self, c: Context, token: str):
        pending = await c.tx.pending_question(token) if TOKEN_PATTERN.match(token) else None
        if (
            pending is None
            or (datetime.now(ZoneInfo("UTC")) - parse_time(pending.created_at)).total_seconds()
            > PENDING_TTL_SECONDS
        ):
            return None, await self._expired(c)
        if pending.user_id != c.user_id:
            return None, Reply(t("not_yours", c.language), c.language)
        return pending, None


def mine_pages(items: list[Item], language: str) -> list[str]:
    """/mine as pages that each fit one message; an item is never split across pages."""
    pages: list[str] = []
    lines = [t("mine.header", language)]
    size = len(lines[0])
    for item in items:
        block = [
            t(
                "mine.item",
                language,
                ref=item.ref,
                kind=t(f"kind.{item.kind}", language),
                status=status_label(item.status, language),
                text=one_line(item.text, MINE_TEXT_CHARS),
            ),
            *(
                t("mine.reply", language, text=one_line(r.text, MINE_PAGE_CHARS // 3))
                for r in item.replies
            ),
        ]
        length = sum(len(line) + 1 for line in block)
        if size + length > MINE_PAGE_CHARS and len(lines) > 1:
            pages.append("\n".join(lines))
            lines, size = [t("mine.header", language)], len(t("mine.header", language))
        lines.extend(block)
        size += length
    pages.append("\n".join(lines))
    return pages


def status_label(status: str, language: str) -> str:
    try:
        return t(f"status.{status}", language)
    except KeyError:  # a status added by staff tools later: show it as it is
        return status


def _from_folder(entry: Entry, site: Site) -> bool:
    """True when `entry` comes from the station's own FAQ (`faq:`), not the shared one."""
    return site.faq_path is not None and entry.source.startswith(str(site.faq_path))


def _has_canteen(station: StationInfo) -> bool:
    return bool(station.canteen.meals or station.canteen.menu)


def _int_or_zero(value: int | str) -> int:
    return value if isinstance(value, int) else 0


def startup_error_line(error: Exception) -> str:
    """One line for an operator from a config, FAQ or storage error (FaqError lists many)."""
    lines = str(error).splitlines() or [type(error).__name__]
    more = f" (and {len(lines) - 1} more: see `stationbot faq check`)" if len(lines) > 1 else ""
    return f"stationbot: {lines[0]}{more}"


def answer_text(entry: Entry, language: str) -> str:
    """The entry's answer in `language`, else in whichever language it has."""
    return entry.answer.get(language) or next(iter(entry.answer.values()))


def category_of(entry: Entry) -> str:
    """The entry's category, else the part of its id before the dot."""
    return entry.category or entry.id.partition(".")[0]
