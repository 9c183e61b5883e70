"""Staff follow-up, without Telegram: who is staff, replies, wishes pooled, stats, CSV export
and teaching the FAQ new phrasings through the staff overlay file.

Telegram handlers and the `stationbot` staff commands are thin layers over these functions.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml
from rapidfuzz import fuzz, process

from bot.messages import LANGUAGES, t
from bot.storage import Stats, chronological, format_ref, parse_time
from bot.storage import parse_ref as _parse_ref
from bot.text import one_line
from faq.loader import FaqError, load
from faq.model import KnowledgeBase
from faq.normalize import CJK, Normalizer, detect_language

WISH_STATUSES = ("accepted", "in_progress", "done", "declined")
QUESTION_CLOSED = "resolved"
# two wishes (or unanswered questions) whose normalised texts score at least this are pooled
POOL_THRESHOLD = 70.0
INBOX_PAGE_SIZE = 8
SUMMARY_CHARS = 100  # a pooled text in lists (wishes, stats): a 5,000-character wish is cut

_CJK_CHAR = re.compile(f"([{CJK}])")
_NORMALIZER = Normalizer()  # no synonyms: wishes are not FAQ questions
# words that say "I wish" rather than what is wished for; removed before pooling
_ZH_FILLERS = (
    "可不可以",
    "能不能",
    "有没有",
    "希望",
    "我想",
    "想要",
    "可以",
    "能否",
    "麻烦",
    "我们",
    "一下",
    "一个",
    "驿站",
    "开个",
    "请",
    "吗",
    "呢",
    "吧",
    "的",
    "了",
    "啊",
    "呀",
    "想",
    "要",
    "个",
    "有",
)
_EN_FILLERS = frozenset(
    ("i", "we", "wish", "would", "like", "please", "want", "a", "an", "the", "some", "to",
     "have", "more", "can", "could", "you", "for", "it", "be", "nice", "hope", "there", "is",
     "station")
)  # fmt: skip


class StaffError(Exception):
    """A staff action that cannot be done; str() is one line for the staff member."""


class _Config(Protocol):
    staff_user_ids: frozenset[int]


Sender = Callable[["Delivery"], Awaitable[int | None]]


@dataclass(frozen=True)
class Delivery:
    """A message for a resident: where, what, in which language; `ref` links a reply to it."""

    chat_id: int
    text: str
    ref: str
    language: str
    thanks_button: str | None = None  # label of a 👍 button under a staff reply


@dataclass
class Pool:
    """Near-duplicate texts grouped together: 'cooking class ×18, from 12 residents'."""

    text: str  # the representative (the earliest) text
    refs: list[str]
    residents: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.refs)

    def describe(self, limit: int = SUMMARY_CHARS) -> str:
        """'cooking class ×18, from 12 residents': the text on one line, cut to `limit`."""
        line = f"{one_line(self.text, limit)} ×{self.count}"
        if self.count > 1:
            line += f", from {self.residents} resident{'s' if self.residents != 1 else ''}"
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "count": self.count,
            "residents": self.residents,
            "refs": self.refs,
            "statuses": self.statuses,
        }


@dataclass
class StaffStats:
    """The storage's figures for the last `days` days plus the unanswered questions pooled."""

    days: int
    figures: Stats
    top_unanswered: list[Pool]

    @property
    def bot_share(self) -> float | None:
        received = self.figures.questions_received
        return self.figures.answered_by_bot / received if received else None

    def lines(self) -> list[str]:
        figures = self.figures
        share = "–" if self.bot_share is None else f"{self.bot_share:.0%}"
        median = figures.median_reply_seconds
        lines = [
            f"Last {self.days} days 最近{self.days}天"
            f" ({(figures.start or '')[:10]} – {(figures.end or '')[:10]} UTC)",
            f"Questions received 收到问题: {figures.questions_received}",
            f"Answered by the bot 机器人直接回答: {figures.answered_by_bot} ({share})",
            f"Suggestion clicks 点选建议: {figures.suggestion_clicks}",
            f"Saved for staff 转给工作人员: {figures.saved_for_staff}",
            f"Answered by staff 工作人员已回复: {figures.answered_by_staff}",
            "Median time to staff reply 回复时间中位数: "
            + ("–" if median is None else format_age(median)),
            f"Wishes 心愿: {figures.wishes}",
        ]
        if self.top_unanswered:
            lines.append("Most frequent unanswered 未回答的常见问题:")
            lines.extend(
                f"  {pool.describe()} [{', '.join(pool.refs[:5])}]" for pool in self.top_unanswered
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        figures = dataclasses.asdict(self.figures)
        figures.pop("reply_seconds")
        return {
            "days": self.days,
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


# --- who is staff ----------------------------------------------------------------------


def is_staff(config: _Config, user_id: int | None) -> bool:
    """True only for a numeric id listed in staff.user_ids (usernames can change)."""
    return user_id is not None and user_id in config.staff_user_ids


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


# --- pooling ---------------------------------------------------------------------------


def pooling_key(text: str) -> str:
    """Text reduced to what it asks for: one token per Chinese character or English word,
    fillers ("希望", "please") dropped, so word order and particles matter less."""
    # the matcher's normaliser: NFKC, Traditional -> Simplified, casefold, no punctuation
    text = _NORMALIZER.normalize(text)
    for filler in _ZH_FILLERS:
        text = text.replace(filler, " ")
    words = []
    for word in _CJK_CHAR.sub(r" \1 ", text).split():
        if word in _EN_FILLERS:
            continue
        if word.endswith(("sses", "shes", "ches", "xes")):
            word = word[:-2]  # classes ~ class, benches ~ bench
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]  # tables ~ table
        words.append(word)
    return " ".join(words)


def pool_items(items: Sequence[Any], threshold: float = POOL_THRESHOLD) -> list[Pool]:
    """Groups items whose texts are near-duplicates; biggest pool first.

    Similarity is the mean of token-sort and token-set ratios of `pooling_key` texts. Each
    item, oldest first, joins the pool whose first item (its leader) it resembles most (at
    least `threshold`), else starts a pool: comparing with the pool's first item rather than
    any member keeps chains (理发 ~ 免费理发 ~ 免费体检) apart. Items with the same key share
    one decision, and a key is compared with at most _CANDIDATE_LEADERS leaders (all of them
    while there are that few, else those sharing the most characters or word trigrams with
    it), so the work grows with the number of items, not with its square.
    """
    if not items:
        return []
    ordered = sorted(items, key=chronological)
    leaders = _LeaderIndex(threshold)
    leader_of_key: dict[str, int] = {}
    members: list[list[Any]] = []  # per leader, in the order pools were started
    for item, key in zip(ordered, _pooling_keys(ordered), strict=True):
        leader = leader_of_key.get(key)
        if leader is None:
            leader = leaders.find_or_add(_sorted_words(key))
            if leader == len(members):
                members.append([])
            leader_of_key[key] = leader
        members[leader].append(item)
    pools = []
    for group in members:
        statuses: dict[str, int] = {}
        for member in group:
            statuses[member.status] = statuses.get(member.status, 0) + 1
        pools.append(
            Pool(
                text=group[0].text,
                refs=[member.ref for member in group],
                residents=len({member.user_id for member in group}),
                statuses=statuses,
            )
        )
    # stable sort: equal pools keep the order of their first item
    pools.sort(key=lambda pool: -pool.count)
    return pools


# Bounds on pooling work: a text is keyed from its first _POOLING_CHARS characters; a key is
# scored against at most _CANDIDATE_LEADERS leaders, found by reading at most _POSTINGS_READ
# entries of the leaders' feature index.
_POOLING_CHARS = 300
_CANDIDATE_LEADERS = 16
_POSTINGS_READ = 400
# text -> pooling key, kept between calls (/wishes and /stats see the same texts again);
# emptied when it holds more than this many characters
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_CHARS = 8_000_000
_key_cache_chars = 0


def _pooling_keys(items: Sequence[Any]) -> list[str]:
    """The pooling key of each item's text, each distinct text keyed once."""
    global _key_cache_chars
    cache = _KEY_CACHE
    keys = []
    for item in items:
        text = item.text[:_POOLING_CHARS]
        key = cache.get(text)
        if key is None:
            key = pooling_key(text) or text.strip().casefold()
            if _key_cache_chars > _KEY_CACHE_CHARS:
                cache.clear()
                _key_cache_chars = 0
            cache[text] = key
            _key_cache_chars += len(text) + len(key)
        keys.append(key)
    return keys


def _similarities(key: str, leaders: list[str], threshold: float) -> Any:
    """Pooling similarity (0-100) of `key` to each leader, as a numpy array, for keys whose
    words are in sorted order (see _sorted_words); a value below `threshold` may come out
    lower than it is (rapidfuzz stops early)."""
    # the mean reaches the threshold only if each half reaches 2 * threshold - 100
    cutoff = max(0.0, 2 * threshold - 100)
    return (
        # token_sort_ratio without sorting the words again for every pair
        process.cdist([key], leaders, scorer=fuzz.ratio, score_cutoff=cutoff)[0]
        + process.cdist([key], leaders, scorer=fuzz.token_set_ratio, score_cutoff=cutoff)[0]
    ) / 2


def _sorted_words(key: str) -> str:
    """The key's words in sorted order: token_sort_ratio is the ratio of these, and the
    token-set ratio does not depend on the order."""
    return " ".join(sorted(key.split()))


def _features(key: str) -> set[str]:
    """What a near-duplicate shares with `key`: its Chinese characters and short words, and
    the character trigrams of longer words (cooking ~ cookery)."""
    features = set()
    for token in key.split():
        if len(token) <= 3:
            features.add(token)
        else:
            padded = f" {token} "
            features.update(padded[start : start + 3] for start in range(len(padded) - 2))
    return features


class _LeaderIndex:
    """Pool leaders (distinct keys, numbered oldest first) and, for each feature, the leaders
    that have it."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.keys: list[str] = []
        self.postings: dict[str, list[int]] = {}

    def find_or_add(self, key: str) -> int:
        """The leader `key` resembles most (at least the threshold); else `key` becomes a
        leader. Returns the leader's number."""
        features = _features(key)
        candidates = self._candidates(features)
        if candidates:
            similarity = _similarities(key, [self.keys[c] for c in candidates], self.threshold)
            best = int(similarity.argmax())  # the first of equals: the oldest leader
            if similarity[best] >= self.threshold:
                return candidates[best]
        leader = len(self.keys)
        self.keys.append(key)
        for feature in features:
            self.postings.setdefault(feature, []).append(leader)
        return leader

    def _candidates(self, features: set[str]) -> list[int]:
        """Every leader while there are few, else the _CANDIDATE_LEADERS sharing the most
        features with a key (rarest features read first); in leader order."""
        if len(self.keys) <= _CANDIDATE_LEADERS:
            return list(range(len(self.keys)))
        postings = sorted(
            (self.postings[feature] for feature in features if feature in self.postings), key=len
        )
        shared: Counter[int] = Counter()
        budget = _POSTINGS_READ
        for posting in postings:
            if budget <= 0:
                break
            shared.update(posting[:budget])
            budget -= len(posting)
        if len(shared) <= _CANDIDATE_LEADERS:
            return sorted(shared)
        return sorted(leader for leader, _ in shared.most_common(_CANDIDATE_LEADERS))


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


def export_csv(items: Iterable[Any]) -> bytes:
    """Questions and wishes as CSV, UTF-8 with BOM so that Excel shows Chinese correctly.
    Every text cell goes through spreadsheet_cell: residents and staff write what they like."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
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
                f"{at} {status}" + (f": {note}" if note else "")
                for status, note, at in item.history
            ),
        ]
        writer.writerow([spreadsheet_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


# --- actions over storage ----------------------------------------------------------------


async def get_item(storage: Any, ref: str) -> Any:
    """The item behind a reference, or StaffError naming it."""
    ref = parse_ref(ref)
    item = await storage.get_item(ref)
    if item is None:
        raise StaffError(f"no question or wish {ref}")
    return item


async def resident_language(storage: Any, item: Any) -> str:
    resident = await storage.get_resident(item.user_id)
    if resident is not None and resident.language in LANGUAGES:
        return resident.language
    return detect_language(item.text)


async def reply(storage: Any, ref: str, text: str, *, staff_id: int | None, send: Sender) -> Any:
    """Sends a staff answer to the resident (their question quoted, with its reference),
    then stores it; the item becomes answered. Returns the updated item.

    Sending comes first so that a failed delivery leaves nothing recorded as answered.
    """
    text = (text or "").strip()
    if not text:
        raise StaffError("empty reply: write the answer after the reference")
    item = await get_item(storage, ref)
    language = await resident_language(storage, item)
    body = t(
        "staff.reply_wish" if item.kind == "wish" else "staff.reply_question",
        language,
        ref=item.ref,
        question=item.text,
        answer=text,
    )
    delivery = Delivery(
        chat_id=item.chat_id,
        text=f"{body}\n\n{t('staff.reply_hint', language)}",
        ref=item.ref,
        language=language,
        # 👍 closes a question; a wish is closed by its status, not by the resident
        thanks_button=t("staff.thanks_button", language) if item.kind == "question" else None,
    )
    message_id = await send(delivery)
    updated = await storage.add_staff_reply(item.ref, staff_id, text)
    if message_id is not None:
        # the resident's Telegram reply to this message comes back under the same reference
        await storage.link_staff_message(item.ref, delivery.chat_id, message_id)
    return updated


async def resolve(storage: Any, ref: str, note: str = "", *, staff_id: int | None) -> Any:
    """Closes a question without a reply."""
    item = await get_item(storage, ref)
    if item.kind == "wish":
        raise StaffError(f"{item.ref} is a wish: use wish_status {item.ref} done|declined")
    if item.status == QUESTION_CLOSED:
        raise StaffError(f"{item.ref} is already resolved")
    return await storage.set_status(item.ref, QUESTION_CLOSED, note=note, staff_id=staff_id)


async def set_wish_status(
    storage: Any,
    ref: str,
    status: str,
    note: str = "",
    *,
    staff_id: int | None,
    send: Sender,
) -> Any:
    """Moves a wish to accepted / in_progress / done / declined and tells the resident."""
    if status not in WISH_STATUSES:
        raise StaffError(f"unknown wish status {status!r}: use {' | '.join(WISH_STATUSES)}")
    item = await get_item(storage, ref)
    if item.kind != "wish":
        raise StaffError(f"{item.ref} is a question, not a wish")
    language = await resident_language(storage, item)
    text = t(f"staff.wish_{status}", language, ref=item.ref, text=item.text)
    if note.strip():
        text += "\n" + t("staff.note", language, note=note.strip())
    message_id = await send(
        Delivery(chat_id=item.chat_id, text=text, ref=item.ref, language=language)
    )
    updated = await storage.set_status(item.ref, status, note=note.strip(), staff_id=staff_id)
    if message_id is not None:
        # a reply to this news reaches staff under the wish's reference
        await storage.link_staff_message(item.ref, item.chat_id, message_id)
    return updated


async def follow_up(storage: Any, ref: str, user_id: int, text: str) -> Any | None:
    """A resident's answer to a staff reply: the item reopens with the text as a note.

    Returns None unless the item is that resident's own (a forwarded or foreign message
    never reopens someone else's item).
    """
    item = await storage.get_item(ref)
    if item is None or item.user_id != user_id or not text.strip():
        return None
    return await storage.set_status(item.ref, "open", note=text.strip())


async def thank(storage: Any, ref: str, user_id: int) -> Any | None:
    """A resident's 👍 on a staff reply closes their answered question (a question reopened
    by a follow-up stays open for staff)."""
    item = await storage.get_item(ref)
    if item is None or item.user_id != user_id or item.kind != "question":
        return None
    if item.status != "answered":
        return item
    return await storage.set_status(item.ref, QUESTION_CLOSED, note="👍")


async def inbox(storage: Any, *, oldest_first: bool = False) -> list[Any]:
    """Items waiting for staff (open questions; open, accepted or in-progress wishes),
    newest first unless `oldest_first`."""
    return await storage.open_items(oldest_first=oldest_first)


async def wishes(storage: Any, status: str | None = None) -> list[Pool]:
    """Wishes pooled by similarity, optionally only those with one status."""
    if status is not None and status not in ("open", *WISH_STATUSES):
        raise StaffError(f"unknown wish status {status!r}: use open | {' | '.join(WISH_STATUSES)}")
    items = await storage.all_items(kind="wish", status=status)
    # thousands of wishes take a second or two: off the event loop, the bot keeps answering
    return await asyncio.to_thread(pool_items, items)


async def stats(
    storage: Any, *, days: int = 7, now: datetime | None = None, top: int = 5
) -> StaffStats:
    """Figures for the `days` days before `now` (injectable for tests), with the most
    frequent questions still waiting for staff, pooled by similarity."""
    if days < 1:
        raise StaffError("days must be at least 1")
    # stored times are whole seconds and the window's end is exclusive: keep this second in
    until = (now or datetime.now(UTC)).replace(microsecond=0) + timedelta(seconds=1)
    since = until - timedelta(days=days)
    figures = await storage.stats(since, until)
    waiting = await storage.all_items(kind="question", status="open", since=since, until=until)
    pools = await asyncio.to_thread(pool_items, waiting)
    return StaffStats(days=days, figures=figures, top_unanswered=pools[:top])


async def export(storage: Any) -> tuple[bytes, int]:
    """Every stored question and wish as CSV bytes, and how many rows (forgotten residents
    are already gone)."""
    items = await storage.all_items()
    return export_csv(items), len(items)


async def export_to_file(storage: Any, target: Path) -> int:
    """Writes every stored question and wish to the CSV file `target`; returns the rows.
    A half-written export never replaces a good one."""
    if target.is_dir():
        raise StaffError(f"{target} is a folder; name a file")
    folder = target.parent
    if not folder.is_dir():
        raise StaffError(f"cannot write {target}: the folder {folder} does not exist")
    data, rows = await export(storage)
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


async def teach(
    storage: Any,
    ref: str,
    entry_id: str,
    *,
    kb: KnowledgeBase,
    overlay_path: Path,
    faq_path: Path | None = None,
) -> TeachResult:
    """Adds the question's text as an alternate question of `entry_id` in the staff overlay.

    The new overlay is first loaded on top of the FAQ at `faq_path` (None = bundled); if the
    loader finds a problem, the overlay stays as it was and StaffError carries the loader's
    message. The caller then reloads the running knowledge base.
    """
    item = await get_item(storage, ref)
    if item.kind != "question":
        raise StaffError(f"{item.ref} is a wish; only questions can be taught")
    if kb.get(entry_id) is None:
        raise StaffError(f"no FAQ entry {entry_id!r}{_did_you_mean(entry_id, kb)}")
    text = " ".join(item.text.split())
    language = detect_language(text)
    data = read_overlay(overlay_path)
    added = add_phrasing(data, entry_id, language, text)
    if added:

        def validate(candidate: Path) -> None:
            try:
                load(faq_path, overlay=candidate)
            except FaqError as error:
                # name the real overlay, not the temporary file the problem was found in
                raise StaffError(str(error).replace(str(candidate), str(overlay_path))) from None

        write_overlay_atomically(overlay_path, data, validate)
    return TeachResult(item.ref, entry_id, language, text, added)


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
