"""The one decision path for a resident's message, shared by the Telegram bot and the console chat.

`Station` answers, suggests, or saves a question for staff, takes wishes, and returns plain
`Reply` objects; adapters in handlers/ only parse input and render replies.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Config, load_station_faq
from bot.live import LIVE_ANSWERS, list_branches, nearest_branches
from bot.messages import LANGUAGES, all_variants, t
from bot.storage import Item, Storage, StorageError
from bot.text import clean_text, one_line
from faq.matcher import Matcher
from faq.model import Entry, KnowledgeBase, MatchResult
from faq.normalize import detect_language

log = logging.getLogger(__name__)

# Callback data is "<version>:<action>:<args...>"; buttons from an older format read as expired.
CALLBACK_VERSION = "1"
MAX_CALLBACK_BYTES = 64  # Telegram's limit on callback_data
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8}$")

# A pending question (behind suggestion / feedback / "pass to staff" buttons) is kept this long.
PENDING_TTL_SECONDS = 24 * 3600
MAX_PENDING = 10_000
# "/wish" without text waits this long for the wish itself.
WISH_PROMPT_TTL_SECONDS = 15 * 60
MAX_SUGGESTIONS = 3
MINE_LIMIT = 10
MINE_TEXT_CHARS = 120

HUMAN_ENTRY = "smalltalk.human"  # asking for a person: answer and save for staff
WISH_HOW_ENTRY = "wish.how"  # answering it offers a "make a wish now" button

# Big topic buttons: message key of the label -> what pressing it opens.
TOPICS: dict[str, str] = {
    "topic.canteen": "category:canteen",
    "topic.hours": "entry:station.hours",
    "topic.donation": "category:donation",
    "topic.aid": "category:aid",
    "topic.services": "category:services",
    "topic.wish": "wish",
}
KEYBOARD_ROWS = (
    ("topic.canteen", "topic.hours"),
    ("topic.donation", "topic.aid"),
    ("topic.services", "topic.wish"),
)

# A message that only says "I want to make a wish" (no question word, no wish content yet).
WISH_INTENT = re.compile(
    r"^\s*(?:我?(?:想要?|要|想再)?(?:许|許|提|说|說)(?:一?个|一?個)?(?:微?心愿|微?心願|愿望|願望|愿|願)"
    r"|(?:i\s*(?:want|would like|'d like|wanna)\s*to\s*)?make\s+a\s+(?:micro-?)?wish)"
    r"\s*[。.!！]*\s*$",
    re.IGNORECASE,
)
# Typed instead of pressing "Cancel" under the wish prompt: not a wish.
WISH_CANCEL_WORDS = {"取消", "不许了", "不许", "算了", "不要了", "不用了", "cancel", "never mind"}


@dataclass(frozen=True)
class Button:
    """An inline button: its label and its callback data (at most 64 bytes)."""

    label: str
    data: str


@dataclass
class Reply:
    """What to send back: adapters render it, nothing more.

    `buttons` (inline) and `keyboard` (big reply-keyboard buttons) are never both set.
    """

    text: str
    language: str
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[str]] | None = None
    saved: Item | None = None  # a question or wish just saved: adapters notify staff
    retire_buttons: bool = False  # the pressed message's buttons have done their job


@dataclass(frozen=True)
class Sender:
    """Who sent a message, and where."""

    user_id: int
    chat_id: int
    private: bool = True
    language_code: str | None = None  # Telegram's, e.g. "zh-hans", "en"
    display_name: str | None = None


@dataclass
class Pending:
    """A question behind buttons: the callback data carries only its token."""

    user_id: int
    chat_id: int
    question: str
    suggestions: list[str]
    candidates: list[tuple[str, float]]
    created: float
    entry_id: str | None = None  # the answer shown for it, if any
    saved_ref: str | None = None  # set once it was passed to staff


class FloodGuard:
    """Counts each resident's messages in a sliding window."""

    def __init__(self, max_messages: int, window_seconds: float, clock: Callable[[], float]):
        self.max_messages = max_messages
        self.window_seconds = window_seconds
        self._clock = clock
        self._times: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def check(self, user_id: int) -> str:
        """Return "ok", "warn" (first message over the limit) or "silent" (the rest)."""
        now = self._clock()
        times = self._times.setdefault(user_id, deque())
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        times.append(now)
        if len(times) <= self.max_messages:
            self._warned.discard(user_id)
            return "ok"
        if user_id in self._warned:
            return "silent"
        self._warned.add(user_id)
        return "warn"

    def forget(self, user_id: int) -> None:
        self._times.pop(user_id, None)
        self._warned.discard(user_id)


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


Handler = Callable[..., Awaitable["Reply | None"]]


def guarded(method: Handler) -> Handler:
    """Applies flood control and records the resident as seen before `method` runs.

    The wrapped method returns None when the resident is being flood-limited: say nothing.
    """

    @functools.wraps(method)
    async def wrapper(self: Station, sender: Sender, *args, **kwargs) -> Reply | None:
        verdict = self.flood.check(sender.user_id)
        if verdict == "silent":
            return None
        if verdict == "warn":
            log.info("flood control: user %s is over the limit", sender.user_id)
            return Reply(t("slow_down", self.language(sender)), self.language(sender))
        await self._touch(sender)
        return await method(self, sender, *args, **kwargs)

    return wrapper


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
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._awaiting_wish: dict[int, float] = {}
        self._chosen_language: dict[int, str | None] = {}
        self._last_language: dict[int, str] = {}
        self._storage_problems: set[str] = set()
        self._match_batch = MatchBatch()
        self._topic_by_label = {
            label: target for key, target in TOPICS.items() for label in all_variants(key)
        }

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
        storage = await Storage.open(config.storage_path)
        return cls(config, kb, storage, clock=clock, now=now)

    async def close(self) -> None:
        await self.storage.close()

    def reload(self) -> None:
        """Reloads the knowledge base and overlay; on FaqError keeps the current one and raises."""
        kb = load_station_faq(self.config)
        self.kb, self.matcher = kb, Matcher(kb, self.config.matching)

    # --- language ---

    def language(self, sender: Sender, text: str | None = None) -> str:
        """The reply language: chosen with /language, else the script typed, else earlier use,
        else Telegram's language_code, else Chinese."""
        chosen = self._chosen_language.get(sender.user_id)
        if chosen in LANGUAGES:
            language = chosen
        elif text and has_words(text):
            language = detect_language(text)
        elif sender.user_id in self._last_language:
            language = self._last_language[sender.user_id]
        elif sender.language_code and sender.language_code[:2].lower() in LANGUAGES:
            language = sender.language_code[:2].lower()
        else:
            language = "zh"
        self._last_language[sender.user_id] = language
        return language

    # --- commands ---

    async def handled_before(self, update_id: int) -> bool:
        """True when this Telegram update was handled before (a redelivery after a crash)."""
        try:
            return await self.storage.update_seen(update_id)
        except StorageError as error:  # answering twice beats not answering
            self._storage_problem("check update", error)
            return False

    async def mark_handled(self, update_id: int) -> None:
        """Records that this update was handled (its reply sent): a redelivery is skipped."""
        try:
            await self.storage.remember_update(update_id)
        except StorageError as error:
            self._storage_problem("record update", error)

    @guarded
    async def on_start(self, sender: Sender) -> Reply:
        """Greets the resident and shows the big topic buttons."""
        self._awaiting_wish.pop(sender.user_id, None)  # another command: the wish prompt is over
        language = self.language(sender)
        return Reply(t("start", language), language, keyboard=self._keyboard(sender, language))

    @guarded
    async def on_help(self, sender: Sender) -> Reply:
        """Lists what the bot understands."""
        self._awaiting_wish.pop(sender.user_id, None)  # another command: the wish prompt is over
        language = self.language(sender)
        return Reply(t("help", language), language, keyboard=self._keyboard(sender, language))

    @guarded
    async def on_language(self, sender: Sender, choice: str | None = None) -> Reply:
        """Sets the language given as an argument, or offers both as buttons."""
        if choice and choice.lower()[:2] in LANGUAGES:
            return await self._set_language(sender, choice.lower()[:2])
        language = self.language(sender)
        buttons = [
            Button(t(f"language.{code}", code), callback("lang", code)) for code in LANGUAGES
        ]
        return Reply(t("language.prompt", language), language, buttons=[buttons])

    @guarded
    async def on_mine(self, sender: Sender) -> Reply:
        """Lists the resident's own questions and wishes, with status and staff replies."""
        self._awaiting_wish.pop(sender.user_id, None)  # another command: the wish prompt is over
        language = self.language(sender)
        if not sender.private:
            return Reply(t("private_only", language), language)
        try:
            items = await self.storage.items_of(sender.user_id)
        except StorageError as error:
            return self._save_failed("list a resident's items", error, language)
        if not items:
            return Reply(t("mine.empty", language), language)
        lines = [t("mine.header", language)]
        for item in items[:MINE_LIMIT]:
            lines.append(
                t(
                    "mine.item",
                    language,
                    ref=item.ref,
                    kind=t(f"kind.{item.kind}", language),
                    status=self._status_label(item.status, language),
                    text=one_line(item.text, MINE_TEXT_CHARS),
                )
            )
            lines.extend(t("mine.reply", language, text=r.text) for r in item.replies)
        if len(items) > MINE_LIMIT:
            lines.append(t("mine.more", language, count=len(items) - MINE_LIMIT))
        return Reply("\n".join(lines), language)

    @guarded
    async def on_forget(self, sender: Sender) -> Reply:
        """Asks for confirmation before deleting everything about the resident."""
        self._awaiting_wish.pop(sender.user_id, None)  # another command: the wish prompt is over
        language = self.language(sender)
        if not sender.private:
            return Reply(t("private_only", language), language)
        buttons = [
            Button(t("forget.yes", language), callback("forget", "yes")),
            Button(t("forget.no", language), callback("forget", "no")),
        ]
        return Reply(t("forget.confirm", language), language, buttons=[buttons])

    @guarded
    async def on_wish(self, sender: Sender, text: str = "", update_id: int | None = None) -> Reply:
        """Saves the wish given with /wish, or asks for it."""
        text = clean_text(text)
        readable = worth_reading(text)
        language = self.language(sender, text if readable else None)
        if not readable:  # "/wish", "/wish 2", "/wish 👍": ask for the wish itself
            return self._wish_prompt(sender, language)
        return await self._save_wish(sender, text, language, update_id)

    # --- messages ---

    @guarded
    async def on_text(self, sender: Sender, text: str, update_id: int | None = None) -> Reply:
        """Answers a typed message, suggests entries, or saves the question for staff."""
        text = clean_text(text)
        readable = worth_reading(text)  # a stray "g" does not switch a Chinese chat to English
        language = self.language(sender, text if readable else None)
        if not readable:  # only emoji, digits, punctuation or one stray letter
            return Reply(t("empty_question", language), language)
        target = self._topic_by_label.get(text)
        if target:
            self._awaiting_wish.pop(sender.user_id, None)
            return await self._open_topic(sender, target, language)
        asked_at = self._awaiting_wish.pop(sender.user_id, None)
        if asked_at is not None and self._clock() - asked_at <= WISH_PROMPT_TTL_SECONDS:
            if text.strip("。.!！ ").casefold() in WISH_CANCEL_WORDS:
                return Reply(t("wish.cancelled", language), language)
            return await self._save_wish(sender, text, language, update_id)
        if WISH_INTENT.match(text):
            return self._wish_prompt(sender, language)
        result = await self._match_batch.match(self.matcher, text)
        if result.outcome == "answer" and result.id and (entry := self.kb.get(result.id)):
            return await self._answer(sender, text, result, entry, language, update_id)
        suggestions = [i for i in result.suggestions if self.kb.get(i)][:MAX_SUGGESTIONS]
        if result.outcome == "suggest" and suggestions:
            return await self._suggest(sender, text, result, suggestions, language)
        await self._record("none", sender)
        return await self._save_question(
            sender, text, result.candidates, language, "question.saved", update_id=update_id
        )

    @guarded
    async def on_location(self, sender: Sender, latitude: float, longitude: float) -> Reply:
        """Tells the resident the nearest station, with distance and address."""
        language = self.language(sender)
        if not self.kb.station.get("branches"):
            return Reply(t("no_branches", language), language)
        try:
            text = nearest_branches(self.kb.station, latitude, longitude, language)
        except ValueError:  # not a place on the map (a forged update): list every branch
            text = list_branches(self.kb.station, self._now(), language)
        return Reply(text, language)

    @guarded
    async def on_unsupported(self, sender: Sender) -> Reply:
        """Explains, for a sticker, photo, voice note or file, what the bot understands."""
        language = self.language(sender)
        return Reply(t("only_text", language), language)

    # --- buttons ---

    @guarded
    async def on_callback(self, sender: Sender, data: str) -> Reply:
        """Acts on an inline button; unknown or outdated data gets a harmless reply."""
        language = self.language(sender)
        version, _, rest = (data or "").partition(":")
        action, *args = rest.split(":")
        handler, arity = self._callbacks().get(action, (None, -1))
        if version != CALLBACK_VERSION or handler is None or len(args) != arity:
            return Reply(t("expired", language), language)
        return await handler(sender, language, *args)

    def _callbacks(self) -> dict[str, tuple[Callable[..., Awaitable[Reply]], int]]:
        """Button action -> (what it does, how many arguments its data carries)."""
        return {
            "ans": (self._on_entry_button, 1),
            "sug": (self._on_suggestion_button, 2),
            "none": (self._on_none_of_these, 1),
            "fb": (self._on_feedback, 2),
            "staff": (self._on_pass_to_staff, 1),
            "lang": (self._on_language_button, 1),
            "forget": (self._on_forget_button, 1),
            "wish": (self._on_wish_button, 1),
        }

    async def _on_entry_button(self, sender: Sender, language: str, entry_id: str) -> Reply:
        """Shows the answer of an entry picked from a topic menu."""
        entry = self.kb.get(entry_id)
        if entry is None:
            return Reply(t("expired", language), language)
        # not an "answer" event: stats count those as questions typed
        token = self._keep(sender, entry.first_question(language) or entry.id, [], [], entry.id)
        return self._answer_reply(entry, language, token)

    async def _on_suggestion_button(
        self, sender: Sender, language: str, token: str, index: str
    ) -> Reply:
        """Shows the answer the resident picked from "did you mean"."""
        pending, problem = self._pending_for(sender, token, language)
        if problem:
            return problem
        if not index.isdigit() or int(index) >= len(pending.suggestions):
            return Reply(t("expired", language), language)
        entry = self.kb.get(pending.suggestions[int(index)])
        if entry is None:
            return Reply(t("expired", language), language)
        pending.entry_id = entry.id
        await self._record("suggestion_click", sender, entry.id)
        return self._answer_reply(entry, language, token)

    async def _on_none_of_these(self, sender: Sender, language: str, token: str) -> Reply:
        """Saves the question for staff when no suggestion fits."""
        return await self._pass_pending(sender, language, token)

    async def _on_pass_to_staff(self, sender: Sender, language: str, token: str) -> Reply:
        """Saves the question for staff after a 👎."""
        return await self._pass_pending(sender, language, token)

    async def _on_feedback(self, sender: Sender, language: str, verdict: str, token: str) -> Reply:
        """Records 👍 / 👎; after 👎 offers to pass the question to staff."""
        pending, problem = self._pending_for(sender, token, language)
        if problem:
            return problem
        if verdict not in "+-" or len(verdict) != 1 or pending.entry_id is None:
            return Reply(t("expired", language), language)
        helpful = verdict == "+"
        try:
            await self.storage.record_feedback(
                sender.user_id, pending.entry_id, pending.question, helpful
            )
        except StorageError as error:
            self._storage_problem("record feedback", error)
        if helpful:
            return Reply(t("feedback.thanks", language), language, retire_buttons=True)
        button = Button(t("feedback.pass", language), callback("staff", token))
        return Reply(
            t("feedback.sorry", language), language, buttons=[[button]], retire_buttons=True
        )

    async def _on_language_button(self, sender: Sender, language: str, code: str) -> Reply:
        """Sets the language picked from the /language buttons."""
        if code not in LANGUAGES:
            return Reply(t("expired", language), language)
        return await self._set_language(sender, code)

    async def _on_forget_button(self, sender: Sender, language: str, answer: str) -> Reply:
        """Deletes everything about the resident once they confirm."""
        if answer != "yes":
            return Reply(t("forget.kept", language), language, retire_buttons=True)
        try:
            count = await self.storage.forget(sender.user_id)
        except StorageError as error:
            return self._save_failed("forget a resident", error, language)
        self._forget_in_memory(sender.user_id)
        return Reply(t("forget.done", language, count=count), language, retire_buttons=True)

    async def _on_wish_button(self, sender: Sender, language: str, choice: str) -> Reply:
        """Starts or cancels a wish."""
        if choice == "start":
            return self._wish_prompt(sender, language)
        if choice != "cancel":
            return Reply(t("expired", language), language)
        self._awaiting_wish.pop(sender.user_id, None)
        return Reply(t("wish.cancelled", language), language, retire_buttons=True)

    # --- building replies ---

    async def _answer(
        self,
        sender: Sender,
        text: str,
        result: MatchResult,
        entry: Entry,
        language: str,
        update_id: int | None,
    ) -> Reply:
        await self._record("answer", sender, entry.id)
        if entry.id == HUMAN_ENTRY:
            saved = await self._save_question(
                sender, text, result.candidates, language, "human.saved", update_id=update_id
            )
            saved.text = f"{answer_text(entry, language)}\n\n{saved.text}"
            return saved
        token = self._keep(sender, text, [], result.candidates, entry.id)
        return self._answer_reply(entry, language, token)

    def _answer_reply(self, entry: Entry, language: str, token: str) -> Reply:
        text = answer_text(entry, language)
        live = self._live_line(entry, language)
        if live:
            text = f"{text}\n\n{live}"
        rows = [
            [
                Button(t("feedback.good", language), callback("fb", "+", token)),
                Button(t("feedback.bad", language), callback("fb", "-", token)),
            ]
        ]
        if entry.id == WISH_HOW_ENTRY:
            rows.insert(0, [Button(t("wish.start", language), callback("wish", "start"))])
        return Reply(text, language, buttons=rows)

    def _live_line(self, entry: Entry, language: str) -> str:
        live = LIVE_ANSWERS.get(entry.live) if entry.live else None
        if live is None or not self.kb.station:
            return ""
        try:
            return live(self.kb.station, self._now(), language)
        except Exception:  # live data is a bonus: a bad station file must not cost the answer
            log.exception("live answer %r failed for entry %s", entry.live, entry.id)
            return ""

    async def _suggest(
        self,
        sender: Sender,
        text: str,
        result: MatchResult,
        suggestions: list[str],
        language: str,
    ) -> Reply:
        await self._record("suggest", sender)
        token = self._keep(sender, text, suggestions, result.candidates)
        rows = []
        for i, entry_id in enumerate(suggestions):
            entry = self.kb.get(entry_id)
            label = (entry.first_question(language) if entry else "") or entry_id
            rows.append([Button(label, callback("sug", token, str(i)))])
        rows.append([Button(t("none_of_these", language), callback("none", token))])
        return Reply(t("did_you_mean", language), language, buttons=rows)

    async def _open_topic(self, sender: Sender, target: str, language: str) -> Reply:
        kind, _, name = target.partition(":")
        if kind == "wish":
            return self._wish_prompt(sender, language)
        if kind == "entry" and (entry := self.kb.get(name)):
            token = self._keep(sender, entry.first_question(language) or entry.id, [], [], entry.id)
            return self._answer_reply(entry, language, token)
        rows = []
        for entry in self.kb.entries:
            data = callback("ans", entry.id)
            if category_of(entry) == name and fits(data):
                rows.append([Button(entry.first_question(language) or entry.id, data)])
        if not rows:  # a knowledge base without this topic: nothing to show
            return Reply(t("help", language), language)
        return Reply(t("choose", language), language, buttons=rows)

    def _keyboard(self, sender: Sender, language: str) -> list[list[str]] | None:
        # a reply keyboard in a group would pop up for everyone
        if not sender.private:
            return None
        return [[t(key, language) for key in row] for row in KEYBOARD_ROWS]

    def _wish_prompt(self, sender: Sender, language: str) -> Reply:
        self._awaiting_wish[sender.user_id] = self._clock()
        cancel = Button(t("wish.cancel", language), callback("wish", "cancel"))
        return Reply(t("wish.prompt", language), language, buttons=[[cancel]])

    async def _set_language(self, sender: Sender, code: str) -> Reply:
        try:
            await self.storage.set_language(sender.user_id, code)
        except StorageError as error:  # still honoured until the bot restarts
            self._storage_problem("set language", error)
        self._chosen_language[sender.user_id] = code
        self._last_language[sender.user_id] = code
        return Reply(
            t("language.set", code),
            code,
            keyboard=self._keyboard(sender, code),
            retire_buttons=True,
        )

    @staticmethod
    def _status_label(status: str, language: str) -> str:
        try:
            return t(f"status.{status}", language)
        except KeyError:  # a status added by staff tools later: show it as it is
            return status

    # --- saving ---

    async def _save_question(
        self,
        sender: Sender,
        text: str,
        candidates: list[tuple[str, float]],
        language: str,
        message: str,
        *,
        update_id: int | None = None,
        retire_buttons: bool = False,
    ) -> Reply:
        try:
            item = await self.storage.save_question(
                sender.user_id, sender.chat_id, text, candidates, update_id=update_id
            )
        except StorageError as error:
            return self._save_failed("save question", error, language)
        return Reply(
            t(message, language, ref=item.ref), language, saved=item, retire_buttons=retire_buttons
        )

    async def _save_wish(
        self, sender: Sender, text: str, language: str, update_id: int | None
    ) -> Reply:
        try:
            item = await self.storage.save_wish(
                sender.user_id, sender.chat_id, text, update_id=update_id
            )
        except StorageError as error:
            return self._save_failed("save wish", error, language)
        await self._record("wish", sender)
        return Reply(t("wish.saved", language, ref=item.ref), language, saved=item)

    async def _pass_pending(self, sender: Sender, language: str, token: str) -> Reply:
        pending, problem = self._pending_for(sender, token, language)
        if problem:
            return problem
        if pending.saved_ref:
            return Reply(t("question.already", language, ref=pending.saved_ref), language)
        reply = await self._save_question(
            sender,
            pending.question,
            pending.candidates,
            language,
            "question.passed",
            retire_buttons=True,
        )
        if reply.saved:
            pending.saved_ref = reply.saved.ref
        return reply

    def _save_failed(self, action: str, error: StorageError, language: str) -> Reply:
        log.error("could not %s: %s", action, error)
        phone = self._contact_phone()
        contact = t("save_failed.contact", language, phone=phone) if phone else ""
        return Reply(t("save_failed", language, contact=contact).strip(), language)

    def _contact_phone(self) -> str | None:
        station = self.kb.station
        if station.get("phone"):
            return str(station["phone"])
        branches = station.get("branches") or []
        return str(branches[0]["phone"]) if branches and branches[0].get("phone") else None

    async def _record(self, kind: str, sender: Sender, entry_id: str | None = None) -> None:
        try:
            await self.storage.record_event(kind, sender.user_id, entry_id)
        except StorageError as error:
            self._storage_problem("record event", error)

    async def _touch(self, sender: Sender) -> None:
        try:
            resident = await self.storage.touch_resident(
                sender.user_id, display_name=sender.display_name
            )
        except StorageError as error:
            self._storage_problem("touch resident", error)
            return
        self._chosen_language[sender.user_id] = resident.language

    def _storage_problem(self, action: str, error: Exception) -> None:
        """Logs a non-essential storage failure once per cause (the reply goes out anyway)."""
        cause = f"{action}: {error}"
        if cause not in self._storage_problems:
            self._storage_problems.add(cause)
            log.warning("storage problem (reply still sent): %s", cause)

    # --- pending questions behind buttons ---

    def _keep(
        self,
        sender: Sender,
        question: str,
        suggestions: list[str],
        candidates: list[tuple[str, float]],
        entry_id: str | None = None,
    ) -> str:
        now = self._clock()
        while self._pending and (
            len(self._pending) >= MAX_PENDING
            or now - next(iter(self._pending.values())).created > PENDING_TTL_SECONDS
        ):
            self._pending.popitem(last=False)
        token = secrets.token_urlsafe(6)
        self._pending[token] = Pending(
            sender.user_id, sender.chat_id, question, suggestions, candidates, now, entry_id
        )
        return token

    def _pending_for(
        self, sender: Sender, token: str, language: str
    ) -> tuple[Pending, None] | tuple[None, Reply]:
        pending = self._pending.get(token) if TOKEN_PATTERN.match(token) else None
        if pending is None or self._clock() - pending.created > PENDING_TTL_SECONDS:
            return None, Reply(t("expired", language), language)
        if pending.user_id != sender.user_id:
            return None, Reply(t("not_yours", language), language)
        return pending, None

    def _forget_in_memory(self, user_id: int) -> None:
        for token in [k for k, p in self._pending.items() if p.user_id == user_id]:
            del self._pending[token]
        self._awaiting_wish.pop(user_id, None)
        self._chosen_language.pop(user_id, None)
        self._last_language.pop(user_id, None)
        self.flood.forget(user_id)


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
